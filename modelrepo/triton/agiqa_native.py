"""Runs the Go native models from Triton's Python backend through libagiqa.so (baselines/capi).

One implementation, two servers: the embedded server runs a native model's Go function in-process;
Triton runs the very same Go code, built as a C shared library, through this module. Nothing is computed
in Python. The Triton image installs this file beside the library (/opt/agiqa); each native model's
1/model.py (a copy of modelrepo/triton/model.py) imports it from there.

The core (Library, NativeModel) needs only numpy and ctypes, so it is tested without Triton; TritonModel
is the Triton glue, given triton_python_backend_utils by its caller.
"""
import ctypes
import json
import os

import numpy as np

ABI = 1  # baselines/capi's ABI constant
FUNCTION_PARAMETER = "native.function"
INPUT, OUTPUT = "IMAGE", "QUALITY"

# agiqa_run's non-zero returns are gRPC status codes.
CANCELLED, INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, INTERNAL = 1, 3, 5, 11, 13
# Preprocessing models (modelrepo/preprocmodel): encoded bytes in, the contract's IMAGE out.
PRE_INPUT, PRE_OUTPUT = "ENCODED", "IMAGE"
_ERRLEN = 4096


class NativeError(Exception):
    """A failure reported by the library (or found before calling it), with its gRPC status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Library:
    """libagiqa.so, loaded once per process (Triton runs each model instance in its own process)."""

    def __init__(self, path):
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise NativeError(NOT_FOUND, f"native library {path}: {exc}") from None
        self.path = path
        c_char_p, c_size_t, c_int32, c_int64 = ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int64
        lib.agiqa_abi.argtypes, lib.agiqa_abi.restype = [], c_int32
        lib.agiqa_version.argtypes, lib.agiqa_version.restype = [], c_char_p
        lib.agiqa_load.argtypes = [c_char_p, c_char_p, ctypes.POINTER(c_int64), ctypes.c_char_p, c_size_t]
        lib.agiqa_load.restype = c_int32
        lib.agiqa_run.argtypes = [c_int64, ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(c_int64), c_int32,
                                  ctypes.POINTER(ctypes.c_float), c_size_t, ctypes.c_char_p, c_size_t]
        lib.agiqa_run.restype = c_int32
        lib.agiqa_free.argtypes, lib.agiqa_free.restype = [c_int64], c_int32
        u8p, i32p = ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(c_int32)
        lib.agiqa_preprocess.argtypes = [c_char_p, c_int32, ctypes.c_char_p, c_size_t, u8p, c_size_t, i32p, i32p,
                                         ctypes.c_char_p, c_size_t]
        lib.agiqa_preprocess.restype = c_int32
        abi = lib.agiqa_abi()
        if abi != ABI:
            raise NativeError(INTERNAL, f"native library {path} has ABI {abi}; agiqa_native.py needs {ABI}")
        self._lib = lib

    def version(self):
        return self._lib.agiqa_version().decode()

    def load(self, function, version_dir=""):
        """The model version's Go function: function is the native.function parameter (or the model name);
        a model.native file in version_dir names it instead, and a loader reads its files from there."""
        err = ctypes.create_string_buffer(_ERRLEN)
        handle = ctypes.c_int64(0)
        code = self._lib.agiqa_load(function.encode(), os.fsencode(version_dir), ctypes.byref(handle), err, _ERRLEN)
        if code != 0:
            raise NativeError(code, err.value.decode("utf-8", "replace"))
        return NativeModel(self._lib, handle.value, function)

    def preprocess(self, method, size, data):
        """One encoded image (JPEG/PNG bytes) -> UINT8 [3, H, W], decoded and resized by the Go code the
        harness and the embedded server's preprocess_* models run (size 0 with method "native")."""
        if not isinstance(data, (bytes, bytearray)):
            raise NativeError(INVALID_ARGUMENT, f"{PRE_INPUT} element is {type(data).__name__}, not bytes")
        data = bytes(data)
        h, w = ctypes.c_int32(0), ctypes.c_int32(0)
        err = ctypes.create_string_buffer(_ERRLEN)
        out = np.empty(3 * size * size if size > 0 else 0, dtype=np.uint8)
        for _ in range(2):  # native: the first call says how large the image is
            code = self._lib.agiqa_preprocess(method.encode(), size, data, len(data),
                                              out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), out.size,
                                              ctypes.byref(h), ctypes.byref(w), err, _ERRLEN)
            if code == OUT_OF_RANGE:
                out = np.empty(3 * h.value * w.value, dtype=np.uint8)
                continue
            if code != 0:
                raise NativeError(code, err.value.decode("utf-8", "replace"))
            return out.reshape(3, h.value, w.value)
        raise NativeError(INTERNAL, f"agiqa_preprocess: buffer still too small for {h.value}x{w.value}")


