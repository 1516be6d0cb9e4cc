"""DBCNN (Zhang, Ma, Yan, Deng, Wang, TCSVT 2020), as zwx8981/DBCNN-PyTorch's DBCNN.py computes it.

Per image (``DBCNN.forward``, also what the exported graph computes):
1. ImageNet normalisation of the 0..255 pixels (torchvision ToTensor + Normalize, inside the module).
2. branch 1: VGG16's convolutional layers without the last max pool (torchvision ``vgg16().features[:-1]``,
   conv5_3 + ReLU, stride 16, 512 channels), ImageNet weights;
   branch 2: the S-CNN's ``features`` (the authors' SCNN.py: nine conv 3x3 + BatchNorm + ReLU layers,
   48-48-64-64-64-64-128-128-128 channels, stride 2 at layers 2, 4, 6 and 9, so stride 16 too), their
   weights pretrained on synthetic distortions (``scnn.pkl``).
3. if the two maps differ in size, the S-CNN map is resized to the VGG one, bilinear with
   align_corners=True (the authors' ``F.upsample_bilinear``). At the sides we serve (multiples of 16,
   512 by default) both maps are S/16 x S/16 and nothing is resized.
4. bilinear pooling: the outer product of the two channel vectors averaged over the H x W positions,
   [512, 128] per image, flattened to 65,536 values.
5. signed square root: both maps are post-ReLU, so every value is >= 0 and the signed root is the
   authors' ``sqrt(x + 1e-8)``; then L2 normalisation over the 65,536 values (F.normalize; the 1e-8
   terms keep the norm >= 0.0256, far above its 1e-12 floor, so a plain division is the same).
6. FC 65,536 -> 1 (kaiming-normal weights, zero bias, as the authors initialise it).

Training (train.py, RECIPES "dbcnn:1" / "dbcnn:2") is the authors' two stages, MSE loss, each a run
of its own: stage 1 trains the FC alone (both branches frozen) with SGD momentum 0.9, lr 1e-3, weight
decay 5e-4, 50 epochs; stage 2 starts from stage 1's best epoch and trains every layer with Adam,
lr 1e-5, weight decay 5e-4, 50 epochs.

Checkpoints: the authors' ``scnn.pkl`` is the state dict of a DataParallel SCNN ("module.features.N.*",
"module.projection.*", "module.classifier.*"; only features is used); their DBCNN state dicts (fc_models /
db_models ``net_params_best.pkl``) are a DataParallel DBCNN's ("module.features1.*", "module.features2.*",
"module.fc.*"); pyiqa's released ``DBCNN_<dataset>-<sha256 prefix>.pth`` files nest the same names
(features1, features2, fc) under "params"; torchvision's ``vgg16-397923af.pth`` has "features.N.*" and
"classifier.*". The loaders report missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .models import IMAGENET_MEAN, IMAGENET_STD, AGIQAModel, Normalize
from .statedicts import checkpoint_tensors, key_problems

# torchvision's VGG16 configuration "D": channels, "M" a 2x2 max pool. features[:-1] drops the last "M".
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# SCNN.py's features: (out channels, stride) of each conv 3x3 (padding 1) + BatchNorm + ReLU.
SCNN_CFG = ((48, 1), (48, 2), (64, 1), (64, 2), (64, 1), (64, 2), (128, 1), (128, 1), (128, 2))
SQRT_EPS = 1e-8


def _scale(c: int, width: int) -> int:
    return max(1, c * width // 64)


def vgg16_features(width: int = 64) -> nn.Sequential:
    """torchvision vgg16().features[:-1] (same module indices, so the same state-dict names);
    ``width`` scales the channels by width / 64."""
    layers: List[nn.Module] = []
    c_in = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            c = _scale(v, width)
            conv = nn.Conv2d(c_in, c, kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # torchvision VGG's init
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            c_in = c
    return nn.Sequential(*layers)


def scnn_features(width: int = 64) -> nn.Sequential:
    """SCNN.py's ``features`` (same module indices: conv at 3k, BatchNorm at 3k+1, ReLU at 3k+2)."""
    layers: List[nn.Module] = []
    c_in = 3
    for c, stride in SCNN_CFG:
        c = _scale(c, width)
        conv = nn.Conv2d(c_in, c, 3, stride, 1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # SCNN.py's weight_init
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        c_in = c
    return nn.Sequential(*layers)


class DBCNN(nn.Module):
    """The network on normalised images; see the module docstring. ``width`` scales every channel
    count by width / 64 (64: the published network; 8 builds a tiny test model)."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.features1 = vgg16_features(width)
        self.features2 = scnn_features(width)
        c1 = _scale(512, width)
        c2 = _scale(128, width)
        self.fc = nn.Linear(c1 * c2, 1)
        nn.init.kaiming_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def feature_maps(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Normalised [B, 3, H, W] -> (VGG conv5_3 map, S-CNN map resized to it)."""
        x1 = self.features1(x)
        x2 = self.features2(x)
        if x1.shape[2:] != x2.shape[2:]:
            x2 = F.interpolate(x2, size=(int(x1.shape[2]), int(x1.shape[3])), mode="bilinear", align_corners=True)
        return x1, x2

    @staticmethod
    def pool(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Bilinear pooling, signed square root and L2 normalisation: [B, C1*C2]."""
        b, c1, h, w = x1.shape
        c2 = x2.shape[1]
        a = x1.reshape(b, c1, h * w)
        s = x2.reshape(b, c2, h * w)
        z = torch.bmm(a, s.transpose(1, 2)) / (h * w)
        z = z.reshape(b, c1 * c2)
        z = torch.sqrt(z + SQRT_EPS)  # z >= 0 (post-ReLU maps): the signed root, the authors' epsilon
        return z / z.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(*self.feature_maps(x)))



def _tensors(obj, what: str) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint, unwrapped from {"params"/"model"/"state_dict": ...} and with one
    of statedicts.PREFIXES removed."""
    return checkpoint_tensors(obj, what)


def _load_exact(module: nn.Module, state: Dict[str, torch.Tensor], what: str) -> None:
    """load_state_dict, after listing every missing, unexpected and mis-shaped key in one ValueError."""
    problems = key_problems(module.state_dict(), state)
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))
    module.load_state_dict(state)


