"""Export a model to the Triton repository: ``python -m agiqa_torch.export --model NAME --out DIR``.

Writes ``DIR/<name>/<version>/model.onnx`` following the model contract (DESIGN.md):
inputs IMAGE UINT8 [B,3,S,S] and, for prompt-aware models, TOKENS INT64 [B,77]; outputs QUALITY FP32
[B,1] and, for two-target models, ALIGNMENT FP32 [B,1]; the batch axis is dynamic. Then checks it:
onnx.checker, the graph's names/types/shapes, and ONNX Runtime (agiqa_torch.ortc: the onnxruntime
package, else its C library) against an fp64 eager run of the model on a batch size other than the
traced one (see compare_with_eager; when no ONNX Runtime exists the numeric check is skipped and says
so). Writes ``DIR/<name>/config.pbtxt`` when absent and checks an existing one against the model.

Per-split models keep one version per split: the model trained on split index k (0-based, ``train
--split k``) is version k + 1, the version the harness scores split k's test images with (Triton ignores
version 0). ``--version`` defaults to that when the checkpoint records its split.

Examples:
  python -m agiqa_torch.export --model ipiqa --dataset agiqa-3k \\
      --checkpoint runs/ipiqa-3k-0/best.pt --clip-weights RN50.pt --out ../models      # split 0 -> version 1
  python -m agiqa_torch.export --model clipiqa --clip-weights RN50.pt --out ../models
  python -m agiqa_torch.export --model ipiqa --dataset agiqa-1k --tiny --seed 0 --out /tmp/repo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from . import alignexport
from .alignexport import ALIGNMENT_MODELS, AlignmentExportError, is_alignment
from .clip_rn50 import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN, read_rn50_file
from .checkpoints import load_model_state, unwrap_state_dict
from .models import COMMA_TOKEN, MODEL_NAMES, AGIQAModel, build_model
from .exportgate import (GATE_ATOL, GATE_K, GATE_REL_FLOOR, ExportError,  # noqa: F401 - re-exported
                         compare_with_eager, eager_outputs, eval_mode, gate_tolerances, in_double,
                         run_onnxruntime)
from .onnxfile import EXTERNAL_DATA_ABOVE, add_metadata, data_file_name, install, parameter_bytes
from .ortc import NO_RUNTIME, OrtError, find_ort_library  # noqa: F401 - re-exported
from .tritonconfig import ABLATION_KEYS, ConfigError, catalog_key, check_existing_config, config_pbtxt  # noqa: F401

# IP-IQA's outputs per dataset (AGIQA-3k has quality and alignment MOS). The ResNet50 / ResNet50*
# baselines are Table 1 rows and regress quality only (train.py trains them so).
DATASET_OUTPUTS = {"agiqa-1k": 1, "agiqa-3k": 2}
DEFAULT_IMAGE_SIZE = {"ipiqa": 512, "resnet50": 512, "resnet50_clip": 512, "clipiqa": 224, "clipiqa_plus": 224, "cnniqa": 512, "dbcnn": 512,
                      "hyperiqa": 512}
TINY = dict(width=8, text_width=64, text_layers=2)
TINY_IMAGE_SIZE = 64
# Tiny exports of models with fixed-size crops: hyperiqa's 224 crops on a 5 x 5 grid 16 px apart.
TINY_IMAGE_SIZE_FOR = {"hyperiqa": 288}
ZERO_SHOT = ("clipiqa", "clipiqa_plus")
ANTONYMS = ("Good photo.", "Bad photo.")
OPSET = 14


class _Graph(nn.Module):
    """The served signature: named inputs, one [B,1] output per target."""

    def __init__(self, model: AGIQAModel):
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor):
        # Only the served inputs are arguments: a None here would trace into a stray constant.
        out = self.model(*inputs)
        return tuple(out[:, i:i + 1] for i in range(out.shape[1]))


def is_native(model: AGIQAModel) -> bool:
    """Whether the model takes each image at its own size (IMAGE [B, 3, H, W], agiqa.preprocess native)."""
    return model.preprocess == "native"


def sample_sizes(model: AGIQAModel) -> List[Tuple[int, int]]:
    """The (height, width) the numeric check runs at: S x S, and for native-size models also a
    non-square size whose sides are not multiples of 32 (floor-rounding pools, a non-square grid)."""
    s = model.image_size
    return [(s, s)] + ([(s - s // 4 + 5, s + s // 2 - 3)] if is_native(model) else [])


def input_names(model: AGIQAModel) -> List[str]:
    """The served inputs in the order the model takes them: an alignment model's own list (IMAGE,
    TOKENS[, TOKENS_MASK]), else IMAGE and, for prompt-aware models, TOKENS."""
    if hasattr(model, "input_names"):
        return list(model.input_names())
    return ["IMAGE"] + (["TOKENS"] if model.uses_prompt else [])


def token_length(model: AGIQAModel) -> int:
    """The TOKENS width: the model's ``token_length`` (ImageReward 35), else CLIP's 77."""
    return int(getattr(model, "token_length", CONTEXT_LENGTH))


# BERT WordPiece ids of bert-base-uncased: [CLS], [SEP]; ids from 999 on are ordinary word pieces.
BERT_CLS, BERT_SEP, BERT_FIRST_WORD, BERT_VOCAB = 101, 102, 999, 30522


def _bert_rows(batch: int, length: int, g: torch.Generator) -> torch.Tensor:
    """[CLS] word pieces [SEP], zero padded; row 0 fills the whole width (a truncated prompt)."""
    tokens = torch.zeros(batch, length, dtype=torch.int64)
    for b in range(batch):
        n = length - 2 if b == 0 else 1 + (5 * b) % (length - 2)
        tokens[b, 0] = BERT_CLS
        tokens[b, 1:n + 1] = torch.randint(BERT_FIRST_WORD, BERT_VOCAB, (n,), generator=g)
        tokens[b, n + 1] = BERT_SEP
    return tokens


def sample_inputs(model: AGIQAModel, batch: int, seed: int = 0,
                  size: Optional[Tuple[int, int]] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Random uint8 images (S x S, or ``size`` = (height, width)) and prompt-like token rows of the
    model's tokenizer: CLIP BPE (SOT, ids with commas, EOT, zero padding) or BERT WordPiece ([CLS],
    word pieces, [SEP], zero padding)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size or (model.image_size, model.image_size)
    image = torch.randint(0, 256, (batch, 3, h, w), generator=g, dtype=torch.int64).to(torch.uint8)
    if not model.uses_prompt:
        return image, None
    if getattr(model, "tokenizer", "clip_bpe") == "bert_wordpiece":
        return image, _bert_rows(batch, token_length(model), g)
    tokens = torch.zeros(batch, token_length(model), dtype=torch.int64)
    for b in range(batch):
        n = 3 + (7 * b) % 20
        ids = torch.randint(1, SOT_TOKEN, (n,), generator=g)
        ids[1::4] = COMMA_TOKEN  # exercises the comma split of integral_prompt=False
        tokens[b, 0] = SOT_TOKEN
        tokens[b, 1:n + 1] = ids
        tokens[b, n + 1] = EOT_TOKEN
    return image, tokens


def token_mask(tokens: torch.Tensor) -> torch.Tensor:
    """TOKENS_MASK of zero-padded token rows: 1 over the real tokens ([CLS] .. [SEP]), 0 over padding."""
    return (tokens != 0).to(torch.int64)


def sample_feeds(model: AGIQAModel, batch: int, seed: int = 0,
                 size: Optional[Tuple[int, int]] = None) -> Dict[str, torch.Tensor]:
    """sample_inputs as the served inputs by name (input_names order), with TOKENS_MASK when taken."""
    image, tokens = sample_inputs(model, batch, seed, size)
    feeds = {"IMAGE": image}
    for name in input_names(model)[1:]:
        feeds[name] = tokens if name == "TOKENS" else token_mask(tokens)
    return feeds


def export_onnx(model: AGIQAModel, path: str, opset: int = OPSET) -> None:
    """Trace ``model`` in eval mode into ``path`` with a dynamic batch axis (and dynamic height and width
    for native-size models, traced at a non-square size); the caller's module modes are left as they
    were."""
    feeds = sample_feeds(model, 2, size=sample_sizes(model)[-1])
    inputs = list(feeds)
    axes = {n: {0: "batch"} for n in inputs + list(model.output_names)}
    if is_native(model):
        axes["IMAGE"] = {0: "batch", 2: "height", 3: "width"}
    args = tuple(feeds.values())
    with eval_mode(model), torch.no_grad():
        torch.onnx.export(_Graph(model).eval(), args, path, input_names=inputs,
                          output_names=list(model.output_names), dynamic_axes=axes, opset_version=opset,
                          do_constant_folding=True)


_ONNX_TYPES = {1: "FLOAT", 2: "UINT8", 7: "INT64"}


def graph_signature(path: str) -> Dict[str, List[Tuple[str, str, Tuple]]]:
    """{"inputs"/"outputs": [(name, elem type, dims with symbolic names as str)]} of an ONNX file."""
    import onnx

    m = onnx.load(path, load_external_data=False)

    def sig(values):
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = tuple(d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim)
            out.append((v.name, _ONNX_TYPES.get(t.elem_type, str(t.elem_type)), dims))
        return out

    init = {i.name for i in m.graph.initializer}
    return {"inputs": sig([v for v in m.graph.input if v.name not in init]), "outputs": sig(m.graph.output)}


def expected_signature(model: AGIQAModel) -> Dict[str, List[Tuple[str, str, Tuple]]]:
    s = model.image_size
    inputs = [("IMAGE", "UINT8", ("batch", 3, "height", "width") if is_native(model) else ("batch", 3, s, s))]
    for name in input_names(model)[1:]:
        inputs.append((name, "INT64", ("batch", token_length(model))))
    return {"inputs": inputs, "outputs": [(n, "FLOAT", ("batch", 1)) for n in model.output_names]}


def check_onnx(path: str, model: AGIQAModel) -> None:
    """onnx.checker plus the contract's names, element types and shapes (batch axis symbolic)."""
    import onnx

    try:
        onnx.checker.check_model(path)
    except onnx.checker.ValidationError as err:
        raise ExportError(f"{path}: onnx.checker rejects the graph: {err}") from err
    got, want = graph_signature(path), expected_signature(model)
    if got != want:
        raise ExportError(f"{path}: graph signature {got} differs from the contract's {want}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.export", description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m agiqa_torch.export --model ipiqa --dataset agiqa-3k "
                                       "--version 1 --checkpoint runs/ipiqa-3k-0/best.pt --clip-weights RN50.pt "
                                       "--out ../models",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODEL_NAMES + ALIGNMENT_MODELS,
                   help="the model (required unless --builder); the alignment models take --weights or --tiny")
    p.add_argument("--out", required=True, help="model repository root (modelrepo/models)")
    p.add_argument("--version", type=int,
                   help="version directory (>= 1); per-split models: split index + 1, the version the harness "
                        "scores split k with (default: from the checkpoint's split, else 1)")
    p.add_argument("--dataset", choices=sorted(DATASET_OUTPUTS), help="the training dataset: names the model (<model>_agiqa1k / _agiqa3k) and, "
                        "for ipiqa, fixes the outputs (agiqa-1k: QUALITY; agiqa-3k: QUALITY, ALIGNMENT)")
    p.add_argument("--name", help="repository model name (default <model>_<dataset>, clipiqa for clipiqa)")
    p.add_argument("--checkpoint", help="trained weights: train.py's best.pt, a state dict, or an official IP-IQA one")
    p.add_argument("--clip-weights", help="OpenAI RN50.pt (CLIP models; ipiqa needs it with official checkpoints)")
    p.add_argument("--image2prompt", action="store_true",
                   help="ipiqa: the checkpoint's training started from Image2Prompt pretraining, for checkpoints "
                        "that do not record it (official ones); with the integral prompt and the QA token this "
                        "is the paper's model, exported as ipiqa_<dataset>")
    p.add_argument("--tiny", action="store_true", help="tiny random model for tests (width 8, 64 px)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--image-size", type=int, help="input side S (default 512; --tiny 64); for clipiqa, which scores "
                                                   "images at their own size, the side the export traces and checks "
                                                   "at (default 224)")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--clipiqa-positional-224", action="store_true",
                   help="clipiqa: the earlier variant instead of the official one: CLIP's attention-pool positional "
                        "embedding, images resized and centre-cropped to --image-size (default 224); exported as "
                        "clipiqa_pos224. Default: no positional embedding, each image at its own size (native)")
    p.add_argument("--vocab", help="CLIP BPE vocabulary (clipiqa's antonym prompts); default ../shared/data/clip")
    p.add_argument("--learned-prompts", help="clipiqa_plus: the learned context, pyiqa's CLIP-IQA+_learned_prompts-603f3273.pth "
                                             "(agiqa fetch clipiqa-plus-prompts); required unless --tiny")
    p.add_argument("--reference", help="also write eager-PyTorch outputs on sample inputs to this JSON file")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--weights", help="alignment models: the published checkpoint (ViT-B-32.pt, hpc.pth, "
                                     "HPS_v2_compressed.pt, PickScore's model.safetensors, ImageReward.pt)")
    p.add_argument("--builder", help="MODULE:FUNCTION building an AlignmentModel from (tiny, state, seed) "
                                     "instead of --model (tests: their own small alignment models)")
    # Tests lower it so a tiny model takes the external-data path of models over 2 GB.
    p.add_argument("--external-data-above", type=int, default=EXTERNAL_DATA_ABOVE, help=argparse.SUPPRESS)
    return p


