"""CLIP-IQA+ (Wang, Chan, Loy, AAAI 2023): CLIP-IQA whose antonym prompts carry learned context vectors.

Facts from the authors' method as IceClear/CLIP-IQA and pyiqa (chaofengc/IQA-PyTorch,
``pyiqa/archs/clipiqa_arch.py``) compute it, written out here:

- prompt templates: 16 placeholder words before the class text, "X X ... X Good photo.." and
  "X X ... X Bad photo.." (the doubled full stop is theirs), tokenized by CLIP's BPE;
- the learned context (CoOp-style) replaces the 16 placeholder embeddings, but split in two halves
  around the first 3 class tokens ("good photo .."): SOT, ctx[:8], class, ctx[8:], the rest (EOT,
  padding). The sequence stays 77 long, so the end-of-text token keeps the position it has in the
  tokenized template;
- CLIP's text transformer then runs on these embeddings instead of token ids: positional embedding
  added, causal transformer, final LayerNorm, the end-of-text position projected to the joint space;
- the image side is CLIP-IQA's: RN50 without the attention-pool positional embedding
  (``pos_embedding=False``), each image at its own size, softmax over exp(logit_scale) x cosine, the
  score the probability of the "Good" prompt;
- published weights: pyiqa's release file ``CLIP-IQA+_learned_prompts-603f3273.pth``, which pyiqa
  loads with ``prompt_learner.ctx.data = torch.load(file)``: a bare tensor, one context [16, 512]
  shared by both prompts (a [2, 16, 512] context, one per prompt, is the other layout the code takes).

The two text features depend on nothing but the weights, so they are computed once at build time and
kept as a buffer, as CLIPIQA does for its antonyms: the served graph takes images only.
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Optional

import torch
from torch import nn

from . import clip_rn50
from .clip_rn50 import CLIP_MEAN, CLIP_STD, CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN
from .models import CLIPIQA, AGIQAModel, Normalize

N_CTX = 16
# CLIP BPE ids of the template words (tests/test_clipiqa_plus.py checks them against OpenAI's
# clip.tokenize): "x</w>", "good</w>", "bad</w>", "photo</w>", "..</w>".
X_TOKEN, GOOD_TOKEN, BAD_TOKEN, PHOTO_TOKEN, DOTS_TOKEN = 343, 886, 2103, 1125, 852
PROMPT_TEXTS = tuple(" ".join(["X"] * N_CTX) + " " + s for s in ("Good photo..", "Bad photo.."))
# Class tokens the context halves enclose; the official code hard-codes 3 for both prompts.
CLASS_LEN = 3
PROMPTS_FILE = "CLIP-IQA+_learned_prompts-603f3273.pth"
PROMPTS_SHA256_PREFIX = "603f3273"
# State-dict names of a prompt learner (pyiqa's CLIPIQA module): the context, and the two buffers it
# derives from CLIP's token embedding, which we recompute from the CLIP weights instead.
CTX_KEYS = ("prompt_learner.ctx", "ctx")
DERIVED_KEYS = ("prompt_learner.token_prefix", "prompt_learner.token_suffix", "token_prefix", "token_suffix")


def prompt_tokens() -> torch.Tensor:
    """[2, 77] ids of PROMPT_TEXTS: SOT, 16 x "x", good|bad, photo, "..", EOT, zero padding."""
    out = torch.zeros(2, CONTEXT_LENGTH, dtype=torch.int64)
    for i, word in enumerate((GOOD_TOKEN, BAD_TOKEN)):
        ids = [SOT_TOKEN] + [X_TOKEN] * N_CTX + [word, PHOTO_TOKEN, DOTS_TOKEN, EOT_TOKEN]
        out[i, :len(ids)] = torch.tensor(ids)
    return out


def initial_context(text: clip_rn50.TextTransformer) -> torch.Tensor:
    """[2, 16, W]: the placeholder embeddings, the context before learning (the CoOp initialisation)."""
    with torch.no_grad():
        return text.token_embedding(prompt_tokens())[:, 1:1 + N_CTX].clone()


def assemble_prompts(text: clip_rn50.TextTransformer, ctx: torch.Tensor) -> torch.Tensor:
    """Prompt embeddings [2, 77, W]: SOT, ctx first half, the class tokens, ctx second half, the rest."""
    ctx = check_context(ctx, text.width, "learned context")
    emb = text.token_embedding(prompt_tokens().to(text.token_embedding.weight.device))
    ctx = ctx.to(emb).expand(2, -1, -1) if ctx.dim() == 2 else ctx.to(emb)
    half = N_CTX // 2
    rest = emb[:, 1 + N_CTX:]
    return torch.cat([emb[:, :1], ctx[:, :half], rest[:, :CLASS_LEN], ctx[:, half:], rest[:, CLASS_LEN:]], dim=1)


def encode_embeddings(text: clip_rn50.TextTransformer, emb: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP's text tower from token embeddings [B, 77, W]: the feature [B, D] at each row's EOT position
    (the highest id of ``tokens``), as TextTransformer.forward computes it from ids."""
    x = emb + text.positional_embedding
    x = text.ln_final(text.transformer(x, text.causal_mask))
    return clip_rn50.eot_features(x, tokens.to(x.device)) @ text.text_projection


