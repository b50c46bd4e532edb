#!/usr/bin/env bash
# Response times of `lpft sweep serve` on a sweep directory: the overview, the trials table
# (first 500 rows, default sort and sorted by a metric), one trial's page, /api/trials and
# /metrics, one request at a time with curl: the first of each path after the journal changed
# (what a running sweep gives every request; `touch` makes it look changed, its bytes stay)
# and the median of the next ROUNDS, which the dashboard answers from its cached results.
# Usage: bench/dashboard.sh SWEEP_DIR [ROUNDS]   (LPFT_DASHBOARD=.build/release/lpft-dashboard)
set -euo pipefail
dir=${1:?usage: bench/dashboard.sh SWEEP_DIR [ROUNDS]}
rounds=${2:-7}
server=${LPFT_DASHBOARD:-.build/release/lpft-dashboard}
log=$(mktemp)
"$server" "$dir" --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
url=""
for _ in $(seq 100); do url=$(grep -o 'http://[^ ]*' "$log" || true); [ -n "$url" ] && break; sleep 0.1; done
[ -n "$url" ] || { cat "$log" >&2; exit 1; }
trial=$(curl -s "${url}api/trials" | python3 -c 'import json, sys; t = json.load(sys.stdin); print(t[len(t) // 2]["id"])')
for path in "" "trials" "trials?sort=test%2Faccuracy&desc=1" "trials/$trial" "api/trials" "metrics"; do
    touch "$dir/journal.sqlite"
    for _ in $(seq $((rounds + 1))); do curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$url$path"; done |
        python3 -c 'import statistics, sys; rows = [l.split() for l in sys.stdin]; print("%-40s first %6.0f ms, then median %6.0f ms  (%s bytes)" % (sys.argv[1], 1000 * float(rows[0][0]), 1000 * statistics.median(float(r[0]) for r in rows[1:]), rows[0][1]))' "/$path"
done
