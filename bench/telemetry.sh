#!/usr/bin/env bash
# Telemetry cost, the figure issue #6 asks for: CHAIN-1000 (1000 `true` nodes in a chain)
# with every sink on at INFO and at DEBUG against `SECFLOW_SINKS=none`.
#
# Two measurements, because wall time on a shared 2-core VM moves by several per cent from
# run to run:
#   1. wall and CPU time, the three configurations interleaved round by round (so drift
#      in the machine's load hits all three alike); medians and means per node;
#   2. instructions, counted by callgrind on CHAIN-200: deterministic, split into the
#      engine's threads (parse, plan, scheduler, process supervision: what delays the next
#      node) and everything else (the sinks thread, writers, sampler). An upper bound:
#      valgrind's CPU has no SHA extensions, so the audit HMAC counts several times what it
#      costs natively, and periodic work (metrics snapshots, run.json checkpoints, once a
#      second) is over-counted because the run lasts many times longer under valgrind.
#
# Usage: bench/telemetry.sh [SECFLOW_BINARY]   (default: target/release/secflow, built if missing)
# Env:   ROUNDS (default 20), NODES (default 1000), CG_NODES (default 200; 0 skips callgrind)
# Needs: python3, valgrind (for part 2).
set -euo pipefail

cd "$(dirname "$0")/.."
SECFLOW=${1:-target/release/secflow}
[ -x "$SECFLOW" ] || cargo build --release --quiet
SECFLOW=$(realpath "$SECFLOW")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# shellcheck source=bench/recipes.sh
source bench/recipes.sh
NODES=${NODES:-1000}
CG_NODES=${CG_NODES:-200}
chain_recipe "$NODES" "$WORK/chain.yaml"
[ "$CG_NODES" -gt 0 ] && chain_recipe "$CG_NODES" "$WORK/chain-cg.yaml"

python3 - "$SECFLOW" "$WORK" "${ROUNDS:-20}" "$NODES" "$CG_NODES" <<'PY'
import os, re, subprocess, statistics, sys, time, glob

secflow, work, rounds, nodes, cg_nodes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
configs = {
    "none": {"SECFLOW_SINKS": "none"},
    "all-info": {},
    "all-debug": {"SECFLOW_LOG_LEVEL": "debug"},
}

def environ(extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SECFLOW_SINKS", "SECFLOW_LOG_LEVEL")}
    env.update(extra)
    return env

def run(extra, recipe):
    env = environ(extra)
    argv = [secflow, "run", recipe, "--quiet", "--progress", "never", "--state-dir", f"{work}/state"]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"secflow failed ({status}) with {extra}")
    return wall, ru.ru_utime + ru.ru_stime

recipe = f"{work}/chain.yaml"
for name, extra in configs.items():  # warm-up
    run(extra, recipe)
walls = {k: [] for k in configs}
cpus = {k: [] for k in configs}
for _ in range(rounds):
    for name, extra in configs.items():
        w, c = run(extra, recipe)
        walls[name].append(w)
        cpus[name].append(c)

print(f"== CHAIN-{nodes}: {rounds} interleaved rounds (wall; CPU of secflow and its children)")
print(f"{'config':<10} {'median ms/node':>15} {'mean ms/node':>13} {'vs none (median)':>17} {'vs none (mean)':>15} {'CPU ms/node':>12} {'CPU vs none':>12}")
med = lambda xs: statistics.median(xs)
base_w, base_m, base_c = med(walls["none"]), statistics.mean(walls["none"]), med(cpus["none"])
for name in configs:
    w, m, c = med(walls[name]), statistics.mean(walls[name]), med(cpus[name])
    print(f"{name:<10} {1000*w/nodes:15.3f} {1000*m/nodes:13.3f} {100*(w/base_w-1):+16.1f}% {100*(m/base_m-1):+14.1f}% {1000*c/nodes:12.3f} {100*(c/base_c-1):+11.1f}%")
sd = statistics.stdev(walls["none"]) / base_m * 100
print(f"run-to-run noise (stdev/mean of `none`): {sd:.1f}%")

if cg_nodes == 0:
    sys.exit(0)
print(f"\n== CHAIN-{cg_nodes} under callgrind: instructions of the secflow process (children not traced)")
print(f"{'config':<10} {'total/node':>11} {'engine/node':>15} {'other/node':>11} {'telemetry/node':>15}")
base_total = None
for name, extra in configs.items():
    out = f"{work}/cg.{name}"
    env = environ(extra)
    subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                    f"--callgrind-out-file={out}.%p", secflow, "run", f"{work}/chain-cg.yaml",
                    "--quiet", "--progress", "never", "--state-dir", f"{work}/state"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    total = sched = 0
    for f in glob.glob(f"{out}.*"):
        text = open(f, errors="replace").read()
        m = re.search(r"^summary: (\d+)", text, re.M)
        if not m:
            continue
        n = int(m.group(1))
        total += n
        # The engine's threads: the one running the scheduler (the main thread: parse,
        # plan, scheduler) and tokio's workers (process supervision) when there are any.
        if "scheduler::Scheduler" in text or "multi_thread::worker::run" in text:
            sched += n
    if base_total is None:
        base_total = total
    print(f"{name:<10} {total/cg_nodes:11.0f} {sched/cg_nodes:15.0f} {(total-sched)/cg_nodes:11.0f} {(total-base_total)/cg_nodes:15.0f}")
PY
