#!/usr/bin/env python3
"""PyTorch peer of `lpft bench finetune`: the same fine-tuning pass over the same batches.

Run by hand, never by CI (torch is a multi-gigabyte install):

    python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch transformers
    .build/release/lpft bench finetune --examples 1000 --export /tmp/batches.json
    ~/torchenv/bin/python bench/torch_finetune.py --batches /tmp/batches.json --model ~/.cache/lpft/models/all-MiniLM-L6-v2

What a new user would write with Hugging Face: each batch padded to its longest member with
an attention mask (DataCollatorWithPadding semantics), BertModel with SDPA attention in train
mode (dropout), a linear head on the [CLS] state (no pooler, as lpft's), mean cross-entropy,
backward, clipping at 1.0, AdamW at 1e-5. The whole pass is timed, as lpft times it.
"""
import argparse
import json
import time

import torch
from transformers import BertModel


class Classifier(torch.nn.Module):
    def __init__(self, directory, classes, attention):
        super().__init__()
        self.bert = BertModel.from_pretrained(directory, add_pooling_layer=False, attn_implementation=attention)
        self.dropout = torch.nn.Dropout(self.bert.config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(self.bert.config.hidden_size, classes)

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.classifier(self.dropout(hidden[:, 0]))


def padded(batch, pad_id):
    longest = max(len(e["input_ids"]) for e in batch)
    ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[row, : len(e["input_ids"])] = 1
    return ids, mask, torch.tensor([e["label"] for e in batch])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", required=True, help="JSON written by `lpft bench finetune --export`")
    p.add_argument("--model", required=True, help="the Hugging Face model directory lpft used")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    batches = json.load(open(a.batches))["batches"]
    classes = 1 + max(e["label"] for b in batches for e in b)
    model = Classifier(a.model, classes, a.attention).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    pad_id = model.bert.config.pad_token_id or 0
    tensors = [padded(b, pad_id) for b in batches]
    examples = sum(len(b) for b in batches)
    tokens = sum(len(e["input_ids"]) for b in batches for e in b)
    start = time.perf_counter()
    for ids, mask, labels in tensors:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(ids, mask), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    seconds = time.perf_counter() - start
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, attention={a.attention}")
    print(f"{examples} examples ({tokens} real tokens) in {seconds:.1f} s: {examples / seconds:.1f} examples/s, {tokens / seconds:.0f} tokens/s")


if __name__ == "__main__":
    main()
