"""Train an AGIQA model on one split: ``python -m agiqa_torch.train``.

IP-IQA's recipe: MSE on raw MOS, AdamW (0.9, 0.999) with weight decay 0 and a constant learning rate
(the head's x10), Pillow bicubic squash resize + horizontal flip, evaluation after every epoch. The best
epoch maximises SRCC + PLCC + KRCC summed over the targets, measured on the test images (``paper``
protocol: what the official code does) or on validation images carved from train (``holdout``: the
test images are then only scored at each new best epoch and never steer the choice).

Outputs in --out: metrics.jsonl (one line per epoch), last.pt (resumable: rerunning the same command
continues after the last completed epoch), best.pt (weights of the best epoch, with the build_model
arguments), result.json (the chosen epoch and its test metrics) and predictions.csv (test predictions
at the best epoch). last.pt is the commit point of an epoch: a new best's best.pt / predictions.csv are
written as *.pending and installed once last.pt records the epoch, so a stopped run never leaves weights
that last.pt and result.json do not name.
"""

import argparse
import csv
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
from scipy import stats
from torch import nn

from . import data as D
from .checkpoints import read_image2prompt_checkpoint
from .runs import (add_common_args, amp_step, build, cli_main, default_labels, epoch_train_loader, image_dataset,
                   loader_workers, log, make_loader, model_kwargs, save_atomic, setup_torch, split_digest,
                   write_json_atomic)

TRAIN_FORMAT = "agiqa-train-v1"

# Settings a resumed run must share with the run that wrote last.pt.
_RESUME_KEYS = ("dataset", "split", "model", "protocol", "model_kwargs", "batch_size", "lr", "head_lr_mult", "seed")
# Compared only when last.pt records them (older runs did not).
_RESUME_KEYS_IF_RECORDED = ("split_sha256", "optimizer", "weight_decay", "dbcnn_stage")


# Each model's recipe where the command line does not say: IP-IQA's for the CLIP / ResNet models;
# lidq92/CNNIQA's main.py defaults for cnniqa (Adam lr 1e-4, weight decay 0, 500 epochs, one lr for
# every layer; its L1 loss per patch is in run()).
RECIPES = {"default": {"epochs": 100, "lr": 1e-5, "head_lr_mult": 10.0},
           "cnniqa": {"epochs": 500, "lr": 1e-4, "head_lr_mult": 1.0},
           # zwx8981/DBCNN-PyTorch's DBCNN.py, two runs per split (--dbcnn-stage): 1 trains the FC alone
           # (SGD momentum 0.9, lr 1e-3), 2 every layer from stage 1's best.pt (Adam, lr 1e-5); both
           # 50 epochs, weight decay 5e-4 (coupled L2, torch's SGD / Adam weight_decay), MSE loss.
           "dbcnn:1": {"epochs": 50, "lr": 1e-3, "head_lr_mult": 1.0, "optimizer": "sgd", "weight_decay": 5e-4},
           "dbcnn:2": {"epochs": 50, "lr": 1e-5, "head_lr_mult": 1.0, "optimizer": "adam", "weight_decay": 5e-4},
           # SSL92/hyperIQA's train_test_IQA.py: Adam, lr 2e-5, the hyper network (the model's head) 10x,
           # L2 weight decay 5e-4, L1 loss (in run()); their 16 epochs of 25 random crops per image are
           # 400 epochs of one random crop per image here (hyperiqa.py). Their batch: --batch-size 96.
           "hyperiqa": {"epochs": 400, "lr": 2e-5, "head_lr_mult": 10.0, "optimizer": "adam", "weight_decay": 5e-4}}
# What the recipes above do not set: IP-IQA's AdamW without weight decay.
OPTIMIZER_DEFAULTS = {"optimizer": "adamw", "weight_decay": 0.0}


