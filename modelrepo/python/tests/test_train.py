"""Training and Image2Prompt commands, end to end on tiny models and generated data."""

import json
import math
import os

import numpy as np
import pytest
import torch

from agiqa_torch import image2prompt, train
from agiqa_torch.models import build_model
from test_data import make_dataset, write_splits

torch.set_num_threads(2)

# Tiny model at 32 x 32 (the smallest grid, 1 x 1, keeps the suite fast on 2 cores); lr 1e-4 (head 1e-3),
# batch 4: four steps per epoch on 16 train images, enough for the loss to fall clearly within two
# epochs (about halved, for each of several seeds tried when the test was written).
COMMON = ["--tiny", "--image-size", "32", "--batch-size", "4", "--lr", "1e-4", "--workers", "0", "--threads", "2",
          "--seed", "3"]


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("gen"))
    labels, images, items = make_dataset(root)
    paper = os.path.join(root, "splits.json")
    write_splits(paper, items)
    holdout = os.path.join(root, "splits_holdout.json")
    write_splits(holdout, items, protocol="holdout")
    return {"root": root, "labels": labels, "images": images, "paper": paper, "holdout": holdout}


def args_for(ds, out, epochs, splits="paper", extra=()):
    return ["--dataset", "csv", "--labels", ds["labels"], "--data", ds["images"], "--splits", ds[splits],
            "--split", "0", "--model", "ipiqa", "--out", out, "--epochs", str(epochs)] + COMMON + list(extra)


