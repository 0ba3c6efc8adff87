#!/usr/bin/env bash
# Installs rotel, a real OTLP receiver shipped as a PyPI wheel (see ../shared/BACKENDS.md §3),
# into /opt/rotel. Idempotent. The OTLP export tests find it at /opt/rotel/rotel/rotel-agent
# (or $ROTEL).
set -euo pipefail
if [ -x /opt/rotel/rotel/rotel-agent ] && /opt/rotel/rotel/rotel-agent --version >/dev/null 2>&1; then
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpython3.11 >/dev/null
DL=$(mktemp -d)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
  --platform manylinux_2_34_x86_64 -d "$DL" rotel==0.0.1a15
rm -rf /opt/rotel
python3 -m zipfile -e "$DL"/rotel-0.0.1a15-cp311-cp311-manylinux_2_34_x86_64.whl /opt/rotel
chmod +x /opt/rotel/rotel/rotel-agent
rm -rf "$DL"
/opt/rotel/rotel/rotel-agent --version
