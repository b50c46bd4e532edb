#!/usr/bin/env bash
# Interleaves `lpft bench train` and bench/torch_train.py on the same case, round by round, so
# both see the same machine load; prints each round and the median ratio lpft / PyTorch.
#
#   bench/compare.sh [--rounds N] [--python PATH] [--length L] [--threads T] [--model minilm|tiny]
#
# Needs a release build (swift build -c release) and a Python with torch and transformers.
# Run it as users run lpft: without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (env -u both).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib-interleave.sh
rounds=5 python=python3 length=128 threads=2 model=minilm steps=10
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --length) length=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x .build/release/lpft ] || { echo "compare.sh: build first: swift build -c release" >&2; exit 1; }
args=(--models "$model" --lengths "$length" --threads "$threads" --steps "$steps")
.build/release/lpft bench train "${args[@]}" --steps 1 --warmup 0 | sed -n 1p
"$python" bench/torch_train.py "${args[@]}" --steps 1 --warmup 0 | sed -n 1p
run_a() { .build/release/lpft bench train "${args[@]}"; }
run_b() { "$python" bench/torch_train.py "${args[@]}"; }
rate() { awk '{print $5}'; }   # ex/s, the fifth column of both tables
interleave "$rounds" lpft PyTorch examples/s
