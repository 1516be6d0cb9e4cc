import os

import pytest
import torch

from agiqa_torch import tokenizer as T

try:
    VOCAB = T.default_vocab_path()
except FileNotFoundError as e:  # the shared data lives beside the repository, not in it
    VOCAB = None
    REASON = str(e)

pytestmark = pytest.mark.skipif(VOCAB is None, reason="CLIP vocabulary absent: %s" % (None if VOCAB else REASON))

# Reference ids produced by OpenAI's clip.tokenize, as published: the CLIP README's zero-shot example
# ("a diagram", "a dog", "a cat"), DESIGN.md's "a photo of a cat", and the expectations in the public
# test suites of other CLIP tokenizer ports (Vespa's sample-apps ModelsTest.java and a Go port's
# fixtures) for the longer sentences.
REFERENCE = [
    ("a photo of a cat", [49406, 320, 1125, 539, 320, 2368, 49407]),
    ("a diagram", [49406, 320, 22697, 49407]),
    ("a dog", [49406, 320, 1929, 49407]),
    ("", [49406, 49407]),
    ("A Photo of a TREE!", [49406, 320, 1125, 539, 320, 2677, 256, 49407]),
    ("it's a cat's toy, running   fast", [49406, 585, 568, 320, 2368, 568, 5988, 267, 2761, 1953, 49407]),
    ("2 dogs and 3 cats", [49406, 273, 3255, 537, 274, 3989, 49407]),
    (
        "Two people are sitting next to a wood - stacked campfire at night",
        [49406, 1237, 1047, 631, 4919, 1131, 531, 320, 1704, 268, 24990, 32530, 536, 930, 49407],
    ),
    ("When did man last land on the moon ?", [49406, 827, 1335, 786, 952, 973, 525, 518, 3293, 286, 49407]),
    ("An indian chief in full dress .", [49406, 550, 3606, 3455, 530, 1476, 2595, 269, 49407]),
]


@pytest.mark.parametrize("text,want", REFERENCE)
def test_reference_ids(text, want):
    got = T.tokenize(text)
    assert got.shape == (1, 77) and got.dtype == torch.long
    assert got[0, : len(want)].tolist() == want
    assert not got[0, len(want) :].any(), "padding must be zero"


def test_batch_and_context_length():
    got = T.tokenize(["a dog", "a photo of a cat"], context_length=10)
    assert got.tolist() == [
        [49406, 320, 1929, 49407, 0, 0, 0, 0, 0, 0],
        [49406, 320, 1125, 539, 320, 2368, 49407, 0, 0, 0],
    ]


def test_truncation_keeps_end_token_last():
    long = "a photo of a cat " * 30  # 150 words
    got = T.tokenize(long)[0].tolist()
    assert len(got) == 77
    assert got[0] == T.SOT and got[-1] == T.EOT
    assert got[1:7] == [320, 1125, 539, 320, 2368, 320]
    with pytest.raises(ValueError, match="longer than the context length 77"):
        T.tokenize(long, truncate=False)


def test_cleaning_unescapes_twice_and_collapses_whitespace():
    ref = T.tokenize("a photo of a cat")
    assert torch.equal(T.tokenize("  A\tPHOTO \n of  a Cat "), ref)
    # "&amp;amp;" unescapes to "&amp;" then "&"
    assert torch.equal(T.tokenize("cats &amp;amp; dogs"), T.tokenize("cats & dogs"))
    assert not torch.equal(T.tokenize("cats &amp;amp; dogs"), T.tokenize("cats &amp; dogs".replace("&amp;", "and")))


def test_vocabulary_layout_and_decode():
    tok = T.get_tokenizer()
    assert len(tok.decoder) == T.VOCAB_SIZE
    assert tok.encoder["<|startoftext|>"] == T.SOT and tok.encoder["<|endoftext|>"] == T.EOT
    # Byte symbols come first, then the same with </w>.
    assert tok.encoder["!"] == 0 and tok.encoder["!</w>"] == 256
    # Decoding gives back the words, each followed by a space (what </w> stands for).
    text = "a café in tokyo, 東京 ½ naïve 🎂!"
    assert tok.decode(tok.encode(text)) == "a café in tokyo , 東京 ½ naïve 🎂! "


def test_byte_map_is_a_bijection_onto_printables():
    m = T.bytes_to_unicode()
    assert sorted(m) == list(range(256)) and len(set(m.values())) == 256
    assert all(not ch.isspace() and ch.isprintable() for ch in m.values())
    assert m[ord("a")] == "a" and m[ord(" ")] == "Ġ"


@pytest.mark.skipif(T._PATTERN is None, reason="python3-regex not installed: nothing to compare the scanner with")
@pytest.mark.parametrize(
    "text",
    [
        "it's a cat's toy, running fast",
        "'s 'S ''s don't we'll i'd they've you're 'x",
        "2 dogs and 33 cats ½ ³ Ⅻ",
        "café naïve 東京 ß ǅ à",
        "<|startoftext|>a<|endoftext|> <|ENDOFTEXT|>",
        "!!! --- ... ?!a1b2",
        "🎂🎂 emoji🎂x",
    ],
)
def test_scanner_matches_regex(text):
    cleaned = T.clean_text(text)
    assert T._split_fallback(cleaned) == T._PATTERN.findall(cleaned)


def test_missing_vocabulary_names_the_path(tmp_path):
    missing = os.path.join(str(tmp_path), "nope.txt.gz")
    with pytest.raises(OSError, match="nope.txt.gz"):
        T.Tokenizer(missing)


def test_same_ids_as_the_go_tokenizer_fixtures():
    """Training tokenizes prompts here, serving in Go (bench/clip): both must give the same ids. The
    Go package is tested against bench/clip/testdata/tokens.json (AGIQA prompts and edge cases: C1
    controls, ligatures, full-width forms, curly quotes, double-escaped entities); so is this one."""
    import json

    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "clip", "testdata", "tokens.json")
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    tok = T.Tokenizer(VOCAB)
    wrong = []
    for case in cases:
        ids = tok.encode(case["text"])
        want = case["ids"][1:-1]
        if len(case["ids"]) < T.CONTEXT_LENGTH and ids != want:
            wrong.append("%s %r: %s, want %s" % (case["group"], case["text"][:60], ids[:12], want[:12]))
    assert len(cases) > 1000 and not wrong, "\n".join(wrong)
