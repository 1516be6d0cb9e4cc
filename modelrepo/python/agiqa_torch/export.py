"""Export a model to the Triton repository: ``python -m agiqa_torch.export --model NAME --out DIR``.

Writes ``DIR/<name>/<version>/model.onnx`` following the model contract (DESIGN.md):
inputs IMAGE UINT8 [B,3,S,S] and, for prompt-aware models, TOKENS INT64 [B,77]; outputs QUALITY FP32
[B,1] and, for two-target models, ALIGNMENT FP32 [B,1]; the batch axis is dynamic. Then checks it:
onnx.checker, the graph's names/types/shapes, and ONNX Runtime against eager PyTorch on a batch size
other than the traced one (through the onnxruntime Python package when installed, else through
ONNX Runtime's C library via ctypes: $AGIQA_ORT_LIB or .tools/ort/libonnxruntime.so.1; when neither
exists the numeric check is skipped and says so). Writes ``DIR/<name>/config.pbtxt`` when absent and
checks an existing one against the model.

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
import ctypes
import json
import os
import re
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .clip_rn50 import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN, read_rn50_file
from .checkpoints import load_model_state, unwrap_state_dict
from .models import COMMA_TOKEN, MODEL_NAMES, AGIQAModel, build_model

# IP-IQA's outputs per dataset (AGIQA-3k has quality and alignment MOS). The ResNet50 / ResNet50*
# baselines are Table 1 rows and regress quality only (train.py trains them so).
DATASET_OUTPUTS = {"agiqa-1k": 1, "agiqa-3k": 2}
DEFAULT_IMAGE_SIZE = {"ipiqa": 512, "resnet50": 512, "resnet50_clip": 512, "clipiqa": 224}
TINY = dict(width=8, text_width=64, text_layers=2)
TINY_IMAGE_SIZE = 64
ZERO_SHOT = ("clipiqa",)
ANTONYMS = ("Good photo.", "Bad photo.")
OPSET = 14
# Parity between ONNX Runtime and eager PyTorch (float32, same weights): |ort - torch| <= ATOL + RTOL*|torch|.
ATOL, RTOL = 1e-4, 1e-3


class ExportError(Exception):
    """A problem with the export's inputs or its result; main prints it and exits 1."""


class _Graph(nn.Module):
    """The served signature: named inputs, one [B,1] output per target."""

    def __init__(self, model: AGIQAModel):
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor):
        # Only the served inputs are arguments: a None here would trace into a stray constant.
        out = self.model(*inputs)
        return tuple(out[:, i:i + 1] for i in range(out.shape[1]))


