"""Writes Tests/Fixtures/tokenizer-minilm-adversarial.json: Hugging Face `tokenizers`' ids for
thousands of random and adversarial strings, for WordPieceTokenizer to equal (issue 15).

The tokenizer is all-MiniLM-L6-v2's own `tokenizer.json` (what BertTokenizerFast loads), padding
off, truncation longest-first at 128. Cases: special tokens written in the text (with and
without spaces, inside words, case variants, near misses), control and format characters,
characters of every Unicode general category, combining marks, CJK, emoji, words around the
100-character [UNK] limit, whitespace variants, real rt-polarity snippets with noise, and text
pairs long enough to truncate, and every code point of planes 0 and 1 (outside CJK ideographs
and private use) once. Each row: {"text", "text_pair"?, "ids", "token_type_ids"}.

    pip install tokenizers
    python bench/hf_tokenizer_fixture.py ~/.cache/lpft/models/all-MiniLM-L6-v2 ~/.cache/lpft/data/rt-polarity/train.jsonl \
        > Tests/Fixtures/tokenizer-minilm-adversarial.json

`--tables` instead writes Sources/TextData/BertCharacterClasses.swift: the character classes
`tokenizers` uses, probed code point by code point from its own BertNormalizer and
BertPreTokenizer. Its Rust crates carry Unicode tables older than Swift's (unassigned code points
are kept, not dropped as "other"; newer marks and punctuation are not special), so deriving the
classes from Swift's Unicode properties cannot match it on every input:

    python bench/hf_tokenizer_fixture.py --tables > Sources/TextData/BertCharacterClasses.swift
"""
import json
import random
import sys
import unicodedata

import tokenizers
from tokenizers import Tokenizer

rng = random.Random(15)
SPECIALS = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"]
WORDS = ["the", "movie", "is", "un", "##able", "café", "naïve", "résumé", "don't", "it's", "self-driving", "a", "I",
         "hello", "world", "tokenizer", "BERT", "Straße", "İstanbul", "ǅemal", "ﬁne", "Ⅻ", "²", "½", "x", "lol"]

# Every code point Python's unicodedata knows, by general category (surrogates cannot be UTF-8).
BY_CATEGORY = {}
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    BY_CATEGORY.setdefault(unicodedata.category(chr(cp)), []).append(chr(cp))


def pick(category, k):
    return "".join(rng.choice(BY_CATEGORY[category]) for _ in range(k))


def word():
    return rng.choice(WORDS)


def specials():
    out = []
    variants = SPECIALS + [s.lower() for s in SPECIALS] + [s.title() for s in SPECIALS] + \
        ["[CLS", "CLS]", "[[CLS]]", "[ CLS ]", "[CLS]]", "[[SEP]", "[MASK]]", "［CLS］", "[ＣＬＳ]", "[UNK]s", "[PAD]ding",
         "x[SEP]y", "[CLS][SEP]", "[CLS][CLS]", "##[SEP]", "[MASK]ed", "é[UNK]é", "[CLS]\u0301", "\u00a0[SEP]\u00a0"]
    out.append("[CLS] [SEP] [MASK] [PAD] [UNK] literal specials")
    for s in SPECIALS:
        out += [s, f" {s} ", f"a{s}b", f"{s}{s}", f"{s.lower()} {s}", f"\t{s}\n", f"{s}.", f"({s})", f"{s}'s"]
    for _ in range(300):
        parts = [rng.choice(variants) if rng.random() < 0.5 else word() for _ in range(rng.randint(1, 8))]
        out.append(rng.choice(["", " ", "  ", "\t"]).join(parts) if rng.random() < 0.7 else "".join(parts))
    return out


def categories():
    out = []
    for cat in sorted(BY_CATEGORY):
        for _ in range(40):
            k = rng.randint(1, 6)
            out.append(rng.choice([pick(cat, k), f"{word()} {pick(cat, k)} {word()}", f"{word()}{pick(cat, k)}{word()}",
                                   pick(cat, k) + pick(rng.choice(["Ll", "Lu", "Nd", "Po", "Mn", "Zs"]), k)]))
    for _ in range(300):  # mixtures across categories
        out.append("".join(pick(rng.choice(list(BY_CATEGORY)), rng.randint(1, 3)) for _ in range(rng.randint(1, 12))))
    return out


