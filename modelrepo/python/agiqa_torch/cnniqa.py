"""CNNIQA (Kang, Ye, Li, Doermann, CVPR 2014), as lidq92/CNNIQA re-implements it, scoring whole images.

Per image (``CNNIQA.forward``, also what the exported graph computes):
1. grey: Pillow's ``convert("L")``, L = (19595 R + 38470 G + 7471 B + 32768) >> 16, then / 255 (what
   lidq92's loader + ``to_tensor`` give). Computed in float32, which is exact here: every partial sum
   is an integer below 2^24 and the division by 65536 is exact.
2. patches: every full 32 x 32 tile from the top-left, stride 32 (non-overlapping); the right and
   bottom remainders are dropped. An image smaller than one patch is an error naming both sizes.
3. local contrast normalisation per patch (lidq92's ``LocalNormalization``, P = Q = 3, C = 1): mean and
   mean of squares over a 3 x 3 box window, scipy ``convolve2d(boundary="symm", mode="same")``, which
   for a 3 x 3 window repeats the edge pixel (replicate padding);
   (x - mean) / (sqrt(max(E[x^2] - mean^2, 0)) + 1).
4. conv 7 x 7 x 50 (no activation), global max pool and global min pool concatenated (100 values),
   FC 800 + ReLU, dropout 0.5, FC 800 + ReLU, FC 1: one score per patch (``patch_scores``).
5. the image score is the mean of its patch scores.

Training (train.py) is lidq92's: L1 between every patch score and its image's MOS, Adam (here AdamW
with weight decay 0, the same update) at lr 1e-4, weight decay 0, 500 epochs.

Departures from lidq92: its patch loop ``range(0, h - stride, stride)`` drops the last full row / column
of tiles when the side is a multiple of 32 (a 32 x 32 image has no patch at all); we keep every full
tile. Its ``F.dropout(h)`` is active at evaluation too (training=True is F.dropout's default); ours is
an ``nn.Dropout``, off in eval mode, so scores are deterministic.

Checkpoints: lidq92's published ``models/CNNIQA-LIVE`` and train outputs use our parameter names
(conv1, fc1, fc2, fc3); pyiqa's ``CNNIQA_koniq10k-e6f14c91.pth`` (earlier ``-fd89516f``) nests them
under "params" and has an RGB conv1 (3 input channels, no grey conversion or LCN), which
``load_cnniqa_state`` reports as a shape mismatch rather than loading a different model.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .models import AGIQAModel
from .statedicts import checkpoint_tensors, key_problems

PATCH = 32
LCN_WINDOW = 3
LCN_C = 1.0
# Pillow's ITU-R 601-2 luma in 16-bit fixed point (Convert.c, L24).
GREY_WEIGHTS = (19595.0, 38470.0, 7471.0)


def grey(image: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] 0..255 -> [B, 1, H, W] Pillow "L" grey levels / 255, in the image's float dtype
    (float32 for uint8 input)."""
    dtype = image.dtype if image.is_floating_point() else torch.float32
    x = image.to(dtype)
    y = x[:, 0:1] * GREY_WEIGHTS[0] + x[:, 1:2] * GREY_WEIGHTS[1] + x[:, 2:3] * GREY_WEIGHTS[2] + 32768.0
    return torch.floor(y / 65536.0) / 255.0


def check_patchable(h: int, w: int, what: str = "image") -> None:
    if h < PATCH or w < PATCH:
        raise ValueError(f"CNNIQA: {what} is {w}x{h} (width x height), smaller than one {PATCH}x{PATCH} patch")


def extract_patches(g: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] -> [B, P, 32, 32]: every full tile from the top-left, row by row."""
    b, _, h, w = g.shape
    nh, nw = h // PATCH, w // PATCH
    g = g[:, 0, :nh * PATCH, :nw * PATCH]
    p = g.reshape(b, nh, PATCH, nw, PATCH).permute(0, 1, 3, 2, 4)
    return p.reshape(b, nh * nw, PATCH, PATCH)


def local_normalize(p: torch.Tensor) -> torch.Tensor:
    """lidq92's LocalNormalization on [N, 1, h, w] patches (each on its own)."""
    pad = LCN_WINDOW // 2
    padded = F.pad(p, (pad, pad, pad, pad), mode="replicate")
    mean = F.avg_pool2d(padded, LCN_WINDOW, stride=1)
    sq = F.avg_pool2d(padded * padded, LCN_WINDOW, stride=1)
    std = torch.sqrt(torch.clamp(sq - mean * mean, min=0.0)) + LCN_C
    return (p - mean) / std


