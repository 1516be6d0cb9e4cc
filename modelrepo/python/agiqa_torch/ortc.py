"""ONNX Runtime for the export's numeric check: the onnxruntime Python package when installed, else ONNX
Runtime's C library through ctypes ($AGIQA_ORT_LIB or .tools/ort/libonnxruntime.so.1, what
scripts/install-ort.sh installs for the Go side), so Debian's Python can check exports without pip.

The C binding reads functions out of the ``OrtApi`` table by slot: slot = offsetof(OrtApi, f) /
sizeof(void*). The slots below were read from onnxruntime_c_api.h of ONNX Runtime 1.24 (ORT_API_VERSION
24, the header github.com/yalue/onnxruntime_go v1.27.0 vendors, which the Go side builds with), and every
function used is in the table of API version 11 (ONNX Runtime 1.11). The table is append-only across
releases, so the slots hold for any library that serves API 11; one that does not (GetApi(11) returns
NULL) is refused. tests/test_ortc.py parses the header's struct and checks each slot and version.
"""

from __future__ import annotations

import ctypes
import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


class OrtError(Exception):
    """ONNX Runtime is missing, cannot be loaded, or failed on a call."""


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
    """Minimal ONNX Runtime session over its C API (ctypes): create, run on numpy arrays, close."""

    API_VERSION = 11
    SLOTS = {
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
        table = self._api_table(lib_path)

        def fn(name, restype, *argtypes):
            return ctypes.CFUNCTYPE(restype, *argtypes)(table[self.SLOTS[name]])

        self._msg = fn("GetErrorMessage", ctypes.c_char_p, V)
        self._release_status = fn("ReleaseStatus", None, V)
        self._release = {n: fn(n, None, V) for n in self.SLOTS if n.startswith("Release")}
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

    def _api_table(self, lib_path: str):
        """The library's OrtApi table for API_VERSION; OrtError when it does not serve that version."""
        P, V = ctypes.POINTER, ctypes.c_void_p
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as err:
            raise OrtError(f"ONNX Runtime library {lib_path}: {err}") from err

        class ApiBase(ctypes.Structure):
            _fields_ = [("GetApi", ctypes.CFUNCTYPE(V, ctypes.c_uint32)),
                        ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]

        lib.OrtGetApiBase.restype = P(ApiBase)
        base = lib.OrtGetApiBase().contents
        self.version = base.GetVersionString().decode()
        api = base.GetApi(self.API_VERSION)
        if not api:
            raise OrtError(f"ONNX Runtime {self.version} at {lib_path} does not serve C API version "
                           f"{self.API_VERSION} (ONNX Runtime 1.{self.API_VERSION} or later is needed)")
        return ctypes.cast(api, P(V))

    def _ok(self, status, what: str) -> None:
        if status:
            msg = self._msg(status).decode(errors="replace")
            self._release_status(status)
            raise OrtError(f"ONNX Runtime {what}: {msg}")

    def run(self, inputs: Dict[str, np.ndarray], output_names: Sequence[str]) -> Dict[str, np.ndarray]:
        V = ctypes.c_void_p
        arrays = [np.ascontiguousarray(a) for a in inputs.values()]
        created = [V() for _ in arrays]
        outs = (V * len(output_names))()
        try:
            for i, a in enumerate(arrays):
                if a.dtype not in self._ELEM:
                    raise OrtError(f"ONNX Runtime input {list(inputs)[i]}: unsupported dtype {a.dtype}")
                shape = (ctypes.c_int64 * a.ndim)(*a.shape)
                self._ok(self._create_tensor(self.mem, a.ctypes.data, a.nbytes, shape, a.ndim, self._ELEM[a.dtype],
                                             ctypes.byref(created[i])), f"CreateTensor({list(inputs)[i]})")
            values = (V * len(arrays))(*[c.value for c in created])
            in_names = (ctypes.c_char_p * len(inputs))(*[n.encode() for n in inputs])
            out_names = (ctypes.c_char_p * len(output_names))(*[n.encode() for n in output_names])
            self._ok(self._run(self.session, None, in_names, values, len(arrays), out_names, len(output_names), outs),
                     "Run")
            return {name: self._to_numpy(V(outs[i]), name) for i, name in enumerate(output_names)}
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
            raise OrtError(f"ONNX Runtime output {name}: element type {elem.value} not handled")
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


NO_RUNTIME = "no ONNX Runtime"


def run_onnxruntime(path: str, inputs: Dict[str, np.ndarray], output_names: Sequence[str]) -> Tuple[Dict, str]:
    """Run ``path`` in ONNX Runtime; returns (outputs, which runtime). OrtError (starting with NO_RUNTIME
    when there is none) otherwise."""
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
        raise OrtError(f"{NO_RUNTIME}: the onnxruntime Python package is not installed and no C library "
                       "was found ($AGIQA_ORT_LIB or .tools/ort/libonnxruntime.so.1; scripts/install-ort.sh)")
    with OrtCSession(lib, path) as sess:
        return sess.run(inputs, output_names), f"ONNX Runtime {sess.version} (C library {lib})"