def load_dbcnn_state(net, obj, what: str = "DBCNN checkpoint") -> None:
    """Load a whole DBCNN: the authors' (module.features1/features2/fc), pyiqa's ({"params": ...}) or
    ours (train.py's best.pt / last.pt, names under net.) into ``net`` (a DBCNN or the model holding it
    as ``.net``)."""
    net = getattr(net, "net", net)
    _load_exact(net, _tensors(obj, what), what)


def load_scnn_state(net, obj, what: str = "S-CNN checkpoint (scnn.pkl)") -> List[str]:
    """Load the authors' scnn.pkl (a DataParallel SCNN state dict) into the S-CNN branch. Its
    projection.* and classifier.* (the distortion classifier) are not part of DBCNN and are returned
    as the ignored keys; anything else outside features.* is reported as unexpected."""
    net = getattr(net, "net", net)
    state = _tensors(obj, what)
    ignored = sorted(k for k in state if k.startswith(("projection.", "classifier.")))
    branch = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    stray = sorted(k for k in state if k not in ignored and not k.startswith("features."))
    if stray:
        raise ValueError(f"{what}: unexpected keys ({len(stray)}): " + ", ".join(stray))
    _load_exact(net.features2, branch, what + " (features.*)")
    return ignored


def load_vgg16_state(net, obj, what: str = "VGG16 checkpoint (torchvision vgg16-397923af.pth)") -> List[str]:
    """Load torchvision's ImageNet VGG16 into the VGG branch; its classifier.* is returned as ignored."""
    net = getattr(net, "net", net)
    state = _tensors(obj, what)
    ignored = sorted(k for k in state if k.startswith("classifier."))
    branch = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    stray = sorted(k for k in state if k not in ignored and not k.startswith("features."))
    if stray:
        raise ValueError(f"{what}: unexpected keys ({len(stray)}): " + ", ".join(stray))
    _load_exact(net.features1, branch, what + " (features.*)")
    return ignored


class DBCNNModel(AGIQAModel):
    """DBCNN behind the benchmark's model interface: IMAGE [B, 3, S, S] 0..255 -> QUALITY [B, 1].
    Served with the harness's "resize" at S (512 by default; the authors score each test image at its
    own size)."""

    def __init__(self, num_outputs: int = 1, image_size: int = 512, width: int = 64):
        super().__init__("dbcnn", num_outputs, image_size)
        if num_outputs != 1:
            raise ValueError(f"model dbcnn: regresses quality only (1 output), not {num_outputs}")
        if image_size < 16:
            raise ValueError(f"model dbcnn: image_size {image_size} leaves no conv5_3 map (stride 16)")
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.net = DBCNN(width)
        self.feature_dim = self.net.fc.in_features

    @property
    def head(self) -> nn.Module:
        return self.net.fc

    def freeze_branches(self) -> None:
        """Stage 1 of the authors' recipe: only the FC trains."""
        for p in list(self.net.features1.parameters()) + list(self.net.features2.parameters()):
            p.requires_grad_(False)

    def feature_maps(self, image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        self._check_inputs(image, None)
        return self.net.feature_maps(self.normalize(image).to(self.net.fc.weight.dtype))

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        return self.net(self.normalize(image).to(self.net.fc.weight.dtype))


def build_dbcnn(num_outputs: int = 1, image_size: int = 512, width: int = 64,
                state: Optional[Dict[str, torch.Tensor]] = None) -> DBCNNModel:
    """DBCNNModel, optionally loaded from a whole-DBCNN ``state`` (see load_dbcnn_state)."""
    model = DBCNNModel(num_outputs, image_size, width)
    if state is not None:
        load_dbcnn_state(model, state)
    return model