class CNNIQA(nn.Module):
    """The network and its image wrapper; see the module docstring. ``width`` scales the kernels and
    FC widths by width / 64 (64: the published 50 kernels and 800 nodes; 8 builds a tiny test model).
    Built through models.build_model("cnniqa"), which gives it the AGIQAModel attributes."""

    def __init__(self, width: int = 64):
        super().__init__()
        n_kers = max(1, 50 * width // 64)
        nodes = max(1, 800 * width // 64)
        self.conv1 = nn.Conv2d(1, n_kers, 7)
        self.fc1 = nn.Linear(2 * n_kers, nodes)
        self.fc2 = nn.Linear(nodes, nodes)
        self.fc3 = nn.Linear(nodes, 1)
        self.dropout = nn.Dropout(0.5)

    def score_normalized(self, p: torch.Tensor) -> torch.Tensor:
        """Normalised patches [N, 1, 32, 32] -> scores [N, 1]."""
        h = self.conv1(p)
        h = torch.cat([h.amax(dim=(2, 3)), h.amin(dim=(2, 3))], dim=1)
        h = self.dropout(F.relu(self.fc1(h)))
        h = F.relu(self.fc2(h))
        return self.fc3(h)

    def patch_scores(self, image: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] 0..255 -> [B, P] patch scores."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            check_patchable(int(image.shape[2]), int(image.shape[3]))
        p = extract_patches(grey(image).to(self.conv1.weight.dtype))  # exact in float32, so in float64 too
        b, n = p.shape[0], p.shape[1]
        q = self.score_normalized(local_normalize(p.reshape(b * n, 1, PATCH, PATCH)))
        return q.reshape(b, n)



def cnniqa_state(obj) -> Dict[str, torch.Tensor]:
    """The CNNIQA tensors of a checkpoint: lidq92's state dict (conv1/fc1/fc2/fc3), pyiqa's
    {"params": ...}, or train.py's best.pt / last.pt ({"model": ...}, names under "net.")."""
    return checkpoint_tensors(obj, "CNNIQA checkpoint")


def load_cnniqa_state(net: CNNIQA, obj, what: str = "CNNIQA checkpoint") -> None:
    """Load lidq92's or pyiqa's (or our) CNNIQA weights into ``net`` (a CNNIQA, or the model holding
    it as ``.net``); ValueError listing every missing, unexpected and mis-shaped key."""
    net = getattr(net, "net", net)
    state = cnniqa_state(obj)
    note = ""
    if "conv1.weight" in state and state["conv1.weight"].dim() == 4 and state["conv1.weight"].shape[1] == 3:
        note = " (conv1 takes 3 channels: pyiqa's RGB variant without grey conversion or local normalisation)"
    problems = key_problems(net.state_dict(), state, shape_note=note)
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))
    net.load_state_dict(state)


class CNNIQAModel(AGIQAModel):
    """CNNIQA behind the benchmark's model interface: IMAGE [B, 3, S, S] 0..255 -> QUALITY [B, 1], the
    mean of the image's patch scores. Served with the harness's "resize" at S (512 by default), so
    every image has (S / 32)^2 patches; the graph itself extracts the patches of whatever H x W it
    is given."""

    def __init__(self, num_outputs: int = 1, image_size: int = 512, width: int = 64):
        super().__init__("cnniqa", num_outputs, image_size)
        if num_outputs != 1:
            raise ValueError(f"model cnniqa: regresses quality only (1 output), not {num_outputs}")
        check_patchable(image_size, image_size, f"image_size {image_size}")
        self.net = CNNIQA(width)
        self.feature_dim = self.net.fc3.in_features

    @property
    def head(self) -> nn.Module:
        """The last FC (a property, so that its weights appear once in the state dict, under net.)."""
        return self.net.fc3

    def patch_scores(self, image: torch.Tensor) -> torch.Tensor:
        self._check_inputs(image, None)
        return self.net.patch_scores(image)

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        return self.net.patch_scores(image).mean(dim=1, keepdim=True)


def build_cnniqa(num_outputs: int = 1, image_size: int = 512, width: int = 64,
                 state: Optional[Dict[str, torch.Tensor]] = None) -> CNNIQAModel:
    """CNNIQAModel, optionally loaded from ``state`` (see load_cnniqa_state)."""
    model = CNNIQAModel(num_outputs, image_size, width)
    if state is not None:
        load_cnniqa_state(model, state)
    return model
