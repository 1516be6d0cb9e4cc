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
