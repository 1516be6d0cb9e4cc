"""ImageReward (Xu et al., NeurIPS 2023): a text-image preference score from BLIP.

Facts taken from the authors' ``image-reward`` 1.5 package (ImageReward.py, models/BLIP/{blip,
blip_pretrain,vit,med}.py) and its published med_config.json; the code is written here.

- Image: BLIP's ViT-L/16 at 224 (width 1024, 24 pre-norm blocks, 16 heads, qkv with bias, MLP ratio 4
  with exact GELU, LayerNorm eps 1e-6, class token + learned position embedding, final LayerNorm).
  Its transform ends in CLIP's mean/std, applied here in the graph on 0..255 pixels.
- Text: BLIP's BERT-base "med" encoder (hidden 768, 12 layers, 12 heads, intermediate 3072, vocab 30524
  = bert-base-uncased's 30522 + [DEC] + [ENC], 512 absolute positions, no token-type embedding,
  LayerNorm eps 1e-12, post-norm). Every layer self-attends over the prompt, then cross-attends onto all
  image tokens (keys/values from the 1024-wide image embedding), then the feed-forward.
- ``ImageReward.score`` feeds the BERT tokenizer's ``input_ids`` unchanged ([CLS]=101 first, not
  BLIP's [ENC]) with its attention mask, max length 35; the padding mask is the additive bias
  (1 - mask) * -10000 (med.py's get_extended_attention_mask). The image tokens are all attended: the
  cross-attention bias is (1 - 1) * finfo.min = 0 and is left out.
- Head: the [CLS] state -> Linear 768-1024-128-64-16-1 with no activation between them (the authors
  commented their ReLUs out; the Dropouts at Sequential slots 1, 3, 5 act only in training and are
  identities here), then (r - 0.16717362830052426) / 1.0333394966054072.

The module's parameter names are those of the authors' ``ImageReward`` module (``blip.visual_encoder.*``,
``blip.text_encoder.*``, ``mlp.layers.*``), so the published ImageReward.pt loads by name. The authors'
module also holds ``blip.vision_proj`` / ``blip.text_proj`` (BLIP's contrastive projections, unused by
the score) and the ``position_ids`` buffer (0..511): the loader accepts and drops those.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pickle
from typing import Dict, Optional, Union

import torch
from torch import nn

from .alignment import AlignmentModel
from .clip_rn50 import CLIP_MEAN, CLIP_STD
from .models import Normalize, _exporting
from .statedicts import checkpoint_tensors, key_problems

# ImageReward.py's normalisation of the raw MLP output.
REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
TOKEN_LENGTH = 35
MLP_WIDTHS = (1024, 128, 64, 16, 1)
MASK_BIAS = -10000.0

# Tensors of the authors' module the score never reads; the published file may carry them.
UNUSED_PREFIXES = ("blip.vision_proj.", "blip.text_proj.")
UNUSED_KEYS = ("blip.text_encoder.embeddings.position_ids",)


@dataclasses.dataclass(frozen=True)
class ImageRewardConfig:
    image_size: int = 224
    patch_size: int = 16
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    text_intermediate: int = 3072
    vocab_size: int = 30524
    max_positions: int = 512

    def check(self) -> None:
        bad = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self) if getattr(self, f.name) <= 0]
        if self.image_size % self.patch_size:
            bad.append(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.vision_width % self.vision_heads:
            bad.append(f"vision_width {self.vision_width} is not divisible by vision_heads {self.vision_heads}")
        if self.text_width % self.text_heads:
            bad.append(f"text_width {self.text_width} is not divisible by text_heads {self.text_heads}")
        if self.max_positions < TOKEN_LENGTH:
            bad.append(f"max_positions {self.max_positions} < the token length {TOKEN_LENGTH}")
        if bad:
            raise ValueError("model imagereward: bad sizes: " + "; ".join(bad))


FULL = ImageRewardConfig()
# Tests and parity exports: small widths, the full vocabulary (the served model takes real WordPiece ids).
TINY = ImageRewardConfig(vision_width=32, vision_layers=2, vision_heads=2, text_width=32, text_layers=2,
                         text_heads=2, text_intermediate=64, max_positions=64)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, N, C] -> [B, heads, N, C / heads]."""
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).permute(0, 2, 1, 3)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """[B, heads, N, d] -> [B, N, heads * d]."""
    b, h, n, d = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, n, h * d)