def read_metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_train_resume_and_outputs(ds, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train.main(args_for(ds, out, 2)) == 0
    lines = read_metrics(out)
    assert [m["epoch"] for m in lines] == [1, 2]
    for m in lines:
        assert set(m) >= {"epoch", "loss", "seconds", "test", "score", "best"}
        assert set(m["test"]) == {"quality", "alignment"}
        for t in m["test"].values():
            assert set(t) >= {"srcc", "plcc", "krcc"} and all(-1 <= t[k] <= 1 for k in ("srcc", "plcc", "krcc"))
    assert lines[1]["loss"] < lines[0]["loss"], "training loss must fall: %s" % [m["loss"] for m in lines]

    best_epoch = max(lines, key=lambda m: m["score"])["epoch"]
    result = json.load(open(os.path.join(out, "result.json")))
    assert result["best_epoch"] == best_epoch and result["selected_on"] == "test"
    assert result["test"] == lines[best_epoch - 1]["test"]

    # best.pt rebuilds into a model whose test predictions match predictions.csv.
    best = torch.load(os.path.join(out, "best.pt"))
    assert best["epoch"] == best_epoch
    assert best["model_kwargs"] == {"name": "ipiqa", "num_outputs": 2, "image_size": 32, "width": 8, "text_width": 64,
                                    "text_layers": 2, "freeze_text_extras": False}
    model = build_model(**best["model_kwargs"])
    model.load_state_dict(best["model"])
    assert model.output_names == best["output_names"] == ["QUALITY", "ALIGNMENT"]
    from agiqa_torch import data as D

    labels = D.read_labels("csv", ds["labels"])
    test = D.ImageDataset(labels.select(D.read_splits(ds["paper"]).get(0).test), ds["images"], 32)
    model.eval()
    with torch.no_grad():
        pred = model(torch.stack([test[i][0] for i in range(len(test))]), test.tokens).numpy()
    rows = np.loadtxt(os.path.join(out, "predictions.csv"), delimiter=",", skiprows=1, usecols=(1, 2))
    np.testing.assert_allclose(pred, rows, atol=1e-5)

    # Rerunning asks for 3 epochs: resumes after epoch 2 and appends epoch 3 ...
    capsys.readouterr()
    assert train.main(args_for(ds, out, 3)) == 0
    assert "resuming" in capsys.readouterr().err
    resumed = read_metrics(out)
    assert [m["epoch"] for m in resumed] == [1, 2, 3] and resumed[:2] == lines
    assert torch.load(os.path.join(out, "last.pt"))["epoch"] == 3
    # Once all epochs are done, a rerun changes nothing.
    assert train.main(args_for(ds, out, 3)) == 0
    assert "nothing to do" in capsys.readouterr().err and read_metrics(out) == resumed
    # A rerun asking for fewer epochs reports the epochs the run holds, not the ones asked for.
    assert train.main(args_for(ds, out, 2)) == 0
    with open(os.path.join(out, "result.json")) as f:
        assert json.load(f)["epochs"] == 3

    # ... and lands where an uninterrupted 3-epoch run does (each epoch's randomness is seeded alone).
    straight = str(tmp_path / "straight")
    assert train.main(args_for(ds, straight, 3)) == 0
    assert read_metrics(straight)[2]["loss"] == pytest.approx(resumed[2]["loss"], rel=1e-5)

    # Settings that differ from last.pt's are refused rather than mixed.
    capsys.readouterr()
    bad = args_for(ds, out, 4)
    bad[bad.index("--lr") + 1] = "1e-3"
    assert train.main(bad) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "lr: 0.0001 there, 0.001 now" in err


def test_holdout_selects_on_validation(ds, tmp_path, capsys):
    out = str(tmp_path / "holdout")
    # Also the uncached path, images decoded by a worker process every epoch.
    assert train.main(args_for(ds, out, 2, splits="holdout",
                               extra=["--protocol", "holdout", "--no-cache", "--workers", "1"])) == 0
    lines = read_metrics(out)
    assert all("val" in m for m in lines)
    # The one validation prompt has one alignment MOS: its correlations are undefined (null), and
    # the quality ones alone decide.
    assert all(m["val"]["alignment"]["srcc"] is None for m in lines)
    assert all(m["score"] == pytest.approx(sum(m["val"]["quality"][k] for k in ("srcc", "plcc", "krcc")))
               for m in lines)
    # Test images are scored only at a new best validation epoch.
    assert all(("test" in m) == m["best"] for m in lines)
    result = json.load(open(os.path.join(out, "result.json")))
    assert result["selected_on"] == "val"
    assert result["best_epoch"] == max(lines, key=lambda m: m["score"])["epoch"]
    # A paper-protocol splits file has no validation images to select on.
    capsys.readouterr()
    assert train.main(args_for(ds, str(tmp_path / "x"), 1, extra=["--protocol", "holdout"])) == 1
    assert "has no validation images" in capsys.readouterr().err


def test_image2prompt_checkpoint_loads_into_train(ds, tmp_path, capsys):
    out = str(tmp_path / "i2p")
    argv = ["--dataset", "csv", "--labels", ds["labels"], "--data", ds["images"], "--splits", ds["paper"],
            "--split", "0", "--out", out, "--epochs", "2"] + COMMON
    assert image2prompt.main(argv) == 0
    lines = read_metrics(out)
    assert [m["epoch"] for m in lines] == [1, 2]
    assert all(0 <= m["loss"] <= 2 and -1 <= m["test_cosine"] <= 1 for m in lines)
    ckpt_path = os.path.join(out, image2prompt.CHECKPOINT)
    ckpt = image2prompt.read_checkpoint(ckpt_path)
    assert ckpt["epoch"] == 2 and all(k.startswith("visual.") for k in ckpt["model"])

    # The pretrained branch is what IP-IQA's image branch starts from.
    model = build_model(**ckpt["model_kwargs"], image2prompt=True, image2prompt_state=ckpt)
    for k, v in model.visual.state_dict().items():
        assert torch.equal(v, ckpt["model"]["visual." + k]), k
    # The branch moved away from its (seeded) initialisation.
    fresh = build_model(**ckpt["model_kwargs"], seed=3)
    assert not torch.equal(fresh.visual.conv1.weight, model.visual.conv1.weight)

    run = str(tmp_path / "from_i2p")
    assert train.main(args_for(ds, run, 1, extra=["--init-image2prompt", ckpt_path])) == 0
    assert torch.load(os.path.join(run, "best.pt"))["image2prompt"] is True

    # A checkpoint that does not fit the image branch: every missing / unexpected key is listed.
    broken = dict(ckpt, model=dict(ckpt["model"]))
    del broken["model"]["visual.conv1.weight"]
    broken["model"]["visual.extra.weight"] = torch.zeros(1)
    broken_path = str(tmp_path / "broken.pt")
    torch.save(broken, broken_path)
    capsys.readouterr()
    assert train.main(args_for(ds, str(tmp_path / "bad"), 1, extra=["--init-image2prompt", broken_path])) == 1
    err = capsys.readouterr().err
    assert "--init-image2prompt %s" % broken_path in err
    assert "missing keys (1): conv1.weight" in err and "unexpected keys (1): extra.weight" in err

    # Not an image2prompt checkpoint at all.
    assert train.main(args_for(ds, str(tmp_path / "bad2"), 1,
                                extra=["--init-image2prompt", os.path.join(run, "best.pt")])) == 1
    assert "is not an image2prompt checkpoint" in capsys.readouterr().err


def test_correlations_and_selection_score():
    from scipy import stats

    rng = np.random.RandomState(0)
    x, y = rng.rand(30), rng.rand(30)
    s, p, k = train.correlations(x, y)
    assert (s, p, k) == pytest.approx((stats.spearmanr(x, y)[0], stats.pearsonr(x, y)[0], stats.kendalltau(x, y)[0]))
    # Undefined (constant prediction, or fewer than 2 points) is NaN.
    assert all(math.isnan(v) for v in train.correlations(np.ones(5), y[:5]))
    assert all(math.isnan(v) for v in train.correlations([1.0], [2.0]))
    m = train.score_targets(np.stack([x, np.ones(30)], 1), np.stack([y, y], 1), ["quality", "alignment"])
    assert train.selection_score(m) == pytest.approx(s + p + k), "undefined values count as 0"
    assert train.jsonable(m)["alignment"]["srcc"] is None
    m = train.score_targets(np.stack([x, x], 1), np.stack([y, y], 1), ["quality", "alignment"])
    assert train.selection_score(m) == pytest.approx(2 * (s + p + k))


def test_recipe_defaults_and_optimizer(ds, tmp_path):
    # IP-IQA's recipe is the default: 100 epochs, batch 32, lr 1e-5 with the head at x10, 512 px.
    args = train.parse_args(["--dataset", "csv", "--labels", ds["labels"], "--data", ds["images"],
                             "--splits", ds["paper"], "--split", "0", "--out", str(tmp_path)])
    assert (args.epochs, args.batch_size, args.lr, args.head_lr_mult, args.model, args.protocol) == \
        (100, 32, 1e-5, 10.0, "ipiqa", "paper")
    train.setup_torch(args)
    assert args.image_size == 512
    # The optimizer a run uses (as saved for resuming): AdamW (0.9, 0.999), no weight decay, the head
    # at 10x the rest, the frozen text tower not in it.
    out = str(tmp_path / "run")
    assert train.main(args_for(ds, out, 1)) == 0
    state = torch.load(os.path.join(out, "last.pt"))
    groups = state["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [pytest.approx(1e-4), pytest.approx(1e-3)]
    assert all(g["betas"] == (0.9, 0.999) and g["weight_decay"] == 0.0 for g in groups)
    assert state["optimizer"]["state"] and "exp_avg_sq" in next(iter(state["optimizer"]["state"].values()))
    model = build_model(**state["config"]["model_kwargs"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert [len(g["params"]) for g in groups] == [len(trainable) - len(list(model.head.parameters())),
                                                  len(list(model.head.parameters()))]


def test_baselines_regress_quality_only(ds, tmp_path):
    # ResNet50* on a dataset with alignment MOS: one QUALITY output, as modelrepo/models serves it.
    out = str(tmp_path / "rn")
    argv = args_for(ds, out, 1)
    argv[argv.index("--model") + 1] = "resnet50_clip"
    assert train.main(argv) == 0
    best = torch.load(os.path.join(out, "best.pt"))
    assert best["output_names"] == ["QUALITY"] and best["model_kwargs"]["num_outputs"] == 1
    assert set(read_metrics(out)[0]["test"]) == {"quality"}


def test_splits_of_another_dataset_are_refused(ds, tmp_path, capsys):
    other = str(tmp_path / "other.json")
    with open(ds["paper"]) as f:
        doc = json.load(f)
    doc["dataset"] = "agiqa-3k"
    with open(other, "w") as f:
        json.dump(doc, f)
    capsys.readouterr()
    argv = args_for(ds, str(tmp_path / "x"), 1)
    argv[argv.index("--splits") + 1] = other
    assert train.main(argv) == 1
    assert "made for dataset agiqa-3k, not csv" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "x" / "last.pt"))


def test_labels_default_to_the_dataset_file_in_data(tmp_path):
    d = str(tmp_path)
    base = ["--data", d, "--splits", "s.json", "--split", "0", "--out", d]
    assert train.parse_args(["--dataset", "agiqa-3k"] + base).labels == os.path.join(d, "data.csv")
    # AGIQA-1k: the xlsx IP-IQA reads, else the csv.
    assert train.parse_args(["--dataset", "agiqa-1k"] + base).labels == os.path.join(d, "AIGC_MOS_Zscore.xlsx")
    open(os.path.join(d, "AIGC_all.csv"), "w").close()
    assert train.parse_args(["--dataset", "agiqa-1k"] + base).labels == os.path.join(d, "AIGC_all.csv")
    assert train.parse_args(["--dataset", "agiqa-1k", "--labels", "x.xlsx"] + base).labels == "x.xlsx"
    with pytest.raises(SystemExit):
        train.parse_args(["--dataset", "csv"] + base)


def test_resume_after_a_torn_metrics_line(ds, tmp_path, capsys):
    # A run killed while appending epoch 2's metrics line (before last.pt was rewritten) leaves half a
    # JSON line; the rerun must drop it with the rest of that epoch, not stop on it.
    out = str(tmp_path / "torn")
    assert train.main(args_for(ds, out, 1)) == 0
    with open(os.path.join(out, "metrics.jsonl"), "a", encoding="utf-8") as f:
        f.write('{"epoch": 2, "loss": 0.51, "te')
    capsys.readouterr()
    assert train.main(args_for(ds, out, 2)) == 0, capsys.readouterr().err
    assert [m["epoch"] for m in read_metrics(out)] == [1, 2]


def test_resume_refuses_a_split_that_changed(ds, tmp_path, capsys):
    # The splits file rewritten at the same path (e.g. `agiqa splits` with another seed): resuming would
    # go on training a model that has already been trained on some of the new test images.
    splits = str(tmp_path / "splits.json")
    with open(ds["paper"]) as f:
        doc = json.load(f)
    with open(splits, "w") as f:
        json.dump(doc, f)
    argv = args_for(ds, str(tmp_path / "run"), 1)
    argv[argv.index("--splits") + 1] = splits
    assert train.main(argv) == 0
    s0, s1 = doc["splits"]
    doc["splits"] = [dict(s1, index=0), dict(s0, index=1)]
    with open(splits, "w") as f:
        json.dump(doc, f)
    capsys.readouterr()
    argv[argv.index("--epochs") + 1] = "2"
    assert train.main(argv) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "split_sha256" in err


def test_unreadable_image_is_one_error_line_naming_it(tmp_path, capsys):
    # Images are decoded by worker processes by default; a bad file must still come out as the one
    # error line that names it, not as a worker traceback.
    labels, images, items = make_dataset(str(tmp_path))
    splits = str(tmp_path / "splits.json")
    write_splits(splits, items)
    with open(os.path.join(images, "img_004.png"), "wb") as f:
        f.write(b"not an image")
    base = ["--dataset", "csv", "--labels", labels, "--data", images, "--splits", splits, "--split", "0",
            "--out", str(tmp_path / "run"), "--epochs", "1"] + COMMON
    for extra in (["--workers", "1"], ["--workers", "1", "--no-cache"]):
        capsys.readouterr()
        assert train.main(base + extra) == 1
        err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("[")]
        assert len(err) == 1, err
        assert err[0].startswith("agiqa_torch.train: error: decoding image ") and "img_004.png" in err[0], err


def test_image2prompt_of_another_split_is_refused(ds, tmp_path, capsys):
    # Image2Prompt pretraining on split 0's train images saw split 1's test images: initialising split
    # 1's model from it would put test images into training.
    i2p = str(tmp_path / "i2p")
    argv = ["--dataset", "csv", "--labels", ds["labels"], "--data", ds["images"], "--splits", ds["paper"],
            "--split", "0", "--out", i2p, "--epochs", "1"] + COMMON
    assert image2prompt.main(argv) == 0
    ckpt = os.path.join(i2p, image2prompt.CHECKPOINT)
    run = args_for(ds, str(tmp_path / "run1"), 1, extra=["--init-image2prompt", ckpt])
    run[run.index("--split") + 1] = "1"
    capsys.readouterr()
    assert train.main(run) == 1
    err = capsys.readouterr().err
    assert "--init-image2prompt %s" % ckpt in err and "split 0" in err and "split 1" in err
    assert not os.path.exists(str(tmp_path / "run1" / "last.pt"))


def test_a_stop_before_the_epoch_is_committed_keeps_the_best_weights(ds, tmp_path, monkeypatch):
    # Epoch 2 scores a new best, writes its weights, then the run stops before last.pt records epoch 2.
    # The rerun repeats epoch 2 (on a GPU, not bit for bit); when that repetition is no better than
    # epoch 1, best.pt must still hold epoch 1's weights, the ones result.json names.
    out = str(tmp_path / "run")
    assert train.main(args_for(ds, out, 1)) == 0
    epoch1 = torch.load(os.path.join(out, "best.pt"))
    real_save = train.save_atomic

    class Stop(Exception):
        pass

    def stop_at_last(obj, path):
        if os.path.basename(path) == "last.pt":
            raise Stop()
        real_save(obj, path)

    monkeypatch.setattr(train, "selection_score", lambda m: 100.0)
    monkeypatch.setattr(train, "save_atomic", stop_at_last)
    with pytest.raises(Stop):
        train.main(args_for(ds, out, 2))
    monkeypatch.setattr(train, "save_atomic", real_save)
    monkeypatch.setattr(train, "selection_score", lambda m: -100.0)  # the repeated epoch 2 is worse
    assert train.main(args_for(ds, out, 2)) == 0
    result = json.load(open(os.path.join(out, "result.json")))
    best = torch.load(os.path.join(out, "best.pt"))
    assert result["best_epoch"] == 1 and best["epoch"] == 1
    for k, v in epoch1["model"].items():
        assert torch.equal(best["model"][k], v), k
    assert [m["best"] for m in read_metrics(out)] == [True, False]


def test_a_stop_after_the_epoch_is_committed_installs_its_best_weights(ds, tmp_path, monkeypatch):
    # The other side of the commit: last.pt recorded best epoch 1, the run stopped before best.pt was
    # replaced. The rerun (nothing left to train) installs epoch 1's weights.
    out = str(tmp_path / "run")

    class Stop(Exception):
        pass

    def stop(*a):
        raise Stop()

    monkeypatch.setattr(train, "install_pending", stop)
    with pytest.raises(Stop):
        train.main(args_for(ds, out, 1))
    assert not os.path.exists(os.path.join(out, "best.pt"))
    monkeypatch.undo()
    assert train.main(args_for(ds, out, 1)) == 0
    assert torch.load(os.path.join(out, "best.pt"))["epoch"] == 1
    assert os.path.exists(os.path.join(out, "predictions.csv"))
    assert sorted(f for f in os.listdir(out) if f.endswith(train.PENDING)) == []
