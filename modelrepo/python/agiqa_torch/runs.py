"""What a training run needs besides its loop, shared by ``train`` (per-split training) and
``image2prompt`` (pretraining): the common command-line arguments, torch setup, building the model
with its backbone and Image2Prompt weights, the epoch loaders, atomic writes, and the command-line
wrapper. Neither command imports the other; both import this.
"""

import hashlib
import json
import os
import random
import sys
import time

import torch

from . import data as D
from .checkpoints import read_image2prompt_checkpoint

TINY = dict(width=8, text_width=64, text_layers=2)
TINY_IMAGE_SIZE = 64


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def add_common_args(p, epochs, lr):
    """Arguments shared with image2prompt."""
    p.add_argument("--dataset", required=True, help="agiqa-3k, agiqa-1k, or a name for a generic image,prompt,mos csv")
    p.add_argument("--labels", help="label file (default for agiqa-3k / agiqa-1k: data.csv / AIGC_MOS_Zscore.xlsx, "
                                    "else AIGC_all.csv, in --data)")
    p.add_argument("--data", required=True, help="folder holding the images named in the labels")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--clip-weights", "--weights", dest="clip_weights",
                   help="backbone weights: OpenAI CLIP RN50.pt (a torchvision ResNet-50 state dict for resnet50)")
    p.add_argument("--image-size", type=int, help="input side S (default 512; 64 with --tiny)")
    p.add_argument("--tiny", action="store_true", help="a tiny randomly initialised model, for tests")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="processes decoding images (default: min(8, CPUs))")
    p.add_argument("--no-cache", action="store_true",
                   help="decode images every epoch instead of once into memory (S=512: 0.75 MiB per image)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--vocab", help="CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)")


def default_labels(parser, args):
    """--labels defaults to the dataset's own label file in --data."""
    if args.labels is None:
        args.labels = D.default_labels_path(args.dataset, args.data)
        if args.labels is None:
            parser.error("--labels is required for dataset %s (only agiqa-3k and agiqa-1k have a default)" % args.dataset)


def setup_torch(args):
    """Threads, device and AMP from the common arguments; fills in the default image size."""
    if args.image_size is None:
        args.image_size = TINY_IMAGE_SIZE if args.tiny else 512
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(args.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device %s: CUDA is not available" % args.device)
    amp = bool(args.amp and dev.type == "cuda")
    if args.amp and not amp:
        log("--amp ignored: mixed precision needs CUDA, running on %s" % dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return dev, amp


def model_kwargs(args, name, num_outputs, **extra):
    """The build_model arguments (minus weights), stored in checkpoints so export can rebuild the model."""
    kw = dict(name=name, num_outputs=num_outputs, image_size=args.image_size)
    if args.tiny:
        kw.update(TINY)
    kw.update(extra)
    return kw


def read_clip_state(path):
    if not path:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError("--clip-weights %s not found" % path)
    from .clip_rn50 import read_rn50_file

    return read_rn50_file(path)


def build(kwargs, clip_path, seed, image2prompt_path=None, image2prompt_ckpt=None):
    """build_model with backbone weights from ``clip_path`` and, for ipiqa, the image branch from an
    image2prompt checkpoint (read from ``image2prompt_path`` unless given as ``image2prompt_ckpt``)."""
    from .models import build_model

    clip_state = read_clip_state(clip_path)
    if clip_state is None and "width" not in kwargs:
        log("no --clip-weights: %s starts from random weights" % kwargs["name"])
    if not image2prompt_path:
        return build_model(clip_state=clip_state, seed=seed, **kwargs)
    ckpt = image2prompt_ckpt if image2prompt_ckpt is not None else read_image2prompt_checkpoint(image2prompt_path)
    try:
        return build_model(clip_state=clip_state, seed=seed, image2prompt=True, image2prompt_state=ckpt, **kwargs)
    except ValueError as e:
        raise ValueError("--init-image2prompt %s: %s" % (image2prompt_path, e)) from e


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json_atomic(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def make_loader(dataset, batch_size, shuffle, workers, device, seed=None, drop_last=False):
    g = None
    if seed is not None:
        g = torch.Generator()
        g.manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, generator=g,
        pin_memory=device.type == "cuda", drop_last=drop_last, worker_init_fn=D.seed_worker,
        persistent_workers=False)


def epoch_seed(seed, epoch):
    """Each epoch's shuffling, flips and dropout derive from (seed, epoch) alone, so resumed runs
    draw the same batches as uninterrupted ones."""
    return seed * 100003 + epoch


def epoch_train_loader(args, dataset, epoch, device, drop_last):
    """The shuffling training loader for one epoch, with Python's and torch's global RNGs (flips,
    dropout) reseeded from epoch_seed first."""
    es = epoch_seed(args.seed, epoch)
    random.seed(es)
    torch.manual_seed(es)
    return make_loader(dataset, args.batch_size, True, loader_workers(args), device, seed=es,
                       drop_last=drop_last)


def amp_step(optimizer, scaler, loss):
    """One optimiser step through the (possibly disabled) AMP gradient scaler."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def image_dataset(args, samples, train):
    """A Dataset yielding uint8 images (moved to the device as bytes, normalised inside the model),
    decoded once into memory unless --no-cache."""
    ds = D.ImageDataset(samples, args.data, args.image_size, train=train, vocab_path=args.vocab, dtype=torch.uint8)
    if not args.no_cache:
        t0 = time.time()
        ds.preload(args.workers)
        log("decoded %d images into memory (%.0f MiB, %.1fs)" % (len(ds), ds.cache.numel() / 2 ** 20, time.time() - t0))
    return ds


def loader_workers(args):
    """Cached images need no worker processes: indexing memory is faster than shipping batches."""
    return args.workers if args.no_cache else 0


def split_digest(split):
    """sha256 of one split's train/val/test image lists: the same index of a rewritten splits file
    (another seed) is another split, and resuming on it would test on images already trained on."""
    doc = {part: sorted(getattr(split, part)) for part in ("train", "val", "test")}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


def error_line(e):
    """The message of ``e``; for an error re-raised from a DataLoader worker (whose message is
    "Caught X in DataLoader worker process N." plus the worker's traceback), the original message."""
    msg = str(e)
    if msg.startswith("Caught ") and "DataLoader worker" in msg.split("\n", 1)[0]:
        marker = "\n%s: " % type(e).__name__
        if marker in msg:
            return msg.rsplit(marker, 1)[1].strip()
    return msg


def cli_main(prog, parse, run_fn, argv):
    """Parse argv, run, print the result as one JSON line; expected failures (missing or bad files,
    diverged training) become one error line and exit status 1 instead of a traceback."""
    args = parse(argv)
    try:
        result = run_fn(args)
    except (OSError, ValueError, FloatingPointError) as e:
        print("%s: error: %s" % (prog, error_line(e)), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