def outputs_for(model: str, dataset: str) -> int:
    """Number of outputs of ``model`` trained on ``dataset``: 2 (QUALITY, ALIGNMENT) for IP-IQA on
    AGIQA-3k, else 1 (QUALITY)."""
    return DATASET_OUTPUTS[dataset] if model == "ipiqa" else 1


def _recorded_kwargs(ckpt) -> Optional[dict]:
    """The build_model arguments a training checkpoint records: best.pt has them at the top, last.pt
    (and image2prompt.pt's run config) only inside "config"."""
    if not isinstance(ckpt, dict):
        return None
    if isinstance(ckpt.get("model_kwargs"), dict):
        return ckpt["model_kwargs"]
    cfg = ckpt.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("model_kwargs"), dict):
        return cfg["model_kwargs"]
    return None


def _model_kwargs(args, ckpt: Optional[dict]) -> dict:
    recorded = _recorded_kwargs(ckpt)
    if recorded is not None:
        kw = dict(recorded)
        if kw.get("name") != args.model:
            raise ExportError(f"--checkpoint {args.checkpoint} holds model {kw.get('name')!r}, not {args.model!r}")
        cfg = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
        trained_on = cfg.get("dataset")
        if trained_on in DATASET_OUTPUTS:
            if args.dataset and args.dataset != trained_on:
                raise ExportError(f"--checkpoint {args.checkpoint} was trained on {trained_on}, not --dataset {args.dataset}")
            args.dataset = trained_on
        if args.dataset and args.model not in ZERO_SHOT and kw.get("num_outputs") != outputs_for(args.model, args.dataset):
            raise ExportError(f"--checkpoint {args.checkpoint} has {kw.get('num_outputs')} outputs; "
                              f"{args.model} on {args.dataset} has {outputs_for(args.model, args.dataset)}")
        if args.image_size and args.image_size != kw.get("image_size"):
            raise ExportError(f"--checkpoint {args.checkpoint} was trained at {kw.get('image_size')} px, "
                              f"not --image-size {args.image_size}")
        return kw
    kw = {"name": args.model}
    if args.model in ZERO_SHOT:
        kw["num_outputs"] = 1
    elif args.dataset:
        kw["num_outputs"] = outputs_for(args.model, args.dataset)
    else:
        raise ExportError(f"--dataset is required for {args.model} (it names the model and, for ipiqa, fixes the "
                          "outputs: agiqa-1k QUALITY; agiqa-3k QUALITY, ALIGNMENT)")
    kw["image_size"] = args.image_size or (TINY_IMAGE_SIZE_FOR.get(args.model, TINY_IMAGE_SIZE) if args.tiny else DEFAULT_IMAGE_SIZE[args.model])
    if getattr(args, "clipiqa_positional_224", False):
        if args.model != "clipiqa":
            raise ExportError("--clipiqa-positional-224 applies to clipiqa only")
        kw["positional_224"] = True
    if args.tiny:
        kw.update(TINY)
    return kw


