"""HyperIQA: the hyper and target networks against a hand computation, the crop grid, checkpoint
names, training and export."""

import json
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agiqa_torch import export as E
from agiqa_torch import hyperiqa as H
from agiqa_torch import train
from agiqa_torch.models import IMAGENET_MEAN, IMAGENET_STD, build_model
from test_data import make_dataset, write_splits

torch.set_num_threads(2)


def rand_image(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.int64).to(torch.uint8)


def test_crop_grid_positions():
    # Written out: offsets (k * (S - 224)) // 4, the first at 0, the last touching the far border.
    assert H.crop_offsets(512) == [0, 72, 144, 216, 288]
    assert H.crop_offsets(288) == [0, 16, 32, 48, 64]
    assert H.crop_offsets(224) == [0] * 5
    assert H.crop_offsets(320) == [0, 24, 48, 72, 96]
    assert H.crop_offsets(300) == [0, 19, 38, 57, 76]  # floor of 19
    pos = H.crop_positions(512)
    assert len(pos) == 25 and pos[:6] == [(0, 0), (0, 72), (0, 144), (0, 216), (0, 288), (72, 0)]
    assert pos[-1] == (288, 288) and pos[-1][0] + 224 == 512
    # The model's crops are exactly those windows of the normalised image, row by row.
    model = build_model("hyperiqa", image_size=288, width=8, seed=1).eval()
    img = rand_image(2, 288, 288, seed=3)
    x = (img.double() / 255 - torch.tensor(IMAGENET_MEAN, dtype=torch.float64).reshape(1, 3, 1, 1)) \
        / torch.tensor(IMAGENET_STD, dtype=torch.float64).reshape(1, 3, 1, 1)
    crops = model.crops(img)
    assert crops.shape == (2, 25, 3, 224, 224)
    for n, (r, c) in enumerate([(r, c) for r in range(5) for c in range(5)]):
        t, l = 16 * r, 16 * c
        np.testing.assert_allclose(crops[:, n].double().numpy(), x[:, :, t:t + 224, l:l + 224].numpy(), atol=1e-6)


def test_smaller_than_a_crop_is_an_error_naming_both_sizes():
    with pytest.raises(ValueError, match=r"image_size 192 is 192x192 .*smaller than its 224x224 crops"):
        build_model("hyperiqa", image_size=192, width=8)
    with pytest.raises(ValueError, match=r"image is 300x200 .*224x224"):
        H.check_croppable(200, 300)


