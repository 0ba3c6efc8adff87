#!/bin/sh
# Audit trail figures (release build):
#   - `secflow audit verify` throughput (events/s) and peak RSS on a 100 000-event chain
#   - AuditSink write rate, and its cost on the CHAIN-1000 event stream (1000 chained nodes)
# Usage: bench/audit.sh [EVENTS]   (default 100000)
set -eu
cd "$(dirname "$0")/.."
AUDIT_BENCH_EVENTS="${1:-100000}" \
  cargo test --release --test records audit_verify::bench_audit -- --ignored --exact --nocapture 2>&1 |
  grep '^audit '