def _default_name(args, kw: dict, model: AGIQAModel) -> str:
    """--name, else <row>_<dataset> (clipiqa alone), row = catalog_key(model): IP-IQA is named by its
    Table 3 row (ipiqa_prompt_qa_agiqa1k without Image2Prompt, ipiqa_agiqa1k only with all three
    switches), since the harness scores a model under ipiqa_<dataset> as the paper's IP-IQA."""
    if is_alignment(model):
        return alignexport.default_name(args, model)
    if args.name:
        return args.name
    if args.model in ZERO_SHOT:
        base = args.model + ("_pos224" if kw.get("positional_224") else "")
    else:
        ds = args.dataset
        if ds is None and args.model == "ipiqa":
            ds = {1: "agiqa-1k", 2: "agiqa-3k"}[kw["num_outputs"]]
        if ds is None:
            raise ExportError(f"--dataset (or --name) is required to name the {args.model} model")
        base = f"{catalog_key(model)}_{ds.replace('-', '')}"
    return base + ("_tiny" if kw.get("width", 64) != 64 else "")


def checkpoint_split(ckpt) -> Optional[int]:
    """The 0-based split index a training checkpoint (train.py's best.pt / last.pt) was trained on."""
    cfg = ckpt.get("config") if isinstance(ckpt, dict) else None
    split = cfg.get("split") if isinstance(cfg, dict) else None
    return split if isinstance(split, int) and not isinstance(split, bool) and split >= 0 else None


