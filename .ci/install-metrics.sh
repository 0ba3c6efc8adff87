#!/usr/bin/env bash
# Installs the real Prometheus tools the metrics tests run against (see shared BACKENDS.md):
#   promtool               (apt `prometheus`, /usr/bin/promtool)
#   prometheus             (same package, /usr/bin/prometheus: the deploy/ kit tests)
#   prometheus-pushgateway (apt `prometheus-pushgateway`, /usr/bin/prometheus-pushgateway)
# Idempotent: does nothing when both are already on PATH. Needs root (or sudo) and apt.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)

if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    # --no-install-recommends: otherwise apt also pulls in prometheus-node-exporter.
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
    # On hosts with systemd (e.g. GitHub runners) the postinst starts the services on
    # :9090 / :9091 (all interfaces); the tests start their own instances on loopback.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl stop prometheus prometheus-pushgateway 2>/dev/null || true
    fi
fi

promtool --version 2>&1 | head -n 1
prometheus-pushgateway --version 2>&1 | head -n 1
