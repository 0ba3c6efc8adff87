#!/usr/bin/env bash
# Figures for `validate-recipe` (release build):
#   1. hyperfine of validating the sample recipe, beside `make -n` on a 3-target Makefile in
#      the same run (target: <= 2 ms);
#   2. time and peak RSS to reject an alias bomb and a 100 MB file (target: < 1 s, < 50 MB);
#   3. time and peak RSS at scale: a valid 100 000-node chain, and a 20 000-node recipe with
#      60 000 errors (both linear in size; they were quadratic once).
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

# Scale: generated recipes, checked with the size limit raised.
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
lines = ['version: "1.0"', 'name: chain', 'nodes:']
for i in range(100_000):
    lines += [f'  - id: n{i}', f'    run: "cat {{{{ inputs.d{i} }}}} > {{{{ outputs.d{i + 1} }}}}"',
              f'    outputs: [d{i + 1}]'] + ([f'    inputs: [d{i}]'] if i else [])
lines[4] = '    run: "echo > {{ outputs.d1 }}"'
open(f"{work}/chain.yaml", "w").write("\n".join(lines) + "\n")
lines = ['version: "1.0"', 'name: broken', 'vars:'] + [f'  v{i}: x' for i in range(20_000)]
lines.append('nodes:')
for i in range(20_000):
    lines += [f'  - id: n{i}', f'    run: "echo {{{{ vars.w{i} }}}}"', f'    inputs: [nope{i}]',
              f'    outputs: [o{i}]', f'    depends_on: [m{i}]']
open(f"{work}/broken.yaml", "w").write("\n".join(lines) + "\n")
PY

echo
echo "== scale"
measure "valid chain of 100 000 nodes (11 MB)" "$bin" validate-recipe --max-bytes 100000000 "$work/chain.yaml"
measure "20 000 nodes, 60 000 errors" "$bin" validate-recipe --max-bytes 100000000 "$work/broken.yaml"
