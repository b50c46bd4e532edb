"""The peer of `lpft bench tokenize`: Hugging Face `tokenizers` (the Rust library behind
RobertaTokenizerFast and BertTokenizerFast) on the same texts, the first COUNT training texts of a
fetched task (cycled), truncated at 128, timed as lpft times itself: the median of REPEATS passes
with the tokenizer's word cache warm after the first.

Two figures: `encode` called once per text (as lpft encodes, one thread, but each call crossing
from Python into Rust), and `encode_batch` over all texts (no per-call crossing; its threads are
RAYON_NUM_THREADS, 1 for a like-for-like figure).

    pip install tokenizers
    RAYON_NUM_THREADS=1 python bench/hf_tokenize.py MODEL_DIR ~/.cache/lpft/data/rt-polarity/train.jsonl [COUNT] [REPEATS]
"""
import json
import statistics
import sys
import time

from tokenizers import Tokenizer


def main(model_dir, data, count=10_000, repeats=5):
    rows = [json.loads(line)["text"] for line in open(data)]
    texts = [rows[i % len(rows)] for i in range(count)]
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(128, strategy="longest_first")

    def timed(run):
        seconds, tokens = [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            tokens = run()
            seconds.append(time.perf_counter() - start)
        return tokens, statistics.median(seconds)

    for name, run in [("encode", lambda: sum(len(tokenizer.encode(t).ids) for t in texts)),
                      ("encode_batch", lambda: sum(len(e.ids) for e in tokenizer.encode_batch(texts)))]:
        tokens, median = timed(run)
        print(f"tokenizers {name}: {count} texts ({tokens} tokens) in {median:.3f} s median of {repeats}: {count / median:.0f} texts/s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