def learned_text_features(text: clip_rn50.TextTransformer, ctx: torch.Tensor) -> torch.Tensor:
    """The two unit-norm text features [2, D] of the learned prompts."""
    with torch.no_grad():
        f = encode_embeddings(text, assemble_prompts(text, ctx), prompt_tokens())
        return f / f.norm(dim=-1, keepdim=True)


def check_context(ctx, width: int, what: str) -> torch.Tensor:
    """A context tensor [16, W] (shared) or [2, 16, W] (one per prompt); ValueError naming ``what``."""
    if not torch.is_tensor(ctx) or not ctx.is_floating_point():
        raise ValueError(f"{what}: want a float tensor [{N_CTX}, {width}] or [2, {N_CTX}, {width}], got "
                         f"{type(ctx).__name__ if not torch.is_tensor(ctx) else ctx.dtype}")
    if tuple(ctx.shape) not in ((N_CTX, width), (2, N_CTX, width)):
        raise ValueError(f"{what}: shape {tuple(ctx.shape)}, want [{N_CTX}, {width}] (one context for both "
                         f"prompts) or [2, {N_CTX}, {width}] (one per prompt) for a text tower {width} wide")
    if not torch.isfinite(ctx).all():
        raise ValueError(f"{what}: holds non-finite values")
    return ctx


def context_from(obj, what: str) -> torch.Tensor:
    """The context tensor of a learned-prompt file's content: a bare tensor (pyiqa's release file) or a
    state dict holding ``prompt_learner.ctx`` (or ``ctx``), possibly under "params" / "state_dict". Any
    other key is refused with the missing and unexpected keys listed."""
    if torch.is_tensor(obj):
        return obj.detach().to(torch.float32)
    from .statedicts import checkpoint_tensors

    try:
        state: Dict[str, torch.Tensor] = checkpoint_tensors(obj, what, prefixes=("module.",))
    except ValueError as err:
        raise ValueError(f"{what}: neither a context tensor nor a prompt-learner state dict ({err})") from err
    found = [k for k in CTX_KEYS if k in state]
    unexpected = sorted(k for k in state if k not in CTX_KEYS and k not in DERIVED_KEYS)
    problems = []
    if len(found) != 1:
        problems.append("missing keys (1): prompt_learner.ctx" if not found else
                        "both prompt_learner.ctx and ctx present")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
    if problems:
        raise ValueError(f"{what} does not hold CLIP-IQA+ learned prompts: " + " | ".join(problems))
    return state[found[0]].detach().to(torch.float32)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_learned_prompts(path: str, check_published: bool = False) -> torch.Tensor:
    """The context tensor stored in ``path`` (``agiqa fetch clipiqa-plus-prompts``), as float32.
    ``check_published``: refuse a file whose sha256 does not start with PROMPTS_SHA256_PREFIX, the
    prefix pyiqa's release file name carries (no full digest is published)."""
    if not os.path.isfile(path):
        raise ValueError(f"learned prompts {path}: no such file")
    if check_published:
        digest = file_sha256(path)
        if not digest.startswith(PROMPTS_SHA256_PREFIX):
            raise ValueError(f"learned prompts {path}: sha256 {digest} does not start with {PROMPTS_SHA256_PREFIX}, "
                             f"the prefix of the published {PROMPTS_FILE}")
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike
        raise ValueError(f"learned prompts {path}: not a torch file: {err}") from err
    return context_from(obj, f"learned prompts {path}")


class CLIPIQAPlus(CLIPIQA):
    """CLIP-IQA+: CLIP-IQA's image side (native size, no positional embedding) against the learned
    prompts' text features. ``ctx`` None builds the unlearned prompts (initial_context), for tests and
    random-weight exports only; ``prompts_learned`` records which it is."""

    def __init__(self, image_size: int, clip: clip_rn50.CLIPRN50, ctx: Optional[torch.Tensor] = None):
        AGIQAModel.__init__(self, "clipiqa_plus", 1, image_size)
        self.positional_224 = False
        self.preprocess = "native"
        self.prompts_learned = ctx is not None
        text = clip.text.eval()
        if ctx is None:
            ctx = initial_context(text)
        check_context(ctx, text.width, "model clipiqa_plus: learned context")
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.visual = clip.visual
        self.visual.attnpool.add_positional_embedding = False
        self.feature_dim = self.visual.output_dim
        self.register_buffer("text_features", learned_text_features(text, ctx))
        self.register_buffer("logit_scale", clip.logit_scale.detach().exp().reshape(()))
        self.head = nn.Identity()  # nothing is trained


def build_clipiqa_plus(num_outputs: int, image_size: int, clip: clip_rn50.CLIPRN50,
                       learned_prompts: Optional[torch.Tensor]) -> CLIPIQAPlus:
    if num_outputs != 1:
        raise ValueError(f"model clipiqa_plus: zero-shot quality has 1 output, not {num_outputs}")
    return CLIPIQAPlus(image_size, clip, learned_prompts)


__all__ = ["CLIPIQAPlus", "N_CTX", "PROMPT_TEXTS", "PROMPTS_FILE", "build_clipiqa_plus",
           "context_from", "learned_text_features", "prompt_tokens", "read_learned_prompts"]
