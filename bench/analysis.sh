#!/usr/bin/env bash
# Performance-analysis benchmark (issue 9). Generates a synthetic recorded run with
# bench/gen_logs.py, then measures side by side, files in page cache, the same aggregate
# over logs.jsonl — per node_id of "node completed" records: count, sum/avg/max of
# duration_ms, sum of findings_count, and the overall p95 of duration_ms — with:
#   secflow performance-analysis (the whole report: run.json + spans.jsonl + logs.jsonl)
#   jq          (collect matching records, group_by; p95 by sorting)
#   DuckDB      (read_ndjson with explicit columns + GROUP BY GROUPING SETS; /opt/duckdb venv)
#   wc -l       (the floor: reading every byte once)
# then a 100 000-node run (run.json + spans.jsonl): analysis time and peak RSS.
#
# Usage: bench/analysis.sh [LOG_MB] [NODES_BIG]     (defaults 1024 and 100000)
# Env:   SECFLOW (binary; default target/release/secflow), BENCH_DIR (default /tmp/secflow-bench),
#        RUNS (repetitions per tool, best wall time kept; default 3; jq runs once above 256 MB),
#        DUCKDB_PY (default /opt/duckdb/bin/python).
# Tools: .ci/install-analysis.sh installs jq and DuckDB.
set -euo pipefail

