#!/usr/bin/env bash
# The spawn floor of CHAIN-1000: how close to GNU make a runner that contains each tool the way
# SPEC §10 asks can get before it does any work of its own. bench/spawn_floor.c starts 1000
# `true` one after another three ways (make's posix_spawn; fork + the shim's child set-up in the
# deciding process; secflow's shape, a request to a separate shim that forks, waits and
# reports; the same with vfork, which secflow does not use: the tool's peak RSS would fold in the
# shim's), run interleaved beside `make` on the same chain and, if given, secflow.
#
# Usage: bench/spawn-floor.sh [SECFLOW_BINARY ...]   ROUNDS (default 8)
# Needs: cc, GNU make, python3.
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/spawn_floor" bench/spawn_floor.c
# shellcheck source=bench/recipes.sh
source bench/recipes.sh
chain_recipe 1000 "$work/c.yaml"
{
    printf '.PHONY:'
    for ((i = 0; i < 1000; i++)); do printf ' n%d' "$i"; done
    printf '\nn0:\n\t@true\n'
    for ((i = 1; i < 1000; i++)); do printf 'n%d: n%d\n\t@true\n' "$i" $((i - 1)); done
} >"$work/c.mk"

cmds=(
    "make=make -s -f $work/c.mk n999"
    "spawn=$work/spawn_floor spawn"
    "fork=$work/spawn_floor fork"
    "hop=$work/spawn_floor hop"
    "hop-vfork=$work/spawn_floor hop-vfork"
)
n=0
for bin in "$@"; do
    n=$((n + 1))
    cmds+=("secflow$n=$(realpath "$bin") run $work/c.yaml --quiet --state-dir $work/S")
done
python3 bench/interleave.py --prepare "rm -rf $work/S" "$ROUNDS" "${cmds[@]}"
