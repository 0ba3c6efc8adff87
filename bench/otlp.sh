#!/usr/bin/env bash
# OTLP export cost (issue #22): CHAIN-1000 (1000 `true` nodes in a chain) with the live
# export to a real receiver (rotel, blackhole exporter) over grpc and over http/protobuf,
# interleaved round by round against export off, so drift in a shared machine's load hits
# all three alike. Wall and CPU (secflow and its children), medians per node; run.json's
# `telemetry.export.undelivered` must be 0 in every exported run.
#
# Usage: bench/otlp.sh [SECFLOW_BINARY]   (default: target/release/secflow, built if missing)
# Env:   ROUNDS (default 5), NODES (default 1000), ROTEL (default /opt/rotel/rotel/rotel-agent)
# Needs: python3, rotel (.ci/install-otlp.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
SECFLOW=${1:-target/release/secflow}
[ -x "$SECFLOW" ] || cargo build --release --quiet
SECFLOW=$(realpath "$SECFLOW")
ROTEL=${ROTEL:-/opt/rotel/rotel/rotel-agent}
WORK=$(mktemp -d)
ROTEL_PID=
cleanup() {
  [ -n "$ROTEL_PID" ] && kill "$ROTEL_PID" 2>/dev/null && wait "$ROTEL_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/recipes.sh
source bench/recipes.sh
NODES=${NODES:-1000}
chain_recipe "$NODES" "$WORK/chain.yaml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(free_port)
GRPC=$(free_port)
NO_COLOR=1 "$ROTEL" start --exporter blackhole \
  --otlp-http-endpoint "127.0.0.1:$HTTP" --otlp-grpc-endpoint "127.0.0.1:$GRPC" \
  </dev/null >"$WORK/rotel.log" 2>&1 &
ROTEL_PID=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{"resourceSpans":[]}' \
    "http://127.0.0.1:$HTTP/v1/traces" 2>/dev/null && break
  sleep 0.1
done

python3 - "$SECFLOW" "$WORK" "${ROUNDS:-5}" "$NODES" "$HTTP" "$GRPC" <<'PY'
import json, os, resource, subprocess, statistics, sys, time

secflow, work, rounds, nodes, http, grpc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
configs = {
    "off": {},
    "http/protobuf": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http}",
                      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
    "grpc": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc}",
             "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
}

def run(name, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra)
    state = f"{work}/state-{name.replace('/', '-')}"
    argv = [secflow, "run", f"{work}/chain.yaml", "--quiet", "--progress", "never",
            "--format", "json", "--state-dir", state]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    status, out, err = p.returncode, p.stdout, p.stderr
    if status != 0:
        sys.exit(f"secflow failed ({status}) with {name}: {err.decode()[-500:]}")
    if extra:
        undelivered = json.loads(out)["telemetry"]["export"]["undelivered"]
        if undelivered:
            sys.exit(f"{name}: {undelivered} items not delivered: {err.decode()[-500:]}")
    return wall, cpu

for name, extra in configs.items():  # warm-up
    run(name, extra)
walls = {k: [] for k in configs}
cpus = {k: [] for k in configs}
for _ in range(rounds):
    for name, extra in configs.items():
        wall, cpu = run(name, extra)
        walls[name].append(wall)
        cpus[name].append(cpu)

med = statistics.median
base = med(walls["off"])
cbase = med(cpus["off"])
print(f"== CHAIN-{nodes}: {rounds} interleaved rounds, live OTLP export to rotel; wall, and CPU of secflow and its children")
print(f"{'export':<14} {'wall ms/node':>13} {'vs off':>8} {'min..max s':>12} {'CPU ms/node':>12} {'vs off':>8}")
for name in configs:
    w, c = med(walls[name]), med(cpus[name])
    print(f"{name:<14} {1000*w/nodes:13.3f} {100*(w/base-1):+7.1f}% {min(walls[name]):5.2f}..{max(walls[name]):<5.2f}"
          f" {1000*c/nodes:12.3f} {100*(c/cbase-1):+7.1f}%")
def noise(xs):
    return statistics.stdev(xs) / statistics.mean(xs) * 100 if len(xs) > 1 else 0
print(f"run-to-run noise (stdev/mean of `off`): wall {noise(walls['off']):.1f}%, CPU {noise(cpus['off']):.1f}%")
PY