def patch_l1(model, images, target):
    """CNNIQA's loss (lidq92): L1 between every patch score and its image's MOS, averaged over patches."""
    scores = model.patch_scores(images).float()  # B, P
    return nn.functional.l1_loss(scores, target[:, :1].expand_as(scores))


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.train", description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m agiqa_torch.train --dataset agiqa-3k --labels data.csv "
                                       "--data AGIQA-3K --splits splits.json --split 0 --model ipiqa --protocol paper "
                                       "--clip-weights RN50.pt --amp --out runs/ipiqa-3k-0")
    add_common_args(p, epochs=None, lr=None)
    p.add_argument("--splits", required=True, help="splits JSON written by `agiqa splits`")
    p.add_argument("--split", type=int, required=True,
                   help="0-based index of the split to train on (export it as version split + 1)")
    p.add_argument("--model", default="ipiqa", choices=("ipiqa", "resnet50", "resnet50_clip", "cnniqa", "dbcnn",
                                                              "hyperiqa"),
                   help="model to train (clipiqa is zero-shot: nothing to train)")
    p.add_argument("--protocol", choices=("paper", "holdout"), default="paper")
    p.add_argument("--head-lr-mult", type=float, default=None,
                   help="learning-rate factor of the regression head (default 10; cnniqa 1)")
    p.add_argument("--init-image2prompt", help="image2prompt.pt whose image tower initialises the model's")
    p.add_argument("--no-integral-prompt", action="store_true", help="ablation: build_model(integral_prompt=False)")
    p.add_argument("--no-qa-token", action="store_true", help="ablation: keep the token embedding frozen")
    p.add_argument("--freeze-text-extras", action="store_true",
                   help="ipiqa: also freeze the text positional embedding and projection (563,712 parameters at "
                        "full size), which the official code trains (its freeze helper leaves bare Parameters "
                        "trainable)")
    p.add_argument("--dbcnn-stage", type=int, choices=(1, 2), default=None,
                   help="dbcnn: the authors' stage 1 (FC only; default) or 2 (all layers, from --dbcnn-stage1)")
    p.add_argument("--dbcnn-stage1", help="dbcnn stage 2: best.pt of this split's stage-1 run")
    p.add_argument("--scnn-weights", help="dbcnn stage 1: the authors' S-CNN weights (scnn.pkl); --weights takes "
                                          "torchvision's vgg16-397923af.pth")
    args = p.parse_args(argv)
    recipe = args.model
    if args.model == "dbcnn":
        args.dbcnn_stage = args.dbcnn_stage or 1
        recipe = "dbcnn:%d" % args.dbcnn_stage
        if args.dbcnn_stage == 2 and not args.dbcnn_stage1:
            p.error("--dbcnn-stage 2 needs --dbcnn-stage1 (the stage-1 run's best.pt)")
        if args.dbcnn_stage == 1 and args.dbcnn_stage1:
            p.error("--dbcnn-stage1 applies to --dbcnn-stage 2")
        if args.dbcnn_stage == 2 and (args.scnn_weights or args.clip_weights):
            p.error("--dbcnn-stage 2 starts from --dbcnn-stage1; --weights / --scnn-weights apply to stage 1")
    elif args.dbcnn_stage or args.dbcnn_stage1 or args.scnn_weights:
        p.error("--dbcnn-stage, --dbcnn-stage1 and --scnn-weights apply to --model dbcnn only")
    for key, value in dict(OPTIMIZER_DEFAULTS, **RECIPES.get(recipe, RECIPES["default"])).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0:
        p.error("--epochs and --batch-size must be >= 1 and --lr > 0")
    default_labels(p, args)
    return args


def check_image2prompt(ckpt, path, dataset, split):
    """Refuse an Image2Prompt checkpoint pretrained on another split of the same dataset: its training
    images include this split's test images."""
    if ckpt.get("dataset") != dataset:
        return  # pretrained on another dataset: none of these images
    where = "--init-image2prompt %s" % path
    if ckpt.get("split") is None:
        log("note: %s was pretrained on every labelled image of %s, split %d's test images included"
            % (where, dataset, split.index))
        return
    recorded = ckpt.get("split_sha256")
    if ckpt["split"] != split.index:
        raise ValueError("%s was pretrained on split %d of %s, whose training images include test images of "
                         "split %d; pretrain on split %d" % (where, ckpt["split"], dataset, split.index, split.index))
    if recorded is not None and recorded != split_digest(split):
        raise ValueError("%s was pretrained on split %d of another splits file (other train/test images) "
                         "than --splits" % (where, ckpt["split"]))


def finite_or_none(x):
    return x if x is not None and math.isfinite(x) else None


def correlations(pred, mos):
    """SRCC, PLCC, KRCC (tau-b) as scipy computes them; NaN when undefined (n < 2, constant input)."""
    pred = np.asarray(pred, dtype=np.float64)
    mos = np.asarray(mos, dtype=np.float64)
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(mos) == 0:
        return float("nan"), float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (float(stats.spearmanr(pred, mos)[0]), float(stats.pearsonr(pred, mos)[0]),
                float(stats.kendalltau(pred, mos)[0]))


