#!/usr/bin/env bash
# Interleaves `lpft bench finetune` and bench/torch_finetune.py on the same batches, round by
# round, so both see the same machine load; prints each round and the median ratio.
#
#   bench/compare-finetune.sh [--rounds N] [--python PATH] [--examples N] [--threads T]
#
# Needs a release build, `lpft model fetch`, `lpft data fetch` and a Python with torch and
# transformers. Run it as users run lpft: without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib-interleave.sh
rounds=3 python=python3 examples=1000 threads=2
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --examples) examples=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) echo "compare-finetune.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x .build/release/lpft ] || { echo "compare-finetune.sh: build first: swift build -c release" >&2; exit 1; }
batches=$(mktemp --suffix .json)
trap 'rm -f "$batches"' EXIT
model=${LPFT_HOME:-$HOME/.cache/lpft}/models/all-MiniLM-L6-v2
run_a() { .build/release/lpft bench finetune --examples "$examples" --threads "$threads" --export "$batches"; }
# Round by round: PyTorch reads the batches lpft has just written.
run_b() { "$python" bench/torch_finetune.py --batches "$batches" --model "$model" --threads "$threads"; }
rate() { sed -E 's/.* ([0-9.]+) examples\/s.*/\1/'; }
interleave --header "$rounds" lpft PyTorch examples/s