def resolve_version(args, ckpt) -> int:
    """--version, or split + 1 from the checkpoint; a --version that contradicts the checkpoint's split
    would make the harness score a split with a model trained on its test images, so it is refused."""
    split = checkpoint_split(ckpt)
    version = getattr(args, "version", None)
    if version is None:
        return split + 1 if split is not None else 1
    if version < 1:
        raise ExportError(f"--version {version}: Triton ignores version directories that are not positive integers")
    if split is not None and version != split + 1:
        raise ExportError(f"--version {version}, but --checkpoint {args.checkpoint} was trained on split {split}: "
                          f"the harness scores split {split} with version {split + 1} (and split {version - 1} "
                          f"with version {version})")
    return version


def build_for_export(args) -> Tuple[AGIQAModel, dict, str]:
    """The model to export, its build arguments, and a line saying where its weights came from.
    Also settles ``args.version`` (see resolve_version; alignment models: 1)."""
    if args.builder or args.model in ALIGNMENT_MODELS:
        try:
            model, kw, source = alignexport.build(args)
        except AlignmentExportError as err:
            raise ExportError(str(err)) from err
        args.version = args.version or 1
        return model, kw, source
    if getattr(args, "weights", None):
        raise ExportError(f"--weights applies to the alignment models ({', '.join(ALIGNMENT_MODELS)})")
    ckpt = None
    if args.checkpoint:
        if not os.path.isfile(args.checkpoint):
            raise ExportError(f"--checkpoint {args.checkpoint}: no such file")
        try:
            ckpt = torch.load(args.checkpoint, map_location="cpu")
        except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike
            raise ExportError(f"--checkpoint {args.checkpoint}: not a torch checkpoint: {err}") from err
    elif args.model not in ZERO_SHOT and not args.tiny:
        raise ExportError(f"--checkpoint is required for {args.model} (trained per split); --tiny exports a random "
                          "test model")
    if args.model in ZERO_SHOT and not args.clip_weights and not args.tiny:
        raise ExportError(f"--clip-weights RN50.pt is required for {args.model} (or --tiny for a random test model)")
    if args.learned_prompts and args.model != "clipiqa_plus":
        raise ExportError("--learned-prompts applies to clipiqa_plus only")
    if args.model == "clipiqa_plus" and not args.learned_prompts and not args.tiny:
        raise ExportError("--learned-prompts is required for clipiqa_plus (the published context, agiqa fetch "
                          "clipiqa-plus-prompts), or --tiny for a random test model")
    kw = _model_kwargs(args, ckpt)
    args.version = resolve_version(args, ckpt)
    clip_state = None
    if args.clip_weights:
        if not os.path.isfile(args.clip_weights):
            raise ExportError(f"--clip-weights {args.clip_weights}: no such file")
        if args.model in ("resnet50", "cnniqa", "dbcnn", "hyperiqa"):
            raise ExportError(f"--clip-weights does not apply to {args.model} (its weights come with --checkpoint)")
        clip_state = read_rn50_file(args.clip_weights)
    extra = {}
    if args.model == "clipiqa":
        try:
            from .tokenizer import tokenize
        except ImportError as err:
            raise ExportError(f"clipiqa needs agiqa_torch.tokenizer for its antonym prompts: {err}") from err
        extra["antonym_tokens"] = tokenize(list(ANTONYMS), vocab_path=args.vocab)
    if args.learned_prompts:
        from .clipiqa_plus import read_learned_prompts

        # A full-size export must use the published file: pyiqa names it by its sha256 prefix.
        extra["learned_prompts"] = read_learned_prompts(args.learned_prompts, check_published=not args.tiny)
    model = build_model(clip_state=clip_state, seed=args.seed, **kw, **extra)
    source = f"random initialisation, seed {args.seed}" if ckpt is None else f"checkpoint {args.checkpoint}"
    if clip_state is not None:
        source += f" + CLIP weights {args.clip_weights}"
    if args.learned_prompts:
        source += f" + learned prompts {args.learned_prompts}"
    if ckpt is not None:
        try:
            load_model_state(model, unwrap_state_dict(ckpt, f"--checkpoint {args.checkpoint}"))
        except ValueError as err:
            raise ExportError(f"--checkpoint {args.checkpoint}: {err}") from err
    if _image2prompt_start(args, ckpt):
        model.image2prompt = True  # Table 3's switch: names the model (catalog_key)
    return model.eval(), kw, source


