#!/usr/bin/env bash
# Renders a sweep's report.html in headless Chromium (Debian's `chromium`), saves a
# screenshot, and fails if the page logged anything to its console.
# Usage: scripts/check-report.sh SWEEP_DIR [SCREENSHOT.png]
set -euo pipefail
dir=${1:?usage: scripts/check-report.sh SWEEP_DIR [SCREENSHOT.png]}
shot=${2:-$dir/report.png}
command -v chromium >/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
page=$(realpath "$dir/report.html")
log=$(mktemp)
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,2600 \
    --enable-logging=stderr --v=0 --screenshot="$shot" "file://$page" 2>"$log" >/dev/null
# Page console messages are logged as CONSOLE(line); Chromium's own dbus noise is not.
if grep -E 'CONSOLE|Uncaught' "$log"; then
    echo "check-report: $page logged console messages (above)" >&2
    exit 1
fi
echo "check-report: $page rendered with no console messages; screenshot $shot"
