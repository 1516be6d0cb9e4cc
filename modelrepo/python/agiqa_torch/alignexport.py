"""The export's side of Table 2's alignment models (agiqa_torch.alignment.AlignmentModel subclasses).

Which builder makes which model (``export --model NAME``): CLIPScore, HPS v1/v2/v2.1 and PickScore come
from ``clip_alignment.build_alignment`` (weights: the published checkpoint, read by its
``read_checkpoint``), ImageReward from ``imagereward.build_imagereward`` (weights: ``ImageReward.pt``).
``--tiny`` builds the small-width random version of the same code path (tests, parity). ``--builder
MODULE:FUNC`` calls another builder with the same keywords (``tiny``, ``state``, ``seed``); the tests use
it for their own small alignment models.

All of them are zero-shot: one version, ``1``, served for every split, named after the model.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable, Optional, Tuple

ALIGNMENT_MODELS = ("clipscore", "hpsv1", "hpsv2", "hpsv21", "pickscore", "imagereward")


class AlignmentExportError(ValueError):
    """Arguments that cannot build the alignment model; export.main reports it."""


def is_alignment(model) -> bool:
    """Whether ``model`` is an AlignmentModel (inputs by name, ALIGNMENT only, zero-shot)."""
    from .alignment import AlignmentModel

    return isinstance(model, AlignmentModel)


def _load_builder(spec: str) -> Callable:
    mod, sep, fn = spec.partition(":")
    if not sep or not mod or not fn:
        raise AlignmentExportError(f"--builder {spec!r}: want MODULE:FUNCTION")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as err:
        raise AlignmentExportError(f"--builder {spec}: {err}") from err


def _builtin(name: str, weights: Optional[str]) -> Tuple[Callable, object]:
    """The builder of a registered model and the ``state`` argument it takes for ``weights``."""
    if name == "imagereward":
        from .imagereward import build_imagereward

        return build_imagereward, weights  # it reads the file itself
    from .clip_alignment import build_alignment, read_checkpoint

    state = read_checkpoint(weights) if weights else None
    return (lambda **kw: build_alignment(name, **kw)), state


def build(args):
    """(model, build arguments, weights source) for ``export --model NAME`` of an alignment model, or
    for ``--builder``."""
    weights = getattr(args, "weights", None)
    if weights and not os.path.isfile(weights):
        raise AlignmentExportError(f"--weights {weights}: no such file")
    if not weights and not args.tiny:
        what = "--builder " + args.builder if args.builder else args.model
        raise AlignmentExportError(f"--weights (the published checkpoint) is required for {what}, "
                                   "or --tiny for a small random test model")
    for flag in ("checkpoint", "clip_weights", "dataset"):
        if getattr(args, flag, None):
            raise AlignmentExportError(f"--{flag.replace('_', '-')} does not apply to alignment models "
                                       "(zero-shot; the published weights come with --weights)")
    if args.builder:
        fn, state = _load_builder(args.builder), weights
    else:
        fn, state = _builtin(args.model, weights)
    try:
        model = fn(tiny=args.tiny, state=state, seed=args.seed)
    except ValueError as err:
        raise AlignmentExportError(f"{args.builder or args.model}: {err}") from err
    del state  # the model holds the weights now; do not keep a second copy through the export
    if not is_alignment(model):
        raise AlignmentExportError(f"{args.builder or args.model} built a {type(model).__name__}, "
                                   "not an AlignmentModel")
    if args.model and model.name != args.model and not args.builder:
        raise AlignmentExportError(f"--model {args.model} built a model named {model.name!r}")
    if args.image_size and args.image_size != model.image_size:
        raise AlignmentExportError(f"{model.name} takes {model.image_size} px images, not --image-size "
                                   f"{args.image_size}")
    kw = {"name": model.name, "tiny": bool(args.tiny), "seed": args.seed, "image_size": model.image_size}
    if args.builder:
        kw["builder"] = args.builder
    source = f"weights {weights}" if weights else f"random initialisation, seed {args.seed}"
    return model.eval(), kw, source


def default_name(args, model) -> str:
    """--name, else the model's name (the catalogue key), with ``_tiny`` for small random versions."""
    return args.name or model.name + ("_tiny" if args.tiny else "")
