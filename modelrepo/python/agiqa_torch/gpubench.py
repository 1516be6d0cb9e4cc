"""GPU check: export full-size models with random weights, then time eager PyTorch.

``python -m agiqa_torch.gpubench --out DIR [--model NAME ...]`` builds each model (default IP-IQA: CLIP
RN50 at 512 px, 2 outputs; ``--model all`` every model of the tables: IP-IQA, the ResNet50 rows,
CLIP-IQA, CNNIQA, DBCNN, HyperIQA) at its served size with seeded random weights, exports it to
``DIR/<name>_random/1/model.onnx`` with its ``config.pbtxt`` (so ``agiqa serve --repo DIR`` or Triton can
serve it) and checks the file (onnx.checker and the contract's names and types), then measures eager
images/s in fp32 and in fp16 (autocast) at batch 32 and prints one JSON object per model (a line each):
the card, the torch version and the figures. ``--device cpu`` measures fp32 only
(autocast fp16 is a CUDA figure); ``--tiny --device cpu`` runs the same path on a tiny model so the script
itself is tested without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

import torch

from .clip_rn50 import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN
from .export import DEFAULT_IMAGE_SIZE, TINY, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE_FOR, check_onnx, config_pbtxt, export_onnx, sample_inputs
from .models import MODEL_NAMES, build_model


def time_eager(model, image, tokens, device: str, fp16: bool, iters: int, warmup: int) -> float:
    """Images per second of model(image, tokens) on device, after warm-up."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    ctx = torch.autocast(device_type="cuda", dtype=torch.float16) if fp16 else torch.autocast(device_type="cpu", enabled=False)
    with torch.no_grad(), ctx:
        for _ in range(warmup):
            model(image, tokens)
        sync()
        start = time.perf_counter()
        for _ in range(iters):
            model(image, tokens)
        sync()
        elapsed = time.perf_counter() - start
    return iters * image.shape[0] / elapsed


def build_random(name: str, tiny: bool, seed: int):
    """Model ``name`` at its served size with seeded random weights (tiny: the test widths and sizes).
    CLIP-IQA's antonym prompts are stand-in token rows: with random weights only the shapes matter."""
    kw = dict(num_outputs=2 if name == "ipiqa" else 1, seed=seed,
              image_size=TINY_IMAGE_SIZE_FOR.get(name, TINY_IMAGE_SIZE) if tiny else DEFAULT_IMAGE_SIZE[name])
    if tiny:
        kw.update(TINY)
    if name == "clipiqa":
        antonyms = torch.zeros(2, CONTEXT_LENGTH, dtype=torch.int64)
        antonyms[:, 0], antonyms[:, 1], antonyms[:, 2], antonyms[:, 3] = SOT_TOKEN, torch.tensor([320, 321]), 269, EOT_TOKEN
        kw["antonym_tokens"] = antonyms
    return build_model(name, **kw).eval()


def bench_model(name: str, args) -> dict:
    """Export model ``name`` into args.out, check it, and time it: the report of one model."""
    model = build_random(name, args.tiny, args.seed)
    repo_name = name + "_random"
    path = os.path.join(args.out, repo_name, "1", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    export_onnx(model, path)
    check_onnx(path, model)
    with open(os.path.join(args.out, repo_name, "config.pbtxt"), "w", encoding="utf-8") as f:
        f.write(config_pbtxt(repo_name, model, max(32, args.batch), per_split=False,
                             writer="python -m agiqa_torch.gpubench, random weights"))
    model = model.to(args.device)
    image, tokens = sample_inputs(model, args.batch)
    image = image.to(args.device)
    tokens = tokens.to(args.device) if tokens is not None else None
    result = {
        "card": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "model": "%s (random weights, %s)" % (name, "tiny" if args.tiny else "full size"),
        "image_size": model.image_size,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "onnx_bytes": os.path.getsize(path),
        "fp32_images_per_s": time_eager(model, image, tokens, args.device, False, args.iters, args.warmup),
    }
    if args.device.startswith("cuda"):
        result["fp16_images_per_s"] = time_eager(model, image, tokens, args.device, True, args.iters, args.warmup)
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.gpubench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="repository root to export into")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--model", action="append", choices=list(MODEL_NAMES) + ["all"],
                   help="model to export and time (repeatable; all: every model; default ipiqa)")
    p.add_argument("--tiny", action="store_true", help="tiny model (tests the script on CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="CPU threads for PyTorch (it may start with 1; default: every core)")
    args = p.parse_args(argv)
    for flag in ("batch", "iters", "threads"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} {getattr(args, flag)} must be >= 1")
    if args.warmup < 0:
        p.error(f"--warmup {args.warmup} must be >= 0")
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpubench: no CUDA device; use --device cpu --tiny to test the script", file=sys.stderr)
        return 2
    asked = args.model or ["ipiqa"]
    names = list(MODEL_NAMES) if "all" in asked else list(dict.fromkeys(asked))
    for name in names:
        print(json.dumps(bench_model(name, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
