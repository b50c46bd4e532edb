"""Writes train/validation/test .jsonl files of a synthetic task tiny-bert can learn: texts of
8 tokens from two groups of its vocabulary, the label the majority group (as the Swift tests'
tinySpec writes them). Used by scripts/check-slurm.sh and bench/preemption.sh.

    python3 scripts/tiny-groups-data.py DIR TRAIN VALIDATION TEST
"""
import json
import sys

directory, counts = sys.argv[1], [int(n) for n in sys.argv[2:5]]
for name, count in zip(("train", "validation", "test"), counts):
    with open(f"{directory}/{name}.jsonl", "w") as f:
        for i in range(count):
            words = [f"tok{(10 if (i * 7 + j * 3) % 5 < 3 + i % 2 else 60) + (i + j) % 20}" for j in range(8)]
            low = sum(int(w[3:]) < 60 for w in words) * 2 > len(words)
            f.write(json.dumps({"text": " ".join(words), "label": "low" if low else "high"}) + "\n")
