"""The Triton Python-backend sharpness model computes what the Go native one does."""
import importlib.util
import pathlib

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
