#!/usr/bin/env bash
# The main job, from a fresh Debian/Ubuntu machine: install system packages, build, run.
# For now it trains a small BERT classifier end to end on the built-in synthetic task
# (no downloads) and prints its metrics; later it runs the demo sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cluster/install-deps.sh
swift build -c release --product lpft 2>&1 | tail -n 1
.build/release/lpft demo "$@"
