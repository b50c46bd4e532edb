"""Writes Tests/Fixtures/tokenizer-tiny-roberta-adversarial.json: Hugging Face `tokenizers`' ids
for thousands of random and adversarial strings, for ByteLevelBPETokenizer to equal (issue 19).

The tokenizer is the tiny RoBERTa fixture's own `tokenizer.json` (what RobertaTokenizerFast
loads) in three variants, each a block of the output with the added tokens and the
add_prefix_space flag it was run with, so the test can rebuild it:

- `as-is`: the file unchanged (no token strips whitespace);
- `roberta-base`: `<mask>` with lstrip, as roberta-base ships it and as RobertaTokenizerFast
  converts vocab.json + merges.txt;
- `flags`: add_prefix_space, `<mask>` with lstrip and rstrip, and added tokens that exercise
  single_word, rstrip alone, normalized matching and a token that is a prefix of another.

Cases: the text generators of bench/hf_tokenizer_fixture.py (categories, controls, marks, CJK
and emoji, long words, whitespace), special and added tokens written in text, contractions,
and text pairs,
truncated longest-first at 128 and at shorter lengths (`max_length` in the case).
`kinds` holds, for every code point, what the GPT-2 pattern makes of it (letter, number,
whitespace, other), probed from the pre-tokeniser itself, as code point ranges: with it every
code point's part in the pattern is checked once, without a case for each.

    pip install tokenizers
    python bench/hf_bpe_fixture.py Tests/Fixtures/reference/tiny-roberta > Tests/Fixtures/tokenizer-tiny-roberta-adversarial.json

`--tables` instead writes Sources/TextData/ByteLevelCharacterKinds.swift, the same kinds as Swift
ranges. Its regex engine (Oniguruma) carries Unicode tables older than Swift's: some 4,600 code
points assigned since are letters or numbers to Swift but "other" to it, so deriving the kinds
from Swift's Unicode properties cannot match it on every input:

    python bench/hf_bpe_fixture.py --tables > Sources/TextData/ByteLevelCharacterKinds.swift
"""
import copy
import json
import sys
import unicodedata

import tokenizers
from tokenizers import Tokenizer
from tokenizers.pre_tokenizers import ByteLevel

import hf_tokenizer_fixture as base

rng = base.rng
SPECIALS = ["<s>", "</s>", "<pad>", "<unk>", "<mask>"]
WORDS = base.WORDS + ["they're", "we've", "I'll", "she'd", "I'm", "IT'S", "'tis", "rock'n'roll", "movie's", "  ", "1,000", "3.14",
                      "#DeflateGate", "@united", "http://t.co/x1Y", "🍿", "—", "’s"]


def word():
    return rng.choice(WORDS)


def specials(extra):
    tokens = SPECIALS + extra
    near = ["<mask", "mask>", "<<mask>>", "< mask >", "<MASK>", "<s", "</s", "<s>>", "<</s>", "<ma<mask>sk>", "<mask>s", "x<s>y"]
    out = ["<s> </s> <mask> <pad> <unk> literal specials", "a <mask> b", "a<mask>b", "a  <mask>  b", "a\t<mask>\nb", "<mask>", " <mask>",
           "<mask> ", "<mask><mask>", "<mask> <mask>", "\u00a0<mask>\u00a0", "\u3000<mask>", "the <mask>'s", "<s>x</s></s>y</s>"]
    for t in tokens:
        out += [t, f" {t} ", f"a{t}b", f"{t}{t}", f"\t{t}\n", f"{t}.", f"({t})", f"{t}'s", f"  {t}  x", f"é{t}é", f"_{t}_", f"1{t}2"]
    for _ in range(300):
        parts = [rng.choice(tokens + near) if rng.random() < 0.5 else word() for _ in range(rng.randint(1, 8))]
        out.append(rng.choice(["", " ", "  ", "\t", "\n"]).join(parts) if rng.random() < 0.7 else "".join(parts))
    return out


def contractions():
    out = ["'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D", "''s", "a's", " 's", "!'s", "'", "''", "'r", "'l", "'v", "'re'", "'ll'",
           "don't won't can't it's I'm we'll they've she'd", "DON'T", "it’s", "o'clock", "'s'", "x''ll", "  's", "\n's", "1's", "é's"]
    for _ in range(200):
        out.append("".join(rng.choice(["'", "s", "t", "re", "ve", "m", "ll", "d", " ", "a", "1", "!", "\n"]) for _ in range(rng.randint(1, 10))))
    return out


