"""CLIP byte-pair-encoding tokenizer.

Produces the same ids as OpenAI CLIP's ``clip.tokenize`` (the TOKENS input of the model contract):
start token 49406, end token 49407, zero padding to 77, truncation keeps the end token last.

The text is cleaned as CLIP does: ``ftfy.fix_text`` first, then HTML entities unescaped twice,
whitespace collapsed, stripped, lower-cased. ftfy is not a dependency here: ``fix_text_subset`` applies
the deterministic part of its default fixers (the same rules as the Go tokenizer in bench/clip, so
training and serving see the same ids); only mojibake repair is left out.
"""

import functools
import gzip
import html
import os
import re
import unicodedata

import torch

SOT = 49406
EOT = 49407
VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77
_SOT_TEXT = "<|startoftext|>"
_EOT_TEXT = "<|endoftext|>"
_VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz"
# The vocabulary file holds more merges than CLIP uses: 49408 ids = 512 byte symbols + merges + 2 specials.
_N_MERGES = VOCAB_SIZE - 512 - 2

try:  # Debian python3-regex; without it a scanner below reproduces the same split.
    import regex as _regex

    _PATTERN = _regex.compile(
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
        _regex.IGNORECASE,
    )
except ImportError:  # pragma: no cover - depends on the machine
    _PATTERN = None


def default_vocab_path():
    """Locate the vocabulary: $AGIQA_CLIP_VOCAB, else ../shared/data/clip beside the repository root."""
    env = os.environ.get("AGIQA_CLIP_VOCAB")
    if env:
        return env
    d = os.path.dirname(os.path.abspath(__file__))
    tried = []
    while True:
        if os.path.exists(os.path.join(d, "go.mod")):
            cand = os.path.join(os.path.dirname(d), "shared", "data", "clip", _VOCAB_NAME)
            tried.append(cand)
            if os.path.exists(cand):
                return cand
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    raise FileNotFoundError(
        "CLIP vocabulary %s not found (tried %s); set AGIQA_CLIP_VOCAB or pass its path"
        % (_VOCAB_NAME, ", ".join(tried) or "no repository root with go.mod above " + __file__)
    )


def bytes_to_unicode():
    """Map every byte to a printable unicode character, so BPE never sees whitespace/control bytes.

    Printable Latin-1 bytes map to themselves; the rest take code points from 256 upwards in byte order.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def _is_number(ch):
    return unicodedata.category(ch).startswith("N")


def _is_space(ch):
    return ch.isspace()


_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def _split_fallback(text):
    """The CLIP split pattern as a scanner: alternatives tried in pattern order at each position."""
    out = []
    i, n = 0, len(text)
    low = text.lower()
    while i < n:
        ch = text[i]
        hit = None
        for special in (_SOT_TEXT, _EOT_TEXT):
            if low.startswith(special, i):
                hit = special
                break
        if hit is None and ch == "'":
            for c in _CONTRACTIONS:
                if low.startswith(c, i):
                    hit = text[i : i + len(c)]
                    break
        if hit is None:
            if _is_letter(ch):
                j = i + 1
                while j < n and _is_letter(text[j]):
                    j += 1
                hit = text[i:j]
            elif _is_number(ch):
                hit = ch
            elif not _is_space(ch):
                j = i + 1
                while j < n and not (_is_space(text[j]) or _is_letter(text[j]) or _is_number(text[j])):
                    j += 1
                hit = text[i:j]
        if hit is None:
            i += 1
        else:
            out.append(hit)
            i += len(hit)
    return out


def split_words(text):
    """Pieces of cleaned text as CLIP's regular expression finds them."""
    if _PATTERN is not None:
        return _PATTERN.findall(text)
    return _split_fallback(text)


# ftfy's fix_latin_ligatures table.
_LIGATURES = {
    "\u0132": "IJ", "\u0133": "ij", "\u0149": "\u02bcn", "\u01c4": "D\u017d", "\u01c5": "D\u017e",
    "\u01c6": "d\u017e", "\u01c7": "LJ", "\u01c8": "Lj", "\u01c9": "lj", "\u01ca": "NJ", "\u01cb": "Nj",
    "\u01cc": "nj", "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
    "\ufb05": "\u017ft", "\ufb06": "st",
}
# Characters ftfy's remove_control_chars drops (tab, newline, form feed and CR stay).
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc"
                      "\U0001d173-\U0001d17a\U000e0000-\U000e007f]")
_C1 = re.compile("[\x80-\x9f]")
_ANSI = re.compile("\x1b\\[[\\d;]*[a-zA-Z]")
_SINGLE_QUOTES = re.compile("[\u02bc\u2018-\u201b]")
_DOUBLE_QUOTES = re.compile("[\u201c-\u201f]")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\u0085]")


def _cp1252(match):
    """A C1 control read back as the Windows-1252 byte it usually was (ftfy's fix_c1_controls); the
    five bytes cp1252 leaves undefined stay."""
    try:
        return match.group(0).encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:
        return match.group(0)


