"""HyperIQA (Su, Yan, Zhu, Zhang, Ge, Sun, Zhang, CVPR 2020), as SSL92/hyperIQA builds it, scoring
whole images by 25 deterministic crops.

Per 224 x 224 crop (``HyperNet.forward`` + ``target_forward``), the authors' ``HyperNet(16, 112, 224,
112, 56, 28, 14, 7)``:
1. ImageNet normalisation, torchvision's ResNet-50 (stride on the 3 x 3 conv, as theirs) -> the four
   stage outputs (256 x 56^2, 512 x 28^2, 1024 x 14^2, 2048 x 7^2).
2. local distortion aware (LDA) modules, one per stage: 1 x 1 conv (no bias) to 16 / 32 / 64 channels,
   7 x 7 average pool, stride 7, flattened, FC to 16 values; the last stage is pooled directly and
   FC'd to 224 - 3 * 16 = 176 values. Concatenated: the target network's input vector (224).
3. hyper network on the last stage: 1 x 1 convs 2048 -> 1024 -> 512 -> 112, each + ReLU (the content
   feature, 112 x 7 x 7). Target FC weights: 3 x 3 convs (padding 1) to 512 / 128 / 32 / 8 channels,
   whose [C, 7, 7] outputs are read, channel-major, as the [112, 224], [56, 112], [28, 56], [14, 28]
   weight matrices (the authors' ``view``); the last FC's weights [1, 14] and every bias come from FCs
   on the globally average-pooled content feature.
4. target network: FC 224 -> 112 -> 56 -> 28 -> 14, each + sigmoid, then FC 14 -> 1: the crop's score.

Per image (``HyperIQAModel``, also what the exported graph computes): the image is the contract's
IMAGE [B, 3, S, S] (S = 512 by default, the harness's "resize"); the score is the mean over 25 crops
224 x 224 whose top-left corners are the 5 x 5 grid ``crop_offsets(S)`` x ``crop_offsets(S)``,
offset_k = (k * (S - 224)) // 4 for k = 0..4 (0, 72, 144, 216, 288 at S = 512): the first and last
crops touch the image's borders, the rest are evenly spaced. In training mode the model scores one
crop per image at a uniformly random position instead (the authors' RandomCrop; torch's global RNG,
which the trainer reseeds per epoch). S < 224 is an error naming both sizes.

Training (train.py RECIPES) is the authors' train_test_IQA.py defaults: L1 loss, Adam with L2 weight
decay 5e-4, lr 2e-5 for the backbone and the LDA modules (their ``res``), 10x for the hyper network;
their 16 epochs over 25 random crops per image become 400 epochs of one random crop per image, batch
96 (the same crops seen and steps taken).

Departures: the authors test on 25 random crops (RandomCrop) of the image resized to 512 x 384 (height
x width) for KonIQ-10k; we take 25 fixed grid crops of the square S x S image the contract carries.
Their solver divides the hyper network's lr by 10 every 6 epochs, drops the 10x after epoch 9 and
rebuilds Adam (resetting its moments) each epoch; we keep both lrs constant and one Adam.

Checkpoints (``load_hyperiqa_state``): the authors' ``koniq_pretrained.pkl`` is their HyperNet's state
dict, whose names (res.*, conv1.*, fc1w_conv.* ... fc5b_fc.*) are ours under "net."; pyiqa's
``HyperIQA_resnet50_koniq10k`` weights (pyiqa/archs/hypernet_arch.py: base_model.* from timm's
ResNet-50, lda_modules.*, fc_w_modules.*, fc_b_modules.*, conv1.*) are renamed to ours.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .models import IMAGENET_MEAN, IMAGENET_STD, AGIQAModel, Normalize
from .statedicts import checkpoint_tensors, key_problems

CROP = 224
GRID = 5  # GRID x GRID crops per image
FEATURE_SIZE = 7  # the last stage's side at 224 px
LDA_OUT = 16
HYPER_IN = 112
TARGET_IN = 224
TARGET_FC = (112, 56, 28, 14)


def crop_offsets(size: int) -> List[int]:
    """The GRID evenly spaced crop offsets along a side of ``size`` px: (k * (size - 224)) // 4."""
    check_croppable(size, size)
    return [k * (size - CROP) // (GRID - 1) for k in range(GRID)]


def crop_positions(size: int) -> List[Tuple[int, int]]:
    """(top, left) of the 25 crops, row by row from the top-left."""
    offs = crop_offsets(size)
    return [(top, left) for top in offs for left in offs]


def check_croppable(h: int, w: int, what: str = "image") -> None:
    if h < CROP or w < CROP:
        raise ValueError(f"HyperIQA: {what} is {w}x{h} (width x height), smaller than its {CROP}x{CROP} crops")


class Backbone(nn.Module):
    """The authors' ResNetBackbone: torchvision's ResNet-50 stem and stages (``width`` / 64 of the
    published channels) and the four LDA modules. forward -> (last stage, target input vector)."""

    def __init__(self, width: int = 64):
        super().__init__()
        from torchvision.models.resnet import Bottleneck, ResNet

        net = ResNet(Bottleneck, [3, 4, 6, 3])
        if width != 64:
            net.inplanes = width
            net.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            net.bn1 = nn.BatchNorm2d(width)
            net.layer1 = net._make_layer(Bottleneck, width, 3)
            net.layer2 = net._make_layer(Bottleneck, 2 * width, 4, stride=2)
            net.layer3 = net._make_layer(Bottleneck, 4 * width, 6, stride=2)
            net.layer4 = net._make_layer(Bottleneck, 8 * width, 3, stride=2)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(net, name))
        chans = [4 * width, 8 * width, 16 * width, 32 * width]
        lda = [max(1, 16 * width // 64), max(1, 32 * width // 64), max(1, 64 * width // 64)]
        cells = [64, 16, 4]  # (56 / 7)^2, (28 / 7)^2, (14 / 7)^2
        for i in range(3):
            setattr(self, f"lda{i + 1}_pool", nn.Sequential(nn.Conv2d(chans[i], lda[i], 1, bias=False),
                                                            nn.AvgPool2d(7, stride=7)))
            setattr(self, f"lda{i + 1}_fc", nn.Linear(lda[i] * cells[i], LDA_OUT))
        self.lda4_pool = nn.AvgPool2d(7, stride=7)
        self.lda4_fc = nn.Linear(chans[3], TARGET_IN - 3 * LDA_OUT)
        self.out_channels = chans[3]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        v1 = self.lda1_fc(self.lda1_pool(x).flatten(1))
        x = self.layer2(x)
        v2 = self.lda2_fc(self.lda2_pool(x).flatten(1))
        x = self.layer3(x)
        v3 = self.lda3_fc(self.lda3_pool(x).flatten(1))
        x = self.layer4(x)
        v4 = self.lda4_fc(self.lda4_pool(x).flatten(1))
        return x, torch.cat([v1, v2, v3, v4], dim=1)


class HyperNet(nn.Module):
    """Backbone + hyper network (names as the authors'); see the module docstring."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.res = Backbone(width)
        c = self.res.out_channels
        self.conv1 = nn.Sequential(nn.Conv2d(c, c // 2, 1), nn.ReLU(), nn.Conv2d(c // 2, c // 4, 1), nn.ReLU(),
                                   nn.Conv2d(c // 4, HYPER_IN, 1), nn.ReLU())
        sizes = (TARGET_IN,) + TARGET_FC
        for i in range(4):
            setattr(self, f"fc{i + 1}w_conv",
                    nn.Conv2d(HYPER_IN, sizes[i] * sizes[i + 1] // FEATURE_SIZE ** 2, 3, padding=1))
            setattr(self, f"fc{i + 1}b_fc", nn.Linear(HYPER_IN, sizes[i + 1]))
        self.fc5w_fc = nn.Linear(HYPER_IN, TARGET_FC[-1])
        self.fc5b_fc = nn.Linear(HYPER_IN, 1)

    def hyper_modules(self) -> List[nn.Module]:
        """What the authors give 10x the lr: everything but ``res``."""
        return [m for n, m in self.named_children() if n != "res"]

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Normalised crops [N, 3, 224, 224] -> the target input vector [N, 224] ("target_in_vec") and the
        target network's weights "w1".."w5" ([N, out, in]) and biases "b1".."b5" ([N, out])."""
        fmap, vec = self.res(x)
        feat = self.conv1(fmap)  # N, 112, 7, 7
        n = feat.shape[0]
        pooled = feat.mean(dim=(2, 3))
        sizes = (TARGET_IN,) + TARGET_FC
        out = {"target_in_vec": vec}
        for i in range(4):
            w = getattr(self, f"fc{i + 1}w_conv")(feat)
            out[f"w{i + 1}"] = w.reshape(n, sizes[i + 1], sizes[i])
            out[f"b{i + 1}"] = getattr(self, f"fc{i + 1}b_fc")(pooled)
        out["w5"] = self.fc5w_fc(pooled).reshape(n, 1, TARGET_FC[-1])
        out["b5"] = self.fc5b_fc(pooled)
        return out


def target_forward(p: Dict[str, torch.Tensor]) -> torch.Tensor:
    """The target network on HyperNet's output: [N] scores."""
    x = p["target_in_vec"]
    for i in range(1, 6):
        x = torch.bmm(p[f"w{i}"], x.unsqueeze(-1)).squeeze(-1) + p[f"b{i}"]
        if i < 5:
            x = torch.sigmoid(x)
    return x[:, 0]


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


class HyperIQAModel(AGIQAModel):
    """HyperIQA behind the benchmark's model interface: IMAGE [B, 3, S, S] 0..255 -> QUALITY [B, 1], the
    mean score of the 25 grid crops (one random crop per image in training mode)."""

    def __init__(self, num_outputs: int = 1, image_size: int = 512, width: int = 64):
        super().__init__("hyperiqa", num_outputs, image_size)
        if num_outputs != 1:
            raise ValueError(f"model hyperiqa: regresses quality only (1 output), not {num_outputs}")
        check_croppable(image_size, image_size, f"image_size {image_size}")
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.net = HyperNet(width)
        self.positions = crop_positions(image_size)
        self.feature_dim = TARGET_IN

    @property
    def head(self) -> nn.Module:
        """The hyper network (10x lr); a property, so its weights appear once in the state dict."""
        return nn.ModuleList(self.net.hyper_modules())

    def score_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Normalised crops [N, 3, 224, 224] -> [N] scores."""
        return target_forward(self.net(crops))

    def crops(self, image: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] -> the normalised grid crops [B, 25, 3, 224, 224]."""
        x = self.normalize(image).to(self.net.fc5b_fc.weight.dtype)
        return torch.stack([x[:, :, t:t + CROP, l:l + CROP] for t, l in self.positions], dim=1)

    def crop_scores(self, image: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] -> [B, 25] grid-crop scores."""
        c = self.crops(image)
        b = c.shape[0]
        return self.score_crops(c.reshape(b * len(self.positions), 3, CROP, CROP)).reshape(b, len(self.positions))

    def _forward(self, image: torch.Tensor, tokens: Optional[torch.Tensor]) -> torch.Tensor:
        if self.training and not _exporting():
            x = self.normalize(image).to(self.net.fc5b_fc.weight.dtype)
            h, w = x.shape[2], x.shape[3]
            tops = torch.randint(0, h - CROP + 1, (x.shape[0],)).tolist()
            lefts = torch.randint(0, w - CROP + 1, (x.shape[0],)).tolist()
            c = torch.stack([x[i, :, t:t + CROP, l:l + CROP] for i, (t, l) in enumerate(zip(tops, lefts))])
            return self.score_crops(c).unsqueeze(1)
        return self.crop_scores(image).mean(dim=1, keepdim=True)



def _pyiqa_to_ours(k: str) -> str:
    """pyiqa's hypernet_arch names -> the authors' (ours under net.)."""
    if k.startswith("base_model."):
        return "res." + k[len("base_model."):]
    m = re.match(r"lda_modules\.(\d)\.(\d)\.(weight|bias)$", k)
    if m:
        i, j, p = int(m.group(1)), int(m.group(2)), m.group(3)
        if i < 3:
            return f"res.lda{i + 1}_pool.0.{p}" if j == 0 else (f"res.lda{i + 1}_fc.{p}" if j == 3 else k)
        return f"res.lda4_fc.{p}" if j == 2 else k
    m = re.match(r"fc_w_modules\.(\d)\.(?:(\d)\.)?(weight|bias)$", k)
    if m:
        i = int(m.group(1))
        if i < 4 and m.group(2) is None:
            return f"fc{i + 1}w_conv.{m.group(3)}"
        if i == 4 and m.group(2) == "2":
            return f"fc5w_fc.{m.group(3)}"
        return k
    m = re.match(r"fc_b_modules\.(\d)\.2\.(weight|bias)$", k)
    if m:
        return f"fc{int(m.group(1)) + 1}b_fc.{m.group(2)}"
    return k


def hyperiqa_state(obj) -> Dict[str, torch.Tensor]:
    """The HyperNet tensors of a checkpoint, in the authors' names: their koniq_pretrained.pkl, pyiqa's
    weights (bare or under "params" / "state_dict"), or train.py's best.pt / last.pt ({"model": ...})."""
    out = checkpoint_tensors(obj, "HyperIQA checkpoint")
    if any(k.startswith(("base_model.", "lda_modules.", "fc_w_modules.", "fc_b_modules.")) for k in out):
        out = {_pyiqa_to_ours(k): v for k, v in out.items()}
    return out


def load_hyperiqa_state(model: nn.Module, obj, what: str = "HyperIQA checkpoint") -> None:
    """Load the authors', pyiqa's or our HyperIQA weights into ``model`` (a HyperIQAModel or its
    HyperNet); ValueError listing every missing, unexpected and mis-shaped key. BatchNorm's
    num_batches_tracked may be absent (older checkpoints; it does not affect scores)."""
    net = getattr(model, "net", model)
    state = hyperiqa_state(obj)
    own = net.state_dict()
    problems = key_problems(own, state, optional_suffixes=("num_batches_tracked",))
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))
    net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)


