#!/bin/bash
# Two builds of lpft side by side, interleaved round by round so that the machine's load
# falls on both alike: the training step (MiniLM, 16 × 128, 1 thread) and dispatch; each ends
# with the medians and the ratio NEW / OLD (examples/s, then zero-duration trials/s).
#   bench/compare-builds.sh OLD_LPFT NEW_LPFT [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/lib-interleave.sh"
old=$1 new=$2 rounds=${3:-3}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE   # a user's machine has neither

train() { "$1" bench train --models minilm --lengths 128 --threads 1 --steps 8 --warmup 2; }
run_a() { train "$new"; }
run_b() { train "$old"; }
rate() { awk '{print $5}'; }   # ex/s
echo "== train (new: $new, old: $old)"
interleave "$rounds" new old examples/s

dispatch() { "$1" bench dispatch --workers 8 --quick-trials 2000 --short-trials 100 --metric-rows 50000 --repeats 1 2>&1 | grep "^median:"; }
run_a() { dispatch "$new"; }
run_b() { dispatch "$old"; }
rate() { sed -E 's/.*\(a\) ([0-9.]+) trials\/s.*/\1/'; }
echo "== dispatch"
interleave "$rounds" new old "trials/s (a)"