def sample_inputs(model: AGIQAModel, batch: int, seed: int = 0) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Random uint8 images and prompt-like token rows (SOT, ids with commas, EOT, zero padding)."""
    g = torch.Generator().manual_seed(seed)
    s = model.image_size
    image = torch.randint(0, 256, (batch, 3, s, s), generator=g, dtype=torch.int64).to(torch.uint8)
    if not model.uses_prompt:
        return image, None
    tokens = torch.zeros(batch, CONTEXT_LENGTH, dtype=torch.int64)
    for b in range(batch):
        n = 3 + (7 * b) % 20
        ids = torch.randint(1, SOT_TOKEN, (n,), generator=g)
        ids[1::4] = COMMA_TOKEN  # exercises the comma split of integral_prompt=False
        tokens[b, 0] = SOT_TOKEN
        tokens[b, 1:n + 1] = ids
        tokens[b, n + 1] = EOT_TOKEN
    return image, tokens


def export_onnx(model: AGIQAModel, path: str, opset: int = OPSET) -> None:
    """Trace ``model`` (eval mode) into ``path`` with a dynamic batch axis."""
    model.eval()
    image, tokens = sample_inputs(model, 2)
    inputs = ["IMAGE"] + (["TOKENS"] if model.uses_prompt else [])
    axes = {n: {0: "batch"} for n in inputs + list(model.output_names)}
    args = (image, tokens) if model.uses_prompt else (image,)
    with torch.no_grad():
        torch.onnx.export(_Graph(model), args, path, input_names=inputs, output_names=list(model.output_names),
                          dynamic_axes=axes, opset_version=opset, do_constant_folding=True)


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
    inputs = [("IMAGE", "UINT8", ("batch", 3, s, s))]
    if model.uses_prompt:
        inputs.append(("TOKENS", "INT64", ("batch", CONTEXT_LENGTH)))
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


# --- ONNX Runtime ---------------------------------------------------------------------------------

def find_ort_library() -> Optional[str]:
    """$AGIQA_ORT_LIB, else .tools/ort/libonnxruntime.so.1 under the repository root (dir of go.mod)."""
    env = os.environ.get("AGIQA_ORT_LIB")
    if env:
        return env
    d = os.path.dirname(os.path.abspath(__file__))
    while True:
        if os.path.exists(os.path.join(d, "go.mod")):
            cand = os.path.join(d, ".tools", "ort", "libonnxruntime.so.1")
            return cand if os.path.exists(cand) else None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


class OrtCSession:
    """Minimal ONNX Runtime session over its C API (ctypes), for checking exports where the Python
    package is not installed. Function-table slots are offsetof(OrtApi, f) / sizeof(void*) from
    onnxruntime_c_api.h; the table is append-only across releases, so they hold for any version
    that serves API_VERSION."""

    API_VERSION = 11
    _SLOTS = {
        "GetErrorMessage": 2, "CreateEnv": 3, "CreateSession": 7, "Run": 9, "CreateSessionOptions": 10,
        "SetIntraOpNumThreads": 24, "CreateTensorWithDataAsOrtValue": 49, "GetTensorMutableData": 51,
        "GetTensorElementType": 60, "GetDimensionsCount": 61, "GetDimensions": 62, "GetTensorTypeAndShape": 65,
        "CreateCpuMemoryInfo": 69, "ReleaseEnv": 92, "ReleaseStatus": 93, "ReleaseMemoryInfo": 94,
        "ReleaseSession": 95, "ReleaseValue": 96, "ReleaseTensorTypeAndShapeInfo": 99,
        "ReleaseSessionOptions": 100,
    }
    _ELEM = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int64): 7}
    _NP = {1: np.float32, 2: np.uint8, 7: np.int64}

    def __init__(self, lib_path: str, model_path: str, threads: int = 2):
        P, V = ctypes.POINTER, ctypes.c_void_p
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as err:
            raise ExportError(f"ONNX Runtime library {lib_path}: {err}") from err

        class ApiBase(ctypes.Structure):
            _fields_ = [("GetApi", ctypes.CFUNCTYPE(V, ctypes.c_uint32)),
                        ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]

        lib.OrtGetApiBase.restype = P(ApiBase)
        base = lib.OrtGetApiBase().contents
        self.version = base.GetVersionString().decode()
        api = base.GetApi(self.API_VERSION)
        if not api:
            raise ExportError(f"ONNX Runtime {self.version} at {lib_path} does not serve C API {self.API_VERSION}")
        table = ctypes.cast(api, P(V))

        def fn(name, restype, *argtypes):
            return ctypes.CFUNCTYPE(restype, *argtypes)(table[self._SLOTS[name]])

        self._msg = fn("GetErrorMessage", ctypes.c_char_p, V)
        self._release_status = fn("ReleaseStatus", None, V)
        self._release = {n: fn(n, None, V) for n in self._SLOTS if n.startswith("Release")}
        self._create_tensor = fn("CreateTensorWithDataAsOrtValue", V, V, V, ctypes.c_size_t, P(ctypes.c_int64),
                                 ctypes.c_size_t, ctypes.c_int, P(V))
        self._run = fn("Run", V, V, V, P(ctypes.c_char_p), P(V), ctypes.c_size_t, P(ctypes.c_char_p),
                       ctypes.c_size_t, P(V))
        self._data = fn("GetTensorMutableData", V, V, P(V))
        self._type_shape = fn("GetTensorTypeAndShape", V, V, P(V))
        self._elem = fn("GetTensorElementType", V, V, P(ctypes.c_int))
        self._ndim = fn("GetDimensionsCount", V, V, P(ctypes.c_size_t))
        self._dims = fn("GetDimensions", V, V, P(ctypes.c_int64), ctypes.c_size_t)
        self.env, self.opts, self.session, self.mem = V(), V(), V(), V()
        self._ok(fn("CreateEnv", V, ctypes.c_int, ctypes.c_char_p, P(V))(3, b"agiqa-export", ctypes.byref(self.env)),
                 "CreateEnv")
        self._ok(fn("CreateSessionOptions", V, P(V))(ctypes.byref(self.opts)), "CreateSessionOptions")
        self._ok(fn("SetIntraOpNumThreads", V, V, ctypes.c_int)(self.opts, threads), "SetIntraOpNumThreads")
        self._ok(fn("CreateSession", V, V, ctypes.c_char_p, V, P(V))(self.env, model_path.encode(), self.opts,
                                                                     ctypes.byref(self.session)),
                 f"CreateSession({model_path})")
        self._ok(fn("CreateCpuMemoryInfo", V, ctypes.c_int, ctypes.c_int, P(V))(1, 0, ctypes.byref(self.mem)),
                 "CreateCpuMemoryInfo")

    def _ok(self, status, what: str) -> None:
        if status:
            msg = self._msg(status).decode(errors="replace")
            self._release_status(status)
            raise ExportError(f"ONNX Runtime {what}: {msg}")

    def run(self, inputs: Dict[str, np.ndarray], output_names: Sequence[str]) -> Dict[str, np.ndarray]:
        V = ctypes.c_void_p
        arrays = [np.ascontiguousarray(a) for a in inputs.values()]
        created = [V() for _ in arrays]
        outs = (V * len(output_names))()
        try:
            for i, a in enumerate(arrays):
                if a.dtype not in self._ELEM:
                    raise ExportError(f"ONNX Runtime input {list(inputs)[i]}: unsupported dtype {a.dtype}")
                shape = (ctypes.c_int64 * a.ndim)(*a.shape)
                self._ok(self._create_tensor(self.mem, a.ctypes.data, a.nbytes, shape, a.ndim, self._ELEM[a.dtype],
                                             ctypes.byref(created[i])), f"CreateTensor({list(inputs)[i]})")
            values = (V * len(arrays))(*[c.value for c in created])
            in_names = (ctypes.c_char_p * len(inputs))(*[n.encode() for n in inputs])
            out_names = (ctypes.c_char_p * len(output_names))(*[n.encode() for n in output_names])
            self._ok(self._run(self.session, None, in_names, values, len(arrays), out_names, len(output_names), outs),
                     "Run")
            result = {}
            for i, name in enumerate(output_names):
                result[name] = self._to_numpy(V(outs[i]), name)
            return result
        finally:
            for v in [c.value for c in created] + list(outs):
                if v:
                    self._release["ReleaseValue"](v)

    def _to_numpy(self, value, name: str) -> np.ndarray:
        V = ctypes.c_void_p
        info, elem, ndim = V(), ctypes.c_int(), ctypes.c_size_t()
        self._ok(self._type_shape(value, ctypes.byref(info)), f"GetTensorTypeAndShape({name})")
        try:
            self._ok(self._elem(info, ctypes.byref(elem)), "GetTensorElementType")
            self._ok(self._ndim(info, ctypes.byref(ndim)), "GetDimensionsCount")
            dims = (ctypes.c_int64 * ndim.value)()
            self._ok(self._dims(info, dims, ndim.value), "GetDimensions")
        finally:
            self._release["ReleaseTensorTypeAndShapeInfo"](info)
        if elem.value not in self._NP:
            raise ExportError(f"ONNX Runtime output {name}: element type {elem.value} not handled")
        ptr = V()
        self._ok(self._data(value, ctypes.byref(ptr)), f"GetTensorMutableData({name})")
        shape = tuple(dims)
        dtype = np.dtype(self._NP[elem.value])
        n = int(np.prod(shape)) if shape else 1
        buf = (ctypes.c_char * (n * dtype.itemsize)).from_address(ptr.value)
        return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape)

    def close(self) -> None:
        for attr, rel in (("mem", "ReleaseMemoryInfo"), ("session", "ReleaseSession"),
                          ("opts", "ReleaseSessionOptions"), ("env", "ReleaseEnv")):
            v = getattr(self, attr, None)
            if v:
                self._release[rel](v)
                setattr(self, attr, ctypes.c_void_p())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_onnxruntime(path: str, inputs: Dict[str, np.ndarray], output_names: Sequence[str]) -> Tuple[Dict, str]:
    """Run ``path`` in ONNX Runtime; returns (outputs, which runtime). Raises ExportError when none."""
    try:
        import onnxruntime as ort  # type: ignore
    except ImportError:
        ort = None
    if ort is not None:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        res = sess.run(list(output_names), inputs)
        return dict(zip(output_names, res)), f"onnxruntime {ort.__version__} (Python)"
    lib = find_ort_library()
    if lib is None or not os.path.exists(lib):
        raise ExportError("no ONNX Runtime: the onnxruntime Python package is not installed and no C library "
                          "was found ($AGIQA_ORT_LIB or .tools/ort/libonnxruntime.so.1; scripts/install-ort.sh)")
    with OrtCSession(lib, path) as sess:
        return sess.run(inputs, output_names), f"ONNX Runtime {sess.version} (C library {lib})"


def compare_with_eager(path: str, model: AGIQAModel, batch: int = 3, seed: int = 1) -> Dict[str, object]:
    """Run eager PyTorch and ONNX Runtime on the same sample batch; ExportError when they disagree."""
    image, tokens = sample_inputs(model, batch, seed)
    model.eval()
    with torch.no_grad():
        ref = model(image, tokens).numpy()
    feeds = {"IMAGE": image.numpy()}
    if tokens is not None:
        feeds["TOKENS"] = tokens.numpy()
    got, runtime = run_onnxruntime(path, feeds, model.output_names)
    worst = 0.0
    for i, name in enumerate(model.output_names):
        g, r = got[name], ref[:, i:i + 1]
        if g.shape != r.shape or g.dtype != np.float32:
            raise ExportError(f"{path}: output {name} is {g.dtype}{list(g.shape)} in ONNX Runtime, "
                              f"want float32{list(r.shape)}")
        diff = np.abs(g - r)
        if not np.all(diff <= ATOL + RTOL * np.abs(r)):
            raise ExportError(f"{path}: output {name} differs from eager PyTorch by up to {diff.max():.3g} "
                              f"(tolerance {ATOL} + {RTOL}*|ref|); ort {g.ravel().tolist()} torch {r.ravel().tolist()}")
        worst = max(worst, float(diff.max()))
    return {"runtime": runtime, "batch": batch, "max_abs_diff": worst}


# --- Triton configuration -------------------------------------------------------------------------

# Table 3's ablation rows (baselines/catalog.go) by (Image2Prompt, integral prompt); all of them are
# without the QA token, which only the full model has.
ABLATION_KEYS = {(False, False): "ipiqa_base", (True, False): "ipiqa_i2p", (False, True): "ipiqa_prompt",
                 (True, True): "ipiqa_i2p_prompt"}


def catalog_key(model: AGIQAModel) -> str:
    """The model's row key in the paper tables (the agiqa.catalog parameter). IP-IQA with the QA token
    is the paper's model ("ipiqa", also when trained without the unpublished Image2Prompt checkpoint);
    without it, the Table 3 row of its switches."""
    if model.name != "ipiqa" or getattr(model, "qa_token", True):
        return model.name
    return ABLATION_KEYS[(bool(getattr(model, "image2prompt", False)), bool(getattr(model, "integral_prompt", True)))]


def config_pbtxt(name: str, model: AGIQAModel, max_batch_size: int, per_split: bool,
                 dataset: Optional[str] = None, writer: str = "python -m agiqa_torch.export") -> str:
    s = model.image_size
    inputs = [f'  {{ name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, {s}, {s} ] }}']
    if model.uses_prompt:
        inputs.append(f'  {{ name: "TOKENS" data_type: TYPE_INT64 dims: [ {CONTEXT_LENGTH} ] }}')
    outputs = [f'  {{ name: "{n}" data_type: TYPE_FP32 dims: [ 1 ] }}' for n in model.output_names]
    params = {"agiqa.catalog": catalog_key(model), "agiqa.preprocess": model.preprocess,
              "agiqa.per_split": "true" if per_split else "false",
              "agiqa.higher_is_better": "true" if model.higher_is_better else "false"}
    if per_split and dataset:
        params["agiqa.dataset"] = dataset
    lines = [
        f"# Written by {writer} ({model.name}).",
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch_size}",
        "input [", ",\n".join(inputs), "]",
        "output [", ",\n".join(outputs), "]",
    ]
    if per_split:
        lines.append("version_policy: { all { } }")
    lines += ["dynamic_batching { }", "instance_group [ { kind: KIND_GPU, count: 1 } ]"]
    for k, v in params.items():
        lines.append(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}')
    return "\n".join(lines) + "\n"


def _config_param(text: str, key: str) -> Optional[str]:
    m = re.search(r'key\s*:\s*"' + re.escape(key) + r'"\s*value\s*:\s*\{\s*string_value\s*:\s*"([^"]*)"', text)
    return m.group(1) if m else None


def check_existing_config(path: str, name: str, model: AGIQAModel, per_split: bool,
                          dataset: Optional[str] = None) -> None:
    """An existing config.pbtxt must declare this model's name, tensors and per-split policy, and (where
    it says) its catalogue row and training dataset: the harness reads both from the config, so a
    model exported under another's would be scored as that one."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = []
    m = re.search(r'^\s*name\s*:\s*"([^"]*)"', text, re.M)
    if not m or m.group(1) != name:
        problems.append(f'name is {m.group(1) if m else "absent"!r}, want "{name}"')
    declared = set(re.findall(r'name\s*:\s*"([A-Z_]+)"', text))
    want = {"IMAGE"} | ({"TOKENS"} if model.uses_prompt else set()) | set(model.output_names)
    if declared != want:
        problems.append(f"tensors {sorted(declared)}, the model has {sorted(want)}")
    if re.search(rf"dims\s*:\s*\[\s*3\s*,\s*{model.image_size}\s*,\s*{model.image_size}\s*\]", text) is None:
        problems.append(f"IMAGE dims are not [ 3, {model.image_size}, {model.image_size} ]")
    if per_split != bool(re.search(r"version_policy\s*:\s*\{\s*all", text)):
        problems.append("version_policy does not match per-split=" + str(per_split).lower())
    catalog = _config_param(text, "agiqa.catalog")
    if catalog is not None and catalog != catalog_key(model):
        problems.append(f'agiqa.catalog is "{catalog}", the model is "{catalog_key(model)}"')
    trained_on = _config_param(text, "agiqa.dataset")
    if per_split and dataset and trained_on is not None and trained_on != dataset:
        problems.append(f'agiqa.dataset is "{trained_on}", the model was trained on "{dataset}"')
    if problems:
        raise ExportError(f"{path} does not describe the exported model: " + "; ".join(problems)
                          + " (delete it to have it rewritten)")


