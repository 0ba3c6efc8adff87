#!/usr/bin/env bash
# Telemetry cost on CHAIN-1000 (1000 `true` nodes in a chain), side by side in one hyperfine
# run: every sink off (`SECFLOW_SINKS=none`), each sink alone, all sinks at INFO (the
# default), all at DEBUG, and all plus live OTLP export to a real collector (rotel, see
# .ci/install-otlp.sh) running on loopback.
#
# Usage: bench/sinks.sh [SECFLOW_BINARY]   (default: target/release/secflow, built if missing)
# Needs: hyperfine, python3; rotel at /opt/rotel/rotel/rotel-agent (or $ROTEL) for the OTLP row.
set -euo pipefail

cd "$(dirname "$0")/.."
SECFLOW=${1:-target/release/secflow}
[ -x "$SECFLOW" ] || cargo build --release --quiet
SECFLOW=$(realpath "$SECFLOW")
RUNS=${RUNS:-10}
WORK=$(mktemp -d)
ROTEL=${ROTEL:-/opt/rotel/rotel/rotel-agent}
cleanup() { [ -n "${ROTEL_PID:-}" ] && kill "$ROTEL_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=bench/recipes.sh
source bench/recipes.sh
chain_recipe 1000 "$WORK/chain.yaml"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GRPC=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$ROTEL" start --exporter blackhole --otlp-http-endpoint "127.0.0.1:$PORT" \
    --otlp-grpc-endpoint "127.0.0.1:$GRPC" </dev/null >"$WORK/rotel.log" 2>&1 &
ROTEL_PID=$!
sleep 0.5

run() { echo "$SECFLOW run $WORK/chain.yaml --quiet --progress never --state-dir $WORK/state"; }
hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/sinks.json" \
    -n none "SECFLOW_SINKS=none $(run)" \
    -n console "SECFLOW_SINKS=console $(run)" \
    -n logs "SECFLOW_SINKS=logs $(run)" \
    -n spans "SECFLOW_SINKS=spans $(run)" \
    -n audit "SECFLOW_SINKS=audit $(run)" \
    -n metrics "SECFLOW_SINKS=metrics $(run)" \
    -n all-info "$(run)" \
    -n all-debug "SECFLOW_LOG_LEVEL=debug $(run)" \
    -n all+otlp "$(run) --otlp-endpoint http://127.0.0.1:$PORT"

python3 - "$WORK/sinks.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["none"]["min"]
print(f"\n{'sinks':<10} {'best ms':>9} {'ms/node':>8} {'vs none':>9}")
for name, x in r.items():
    print(f"{name:<10} {x['min']*1000:9.1f} {x['min']:8.3f} {100*(x['min']/base-1):+8.1f}%")
PY