def controls():
    cc = [chr(c) for c in list(range(0, 32)) + list(range(127, 160))]
    cf = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064",
          "\ufeff", "\ufff9", "\ufffa", "\ufffb", "\U000e0001", "\U000e0041", "\u061c", "\u180e", "\u202a", "\u202e", "\u0600"]
    other = ["\ufffd", "\ue000", "\U000f0000", "\U0010fffd", "\ufffe", "\uffff", "\U0001fffe", "\u0378"]
    out = []
    for c in cc + cf + other:
        out += [c, f"a{c}b", f"{word()} {c} {word()}", f"{c}[CLS]{c}", f"caf{c}é"]
    for _ in range(200):
        out.append("".join(rng.choice(cc + cf + other) if rng.random() < 0.4 else word() for _ in range(rng.randint(1, 10))))
    return out


def marks():
    combining = [chr(c) for c in range(0x300, 0x370)] + ["\u0483", "\u05b0", "\u0610", "\u093c", "\u0e31", "\u20d0", "\ufe0f", "\ufe20", "\U0001d167"]
    base = ["e", "a", "o", "n", "I", "i", "ß", "Å", "ǅ", "ﬃ", "가", "힣", "ᄀ", "Ω", "ϓ", "ḯ", "ǖ", "Ǆ", "ĳ", "ŉ", "ΐ"]
    out = ["Café CAFÉ café cafe\u0301", "naïve NAÏVE", "Ångström", "Ελληνικά ΆΈΉ", "Tiếng Việt Nam", "한국어 텍스트",
           "İIıi ǅǆǄ", "ﬁﬂﬃ", "ＡＢＣ１２３", "Ⅻ ⅻ ① ⑴ ⒜", "x\u0301\u0302\u0303\u0304", "\u0301\u0301 alone", "a\u0338"]
    for _ in range(400):
        w = "".join(rng.choice(base) + "".join(rng.choice(combining) for _ in range(rng.randint(0, 3))) for _ in range(rng.randint(1, 6)))
        out.append(rng.choice([w, f"{word()} {w}", f"{w}{word()}", w.upper(), unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), w)]))
    return out


def cjk_and_emoji():
    ranges = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x3000, 0x303F),
              (0x2E80, 0x2FDF), (0x31C0, 0x31EF), (0x30000, 0x3134F), (0x2CEB0, 0x2EBEF)]
    emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "❤️", "☺", "✌🏿", "🤷‍♀️", "🧑🏻‍💻", "1️⃣", "©️", "🀄", "🂡", "🫠", "🪿"]
    out = ["日本語のテキスト", "中文字符测试", "漢字かな交じり文", "ｶﾀｶﾅ", "我爱NLP和BERT", "😀😀😀", "emoji👍in👍words"]
    for _ in range(400):
        lo, hi = rng.choice(ranges)
        s = "".join(chr(rng.randint(lo, hi)) if rng.random() < 0.6 else rng.choice(emoji + WORDS + [" "]) for _ in range(rng.randint(1, 12)))
        out.append(s)
    return out


def long_words():
    out = []
    for n in [99, 100, 101, 102, 150, 300]:
        for unit in ["a", "ab", "é", "e\u0301", "日", "😀", "x.", "-", "Ab1", "\u200b", "ß", "İ"]:
            w = (unit * n)[: n * len(unit)]
            out += [w[:n] if len(unit) == 1 else w, f"{word()} {w} {word()}"]
    for _ in range(100):
        n = rng.randint(90, 130)
        out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyzé\u0301\u00ad") for _ in range(n)))
    return out


def whitespace():
    spaces = ["\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\u0085", "\u00a0", "\u1680", "\u2000", "\u2005", "\u200a", "\u2028",
              "\u2029", "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\x1c", "\x1d", "\x1e", "\x1f", "  "]
    out = ["", " ", "   ", "\n\n", "\t \r\n", "\u3000"]
    for s in spaces:
        out += [f"a{s}b", f"{s}{word()}{s}", f"[CLS]{s}[SEP]"]
    for _ in range(200):
        out.append("".join(rng.choice(spaces) if rng.random() < 0.4 else word() for _ in range(rng.randint(1, 10))))
    return out


def every_code_point():
    """Every code point of planes 0 and 1 outside CJK ideographs and private use, 50 to a case,
    space-separated: each one's normalisation (NFD, lowercase, classes) is checked once."""
    cps = [cp for cp in range(0x20000) if not 0xD800 <= cp <= 0xDFFF and not 0x4E00 <= cp <= 0x9FFF
           and not 0x3400 <= cp <= 0x4DBF and unicodedata.category(chr(cp)) != "Co"]
    return [" ".join(chr(cp) for cp in cps[i:i + 50]) for i in range(0, len(cps), 50)]


