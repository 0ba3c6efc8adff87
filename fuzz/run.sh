#!/bin/sh
# Fuzzes each target for SECONDS_PER_TARGET (default 120) seconds with cargo-fuzz (libFuzzer).
#
# The pinned stable toolchain is used with RUSTC_BOOTSTRAP=1 (libFuzzer's instrumentation needs
# no nightly-only flag without a sanitizer); SANITIZER=address needs a nightly toolchain
# (`rustup toolchain install nightly`, then TOOLCHAIN=+nightly). New inputs go to
# corpus-new/ (ignored by git); each crash is copied into corpus/TARGET/ so that
# `cargo test --lib fuzz_targets` keeps running it. Prints executions per target.
set -eu
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${SECONDS_PER_TARGET:-120}
SANITIZER=${SANITIZER:-none}
TOOLCHAIN=${TOOLCHAIN:-}
TARGETS=${*:-recipe template when logs spans audit run_json}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
total=0
for t in $TARGETS; do
    mkdir -p "corpus-new/$t" "artifacts/$t"
    log="artifacts/$t.log"
    # shellcheck disable=SC2086
    RUSTC_BOOTSTRAP=1 cargo $TOOLCHAIN fuzz run -s "$SANITIZER" "$t" "corpus-new/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=1024 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || true
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    runs=${runs:-0}
    total=$((total + runs))
    crashes=0
    for c in "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-*; do
        [ -f "$c" ] || continue
        crashes=$((crashes + 1))
        cp "$c" "corpus/$t/$(basename "$c")"
    done
    echo "$t: $runs executions, $crashes crash/oom/timeout inputs (log: fuzz/$log)"
done
echo "total: $total executions"