class NativeModel:
    """One loaded model version; run() may be called from several threads at once."""

    def __init__(self, lib, handle, function):
        self._lib, self._handle, self.function = lib, handle, function

    def run(self, images, per_image=1):
        """images: UINT8 [B, ...] (C order or not) -> QUALITY float32 [B, per_image], scored by the Go code."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim < 1:
            kind = f"{images.dtype} {list(images.shape)}" if isinstance(images, np.ndarray) else type(images).__name__
            raise NativeError(INVALID_ARGUMENT, f"{INPUT} must be UINT8 [B,3,H,W], got {kind}")
        if self._handle == 0:
            raise NativeError(INTERNAL, f"{self.function}: model was closed")
        arr = np.ascontiguousarray(images)
        shape = (ctypes.c_int64 * arr.ndim)(*arr.shape)
        out = np.empty((arr.shape[0], per_image), dtype=np.float32)
        err = ctypes.create_string_buffer(_ERRLEN)
        code = self._lib.agiqa_run(self._handle, arr.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), shape, arr.ndim,
                                   out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size, err, _ERRLEN)
        if code != 0:
            raise NativeError(code, err.value.decode("utf-8", "replace"))
        return out

    def close(self):
        if self._handle:
            self._lib.agiqa_free(self._handle)
            self._handle = 0


def parameter(config, key):
    """A string parameter of a Triton model config (as JSON), or None."""
    value = (config.get("parameters") or {}).get(key) or {}
    return value.get("string_value") or value.get("stringValue") or None


def quality_width(config):
    """Values per image of the QUALITY output: the product of its dims (Triton's JSON may hold them as
    numbers or, as protobuf's JSON writes int64, as strings)."""
    for out in config.get("output") or []:
        if out.get("name") == OUTPUT:
            n = 1
            for d in out.get("dims") or [1]:
                n *= int(d)
            return n
    raise ValueError(f"config has no {OUTPUT} output")


class TritonModel:
    """TritonPythonModel's work for a native model; pb is triton_python_backend_utils."""

    def __init__(self, pb, library_path):
        self.pb, self.library_path = pb, library_path
        self.model, self._pre = None, None

    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name = args.get("model_name") or config.get("name", "?")
        version = args.get("model_version", "?")
        version_dir = os.path.join(args["model_repository"], version)
        if any(i.get("name") == PRE_INPUT for i in config.get("input") or []):
            self._pre = Preprocessor(Library(self.library_path), config)
            return
        try:
            self.per_image = quality_width(config)
            function = parameter(config, FUNCTION_PARAMETER) or self.name
            self.model = Library(self.library_path).load(function, version_dir)
        except (NativeError, ValueError) as exc:
            # Raised from initialize, the message is why Triton did not load the model.
            raise RuntimeError(f"model {self.name!r} version {version}: {exc}") from None

    def execute(self, requests):
        # One response per request, in order; each request is one batch for the Go function.
        return [self._one(r) for r in requests]

    def _one(self, request):
        pb = self.pb
        try:
            if self._pre is not None:
                encoded = pb.get_input_tensor_by_name(request, PRE_INPUT)
                if encoded is None:
                    raise NativeError(INVALID_ARGUMENT, f"request has no {PRE_INPUT} input")
                return pb.InferenceResponse(output_tensors=[pb.Tensor(PRE_OUTPUT, self._pre.run(encoded.as_numpy()))])
            image = pb.get_input_tensor_by_name(request, INPUT)  # None when not sent
            if image is None:
                raise NativeError(INVALID_ARGUMENT, f"request has no {INPUT} input")
            out = pb.Tensor(OUTPUT, self.model.run(image.as_numpy(), self.per_image))
            return pb.InferenceResponse(output_tensors=[out])
        except NativeError as exc:
            code = {INVALID_ARGUMENT: pb.TritonError.INVALID_ARG, NOT_FOUND: pb.TritonError.NOT_FOUND,
                    CANCELLED: pb.TritonError.CANCELLED}.get(exc.code, pb.TritonError.INTERNAL)
            return self._error(exc, code)
        except Exception as exc:  # one failing request must not fail the others
            return self._error(exc, pb.TritonError.INTERNAL)

    def _error(self, exc, code):
        # TritonError's code argument needs Triton 23.09+ (docker-compose.yml pins 24.12).
        return self.pb.InferenceResponse(output_tensors=[], error=self.pb.TritonError(f"{self.name}: {exc}", code))

    def finalize(self):
        if self.model is not None:
            self.model.close()


class Preprocessor:
    """A preprocessing model (preprocess_<method>_<size>): ENCODED BYTES [B, 1] -> IMAGE UINT8 [B, 3, S, S].
    The method is the config's agiqa.preprocess, S the IMAGE output's dims (-1: "native", each image at its
    own size, one image per request). Each request is one batch; a row that does not decode fails it with
    INVALID_ARGUMENT naming the input and row, and the other requests of Triton's batch are still answered."""

    def __init__(self, lib, config):
        self.lib = lib
        self.method = parameter(config, "agiqa.preprocess") or "resize"
        dims = []
        for out in config.get("output") or []:
            if out.get("name") == PRE_OUTPUT:
                dims = [int(d) for d in out.get("dims") or []]
        if len(dims) != 3 or dims[0] != 3:
            raise RuntimeError(f"preprocessing model {config.get('name')!r}: output {PRE_OUTPUT} dims {dims}, want [3, S, S]")
        self.size = 0 if dims[1] == -1 else dims[1]

    def run(self, encoded):
        rows = np.asarray(encoded, dtype=object).reshape(-1)
        images = []
        for i, data in enumerate(rows):
            try:
                images.append(self.lib.preprocess(self.method, self.size, data))
            except NativeError as exc:
                raise NativeError(exc.code, f"input {PRE_INPUT}: image in row {i} does not decode: {exc}") from None
        if any(im.shape != images[0].shape for im in images):
            raise NativeError(INVALID_ARGUMENT, f"input {PRE_INPUT}: images of one request decode to different sizes; "
                                                "send one image per request")
        batch = np.stack(images)
        return batch if np.ndim(encoded) == 2 else batch[0]
