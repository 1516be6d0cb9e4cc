"""The models of the benchmark, behind one constructor: ``build_model(name, ...)``.

Every model maps ``(image, tokens)`` to ``[B, num_outputs]`` float32 scores:
- ``image``: [B, 3, S, S] RGB, uint8 or float holding 0..255 (what travels on the wire); the
  mean/std normalisation is part of the module, so the exported ONNX graph takes raw bytes;
- ``tokens``: [B, 77] CLIP BPE ids (start 49406, end 49407, zero padded) for prompt-aware models,
  ignored (may be None) for the others.

Attributes shared by all models: ``name``, ``uses_prompt``, ``head`` (the randomly initialised
regression head; the trainer gives it 10x the learning rate), ``output_names``, ``preprocess``
("resize", "resize_center_crop" or "native": the harness's preprocessing method), ``image_size``, ``num_outputs``,
``feature_dim`` (width of ``image_encoder``'s output), ``higher_is_better``.

Widths: ``width`` scales every image-side width by ``width / 64`` (64 = the published sizes; 8 builds
a tiny model for tests); the text tower is ``text_width`` wide and ``text_layers`` deep.
"""

from __future__ import annotations

import contextlib
from typing import Dict, List, Optional

import torch
from torch import nn

from . import clip_rn50
from .clip_rn50 import CLIP_MEAN, CLIP_STD, CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN, attend

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MODEL_NAMES = ("ipiqa", "resnet50", "resnet50_clip", "clipiqa", "clipiqa_plus", "cnniqa", "dbcnn", "hyperiqa")

# CLIP BPE id of a stand-alone comma (",</w>"): byte symbols come first in the vocabulary, in
# bytes_to_unicode order starting at "!" (33), so "," (44) is symbol 11 and its word-final form is
# 256 + 11. The tokenizer's pattern always splits punctuation from letters, so a prompt's commas
# appear as this id.
COMMA_TOKEN = 267

# Smallest side a native-size (agiqa.preprocess "native") CLIP model takes: RN50's stem and stages
# downsample by 32 with floor rounding, so a side under 31 px leaves no feature map; 32 is the bound.
NATIVE_MIN_SIDE = 32


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