def real(path):
    rows = [json.loads(line)["text"] for line in open(path)]
    rng.shuffle(rows)
    noisy = []
    for t in rows[:300]:
        chars = list(t)
        for _ in range(rng.randint(0, 4)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(SPECIALS + ["\u00a0", "\u200b", "é", "日", "😀", "\u0301", "\t"]))
        noisy.append("".join(chars))
    return rows[300:600] + noisy, rows[600:1000]


def main(model_dir, data_path):
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(128, strategy="longest_first")
    singles = specials() + categories() + controls() + marks() + cjk_and_emoji() + long_words() + whitespace() + every_code_point()
    snippets, pair_pool = real(data_path)
    singles += snippets
    singles += [" ".join(rng.choice(pair_pool) for _ in range(rng.randint(6, 12))) for _ in range(60)]  # > 128 tokens
    pairs = []
    for _ in range(400):
        a = " ".join(rng.choice(pair_pool) for _ in range(rng.choice([1, 1, 2, 5, 10])))
        b = " ".join(rng.choice(pair_pool) for _ in range(rng.choice([1, 1, 2, 5, 10])))
        pairs.append((a, b) if rng.random() < 0.8 else (rng.choice(singles), rng.choice(singles)))
    pairs += [("", ""), ("[CLS]", "[SEP]"), ("a", ""), ("", "b"), ("a " * 200, "b"), ("a", "b " * 200), ("a " * 100, "b " * 100)]
    rows = []
    for text in singles:
        e = tokenizer.encode(text)
        rows.append({"text": text, "ids": e.ids, "token_type_ids": e.type_ids})
    for a, b in pairs:
        e = tokenizer.encode(a, b)
        rows.append({"text": a, "text_pair": b, "ids": e.ids, "token_type_ids": e.type_ids})
    json.dump({"generator": f"bench/hf_tokenizer_fixture.py, tokenizers {tokenizers.__version__}, unicodedata {unicodedata.unidata_version}",
               "cases": rows}, sys.stdout, ensure_ascii=False, separators=(",", ":"))


def tables():
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    chinese = BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    pre = BertPreTokenizer()
    classes = {"dropped": [], "whitespace": [], "strippedMarks": [], "punctuation": [], "chinese": []}
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        cleaned = clean.normalize_str(c)
        if cleaned == "":
            classes["dropped"].append(cp)
            continue
        if cleaned == " ":
            classes["whitespace"].append(cp)
        if strip.normalize_str(c) == "":
            classes["strippedMarks"].append(cp)
        if len(pre.pre_tokenize_str("a" + c + "a")) == 3:
            classes["punctuation"].append(cp)
        if chinese.normalize_str(c) == f" {c} ":
            classes["chinese"].append(cp)
    docs = {
        "dropped": "Removed by clean_text: `char::is_other` of its crate (Cc, Cf, Co at its Unicode version; not Cn).",
        "whitespace": "Mapped to a space by clean_text (and so split on).",
        "strippedMarks": "Removed after NFD when stripping accents: the marks its crate calls nonspacing.",
        "punctuation": "Split off as single-character words by BertPreTokenizer.",
        "chinese": "CJK ideographs, spaced out by handle_chinese_chars (its ranges, e.g. from U+2B920, not BERT's U+2B820).",
    }
    print(f"// Generated by bench/hf_tokenizer_fixture.py --tables from tokenizers {tokenizers.__version__}; do not edit.")
    print("\n/// The non-ASCII character classes of Hugging Face `tokenizers`' BERT normaliser and")
    print("/// pre-tokeniser, as sorted, disjoint code point ranges (ASCII is handled inline).")
    print("enum BertCharacterClasses {")
    for name, cps in classes.items():
        ranges = []
        for cp in cps:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
        print(f"    /// {docs[name]}")
        print(f"    static let {name}: [ClosedRange<UInt32>] = [")
        items = [f"0x{a:X}...0x{b:X}" for a, b in ranges]
        for i in range(0, len(items), 6):
            print("        " + ", ".join(items[i:i + 6]) + ",")
        print("    ]")
    print("}")


if __name__ == "__main__":
    if sys.argv[1] == "--tables":
        tables()
    else:
        main(sys.argv[1], sys.argv[2])
