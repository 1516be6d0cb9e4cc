"""GPU check: export full-size models with random weights, then time eager PyTorch and ONNX Runtime.

``python -m agiqa_torch.gpubench --out DIR [--model NAME ...]`` builds each model (default IP-IQA: CLIP
RN50 at 512 px, 2 outputs; ``--model all`` every model of the tables: IP-IQA, the ResNet50 rows,
CLIP-IQA, CLIP-IQA+, CNNIQA, DBCNN, HyperIQA) at its served size with seeded random weights, exports it to
``DIR/<name>_random/1/model.onnx`` with its ``config.pbtxt`` (so ``agiqa serve --repo DIR`` or Triton can
serve it) and checks the file (onnx.checker and the contract's names and types), then measures eager
images/s in fp32 and in fp16 (autocast) at batch 32, and the exported file's images/s in ONNX Runtime, and
prints one JSON object per model (a line each): the card, the torch version and the figures.

ONNX Runtime is the served path: Triton's onnxruntime backend runs the same model.onnx on the CUDA
execution provider, so on a GPU the file is timed there (the onnxruntime Python package with
CUDAExecutionProvider, i.e. onnxruntime-gpu; host arrays in and out, as a request's tensors arrive). On
CPU it runs on the CPU provider, through the Python package or, without it, ONNX Runtime's C library
(agiqa_torch.ortc). Where that is impossible (no package, a package without the CUDA provider, a CUDA
provider that did not load) the line says why under "ort_skipped" instead of a figure; ``--ort require``
makes that an error, ``--ort off`` leaves ONNX Runtime out. "ort_max_abs_diff" is the largest |ORT - eager
fp32| on the timed batch, so a figure of a wrong graph shows as one.

``--device cpu`` measures fp32 only (autocast fp16 is a CUDA figure); ``--tiny --device cpu`` runs the same
path on a tiny model so the script itself is tested without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np
import torch

from .clip_rn50 import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN
from .export import DEFAULT_IMAGE_SIZE, TINY, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE_FOR, check_onnx, config_pbtxt, export_onnx, sample_inputs
from .models import MODEL_NAMES, build_model
from .ortc import NO_RUNTIME, OrtCSession, OrtError, find_ort_library


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


class OrtUnavailable(Exception):
    """ONNX Runtime cannot time the model on the asked device; the message says why."""


def ort_runner(path: str, output_names, device: str, threads: int):
    """(run(feeds) -> [arrays], provider, runtime, close) for ``path`` in ONNX Runtime on ``device``'s
    execution provider; OrtUnavailable when there is none."""
    try:
        import onnxruntime as ort  # type: ignore
    except ImportError:
        ort = None
    names = list(output_names)
    if device.startswith("cuda"):
        if ort is None:
            raise OrtUnavailable("the onnxruntime Python package is not installed (the CUDA execution provider "
                                 "needs onnxruntime-gpu; scripts/gpu-check.sh --install-ort-gpu)")
        have = ort.get_available_providers()
        if "CUDAExecutionProvider" not in have:
            raise OrtUnavailable(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (it has "
                                 f"{', '.join(have)}): it is the CPU build; install onnxruntime-gpu "
                                 "(scripts/gpu-check.sh --install-ort-gpu)")
        index = int(device.split(":")[1]) if ":" in device else 0
        sess = ort.InferenceSession(path, providers=[("CUDAExecutionProvider", {"device_id": index})])
        if sess.get_providers()[0] != "CUDAExecutionProvider":
            raise OrtUnavailable(f"onnxruntime {ort.__version__}: the CUDA execution provider did not load "
                                 f"(session runs on {sess.get_providers()}); ONNX Runtime's log above names "
                                 "the CUDA or cuDNN library it could not open")
        return (lambda feeds: sess.run(names, feeds)), "CUDAExecutionProvider", \
            f"onnxruntime {ort.__version__} (Python)", (lambda: None)
    if ort is not None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        return (lambda feeds: sess.run(names, feeds)), "CPUExecutionProvider", \
            f"onnxruntime {ort.__version__} (Python)", (lambda: None)
    lib = find_ort_library()
    if lib is None or not os.path.exists(lib):
        raise OrtUnavailable(f"{NO_RUNTIME}: neither the onnxruntime Python package nor ONNX Runtime's C library "
                             "($AGIQA_ORT_LIB or .tools/ort; scripts/install-ort.sh)")
    try:
        csess = OrtCSession(lib, path, threads)
    except OrtError as err:
        raise OrtUnavailable(str(err)) from err

    def run(feeds):
        out = csess.run(feeds, names)
        return [out[n] for n in names]

    return run, "CPUExecutionProvider", f"ONNX Runtime {csess.version} (C library {lib})", csess.close


def time_ort(path: str, model, image, tokens, device: str, args, eager_out) -> dict:
    """The ONNX Runtime figures of the report: images/s, provider, runtime and |ORT - eager fp32|; or
    "ort_skipped" with the reason (OrtUnavailable propagates under --ort require)."""
    feeds = {"IMAGE": image.cpu().numpy()}
    if tokens is not None:
        feeds["TOKENS"] = tokens.cpu().numpy()
    try:
        run, provider, runtime, close = ort_runner(path, model.output_names, device, args.threads)
    except OrtUnavailable as err:
        if args.ort == "require":
            raise
        print(f"gpubench: {model.name}: ONNX Runtime timing skipped: {err}", file=sys.stderr)
        return {"ort_skipped": str(err)}
    try:
        got = np.concatenate([np.asarray(o, dtype=np.float64).reshape(image.shape[0], -1) for o in run(feeds)], axis=1)
        for _ in range(args.warmup):
            run(feeds)
        start = time.perf_counter()
        for _ in range(args.iters):
            run(feeds)
        elapsed = time.perf_counter() - start
    finally:
        close()
    return {"ort_images_per_s": args.iters * image.shape[0] / elapsed, "ort_provider": provider,
            "ort_runtime": runtime, "ort_max_abs_diff": float(np.abs(got - eager_out).max())}


def build_random(name: str, tiny: bool, seed: int):
    """Model ``name`` at its served size with seeded random weights (tiny: the test widths and sizes).
    CLIP-IQA's antonym prompts are stand-in token rows and CLIP-IQA+ keeps its unlearned context: with
    random weights only the shapes matter."""
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
    if args.ort != "off":
        with torch.no_grad():
            eager_out = model(image, tokens).double().cpu().numpy()
        result.update(time_ort(path, model, image, tokens, args.device, args, eager_out))
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
    p.add_argument("--ort", choices=("auto", "require", "off"), default="auto",
                   help="time the exported file in ONNX Runtime on the device's provider: auto (say why not when "
                        "impossible), require (fail instead), off")
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
        try:
            print(json.dumps(bench_model(name, args)), flush=True)
        except OrtUnavailable as err:
            print(f"gpubench: {name}: --ort require, but ONNX Runtime cannot time it: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