def _conv3x3(x, w, b):
    """numpy 3 x 3 convolution, zero padding 1: x [C, 7, 7], w [O, C, 3, 3] -> [O, 7, 7]."""
    c, h, wd = x.shape
    p = np.zeros((c, h + 2, wd + 2))
    p[:, 1:-1, 1:-1] = x
    out = np.empty((w.shape[0], h, wd))
    for i in range(h):
        for j in range(wd):
            out[:, i, j] = np.tensordot(w, p[:, i:i + 3, j:j + 3], axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def _sigmoid(v):
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # the logistic, without exp overflow


@pytest.mark.parametrize("width", [8, 64])
def test_hyper_network_and_target_forward_by_hand(width):
    model = build_model("hyperiqa", image_size=224 if width == 64 else 256, width=width, seed=5).eval()
    st = {k: v.double().numpy() for k, v in model.net.state_dict().items()}
    img = rand_image(1, model.image_size, model.image_size, seed=2)
    feats = {}
    h1 = model.net.conv1.register_forward_hook(lambda m, i, o: feats.__setitem__("content", o.detach()))
    h2 = model.net.res.register_forward_hook(lambda m, i, o: feats.__setitem__("vec", o[1].detach()))
    with torch.no_grad():
        crops = model.crops(img)[0, :2]  # two of the crops
        params = model.net(crops)
        scores = model.score_crops(crops)
        out = model(img)
        all_scores = model.crop_scores(img)
    h1.remove()
    h2.remove()
    sizes = (224, 112, 56, 28, 14)
    for n in range(2):
        content = feats["content"][n].double().numpy()  # 112 x 7 x 7
        pooled = content.mean(axis=(1, 2))
        ws, bs = [], []
        for i in range(4):
            conv = _conv3x3(content, st[f"fc{i + 1}w_conv.weight"], st[f"fc{i + 1}w_conv.bias"])
            ws.append(conv.reshape(sizes[i + 1], sizes[i]))  # the authors' view: channel-major
            bs.append(st[f"fc{i + 1}b_fc.weight"] @ pooled + st[f"fc{i + 1}b_fc.bias"])
        ws.append((st["fc5w_fc.weight"] @ pooled + st["fc5w_fc.bias"]).reshape(1, 14))
        bs.append(st["fc5b_fc.weight"] @ pooled + st["fc5b_fc.bias"])
        for i in range(5):
            np.testing.assert_allclose(params[f"w{i + 1}"][n].double().numpy(), ws[i], rtol=0, atol=1e-5)
            np.testing.assert_allclose(params[f"b{i + 1}"][n].double().numpy(), bs[i], rtol=0, atol=1e-5)
        v = feats["vec"][n].double().numpy()
        assert v.shape == (224,)
        for i in range(5):
            v = ws[i] @ v + bs[i]
            if i < 4:
                v = _sigmoid(v)
        np.testing.assert_allclose(float(scores[n]), float(v[0]), rtol=0, atol=1e-5)
    np.testing.assert_allclose(float(out[0, 0]), float(all_scores[0].mean()), rtol=0, atol=1e-6)


def test_target_forward_is_the_authors_grouped_conv():
    """SSL92's TargetFC: each image's weights as a grouped 1 x 1 conv; ours is a batched matmul."""
    g = torch.Generator().manual_seed(0)
    n, sizes = 3, (224, 112, 56, 28, 14, 1)
    p = {"target_in_vec": torch.randn(n, 224, generator=g, dtype=torch.float64)}
    for i in range(5):
        p[f"w{i + 1}"] = torch.randn(n, sizes[i + 1], sizes[i], generator=g, dtype=torch.float64) * 0.1
        p[f"b{i + 1}"] = torch.randn(n, sizes[i + 1], generator=g, dtype=torch.float64)
    x = p["target_in_vec"].reshape(n, 224, 1, 1)
    for i in range(5):
        w, b = p[f"w{i + 1}"], p[f"b{i + 1}"]
        y = F.conv2d(x.reshape(1, -1, 1, 1), w.reshape(-1, w.shape[2], 1, 1), b.reshape(-1), groups=n)
        x = y.reshape(n, w.shape[1], 1, 1)
        if i < 4:
            x = torch.sigmoid(x)
    np.testing.assert_allclose(H.target_forward(p).numpy(), x.reshape(n).numpy(), rtol=0, atol=1e-12)


def _to_pyiqa(k):
    """Our (the authors') names -> pyiqa's hypernet_arch names, written from pyiqa's module layout."""
    m = re.match(r"res\.lda(\d)_pool\.0\.(\w+)$", k)
    if m:
        return f"lda_modules.{int(m.group(1)) - 1}.0.{m.group(2)}"
    m = re.match(r"res\.lda(\d)_fc\.(\w+)$", k)
    if m:
        i = int(m.group(1)) - 1
        return f"lda_modules.{i}.{3 if i < 3 else 2}.{m.group(2)}"
    if k.startswith("res."):
        return "base_model." + k[4:]
    m = re.match(r"fc(\d)w_conv\.(\w+)$", k)
    if m:
        return f"fc_w_modules.{int(m.group(1)) - 1}.{m.group(2)}"
    m = re.match(r"fc5w_fc\.(\w+)$", k)
    if m:
        return f"fc_w_modules.4.2.{m.group(1)}"
    m = re.match(r"fc(\d)b_fc\.(\w+)$", k)
    if m:
        return f"fc_b_modules.{int(m.group(1)) - 1}.2.{m.group(2)}"
    return k


def test_checkpoint_names_authors_pyiqa_and_ours():
    model = build_model("hyperiqa", image_size=224, width=8, seed=1)
    authors = {k[len("net."):]: v.clone() for k, v in model.state_dict().items()}
    assert "res.lda1_pool.0.weight" in authors and "fc5b_fc.bias" in authors and "conv1.4.weight" in authors
    other = build_model("hyperiqa", image_size=224, width=8, seed=2)
    H.load_hyperiqa_state(other, authors)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    # Without num_batches_tracked (older torch): still loads.
    H.load_hyperiqa_state(other, {k: v for k, v in authors.items() if not k.endswith("num_batches_tracked")})
    other = build_model("hyperiqa", image_size=224, width=8, seed=3)
    H.load_hyperiqa_state(other, {"params": {_to_pyiqa(k): v for k, v in authors.items()}})
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    H.load_hyperiqa_state(other, {"model": model.state_dict(), "epoch": 3})  # train.py's best.pt
    # Every missing and unexpected key named.
    broken = dict(authors)
    del broken["fc3w_conv.weight"]
    broken["res.fc.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \(1\): fc3w_conv.weight; unexpected keys \(1\): res.fc.weight"):
        H.load_hyperiqa_state(other, broken)
    full = dict(authors, **{"fc1w_conv.weight": torch.zeros(512, 112, 3, 3, dtype=torch.float32)})
    full["fc1w_conv.weight"] = torch.zeros(7, 112, 3, 3)
    with pytest.raises(ValueError, match=r"shape mismatches: fc1w_conv.weight: got \(7, 112, 3, 3\), want \(512"):
        H.load_hyperiqa_state(other, full)
    # torchvision's ImageNet ResNet-50 initialises the backbone (what train --weights gives).
    tv = {k[len("backbone."):]: v for k, v in build_model("resnet50", image_size=224, width=8, seed=4).state_dict().items()
          if k.startswith("backbone.")}
    tv["fc.weight"], tv["fc.bias"] = torch.zeros(1000, 256), torch.zeros(1000)
    m = build_model("hyperiqa", image_size=224, width=8, clip_state=tv)
    assert torch.equal(m.net.res.layer3[2].conv2.weight, tv["layer3.2.conv2.weight"])


def test_head_is_the_hyper_network():
    model = build_model("hyperiqa", image_size=224, width=8)
    head = {id(p) for p in model.head.parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in head}
    assert names and all(not n.startswith("net.res.") for n in names)
    assert {n for n, _ in model.named_parameters()} - names == {n for n, _ in model.net.res.named_parameters(prefix="net.res")}
    groups = train.param_groups(model, 2e-5, 10.0)
    assert [g["lr"] for g in groups] == [2e-5, 2e-4]


def test_train_two_epochs_loss_falls_and_exports(tmp_path, capsys):
    root = str(tmp_path / "gen")
    labels, images, items = make_dataset(root, size=64)
    splits = os.path.join(root, "splits.json")
    write_splits(splits, items)
    out = str(tmp_path / "run")
    argv = ["--dataset", "csv", "--labels", labels, "--data", images, "--splits", splits, "--split", "0",
            "--model", "hyperiqa", "--out", out, "--tiny", "--image-size", "256", "--batch-size", "4",
            "--workers", "0", "--threads", "2", "--seed", "3"]
    args = train.parse_args(argv)
    assert (args.epochs, args.lr, args.head_lr_mult, args.optimizer, args.weight_decay) == (400, 2e-5, 10.0, "adam", 5e-4)
    assert train.main(argv + ["--epochs", "2", "--lr", "1e-3"]) == 0, capsys.readouterr().err
    with open(os.path.join(out, "metrics.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert len(losses) == 2 and losses[1] < losses[0], losses
    ckpt = torch.load(os.path.join(out, "best.pt"), map_location="cpu")
    assert ckpt["model_kwargs"]["name"] == "hyperiqa"
    repo = tmp_path / "repo"
    rc = E.main(["--model", "hyperiqa", "--checkpoint", os.path.join(out, "best.pt"), "--dataset", "agiqa-3k",
                 "--name", "hyperiqa_agiqa3k", "--out", str(repo)])
    assert rc == 0, capsys.readouterr().err
    sig = E.graph_signature(str(repo / "hyperiqa_agiqa3k" / "1" / "model.onnx"))
    assert sig["inputs"] == [("IMAGE", "UINT8", ("batch", 3, 256, 256))]
    assert sig["outputs"] == [("QUALITY", "FLOAT", ("batch", 1))]


def test_export_tiny_default_name(tmp_path, capsys):
    repo = tmp_path / "repo"
    assert E.main(["--model", "hyperiqa", "--tiny", "--dataset", "agiqa-3k", "--out", str(repo)]) == 0, \
        capsys.readouterr().err
    cfg = (repo / "hyperiqa_agiqa3k_tiny" / "config.pbtxt").read_text()
    for want in ('name: "hyperiqa_agiqa3k_tiny"', '"agiqa.catalog" value: { string_value: "hyperiqa" }',
                 '"agiqa.dataset" value: { string_value: "agiqa-3k" }', "dims: [ 3, 288, 288 ]"):
        assert want in cfg, cfg
