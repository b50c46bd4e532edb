#!/usr/bin/env python3
"""PyTorch peer of `lpft bench ntk`: the exact FT-effective kernel F with torch.func.

Run by hand, never by CI (torch is a multi-gigabyte install):

    lpft bench ntk --examples 250 --length 64 --export /tmp/ntk-inputs.json
    ~/torchenv/bin/python bench/torch_ntk.py --model ~/.cache/lpft/models/all-MiniLM-L6-v2 \\
        --inputs /tmp/ntk-inputs.json --threads 2

F(x, x') = V J(x) J(x')^T V^T over every backbone parameter, as lpft computes it: for each
parameter group (other embeddings, each layer's attention and feed-forward) the rows
V[c]·dphi(x)/dtheta_g are built with vmap over vjp (one vjp per example, vmapped over the C head
rows) and F += J_g J_g^T; the word-embedding block is exact and sparse, from gradients with
respect to each token's embedding row, summed per token id. Prints the time, peak memory and
the Frobenius norms to compare with lpft's.
"""
import argparse
import json
import resource
import time

import torch
from torch.func import functional_call, vjp, vmap
from transformers import BertModel


def groups_of(model):
    """Parameter names per group, matching lpft's NTK groups."""
    groups = {"embeddings.other": []}
    for name, _ in model.named_parameters():
        if name.startswith("pooler."):
            continue
        if name == "embeddings.word_embeddings.weight":
            continue
        if name.startswith("embeddings."):
            groups["embeddings.other"].append(name)
            continue
        layer = name.split(".")[2]
        part = "attention" if ".attention." in name else "ffn"
        groups.setdefault(f"layer.{layer}.{part}", []).append(name)
    return groups


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory (config.json, model.safetensors)")
    p.add_argument("--inputs", required=True, help="JSON written by `lpft bench ntk --export`")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    model = BertModel.from_pretrained(a.model, add_pooling_layer=False, attn_implementation="eager").eval()
    spec = json.load(open(a.inputs))
    classes = len(spec["head_bias"])
    head = torch.tensor(spec["head_weight"], dtype=torch.float32).reshape(classes, -1)
    examples = [torch.tensor([ids]) for ids in spec["input_ids"]]
    params = {k: v.detach() for k, v in model.named_parameters()}
    rows = len(examples) * classes
    eye = torch.eye(classes)

    start = time.perf_counter()
    kernels = {}
    with torch.no_grad():
        for group, names in groups_of(model).items():
            fixed = {k: v for k, v in params.items() if k not in names}
            trained = {k: params[k] for k in names}

            def f(p, ids):
                out = functional_call(model, {**fixed, **p}, (ids,)).last_hidden_state[0, 0]
                return head @ out

            blocks = []
            for ids in examples:
                _, pullback = vjp(lambda p: f(p, ids), trained)
                (grads,) = vmap(pullback)(eye)
                blocks.append(torch.cat([g.reshape(classes, -1) for g in grads.values()], dim=1))
            j = torch.cat(blocks)
            kernels[group] = j @ j.T
            del j, blocks

        # Word embeddings: d/d(row of the embedding table) is the sum of d/d(input embedding)
        # over the positions holding that token id.
        word = params["embeddings.word_embeddings.weight"]
        fixed = {k: v for k, v in params.items()}
        by_token = {}
        for n, ids in enumerate(examples):
            embeds = word[ids[0]].unsqueeze(0)

            def g(e):
                out = functional_call(model, fixed, (), {"inputs_embeds": e}).last_hidden_state[0, 0]
                return head @ out

            _, pullback = vjp(g, embeds)
            (grad,) = vmap(pullback)(eye)  # [C, 1, T, h]
            for token in set(ids[0].tolist()):
                positions = (ids[0] == token).nonzero().flatten()
                rows_for_token = grad[:, 0, positions, :].sum(dim=1)  # [C, h]
                by_token.setdefault(token, []).append((n, rows_for_token))
        f_word = torch.zeros(rows, rows)
        for entries in by_token.values():
            index = torch.tensor([n * classes + c for n, _ in entries for c in range(classes)])
            block = torch.cat([r for _, r in entries])
            f_word[index.unsqueeze(1), index.unsqueeze(0)] += block @ block.T
        kernels["embeddings.word"] = f_word
    seconds = time.perf_counter() - start
    total = sum(kernels.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)
    print(f"torch {torch.__version__}: F for {len(examples)} examples x {classes} classes: {seconds:.1f} s, "
          f"peak RSS {peak:.2f} GiB, ||F||_F = {total.norm().item():.6g}")
    for name, k in kernels.items():
        print(f"  {name:<20} ||F_g||_F = {k.norm().item():.6g}")


if __name__ == "__main__":
    main()
