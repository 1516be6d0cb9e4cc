"""The Triton Python-backend contrast model computes what the Go native one does."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
MODEL = ROOT / "modelrepo" / "models" / "contrast_rms" / "1" / "model.py"
# The fixture baselines/contrast_test.go checks the Go function against.
REFERENCE = ROOT / "baselines" / "testdata" / "contrast_ref.json"


def load():
    spec = importlib.util.spec_from_file_location("contrast_model", MODEL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_constant_image_scores_zero():
    img = np.full((1, 3, 8, 8), 77, dtype=np.uint8)
    assert load().rms_contrast(img)[0, 0] == 0


def test_half_black_half_white_matches_hand_value():
    # Two values 255 apart in equal parts: standard deviation 255/2.
    half = np.zeros((6, 6), dtype=np.uint8)
    half[:, 3:] = 255
    img = np.stack([half] * 3)[None]
    assert load().rms_contrast(img)[0, 0] == pytest.approx(127.5, rel=1e-6)


def test_red_only_uses_bt601_weight():
    img = np.zeros((1, 3, 4, 4), dtype=np.uint8)
    img[0, 0, :, 2:] = 255
    assert load().rms_contrast(img)[0, 0] == pytest.approx(0.299 * 255 / 2, rel=1e-6)


def test_matches_the_go_reference_fixture():
    cases = json.loads(REFERENCE.read_text())["cases"]
    assert len(cases) >= 4
    for c in cases:
        img = np.array(c["pixels"], dtype=np.uint8).reshape(1, 3, c["h"], c["w"])
        assert load().rms_contrast(img)[0, 0] == pytest.approx(c["contrast"], rel=1e-6, abs=1e-6), c["name"]


def test_batches_are_independent():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(3, 16, 16)).astype(np.uint8)
    b = (a // 4 + 100).astype(np.uint8)  # less spread
    out = load().rms_contrast(np.stack([a, b]))
    assert out.shape == (2, 1) and out.dtype == np.float32
    assert out[1, 0] < out[0, 0]
    assert load().rms_contrast(a[None])[0, 0] == out[0, 0]


def test_rejects_bad_shape():
    with pytest.raises(ValueError, match="UINT8"):
        load().rms_contrast(np.zeros((1, 1, 8, 8), dtype=np.uint8))


def helpers():
    """served_image, check_execute and the fake triton_python_backend_utils live in test_sharpness_backend.py."""
    spec = importlib.util.spec_from_file_location("sharpness_backend_helpers", pathlib.Path(__file__).with_name("test_sharpness_backend.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_triton_execute(monkeypatch):
    rng = np.random.default_rng(4)
    good = rng.integers(0, 256, size=(3, 3, 8, 8)).astype(np.uint8)
    good[1] //= 2  # three different spreads
    good[2] = good[2] // 4 + 100
    helpers().check_execute(load(), "contrast_rms", load().rms_contrast, good, monkeypatch)


def test_rejects_non_uint8():
    with pytest.raises(ValueError, match="UINT8"):
        load().rms_contrast(np.full((1, 3, 8, 8), 0.5, dtype=np.float32))


def test_rejects_0_size_image():
    with pytest.raises(ValueError, match="UINT8"):
        load().rms_contrast(np.zeros((1, 3, 0, 8), dtype=np.uint8))


def test_served_size_matches_go_exactly():
    # Bit for bit what baselines/contrast.go computes (TestServedSizeMatchesReferenceExactly), so Triton
    # and the embedded server give the same QUALITY.
    h = helpers()
    ref = json.loads((ROOT / "baselines" / "testdata" / "served_ref.json").read_text())
    imgs = np.stack([h.served_image(c["kind"], c["seed"], ref["h"], ref["w"]) for c in ref["cases"]])
    got = load().rms_contrast_f64(imgs)
    for g, c in zip(got.tolist(), ref["cases"]):
        assert g == c["contrast"], (c["kind"], g, c["contrast"])
    np.testing.assert_array_equal(load().rms_contrast(imgs)[:, 0],
                                  np.array([c["contrast"] for c in ref["cases"]], dtype=np.float32))
