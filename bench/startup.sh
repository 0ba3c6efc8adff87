#!/usr/bin/env bash
# Start-up: `validate-recipe` and `run-workflow --dry-run` of the sample recipe beside
# `make -n` of an equivalent 3-target Makefile, and `--version` (process start alone).
#
#   1. wall time: one hyperfine run, every command interleaved round by round (-N, medians);
#   2. CPU time: `perf stat -r N` task-clock per command, which a loaded shared machine
#      disturbs far less than wall time (the figure to compare when `uptime` is high).
#
# Usage: bench/startup.sh [SECFLOW_BINARY]   (default target/release/secflow, built if missing)
# BASELINE=OTHER_SECFLOW_BINARY adds the same commands for that binary. RUNS (default 200).
# Needs: hyperfine, GNU make, perf (CPU figures are skipped without it).
# Target: validate and --dry-run at or below `make -n`.
set -euo pipefail

cd "$(dirname "$0")/.."
SECFLOW=${1:-target/release/secflow}
[ -x "$SECFLOW" ] || cargo build --release --quiet
SECFLOW=$(realpath "$SECFLOW")
RUNS=${RUNS:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp workflows/sample-linear.yaml "$work/recipe.yaml"
printf 'all: a b c\na:\n\t@echo a\nb: a\n\t@echo b\nc: b\n\t@echo c\n' >"$work/Makefile"
cd "$work"

cmds=(-n make-n "make -n -f Makefile")
bins=("secflow=$SECFLOW")
[ -n "${BASELINE:-}" ] && bins+=("baseline=$(realpath "$BASELINE")")
for b in "${bins[@]}"; do
    name=${b%%=*} bin=${b#*=}
    cmds+=(-n "$name-validate" "$bin validate-recipe recipe.yaml")
    cmds+=(-n "$name-dry-run" "$bin run-workflow recipe.yaml --dry-run --state-dir state")
    cmds+=(-n "$name-version" "$bin --version")
done

echo "== wall time (hyperfine -N, $RUNS runs each; load: $(cut -d' ' -f1-3 /proc/loadavg))"
hyperfine -N --style basic --warmup 20 --runs "$RUNS" --export-json hf.json "${cmds[@]}" >/dev/null
python3 - hf.json <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
make = next(r for r in rs if r["command"] == "make-n")["median"]
for r in rs:
    print(f"{r['command']:<20} median {r['median'] * 1e3:6.2f} ms  min {r['min'] * 1e3:6.2f} ms"
          f"  {r['median'] / make:5.2f}x make -n")
PY

command -v perf >/dev/null || exit 0
echo "== CPU time (perf stat -r $RUNS, task-clock; interleaved in blocks of 20)"
declare -A total
for ((round = 0; round < RUNS / 20; round++)); do
    for ((i = 0; i < ${#cmds[@]}; i += 3)); do
        name=${cmds[i + 1]} cmd=${cmds[i + 2]}
        # shellcheck disable=SC2086
        ms=$(perf stat -x, -r 20 -e task-clock $cmd 2>&1 >/dev/null | awk -F, '/task-clock/ { print $1 }')
        total[$name]="${total[$name]:-} $ms"
    done
done
for ((i = 0; i < ${#cmds[@]}; i += 3)); do
    name=${cmds[i + 1]}
    printf '%-20s task-clock median of blocks %s ms\n' "$name" \
        "$(echo "${total[$name]}" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }')"
done
