"""CLIP Vision Transformer towers (ViT-B/32, ViT-L/14, ViT-H-14) and their checkpoint loaders.

Written for this project from the architecture of "Learning Transferable Visual Models From Natural
Language Supervision" (Radford et al., 2021) and the parameter names of the published checkpoints.
Our module tree follows OpenAI's names (``visual.conv1``, ``visual.class_embedding``, ``visual.ln_pre``,
``visual.transformer.resblocks.N.{attn.in_proj_weight, attn.out_proj, ln_1, mlp.c_fc, mlp.c_proj, ln_2}``,
``visual.ln_post``, ``visual.proj``), except that the text tower is one module, ``text``, so OpenAI's
top-level text keys gain a ``text.`` prefix (``openai_name`` maps back).

Three layouts load, each checking every name and shape first and listing all that do not fit:
- OpenAI's (``ViT-B-32.pt`` / ``ViT-L-14.pt`` TorchScript archives, HPS v1's ``hpc.pth``), and open_clip's
  (HPS v2 / v2.1), which uses the same names: ``load_openai``;
- Hugging Face transformers' ``CLIPModel`` (PickScore): ``load_hf``, q/k/v joined into ``in_proj``.

Activations: QuickGELU for OpenAI's models (and fine-tunes of them), exact GELU for open_clip's and
LAION's ViT-H-14 (open_clip builds nn.GELU unless told quick_gelu; the HF config says ``gelu``).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from .clip_rn50 import CONTEXT_LENGTH, VOCAB_SIZE, QuickGELU, SelfAttention, eot_features
from .statedicts import key_problems

ACTIVATIONS = ("quick_gelu", "gelu")


@dataclass(frozen=True)
class ViTConfig:
    """Hyper-parameters of a CLIP ViT (numbers from open_clip's model_configs and OpenAI's build_model:
    heads are width // head_width, head_width 64 except ViT-H-14's vision tower, 80)."""

    name: str
    embed_dim: int
    image_size: int
    patch_size: int
    width: int
    layers: int
    heads: int
    text_width: int
    text_layers: int
    text_heads: int
    act: str
    vocab_size: int = VOCAB_SIZE
    context_length: int = CONTEXT_LENGTH

    def check(self) -> None:
        if self.act not in ACTIVATIONS:
            raise ValueError(f"CLIP {self.name}: activation {self.act!r} is not one of {ACTIVATIONS}")
        if self.image_size % self.patch_size:
            raise ValueError(f"CLIP {self.name}: image_size {self.image_size} is not a multiple of patch "
                             f"{self.patch_size}")
        for what, w, h in (("vision", self.width, self.heads), ("text", self.text_width, self.text_heads)):
            if w % h:
                raise ValueError(f"CLIP {self.name}: {what} width {w} is not divisible by {h} heads")


CONFIGS: Dict[str, ViTConfig] = {
    "ViT-B-32": ViTConfig("ViT-B-32", 512, 224, 32, 768, 12, 12, 512, 12, 8, "quick_gelu"),
    "ViT-L-14": ViTConfig("ViT-L-14", 768, 224, 14, 1024, 24, 16, 768, 12, 12, "quick_gelu"),
    "ViT-H-14": ViTConfig("ViT-H-14", 1024, 224, 14, 1280, 32, 16, 1024, 24, 16, "gelu"),
}


def tiny_config(name: str, image_size: int = 224, patch_size: int = 32) -> ViTConfig:
    """A tiny random-weight stand-in for CONFIGS[name] (same code path and activation, small widths).
    Heads are width // 64, as OpenAI's build_model derives them, so the oracles can be built from the
    same state dict; the full vocabulary is kept so that real prompts tokenize into it."""
    base = CONFIGS[name]
    return replace(base, name=base.name + "-tiny", embed_dim=32, image_size=image_size, patch_size=patch_size,
                   width=128, layers=2, heads=2, text_width=64, text_layers=2, text_heads=1)


def _activation(act: str) -> nn.Module:
    return QuickGELU() if act == "quick_gelu" else nn.GELU()  # nn.GELU is the exact (erf) form


class ResidualBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)), MLP 4x wide."""

    def __init__(self, width: int, heads: int, act: str):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", _activation(act)),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, act: str):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualBlock(width, heads, act) for _ in range(layers)])

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


def _init_blocks(transformer: Transformer, width: int, layers: int) -> None:
    # CLIP's initialisation, so that a random (tiny, test) tower gives input-dependent features.
    proj_std = width ** -0.5 * (2 * max(layers, 1)) ** -0.5
    for block in transformer.resblocks:
        nn.init.normal_(block.attn.in_proj_weight, std=width ** -0.5)
        nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
        nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)


class VisionTransformer(nn.Module):
    """Patch embedding (a stride-``patch`` convolution, no bias), class token, learned positions,
    ln_pre, transformer, ln_post on the class token, projection to ``embed_dim``."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        w, grid = cfg.width, cfg.image_size // cfg.patch_size
        self.image_size = cfg.image_size
        self.conv1 = nn.Conv2d(3, w, cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(w ** -0.5 * torch.randn(w))
        self.positional_embedding = nn.Parameter(w ** -0.5 * torch.randn(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, cfg.layers, cfg.heads, cfg.act)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(w ** -0.5 * torch.randn(w, cfg.embed_dim))
        _init_blocks(self.transformer, w, cfg.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised image [N, 3, S, S] -> image feature [N, embed_dim]."""
        x = self.conv1(x).flatten(2).transpose(1, 2)  # N, grid*grid, width
        # Broadcasting onto a zero slice keeps the batch dimension dynamic in the ONNX graph.
        cls = torch.zeros_like(x[:, :1]) + self.class_embedding
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        x = self.transformer(x)
        return self.ln_post(x[:, 0]) @ self.proj  # LayerNorm is per token: the class token's alone suffices


class TextTransformer(nn.Module):
    """Token + positional embedding, causal transformer, ln_final; the feature at the end-of-text token
    (the highest id of each row: CLIP's EOT 49407, the padding being zeros) projected to ``embed_dim``."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        w = cfg.text_width
        self.token_embedding = nn.Embedding(cfg.vocab_size, w)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, w))
        self.transformer = Transformer(w, cfg.text_layers, cfg.text_heads, cfg.act)
        self.ln_final = nn.LayerNorm(w)
        self.text_projection = nn.Parameter(torch.empty(w, cfg.embed_dim))
        n = cfg.context_length
        self.register_buffer("causal_mask", torch.full((n, n), float("-inf")).triu(1), persistent=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=w ** -0.5)
        _init_blocks(self.transformer, w, cfg.text_layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [N, context_length] int64 -> text feature [N, embed_dim]."""
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.causal_mask))
        return eot_features(x, tokens) @ self.text_projection


class CLIPViT(nn.Module):
    """Both towers and the learned temperature ``logit_scale`` (log of 1/0.07 at initialisation)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        cfg.check()
        self.config = cfg
        self.visual = VisionTransformer(cfg)
        self.text = TextTransformer(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text(tokens)


# ---- OpenAI / open_clip layout -------------------------------------------------------------------

# Hyper-parameters OpenAI's TorchScript archive keeps beside the weights.
OPENAI_META_KEYS = ("input_resolution", "context_length", "vocab_size")


def openai_name(key: str) -> str:
    """OpenAI's (and open_clip's) name of one of our state-dict keys."""
    return key[len("text."):] if key.startswith("text.") else key


def _copy_into(model: CLIPViT, source: Callable[[str], torch.Tensor]) -> None:
    """Copy each weight in place (names and shapes already checked), casting fp16 archives to the
    towers' fp32 tensor by tensor, so a 1B-parameter checkpoint is never held twice in fp32."""
    with torch.no_grad():
        for k, t in model.state_dict().items():
            t.copy_(source(k))


def _raise_problems(problems: List[str], what: str, cfg: ViTConfig) -> None:
    if problems:
        raise ValueError(f"{what} does not fit CLIP {cfg.name}: " + " | ".join(problems))


def load_openai(state: Dict[str, torch.Tensor], cfg: ViTConfig, what: str = "CLIP state dict") -> CLIPViT:
    """Build ``cfg``'s towers and load a state dict with OpenAI's / open_clip's key names, refusing
    (with every missing, unexpected and mis-shaped key listed) anything that does not fit exactly."""
    model = CLIPViT(cfg)
    expected = {openai_name(k): v for k, v in model.state_dict().items()}
    state = {k: v for k, v in state.items() if k not in OPENAI_META_KEYS}
    _raise_problems(key_problems(expected, state), what, cfg)
    _copy_into(model, lambda k: state[openai_name(k)])
    return model.eval()


# ---- Hugging Face transformers CLIPModel layout --------------------------------------------------

_HF_TOWER = {"visual.": "vision_model.", "text.": "text_model."}
_HF_BLOCK = (("attn.out_proj.", "self_attn.out_proj."), ("ln_1.", "layer_norm1."), ("ln_2.", "layer_norm2."),
             ("mlp.c_fc.", "mlp.fc1."), ("mlp.c_proj.", "mlp.fc2."))
_HF_PLAIN = {
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",  # sic: transformers' spelling
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "text.token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "text.positional_embedding": "text_model.embeddings.position_embedding.weight",
    "text.ln_final.weight": "text_model.final_layer_norm.weight",
    "text.ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
}
# Stored as nn.Linear weights [out, in]: the transpose of our [in, out] projection matrices.
_HF_TRANSPOSED = {"visual.proj": "visual_projection.weight", "text.text_projection": "text_projection.weight"}
# Buffers that older transformers versions saved with the weights.
HF_IGNORED = ("vision_model.embeddings.position_ids", "text_model.embeddings.position_ids")
_BLOCK = re.compile(r"^(visual|text)\.transformer\.resblocks\.(\d+)\.(.+)$")


def hf_names(key: str) -> List[str]:
    """The transformers CLIPModel key(s) one of our keys is made of: in_proj = q, k, v stacked."""
    if key in _HF_PLAIN:
        return [_HF_PLAIN[key]]
    if key in _HF_TRANSPOSED:
        return [_HF_TRANSPOSED[key]]
    m = _BLOCK.match(key)
    if not m:
        raise ValueError(f"no transformers CLIPModel name for {key!r}")
    base = f"{_HF_TOWER[m.group(1) + '.']}encoder.layers.{m.group(2)}."
    rest = m.group(3)
    if rest.startswith("attn.in_proj_"):
        kind = rest[len("attn.in_proj_"):]  # weight or bias
        return [f"{base}self_attn.{p}_proj.{kind}" for p in "qkv"]
    for ours, theirs in _HF_BLOCK:
        if rest.startswith(ours):
            return [base + theirs + rest[len(ours):]]
    raise ValueError(f"no transformers CLIPModel name for {key!r}")


def _hf_expected(own: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official name -> a meta tensor of the official shape, for every tensor the HF layout must hold."""
    out = {}
    for k, v in own.items():
        names = hf_names(k)
        if k in _HF_TRANSPOSED:
            shape: Tuple[int, ...] = tuple(v.shape[::-1])
        elif len(names) == 3:
            shape = (v.shape[0] // 3,) + tuple(v.shape[1:])
        else:
            shape = tuple(v.shape)
        for n in names:
            out[n] = torch.empty(shape, device="meta")
    return out


def load_hf(state: Dict[str, torch.Tensor], cfg: ViTConfig, what: str = "CLIPModel state dict") -> CLIPViT:
    """Build ``cfg``'s towers and load a transformers ``CLIPModel`` state dict (PickScore's layout),
    listing every missing, unexpected and mis-shaped key (by transformers' names) when it does not fit."""
    model = CLIPViT(cfg)
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k not in HF_IGNORED}
    _raise_problems(key_problems(_hf_expected(own), state), what, cfg)

    def source(k: str) -> torch.Tensor:
        parts = [state[n] for n in hf_names(k)]
        if k in _HF_TRANSPOSED:
            return parts[0].t()
        return torch.cat(parts, dim=0) if len(parts) == 3 else parts[0]

    _copy_into(model, source)
    return model.eval()


LAYOUTS = ("openai", "open_clip", "hf")


def load_clip_vit(state: Dict[str, torch.Tensor], cfg: ViTConfig, layout: str, what: str) -> CLIPViT:
    """Load ``state`` laid out as ``layout`` (one of LAYOUTS) into ``cfg``'s towers."""
    if layout in ("openai", "open_clip"):
        return load_openai(state, cfg, what)
    if layout == "hf":
        return load_hf(state, cfg, what)
    raise ValueError(f"{what}: unknown checkpoint layout {layout!r}; known: {', '.join(LAYOUTS)}")