def _image2prompt_start(args, ckpt) -> bool:
    """Whether the exported weights were trained from an Image2Prompt-pretrained image branch: what
    train.py records (best.pt "image2prompt", last.pt config "init_image2prompt"), else --image2prompt,
    which only a checkpoint that records nothing (an official one) may claim."""
    cfg = ckpt.get("config") if isinstance(ckpt, dict) else None
    recorded = None
    if isinstance(ckpt, dict) and "image2prompt" in ckpt:
        recorded = ckpt["image2prompt"] is True
    elif isinstance(cfg, dict) and "init_image2prompt" in cfg:
        recorded = bool(cfg["init_image2prompt"])
    if not getattr(args, "image2prompt", False):
        return bool(recorded)
    if args.model != "ipiqa":
        raise ExportError("--image2prompt applies to ipiqa only")
    if ckpt is None:
        raise ExportError("--image2prompt needs the --checkpoint whose training started from Image2Prompt")
    if recorded is False:
        raise ExportError(f"--image2prompt, but --checkpoint {args.checkpoint} records a run without "
                          "--init-image2prompt")
    return True


def _atomic_export(model: AGIQAModel, path: str, opset: int, meta: Dict[str, str],
                   verify: Optional[Callable[[str], None]] = None,
                   external_above: int = EXTERNAL_DATA_ABOVE) -> bool:
    """Export into a temporary folder beside ``path``, with the weights in ``path``.data when they
    exceed ``external_above`` bytes (agiqa_torch.onnxfile), run ``verify`` on it, then move it into
    place: a file that fails its checks never replaces the version being served. Returns whether the
    installed model has external data."""

    def write(tmp: str) -> None:
        export_onnx(model, tmp, opset)
        add_metadata(tmp, meta)

    def check(tmp: str) -> None:
        if verify is not None:
            try:
                verify(tmp)
            except ExportError as err:
                raise ExportError(str(err).replace(tmp, path) + " (not installed)") from err

    return install(path, write, lambda: parameter_bytes(model) > external_above, check)


