#!/usr/bin/env bash
# The HTML report's size and render time in headless Chromium for synthetic runs.
# Usage: bench/html_report.sh [NODES...]   (default: 1000 10000; ROUNDS=3)
# Render time: from navigation start to the first frame after load, measured in the page by
# a probe script appended to a copy of the report (the report itself is unchanged), median
# of ROUNDS. Needs python3, chromium and a built target/release or target/debug secflow.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SECFLOW:-$root/target/release/secflow}
[ -x "$bin" ] || bin=$root/target/debug/secflow
browser=${CHROMIUM:-chromium}
rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
probe='<script>addEventListener("load",function(){requestAnimationFrame(function(){setTimeout(function(){document.documentElement.setAttribute("data-render-ms",Math.round(performance.now()))},0)})})</script>'
for nodes in "${@:-1000 10000}"; do
  for n in $nodes; do
    python3 "$root/bench/gen_logs.py" "$work/run$n" --log-mb 0 --nodes "$n" >/dev/null
    start=$(date +%s%N)
    "$bin" performance-analysis "$work/run$n" --format html --output "$work/r$n.html"
    gen_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    size=$(stat -c %s "$work/r$n.html")
    sed "s#</body>#$probe</body>#" "$work/r$n.html" >"$work/p$n.html"
    times=()
    for _ in $(seq "$rounds"); do
      profile=$(mktemp -d)
      t=$("$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
          --user-data-dir="$profile" --window-size=1280,2000 --virtual-time-budget=60000 \
          --dump-dom "file://$work/p$n.html" 2>/dev/null | grep -o 'data-render-ms="[0-9]*"' | grep -o '[0-9][0-9]*' || echo "?")
      rm -rf "$profile"
      times+=("$t")
    done
    median=$(printf "%s\n" "${times[@]}" | grep -v "?" | sort -n | awk "{a[NR]=\$1} END {print (NR ? a[int((NR+1)/2)] : \"?\")}")
    echo "nodes=$n size=${size}B generate=${gen_ms}ms render_median=${median}ms rounds=${times[*]}"
  done
done