def kinds():
    """For every code point, the kind the GPT-2 pattern gives it, from the pre-tokeniser: a
    letter continues "a", a number continues "1", other continues "!", whitespace none of them."""
    pre = ByteLevel(add_prefix_space=False, use_regex=True)
    by_kind = {"letter": [], "number": [], "whitespace": [], "other": []}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if len(pre.pre_tokenize_str("a" + c)) == 1:
            kind = "letter"
        elif len(pre.pre_tokenize_str("1" + c)) == 1:
            kind = "number"
        elif len(pre.pre_tokenize_str("!" + c)) == 1:
            kind = "other"
        else:
            kind = "whitespace"
        ranges = by_kind[kind]
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return by_kind


def variant(original, name, added_tokens, add_prefix_space):
    spec = copy.deepcopy(original)
    spec["added_tokens"] = added_tokens
    spec["pre_tokenizer"]["add_prefix_space"] = add_prefix_space
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.no_padding()
    return tokenizer


def main(model_dir):
    original = json.load(open(f"{model_dir}/tokenizer.json"))
    plain = original["added_tokens"]
    def edited(**flags):
        return [dict(t, **flags.get(t["content"], {})) for t in plain]
    flag_tokens = edited(**{"<mask>": {"lstrip": True, "rstrip": True}}) + [
        {"id": 2000, "content": "<w>", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
        {"id": 2001, "content": "</w>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True},
        {"id": 2002, "content": "movie", "single_word": True, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
        {"id": 2003, "content": "movies", "single_word": False, "lstrip": True, "rstrip": False, "normalized": True, "special": False},
    ]
    variants = [
        ("as-is", plain, False, []),
        ("roberta-base", edited(**{"<mask>": {"lstrip": True}}), False, []),
        ("flags", flag_tokens, True, ["<w>", "</w>", "movie", "movies", "movie's", "a movie", "moviemovies"]),
    ]
    texts = (base.categories() + base.controls() + base.marks() + base.cjk_and_emoji() + base.long_words() + base.whitespace()
             + contractions())
    snippets = [w for w in base.WORDS] + [" ".join(word() for _ in range(rng.randint(5, 60))) for _ in range(300)]
    out = {"generator": f"bench/hf_bpe_fixture.py, tokenizers {tokenizers.__version__}, unicodedata {unicodedata.unidata_version}",
           "kinds": kinds(), "variants": []}
    for name, added, prefix_space, extra in variants:
        tokenizer = variant(original, name, added, prefix_space)
        singles = specials(extra) + (texts if name == "as-is" else []) + snippets
        pairs = [(rng.choice(snippets), rng.choice(snippets)) for _ in range(300)] + [(rng.choice(singles), rng.choice(singles)) for _ in range(100)]
        pairs += [("", ""), ("<s>", "</s>"), ("a", ""), ("", "b"), ("a " * 200, "b"), ("a", "b " * 200), ("a " * 100, "b " * 100)]
        cases = []
        for max_length in [128, 5, 9, 16, 33]:
            tokenizer.enable_truncation(max_length, strategy="longest_first")
            chosen = singles if max_length == 128 else rng.sample(singles, 200)
            for text in chosen:
                cases.append({"text": text, "max_length": max_length, "ids": tokenizer.encode(text).ids})
            for a, b in (pairs if max_length == 128 else rng.sample(pairs, 150)):
                cases.append({"text": a, "text_pair": b, "max_length": max_length, "ids": tokenizer.encode(a, b).ids})
        out["variants"].append({"name": name, "added_tokens": added, "add_prefix_space": prefix_space, "cases": cases})
    # Foundation's JSON reader drops a raw U+FEFF at the start of a string; escaped, it keeps it.
    sys.stdout.write(json.dumps(out, ensure_ascii=False, separators=(",", ":")).replace("\ufeff", "\\ufeff"))


def tables():
    docs = {"letter": "\\p{L}: continues a run of letters.", "number": "\\p{N}: continues a run of numbers.",
            "whitespace": "\\s: splits words; a run of it leaves its last character to the word after it."}
    print(f"// Generated by bench/hf_bpe_fixture.py --tables from tokenizers {tokenizers.__version__}; do not edit.")
    print("\n/// The non-ASCII character kinds of the GPT-2 pattern in Hugging Face `tokenizers`' ByteLevel")
    print("/// pre-tokeniser, as sorted, disjoint code point ranges; every other code point is \"other\".")
    print("enum ByteLevelCharacterKinds {")
    for name, ranges in kinds().items():
        if name == "other":
            continue
        items = [f"0x{a:X}...0x{b:X}" for a, b in ranges if b >= 0x80]
        items = [i.replace(i.split("...")[0], "0x80") if int(i.split("...")[0], 16) < 0x80 else i for i in items]
        print(f"    /// {docs[name]}")
        print(f"    static let {name}: [ClosedRange<UInt32>] = [")
        for i in range(0, len(items), 6):
            print("        " + ", ".join(items[i:i + 6]) + ",")
        print("    ]")
    print("}")


if __name__ == "__main__":
    if sys.argv[1] == "--tables":
        tables()
    else:
        main(sys.argv[1])
