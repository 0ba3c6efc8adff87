#!/usr/bin/env bash
# performance-analysis, baseline against new binary, interleaved (issue 23 figures):
#   - a NODES-node run (run.json + spans.jsonl, `--format json`): wall time and peak RSS;
#   - LOG_MB of logs.jsonl (1 000 nodes): wall time against the `wc -l` floor.
# Each round runs wc -l, BASE and NEW back to back (files in page cache), ROUNDS rounds;
# prints the median of each and the ratios NEW/BASE and X/wc.
#
# Usage: bench/analysis_ab.sh BASE_BIN NEW_BIN [LOG_MB] [NODES] [ROUNDS]
#        (defaults 1024, 100000, 5). Runs are generated once with bench/gen_logs.py in
#        BENCH_DIR (default /tmp/secflow-bench); delete it afterwards (about 1.2 GB).
set -euo pipefail

BASE=${1:?baseline binary}
NEW=${2:?new binary}
LOG_MB=${3:-1024}
NODES=${4:-100000}
ROUNDS=${5:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/secflow-bench}
LOGRUN=$DIR/logs-${LOG_MB}mb
BIGRUN=$DIR/nodes-$NODES
mkdir -p "$DIR"
[ -f "$LOGRUN/logs.jsonl" ] || python3 "$ROOT/bench/gen_logs.py" "$LOGRUN" --log-mb "$LOG_MB" --nodes 1000 >/dev/null
[ -f "$BIGRUN/run.json" ] || python3 "$ROOT/bench/gen_logs.py" "$BIGRUN" --log-mb 0 --nodes "$NODES" >/dev/null
cat "$LOGRUN"/* "$BIGRUN"/* >/dev/null

OUT=$(mktemp)
trap 'rm -f "$OUT" "$OUT.t"' EXIT
# one NAME CMD...: appends "NAME wall_s rss_kb" to $OUT.
one() {
    local name=$1; shift
    /usr/bin/time -f '%e %M' -o "$OUT.t" "$@" >/dev/null 2>&1 || { echo "$name failed: $*" >&2; exit 1; }
    echo "$name $(cat "$OUT.t")" >>"$OUT"
}
for _ in $(seq "$ROUNDS"); do
    one wc wc -l "$LOGRUN/logs.jsonl"
    one base-logs "$BASE" performance-analysis "$LOGRUN" --format json
    one new-logs "$NEW" performance-analysis "$LOGRUN" --format json
    one base-nodes "$BASE" performance-analysis "$BIGRUN" --format json
    one new-nodes "$NEW" performance-analysis "$BIGRUN" --format json
done
python3 - "$OUT" "$LOG_MB" "$NODES" "$ROUNDS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, wall, rss = line.split()
    runs.setdefault(name, []).append((float(wall), int(rss)))
med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v) / 1024) for k, v in runs.items()}
print(f"medians of {sys.argv[4]} interleaved rounds")
print(f"{'':24} {'wall s':>8} {'peak RSS MB':>12}")
for k in ("wc", "base-logs", "new-logs", "base-nodes", "new-nodes"):
    print(f"{k:24} {med[k][0]:8.2f} {med[k][1]:12.1f}")
wc = max(med["wc"][0], 0.01)
print(f"{sys.argv[2]} MB logs: base {med['base-logs'][0] / wc:.2f}x wc -l, new {med['new-logs'][0] / wc:.2f}x wc -l "
      f"(new/base {med['new-logs'][0] / med['base-logs'][0]:.2f})")
print(f"{sys.argv[3]} nodes: peak RSS base {med['base-nodes'][1]:.1f} MB, new {med['new-nodes'][1]:.1f} MB; "
      f"wall new/base {med['new-nodes'][0] / med['base-nodes'][0]:.2f}")
EOF