# --- command line ---------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agiqa_torch.export", description=__doc__.split("\n\n")[0],
                                epilog="Example: python -m agiqa_torch.export --model ipiqa --dataset agiqa-3k "
                                       "--version 1 --checkpoint runs/ipiqa-3k-0/best.pt --clip-weights RN50.pt "
                                       "--out ../models",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=MODEL_NAMES)
    p.add_argument("--out", required=True, help="model repository root (modelrepo/models)")
    p.add_argument("--version", type=int,
                   help="version directory (>= 1); per-split models: split index + 1, the version the harness "
                        "scores split k with (default: from the checkpoint's split, else 1)")
    p.add_argument("--dataset", choices=sorted(DATASET_OUTPUTS), help="the training dataset: names the model (<model>_agiqa1k / _agiqa3k) and, "
                        "for ipiqa, fixes the outputs (agiqa-1k: QUALITY; agiqa-3k: QUALITY, ALIGNMENT)")
    p.add_argument("--name", help="repository model name (default <model>_<dataset>, clipiqa for clipiqa)")
    p.add_argument("--checkpoint", help="trained weights: train.py's best.pt, a state dict, or an official IP-IQA one")
    p.add_argument("--clip-weights", help="OpenAI RN50.pt (CLIP models; ipiqa needs it with official checkpoints)")
    p.add_argument("--tiny", action="store_true", help="tiny random model for tests (width 8, 64 px)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    p.add_argument("--image-size", type=int, help="input side S (default 512; clipiqa 224; --tiny 64)")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--vocab", help="CLIP BPE vocabulary (clipiqa's antonym prompts); default ../shared/data/clip")
    p.add_argument("--reference", help="also write eager-PyTorch outputs on sample inputs to this JSON file")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
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
    kw["image_size"] = args.image_size or (TINY_IMAGE_SIZE if args.tiny else DEFAULT_IMAGE_SIZE[args.model])
    if args.tiny:
        kw.update(TINY)
    return kw


