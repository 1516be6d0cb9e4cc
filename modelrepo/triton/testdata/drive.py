"""Drives agiqa_native.py and the per-model model.py against a built libagiqa.so for native_test.go.

    python3 drive.py SPEC.json  ->  results as JSON on stdout

The Go test writes SPEC (library path, random images, the models to initialise as Triton would) and makes
every assertion itself; this script only runs the Python side and reports what it saw, scores as float32
bit patterns so that Go can compare them exactly.
"""
import importlib.util
import json
import sys
import types

import numpy as np


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).ravel().tolist()


def served_image(kind, seed, h, w):
    """baselines/testdata/gen_served.py's pixel() for a whole image, uint8 [3, h, w]."""
    k = np.arange(3 * h * w, dtype=np.uint64).reshape(3, h, w)
    m = np.uint64(0xFFFFFFFF)
    x = ((k + np.uint64(seed)) * np.uint64(0x9E3779B1)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x85EBCA77)) & m
    x ^= x >> np.uint64(13)
    hsh = (x >> np.uint64(24)).astype(np.int64)
    ch, r, c = np.indices((3, h, w))
    v = {"noise": lambda: hsh, "smooth": lambda: ((r * 3 + c * 5 + ch * 50) // 4 + (hsh >> 6)) % 256,
         "hazy": lambda: 200 + (hsh >> 5)}[kind]()
    return v.astype(np.uint8)


def fake_pb_utils():
    """A stand-in for triton_python_backend_utils with the documented behaviour model.py relies on
    (python_backend README, src/resources/triton_python_backend_utils.py): get_input_tensor_by_name returns
    None for a missing input; TritonError(message, code) with message() and code(); InferenceResponse with
    output_tensors(), has_error(), error()."""
    pb = types.ModuleType("triton_python_backend_utils")

    class Tensor:
        def __init__(self, name, array):
            if not isinstance(array, np.ndarray):
                raise TypeError("Tensor needs a numpy array")
            self._name, self._array = name, array

        def name(self):
            return self._name

        def as_numpy(self):
            return self._array

    class TritonError:
        UNKNOWN, INTERNAL, NOT_FOUND, INVALID_ARG, UNAVAILABLE, UNSUPPORTED, ALREADY_EXISTS, CANCELLED = range(8)

        def __init__(self, message, code=1):
            self._message, self._code = message, code

        def message(self):
            return self._message

        def code(self):
            return self._code

    class InferenceResponse:
        def __init__(self, output_tensors=None, error=None):
            self._outputs, self._error = list(output_tensors or []), error

        def output_tensors(self):
            return self._outputs

        def has_error(self):
            return self._error is not None

        def error(self):
            return self._error

    class InferenceRequest:
        def __init__(self, inputs):
            self._inputs = inputs

        def inputs(self):
            return self._inputs

    def get_input_tensor_by_name(request, name):
        return next((t for t in request.inputs() if t.name() == name), None)

    pb.Tensor, pb.TritonError, pb.InferenceResponse, pb.InferenceRequest = Tensor, TritonError, InferenceResponse, InferenceRequest
    pb.get_input_tensor_by_name = get_input_tensor_by_name
    return pb


ERROR_NAMES = {0: "UNKNOWN", 1: "INTERNAL", 2: "NOT_FOUND", 3: "INVALID_ARG", 7: "CANCELLED"}


def response(r):
    if r.has_error():
        return {"error": ERROR_NAMES.get(r.error().code(), str(r.error().code())), "message": r.error().message()}
    (q,) = r.output_tensors()
    a = q.as_numpy()
    return {"name": q.name(), "dtype": str(a.dtype), "shape": list(a.shape), "bits": bits(a)}


def load_model_py(path):
    spec = importlib.util.spec_from_file_location("native_model_py", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def triton(spec, images, pb):
    """Each model's 1/model.py initialised and executed as Triton would, one response per request."""
    out = {}
    for m in spec["models"]:
        model = load_model_py(m["model_py"]).TritonPythonModel()
        try:
            model.initialize({"model_config": m["config"], "model_instance_kind": "CPU",
                              "model_instance_name": m["name"] + "_0_0", "model_instance_device_id": "0",
                              "model_repository": m["repository"], "model_version": m["version"],
                              "model_name": m["name"]})
        except Exception as exc:
            out[m["name"]] = {"initialize_error": f"{type(exc).__name__}: {exc}"}
            continue
        req = lambda *ts: pb.InferenceRequest(list(ts))
        requests = [
            req(pb.Tensor("IMAGE", images)),
            req(pb.Tensor("PIXELS", images)),                      # no IMAGE
            req(pb.Tensor("IMAGE", images.astype(np.float32))),     # wrong datatype
            req(pb.Tensor("IMAGE", images[:, :1])),                 # one channel
            req(pb.Tensor("IMAGE", images[::-1])),                  # the batch reversed (not C-contiguous)
        ]
        out[m["name"]] = {"responses": [response(r) for r in model.execute(requests)]}
        model.finalize()
    return out


def core(spec, images, native):
    lib = native.Library(spec["lib"])
    res = {"version": lib.version(), "scores": {}, "served": {}, "errors": {}}
    served = np.stack([served_image(c["kind"], c["seed"], spec["served"]["h"], spec["served"]["w"])
                       for c in spec["served"]["cases"]])
    for fn in spec["functions"]:
        m = lib.load(fn, "")
        res["scores"][fn] = bits(m.run(images))
        res["served"][fn] = bits(m.run(served))
        m.close()

    def error(call):
        try:
            call()
        except native.NativeError as exc:
            return {"code": exc.code, "message": str(exc)}
        return None

    m = lib.load(spec["functions"][0], "")
    res["errors"] = {
        "unknown function": error(lambda: lib.load("no_such_function", "")),
        "missing folder": error(lambda: lib.load(spec["functions"][0], spec["missing_dir"])),
        "one channel": error(lambda: m.run(images[:, :1])),
        "no batch dimension": error(lambda: m.run(images[0, 0, 0, 0])),
        "non-uint8": error(lambda: m.run(images.astype(np.int16))),
        "2x2 image": error(lambda: m.run(np.ascontiguousarray(images[:, :, :2, :2]))),
    }
    m.close()
    res["errors"]["closed"] = error(lambda: m.run(images))
    return res


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    images = np.fromfile(spec["images"], dtype=np.uint8).reshape(spec["shape"])
    pb = fake_pb_utils()
    sys.modules["triton_python_backend_utils"] = pb
    # model.py must find agiqa_native.py beside the library by itself, so Triton goes first and the core
    # is loaded under another name.
    tri = triton(spec, images, pb)
    cspec = importlib.util.spec_from_file_location("agiqa_native_core", spec["native_py"])
    native = importlib.util.module_from_spec(cspec)
    cspec.loader.exec_module(native)
    res = core(spec, images, native)
    res["triton"] = tri
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
