#!/usr/bin/env bash
# Renders the live dashboard of a running noop sweep in headless Chromium (Debian's
# `chromium`): the overview's completed count must change without a reload, no page may log
# an error, and the overview, trials table and one trial's page are saved as screenshots.
# Usage: scripts/check-dashboard.sh [SCREENSHOT_DIR]   (default: a temporary directory)
# LPFT=path/to/lpft picks the binary (default: .build/debug/lpft, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
lpft=${LPFT:-.build/debug/lpft}
[ -x "$lpft" ] || swift build --product lpft 2>&1 | tail -n 1
work=$(mktemp -d)
shots=${1:-$work}
mkdir -p "$shots"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
printf 'base: {method: noop}\ngrid:\n  duration_ms: [100, 200]\n  seed: [%s]\n' "$(seq -s, 1 200)" > "$work/noop.yaml"
"$lpft" sweep run "$work/noop.yaml" --dir "$work/sweep" --local-workers 2 >"$work/run.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -f "$work/sweep/journal.sqlite" ] && break; sleep 0.1; done
"$lpft" sweep serve "$work/sweep" --port 0 >"$work/serve.log" 2>&1 & pids+=($!)
url=""
for _ in $(seq 100); do url=$(grep -o 'http://[^ ]*' "$work/serve.log" || true); [ -n "$url" ] && break; sleep 0.1; done
[ -n "$url" ] || { cat "$work/serve.log" >&2; echo "check-dashboard: lpft sweep serve did not start" >&2; exit 1; }
python3 scripts/check_dashboard.py "$url" "$shots"