# ----------------------------------------------------------------------------- BLIP's ViT

class PatchEmbed(nn.Module):
    def __init__(self, patch: int, width: int):
        super().__init__()
        self.proj = nn.Conv2d(3, width, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = _heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads)
        # Scale after the product, as vit.py does (BERT below divides instead).
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj(_merge(attn @ v))


class ViTMlp(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = ViTAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = ViTMlp(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class BlipViT(nn.Module):
    """Normalised image [B, 3, S, S] -> token states [B, 1 + (S/patch)^2, width] after the final norm."""

    def __init__(self, cfg: ImageRewardConfig):
        super().__init__()
        w = cfg.vision_width
        self.patch_embed = PatchEmbed(cfg.patch_size, w)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w))
        self.pos_embed = nn.Parameter(torch.zeros(1, (cfg.image_size // cfg.patch_size) ** 2 + 1, w))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(ViTBlock(w, cfg.vision_heads) for _ in range(cfg.vision_layers))
        self.norm = nn.LayerNorm(w, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# ----------------------------------------------------------------------------- BLIP's BERT ("med")

class BertEmbeddings(nn.Module):
    def __init__(self, cfg: ImageRewardConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.text_width, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.text_width)
        self.LayerNorm = nn.LayerNorm(cfg.text_width, eps=1e-12)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = self.position_embeddings.weight[: ids.shape[1]].unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(ids) + pos)


class BertSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, kv_width: int):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(kv_width, width)
        self.value = nn.Linear(kv_width, width)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        q = _heads(self.query(x), self.heads)
        k = _heads(self.key(kv), self.heads)
        v = _heads(self.value(kv), self.heads)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if bias is not None:
            scores = scores + bias
        return _merge(scores.softmax(dim=-1) @ v)


class BertSelfOutput(nn.Module):
    """dense, then LayerNorm over the residual sum (post-norm); BertOutput has the same shape of code."""

    def __init__(self, in_width: int, width: int):
        super().__init__()
        self.dense = nn.Linear(in_width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, width: int, heads: int, kv_width: int):
        super().__init__()
        self.self = BertSelfAttention(width, heads, kv_width)
        self.output = BertSelfOutput(width, width)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        return self.output(self.self(x, kv, bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, width: int, inner: int):
        super().__init__()
        self.dense = nn.Linear(width, inner)
        self.act = nn.GELU()  # med_config's hidden_act "gelu": transformers' exact (erf) GELU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, cfg: ImageRewardConfig):
        super().__init__()
        w = cfg.text_width
        self.attention = BertAttention(w, cfg.text_heads, w)
        self.crossattention = BertAttention(w, cfg.text_heads, cfg.vision_width)
        self.intermediate = BertIntermediate(w, cfg.text_intermediate)
        self.output = BertSelfOutput(cfg.text_intermediate, w)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, x, bias)
        x = self.crossattention(x, image, None)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, cfg: ImageRewardConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.text_layers))


class BertMed(nn.Module):
    """(ids [B, L], mask [B, L], image tokens [B, N, vision_width]) -> text states [B, L, text_width]."""

    def __init__(self, cfg: ImageRewardConfig):
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        for m in self.modules():  # BERT's initialiser (normal 0.02); the loader replaces all of it
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(ids)
        bias = ((1.0 - mask.to(x.dtype)) * MASK_BIAS)[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, bias, image)
        return x


# ----------------------------------------------------------------------------- the model