LOG_MB=${1:-1024}
NODES_BIG=${2:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECFLOW=${SECFLOW:-$ROOT/target/release/secflow}
DIR=${BENCH_DIR:-/tmp/secflow-bench}
RUNS=${RUNS:-3}
DUCKDB_PY=${DUCKDB_PY:-/opt/duckdb/bin/python}

[ -x "$SECFLOW" ] || { echo "build first: cargo build --release ($SECFLOW missing)" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq missing (.ci/install-analysis.sh)" >&2; exit 2; }
[ -x "$DUCKDB_PY" ] || { echo "duckdb venv missing at $DUCKDB_PY (.ci/install-analysis.sh)" >&2; exit 2; }

LOGRUN=$DIR/logs-${LOG_MB}mb
BIGRUN=$DIR/nodes-$NODES_BIG
if [ ! -f "$LOGRUN/logs.jsonl" ]; then
    echo "generating $LOG_MB MB of logs.jsonl in $LOGRUN ..."
    python3 "$ROOT/bench/gen_logs.py" "$LOGRUN" --log-mb "$LOG_MB" --nodes 1000
fi
if [ ! -f "$BIGRUN/run.json" ]; then
    echo "generating a $NODES_BIG-node run in $BIGRUN ..."
    python3 "$ROOT/bench/gen_logs.py" "$BIGRUN" --log-mb 0 --nodes "$NODES_BIG"
fi
LOGS=$LOGRUN/logs.jsonl
OUT=$DIR/out
mkdir -p "$OUT"

# Warm the page cache.
cat "$LOGS" "$LOGRUN"/run.json "$LOGRUN"/spans.jsonl "$BIGRUN"/run.json "$BIGRUN"/spans.jsonl >/dev/null

# jq: the idiomatic program (collect the matching records, group_by, sort for p95). A
# single-pass `reduce` into an object is far slower in jq 1.6 (it copies the accumulator).
JQ_PROG='
[inputs | select(.message == "node completed")
        | {n: .node_id, d: .duration_ms, f: (.findings_count // 0)}]
| {nodes: (group_by(.n) | map({key: .[0].n, value: {count: length, sum: (map(.d) | add),
                                avg: ((map(.d) | add) / length), max: (map(.d) | max),
                                findings: (map(.f) | add)}}) | from_entries),
   p95: (map(.d) | sort | .[((length * 0.95) | ceil) - 1])}'

DUCK_SQL="SELECT node_id, count(*) AS count, sum(duration_ms) AS sum, avg(duration_ms) AS avg,
  max(duration_ms) AS max, sum(findings_count) AS findings,
  quantile_disc(duration_ms, 0.95) AS p95
FROM read_ndjson('$LOGS', format='newline_delimited',
  columns={message: 'VARCHAR', node_id: 'VARCHAR', duration_ms: 'BIGINT', findings_count: 'BIGINT'})
WHERE message = 'node completed'
GROUP BY GROUPING SETS ((node_id), ())"

# measure NAME RUNS CMD...: best wall time over RUNS runs, with that run's CPU time
# (user + sys: what the work costs, independent of other load on the machine) and peak RSS.
measure() {
    local name=$1 runs=$2; shift 2
    local best="" cpu="" rss=""
    for _ in $(seq "$runs"); do
        /usr/bin/time -f '%e %U %S %M' -o "$OUT/time" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || {
            echo "$name failed:" >&2; tail -5 "$OUT/$name.err" >&2; return 1; }
        read -r t u s m <"$OUT/time"
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
            best=$t; cpu=$(awk "BEGIN{print $u + $s}"); rss=$m
        fi
    done
    printf '%-40s %8.2f s %8.2f s %9.1f MB\n' "$name" "$best" "$cpu" "$(awk "BEGIN{print $rss/1024}")"
    echo "$name|$best|$cpu" >>"$OUT/times"
}

: >"$OUT/times"
size=$(stat -c %s "$LOGS")
echo
echo "logs.jsonl: $((size / 1048576)) MB, $(nproc) cores; best of $RUNS (jq: 1 above 256 MB)"
printf '%-40s %10s %10s %12s\n' tool wall cpu "peak RSS"
measure "wc -l (floor)" "$RUNS" wc -l "$LOGS"
measure "secflow performance-analysis" "$RUNS" "$SECFLOW" performance-analysis "$LOGRUN" --format json
jq_runs=$RUNS; [ "$LOG_MB" -gt 256 ] && jq_runs=1
measure "jq" "$jq_runs" jq -n "$JQ_PROG" "$LOGS"
measure "duckdb (read_ndjson + GROUP BY)" "$RUNS" "$DUCKDB_PY" -c "
import duckdb, sys
con = duckdb.connect()
rows = con.execute(\"\"\"$DUCK_SQL\"\"\").fetchall()
print(len(rows))"

# The three agree: records and p95.
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
sf = json.load(open(f"{out}/secflow performance-analysis.out"))["logs"]
jq = json.load(open(f"{out}/jq.out"))
n_sf = sum(n["count"] for n in sf["nodes"])
n_jq = sum(v["count"] for v in jq["nodes"].values())
f_sf = sum(n["sum_findings"] for n in sf["nodes"])
f_jq = sum(v["findings"] for v in jq["nodes"].values())
print(f"check: records secflow={n_sf} jq={n_jq}; findings secflow={f_sf} jq={f_jq}; "
      f"p95 secflow={sf['p95_duration_ms']} (histogram, <0.8 %) jq={jq['p95']}")
assert n_sf == n_jq and f_sf == f_jq, "secflow and jq disagree"
assert abs(sf["p95_duration_ms"] - jq["p95"]) <= max(2, jq["p95"] * 0.008), "p95 differs"
EOF
python3 - "$OUT/times" <<'EOF'
import sys
t, c = {}, {}
for line in open(sys.argv[1]):
    name, wall, cpu = line.strip().split("|")
    t[name], c[name] = float(wall), float(cpu)
sf, dk = "secflow performance-analysis", "duckdb (read_ndjson + GROUP BY)"
for what, d in (("wall", t), ("cpu", c)):
    s = max(d[sf], 0.01)
    print(f"{what}: secflow is {d['jq'] / s:.1f}x faster than jq, {d[dk] / s:.1f}x faster than duckdb, "
          f"{s / max(d['wc -l (floor)'], 0.01):.1f}x the wc -l floor")
EOF

echo
echo "$NODES_BIG-node run: run.json $(( $(stat -c %s "$BIGRUN/run.json") / 1048576 )) MB, spans.jsonl $(( $(stat -c %s "$BIGRUN/spans.jsonl") / 1048576 )) MB"
measure "secflow analysis ($NODES_BIG nodes, json)" "$RUNS" "$SECFLOW" performance-analysis "$BIGRUN" --format json
measure "secflow analysis ($NODES_BIG nodes, table)" "$RUNS" "$SECFLOW" performance-analysis "$BIGRUN"