def write_reference(path: str, model: AGIQAModel, batch: int = 2, seed: int = 2) -> None:
    """Sample inputs and eager outputs as JSON, for checking the ONNX file elsewhere (e.g. the Go side).
    Each output has its eager fp32 values ("data"), the fp64 reference ("fp64") and the largest
    |served - fp64| the export's gate accepts ("tolerance"; the rule in "tolerance" at the top)."""
    feeds = sample_feeds(model, batch, seed)
    out32, out64 = eager_outputs(model, *feeds.values())
    tol = gate_tolerances(out32, out64)
    rule = {"rule": "|out - fp64| <= k * max(max|fp32 - fp64|, rel_floor * max|fp64|) + atol, per output",
            "k": GATE_K, "rel_floor": GATE_REL_FLOOR, "atol": GATE_ATOL}
    doc = {"model": model.name, "tolerance": rule,
           "inputs": {n: {"dtype": "UINT8" if n == "IMAGE" else "INT64", "shape": list(t.shape),
                          "data": t.flatten().tolist()} for n, t in feeds.items()},
           "outputs": {n: {"dtype": "FP32", "shape": [batch, 1], "data": out32[:, i].tolist(),
                           "fp64": out64[:, i].tolist(), "tolerance": float(tol[i])}
                       for i, n in enumerate(model.output_names)}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        if args.version is not None and args.version < 1:
            raise ExportError(f"--version {args.version}: Triton ignores version directories that are not "
                              "positive integers")
        if args.max_batch_size < 1:
            raise ExportError(f"--max-batch-size {args.max_batch_size} must be >= 1")
        if not args.model and not args.builder:
            raise ExportError("--model (or --builder) is required")
        model, kw, source = build_for_export(args)
        name = _default_name(args, kw, model)
        per_split = args.model not in ZERO_SHOT and not is_alignment(model)
        model_dir = os.path.join(args.out, name)
        onnx_path = os.path.join(model_dir, str(args.version), "model.onnx")
        cfg = os.path.join(model_dir, "config.pbtxt")
        if os.path.exists(cfg):  # before writing anything: a stale config must not cost the model file
            check_existing_config(cfg, name, model, per_split, args.dataset)
        meta = {"agiqa.model": model.name, "agiqa.weights": source, "agiqa.build": json.dumps(kw, sort_keys=True)}

        def verify(path: str) -> None:
            check_onnx(path, model)
            print("onnx.checker: ok; signature: " + ", ".join(
                f"{n} {t}{list(d)}" for part in graph_signature(path).values() for n, t, d in part))
            try:
                res = compare_with_eager(path, model)
                sizes = ", ".join(f"{h}x{w}" for h, w in res["sizes"])
                print(f"numeric check: {res['runtime']} matches eager PyTorch on batch {res['batch']} at {sizes} "
                      f"(max |diff| from fp64 {res['max_abs_diff']:.2e}; eager fp32's {res['fp32_error']:.2e})")
            except ExportError as err:
                if str(err).startswith(NO_RUNTIME):
                    print(f"numeric check skipped: {err}")
                else:
                    raise

        external = _atomic_export(model, onnx_path, args.opset, meta, verify, args.external_data_above)
        size = os.path.getsize(onnx_path)
        data = os.path.join(os.path.dirname(onnx_path), data_file_name(onnx_path))
        if external:
            size += os.path.getsize(data)
        print(f"wrote {onnx_path}{' + ' + data_file_name(onnx_path) if external else ''} "
              f"({size / 2**20:.1f} MiB; {source})")
        if os.path.exists(cfg):
            print(f"kept {cfg} (matches the model)")
        else:
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(config_pbtxt(name, model, args.max_batch_size, per_split, args.dataset))
            print(f"wrote {cfg}")
        if args.reference:
            write_reference(args.reference, model)
            print(f"wrote {args.reference}")
    except (ExportError, ValueError, FileNotFoundError, ImportError) as err:
        print(f"export: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
