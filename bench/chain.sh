#!/usr/bin/env bash
# Engine benchmarks, side by side with the floors they are measured against.
#
#   CHAIN-1000  1000 exec nodes `command: [true]` in a chain
#               vs a bash loop of 1000 /bin/true and vs GNU make running the same chain
#   WIDE-1000   1000 independent `sleep 0.05` nodes at concurrency 64 vs `xargs -P64` and
#               `make -j64`
#   CHAIN-10000 peak RSS of secflow on a 10 000-node chain (/usr/bin/time -v)
#   SLEEP-RSS   peak RSS a `sleep 1` node reports vs `/usr/bin/time -v sleep 1`
#   ESCAPES     survivors of a node escaping by setsid, a double fork and `nohup … &` (0)
#
# Usage: bench/chain.sh [SECFLOW_BINARY]   (default: target/release/secflow, built if missing)
# BASELINE=OTHER_SECFLOW_BINARY adds it to CHAIN-1000 and WIDE-1000 as `baseline`.
# Needs: hyperfine, GNU make, xargs, python3, /usr/bin/time.
# Targets: CHAIN-1000 < 1 ms/node over the bash floor; WIDE within 5 % of xargs;
#          10k-chain peak RSS < 60 MB.
set -euo pipefail

cd "$(dirname "$0")/.."
SECFLOW=${1:-target/release/secflow}
if [ ! -x "$SECFLOW" ]; then
    cargo build --release --quiet
fi
SECFLOW=$(realpath "$SECFLOW")
RUNS=${RUNS:-10}
WORK=$(mktemp -d)
# WIDE-1000 also runs with its state on tmpfs when /dev/shm is one: the same records, minus
# the disk's cost per new inode, which on ext4 depends on what was deleted in the last
# minutes (ext4_mkdir -> recently_deleted scans past inodes freed lately; a build or a test
# suite before the benchmark can double secflow's system time). xargs records nothing.
TMPFS=""
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
    TMPFS=$(mktemp -d -p /dev/shm)
fi
trap 'rm -rf "$WORK" ${TMPFS:+"$TMPFS"}' EXIT

# shellcheck source=bench/recipes.sh
source bench/recipes.sh

chain_makefile() { # N FILE
    {
        printf '.PHONY:'
        for ((i = 0; i < $1; i++)); do printf ' n%d' "$i"; done
        printf '\nn0:\n\t@true\n'
        for ((i = 1; i < $1; i++)); do printf 'n%d: n%d\n\t@true\n' "$i" $((i - 1)); done
    } >"$2"
}

chain_recipe 1000 "$WORK/chain1000.yaml"
chain_recipe 10000 "$WORK/chain10000.yaml"
wide_recipe 1000 "$WORK/wide1000.yaml"
chain_makefile 1000 "$WORK/chain1000.mk"
{
    printf 'all:'
    for ((i = 0; i < 1000; i++)); do printf ' w%d' "$i"; done
    printf '\n.PHONY: all\n'
    for ((i = 0; i < 1000; i++)); do printf 'w%d:\n\t@sleep 0.05\n.PHONY: w%d\n' "$i" "$i"; done
} >"$WORK/wide1000.mk"
BASE_CHAIN=()
BASE_WIDE=()
if [ -n "${BASELINE:-}" ]; then
    BASELINE=$(realpath "$BASELINE")
    BASE_CHAIN=(-n baseline "$BASELINE run $WORK/chain1000.yaml --quiet --state-dir $WORK/bstate")
    BASE_WIDE=(-n baseline "$BASELINE run $WORK/wide1000.yaml --quiet --state-dir $WORK/bstate")
fi
STATE="$WORK/state"
run_secflow() { echo "$SECFLOW run $1 --quiet --state-dir $STATE"; }

echo "== CHAIN-1000 (1000 nodes, each /bin/true, in a chain)"
hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/chain.json" \
    -n bash-loop 'bash -c "for i in \$(seq 1000); do /bin/true; done"' \
    -n make "make -s -f $WORK/chain1000.mk n999" \
    -n secflow "$(run_secflow "$WORK/chain1000.yaml")" \
    "${BASE_CHAIN[@]}"

echo "== WIDE-1000 (1000 x sleep 0.05, concurrency 64)"
WIDE_TMPFS=()
if [ -n "$TMPFS" ]; then
    WIDE_TMPFS=(-n secflow-tmpfs "$SECFLOW run $WORK/wide1000.yaml --quiet --state-dir $TMPFS/state")
