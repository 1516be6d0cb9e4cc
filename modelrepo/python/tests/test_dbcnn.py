"""DBCNN: the pooling against a numpy hand computation, checkpoint names, two-stage training and export."""

import json
import os

import numpy as np
import pytest
import torch

from agiqa_torch import dbcnn as D
from agiqa_torch import export as E
from agiqa_torch import train
from agiqa_torch.models import build_model
from test_data import make_dataset, write_splits

torch.set_num_threads(2)


def rand_image(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.int64).to(torch.uint8)


def test_layers_are_the_authors():
    net = D.DBCNN()
    vgg = [(k, tuple(v.shape)) for k, v in net.features1.state_dict().items()]
    assert len(vgg) == 26 and vgg[-2] == ("28.weight", (512, 512, 3, 3))  # conv5_3, features[:-1] of vgg16
    assert isinstance(net.features1[29], torch.nn.ReLU) and len(net.features1) == 30
    convs = [m for m in net.features2 if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.stride[0]) for c in convs] == list(D.SCNN_CFG)
    assert net.fc.in_features == 512 * 128
    with torch.no_grad():
        x1, x2 = net.feature_maps(torch.zeros(1, 3, 64, 64))
    assert x1.shape == (1, 512, 4, 4) and x2.shape == (1, 128, 4, 4)


def test_pooling_sqrt_l2_matches_numpy():
    model = build_model("dbcnn", image_size=64, width=8, seed=3).eval()
    img = rand_image(2, 64, 64, seed=1)
    img[1, :, :32] = 200
    with torch.no_grad():
        x1, x2 = model.feature_maps(img)
        out = model(img)
    a, s = x1.double().numpy(), x2.double().numpy()
    w = model.net.fc.weight.detach().double().numpy()[0]
    bias = float(model.net.fc.bias)
    for i in range(2):
        c1, h, ww = a[i].shape
        c2 = s[i].shape[0]
        z = np.zeros((c1, c2))
        for y in range(h):
            for x in range(ww):
                z += np.outer(a[i][:, y, x], s[i][:, y, x])
        z = (z / (h * ww)).reshape(-1)
        assert z.min() >= 0  # post-ReLU maps: the signed root is the authors' sqrt(z + 1e-8)
        z = np.where(z >= 0, 1.0, -1.0) * np.sqrt(np.abs(z) + 1e-8)
        z = z / np.linalg.norm(z)
        with torch.no_grad():
            pooled = D.DBCNN.pool(x1[i:i + 1], x2[i:i + 1])[0].double().numpy()
        np.testing.assert_allclose(pooled, z, rtol=0, atol=1e-5)
        np.testing.assert_allclose(float(out[i, 0]), w @ z + bias, rtol=0, atol=1e-5)


def test_scnn_map_is_resized_bilinear_to_the_vgg_map():
    net = D.DBCNN(width=8).eval()
    with torch.no_grad():
        x1, x2 = net.feature_maps(torch.rand(1, 3, 72, 40))  # VGG floors 72/16 to 4; S-CNN rounds up to 5
    assert x1.shape[2:] == x2.shape[2:] == (4, 2)


def test_checkpoint_names_authors_pyiqa_and_ours():
    model = build_model("dbcnn", image_size=64, width=8, seed=1)
    net_state = {k[len("net."):]: v.clone() for k, v in model.state_dict().items()}
    other = build_model("dbcnn", image_size=64, width=8, seed=2)
    D.load_dbcnn_state(other, {"module." + k: v for k, v in net_state.items()})  # the authors' DataParallel
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    D.load_dbcnn_state(other, {"params": net_state})  # pyiqa's DBCNN_<dataset>-<sha>.pth
    D.load_dbcnn_state(other, {"model": model.state_dict(), "epoch": 2})  # train.py's best.pt
    # scnn.pkl: a DataParallel SCNN with its projection and classifier, which DBCNN does not use.
    scnn = {"module.features." + k: v for k, v in model.net.features2.state_dict().items()}
    scnn.update({"module.projection.0.weight": torch.zeros(256, 128, 1, 1), "module.classifier.weight": torch.zeros(39, 256)})
    fresh = build_model("dbcnn", image_size=64, width=8, seed=4)
    ignored = D.load_scnn_state(fresh, scnn)
    assert ignored == ["classifier.weight", "projection.0.weight"]
    assert torch.equal(fresh.net.features2[0].weight, model.net.features2[0].weight)
    vgg = {"features." + k: v for k, v in model.net.features1.state_dict().items()}
    vgg["classifier.0.weight"] = torch.zeros(4, 4)
    assert D.load_vgg16_state(fresh, vgg) == ["classifier.0.weight"]
    # The full-size S-CNN into a tiny model: shapes named; another architecture: keys named.
    with pytest.raises(ValueError, match=r"shape mismatches: .*0.weight: got \(48, 3, 3, 3\), want \(6, 3, 3, 3\)"):
        D.load_scnn_state(fresh, {"module.features." + k: v for k, v in D.scnn_features().state_dict().items()})
    resnet = build_model("resnet50", image_size=64, width=8).state_dict()
    with pytest.raises(ValueError) as err:
        D.load_dbcnn_state(other, resnet)
    msg = str(err.value)
    assert "missing keys" in msg and "fc.weight" in msg and "features2.0.weight" in msg
    assert "unexpected keys" in msg and "layer1.0.conv1.weight" in msg


