#!/usr/bin/env python3
"""PyTorch peer of `lpft bench train`: the same model, batch and training step, on the CPU.

Run by hand, never by CI (torch is a multi-gigabyte install):

    python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch transformers
    ~/torchenv/bin/python bench/torch_train.py --models minilm --lengths 128 --threads 2

The step is what `lpft bench train` times: BertForSequenceClassification-equivalent forward
with dropout (train mode), mean cross-entropy, backward, gradient clipping at 1.0 and an
AdamW update. The head reads the [CLS] hidden state directly (no pooler), as lpft's does.
Random weights (the initialisation does not change the cost).
"""
import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertModel

SHAPES = {
    "minilm": dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "tiny": dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=128),
}


class Classifier(torch.nn.Module):
    def __init__(self, config, classes):
        super().__init__()
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(config.hidden_size, classes)

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.classifier(self.dropout(hidden[:, 0]))


def bench(shape, length, threads, batch, steps, warmup, attn):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = BertConfig(hidden_act="gelu", attn_implementation=attn, **SHAPES[shape])
    model = Classifier(config, classes=2).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    ids = torch.randint(0, config.vocab_size, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    labels = torch.arange(batch) % 2

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(ids, mask), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    return batch / median, median


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="minilm,tiny")
    p.add_argument("--lengths", default="128,64")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"],
                   help="Hugging Face attention implementation (sdpa is the default in transformers)")
    a = p.parse_args()
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, attention={a.attention}")
    print("model    batch  len  threads  ex/s     step_ms")
    for shape in a.models.split(","):
        for length in map(int, a.lengths.split(",")):
            for threads in map(int, a.threads.split(",")):
                eps, median = bench(shape, length, threads, a.batch_size, a.steps, a.warmup, a.attention)
                print(f"{shape:<8} {a.batch_size:5d} {length:4d} {threads:8d}  {eps:7.1f} {median * 1000:8.1f}")


if __name__ == "__main__":
    main()
