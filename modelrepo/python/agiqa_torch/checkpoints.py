"""Loading checkpoints into our models: official IP-IQA checkpoints, Image2Prompt image branches, and
our own training checkpoints.

Official IP-IQA layout (github Coobiw/IP-IQA, module ``IPIQA``): ``resnet50.*`` is CLIP's image
tower with its attention pool moved out to ``attnpool.*``; the text tower is split into ``wte``
(token embedding), ``txt_pos`` (positional embedding), ``txt_model.*`` (the transformer),
``ln_final.*`` and ``text_projection``; the fusion is ``txt_attnpool.positional_embedding`` and
``txt_attnpool.cross_attn.{q,k,v,out}_proj.*``; the MLP head is ``head.dense.*`` / ``head.out_proj.*``.
Its trainer saves ``{"model": state_dict, ...}`` and drops every parameter that does not require
grad, so the frozen text transformer and ln_final are usually absent: they must then come from
CLIP's RN50 weights given to ``build_model(clip_state=...)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .clip_rn50 import interpolate_pos_embedding, load_exact

# (official prefix, our prefix), longest first so that the most specific rule wins.
_OFFICIAL_PREFIXES: Tuple[Tuple[str, str], ...] = (
    ("resnet50.attnpool.", "visual.attnpool."),
    ("txt_attnpool.cross_attn.", "text_pool."),
    ("txt_attnpool.", "text_pool."),
    ("head.out_proj.", "head.4."),
    ("head.dense.", "head.1."),
    ("resnet50.", "visual."),
    ("attnpool.", "visual.attnpool."),
    ("txt_model.", "text.transformer."),
    ("transformer.", "text.transformer."),
    ("ln_final.", "text.ln_final."),
)
_OFFICIAL_EXACT = {
    "wte.weight": "text.token_embedding.weight",
    "token_embedding.weight": "text.token_embedding.weight",
    "txt_pos": "text.positional_embedding",
    "positional_embedding": "text.positional_embedding",
    "text_projection": "text.text_projection",
}
# Ours -> official, for writing checkpoints the official code can read (and for tests).
_OURS_TO_OFFICIAL: Tuple[Tuple[str, str], ...] = (
    ("visual.attnpool.", "attnpool."),
    ("visual.", "resnet50."),
    ("text_pool.positional_embedding", "txt_attnpool.positional_embedding"),
    ("text_pool.", "txt_attnpool.cross_attn."),
    ("head.1.", "head.dense."),
    ("head.4.", "head.out_proj."),
    ("text.token_embedding.weight", "wte.weight"),
    ("text.positional_embedding", "txt_pos"),
    ("text.transformer.", "txt_model."),
    ("text.ln_final.", "ln_final."),
    ("text.text_projection", "text_projection"),
)


@dataclass
class LoadReport:
    """What a load did: ``loaded`` model keys taken from the checkpoint, ``kept`` model keys the
    checkpoint did not have (left as they were), ``ignored`` checkpoint keys not used (strict=False)."""

    loaded: List[str] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)


def unwrap_state_dict(obj, what: str = "checkpoint") -> Dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint: unwraps {"model": ...} / {"state_dict": ...} and strips
    DataParallel / DDP "module." prefixes."""
    for _ in range(3):
        if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
            inner = obj.get("model", obj.get("state_dict"))
            if isinstance(inner, dict):
                obj = inner
                continue
        break
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected a state dict, got {type(obj).__name__}")
    bad = sorted(str(k) for k, v in obj.items() if not torch.is_tensor(v))
    if bad:
        raise ValueError(f"{what}: entries that are not tensors (no 'model'/'state_dict' wrapper found): "
                         + ", ".join(bad))
    out = {}
    for k, v in obj.items():
        while k.startswith("module."):
            k = k[len("module."):]
        out[k] = v
    return out


def official_to_ours(key: str) -> Optional[str]:
    """Our name for an official IP-IQA key, or None when it has no counterpart."""
    if key in _OFFICIAL_EXACT:
        return _OFFICIAL_EXACT[key]
    for old, new in _OFFICIAL_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    return None


def to_official_names(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an IPIQA state dict of ours to the official implementation's key names."""
    out = {}
    for k, v in state_dict.items():
        for ours, official in _OURS_TO_OFFICIAL:
            if k == ours or (ours.endswith(".") and k.startswith(ours)):
                out[official + k[len(ours):]] = v
                break
        else:
            raise ValueError(f"IPIQA key {k!r} has no official counterpart")
    return out


def _as_float32(v: torch.Tensor) -> torch.Tensor:
    v = v.detach()
    return v.to(torch.float32) if v.is_floating_point() else v


def _fail(what: str, problems: List[str]) -> None:
    if problems:
        raise ValueError(f"{what}: " + " | ".join(problems))


def _apply(model: nn.Module, state: Dict[str, torch.Tensor], what: str, optional_prefixes: Tuple[str, ...],
           strict: bool, extra_unexpected: List[str]) -> LoadReport:
    own = model.state_dict()
    unexpected = sorted(extra_unexpected + [k for k in state if k not in own])
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked")
                     and not k.startswith(optional_prefixes))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
                    for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape))
    problems = []
    if strict and missing:
        problems.append(f"missing keys ({len(missing)}): " + ", ".join(missing))
    if strict and unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): " + "; ".join(shapes))
    _fail(what, problems)
    use = {k: _as_float32(v) for k, v in state.items() if k in own}
    model.load_state_dict(use, strict=False)
    return LoadReport(loaded=sorted(use), kept=sorted(k for k in own if k not in use), ignored=unexpected)


