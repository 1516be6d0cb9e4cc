"""GPU check: export the full-size IP-IQA with random weights, then time eager PyTorch.

``python -m agiqa_torch.gpubench --out DIR`` builds IP-IQA (CLIP RN50 at 512 px, 2 outputs) with seeded
random weights, exports it to ``DIR/ipiqa_random/1/model.onnx`` with its ``config.pbtxt`` (so ``agiqa serve --repo DIR``
or Triton can serve it) and checks the file (onnx.checker and the contract's names and types), then measures eager images/s in fp32 and in fp16 (autocast) at batch 32 and
prints one JSON object: the card, the torch version and the figures. ``--device cpu`` measures fp32 only
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

from .export import TINY, check_onnx, config_pbtxt, export_onnx, sample_inputs
from .models import build_model


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


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.gpubench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="repository root to export into")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
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
    kw = dict(num_outputs=2, seed=args.seed)
    if args.tiny:
        kw.update(TINY, image_size=64)
    model = build_model("ipiqa", **kw).eval()
    name = "ipiqa_random"
    path = os.path.join(args.out, name, "1", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    export_onnx(model, path)
    check_onnx(path, model)
    with open(os.path.join(args.out, name, "config.pbtxt"), "w", encoding="utf-8") as f:
        f.write(config_pbtxt(name, model, max(32, args.batch), per_split=False,
                             writer="python -m agiqa_torch.gpubench, random weights"))
    model = model.to(args.device)
    image, tokens = sample_inputs(model, args.batch)
    image, tokens = image.to(args.device), tokens.to(args.device)
    result = {
        "card": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "model": "ipiqa (random weights, %s)" % ("tiny" if args.tiny else "full size"),
        "image_size": model.image_size,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "onnx_bytes": os.path.getsize(path),
        "fp32_images_per_s": time_eager(model, image, tokens, args.device, False, args.iters, args.warmup),
    }
    if args.device.startswith("cuda"):
        result["fp16_images_per_s"] = time_eager(model, image, tokens, args.device, True, args.iters, args.warmup)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