class Blip(nn.Module):
    """The parts of the authors' BLIP_Pretrain that the score uses (its tokenizer lives in the harness;
    vision_proj / text_proj are dropped by the loader)."""

    def __init__(self, cfg: ImageRewardConfig):
        super().__init__()
        self.visual_encoder = BlipViT(cfg)
        self.text_encoder = BertMed(cfg)


class RewardMLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        dims = (width,) + MLP_WIDTHS
        mods = []
        for i in range(len(MLP_WIDTHS)):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i < 3:
                mods.append(nn.Identity())  # the authors' Dropout(0.2, 0.2, 0.1): slots 1, 3, 5
        self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ImageReward(AlignmentModel):
    """IMAGE uint8 [B, 3, S, S], TOKENS int64 [B, 35] BERT ids, TOKENS_MASK int64 [B, 35] -> [B, 1]."""

    tokenizer = "bert_wordpiece"
    token_length = TOKEN_LENGTH
    uses_mask = True
    zero_shot = True

    def __init__(self, cfg: ImageRewardConfig = FULL):
        cfg.check()
        super().__init__("imagereward", cfg.image_size)
        self.config = cfg
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.blip = Blip(cfg)
        self.mlp = RewardMLP(cfg.text_width)
        self.feature_dim = cfg.text_width

    def _check_ids(self, tokens: torch.Tensor, mask: torch.Tensor) -> None:
        vocab = self.config.vocab_size
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
            raise ValueError(f"model imagereward: input TOKENS holds ids in [{int(tokens.min())}, "
                             f"{int(tokens.max())}], outside the vocabulary [0, {vocab})")
        if mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("model imagereward: input TOKENS_MASK must hold only 0 and 1")

    def _align(self, image: torch.Tensor, tokens: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        if not _exporting():
            self._check_ids(tokens, mask)
        image_tokens = self.blip.visual_encoder(self.normalize(image))
        text = self.blip.text_encoder(tokens, mask, image_tokens)
        reward = self.mlp(text[:, 0])
        return (reward - REWARD_MEAN) / REWARD_STD


def load_imagereward(model: ImageReward, obj, what: str = "ImageReward checkpoint") -> None:
    """Load the authors' ImageReward state dict (ImageReward.pt, or any state dict in that layout) into
    ``model``; every missing, unexpected or mis-shaped key is listed in one ValueError."""
    tensors = checkpoint_tensors(obj, what)
    state = {k: v for k, v in tensors.items() if k not in UNUSED_KEYS and not k.startswith(UNUSED_PREFIXES)}
    own = model.state_dict()
    problems = key_problems(own, state, shape_note=f" (the model was built with {model.config})")
    if problems:
        raise ValueError(f"{what}: not an ImageReward state dict of this size: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def build_imagereward(tiny: bool = False, state=None, seed: Optional[int] = None, **sizes) -> ImageReward:
    """ImageReward at the published sizes (``tiny``: TINY's small widths, same code path), with any of
    ImageRewardConfig's fields overridden by ``sizes``. ``state``: a state dict in the authors' layout,
    or the path of a file holding one (ImageReward.pt); None keeps the random initialisation, seeded by
    ``seed`` (the global RNG state is restored afterwards). Returned in eval mode."""
    base = TINY if tiny else FULL
    known = {f.name for f in dataclasses.fields(ImageRewardConfig)}
    unknown = sorted(set(sizes) - known)
    if unknown:
        raise ValueError(f"model imagereward: unknown size(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    cfg = dataclasses.replace(base, **sizes)
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        model = ImageReward(cfg)
    if state is not None:
        what = "ImageReward checkpoint"
        if isinstance(state, (str, os.PathLike)):
            what = f"ImageReward checkpoint {os.fspath(state)}"
            state = _read_checkpoint(state, what)
        load_imagereward(model, state, what)
    return model.eval()


def _read_checkpoint(path: Union[str, os.PathLike], what: str) -> Dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu")
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise ValueError(f"{what}: cannot read: {e}") from e