fi
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/wide.json" \
    -n xargs-P64 'seq 1000 | xargs -P64 -I{} sleep 0.05' \
    -n make-j64 "make -s -j64 -f $WORK/wide1000.mk all" \
    -n secflow "$(run_secflow "$WORK/wide1000.yaml")" \
    "${WIDE_TMPFS[@]}" "${BASE_WIDE[@]}"

echo "== CHAIN-10000 peak RSS"
/usr/bin/time -v "$SECFLOW" run "$WORK/chain10000.yaml" --quiet --state-dir "$STATE" \
    2>"$WORK/time10k.txt" || true
RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time10k.txt")
WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time10k.txt")

echo "== SLEEP-RSS and ESCAPES"
printf 'version: "1.0"\nname: nap\nnodes:\n  - id: nap\n    command: [sleep, "1"]\n' >"$WORK/nap.yaml"
"$SECFLOW" run "$WORK/nap.yaml" --quiet --state-dir "$STATE" --format json >"$WORK/nap.json"
/usr/bin/time -v sleep 1 2>"$WORK/timesleep.txt"
SLEEP_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/timesleep.txt")
MARK="7$$.$RANDOM"
printf 'version: "1.0"\nname: esc\nnodes:\n  - id: esc\n    run: "setsid sleep %s1 & (sleep %s2 &); nohup sleep %s3 >/dev/null 2>&1 & sleep 0.2"\n' \
    "$MARK" "$MARK" "$MARK" >"$WORK/esc.yaml"
"$SECFLOW" run "$WORK/esc.yaml" --quiet --state-dir "$STATE" --format json >"$WORK/esc.json" || true
sleep 0.2
SURVIVORS=$(pgrep -fc "sleep $MARK" || true)
pkill -f "sleep $MARK" || true

python3 - "$WORK/chain.json" "$WORK/wide.json" "$RSS_KB" "$WALL" "$WORK/nap.json" "$SLEEP_KB" \
    "$WORK/esc.json" "$SURVIVORS" <<'PY'
import json, sys
chain = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
wide = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
rss_kb, wall = int(sys.argv[3]), sys.argv[4]
best = lambda r: min(r["times"])
print()
print("CHAIN-1000 (best of runs, ms per node):")
for name in ("bash-loop", "make", "secflow"):
    print(f"  {name:10s} {best(chain[name]) * 1000 / 1000:7.3f} ms/node   (mean {chain[name]['mean'] * 1000:8.1f} ms total)")
over_bash = (best(chain["secflow"]) - best(chain["bash-loop"])) * 1000 / 1000
print(f"  secflow over bash floor: {over_bash:.3f} ms/node (target < 1.0)  "
      f"ratio secflow/bash {best(chain['secflow']) / best(chain['bash-loop']):.2f}, "
      f"secflow/make {best(chain['secflow']) / best(chain['make']):.2f}")
if "baseline" in chain:
    print(f"  baseline   {best(chain['baseline']):7.3f} ms/node   "
          f"(secflow/baseline {best(chain['secflow']) / best(chain['baseline']):.3f})")
x, xm = best(wide["xargs-P64"]), wide["xargs-P64"]["mean"]
print(f"WIDE-1000 (target secflow/xargs <= 1.05): xargs -P64 best {x * 1000:.1f} ms, mean {xm * 1000:.1f} ms")
mk, mkm = best(wide["make-j64"]), wide["make-j64"]["mean"]
print(f"  make -j64 best {mk * 1000:.1f} ms, mean {mkm * 1000:.1f} ms")
for name, where in (("secflow", "state on disk"), ("secflow-tmpfs", "state on tmpfs"),
                    ("baseline", "baseline binary")):
    if name in wide:
        s, sm = best(wide[name]), wide[name]["mean"]
        print(f"  {name}, {where:15s} best {s * 1000:7.1f} ms ({s / x:.3f}x xargs, "
              f"{s / mk:.3f}x make)   mean {sm * 1000:7.1f} ms ({sm / xm:.3f}x, {sm / mkm:.3f}x)")
print(f"CHAIN-10000: peak RSS {rss_kb / 1024:.1f} MB (target < 60), wall {wall}")
nap = json.load(open(sys.argv[5]))["nodes"][0]["attempts"][0]["peak_rss_bytes"] / 1024
ref = int(sys.argv[6])
print(f"SLEEP-RSS: sleep node {nap:.0f} KiB, /usr/bin/time -v sleep {ref} KiB, "
      f"+{(nap - ref) / 1024:.2f} MB (target <= +1.5)")
esc = json.load(open(sys.argv[7]))["nodes"][0]
print(f"ESCAPES: node {esc['status']}, killed_descendants {esc.get('killed_descendants')}, "
      f"survivors {sys.argv[8]} (target 0)")
PY
