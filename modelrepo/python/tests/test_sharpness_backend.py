"""The Triton Python-backend sharpness model computes what the Go native one does."""
import importlib.util
import json
import pathlib
import sys
import types

import numpy as np
import pytest

MODEL = pathlib.Path(__file__).resolve().parents[2] / "models" / "sharpness_laplacian" / "1" / "model.py"


def load():
    spec = importlib.util.spec_from_file_location("sharpness_model", MODEL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_constant_image_scores_zero():
    img = np.full((1, 3, 8, 8), 77, dtype=np.uint8)
    assert load().laplacian_variance(img)[0, 0] == 0


def test_checkerboard_matches_hand_value():
    # Grey checkerboard 0/255: interior Laplacian is +-4*255 alternating, mean 0,
    # so the variance is (4*255)^2 whatever the parity.
    board = (np.indices((6, 6)).sum(axis=0) % 2 * 255).astype(np.uint8)
    img = np.stack([board] * 3)[None]
    got = load().laplacian_variance(img)[0, 0]
    assert got == pytest.approx((4 * 255) ** 2, rel=1e-6)


def test_blur_lowers_score_and_batches_are_independent():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, size=(3, 32, 32)).astype(np.uint8)
    blurred = ((sharp[:, :-1, :-1].astype(int) + sharp[:, 1:, 1:]) // 2).astype(np.uint8)
    blurred = np.pad(blurred, ((0, 0), (0, 1), (0, 1)), mode="edge")
    out = load().laplacian_variance(np.stack([sharp, blurred]))
    assert out.shape == (2, 1) and out.dtype == np.float32
    assert out[1, 0] < out[0, 0]
    assert load().laplacian_variance(sharp[None])[0, 0] == out[0, 0]


def test_rejects_bad_shape():
    with pytest.raises(ValueError, match="UINT8"):
        load().laplacian_variance(np.zeros((1, 1, 8, 8), dtype=np.uint8))


# --- shared with test_contrast_backend.py, which loads this file by path ---

ROOT = pathlib.Path(__file__).resolve().parents[3]
TESTDATA = ROOT / "baselines" / "testdata"


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
    if kind == "noise":
        v = hsh
    elif kind == "smooth":
        v = ((r * 3 + c * 5 + ch * 50) // 4 + (hsh >> 6)) % 256
    elif kind == "hazy":
        v = 200 + (hsh >> 5)
    else:
        raise ValueError(kind)
    return v.astype(np.uint8)


def fake_pb_utils():
    """A stand-in for triton_python_backend_utils with the documented behaviour the models rely on
    (python_backend README and src/resources/triton_python_backend_utils.py): get_input_tensor_by_name
    returns None for a missing input; TritonError(message, code=TritonError.INTERNAL) with message() and
    code(); InferenceResponse(output_tensors=..., error=...) with output_tensors(), has_error(), error()."""
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

        def __init__(self, message, code=1):  # INTERNAL unless told
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
        for t in request.inputs():
            if t.name() == name:
                return t
        return None

    pb.Tensor, pb.TritonError, pb.InferenceResponse, pb.InferenceRequest = Tensor, TritonError, InferenceResponse, InferenceRequest
    pb.get_input_tensor_by_name = get_input_tensor_by_name
    return pb


def triton_model(mod, name, monkeypatch):
    """mod's TritonPythonModel initialised as Triton does, against fake_pb_utils(); returns (model, pb)."""
    pb = fake_pb_utils()
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", pb)
    config = (ROOT / "modelrepo" / "models" / name / "config.pbtxt").read_text()
    model = mod.TritonPythonModel()
    model.initialize({"model_config": json.dumps({"name": name, "raw": config}), "model_instance_kind": "CPU",
                      "model_instance_name": name + "_0_0", "model_instance_device_id": "0",
                      "model_repository": str(ROOT / "modelrepo" / "models" / name), "model_version": "1",
                      "model_name": name})
    return model, pb


def check_execute(mod, name, score, good, monkeypatch):
    """One response per request, in order: good images scored as score() scores them, one row per image;
    bad requests answered with INVALID_ARG naming the model and IMAGE, without failing the others."""
    model, pb = triton_model(mod, name, monkeypatch)
    req = lambda *ts: pb.InferenceRequest(list(ts))
    requests = [
        req(pb.Tensor("IMAGE", good)),
        req(pb.Tensor("PIXELS", good)),                        # no IMAGE
        req(pb.Tensor("IMAGE", good.astype(np.float32))),       # wrong datatype
        req(pb.Tensor("IMAGE", good[:, :1])),                   # one channel
        req(pb.Tensor("IMAGE", good[:, :, :0])),                # 0-size image
        req(pb.Tensor("IMAGE", good[::-1])),                    # the batch reversed
    ]
    responses = model.execute(requests)
    assert len(responses) == len(requests)
    want = score(good)
    assert want.shape == (len(good), 1) and len(set(want[:, 0].tolist())) == len(good), "scores not distinct"
    for i, flipped in ((0, False), (5, True)):
        r = responses[i]
        assert not r.has_error(), r.error().message()
        (q,) = r.output_tensors()
        assert q.name() == "QUALITY" and q.as_numpy().dtype == np.float32 and q.as_numpy().shape == (len(good), 1)
        np.testing.assert_array_equal(q.as_numpy(), want[::-1] if flipped else want)
    for i in (1, 2, 3, 4):
        r = responses[i]
        assert r.has_error(), i
        assert r.error().code() == pb.TritonError.INVALID_ARG, (i, r.error().message())
        assert r.error().message().startswith(name + ": ") and "IMAGE" in r.error().message(), r.error().message()


def test_triton_execute(monkeypatch):
    rng = np.random.default_rng(3)
    good = rng.integers(0, 256, size=(3, 3, 8, 8)).astype(np.uint8)
    good[1] //= 2  # three different images
    good[2] = good[2] // 4 + 100
    check_execute(load(), "sharpness_laplacian", load().laplacian_variance, good, monkeypatch)


def test_rejects_non_uint8():
    with pytest.raises(ValueError, match="UINT8"):
        load().laplacian_variance(np.full((1, 3, 8, 8), 0.5, dtype=np.float32))


def test_matches_the_go_reference_fixture():
    cases = json.loads((TESTDATA / "sharpness_ref.json").read_text())["cases"]
    assert len(cases) >= 4
    for c in cases:
        img = np.array(c["pixels"], dtype=np.uint8).reshape(1, 3, c["h"], c["w"])
        assert load().laplacian_variance_f64(img)[0] == pytest.approx(c["variance"], rel=1e-12, abs=1e-9), c["name"]


def test_served_size_matches_go_exactly():
    # Bit for bit what baselines/sharpness.go computes (TestServedSizeMatchesReferenceExactly), so Triton
    # and the embedded server give the same QUALITY.
    ref = json.loads((TESTDATA / "served_ref.json").read_text())
    imgs = np.stack([served_image(c["kind"], c["seed"], ref["h"], ref["w"]) for c in ref["cases"]])
    got = load().laplacian_variance_f64(imgs)
    for g, c in zip(got.tolist(), ref["cases"]):
        assert g == c["sharpness"], (c["kind"], g, c["sharpness"])
    np.testing.assert_array_equal(load().laplacian_variance(imgs)[:, 0],
                                  np.array([c["sharpness"] for c in ref["cases"]], dtype=np.float32))
