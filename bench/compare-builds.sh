#!/bin/bash
# Two builds of lpft side by side, interleaved round by round so that the machine's load
# falls on both alike: the training step (MiniLM, 16 × 128, 1 thread) and dispatch.
#   bench/compare-builds.sh OLD_LPFT NEW_LPFT [ROUNDS]
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE   # a user's machine has neither
for r in $(seq "$rounds"); do
  for b in "$old" "$new"; do
    echo "== train $b round $r"
    "$b" bench train --models minilm --lengths 128 --threads 1 --steps 8 --warmup 2 | tail -1
  done
done
for r in $(seq "$rounds"); do
  for b in "$old" "$new"; do
    echo "== dispatch $b round $r"
    "$b" bench dispatch --workers 8 --quick-trials 2000 --short-trials 100 --metric-rows 50000 --repeats 1 2>&1 | grep "^median:"
  done
done
