#!/usr/bin/env bash
# Fan-out benchmarks (SPEC §9), interleaved rounds, medians and ratios.
#
#   FAN-1000   one `foreach` node over 1000 items of `true` vs the same 1000 as hand-written
#              nodes (target: the foreach run within 5 % of the hand-written one)
#   SLEEP-1000 a `foreach` node of 1000 × `sleep 0.05` at concurrency 64 vs `xargs -P64`
#              (target: within 5 %)
#   DYN-10000  a producer writes 10 000 records, a `foreach` over them: time from the
#              producer's exit to the first instance's start, and secflow's peak RSS
#   SERIES     metric series in metrics.json for a 1-instance and a 1000-instance node
#              (target: equal)
#
# Usage: bench/fanout.sh [SECFLOW_BINARY]   (default: target/release/secflow, built if missing)
# ROUNDS=N (default 5). Needs: python3, xargs.
set -euo pipefail

cd "$(dirname "$0")/.."
SECFLOW=${1:-target/release/secflow}
if [ ! -x "$SECFLOW" ]; then
    cargo build --release --quiet
fi
SECFLOW=$(realpath "$SECFLOW")
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$SECFLOW" "$WORK" "$ROUNDS" <<'PY'
import json, os, statistics, subprocess, sys, time
from datetime import datetime

secflow, work, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])

def write(name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path

items = ", ".join(str(i) for i in range(1000))
foreach = write("foreach.yaml", f"""version: "1.0"
name: fan1000
concurrency: 64
nodes:
  - id: t
    foreach: [{items}]
    command: ["true"]
""")
hand = write("hand.yaml", 'version: "1.0"\nname: hand1000\nconcurrency: 64\nnodes:\n' + "".join(
    f'  - id: t{i}\n    command: ["true"]\n' for i in range(1000)))
sleep_fe = write("sleep.yaml", f"""version: "1.0"
name: sleep1000
concurrency: 64
nodes:
  - id: s
    foreach: [{items}]
    command: [sleep, "0.05"]
""")
dyn = write("dyn.yaml", """version: "1.0"
name: dyn10000
concurrency: 64
nodes:
  - id: produce
    run: "seq 1 10000 > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    inputs: [hosts]
    command: ["true"]
""")

def secflow_run(recipe, state):
    t = time.monotonic()
    out = subprocess.run([secflow, "run-workflow", recipe, "--state-dir", state,
                          "--format", "json", "--progress", "never", "--quiet"],
                         capture_output=True, text=True)
    wall = time.monotonic() - t
    if out.returncode != 0:
        sys.exit(f"{recipe}: exit {out.returncode}: {out.stderr[-2000:]}")
    return wall, json.loads(out.stdout)

def xargs_sleep():
    t = time.monotonic()
    subprocess.run("seq 1000 | xargs -P64 -I{} sleep 0.05", shell=True, check=True)
    return time.monotonic() - t

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

state = os.path.join(work, "state")
fan, hw, sl, xa = [], [], [], []
for r in range(rounds):
    # Interleaved, alternating which goes first.
    pairs = [(fan, foreach), (hw, hand)]
    for lst, recipe in (pairs if r % 2 == 0 else pairs[::-1]):
        lst.append(secflow_run(recipe, state)[0])
    if r % 2 == 0:
        sl.append(secflow_run(sleep_fe, state)[0]); xa.append(xargs_sleep())
    else:
        xa.append(xargs_sleep()); sl.append(secflow_run(sleep_fe, state)[0])
    subprocess.run(["rm", "-rf", state])

med = statistics.median
print(f"FAN-1000   foreach {med(fan):.3f} s, hand-written {med(hw):.3f} s, "
      f"ratio {med(fan) / med(hw):.3f}  (median of {rounds}; runs {[round(x, 3) for x in fan]} vs {[round(x, 3) for x in hw]})")
print(f"SLEEP-1000 foreach {med(sl):.3f} s, xargs -P64 {med(xa):.3f} s, "
      f"ratio {med(sl) / med(xa):.3f}  (median of {rounds})")

gaps, rss = [], []
for r in range(max(1, rounds // 2)):
    _, rec = secflow_run(dyn, state)
    nodes = {n["node_id"]: n for n in rec["nodes"]}
    ended = ts(nodes["produce"]["attempts"][0]["ended_at"])
    first = min(ts(n["attempts"][0]["started_at"]) for n in rec["nodes"]
                if n.get("template") == "scan" and n["attempts"])
    gaps.append((first - ended) * 1000)
    rss.append(rec["self_usage"]["peak_rss_bytes"] / 2**20)
    subprocess.run(["rm", "-rf", state])
print(f"DYN-10000  producer exit -> first instance start {med(gaps):.1f} ms, "
      f"secflow peak RSS {med(rss):.1f} MiB  (median of {len(gaps)})")

def series(n):
    text = f'version: "1.0"\nname: s{n}\nconcurrency: 64\nnodes:\n  - id: t\n    matrix: {{ i: [{", ".join(map(str, range(n)))}] }}\n    command: ["true"]\n'
    _, rec = secflow_run(write(f"series{n}.yaml", text), state)
    run_dir = os.path.join(state, "runs", rec["run_id"])
    m = json.load(open(os.path.join(run_dir, "metrics.json")))
    return len(m["series"])
print(f"SERIES     metric series: 1 instance {series(1)}, 1000 instances {series(1000)}")
PY