def score_targets(pred, mos, names):
    """{target: {srcc, plcc, krcc, mse}} for pred/mos arrays [N, k]."""
    out = {}
    for j, name in enumerate(names):
        s, p, k = correlations(pred[:, j], mos[:, j])
        out[name] = {"srcc": s, "plcc": p, "krcc": k, "mse": float(np.mean((pred[:, j] - mos[:, j]) ** 2))}
    return out


def selection_score(metrics):
    """SRCC + PLCC + KRCC summed over targets (IP-IQA's agg_metrics). An undefined value (constant
    predictions, or a target constant on the selection images) counts as 0, i.e. no better than
    chance, so that epochs stay comparable and one always wins."""
    return sum(m[key] for m in metrics.values() for key in ("srcc", "plcc", "krcc") if math.isfinite(m[key]))


def jsonable(metrics):
    return {t: {k: finite_or_none(v) for k, v in m.items()} for t, m in metrics.items()}


def predict(net, loader, device, amp, uses_prompt):
    """Model outputs and targets over a loader, as float64 arrays [N, k]."""
    net.eval()
    preds, targets = [], []
    with torch.no_grad():
        for images, tokens, target in loader:
            images = images.to(device, non_blocking=True)
            tokens = tokens.to(device, non_blocking=True) if uses_prompt else None
            with torch.cuda.amp.autocast(enabled=amp):
                out = net(images, tokens)
            preds.append(out.float().cpu())
            targets.append(target)
    return torch.cat(preds).double().numpy(), torch.cat(targets).double().numpy()


def load_datasets(args, labels, split):
    """Train and evaluation datasets of one split; holdout needs validation images in the split."""
    train_names = list(split.train)
    if args.protocol == "holdout":
        if not split.val:
            raise ValueError("split %d of %s has no validation images; write splits with a validation part "
                             "or use --protocol paper" % (split.index, args.splits))
    else:
        train_names += split.val  # paper protocol: validation images (if any) go back into training
    if not split.test:
        raise ValueError("split %d of %s has no test images" % (split.index, args.splits))
    parts = {"train": labels.select(train_names), "test": labels.select(split.test)}
    if args.protocol == "holdout":
        parts["val"] = labels.select(split.val)
    for part, samples in parts.items():
        D.check_images(samples, args.data, args.labels)
        if len(samples) < 2:
            raise ValueError("split %d of %s: %s has %d image(s), need at least 2" % (split.index, args.splits, part, len(samples)))
    return {part: image_dataset(args, samples, part == "train") for part, samples in parts.items()}


def param_groups(model, lr, head_mult):
    head = {id(p) for p in model.head.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("model has no trainable parameters")
    groups = [{"params": [p for p in trainable if id(p) not in head], "lr": lr},
              {"params": [p for p in trainable if id(p) in head], "lr": lr * head_mult}]
    return [g for g in groups if g["params"]]


def make_optimizer(args, model):
    """The recipe's optimizer: AdamW (0.9, 0.999) by default, the authors' SGD / Adam for dbcnn."""
    groups = param_groups(model, args.lr, args.head_lr_mult)
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    if args.optimizer == "adam":
        return torch.optim.Adam(groups, lr=args.lr, betas=(0.9, 0.999), weight_decay=args.weight_decay)
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), weight_decay=args.weight_decay)