def _width(c):
    if c == "\u3000":
        return " "
    if "\uff01" <= c < "\ufff0":
        return unicodedata.normalize("NFKC", c)
    return c


def _fix_line(line, unescape):
    while True:  # ftfy repeats its fixers until the text stops changing
        before = line
        if unescape:
            line = html.unescape(line)
        line = _C1.sub(_cp1252, line)
        line = "".join(_LIGATURES.get(c, c) for c in line)
        line = "".join(_width(c) for c in line)
        line = _SINGLE_QUOTES.sub("'", line)
        line = _DOUBLE_QUOTES.sub('"', line)
        line = _LINE_BREAKS.sub("\n", line)
        line = _ANSI.sub("", line)
        line = _CONTROL.sub("", line)
        line = unicodedata.normalize("NFC", line)
        if line == before:
            return line


def fix_text_subset(text):
    """ftfy.fix_text's deterministic default fixers, line by line as fix_text works; HTML entities are
    no longer unescaped from the first line holding a '<' on (its unescape_html="auto")."""
    out, unescape = [], True
    for line in re.findall(r"[^\n]*\n|[^\n]+", text):  # on "\n" only, as ftfy does
        unescape = unescape and "<" not in line
        out.append(_fix_line(line, unescape))
    return "".join(out)


def clean_text(text):
    text = fix_text_subset(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


class Tokenizer:
    """BPE tokenizer over CLIP's vocabulary file (a gzip text file, one merge per line after a header)."""

    def __init__(self, vocab_path=None):
        path = vocab_path or default_vocab_path()
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                lines = f.read().split("\n")
        except OSError as e:
            raise OSError("reading CLIP vocabulary %s: %s" % (path, e)) from e
        merges = []
        # Line 1 is a version header; the merges CLIP uses are lines 2..48895.
        for lineno, line in enumerate(lines[1 : 1 + _N_MERGES], start=2):
            pair = line.split()
            if len(pair) != 2:
                raise ValueError("CLIP vocabulary %s line %d: want two symbols, got %r" % (path, lineno, line))
            merges.append(tuple(pair))
        if len(merges) != _N_MERGES:
            raise ValueError("CLIP vocabulary %s: %d merges, want %d" % (path, len(merges), _N_MERGES))
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        symbols = list(self.byte_encoder.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [_SOT_TEXT, _EOT_TEXT]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        if len(self.encoder) != VOCAB_SIZE:
            raise ValueError("CLIP vocabulary %s: %d distinct symbols, want %d" % (path, len(self.encoder), VOCAB_SIZE))
        self.decoder = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.sot, self.eot = self.encoder[_SOT_TEXT], self.encoder[_EOT_TEXT]
        self._cache = {_SOT_TEXT: _SOT_TEXT, _EOT_TEXT: _EOT_TEXT}

    def bpe(self, token):
        """Merge a word's symbols, lowest merge rank first; returns the symbols joined by spaces."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            best, best_rank = None, None
            for pair in zip(word, word[1:]):
                r = self.ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = pair, r
            if best is None:
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == best[0] and word[i + 1] == best[1]:
                    merged.append(best[0] + best[1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        out = " ".join(word)
        self._cache[token] = out
        return out

    def encode(self, text):
        """Ids of ``text`` without start/end tokens."""
        ids = []
        for piece in split_words(clean_text(text)):
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[s] for s in self.bpe(mapped).split(" "))
        return ids

    def decode(self, ids):
        text = "".join(self.decoder[i] for i in ids)
        raw = bytearray()
        for ch in text.replace("</w>", " "):
            if ch in self.byte_decoder:
                raw.append(self.byte_decoder[ch])
            else:  # special-token text is plain ASCII
                raw.extend(ch.encode("utf-8"))
        return raw.decode("utf-8", errors="replace")

    def tokenize(self, texts, context_length=CONTEXT_LENGTH, truncate=True):
        """LongTensor [N, context_length] of start + ids + end, zero padded.

        Too-long texts are cut to ``context_length`` with the end token kept last when ``truncate``,
        else refused with an error naming the text.
        """
        if isinstance(texts, str):
            texts = [texts]
        out = torch.zeros(len(texts), context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot] + self.encode(text) + [self.eot]
            if len(ids) > context_length:
                if not truncate:
                    raise ValueError(
                        "prompt %d (%r) is %d tokens, longer than the context length %d"
                        % (row, text[:60], len(ids), context_length)
                    )
                ids = ids[:context_length]
                ids[-1] = self.eot
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


@functools.lru_cache(maxsize=4)
def get_tokenizer(vocab_path=None):
    """A shared Tokenizer per vocabulary path (building one reads and indexes 48894 merges)."""
    return Tokenizer(vocab_path)


def tokenize(texts, context_length=CONTEXT_LENGTH, truncate=True, vocab_path=None):
    """``clip.tokenize`` equivalent: LongTensor [N, context_length]."""
    return get_tokenizer(vocab_path).tokenize(texts, context_length=context_length, truncate=truncate)
