#!/usr/bin/env bash
# Figures for `validate-recipe` (release build):
#   1. hyperfine of validating the sample recipe, beside `make -n` on a 3-target Makefile in
#      the same run (target: <= 2 ms);
#   2. time and peak RSS to reject an alias bomb and a 100 MB file (target: < 1 s, < 50 MB).
# Usage: bench/validate.sh            (from anywhere; needs hyperfine and GNU time)
set -euo pipefail

cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine: apt-get install -y hyperfine" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }

cargo build --release --quiet
bin="$PWD/target/release/secflow"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf 'all: a b c\na:\n\t@echo a\nb: a\n\t@echo b\nc: b\n\t@echo c\n' > "$work/Makefile"

echo "== hyperfine: validate-recipe vs make -n (3 targets); --version is process start alone"
hyperfine -N --warmup 20 --runs 300 --export-json "$work/hyperfine.json" \
  "$bin validate-recipe workflows/sample-linear.yaml" \
  "$bin --version" \
  "make -n -f $work/Makefile"
# The mean suffers from other processes on a shared machine; the median is the typical run.
python3 - "$work/hyperfine.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"median {r['median'] * 1e3:6.2f} ms   min {r['min'] * 1e3:6.2f} ms   {r['command']}")
PY

# A 100 MB recipe: a valid head, then comment lines (refused by size before it is read).
{
  printf 'version: "1.0"\nname: big\nnodes:\n  - id: a\n    run: "echo a"\n'
  head -c 100000000 /dev/zero | tr '\0' '#' | fold -w 99
} > "$work/big.yaml"

measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || true
  read -r secs kb < <(tail -n 1 "$work/time")
  printf '%-44s %6.3f s  %6.1f MB peak RSS   %s\n' "$label" "$secs" "$(awk "BEGIN { print $kb / 1024 }")" \
    "$(grep -m1 'error\[' "$work/stderr" | sed 's/^[^ ]* //')"
}

echo
echo "== rejecting hostile input (target: < 1 s, < 50 MB)"
measure "alias bomb (fixtures/invalid/alias-bomb.yaml)" "$bin" validate-recipe fixtures/invalid/alias-bomb.yaml
measure "wide alias bomb (fixtures/invalid/alias-wide.yaml)" "$bin" validate-recipe fixtures/invalid/alias-wide.yaml
measure "too deep (fixtures/invalid/too-deep.yaml)" "$bin" validate-recipe fixtures/invalid/too-deep.yaml
measure "100 MB file, default limit" "$bin" validate-recipe "$work/big.yaml"