def test_two_stages_train_loss_falls_and_export(tmp_path, capsys):
    root = str(tmp_path / "gen")
    labels, images, items = make_dataset(root, size=64)
    splits = os.path.join(root, "splits.json")
    write_splits(splits, items)
    # Stage-1 weights files in the authors' / torchvision's names.
    src = build_model("dbcnn", image_size=64, width=8, seed=9)
    scnn, vgg = str(tmp_path / "scnn.pkl"), str(tmp_path / "vgg16.pth")
    torch.save({"module.features." + k: v for k, v in src.net.features2.state_dict().items()}, scnn)
    torch.save({"features." + k: v for k, v in src.net.features1.state_dict().items()}, vgg)
    base = ["--dataset", "csv", "--labels", labels, "--data", images, "--splits", splits, "--split", "0",
            "--model", "dbcnn", "--tiny", "--image-size", "64", "--batch-size", "4", "--workers", "0",
            "--threads", "2", "--seed", "3"]
    out1, out2 = str(tmp_path / "fc"), str(tmp_path / "all")
    a = train.parse_args(base + ["--out", out1])
    assert (a.dbcnn_stage, a.epochs, a.lr, a.optimizer, a.weight_decay) == (1, 50, 1e-3, "sgd", 5e-4)
    a = train.parse_args(base + ["--out", out2, "--dbcnn-stage", "2", "--dbcnn-stage1", "x"])
    assert (a.epochs, a.lr, a.optimizer, a.weight_decay) == (50, 1e-5, "adam", 5e-4)
    assert train.main(base + ["--out", out1, "--epochs", "2", "--weights", vgg, "--scnn-weights", scnn,
                              "--lr", "3e-2"]) == 0, capsys.readouterr().err
    with open(os.path.join(out1, "metrics.jsonl")) as f:
        losses = [json.loads(line)["loss"] for line in f]
    assert len(losses) == 2 and losses[1] < losses[0], losses
    best1 = torch.load(os.path.join(out1, "best.pt"), map_location="cpu")
    for k, v in src.state_dict().items():  # stage 1 trains the FC alone (BatchNorm statistics move, as theirs)
        if k.startswith("net.features") and "running" not in k and "num_batches" not in k:
            assert torch.equal(best1["model"][k], v), k
    assert train.main(base + ["--out", out2, "--epochs", "2", "--dbcnn-stage", "2", "--dbcnn-stage1",
                              os.path.join(out1, "best.pt"), "--lr", "1e-4"]) == 0, capsys.readouterr().err
    best2 = torch.load(os.path.join(out2, "best.pt"), map_location="cpu")
    assert not torch.equal(best2["model"]["net.features1.0.weight"], src.state_dict()["net.features1.0.weight"])
    repo = tmp_path / "repo"
    rc = E.main(["--model", "dbcnn", "--checkpoint", os.path.join(out2, "best.pt"), "--dataset", "agiqa-3k",
                 "--name", "dbcnn_agiqa3k", "--out", str(repo)])
    assert rc == 0, capsys.readouterr().err
    assert (repo / "dbcnn_agiqa3k" / "1" / "model.onnx").is_file()


def test_stage2_refuses_another_split(tmp_path, capsys):
    root = str(tmp_path / "gen")
    labels, images, items = make_dataset(root, size=64)
    splits = os.path.join(root, "splits.json")
    write_splits(splits, items)
    fake = tmp_path / "best.pt"
    torch.save({"config": {"model": "dbcnn", "dbcnn_stage": 1, "split": 1}, "model": {}}, fake)
    rc = train.main(["--dataset", "csv", "--labels", labels, "--data", images, "--splits", splits, "--split", "0",
                     "--model", "dbcnn", "--tiny", "--image-size", "64", "--workers", "0", "--out", str(tmp_path / "o"),
                     "--epochs", "1", "--dbcnn-stage", "2", "--dbcnn-stage1", str(fake)])
    assert rc != 0
    assert "was trained on split 1" in capsys.readouterr().err


def test_export_full_size_dbcnn_agiqa1k_config(tmp_path, capsys):
    model = build_model("dbcnn", image_size=512, seed=4)
    ckpt = tmp_path / "authors.pkl"
    torch.save({"module." + k[len("net."):]: v for k, v in model.state_dict().items()}, ckpt)
    repo = tmp_path / "repo"
    rc = E.main(["--model", "dbcnn", "--dataset", "agiqa-1k", "--checkpoint", str(ckpt), "--version", "2",
                 "--out", str(repo)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    sig = E.graph_signature(str(repo / "dbcnn_agiqa1k" / "2" / "model.onnx"))
    assert sig["inputs"] == [("IMAGE", "UINT8", ("batch", 3, 512, 512))]
    assert sig["outputs"] == [("QUALITY", "FLOAT", ("batch", 1))]
    cfg = (repo / "dbcnn_agiqa1k" / "config.pbtxt").read_text()
    assert '"agiqa.catalog" value: { string_value: "dbcnn" }' in cfg and '"agiqa.preprocess" value: { string_value: "resize" }' in cfg
