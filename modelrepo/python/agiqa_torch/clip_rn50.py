"""OpenAI CLIP RN50: the ModifiedResNet-50 image tower and the text transformer.

Written for this project from the architecture described in "Learning Transferable Visual Models From
Natural Language Supervision" (Radford et al., 2021) and the parameter names of OpenAI's published
RN50.pt, so that its state dict loads without renaming (``visual.*``, ``transformer.*``,
``token_embedding``, ``positional_embedding``, ``ln_final``, ``text_projection``, ``logit_scale``).

Layout differences from OpenAI's module tree (state-dict keys are unaffected except where said):
- the text tower is one module, ``CLIPRN50.text``; OpenAI's top-level text keys gain a ``text.`` prefix
  (see ``openai_to_ours``);
- activations are batch-first everywhere and attention is written out with plain matmuls, so the
  graph exports to ONNX without ``nn.MultiheadAttention``'s fused paths.

``width`` scales the image tower (64 = RN50; 8 gives a tiny tower for tests); the joint embedding is
``16 * width`` wide (1024 for RN50) unless ``embed_dim`` says otherwise.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# CLIP's image statistics (per channel, for pixels scaled to 0..1).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408
SOT_TOKEN = 49406
EOT_TOKEN = 49407
RN50_LAYERS = (3, 4, 6, 3)
RN50_INPUT = 224  # the resolution RN50's attention-pool embedding was trained for (7x7 grid)

# Keys in OpenAI's archive that are hyper-parameters, not weights.
_OPENAI_META_KEYS = ("input_resolution", "context_length", "vocab_size")


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
           mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Scaled dot-product attention over ``heads`` heads; q [N,Lq,C], k/v [N,Lk,C] -> [N,Lq,C]."""
    n, c = q.shape[0], q.shape[-1]
    hd = c // heads
    q = q.reshape(n, -1, heads, hd).transpose(1, 2)
    k = k.reshape(n, -1, heads, hd).transpose(1, 2)
    v = v.reshape(n, -1, heads, hd).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (hd ** -0.5)
    if mask is not None:
        scores = scores + mask
    out = torch.matmul(scores.softmax(dim=-1), v)
    return out.transpose(1, 2).reshape(n, -1, c)


