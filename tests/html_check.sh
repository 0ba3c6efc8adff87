#!/usr/bin/env bash
# Opens an analysis HTML report in headless Chromium, takes a screenshot and fails on any
# console error, failed network request or missing content.
# Usage: tests/html_check.sh REPORT.html [SCREENSHOT.png] [EXPECTED_PEAK]
# With EXPECTED_PEAK, the concurrency chart's data-peak (read from the rendered DOM) must equal it.
# Chromium: $CHROMIUM, else `chromium` / `chromium-browser` / `google-chrome` on PATH
# (install with .ci/install-analysis.sh). Exit 0 clean, 1 errors found, 2 usage / no browser.
set -euo pipefail

html=${1:?usage: html_check.sh REPORT.html [SCREENSHOT.png]}
shot=${2:-${html%.html}.png}
expected_peak=${3:-}
[ -f "$html" ] || { echo "html_check: no such file: $html" >&2; exit 2; }

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for b in chromium chromium-browser google-chrome; do
        if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
    done
fi
[ -n "$browser" ] || { echo "html_check: chromium not found (run .ci/install-analysis.sh)" >&2; exit 2; }

abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-dev-shm-usage --no-first-run --user-data-dir="$profile"
       --enable-logging=stderr --v=0 --window-size=1280,2000)

# 1. The DOM after load, with the console log on stderr.
"$browser" "${flags[@]}" --dump-dom "file://$abs" >"$profile/dom.html" 2>"$profile/console.log" || true
# 2. A screenshot.
"$browser" "${flags[@]}" --screenshot="$shot" "file://$abs" >/dev/null 2>>"$profile/console.log" || true

status=0
if grep -E 'CONSOLE|Uncaught|ERR_(FILE|NAME|CONNECTION|INTERNET|BLOCKED)|net::ERR' "$profile/console.log" \
    | grep -v -E 'dbus|Fontconfig|gcm|sandbox' >&2; then
    echo "html_check: console errors or failed requests in $html" >&2
    status=1
fi
grep -q '<svg' "$profile/dom.html" || { echo "html_check: no <svg> in the rendered DOM" >&2; status=1; }
grep -q 'Timeline' "$profile/dom.html" || { echo "html_check: no timeline in the rendered DOM" >&2; status=1; }
grep -q 'id="tl-filter"' "$profile/dom.html" || { echo "html_check: no timeline filter box" >&2; status=1; }
peak=$(grep -o '<svg id="concurrency"[^>]*' "$profile/dom.html" | grep -o 'data-peak="[0-9]*"' | grep -o '[0-9][0-9]*' || true)
[ -n "$peak" ] || { echo "html_check: no concurrency chart with a data-peak" >&2; status=1; }
if [ -n "$expected_peak" ] && [ "$peak" != "$expected_peak" ]; then
    echo "html_check: concurrency peak $peak, expected $expected_peak" >&2; status=1
fi
[ -s "$shot" ] || { echo "html_check: no screenshot written" >&2; status=1; }
[ $status -eq 0 ] && echo "html_check: $html renders cleanly (screenshot $shot, concurrency peak $peak)"
exit $status
