"""Drives agiqa_native.py's preprocessing (Library.preprocess, and a preprocess_* model through the
generic model.py as Triton's Python backend runs it) for preprocess_test.go.

    python3 drive_preprocess.py SPEC.json  ->  results as JSON on stdout

SPEC names the library, the encoded image files and the preprocessing models to initialise. Pixels are
written to files (raw UINT8, C order) for Go to compare byte for byte; Go makes every assertion.
"""
import importlib.util
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drive import fake_pb_utils, load_model_py  # noqa: E402  (the same stand-in as drive.py)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    pb = fake_pb_utils()
    sys.modules["triton_python_backend_utils"] = pb
    out = {"library": {}, "triton": {}}
    encoded = []
    for path in spec["images"]:
        with open(path, "rb") as f:
            encoded.append(f.read())
    # Triton first: model.py must find agiqa_native.py beside the library by itself.
    for m in spec["models"]:
        model = load_model_py(m["model_py"]).TritonPythonModel()
        model.initialize({"model_config": m["config"], "model_instance_kind": "CPU", "model_repository": m["repository"],
                          "model_version": "1", "model_name": m["name"]})
        good = np.array([[encoded[0]]], dtype=object)
        bad = np.array([[b"\xff\xd8\xff not a jpeg"]], dtype=object)
        responses = model.execute([pb.InferenceRequest([pb.Tensor("ENCODED", good)]),
                                   pb.InferenceRequest([pb.Tensor("ENCODED", bad)]),
                                   pb.InferenceRequest([pb.Tensor("ENCODED", good)])])
        res = []
        for i, r in enumerate(responses):
            if r.has_error():
                res.append({"error": r.error().code(), "message": r.error().message()})
                continue
            (t,) = r.output_tensors()
            a = t.as_numpy()
            file = os.path.join(spec["out"], f"triton_{m['name']}_{i}.raw")
            np.ascontiguousarray(a).tofile(file)
            res.append({"name": t.name(), "dtype": str(a.dtype), "shape": list(a.shape), "file": file})
        out["triton"][m["name"]] = res
        model.finalize()
    cspec = importlib.util.spec_from_file_location("agiqa_native_core", spec["native_py"])
    native = importlib.util.module_from_spec(cspec)
    cspec.loader.exec_module(native)
    lib = native.Library(spec["lib"])
    for method, size in spec["specs"]:
        key = f"{method}_{size}"
        out["library"][key] = []
        for i, data in enumerate(encoded):
            try:
                a = lib.preprocess(method, size, data)
            except native.NativeError as exc:
                out["library"][key].append({"code": exc.code, "message": str(exc)})
                continue
            file = os.path.join(spec["out"], f"lib_{key}_{i}.raw")
            a.tofile(file)
            out["library"][key].append({"shape": list(a.shape), "file": file})
    try:
        lib.preprocess("resize", 512, b"GIF89a")
        out["bad"] = None
    except native.NativeError as exc:
        out["bad"] = {"code": exc.code, "message": str(exc)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