class Bottleneck(nn.Module):
    """ResNet bottleneck with CLIP's anti-aliasing: stride is an average pool after the 3x3 conv, and
    the shortcut pools before its 1x1 conv, so no convolution is strided."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride > 1 or inplanes != out:
            # Key names "downsample.0"/"downsample.1" are OpenAI's; "-1" (the pool) has no weights.
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, out, 1, bias=False)),
                ("1", nn.BatchNorm2d(out)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class AttentionPool2d(nn.Module):
    """CLIP's attention pooling: the mean of the HxW feature tokens, with a learned positional
    embedding on all HW+1 tokens, is the single query of one multi-head attention over them.

    ``add_positional_embedding = False`` leaves the embedding out (the parameter stays, so
    checkpoints load unchanged): the mean token is still prepended and is still the query, and the
    feature map may then have any height and width. This is how CLIP-IQA's official code
    (IceClear/CLIP-IQA, ``pos_embedding=False``) scores images at their own size."""

    def __init__(self, grid: int, embed_dim: int, heads: int, output_dim: int):
        super().__init__()
        self.grid = grid
        self.heads = heads
        self.add_positional_embedding = True
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        x = fmap.flatten(2).transpose(1, 2)  # N,HW,C
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)
        if self.add_positional_embedding:
            x = x + self.positional_embedding
        out = attend(self.q_proj(x[:, :1]), self.k_proj(x), self.v_proj(x), self.heads)
        return self.c_proj(out[:, 0])


class ModifiedResNet(nn.Module):
    """CLIP's ResNet: 3-conv stem + average pool, anti-aliased bottleneck stages, attention pool."""

    def __init__(self, layers: Sequence[int] = RN50_LAYERS, output_dim: int = 1024, heads: int = 32,
                 input_resolution: int = RN50_INPUT, width: int = 64):
        super().__init__()
        if input_resolution % 32:
            raise ValueError(f"ModifiedResNet: input_resolution {input_resolution} is not a multiple of 32")
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        stages = []
        for i, blocks in enumerate(layers):
            planes = width * (2 ** i)
            stage = [Bottleneck(inplanes, planes, stride=1 if i == 0 else 2)]
            inplanes = planes * Bottleneck.expansion
            stage += [Bottleneck(inplanes, planes) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.feature_dim = width * 32
        self.attnpool = AttentionPool2d(input_resolution // 32, self.feature_dim, heads, output_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        # Only matters without pretrained weights (tests, tiny exports): He-normal convolutions and
        # zero-initialised last BN of every residual branch (as CLIP's own init) keep a random tower's
        # features input-dependent and of unit scale instead of vanishing through 50 layers.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
        std = self.feature_dim ** -0.5
        for lin in (self.attnpool.q_proj, self.attnpool.k_proj, self.attnpool.v_proj, self.attnpool.c_proj):
            nn.init.normal_(lin.weight, std=std)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised image [N,3,H,W] -> last-stage feature map [N, 32*width, ~H/32, ~W/32] (average
        pools floor odd sides, as OpenAI's)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attnpool(self.forward_features(x))


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU that CLIP was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class SelfAttention(nn.Module):
    """Multi-head self-attention holding its weights under nn.MultiheadAttention's names
    (in_proj_weight/in_proj_bias/out_proj), which is how OpenAI's archive stores them."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"SelfAttention: width {width} not divisible by {heads} heads")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        return self.out_proj(attend(q, k, v, self.heads, mask))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.width = width
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


class TextTransformer(nn.Module):
    """CLIP's text tower: token + positional embedding, causal transformer, final LayerNorm; the
    feature of the end-of-text token (the highest id in each row) projected to the joint space."""

    def __init__(self, width: int = 512, layers: int = 12, heads: Optional[int] = None,
                 embed_dim: int = 1024, vocab_size: int = VOCAB_SIZE, context_length: int = CONTEXT_LENGTH):
        super().__init__()
        heads = heads or max(1, width // 64)
        self.context_length = context_length
        self.width = width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = Transformer(width, layers, heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        # Additive causal mask; not part of the state dict (OpenAI's archive has none either).
        self.register_buffer("causal_mask", torch.full((context_length, context_length), float("-inf")).triu(1),
                             persistent=False)
        self._init_like_clip(layers)

    def _init_like_clip(self, layers: int) -> None:
        # The initialisation of the CLIP paper's code, so that a randomly initialised tower is sane.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = self.width ** -0.5 * (2 * max(layers, 1)) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=self.width ** -0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * self.width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=self.width ** -0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, 77] int64 -> [B, embed_dim]."""
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.causal_mask))
        return eot_features(x, tokens) @ self.text_projection


def eot_features(x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The rows of x [N, L, W] at each sequence's end-of-text token, the highest id of its row: CLIP's
    text feature before projection. argmax on float: exact for ids < 2**24, and ArgMax on int64 is not
    implemented by every ONNX runtime. Ties resolve to the first position in torch and in ONNX alike."""
    eot = tokens.to(torch.float32).argmax(dim=-1)
    index = eot.reshape(-1, 1, 1).expand(-1, 1, x.shape[-1])
    return torch.gather(x, 1, index).squeeze(1)


class CLIPRN50(nn.Module):
    """Both CLIP towers and the learned temperature."""

    def __init__(self, width: int = 64, layers: Sequence[int] = RN50_LAYERS, image_size: int = RN50_INPUT,
                 text_width: int = 512, text_layers: int = 12, embed_dim: Optional[int] = None,
                 vocab_size: int = VOCAB_SIZE, context_length: int = CONTEXT_LENGTH):
        super().__init__()
        embed_dim = embed_dim or 16 * width
        self.visual = ModifiedResNet(layers, embed_dim, heads=width * 32 // 64, input_resolution=image_size,
                                     width=width)
        self.text = TextTransformer(text_width, text_layers, embed_dim=embed_dim, vocab_size=vocab_size,
                                    context_length=context_length)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text(tokens)


def interpolate_pos_embedding(pos: torch.Tensor, new_grid: int) -> torch.Tensor:
    """Resize an attention-pool positional embedding [1 + g*g, C] to [1 + new_grid**2, C].

    The first row (the mean token) is kept; the g x g grid is resampled bicubically
    (align_corners=False), as IP-IQA does to run RN50 at 512 x 512 (7x7 -> 16x16)."""
    if pos.dim() != 2:
        raise ValueError(f"positional embedding: want 2 dims [1+g*g, C], got shape {tuple(pos.shape)}")
    g = math.isqrt(pos.shape[0] - 1)
    if g * g + 1 != pos.shape[0]:
        raise ValueError(f"positional embedding: {pos.shape[0]} rows is not 1 + a square")
    if g == new_grid:
        return pos.clone()
    c = pos.shape[1]
    grid = pos[1:].reshape(g, g, c).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    grid = grid.squeeze(0).permute(1, 2, 0).reshape(new_grid * new_grid, c).to(pos.dtype)
    return torch.cat([pos[:1], grid], dim=0)


def openai_to_ours(key: str) -> str:
    """Name of an OpenAI CLIP state-dict key in CLIPRN50."""
    if key.startswith("visual.") or key == "logit_scale":
        return key
    return "text." + key


def _count_blocks(state: Dict[str, torch.Tensor], prefix: str) -> int:
    idx = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
    return max(idx) + 1 if idx else 0


def _shape(state: Dict[str, torch.Tensor], key: str) -> Tuple[int, ...]:
    if key not in state:
        raise ValueError(f"CLIP state dict: key {key!r} missing; is this an OpenAI CLIP ResNet checkpoint?")
    return tuple(state[key].shape)


def rn50_config(state: Dict[str, torch.Tensor]) -> Dict[str, object]:
    """Architecture hyper-parameters read off an OpenAI-layout CLIP ResNet state dict."""
    if "visual.proj" in state or "visual.class_embedding" in state:
        raise ValueError("CLIP state dict is a ViT checkpoint; a ResNet (RN50) one is needed")
    layers = tuple(_count_blocks(state, f"visual.layer{i}.") for i in range(1, 5))
    pos = _shape(state, "visual.attnpool.positional_embedding")
    return {
        "width": _shape(state, "visual.layer1.0.conv1.weight")[0],
        "layers": layers,
        "grid": math.isqrt(pos[0] - 1),
        "embed_dim": _shape(state, "text_projection")[1],
        "text_width": _shape(state, "ln_final.weight")[0],
        "text_layers": _count_blocks(state, "transformer.resblocks."),
        "vocab_size": _shape(state, "token_embedding.weight")[0],
        "context_length": _shape(state, "positional_embedding")[0],
    }


def load_openai_rn50(state_dict: Dict[str, torch.Tensor], image_size: int = RN50_INPUT) -> CLIPRN50:
    """Build CLIPRN50 from a state dict with OpenAI's key names and load it strictly.

    The architecture is read from the tensors' shapes, so tiny test checkpoints load too. Weights are
    cast to float32 (OpenAI's archive stores fp16). When ``image_size // 32`` differs from the
    checkpoint's attention-pool grid, the positional embedding is interpolated (bicubic)."""
    state = {k: v for k, v in state_dict.items() if k not in _OPENAI_META_KEYS}
    cfg = rn50_config(state)
    model = CLIPRN50(width=cfg["width"], layers=cfg["layers"], image_size=image_size,
                     text_width=cfg["text_width"], text_layers=cfg["text_layers"], embed_dim=cfg["embed_dim"],
                     vocab_size=cfg["vocab_size"], context_length=cfg["context_length"])
    ours = {}
    for k, v in state.items():
        v = v.detach().to(torch.float32) if v.is_floating_point() else v.detach()
        if k == "visual.attnpool.positional_embedding":
            v = interpolate_pos_embedding(v, image_size // 32)
        ours[openai_to_ours(k)] = v
    load_exact(model, ours, "CLIP RN50 state dict")
    return model


def load_exact(module: nn.Module, state: Dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict that reports every missing, unexpected and mis-shaped key in one ValueError.

    BatchNorm's num_batches_tracked counters may be absent (they do not affect inference)."""
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    shapes = sorted(f"{k}: got {tuple(state[k].shape)}, want {tuple(own[k].shape)}"
                    for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape))
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): " + ", ".join(missing))
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): " + "; ".join(shapes))
    if problems:
        raise ValueError(f"{what} does not fit {type(module).__name__}: " + " | ".join(problems))
    module.load_state_dict(state, strict=False)


def read_rn50_file(path: str) -> Dict[str, torch.Tensor]:
    """State dict of OpenAI's RN50.pt (a TorchScript archive) or of a plain torch.save'd state dict."""
    try:
        return dict(torch.jit.load(path, map_location="cpu").state_dict())
    except RuntimeError as jit_err:
        try:
            obj = torch.load(path, map_location="cpu")
        except Exception as err:  # noqa: BLE001 - report both attempts
            raise ValueError(f"{path}: neither a TorchScript archive ({jit_err}) "
                             f"nor a torch.save file ({err})") from err
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise ValueError(f"{path}: holds a {type(obj).__name__}, not a CLIP state dict") from jit_err
        return obj
