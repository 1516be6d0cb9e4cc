"""Image2Prompt pretraining of IP-IQA's image branch: ``python -m agiqa_torch.image2prompt``.

The CLIP image tower (attention pool included) learns to regress the frozen CLIP text embedding of
each image's prompt, with the cosine loss 1 - cos(image feature, prompt feature) (IP-IQA's
CosineEmbeddingLoss with target 1). Everything but the image tower is frozen.

With --splits/--split only that split's train (and validation) images are used, and the mean cosine
on its test images is reported after each epoch; without them every labelled image is used.

Writes to --out: image2prompt.pt after every epoch (``{"format", "model_kwargs", "epoch", "loss",
"model": {"visual.*": ...}}``, what ``train --init-image2prompt`` loads) and metrics.jsonl.
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

from . import data as D
from .checkpoints import I2P_FORMAT, read_image2prompt_checkpoint
from .runs import (add_common_args, amp_step, build, cli_main, default_labels, epoch_train_loader, image_dataset,
                   loader_workers, log, make_loader, model_kwargs, save_atomic, setup_torch, split_digest)

CHECKPOINT = "image2prompt.pt"
read_checkpoint = read_image2prompt_checkpoint  # the reader of what this command writes


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.image2prompt", description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m agiqa_torch.image2prompt --dataset agiqa-3k --labels data.csv "
                                       "--data AGIQA-3K --splits splits.json --split 0 --clip-weights RN50.pt "
                                       "--amp --out runs/i2p-3k-0")
    add_common_args(p, epochs=10, lr=1e-5)
    p.add_argument("--splits", help="splits JSON; with --split, pretrain on that split's train images only")
    p.add_argument("--split", type=int)
    args = p.parse_args(argv)
    if (args.splits is None) != (args.split is None):
        p.error("--splits and --split go together")
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0:
        p.error("--epochs and --batch-size must be >= 1 and --lr > 0")
    default_labels(p, args)
    return args


def _cosines(model, images, tokens):
    feats = model.image_encoder(images).float()
    with torch.no_grad():
        target = model.encode_text(tokens).float()
    return F.cosine_similarity(feats, target, dim=-1)


def run(args):
    dev, amp = setup_torch(args)
    labels = D.read_labels(args.dataset, args.labels)
    split = None
    if args.splits:
        split = D.read_splits(args.splits, labels).get(args.split)
        train_samples, test_samples = labels.select(split.train + split.val), labels.select(split.test)
    else:
        log("no --splits: pretraining on every labelled image (their prompts are then seen before testing)")
        train_samples, test_samples = labels.samples, []
    D.check_images(train_samples + test_samples, args.data, args.labels)
    train_set = image_dataset(args, train_samples, True)
    test_loader = None
    if test_samples:
        test_loader = make_loader(image_dataset(args, test_samples, False), args.batch_size, False,
                                  loader_workers(args), dev)

    # The quality head's width is irrelevant here; build with the labels' targets so the kwargs match
    # the IP-IQA model that train.py will build and load this branch into.
    kwargs = model_kwargs(args, "ipiqa", len(labels.target_names))
    model = build(kwargs, args.clip_weights, args.seed)
    for p in model.parameters():
        p.requires_grad = False
    for p in model.visual.parameters():
        p.requires_grad = True
    model.to(dev)
    optimizer = torch.optim.AdamW(model.visual.parameters(), lr=args.lr, betas=(0.9, 0.999), weight_decay=0.0)
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    ckpt_path = os.path.join(args.out, CHECKPOINT)
    if os.path.exists(metrics_path):
        os.remove(metrics_path)
    drop_last = len(train_set) % args.batch_size == 1
    log("image2prompt on %d images (%d test) of %s, %s" % (len(train_set), len(test_samples), labels.dataset, dev))

    record = None
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        loader = epoch_train_loader(args, train_set, epoch, dev, drop_last)
        model.eval()  # the frozen text tower and head stay in eval mode
        model.visual.train()
        total, count = 0.0, 0
        for images, tokens, _ in loader:
            images, tokens = images.to(dev, non_blocking=True), tokens.to(dev, non_blocking=True)
            with torch.cuda.amp.autocast(enabled=amp):
                loss = (1.0 - _cosines(model, images, tokens)).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError("image2prompt epoch %d: loss is %s" % (epoch, loss.item()))
            amp_step(optimizer, scaler, loss)
            total += loss.item() * images.shape[0]
            count += images.shape[0]
        record = {"epoch": epoch, "loss": total / count}
        if test_loader is not None:
            model.eval()
            cos = []
            with torch.no_grad(), torch.cuda.amp.autocast(enabled=amp):
                for images, tokens, _ in test_loader:
                    cos.append(_cosines(model, images.to(dev), tokens.to(dev)).cpu())
            record["test_cosine"] = torch.cat(cos).mean().item()
        record["seconds"] = round(time.time() - t0, 3)
        save_atomic({"format": I2P_FORMAT, "model_kwargs": kwargs, "epoch": epoch, "loss": record["loss"],
                     "dataset": labels.dataset, "split": args.split,
                     # train --init-image2prompt refuses a branch pretrained on another split's images.
                     "split_sha256": split_digest(split) if split is not None else None,
                     "model": {"visual." + k: v.detach().cpu() for k, v in model.visual.state_dict().items()}},
                    ckpt_path)
        with open(metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        log("image2prompt epoch %d/%d loss %.4f%s (%.1fs)" % (
            epoch, args.epochs, record["loss"],
            " test cosine %.4f" % record["test_cosine"] if "test_cosine" in record else "", record["seconds"]))
    return {"checkpoint": ckpt_path, **record}


def main(argv=None):
    return cli_main("agiqa_torch.image2prompt", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
