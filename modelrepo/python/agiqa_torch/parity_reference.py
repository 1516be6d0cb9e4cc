"""Reference side of the Go parity test (modelrepo/parity_test.go).

``python -m agiqa_torch.parity_reference --out REPO --seed S --inputs inputs.json --json result.json``

1. Exports a tiny seeded IP-IQA into the repository REPO exactly as ``agiqa_torch.export --tiny``
   does (same arguments, so the same weights).
2. Rebuilds that model and runs it in eager PyTorch on the images and prompts listed in inputs.json
   (``{"images": [path, ...], "prompts": [text, ...]}``, one prompt per image), preprocessed the way
   training does: Pillow decode, RGB, bicubic squash to S x S (data.load_image), CLIP tokenizer.
3. Writes result.json: the model name and S, the pixels (CHW uint8, base64) and token ids each
   image and prompt became, and the eager outputs per output name.

With ``--model clipiqa`` the model is a tiny seeded CLIP-IQA (``export --model clipiqa --tiny``), which
scores each image at its own size: the images are only decoded (Pillow, RGB), the prompts are ignored,
each image is scored alone, and result.json also lists each image's [height, width] under "shapes".

One process does both steps so the test pays for importing torch once.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image

from . import export
from .data import load_image
from .tokenizer import tokenize


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.parity_reference", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="repository to export into")
    p.add_argument("--model", choices=("ipiqa", "clipiqa", "cnniqa", "dbcnn", "hyperiqa"), default="ipiqa")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="agiqa-3k", help="agiqa-3k: QUALITY and ALIGNMENT; agiqa-1k: QUALITY")
    p.add_argument("--max-batch-size", type=int, default=8)
    p.add_argument("--inputs", required=True, help="JSON: {images: [...], prompts: [...]}")
    p.add_argument("--json", required=True, help="where to write the reference")
    p.add_argument("--vocab", help="CLIP BPE vocabulary (default: the tokenizer's own lookup)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)

    export_args = ["--model", args.model, "--tiny", "--seed", str(args.seed),
                   "--out", args.out, "--max-batch-size", str(args.max_batch_size)]
    if args.model in ("ipiqa", "cnniqa", "dbcnn", "hyperiqa"):  # cnniqa, dbcnn, hyperiqa: image only, prompts ignored, tokens written empty
        export_args += ["--dataset", args.dataset]
    elif args.vocab:
        export_args += ["--vocab", args.vocab]
    if export.main(export_args) != 0:
        print("parity_reference: export failed", file=sys.stderr)
        return 1
    # The same arguments through the same builder give the weights just exported.
    ns = export._parser().parse_args(export_args)
    model, kw, _ = export.build_for_export(ns)
    name = export._default_name(ns, kw, model)

    with open(args.inputs, encoding="utf-8") as f:
        spec = json.load(f)
    images, prompts = spec["images"], spec["prompts"]
    if len(images) != len(prompts) or not images:
        print(f"parity_reference: {len(images)} images and {len(prompts)} prompts; want one prompt per image",
              file=sys.stderr)
        return 1
    if args.model == "clipiqa":
        return _native_reference(args.json, name, model, images)
    size = model.image_size
    pixels = torch.stack([load_image(path, size).round().to(torch.uint8) for path in images])
    tokens = tokenize(prompts, vocab_path=args.vocab) if model.uses_prompt else None
    with torch.no_grad():
        out = model(pixels, tokens)
    doc = {
        "model": name,
        "image_size": size,
        "pixels": [base64.b64encode(px.contiguous().numpy().tobytes()).decode("ascii") for px in pixels],
        "tokens": tokens.tolist() if tokens is not None else [[] for _ in images],
        "outputs": {n: out[:, i].tolist() for i, n in enumerate(model.output_names)},
    }
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return 0


def _native_reference(path: str, name: str, model, images) -> int:
    """The reference of a native-size model: each image decoded as-is and scored alone."""
    pixels, shapes, scores = [], [], {n: [] for n in model.output_names}
    for image in images:
        with Image.open(image) as im:
            px = torch.from_numpy(np.array(im.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1).contiguous()
        with torch.no_grad():
            out = model(px.unsqueeze(0))
        pixels.append(base64.b64encode(px.numpy().tobytes()).decode("ascii"))
        shapes.append(list(px.shape[1:]))
        for i, n in enumerate(model.output_names):
            scores[n].append(float(out[0, i]))
    doc = {"model": name, "image_size": 0, "shapes": shapes, "pixels": pixels, "tokens": [], "outputs": scores}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
