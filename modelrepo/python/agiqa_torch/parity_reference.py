"""Reference side of the Go parity test (modelrepo/parity_test.go).

``python -m agiqa_torch.parity_reference --out REPO --seed S --inputs inputs.json --json result.json``

1. Exports a tiny seeded IP-IQA into the repository REPO exactly as ``agiqa_torch.export --tiny``
   does (same arguments, so the same weights).
2. Rebuilds that model and runs it in eager PyTorch on the images and prompts listed in inputs.json
   (``{"images": [path, ...], "prompts": [text, ...]}``, one prompt per image), preprocessed the way
   training does: Pillow decode, RGB, bicubic squash to S x S (data.load_image), CLIP tokenizer.
3. Writes result.json: the model name and S, the pixels (CHW uint8, base64) and token ids each
   image and prompt became, and the eager outputs per output name.

With ``--model clipiqa`` (or ``clipiqa_plus``) the model is a tiny seeded CLIP-IQA (``export --model clipiqa --tiny``), which
scores each image at its own size: the images are only decoded (Pillow, RGB), the prompts are ignored,
each image is scored alone, and result.json also lists each image's [height, width] under "shapes".

With an alignment model (``--model clipscore``/``imagereward``/..., or ``--builder MODULE:FUNC`` for a
test's own AlignmentModel) the images are resized and centre-cropped (resize_center_crop, Pillow
bicubic, torchvision's geometry), the prompts get the model's prompt prefix, and the token rows are
CLIP BPE ids from agiqa_torch.tokenizer or, for BERT WordPiece models, the rows given with ``--tokens
tokens.json`` (``{"tokens": [[...]], "masks": [[...]]}``, one row per image: the Go side's own tokenizer
output, which transformers' BertTokenizer checks elsewhere, bench/bert); result.json then also has
"masks" when the model takes TOKENS_MASK.

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
from .alignexport import ALIGNMENT_MODELS, is_alignment
from .data import load_image
from .tokenizer import tokenize


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.parity_reference", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="repository to export into")
    p.add_argument("--model", choices=("ipiqa", "clipiqa", "clipiqa_plus", "cnniqa", "dbcnn", "hyperiqa") + ALIGNMENT_MODELS,
                   default="ipiqa")
    p.add_argument("--builder", help="MODULE:FUNCTION of an alignment model (export --builder)")
    p.add_argument("--tokens", help="JSON {tokens, masks}: the token rows of a BERT WordPiece model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="agiqa-3k", help="agiqa-3k: QUALITY and ALIGNMENT; agiqa-1k: QUALITY")
    p.add_argument("--max-batch-size", type=int, default=8)
    p.add_argument("--inputs", required=True, help="JSON: {images: [...], prompts: [...]}")
    p.add_argument("--json", required=True, help="where to write the reference")
    p.add_argument("--vocab", help="CLIP BPE vocabulary (default: the tokenizer's own lookup)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)

    which = ["--builder", args.builder] if args.builder else ["--model", args.model]
    export_args = which + ["--tiny", "--seed", str(args.seed),
                           "--out", args.out, "--max-batch-size", str(args.max_batch_size)]
    if args.builder or args.model in ALIGNMENT_MODELS:
        pass  # zero-shot, fixed inputs: no dataset; the CLIP vocabulary is the tokenizer's own lookup
    elif args.model in ("ipiqa", "cnniqa", "dbcnn", "hyperiqa"):  # cnniqa, dbcnn, hyperiqa: image only, prompts ignored, tokens written empty
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
    if export.is_native(model):  # clipiqa, clipiqa_plus
        return _native_reference(args.json, name, model, images)
    if is_alignment(model):
        return _alignment_reference(args, name, model, images, prompts)
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


def load_center_crop(path: str, size: int) -> torch.Tensor:
    """uint8 [3, size, size]: RGB, short side resized to ``size`` (long side int(size * long / short),
    Pillow bicubic), then the centre size x size crop at round((side - size) / 2) -- torchvision's
    Resize(size) + CenterCrop(size) on a PIL image, what CLIP-style models are fed."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        rw, rh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        if (rw, rh) != (w, h):
            im = im.resize((rw, rh), Image.BICUBIC)
        left, top = int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))
        im = im.crop((left, top, left + size, top + size))
        return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def load_resize_pad(path: str, size: int) -> torch.Tensor:
    """uint8 [3, size, size]: RGB, long side resized to ``size`` (each side times size / long side,
    Python's round, Pillow bicubic), centred on black -- HPS v2's ResizeMaxSize(size, fill=0)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = size / float(max(w, h))
        rw, rh = round(w * scale), round(h * scale)
        if (rw, rh) != (w, h):
            im = im.resize((rw, rh), Image.BICUBIC)
        canvas = Image.new("RGB", (size, size), (0, 0, 0))
        canvas.paste(im, ((size - rw) // 2, (size - rh) // 2))
        return torch.from_numpy(np.array(canvas, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _alignment_reference(args, name: str, model, images, prompts) -> int:
    """The reference of an alignment model: images preprocessed as the model's authors do
    (resize_center_crop, or resize_pad for HPS v2), the model's tokenizer's rows."""
    load = load_resize_pad if model.preprocess == "resize_pad" else load_center_crop
    pixels = torch.stack([load(path, model.image_size) for path in images])
    if model.tokenizer == "clip_bpe":
        tokens = tokenize([model.prompt_prefix + p for p in prompts], context_length=model.token_length,
                          vocab_path=args.vocab)
        masks = export.token_mask(tokens)
    else:
        if not args.tokens:
            print(f"parity_reference: {name} takes {model.tokenizer} ids: give them with --tokens", file=sys.stderr)
            return 1
        with open(args.tokens, encoding="utf-8") as f:
            given = json.load(f)
        tokens = torch.tensor(given["tokens"], dtype=torch.int64)
        masks = torch.tensor(given["masks"], dtype=torch.int64)
        if tuple(tokens.shape) != (len(images), model.token_length) or masks.shape != tokens.shape:
            print(f"parity_reference: --tokens has {tuple(tokens.shape)} tokens and {tuple(masks.shape)} masks; "
                  f"want {len(images)} rows of {model.token_length}", file=sys.stderr)
            return 1
    inputs = (pixels, tokens, masks) if model.uses_mask else (pixels, tokens)
    with torch.no_grad():
        out = model(*inputs)
    doc = {
        "model": name,
        "image_size": model.image_size,
        "pixels": [base64.b64encode(px.contiguous().numpy().tobytes()).decode("ascii") for px in pixels],
        "tokens": tokens.tolist(),
        "masks": masks.tolist() if model.uses_mask else [],
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
