"""Small alignment models for the export, serving and parity tests (not models of the paper).

An image tower (CLIP normalisation, a strided convolution, GELU, average pool, linear) and a text tower
(token embedding, masked mean, linear), scored as 10 * cosine + 1. They cover what the export must carry
for Table 2's models: both tokenizers, a TOKENS width other than 77, the TOKENS_MASK input (which the
text tower really uses: a wrong mask moves the score), a prompt prefix, and the fixed 224 px
resize_center_crop input. Built through ``export --builder tests.toy_alignment:build_clip`` (or
``build_bert``, ``build_clip_large``), which calls them as builders are called: (tiny, state, seed).
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch
from torch import nn

from agiqa_torch.alignment import AlignmentModel
from agiqa_torch.models import CLIP_MEAN, CLIP_STD, Normalize


class _Toy(AlignmentModel):
    vocab = 49408

    def __init__(self, name: str, width: int = 8, embed: int = 16):
        super().__init__(name, 224)
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.conv = nn.Conv2d(3, width, kernel_size=8, stride=8)
        self.image_proj = nn.Linear(width, embed)
        self.embedding = nn.Embedding(self.vocab, embed)
        self.text_proj = nn.Linear(embed, embed)

    def _align(self, image, tokens, mask):
        x = nn.functional.gelu(self.conv(self.normalize(image)))
        img = self.image_proj(x.mean(dim=(2, 3)))
        weights = (mask if mask is not None else (tokens != 0).to(torch.int64)).to(img.dtype)
        t = (self.embedding(tokens) * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp(min=1)
        txt = self.text_proj(t)
        cos = (img * txt).sum(-1) / (img.norm(dim=-1) * txt.norm(dim=-1))
        return (10 * cos + 1).unsqueeze(-1)


class ToyClip(_Toy):
    tokenizer = "clip_bpe"
    token_length = 77
    prompt_prefix = 'A "toy" photo depicts '


class ToyBert(_Toy):
    tokenizer = "bert_wordpiece"
    token_length = 35
    uses_mask = True
    vocab = 30522


def _build(cls, name: str, state, seed: Optional[int], **kw):
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        model = cls(name, **kw)
    if state is not None:
        model.load_state_dict(torch.load(state) if isinstance(state, str) else state)
    return model.eval()


def build_clip(tiny: bool = True, state=None, seed: Optional[int] = None) -> ToyClip:
    return _build(ToyClip, "toyalign_clip", state, seed)


def build_bert(tiny: bool = True, state=None, seed: Optional[int] = None) -> ToyBert:
    return _build(ToyBert, "toyalign_bert", state, seed)


def build_clip_large(tiny: bool = True, state=None, seed: Optional[int] = None) -> ToyClip:
    """A mid-size version (about 50 M parameters, 200 MB) for the external-data memory measurement."""
    return _build(ToyClip, "toyalign_clip", state, seed, embed=1024)
