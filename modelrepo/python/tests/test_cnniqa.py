"""CNNIQA: the module against a hand computation, checkpoint names, training and export."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from agiqa_torch import cnniqa as C
from agiqa_torch import export as E
from agiqa_torch import train
from agiqa_torch.models import build_model
from test_data import make_dataset, write_splits

torch.set_num_threads(2)


def rand_image(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.int64).to(torch.uint8)


def test_grey_is_pillows_convert_L():
    img = rand_image(1, 37, 53, seed=1)
    pil = np.asarray(Image.fromarray(img[0].permute(1, 2, 0).numpy(), "RGB").convert("L"), dtype=np.float64)
    got = C.grey(img)[0, 0].double().numpy() * 255.0
    np.testing.assert_allclose(got, pil, atol=1e-9)
    # The corners of the RGB cube, where fixed-point rounding matters most.
    corners = torch.tensor([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=torch.uint8)
    pil = np.asarray(Image.fromarray(corners.numpy().reshape(1, 8, 3), "RGB").convert("L"), dtype=np.float64)[0]
    got = C.grey(corners.t().reshape(1, 3, 1, 8))[0, 0, 0].double().numpy() * 255.0
    np.testing.assert_allclose(got, pil, atol=1e-9)


def hand_forward(state, grey_patch):
    """lidq92's LocalNormalization (scipy convolve2d, boundary symm) then conv, max/min pool and the FCs,
    all in numpy float64 from the state dict."""
    from scipy.signal import convolve2d

    kernel = np.ones((3, 3)) / 9.0
    mean = convolve2d(grey_patch, kernel, boundary="symm", mode="same")
    sm = convolve2d(np.square(grey_patch), kernel, boundary="symm", mode="same")
    x = (grey_patch - mean) / (np.sqrt(np.maximum(sm - np.square(mean), 0)) + 1)
    w = state["net.conv1.weight"].double().numpy()
    b = state["net.conv1.bias"].double().numpy()
    k = w.shape[-1]
    n = x.shape[0] - k + 1
    fmap = np.empty((w.shape[0], n, n))
    for i in range(n):
        for j in range(n):
            fmap[:, i, j] = np.tensordot(w[:, 0], x[i:i + k, j:j + k], axes=([1, 2], [0, 1])) + b
    h = np.concatenate([fmap.max(axis=(1, 2)), fmap.min(axis=(1, 2))])

    def fc(name, v):
        return state[f"net.{name}.weight"].double().numpy() @ v + state[f"net.{name}.bias"].double().numpy()

    h = np.maximum(fc("fc1", h), 0)
    h = np.maximum(fc("fc2", h), 0)
    return float(fc("fc3", h)[0])


@pytest.mark.parametrize("width", [8, 64])
def test_forward_matches_a_hand_computation(width):
    model = build_model("cnniqa", image_size=96, width=width, seed=5).eval()
    state = model.state_dict()
    img = rand_image(2, 96, 96, seed=2)
    img[1, :, :40] = 200  # flat areas: LCN's clamp at zero variance and its +1
    with torch.no_grad():
        patches = model.patch_scores(img)
        out = model(img)
    assert patches.shape == (2, 9)
    grey = np.asarray(Image.fromarray(img[1].permute(1, 2, 0).numpy(), "RGB").convert("L"), dtype=np.float64) / 255
    want = []
    for p in range(9):
        r, c = divmod(p, 3)  # row by row from the top-left
        want.append(hand_forward(state, grey[32 * r:32 * r + 32, 32 * c:32 * c + 32]))
    np.testing.assert_allclose(patches[1].double().numpy(), want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(float(out[1, 0]), np.mean(want), rtol=0, atol=1e-5)


def test_patches_are_every_full_tile_and_small_images_are_refused():
    net = C.CNNIQA(width=8).eval()
    with torch.no_grad():
        assert net.patch_scores(rand_image(1, 95, 64)).shape == (1, 4)  # 2 x 2 full tiles, remainders dropped
        assert net.patch_scores(rand_image(1, 32, 32)).shape == (1, 1)
        with pytest.raises(ValueError, match=r"image is 40x31 .*smaller than one 32x32 patch"):
            net.patch_scores(rand_image(1, 31, 40))
    with pytest.raises(ValueError, match="image_size 16 is 16x16"):
        C.CNNIQAModel(image_size=16, width=8)


def test_checkpoint_names_lidq92_pyiqa_and_ours(tmp_path):
    model = build_model("cnniqa", image_size=64, seed=1)
    lidq92 = {k[len("net."):]: v.clone() for k, v in model.state_dict().items()}  # conv1.*, fc1-3.*
    other = build_model("cnniqa", image_size=64, seed=2)
    C.load_cnniqa_state(other, lidq92)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    C.load_cnniqa_state(other, {"params": lidq92})  # pyiqa's nesting
    C.load_cnniqa_state(other, {"model": model.state_dict(), "epoch": 3})  # train.py's best.pt
    # pyiqa's released CNNIQA_koniq10k-e6f14c91.pth takes RGB patches: conv1 has 3 input channels.
    rgb = dict(lidq92, **{"conv1.weight": torch.zeros(50, 3, 7, 7)})
    with pytest.raises(ValueError, match=r"conv1.weight: got \(50, 3, 7, 7\), want \(50, 1, 7, 7\).*pyiqa's RGB"):
        C.load_cnniqa_state(other, {"params": rgb})
    # Another architecture: every missing and unexpected key named.
    resnet = build_model("resnet50", image_size=64, width=8).state_dict()
    with pytest.raises(ValueError) as err:
        C.load_cnniqa_state(other, resnet)
    msg = str(err.value)
    assert "missing keys (8): conv1.bias, conv1.weight, fc1.bias" in msg
    assert "unexpected keys" in msg and "layer1.0.conv1.weight" in msg


def test_train_two_epochs_loss_falls_and_resumes(tmp_path, capsys):
    root = str(tmp_path / "gen")
    labels, images, items = make_dataset(root, size=64)
    splits = os.path.join(root, "splits.json")
    write_splits(splits, items)
    out = str(tmp_path / "run")
    argv = ["--dataset", "csv", "--labels", labels, "--data", images, "--splits", splits, "--split", "0",
            "--model", "cnniqa", "--out", out, "--tiny", "--image-size", "64", "--batch-size", "4",
            "--workers", "0", "--threads", "2", "--seed", "3"]
    args = train.parse_args(argv + ["--epochs", "2"])
    assert (args.lr, args.head_lr_mult) == (1e-4, 1.0)  # lidq92's defaults
    assert train.parse_args(argv).epochs == 500
    assert train.main(argv + ["--epochs", "2", "--lr", "1e-3"]) == 0, capsys.readouterr().err
    with open(os.path.join(out, "metrics.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert len(losses) == 2 and losses[1] < losses[0], losses
    assert train.main(argv + ["--epochs", "3", "--lr", "1e-3"]) == 0, capsys.readouterr().err
    assert "resuming" in capsys.readouterr().err
    ckpt = torch.load(os.path.join(out, "best.pt"), map_location="cpu")
    assert ckpt["model_kwargs"]["name"] == "cnniqa"
    # Exported as the version of its split, through the contract check and the numeric gate.
    repo = tmp_path / "repo"
    rc = E.main(["--model", "cnniqa", "--checkpoint", os.path.join(out, "best.pt"), "--dataset", "agiqa-3k",
                 "--name", "cnniqa_agiqa3k", "--out", str(repo)])
    # The generated labels are a csv dataset, not agiqa-3k: export names it as asked.
    assert rc == 0, capsys.readouterr().err
    assert (repo / "cnniqa_agiqa3k" / "1" / "model.onnx").is_file()


def test_export_full_size_cnniqa_agiqa3k(tmp_path, capsys):
    model = build_model("cnniqa", image_size=512, seed=4)
    ckpt = tmp_path / "lidq92.pt"
    torch.save({k[len("net."):]: v for k, v in model.state_dict().items()}, ckpt)  # lidq92's names
    repo = tmp_path / "repo"
    rc = E.main(["--model", "cnniqa", "--dataset", "agiqa-3k", "--checkpoint", str(ckpt), "--version", "2",
                 "--out", str(repo)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "numeric check: " in cap.out or "numeric check skipped" in cap.out
    sig = E.graph_signature(str(repo / "cnniqa_agiqa3k" / "2" / "model.onnx"))
    assert sig["inputs"] == [("IMAGE", "UINT8", ("batch", 3, 512, 512))]
    assert sig["outputs"] == [("QUALITY", "FLOAT", ("batch", 1))]
    cfg = (repo / "cnniqa_agiqa3k" / "config.pbtxt").read_text()
    for want in ('name: "cnniqa_agiqa3k"', "version_policy: { all { } }", '"agiqa.catalog" value: { string_value: "cnniqa" }',
                 '"agiqa.dataset" value: { string_value: "agiqa-3k" }', '"agiqa.preprocess" value: { string_value: "resize" }'):
        assert want in cfg, cfg
