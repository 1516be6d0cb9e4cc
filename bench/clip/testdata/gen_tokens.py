#!/usr/bin/python3
"""Reference token ids for the Go CLIP tokenizer, from an independent Python implementation of
OpenAI CLIP's simple_tokenizer.py + clip.tokenize(truncate=True), written for this repository.

Run from the repository root (needs Debian's python3-regex for \\p{L}, and openpyxl):

    /usr/bin/python3 bench/clip/testdata/gen_tokens.py

It reads the vocabulary and the dataset prompts from ../shared/data and writes tokens.json: a list
of {"group", "text", "ids"} where ids run from the start token to the end token inclusive (the Go
test pads them with zeros to 77).

ftfy is not installed here, so fix_text is replaced by the same deterministic subset the Go package
applies (see bench/clip's package comment): this checks the Go port of those rules against Python's
own html, unicodedata, str.lower and regex.
"""
import csv
import gzip
import html
import json
import os
import unicodedata

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "..", "shared", "data")
CONTEXT = 77


def byte_map():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    order, chars = keep[:], keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            order.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(order, map(chr, chars))), [chr(c) for c in chars]


class Reference:
    def __init__(self, path):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [tuple(l.split()) for l in lines[1:49152 - 256 - 2 + 1]]
        self.byte_enc, symbols = byte_map()
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.ids = {s: i for i, s in enumerate(vocab)}
        self.rank = {m: i for i, m in enumerate(merges)}
        self.memo = {}
        self.split = regex.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE)

    def merge_word(self, word):
        if word in ("<|startoftext|>", "<|endoftext|>"):
            return [word]
        if word in self.memo:
            return self.memo[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            cands = [(self.rank[p], p) for p in zip(parts, parts[1:]) if p in self.rank]
            if not cands:
                break
            _, (a, b) = min(cands)
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.memo[word] = parts
        return parts

    def encode(self, text):
        text = clean(text)
        out = []
        for piece in self.split.findall(text):
            mapped = "".join(self.byte_enc[b] for b in piece.encode("utf-8"))
            out.extend(self.ids[s] for s in self.merge_word(mapped))
        return out

    def tokenize(self, text):
        toks = [self.ids["<|startoftext|>"]] + self.encode(text) + [self.ids["<|endoftext|>"]]
        if len(toks) > CONTEXT:
            toks = toks[:CONTEXT]
            toks[-1] = self.ids["<|endoftext|>"]
        return toks


LIGATURES = {
    "\u0132": "IJ", "\u0133": "ij", "\u0149": "\u02bcn", "\u01c4": "D\u017d", "\u01c5": "D\u017e",
    "\u01c6": "d\u017e", "\u01c7": "LJ", "\u01c8": "Lj", "\u01c9": "lj", "\u01ca": "NJ", "\u01cb": "Nj",
    "\u01cc": "nj", "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
    "\ufb05": "\u017ft", "\ufb06": "st",
}
CONTROL = set(range(0, 9)) | {0x0B} | set(range(0x0E, 0x20)) | {0x7F} | set(range(0x206A, 0x2070)) | \
    {0xFEFF} | set(range(0xFFF9, 0xFFFD)) | set(range(0x1D173, 0x1D17B)) | set(range(0xE0000, 0xE0080))


C1 = regex.compile("[\x80-\x9f]")


def fix_c1(match):
    # ftfy's fix_c1_controls: C1 controls read as the Windows-1252 bytes they usually were; the five
    # bytes cp1252 leaves undefined stay as they are ("sloppy-windows-1252").
    try:
        return match.group(0).encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:
        return match.group(0)


def fix_segment(text, unescape):
    """One segment (line) through the deterministic part of ftfy's fixers, in fix_and_explain's order,
    repeated until nothing changes as ftfy does."""
    while True:
        orig = text
        if unescape:
            text = html.unescape(text)
        text = C1.sub(fix_c1, text)
        text = "".join(LIGATURES.get(c, c) for c in text)
        out = []
        for c in text:
            o = ord(c)
            if o == 0x3000:
                out.append(" ")
            elif 0xFF01 <= o < 0xFFF0:
                out.append(unicodedata.normalize("NFKC", c))
            else:
                out.append(c)
        text = "".join(out)
        text = regex.sub("[\u02bc\u2018-\u201b]", "'", text)
        text = regex.sub("[\u201c-\u201f]", '"', text)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = regex.sub("[\u2028\u2029\u0085]", "\n", text)
        text = regex.sub("\x1b\\[((?:\\d|;)*)([a-zA-Z])", "", text)
        text = "".join(c for c in text if ord(c) not in CONTROL)
        text = unicodedata.normalize("NFC", text)
        if text == orig:
            return text


def fix_text_subset(text):
    """The deterministic part of ftfy.fix_text's defaults. Like fix_text, it works line by line, and
    HTML entities are left alone from the first line that holds a '<' on (unescape_html="auto")."""
    out, unescape, pos = [], True, 0
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        seg = text[pos:end]
        if "<" in seg:
            unescape = False
        out.append(fix_segment(seg, unescape))
        pos = end
    return "".join(out)


def clean(text):
    text = fix_text_subset(text)
    text = html.unescape(html.unescape(text)).strip()
    text = regex.sub(r"\s+", " ", text).strip()
    return text.lower()


EDGE = [
    "a photo of a cat",
    "",
    "   ",
    "A Photo Of A CAT!!!",
    "it's a dog's life, don't you think? I'M sure we'RE fine, they'VE gone, we'll see, he'd go",
    "it\u2019s curly \u201cquoted\u201d text",
    "it'\u017f a long s",
    "hello!!! ... ?! (x) [y] {z} a-b_c @#$%^&*",
    "1024x768 3.14 2024 \u0661\u0662\u0663 \u00bd",
    "caf\u00e9 na\u00efve cre\u0300me br\u00fbl\u00e9e e\u0301",
    "\u6771\u4eac\u30bf\u30ef\u30fc \u5bcc\u58eb\u5c71",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u039f\u03a3.",
    "\u0130stanbul \u0130",
    "\U0001f431 cat \U0001f44d\U0001f3fd \u2764\ufe0f",
    "\uff21\uff22\uff23\uff11\uff12\uff13 \u3000full width",
    "\ufb01ne \ufb02ower \u0133",
    "Tom &amp; Jerry &amp;amp; &lt;b&gt; &#39;quoted&#39; &eacute;",
    "<b>bold</b> &amp;amp;",
    "  a\t\nb\u00a0c\u2003d  \r\n e ",
    "\x00a\x07b\x1b[31mred\x1b[0m\ufeffc",
    "an <|endoftext|> inside and <|startoftext|> too",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \ud55c\uad6d\uc5b4",
    "a " * 100,
    " ".join("word%d" % i for i in range(60)),
    "x" * 300,
    "\u00ae\u00ad\u00a0\u00ac\u00a1\u00ff\u0100 bytes at the edges of the printable map",
    # C1 controls are Windows-1252 read as Latin-1: ftfy maps them back (\x85 is an ellipsis, not a
    # line break; \x81 is undefined in cp1252 and stays).
    "don\x92t stop \x93now\x94 \x85 wait\x81 \x80 5 \x96 \x99",
    # ftfy repeats its fixes until nothing changes: a double-escaped curly quote is unescaped, then
    # straightened.
    "&amp;#8220;twice&amp;#8221; &amp;amp;amp;amp;",
    # fix_text works line by line; entities before the first line holding '<' are unescaped.
    "&#8216;one&#8217;\n< two &#8216;",
]


def main():
    ref = Reference(os.path.join(SHARED, "clip", "bpe_simple_vocab_16e6.txt.gz"))
    cases = []
    for t in EDGE:
        cases.append({"group": "edge", "text": t, "ids": ref.tokenize(t)})
    with open(os.path.join(SHARED, "agiqa-3k", "data.csv"), newline="", encoding="utf-8") as f:
        prompts3k = sorted({row["prompt"] for row in csv.DictReader(f)})
    for t in prompts3k:
        cases.append({"group": "agiqa-3k", "text": t, "ids": ref.tokenize(t)})
    import openpyxl
    ws = openpyxl.load_workbook(os.path.join(SHARED, "agiqa-1k", "AIGC_MOS_Zscore.xlsx"), read_only=True).active
    prompts1k = sorted({row[1] for row in ws.iter_rows(min_row=2, values_only=True) if row[1]})
    for t in prompts1k:
        cases.append({"group": "agiqa-1k", "text": t, "ids": ref.tokenize(t)})
    # CLIPScore's prefix on a few prompts
    for t in prompts3k[:20]:
        cases.append({"group": "clipscore", "text": "A photo depicts " + t, "ids": ref.tokenize("A photo depicts " + t)})
    assert ref.tokenize("a photo of a cat") == [49406, 320, 1125, 539, 320, 2368, 49407]
    with open(os.path.join(HERE, "tokens.json"), "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in cases))
        f.write("\n]\n")
    print("%d cases (%d AGIQA-3k prompts, %d AGIQA-1k prompts)" % (len(cases), len(prompts3k), len(prompts1k)))


if __name__ == "__main__":
    main()
