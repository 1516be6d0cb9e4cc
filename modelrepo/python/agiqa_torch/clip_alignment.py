"""Table 2's CLIP-based alignment models: CLIPScore, HPS v1, HPS v2 / v2.1 and PickScore.

Each maps (0..255 image at 224 x 224, CLIP BPE tokens [77]) to one ALIGNMENT score, computed as its
authors compute it (image and text features L2-normalised, c = their dot product):
- ``clipscore`` (Hessel et al., EMNLP 2021; jmhessel/clipscore): OpenAI ViT-B/32, the text
  "A photo depicts " + prompt, score 2.5 * max(c, 0);
- ``hpsv1`` (Wu et al., ICCV 2023; tgxs002/align_sd ``evaluate_hps.py``): OpenAI ViT-L/14 loaded
  with ``hpc.pth``'s ``state_dict``, score c;
- ``hpsv2`` / ``hpsv21`` (Wu et al., 2023; tgxs002/HPSv2 ``score.py``): open_clip ViT-H-14 (exact
  GELU) loaded with ``HPS_v2(.1)_compressed.pt``'s ``state_dict``, score c (no temperature);
- ``pickscore`` (Kirstain et al., NeurIPS 2023; the PickScore_v1 model card): transformers
  ``CLIPModel`` ViT-H/14, score exp(logit_scale) * c.
Images are normalised with CLIP's mean and std inside the graph.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Optional

import torch

from . import clip_vit
from .alignment import AlignmentModel
from .clip_rn50 import CLIP_MEAN, CLIP_STD
from .models import Normalize
from .safetensors_read import is_safetensors, read_safetensors
from .statedicts import checkpoint_tensors

IMAGE_SIZE = 224


class CLIPAlignment(AlignmentModel):
    """CLIP towers + a score of the cosine ``c`` between image and prompt; subclasses pick the score."""

    checkpoint_layout = "openai"
    clip_config = "ViT-B-32"

    def __init__(self, name: str, clip: clip_vit.CLIPViT):
        super().__init__(name, clip.config.image_size)
        self.normalize = Normalize(CLIP_MEAN, CLIP_STD)
        self.clip = clip
        self.feature_dim = clip.config.embed_dim

    def cosine(self, image: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """[B, 1] cosine between each image's and its prompt's features."""
        f = self.clip.encode_image(self.normalize(image))
        t = self.clip.encode_text(tokens)
        # x / ||x|| as the authors' code writes it (F.normalize's clamp traces an extra input).
        f = f / f.norm(dim=-1, keepdim=True)
        t = t / t.norm(dim=-1, keepdim=True)
        return (f * t).sum(dim=-1, keepdim=True)

    def score(self, c: torch.Tensor) -> torch.Tensor:
        return c

    def _align(self, image: torch.Tensor, tokens: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return self.score(self.cosine(image, tokens))


class CLIPScore(CLIPAlignment):
    prompt_prefix = "A photo depicts "
    clip_config = "ViT-B-32"
    weight = 2.5  # clipscore.py's w

    def score(self, c: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.clamp(c, min=0.0)


class HPSv1(CLIPAlignment):
    clip_config = "ViT-L-14"


class HPSv2(CLIPAlignment):
    clip_config = "ViT-H-14"
    checkpoint_layout = "open_clip"
    # HPSv2's score.py preprocesses with its open_clip's image_transform(..., resize_longest_max=True):
    # ResizeMaxSize (long side to 224, black padding), not CLIP's short-side resize and centre crop.
    preprocess = "resize_pad"


class PickScore(CLIPAlignment):
    clip_config = "ViT-H-14"
    checkpoint_layout = "hf"

    def score(self, c: torch.Tensor) -> torch.Tensor:
        return self.clip.logit_scale.exp() * c


ALIGNMENT_CLASSES: Dict[str, type] = {
    "clipscore": CLIPScore, "hpsv1": HPSv1, "hpsv2": HPSv2, "hpsv21": HPSv2, "pickscore": PickScore,
}
# The published file each model's weights come from (the fetch asset names in modelrepo/fetch).
CHECKPOINTS = {
    "clipscore": "ViT-B-32.pt (OpenAI CLIP)", "hpsv1": "hpc.pth (HPS v1)",
    "hpsv2": "HPS_v2_compressed.pt", "hpsv21": "HPS_v2.1_compressed.pt",
    "pickscore": "PickScore_v1 model.safetensors",
}


def config_for(name: str, tiny: bool = False) -> clip_vit.ViTConfig:
    """The tower configuration of alignment model ``name`` (tiny: small widths, same code path)."""
    cls = _class(name)
    return clip_vit.tiny_config(cls.clip_config) if tiny else clip_vit.CONFIGS[cls.clip_config]


def _class(name: str) -> type:
    if name not in ALIGNMENT_CLASSES:
        raise ValueError(f"unknown CLIP alignment model {name!r}; known: {', '.join(ALIGNMENT_CLASSES)}")
    return ALIGNMENT_CLASSES[name]


def build_alignment(name: str, tiny: bool = False, state: Optional[Dict[str, torch.Tensor]] = None,
                    seed: Optional[int] = None) -> AlignmentModel:
    """Alignment model ``name`` (one of ALIGNMENT_CLASSES), in eval mode.

    state: the published weights, as a state dict in the model's own layout (``read_checkpoint``
        unwraps files); None initialises at random (tests, tiny exports). ``tiny`` selects the small
        widths, for a state dict of those widths as well.
    seed: seeds the random initialisation (the global RNG state is restored afterwards).
    """
    cls = _class(name)
    cfg = config_for(name, tiny)
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        if state is None:
            clip = clip_vit.CLIPViT(cfg)
        else:
            what = f"model {name}: checkpoint ({CHECKPOINTS[name]}, {cls.checkpoint_layout} layout)"
            clip = clip_vit.load_clip_vit(checkpoint_tensors(state, what), cfg, cls.checkpoint_layout, what)
    return cls(name, clip).eval()


def read_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """The tensors of a published checkpoint file: a safetensors file, an OpenAI TorchScript archive
    (``ViT-B-32.pt``), or a ``torch.save`` file (``hpc.pth``, ``HPS_v2_compressed.pt``,
    ``pytorch_model.bin``), unwrapped from ``{"state_dict": ...}`` and a ``module.`` prefix."""
    if is_safetensors(path):
        return read_safetensors(path)
    try:
        return dict(torch.jit.load(path, map_location="cpu").state_dict())
    except RuntimeError as jit_err:
        try:
            obj = torch.load(path, map_location="cpu")
        except Exception as err:  # noqa: BLE001 - report both attempts
            raise ValueError(f"{path}: not a safetensors file, a TorchScript archive ({jit_err}) "
                             f"or a torch.save file ({err})") from err
    return checkpoint_tensors(obj, path)

