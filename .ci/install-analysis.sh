#!/usr/bin/env bash
# Installs what the performance-analysis tests and benchmark use:
#   chromium          (apt) — tests/html_check.sh opens the HTML report headless
#   jq                (apt) — bench/analysis.sh baseline
#   duckdb            (pip, venv /opt/duckdb) — bench/analysis.sh comparison
#   check-jsonschema  (pip, venv /opt/cjs) — the schema test
# Idempotent. Needs root (or sudo) and apt.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
if [ "${SKIP_BENCH_TOOLS:-0}" != 1 ] && [ ! -x /opt/duckdb/bin/python ]; then
    $SUDO python3 -m venv /opt/duckdb
    $SUDO /opt/duckdb/bin/pip install --quiet duckdb
fi
if ! command -v check-jsonschema >/dev/null 2>&1 && [ ! -x /opt/cjs/bin/check-jsonschema ]; then
    $SUDO python3 -m venv /opt/cjs
    $SUDO /opt/cjs/bin/pip install --quiet check-jsonschema
fi
chromium --version
