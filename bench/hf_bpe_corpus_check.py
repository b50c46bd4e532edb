"""Checks `lpft tokenize` against Hugging Face `tokenizers` on every text of fetched tasks: the
ids of each must be equal. Run after `lpft data fetch`, with a built lpft:

    pip install tokenizers
    python bench/hf_bpe_corpus_check.py .build/release/lpft MODEL_DIR rt-polarity tweets-sentiment-3
"""
import json
import os
import subprocess
import sys

from tokenizers import Tokenizer


def main(lpft, model_dir, *tasks):
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(128, strategy="longest_first")
    home = os.environ.get("LPFT_HOME", os.path.expanduser("~/.cache/lpft"))
    texts = [json.loads(line)["text"] for task in tasks for split in ["train", "validation", "test"]
             for line in open(f"{home}/data/{task}/{split}.jsonl")]
    differ = 0
    for start in range(0, len(texts), 400):
        chunk = texts[start:start + 400]
        # One JSON object a line; JSON may hold U+2028 raw, so split on "\n" only.
        lines = subprocess.run([lpft, "tokenize", "--model", model_dir, "--"] + chunk, capture_output=True, text=True, check=True).stdout
        for text, line in zip(chunk, lines.rstrip("\n").split("\n"), strict=True):
            differ += json.loads(line)["ids"] != tokenizer.encode(text).ids
    print(f"{len(texts)} texts of {', '.join(tasks)}: {differ} differ")


if __name__ == "__main__":
    main(*sys.argv[1:])