def _default_name(args, kw: dict, model: Optional[AGIQAModel] = None) -> str:
    """--name, else <model>_<dataset> (clipiqa alone). A Table 3 ablation variant takes its row key
    instead of the model name (ipiqa_base_agiqa1k, ...): under ipiqa_<dataset> the harness would
    score it as the paper's IP-IQA."""
    if args.name:
        return args.name
    if args.model in ZERO_SHOT:
        base = args.model
    else:
        ds = args.dataset
        if ds is None and args.model == "ipiqa":
            ds = {1: "agiqa-1k", 2: "agiqa-3k"}[kw["num_outputs"]]
        if ds is None:
            raise ExportError(f"--dataset (or --name) is required to name the {args.model} model")
        row = catalog_key(model) if model is not None else args.model
        base = f"{row}_{ds.replace('-', '')}"
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
    Also settles ``args.version`` (see resolve_version)."""
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
    kw = _model_kwargs(args, ckpt)
    args.version = resolve_version(args, ckpt)
    clip_state = None
    if args.clip_weights:
        if not os.path.isfile(args.clip_weights):
            raise ExportError(f"--clip-weights {args.clip_weights}: no such file")
        if args.model == "resnet50":
            raise ExportError("--clip-weights does not apply to resnet50 (torchvision weights come with --checkpoint)")
        clip_state = read_rn50_file(args.clip_weights)
    extra = {}
    if args.model == "clipiqa":
        try:
            from .tokenizer import tokenize
        except ImportError as err:
            raise ExportError(f"clipiqa needs agiqa_torch.tokenizer for its antonym prompts: {err}") from err
        extra["antonym_tokens"] = tokenize(list(ANTONYMS), vocab_path=args.vocab)
    model = build_model(clip_state=clip_state, seed=args.seed, **kw, **extra)
    source = f"random initialisation, seed {args.seed}" if ckpt is None else f"checkpoint {args.checkpoint}"
    if clip_state is not None:
        source += f" + CLIP weights {args.clip_weights}"
    if ckpt is not None:
        try:
            load_model_state(model, unwrap_state_dict(ckpt, f"--checkpoint {args.checkpoint}"))
        except ValueError as err:
            raise ExportError(f"--checkpoint {args.checkpoint}: {err}") from err
        cfg = ckpt.get("config") if isinstance(ckpt, dict) else None
        if isinstance(ckpt, dict) and (ckpt.get("image2prompt") is True
                                       or (isinstance(cfg, dict) and bool(cfg.get("init_image2prompt")))):
            model.image2prompt = True  # train.py records an --init-image2prompt start (Table 3's switch)
    return model.eval(), kw, source


def _atomic_export(model: AGIQAModel, path: str, opset: int, meta: Dict[str, str],
                   verify: Optional[Callable[[str], None]] = None) -> None:
    """Export into a temporary file beside ``path``, run ``verify`` on it, then move it into place:
    a file that fails its checks never replaces the version being served."""
    import onnx

    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".onnx", dir=d)
    os.close(fd)
    try:
        export_onnx(model, tmp, opset)
        m = onnx.load(tmp)
        for k, v in meta.items():
            p = m.metadata_props.add()
            p.key, p.value = k, v
        onnx.save(m, tmp)
        if verify is not None:
            try:
                verify(tmp)
            except ExportError as err:
                raise ExportError(str(err).replace(tmp, path) + " (not installed)") from err
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_reference(path: str, model: AGIQAModel, batch: int = 2, seed: int = 2) -> None:
    """Sample inputs and eager outputs as JSON, for checking the ONNX file elsewhere (e.g. the Go side)."""
    image, tokens = sample_inputs(model, batch, seed)
    with torch.no_grad():
        out = model(image, tokens)
    doc = {"model": model.name, "tolerance": {"atol": ATOL, "rtol": RTOL},
           "inputs": {"IMAGE": {"dtype": "UINT8", "shape": list(image.shape), "data": image.flatten().tolist()}},
           "outputs": {n: {"dtype": "FP32", "shape": [batch, 1], "data": out[:, i].tolist()}
                       for i, n in enumerate(model.output_names)}}
    if tokens is not None:
        doc["inputs"]["TOKENS"] = {"dtype": "INT64", "shape": list(tokens.shape), "data": tokens.flatten().tolist()}
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
        model, kw, source = build_for_export(args)
        name = _default_name(args, kw, model)
        per_split = args.model not in ZERO_SHOT
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
                print(f"numeric check: {res['runtime']} matches eager PyTorch on batch {res['batch']} "
                      f"(max |diff| {res['max_abs_diff']:.2e})")
            except ExportError as err:
                if str(err).startswith("no ONNX Runtime"):
                    print(f"numeric check skipped: {err}")
                else:
                    raise

        _atomic_export(model, onnx_path, args.opset, meta, verify)
        print(f"wrote {onnx_path} ({os.path.getsize(onnx_path) / 2**20:.1f} MiB; {source})")
        if os.path.exists(cfg):
            print(f"kept {cfg} (matches the model)")
        else:
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(config_pbtxt(name, model, args.max_batch_size, per_split, args.dataset))
            print(f"wrote {cfg}")
        if args.reference:
            write_reference(args.reference, model)
            print(f"wrote {args.reference}")
    except (ExportError, ValueError, FileNotFoundError) as err:
        print(f"export: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
