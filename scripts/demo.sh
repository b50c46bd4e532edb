#!/usr/bin/env bash
# The main job, from a fresh Debian/Ubuntu machine: install system packages, build, fetch the
# model and data, run the demo sweep (sweeps/demo.yaml: 14 real trials, about five minutes on
# 2 cores) and write its report. Run it again to resume or, once finished, to just re-report.
# Extra arguments go to `lpft sweep run` (e.g. --local-workers 4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/install-deps.sh
swift build -c release --product lpft 2>&1 | tail -n 1
lpft=.build/release/lpft
$lpft model fetch
$lpft data fetch
$lpft sweep run sweeps/demo.yaml --dir runs/demo --local-workers 2 "$@"
$lpft sweep report runs/demo > runs/demo/report.md
$lpft sweep report runs/demo --format csv --out runs/demo/trials.csv >/dev/null
$lpft sweep report runs/demo --format html --out runs/demo/report.html >/dev/null
echo
cat runs/demo/report.md
echo
echo "report: $(pwd)/runs/demo/report.html (tables: runs/demo/report.md, one row per trial: runs/demo/trials.csv)"