def build_dbcnn_start(args, kwargs, split):
    """DBCNN at the start of a stage: stage 1 from the VGG16 (--weights) and S-CNN (--scnn-weights)
    files (random where absent), stage 2 from the stage-1 run of the same split."""
    from . import dbcnn
    from .models import build_model

    model = build_model(seed=args.seed, **kwargs)
    if args.dbcnn_stage == 2:
        path = args.dbcnn_stage1
        if not os.path.isfile(path):
            raise FileNotFoundError("--dbcnn-stage1 %s not found" % path)
        ckpt = torch.load(path, map_location="cpu")
        cfg = ckpt.get("config", {}) if isinstance(ckpt, dict) else {}
        if cfg.get("model") != "dbcnn" or cfg.get("dbcnn_stage") != 1:
            raise ValueError("--dbcnn-stage1 %s is not a dbcnn stage-1 run" % path)
        if cfg.get("split") != split.index or cfg.get("split_sha256") != split_digest(split):
            raise ValueError("--dbcnn-stage1 %s was trained on split %r of %s, not split %d of %s: its training "
                             "images may include this split's test images"
                             % (path, cfg.get("split"), cfg.get("splits"), split.index, args.splits))
        if cfg.get("model_kwargs") != kwargs:
            raise ValueError("--dbcnn-stage1 %s was built with %r, this run with %r" % (path, cfg.get("model_kwargs"), kwargs))
        dbcnn.load_dbcnn_state(model, ckpt["model"], "--dbcnn-stage1 %s" % path)
        log("dbcnn stage 2 starts from %s (epoch %s)" % (path, ckpt.get("epoch")))
        return model
    for path, loader in ((args.clip_weights, dbcnn.load_vgg16_state), (args.scnn_weights, dbcnn.load_scnn_state)):
        if not path:
            log("dbcnn: no %s: that branch starts from random weights"
                % ("--weights (VGG16)" if loader is dbcnn.load_vgg16_state else "--scnn-weights"))
            continue
        if not os.path.isfile(path):
            raise FileNotFoundError("%s not found" % path)
        ignored = loader(model, torch.load(path, map_location="cpu"), path)
        if ignored:
            log("dbcnn: %s: %d keys not part of DBCNN ignored (%s ...)" % (path, len(ignored), ignored[0]))
    return model


def check_resume(state, config, path):
    old = dict(state.get("config", {}))
    kw = old.get("model_kwargs")
    if isinstance(kw, dict) and kw.get("name") == "ipiqa" and "freeze_text_extras" not in kw:
        # Runs from before the switch froze the text extras: that is what they were trained with.
        old["model_kwargs"] = dict(kw, freeze_text_extras=True)
    keys = _RESUME_KEYS + tuple(k for k in _RESUME_KEYS_IF_RECORDED if k in old)
    diffs = ["%s: %r there, %r now" % (k, old.get(k), config[k]) for k in keys if old.get(k) != config[k]]
    if diffs:
        raise ValueError("%s was written by a run with other settings (%s); use another --out or remove it"
                         % (path, "; ".join(diffs)))


