#!/usr/bin/env bash
# The HTML report's size and render time in headless Chromium for synthetic runs.
# Usage: bench/html_report.sh [NODES...]   (default: 1000 10000; ROUNDS=3)
# generate: wall time of `performance-analysis RUN --format html --output F` (reads run.json
# and logs.jsonl, renders), with its peak RSS (`/usr/bin/time`, when installed).
# render: measured in the page by a probe script appended to a copy of the report (the report
# itself is unchanged): from the end of the file's load (navigation `responseEnd`) to the first
# frame after the load event — parsing, the report's script, layout, the first paint — median
# of ROUNDS, each in a fresh Chromium profile. `performance.now()` stays real time under
# `--virtual-time-budget` (checked: a 500 ms busy loop reads 540 ms), which only makes
# `--dump-dom` wait for the probe; a round whose probe did not fire is retried (twice at most).
# Needs python3, chromium and a built target/release or target/debug secflow.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SECFLOW:-$root/target/release/secflow}
[ -x "$bin" ] || bin=$root/target/debug/secflow
browser=${CHROMIUM:-chromium}
rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
probe='<script>addEventListener("load",function(){requestAnimationFrame(function(){setTimeout(function(){var n=performance.getEntriesByType("navigation")[0];document.documentElement.setAttribute("data-render-ms",Math.round(performance.now()-(n?n.responseEnd:0)))},0)})})</script>'
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f %M -o "$work/rss")
render_once() {
  local profile t
  profile=$(mktemp -d)
  t=$("$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
      --user-data-dir="$profile" --window-size=1280,2000 --virtual-time-budget=60000 \
      --dump-dom "file://$1" 2>/dev/null | grep -o 'data-render-ms="[0-9]*"' | grep -o '[0-9][0-9]*' || true)
  rm -rf "$profile"
  echo "$t"
}
echo "secflow: $bin; load average: $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) cores"
for nodes in "${@:-1000 10000}"; do
  for n in $nodes; do
    python3 "$root/bench/gen_logs.py" "$work/run$n" --log-mb 0 --nodes "$n" >/dev/null
    start=$(date +%s%N)
    "${timer[@]}" "$bin" performance-analysis "$work/run$n" --format html --output "$work/r$n.html"
    gen_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    rss=$([ -s "$work/rss" ] && echo "$(( $(cat "$work/rss") / 1024 ))MiB" || echo "?")
    size=$(stat -c %s "$work/r$n.html")
    sed "s#</body>#$probe</body>#" "$work/r$n.html" >"$work/p$n.html"
    times=()
    for _ in $(seq "$rounds"); do
      t=""
      for _ in 1 2 3; do
        t=$(render_once "$work/p$n.html")
        [ -n "$t" ] && break
      done
      times+=("${t:-?}")
    done
    median=$(printf "%s\n" "${times[@]}" | grep -v "?" | sort -n | awk "{a[NR]=\$1} END {print (NR ? a[int((NR+1)/2)] : \"?\")}")
    echo "nodes=$n size=${size}B generate=${gen_ms}ms generate_rss=$rss render_median=${median}ms rounds=${times[*]}"
  done
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