def build_hyperiqa(num_outputs: int = 1, image_size: int = 512, width: int = 64,
                   state: Optional[Dict[str, torch.Tensor]] = None) -> HyperIQAModel:
    """HyperIQAModel, optionally loaded from ``state`` (see load_hyperiqa_state)."""
    model = HyperIQAModel(num_outputs, image_size, width)
    if state is not None and "layer1.0.conv1.weight" in state and not any(k.startswith("res.") for k in state):
        load_torchvision_backbone(model, state)
    elif state is not None:
        load_hyperiqa_state(model, state)
    return model


def load_torchvision_backbone(model: HyperIQAModel, state: Dict[str, torch.Tensor]) -> None:
    """torchvision's ImageNet ResNet-50 state dict into the backbone, as the authors start (fc.* dropped,
    the LDA modules and the hyper network stay at random)."""
    res = model.net.res
    want = {k: v for k, v in res.state_dict().items() if not k.startswith("lda")}
    got = {k: v for k, v in state.items() if torch.is_tensor(v) and not k.startswith("fc.")}
    missing = sorted(k for k in want if k not in got and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in got if k not in want)
    shapes = sorted(f"{k}: got {tuple(got[k].shape)}, want {tuple(want[k].shape)}"
                    for k in got if k in want and tuple(got[k].shape) != tuple(want[k].shape))
    problems = ([f"missing keys ({len(missing)}): " + ", ".join(missing)] if missing else []) + \
        ([f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected)] if unexpected else []) + \
        (["shape mismatches: " + "; ".join(shapes)] if shapes else [])
    if problems:
        raise ValueError("model hyperiqa: torchvision ResNet-50 state dict: " + "; ".join(problems))
    res.load_state_dict({k: v.to(want[k].dtype) for k, v in got.items()}, strict=False)