def load_official_ipiqa(model: nn.Module, state_dict, strict: bool = True) -> LoadReport:
    """Load a checkpoint saved by the official IP-IQA code into our IPIQA model.

    Accepts the raw state dict or the trainer's {"model": ...} wrapper, with or without "module."
    prefixes. Key names are mapped (see the module docstring); CLIP-style text names
    (token_embedding, positional_embedding, transformer.*) are accepted too. With ``strict``, any
    checkpoint key without a place in the model and any missing image-branch / fusion / head key is
    a ValueError listing all of them, sorted. Text-tower keys may be absent (the official trainer
    drops frozen parameters) provided the model's text tower holds CLIP weights. Shape mismatches
    (e.g. a checkpoint trained at another resolution) are always an error.
    """
    if getattr(model, "name", None) != "ipiqa":
        got = getattr(model, "name", type(model).__name__)
        raise ValueError(f"load_official_ipiqa: model must be ipiqa, got {got}")
    src = unwrap_state_dict(state_dict, "official IP-IQA checkpoint")
    mapped: Dict[str, torch.Tensor] = {}
    origin: Dict[str, str] = {}
    unmapped, dupes = [], []
    for k, v in src.items():
        ours = official_to_ours(k)
        if ours is None:
            unmapped.append(k)
            continue
        if ours in mapped:
            dupes.append(f"{origin[ours]} and {k} both map to {ours}")
            continue
        mapped[ours], origin[ours] = v, k
    _fail("official IP-IQA checkpoint", [f"duplicate keys: {'; '.join(sorted(dupes))}"] if dupes else [])
    # Report unexpected keys under the checkpoint's own names.
    own = model.state_dict()
    extra = [origin[k] for k in mapped if k not in own]
    mapped = {k: v for k, v in mapped.items() if k in own}
    report = _apply(model, mapped, "official IP-IQA checkpoint", ("text.",), strict, unmapped + extra)
    absent_text = [k for k in report.kept if k.startswith("text.")]
    if strict and absent_text and not getattr(model, "text_initialised", False):
        raise ValueError("official IP-IQA checkpoint lacks the text tower (" + ", ".join(absent_text)
                         + "): the official trainer drops frozen parameters; build the model with "
                         "clip_state=<RN50 weights> so they come from CLIP")
    return report


def load_image_branch(model: nn.Module, state_dict) -> LoadReport:
    """Load an image branch (e.g. an Image2Prompt checkpoint) into ``model.visual``.

    Accepts a whole model's state dict (keys ``visual.*``; other keys are ignored), the official
    layout (``resnet50.*`` + ``attnpool.*``) or a bare ModifiedResNet state dict. The attention-pool
    positional embedding is interpolated when the checkpoint's grid differs from the model's."""
    visual = getattr(model, "visual", None)
    if visual is None:
        got = getattr(model, "name", type(model).__name__)
        raise ValueError(f"load_image_branch: model {got} has no CLIP image branch")
    src = unwrap_state_dict(state_dict, "image-branch checkpoint")
    if any(k.startswith("visual.") for k in src):
        branch = {k[len("visual."):]: v for k, v in src.items() if k.startswith("visual.")}
    elif any(k.startswith("resnet50.") for k in src):
        branch = {}
        for k, v in src.items():
            ours = official_to_ours(k)
            if ours is not None and ours.startswith("visual."):
                branch[ours[len("visual."):]] = v
    else:
        branch = dict(src)
    key = "attnpool.positional_embedding"
    if key in branch:
        branch[key] = interpolate_pos_embedding(branch[key].to(torch.float32), visual.attnpool.grid)
    branch = {k: _as_float32(v) for k, v in branch.items()}
    load_exact(visual, branch, "image-branch checkpoint")
    return LoadReport(loaded=sorted("visual." + k for k in branch))


def load_model_state(model: nn.Module, state_dict, strict: bool = True) -> LoadReport:
    """Load a checkpoint of ours (keys as in ``model.state_dict()``) or, for ipiqa, an official one."""
    if getattr(model, "name", None) == "cnniqa":  # ours, lidq92's and pyiqa's names
        from .cnniqa import load_cnniqa_state

        load_cnniqa_state(model, state_dict, "checkpoint for model cnniqa")
        return LoadReport(loaded=sorted(model.state_dict()))
    if getattr(model, "name", None) == "dbcnn":  # ours, the authors' (DataParallel) and pyiqa's names
        from .dbcnn import load_dbcnn_state

        load_dbcnn_state(model, state_dict, "checkpoint for model dbcnn")
        return LoadReport(loaded=sorted(model.state_dict()))
    if getattr(model, "name", None) == "hyperiqa":  # ours, the authors' and pyiqa's names
        from .hyperiqa import load_hyperiqa_state

        load_hyperiqa_state(model, state_dict, "checkpoint for model hyperiqa")
        return LoadReport(loaded=sorted(model.state_dict()))
    src = unwrap_state_dict(state_dict)
    own = model.state_dict()
    if getattr(model, "name", None) == "ipiqa" and src and not any(k in own for k in src):
        return load_official_ipiqa(model, src, strict=strict)
    name = getattr(model, "name", type(model).__name__)
    return _apply(model, src, f"checkpoint for model {name}", (), strict, [])


# The format image2prompt.py writes and train --init-image2prompt reads.
I2P_FORMAT = "agiqa-image2prompt-v1"


def read_image2prompt_checkpoint(path: str) -> dict:
    """An Image2Prompt checkpoint (image2prompt.py's image2prompt.pt), checked to be one."""
    if not os.path.isfile(path):
        raise FileNotFoundError("image2prompt checkpoint %s not found" % path)
    ckpt = torch.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or ckpt.get("format") != I2P_FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError("%s is not an image2prompt checkpoint (format %r, want %r)" % (path, got, I2P_FORMAT))
    return ckpt