def trim_metrics(path, last_epoch):
    """Drop metric lines past the checkpoint (a run stopped between the two writes), including a last
    line cut short by the stop; any other unreadable line is an error naming it."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = [ln if ln.endswith("\n") else ln + "\n" for ln in f if ln.strip()]
    keep = []
    for i, ln in enumerate(lines):
        try:
            epoch = json.loads(ln)["epoch"]
        except (ValueError, KeyError, TypeError) as e:
            if i == len(lines) - 1:
                break  # the line being appended when the run stopped: its epoch is not in last.pt
            raise ValueError("%s:%d: not a metrics line (%s)" % (path, i + 1, e)) from None
        if epoch <= last_epoch:
            keep.append(ln)
    if keep != lines:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(keep)
        os.replace(tmp, path)


# A new best epoch writes best.pt and predictions.csv under this suffix; they replace the previous
# ones only once last.pt has recorded that epoch, so a run stopped in between keeps the best weights
# that last.pt (and so result.json) names.
PENDING = ".pending"


def install_pending(best_path, pred_path):
    if os.path.exists(pred_path + PENDING):
        os.replace(pred_path + PENDING, pred_path)
    os.replace(best_path + PENDING, best_path)


def settle_pending(best_path, pred_path, best_epoch):
    """Install the pending best files if they belong to ``best_epoch`` (the run stopped after last.pt
    recorded it), else delete them (the epoch that wrote them was not recorded)."""
    pending = best_path + PENDING
    if not os.path.exists(pending):
        return
    try:
        epoch = torch.load(pending, map_location="cpu").get("epoch")
    except Exception:  # noqa: BLE001 - a file cut short by the stop: not installable
        epoch = None
    if best_epoch is not None and epoch == best_epoch:
        install_pending(best_path, pred_path)
        return
    for p in (pending, pred_path + PENDING):
        if os.path.exists(p):
            os.remove(p)


def write_predictions(path, names, pred, mos, target_names):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image"] + ["pred_" + t for t in target_names] + ["mos_" + t for t in target_names])
        for i, n in enumerate(names):
            w.writerow([n] + ["%.6f" % v for v in pred[i]] + ["%.6f" % v for v in mos[i]])
    os.replace(tmp, path)


def run(args):
    """Train (or resume) one run; returns the result dict also written to result.json."""
    dev, amp = setup_torch(args)
    labels = D.read_labels(args.dataset, args.labels)
    if args.model != "ipiqa":
        # ResNet50 and ResNet50* are Table 1 baselines: they regress quality MOS only (their configs
        # in modelrepo/models serve QUALITY alone); IP-IQA also predicts alignment where there is one.
        labels = D.quality_only(labels)
    splits = D.read_splits(args.splits, labels)
    split = splits.get(args.split)
    if splits.protocol and splits.protocol != args.protocol:
        log("note: %s was written for protocol %r, training with %r" % (args.splits, splits.protocol, args.protocol))
    target_names = labels.target_names
    extra = {}
    if args.no_integral_prompt:
        extra["integral_prompt"] = False
    if args.no_qa_token:
        extra["qa_token"] = False
    if args.model == "ipiqa":
        extra["freeze_text_extras"] = bool(args.freeze_text_extras)  # recorded either way: see check_resume
    elif args.freeze_text_extras:
        raise ValueError("--freeze-text-extras applies to --model ipiqa only")
    kwargs = model_kwargs(args, args.model, len(target_names), **extra)
    config = {"format": TRAIN_FORMAT, "dataset": labels.dataset, "labels": os.path.abspath(args.labels),
              "splits": os.path.abspath(args.splits), "split": split.index, "model": args.model,
              "protocol": args.protocol, "model_kwargs": kwargs, "batch_size": args.batch_size, "lr": args.lr,
              "head_lr_mult": args.head_lr_mult, "seed": args.seed, "target_names": target_names,
              "clip_weights": args.clip_weights, "init_image2prompt": args.init_image2prompt,
              "split_sha256": split_digest(split), "optimizer": args.optimizer, "weight_decay": args.weight_decay,
              "dbcnn_stage": getattr(args, "dbcnn_stage", None)}

    os.makedirs(args.out, exist_ok=True)
    last_path = os.path.join(args.out, "last.pt")
    best_path = os.path.join(args.out, "best.pt")
    pred_path = os.path.join(args.out, "predictions.csv")
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    result_path = os.path.join(args.out, "result.json")

    state = torch.load(last_path, map_location="cpu") if os.path.exists(last_path) else None
    if state is not None:
        check_resume(state, config, last_path)
        settle_pending(best_path, pred_path, state["best"]["epoch"])
        if state["epoch"] >= args.epochs:
            log("%s already holds %d trained epochs; nothing to do" % (args.out, state["epoch"]))
            return write_result(result_path, labels, split, args, state["best"], state["epoch"])
    i2p = None
    if state is None and args.init_image2prompt:
        i2p = read_image2prompt_checkpoint(args.init_image2prompt)
        check_image2prompt(i2p, args.init_image2prompt, labels.dataset, split)
    sets = load_datasets(args, labels, split)
    if state is not None:
        # Weights come from last.pt: skip reading CLIP / image2prompt files.
        from .models import build_model

        model = build_model(seed=args.seed, **kwargs)
    elif args.model == "dbcnn":
        model = build_dbcnn_start(args, kwargs, split)
    else:
        model = build(kwargs, args.clip_weights, args.seed, args.init_image2prompt, i2p)
    if args.model == "dbcnn" and args.dbcnn_stage == 1:
        model.freeze_branches()
    if len(getattr(model, "output_names", target_names)) != len(target_names):
        raise ValueError("model %s has outputs %s, labels %s have targets %s"
                         % (args.model, model.output_names, args.labels, target_names))
    uses_prompt = bool(getattr(model, "uses_prompt", True))
    model.to(dev)
    optimizer = make_optimizer(args, model)
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    start, best = 1, {"epoch": 0, "score": float("-inf")}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if amp and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start, best = state["epoch"] + 1, state["best"]
        trim_metrics(metrics_path, state["epoch"])
        log("resuming %s after epoch %d (best so far: epoch %d)" % (args.out, state["epoch"], best["epoch"]))
    else:
        if os.path.exists(metrics_path):
            os.remove(metrics_path)  # a fresh run: stale lines from an older, unfinished run
        settle_pending(best_path, pred_path, None)

    net = model
    if dev.type == "cuda" and torch.cuda.device_count() > 1 and dev.index is None:
        net = nn.DataParallel(model)
        log("DataParallel over %d GPUs" % torch.cuda.device_count())
    n_train = len(sets["train"])
    # A last batch of one would make BatchNorm's batch statistics degenerate.
    drop_last = n_train % args.batch_size == 1
    eval_loaders = {part: make_loader(ds, args.batch_size, False, loader_workers(args), dev)
                    for part, ds in sets.items() if part != "train"}
    select_on = "val" if args.protocol == "holdout" else "test"
    log("%s split %d: train %d, %s; model %s on %s%s" % (
        labels.dataset, split.index, n_train,
        ", ".join("%s %d" % (k, len(v)) for k, v in sets.items() if k != "train"),
        args.model, dev, " (amp)" if amp else ""))

    for epoch in range(start, args.epochs + 1):
        t0 = time.time()
        loader = epoch_train_loader(args, sets["train"], epoch, dev, drop_last)
        net.train()
        total, count = torch.zeros((), device=dev), 0  # summed on the device: no sync per step
        n_batches = len(loader)
        for b, (images, tokens, target) in enumerate(loader, start=1):
            images = images.to(dev, non_blocking=True)
            tokens = tokens.to(dev, non_blocking=True) if uses_prompt else None
            target = target.to(dev, non_blocking=True)
            with torch.cuda.amp.autocast(enabled=amp):
                if args.model == "cnniqa":
                    loss = patch_l1(model, images, target)
                elif args.model == "hyperiqa":  # the authors' L1, on one random crop per image
                    loss = nn.functional.l1_loss(net(images, tokens).float(), target)
                else:
                    loss = nn.functional.mse_loss(net(images, tokens).float(), target)
            amp_step(optimizer, scaler, loss)
            total += loss.detach() * images.shape[0]
            count += images.shape[0]
            if n_batches >= 20 and b % max(1, n_batches // 5) == 0:
                log("epoch %d/%d batch %d/%d loss %.4f" % (epoch, args.epochs, b, n_batches, total.item() / count))
        record = {"epoch": epoch, "loss": total.item() / count}
        if not math.isfinite(record["loss"]):
            raise FloatingPointError("epoch %d: training loss is %s" % (epoch, record["loss"]))
        evals = {}
        pred, mos = predict(net, eval_loaders[select_on], dev, amp, uses_prompt)
        evals[select_on] = (pred, mos, score_targets(pred, mos, target_names))
        score = selection_score(evals[select_on][2])
        improved = score > best["score"]
        if select_on == "val" and improved:
            pred, mos = predict(net, eval_loaders["test"], dev, amp, uses_prompt)
            evals["test"] = (pred, mos, score_targets(pred, mos, target_names))
        for part, (_, _, m) in evals.items():
            record[part] = jsonable(m)
        record["score"] = finite_or_none(score)
        record["best"] = improved
        record["seconds"] = round(time.time() - t0, 3)
        if improved:
            best = {"epoch": epoch, "score": score, "test": record["test"]}
            if select_on == "val":
                best["val"] = record["val"]
            save_atomic({"format": TRAIN_FORMAT, "config": config, "model_kwargs": kwargs,
                         "output_names": list(getattr(model, "output_names", target_names)),
                         "target_names": target_names, "image2prompt": bool(args.init_image2prompt),
                         "epoch": epoch, "metrics": record,
                         "model": model.state_dict()}, best_path + PENDING)
            pred, mos, _ = evals["test"]
            write_predictions(pred_path + PENDING, [s.name for s in sets["test"].samples], pred, mos, target_names)
        with open(metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
        save_atomic({"format": TRAIN_FORMAT, "config": config, "epoch": epoch, "best": best,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict() if amp else None}, last_path)
        if improved:  # committed by last.pt: the new best replaces the old one
            install_pending(best_path, pred_path)
        summary = ", ".join("%s %s srcc %.4f plcc %.4f krcc %.4f" % (select_on, t, m["srcc"], m["plcc"], m["krcc"])
                            for t, m in evals[select_on][2].items())
        log("epoch %d/%d loss %.4f %s%s (%.1fs)" % (epoch, args.epochs, record["loss"], summary,
                                                    " *best*" if improved else "", record["seconds"]))

    return write_result(result_path, labels, split, args, best, args.epochs)


def write_result(path, labels, split, args, best, epochs_trained):
    result = {"dataset": labels.dataset, "split": split.index, "model": args.model, "protocol": args.protocol,
              "selected_on": "val" if args.protocol == "holdout" else "test", "epochs": epochs_trained,
              "best_epoch": best["epoch"], "score": finite_or_none(best["score"]), "test": best.get("test")}
    write_json_atomic(result, path)
    return result


def main(argv=None):
    return cli_main("agiqa_torch.train", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