class Normalize(nn.Module):
    """0..255 pixels (any dtype) -> float32 (x/255 - mean) / std, per channel, in the order of
    torchvision's ToTensor + Normalize so that results match the official pipelines bit for bit. A
    double() copy (the export's fp64 reference) computes in float64 throughout."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image.to(self.mean.dtype) / 255.0 - self.mean) / self.std


class AGIQAModel(nn.Module):
    """Common checks and attributes; subclasses implement ``_forward``."""

    uses_prompt = False
    preprocess = "resize"
    higher_is_better = True

    def __init__(self, name: str, num_outputs: int, image_size: int):
        super().__init__()
        if num_outputs not in (1, 2):
            raise ValueError(f"model {name}: num_outputs must be 1 (QUALITY) or 2 (QUALITY, ALIGNMENT), "
                             f"got {num_outputs}")
        self.name = name
        self.num_outputs = num_outputs
        self.image_size = image_size
        self.output_names: List[str] = ["QUALITY", "ALIGNMENT"][:num_outputs]

    def _check_inputs(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> None:
        if _exporting():
            return
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"model {self.name}: input IMAGE must be [B, 3, S, S], got {tuple(image.shape)}")
        if self.preprocess == "native":
            if min(image.shape[2:]) < NATIVE_MIN_SIDE:
                raise ValueError(f"model {self.name}: input IMAGE is {image.shape[2]}x{image.shape[3]}; "
                                 f"images at their own size need both sides >= {NATIVE_MIN_SIDE} px")
        elif tuple(image.shape[2:]) != (self.image_size, self.image_size):
            raise ValueError(f"model {self.name}: input IMAGE is {image.shape[2]}x{image.shape[3]}, "
                             f"the model was built for {self.image_size}x{self.image_size}")
        if self.uses_prompt:
            if tokens is None:
                raise ValueError(f"model {self.name}: input TOKENS is required (prompt-aware model)")
            if tokens.dim() != 2 or tokens.shape[1] != CONTEXT_LENGTH or tokens.shape[0] != image.shape[0]:
                raise ValueError(f"model {self.name}: input TOKENS must be [{image.shape[0]}, {CONTEXT_LENGTH}], "
                                 f"got {tuple(tokens.shape)}")
            if tokens.is_floating_point():
                raise ValueError(f"model {self.name}: input TOKENS must hold integer ids, got {tokens.dtype}")

    def forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
        self._check_inputs(image, tokens)
        if tokens is not None:
            tokens = tokens.to(torch.int64)
        return self._forward(image, tokens)

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"model {self.name} has no text tower; encode_text is only for "
                                  f"prompt-aware models (ipiqa)")


class TextAttentionPool2d(nn.Module):
    """IP-IQA's image-prompt fusion: one cross-attention whose query is the prompt's text feature and
    whose keys/values are the last-stage visual tokens plus their mean (HW+1 tokens, own positional
    embedding). ``embed_dim`` wide, ``heads`` heads, output ``output_dim``."""

    def __init__(self, grid: int, embed_dim: int, text_dim: int, heads: int, output_dim: int):
        super().__init__()
        if embed_dim % heads:
            raise ValueError(f"TextAttentionPool2d: embed_dim {embed_dim} not divisible by {heads} heads")
        self.heads = heads
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, embed_dim) / embed_dim ** 0.5)
        self.q_proj = nn.Linear(text_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, output_dim)

    def forward(self, fmap: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        x = fmap.flatten(2).transpose(1, 2)  # N,HW,C
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding
        out = attend(self.q_proj(text.unsqueeze(1)), self.k_proj(x), self.v_proj(x), self.heads)
        return self.out_proj(out[:, 0])


def split_prompt_parts(tokens: torch.Tensor, max_parts: int) -> tuple:
    """Split each tokenized prompt at its commas into stand-alone token rows.

    tokens [B, L] (SOT, ids, EOT, zeros) -> (parts [B, max_parts, L], present [B, max_parts] bool).
    Part k is re-tokenized as SOT, its ids, EOT, zeros: exactly what tokenizing the part's text alone
    gives, since CLIP's tokenizer never merges across a comma. Parts after the ``max_parts - 1``-th
    comma stay together in the last part, commas included. Written with gathers and cumulative sums
    only, so it exports to ONNX with a dynamic batch.
    """
    b, length = tokens.shape
    pos = torch.arange(length, device=tokens.device).unsqueeze(0)  # 1,L
    eot = tokens.to(torch.float32).argmax(dim=-1, keepdim=True)  # B,1
    content = (pos >= 1) & (pos < eot)
    comma = content & (tokens == COMMA_TOKEN)
    comma_i = comma.to(torch.int64)
    seg = torch.cumsum(comma_i, dim=1) - comma_i  # commas strictly before each position
    last = max_parts - 1
    separator = comma & (seg < last)  # commas inside the last part are kept as text
    member = content & ~separator
    segc = torch.clamp(seg, 0, last)
    ks = torch.arange(max_parts, device=tokens.device).reshape(1, max_parts, 1)
    counts = ((segc.unsqueeze(1) == ks) & member.unsqueeze(1)).to(torch.int64).sum(dim=-1)  # B,K
    # Part k starts after part k-1 and its comma: start_k = 1 + sum_{j<k} (count_j + 1).
    starts = 1 + torch.cumsum(counts + 1, dim=1) - (counts + 1)
    j = torch.arange(length, device=tokens.device).reshape(1, 1, length)
    src = torch.clamp(starts.unsqueeze(-1) + j - 1, 0, length - 1)  # B,K,L
    gathered = torch.gather(tokens.unsqueeze(1).expand(-1, max_parts, -1), 2, src)
    n = counts.unsqueeze(-1)
    zero = torch.zeros_like(gathered)
    parts = torch.where((j >= 1) & (j <= n), gathered, zero)
    parts = torch.where(j == 0, torch.full_like(gathered, SOT_TOKEN), parts)
    parts = torch.where(j == n + 1, torch.full_like(gathered, EOT_TOKEN), parts)
    return parts, counts > 0


class IPIQA(AGIQAModel):
    """IP-IQA (Qu, Li, Gao, ICME 2024): CLIP RN50 image branch at ``image_size`` (attention-pool
    embedding interpolated to the new grid) -> visual feature; frozen CLIP text tower -> prompt
    feature; TextAttentionPool2d fuses the prompt with the visual tokens; head on the concatenation:
    Dropout(0.5) -> Linear(2D, 2D) -> Tanh -> Dropout(0.5) -> Linear(2D, k), D = 16 * width.

    Ablation switches (Table 3 of the paper):
    - ``qa_token``: the "[QA] token": the token-embedding table is trained while the rest of the
      text tower stays frozen; False freezes the table too.
    - ``integral_prompt``: True encodes the whole prompt sentence once (the paper's model). Our
      reading of the ablation "without integral prompt": the prompt is used as its comma-separated
      parts (AGIQA-1k prompts are "object, action, place, style"), each part encoded on its own as
      "<SOT> part <EOT>" by the same text tower and the part features averaged, so the text branch
      sees keywords rather than one sentence. The paper does not spell out the implementation.
    - ``image2prompt``: the image branch starts from an Image2Prompt-pretrained checkpoint instead of
      CLIP's image tower (``build_model(image2prompt=True, image2prompt_state=...)``).

    Frozen text tower, as the official code trains it: its freeze helper sets ``requires_grad = True``
    on bare Parameters, so the text positional embedding and the text projection (77 x 512 + 512 x
    1024 = 563,712 parameters at full size) train with the image branch; the transformer, ln_final and
    (without qa_token) the token table are frozen. ``freeze_text_extras=True`` freezes those two as
    well, the whole tower but the token table, as the paper's text describes it.
    """

    uses_prompt = True

    def __init__(self, num_outputs: int = 1, image_size: int = 512, width: int = 64, text_width: int = 512,
                 text_layers: int = 12, integral_prompt: bool = True, qa_token: bool = True,
                 clip: Optional[clip_rn50.CLIPRN50] = None, max_parts: int = 8, freeze_text_extras: bool = False):
        super().__init__("ipiqa", num_outputs, image_size)
        given = clip
        clip = clip or clip_rn50.CLIPRN50(width=width, image_size=image_size, text_width=text_width,
                                          text_layers=text_layers)
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.visual = clip.visual
        self.text = clip.text
        d = self.visual.output_dim
        self.feature_dim = d
        self.text_pool = TextAttentionPool2d(image_size // 32, embed_dim=self.visual.feature_dim, text_dim=d,
                                             heads=max(1, width // 2), output_dim=d)
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(2 * d, 2 * d), nn.Tanh(), nn.Dropout(0.5),
                                  nn.Linear(2 * d, num_outputs))
        self.integral_prompt = integral_prompt
        self.qa_token = qa_token
        self.max_parts = max_parts
        self.image2prompt = False
        # Whether the text tower holds CLIP weights; official checkpoints omit the frozen ones.
        self.text_initialised = given is not None
        self.freeze_text_extras = freeze_text_extras
        for p in self.text.parameters():
            p.requires_grad = False
        self.text.token_embedding.weight.requires_grad = qa_token
        for p in (self.text.positional_embedding, self.text.text_projection):
            p.requires_grad = not freeze_text_extras

    def image_encoder(self, image: torch.Tensor) -> torch.Tensor:
        """0..255 image -> CLIP image feature [B, D] (the Image2Prompt regression output)."""
        return self.visual(self.normalize(image))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Prompt tokens [B, 77] -> text feature [B, D], honouring ``integral_prompt``."""
        tokens = tokens.to(torch.int64)
        if self.integral_prompt:
            return self.text(tokens)
        parts, present = split_prompt_parts(tokens, self.max_parts)
        feats = self.text(parts.reshape(-1, parts.shape[-1])).reshape(parts.shape[0], self.max_parts, -1)
        w = present.to(feats.dtype).unsqueeze(-1)
        mean_parts = (feats * w).sum(dim=1) / torch.clamp(w.sum(dim=1), 1.0, float(self.max_parts))
        # A prompt without any text (SOT EOT) has no parts: fall back to encoding it whole.
        return torch.where(present.any(dim=1, keepdim=True), mean_parts, self.text(tokens))

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        fmap = self.visual.forward_features(self.normalize(image))
        visual = self.visual.attnpool(fmap)
        fused = self.text_pool(fmap, self.encode_text(tokens))
        return self.head(torch.cat([visual, fused], dim=-1))


class ResNet50(AGIQAModel):
    """torchvision's ResNet-50 (ImageNet normalisation) with fc replaced by Linear(2048, k)."""

    def __init__(self, num_outputs: int = 1, image_size: int = 512, width: int = 64,
                 state: Optional[Dict[str, torch.Tensor]] = None):
        super().__init__("resnet50", num_outputs, image_size)
        from torchvision.models.resnet import Bottleneck as TVBottleneck, ResNet as TVResNet

        net = TVResNet(TVBottleneck, [3, 4, 6, 3])
        if width != 64:
            # torchvision fixes the stem at 64 channels; rebuild stem and stages at `width`.
            net.inplanes = width
            net.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            net.bn1 = nn.BatchNorm2d(width)
            net.layer1 = net._make_layer(TVBottleneck, width, 3)
            net.layer2 = net._make_layer(TVBottleneck, 2 * width, 4, stride=2)
            net.layer3 = net._make_layer(TVBottleneck, 4 * width, 6, stride=2)
            net.layer4 = net._make_layer(TVBottleneck, 8 * width, 3, stride=2)
        net.fc = nn.Identity()
        if state is not None:
            if any(k.startswith("visual.") for k in state):
                raise ValueError("model resnet50: got a CLIP state dict; resnet50 takes torchvision ImageNet "
                                 "weights (use resnet50_clip for CLIP's RN50)")
            clip_rn50.load_exact(net, {k: v for k, v in state.items() if not k.startswith("fc.")},
                                 "torchvision ResNet-50 state dict")
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.backbone = net
        self.feature_dim = 32 * width
        self.head = nn.Linear(self.feature_dim, num_outputs)

    def image_encoder(self, image: torch.Tensor) -> torch.Tensor:
        """0..255 image -> globally pooled features [B, 32 * width] (2048 at full width)."""
        return self.backbone(self.normalize(image))

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        return self.head(self.image_encoder(image))


class ResNet50CLIP(AGIQAModel):
    """ResNet50*: CLIP's RN50 image tower (attention pool included) with a Linear(1024, k) head."""

    def __init__(self, num_outputs: int = 1, image_size: int = 512, width: int = 64,
                 clip: Optional[clip_rn50.CLIPRN50] = None):
        super().__init__("resnet50_clip", num_outputs, image_size)
        visual = clip.visual if clip is not None else clip_rn50.ModifiedResNet(
            output_dim=16 * width, heads=width // 2, input_resolution=image_size, width=width)
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.visual = visual
        self.feature_dim = visual.output_dim
        self.head = nn.Linear(self.feature_dim, num_outputs)

    def image_encoder(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(self.normalize(image))

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        return self.head(self.image_encoder(image))


class CLIPIQA(AGIQAModel):
    """CLIP-IQA, zero-shot: softmax over exp(logit_scale) * cos(image, text) for the antonym pair
    ("Good photo.", "Bad photo."); the score is the probability of the first. The two text features
    are computed once at build time and kept as a buffer, so the module needs images only.

    As the authors compute it (IceClear/CLIP-IQA, ``CLIPIQAFixed`` with ``pos_embedding=False``): the
    attention pool adds no positional embedding, and each image is scored at its own size (CLIP
    mean/std, no resize): ``preprocess`` is "native" and ``image_size`` is only the side the export
    traces and checks at. ``positional_224=True`` builds the earlier variant instead: CLIP's
    positional embedding, images brought to ``image_size`` by ``resize_center_crop``."""

    def __init__(self, image_size: int, clip: clip_rn50.CLIPRN50, antonym_tokens: torch.Tensor,
                 positional_224: bool = False):
        super().__init__("clipiqa", 1, image_size)
        self.positional_224 = bool(positional_224)
        self.preprocess = "resize_center_crop" if self.positional_224 else "native"
        if not torch.is_tensor(antonym_tokens) or tuple(antonym_tokens.shape) != (2, CONTEXT_LENGTH) \
                or antonym_tokens.is_floating_point():
            raise ValueError("model clipiqa: antonym_tokens must be an integer tensor [2, 77] "
                             "(\"Good photo.\", \"Bad photo.\"), got "
                             f"{getattr(antonym_tokens, 'shape', type(antonym_tokens).__name__)}")
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.visual = clip.visual
        self.visual.attnpool.add_positional_embedding = self.positional_224
        self.feature_dim = self.visual.output_dim
        with torch.no_grad():
            text = clip.text.eval()(antonym_tokens.to(torch.int64))
            text = text / text.norm(dim=-1, keepdim=True)
        self.register_buffer("text_features", text)
        self.register_buffer("logit_scale", clip.logit_scale.detach().exp().reshape(()))
        self.head = nn.Identity()  # nothing is trained

    def image_encoder(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(self.normalize(image))

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        f = self.image_encoder(image)
        f = f / f.norm(dim=-1, keepdim=True)  # as CLIP; F.normalize's one-sided clamp traces a None
        logits = self.logit_scale * f @ self.text_features.t()
        return logits.softmax(dim=-1)[:, :1]


def _clip_for(name: str, clip_state: Optional[Dict[str, torch.Tensor]], image_size: int, width: int,
              text_width: int, text_layers: int) -> clip_rn50.CLIPRN50:
    """CLIP towers built from OpenAI weights (checked against the requested widths) or at random."""
    if clip_state is None:
        return clip_rn50.CLIPRN50(width=width, image_size=image_size, text_width=text_width,
                                  text_layers=text_layers)
    cfg = clip_rn50.rn50_config(clip_state)
    want = {"width": width, "text_width": text_width, "text_layers": text_layers}
    diff = [f"{k}={want[k]} but the weights have {cfg[k]}" for k in want if cfg[k] != want[k]]
    if diff:
        raise ValueError(f"model {name}: clip_state does not match the requested size: " + ", ".join(diff))
    return clip_rn50.load_openai_rn50(clip_state, image_size=image_size)


def build_model(name: str, num_outputs: int = 1, image_size: int = 512, width: int = 64, text_width: int = 512,
                text_layers: int = 12, clip_state: Optional[Dict[str, torch.Tensor]] = None,
                image2prompt: bool = False, integral_prompt: bool = True, qa_token: bool = True,
                seed: Optional[int] = None, *, antonym_tokens: Optional[torch.Tensor] = None,
                image2prompt_state: Optional[Dict[str, torch.Tensor]] = None,
                freeze_text_extras: bool = False, positional_224: bool = False,
                learned_prompts: Optional[torch.Tensor] = None) -> AGIQAModel:
    """Build one of MODEL_NAMES.

    clip_state: pretrained backbone weights: OpenAI's RN50 state dict (key names as in RN50.pt) for
        ipiqa / resnet50_clip / clipiqa, torchvision's ImageNet ResNet-50 state dict for resnet50.
        None initialises at random (tests, tiny exports).
    image2prompt: ipiqa only; records (``model.image2prompt``) that the image branch starts from an
        Image2Prompt checkpoint. The checkpoint is loaded here when ``image2prompt_state`` is given
        (see checkpoints.load_image_branch); otherwise the caller loads it after building, as the
        trainer does, or the weights come from a trained checkpoint anyway (export).
    antonym_tokens: clipiqa only; [2, 77] token ids of "Good photo." and "Bad photo.".
    positional_224: clipiqa only; the pre-issue-11 variant (positional embedding, fixed image_size,
        resize_center_crop) instead of the official one (no positional embedding, native size).
    learned_prompts: clipiqa_plus only; the learned context [16, W] or [2, 16, W]
        (clipiqa_plus.read_learned_prompts); None builds the unlearned prompts (tests, random exports).
    freeze_text_extras: ipiqa only; also freeze the text positional embedding and projection, which
        the official code trains (see IPIQA).
    seed: seeds the random initialisation (the global RNG state is restored afterwards).
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    if image_size <= 0 or image_size % 32:
        raise ValueError(f"model {name}: image_size {image_size} must be a positive multiple of 32")
    if width <= 0 or width % 8:
        raise ValueError(f"model {name}: width {width} must be a positive multiple of 8")
    if name != "ipiqa" and (image2prompt or image2prompt_state is not None):
        raise ValueError(f"model {name}: image2prompt applies to ipiqa only")
    if image2prompt_state is not None and not image2prompt:
        raise ValueError("model ipiqa: image2prompt_state given but image2prompt=False")
    if name != "ipiqa" and freeze_text_extras:
        raise ValueError(f"model {name}: freeze_text_extras applies to ipiqa only")
    if name != "clipiqa" and antonym_tokens is not None:
        raise ValueError(f"model {name}: antonym_tokens applies to clipiqa only")
    if name != "clipiqa" and positional_224:
        raise ValueError(f"model {name}: positional_224 applies to clipiqa only")
    if name != "clipiqa_plus" and learned_prompts is not None:
        raise ValueError(f"model {name}: learned_prompts applies to clipiqa_plus only")

    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        if name == "cnniqa":
            from .cnniqa import build_cnniqa  # cnniqa imports this module

            model: AGIQAModel = build_cnniqa(num_outputs, image_size, width, state=clip_state)
        elif name == "dbcnn":
            from .dbcnn import build_dbcnn  # dbcnn imports this module

            model = build_dbcnn(num_outputs, image_size, width, state=clip_state)
        elif name == "hyperiqa":
            from .hyperiqa import build_hyperiqa  # hyperiqa imports this module

            model = build_hyperiqa(num_outputs, image_size, width, state=clip_state)
        elif name == "resnet50":
            model = ResNet50(num_outputs, image_size, width, state=clip_state)
        elif name == "resnet50_clip":
            model = ResNet50CLIP(num_outputs, image_size, width,
                                 clip=_clip_for(name, clip_state, image_size, width, text_width, text_layers)
                                 if clip_state is not None else None)
        elif name == "clipiqa_plus":
            from .clipiqa_plus import build_clipiqa_plus  # clipiqa_plus imports this module

            model = build_clipiqa_plus(num_outputs, image_size, _clip_for(name, clip_state, image_size, width, text_width,
                                                                          text_layers), learned_prompts)
        elif name == "clipiqa":
            if num_outputs != 1:
                raise ValueError(f"model clipiqa: zero-shot quality has 1 output, not {num_outputs}")
            if antonym_tokens is None:
                raise ValueError("model clipiqa: antonym_tokens ([2, 77] ids of \"Good photo.\", \"Bad photo.\") "
                                 "is required")
            model = CLIPIQA(image_size, _clip_for(name, clip_state, image_size, width, text_width, text_layers),
                            antonym_tokens, positional_224=positional_224)
        else:
            clip = _clip_for(name, clip_state, image_size, width, text_width, text_layers)
            model = IPIQA(num_outputs, image_size, width, text_width, text_layers, integral_prompt=integral_prompt,
                          qa_token=qa_token, clip=clip, freeze_text_extras=freeze_text_extras)
            model.text_initialised = clip_state is not None
            model.image2prompt = image2prompt
            if image2prompt_state is not None:
                from .checkpoints import load_image_branch

                load_image_branch(model, image2prompt_state)
    return model
