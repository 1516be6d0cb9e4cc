"""The export's numeric gate: ONNX Runtime against an fp64 eager run of the same model and inputs
(``compare_with_eager``), and the error ``export`` raises when an export fails a check."""

from __future__ import annotations

import contextlib
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .models import AGIQAModel
from .ortc import OrtError
from .ortc import run_onnxruntime as _run_ort

# The numeric gate (compare_with_eager). ONNX Runtime is judged against an fp64 eager run of the same
# model on the same inputs, with a tolerance derived from fp32's own error there:
#     |ort - ref64| <= GATE_K * max(err32, GATE_REL_FLOOR * max|ref64|) + GATE_ATOL,
#     err32 = max over the batch of |eager fp32 - ref64|, per output.
# Why: fp32 rounding grows with the model and its weights (about 1e-8 on the tiny test models, 1e-4 to
# 2e-3 on the full-size IP-IQA with trained-scale weights, outputs in MOS units), so a fixed tolerance
# around eager fp32 either refuses correct full-size exports or waves wrong tiny ones through (weights
# rounded to fp16: tests/test_export_gate.py). ORT's kernels round differently from eager's but to the
# same order (measured: |ort - ref64| <= 1.1 x err32 at full size, <= 13 x on tiny models only where
# err32 was ~0 by chance, which the floors cover), so a correct export lands within a few err32 of the
# exact value; a wrong one (another weight, another op) lands orders of magnitude farther.
GATE_K = 10.0
GATE_REL_FLOOR = 1e-6  # ~8 fp32 ulps of the output's scale
GATE_ATOL = 1e-7


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Run the block with every module of ``model`` in eval mode, then give each module back the mode it
    had. torch.onnx.export restores only its argument's top-level mode, recursively: through our fresh
    (training) wrapper that put a caller's eval model, and the eval parts of a training one (a frozen
    tower), into training mode."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


class ExportError(Exception):
    """A problem with the export's inputs or its result; main prints it and exits 1."""


def run_onnxruntime(path: str, inputs: Dict[str, np.ndarray], output_names: Sequence[str]) -> Tuple[Dict, str]:
    """agiqa_torch.ortc.run_onnxruntime with its errors as ExportError."""
    try:
        return _run_ort(path, inputs, output_names)
    except OrtError as err:
        raise ExportError(str(err)) from err


def eager_outputs(model: AGIQAModel, *inputs: Optional[torch.Tensor]):
    """(eager fp32, fp64) outputs as float64 [B, k] of ``model(*inputs)``: the model itself, then the
    same model converted to double precision in place (same weights, same inputs; no second copy of a
    large model), both in eval mode. The model gets its own dtypes back, bit for bit (float32 ->
    float64 -> float32 is exact)."""
    with eval_mode(model), torch.no_grad():
        out32 = model(*inputs).double().numpy()
        with in_double(model):
            out64 = model(*inputs).numpy()
    return out32, out64


@contextlib.contextmanager
def in_double(model: nn.Module):
    """Run the block with ``model``'s floating-point parameters and buffers in float64, then give each
    its own dtype back."""
    saved = [(m, k, t.dtype) for m in model.modules() for store in (m._parameters, m._buffers)
             for k, t in store.items() if t is not None and t.is_floating_point()]
    model.double()
    try:
        yield model
    finally:
        for m, k, dtype in saved:
            if k in m._parameters:
                m._parameters[k].data = m._parameters[k].data.to(dtype)
            else:
                m._buffers[k] = m._buffers[k].to(dtype)


def gate_tolerances(out32: np.ndarray, out64: np.ndarray) -> np.ndarray:
    """Per output, the largest |ort - fp64| the gate accepts (the rule at GATE_K)."""
    err32 = np.abs(out32 - out64).max(axis=0)
    scale = np.abs(out64).max(axis=0)
    return GATE_K * np.maximum(err32, GATE_REL_FLOOR * scale) + GATE_ATOL


def compare_with_eager(path: str, model: AGIQAModel, batch: int = 3, seed: int = 1) -> Dict[str, object]:
    """Run ONNX Runtime on a sample batch and judge it against the fp64 eager reference (see GATE_K);
    ExportError when an output is farther from it than the gate allows. Native-size models are
    checked at every size of sample_sizes (a square and a non-square one); the result is the worst."""
    from .export import sample_sizes  # export imports this module: resolved at call time

    results = [_compare_at(path, model, batch, seed, size) for size in sample_sizes(model)]
    worst = max(results, key=lambda r: r["max_abs_diff"])
    return dict(worst, fp32_error=max(r["fp32_error"] for r in results),
                tolerance=min(r["tolerance"] for r in results), sizes=[r["size"] for r in results])


def _compare_at(path: str, model: AGIQAModel, batch: int, seed: int, size: Tuple[int, int]) -> Dict[str, object]:
    from .export import sample_feeds

    inputs = sample_feeds(model, batch, seed, size=size)
    out32, out64 = eager_outputs(model, *inputs.values())
    tol = gate_tolerances(out32, out64)
    feeds = {n: t.numpy() for n, t in inputs.items()}
    got, runtime = run_onnxruntime(path, feeds, model.output_names)
    worst, err32 = 0.0, 0.0
    for i, name in enumerate(model.output_names):
        g, r = got[name], out64[:, i:i + 1]
        if g.shape != r.shape or g.dtype != np.float32:
            raise ExportError(f"{path}: output {name} is {g.dtype}{list(g.shape)} in ONNX Runtime, "
                              f"want float32{list(r.shape)}")
        diff = float(np.abs(g.astype(np.float64) - r).max())
        e32 = float(np.abs(out32[:, i] - out64[:, i]).max())
        if not diff <= tol[i]:
            raise ExportError(f"{path}: output {name} is up to {diff:.3g} from an fp64 eager run, more than the "
                              f"{tol[i]:.3g} allowed ({GATE_K:g} x max(fp32 eager's own error {e32:.3g}, "
                              f"{GATE_REL_FLOOR:g} x |ref|) + {GATE_ATOL:g}); ort {g.ravel().tolist()} "
                              f"fp64 {r.ravel().tolist()} (images {size[0]}x{size[1]})")
        worst, err32 = max(worst, diff), max(err32, e32)
    return {"runtime": runtime, "batch": batch, "max_abs_diff": worst, "fp32_error": err32,
            "tolerance": float(tol.min()), "size": list(size)}


# --- command line ---------------------------------------------------------------------------------
