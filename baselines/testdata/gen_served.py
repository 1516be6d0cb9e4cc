"""Bit-exact reference values for baselines/sharpness.go, baselines/contrast.go and their
Triton Python-backend twins, at the served size (512 x 512).

Regenerate from the repository root with:
    /usr/bin/python3 baselines/testdata/gen_served.py > baselines/testdata/served_ref.json

The images are defined by integer formulas (pixel), so the Go and Python tests rebuild them instead of
reading 786,432 numbers. The scores are computed with plain Python floats (IEEE double, each operation
rounded on its own, no fused multiply-add), summing in index order, which is the arithmetic both
implementations promise: BT.601 luma 0.299 R + 0.587 G + 0.114 B left to right, the Laplacian
up + down + left + right - 4 centre on interior pixels, the mean, then the squared deviations, each
summed sequentially from 0, divided by the count (population variance); contrast is its square root.
json writes each double's shortest round-trip form, so the tests compare with ==. Each value is also
checked here against scipy/numpy to 1e-10 (they sum in another order).
"""
import json
import math

import numpy as np
from scipy.signal import convolve2d

H = W = 512
MASK = 0xFFFFFFFF


def hash8(k, seed):
    """Top 8 bits of a 32-bit integer hash of k + seed (multiply, xor-shift, multiply, xor-shift)."""
    h = ((k + seed) * 0x9E3779B1) & MASK
    h ^= h >> 15
    h = (h * 0x85EBCA77) & MASK
    h ^= h >> 13
    return h >> 24


def pixel(kind, seed, ch, r, c):
    """The value of channel ch at row r, column c; kinds: noise, smooth, hazy."""
    k = (ch * H + r) * W + c
    if kind == "noise":
        return hash8(k, seed)
    if kind == "smooth":  # gentle ramps that wrap, plus 0..3 of noise
        return ((r * 3 + c * 5 + ch * 50) // 4 + (hash8(k, seed) >> 6)) % 256
    if kind == "hazy":  # bright and flat: a large mean next to a small spread
        return 200 + (hash8(k, seed) >> 5)
    raise ValueError(kind)


def image(kind, seed):
    return [[[pixel(kind, seed, ch, r, c) for c in range(W)] for r in range(H)] for ch in range(3)]


def luma(img):
    return [[0.299 * img[0][r][c] + 0.587 * img[1][r][c] + 0.114 * img[2][r][c] for c in range(W)] for r in range(H)]


def variance(values):
    s = 0.0
    for v in values:
        s += v
    mean = s / len(values)
    ss = 0.0
    for v in values:
        d = v - mean
        ss += d * d
    return ss / len(values)


def scores(img):
    y = luma(img)
    lap = [y[r - 1][c] + y[r + 1][c] + y[r][c - 1] + y[r][c + 1] - 4 * y[r][c]
           for r in range(1, H - 1) for c in range(1, W - 1)]
    return variance(lap), math.sqrt(variance([v for row in y for v in row]))


def check(img, sharp, contrast):
    x = np.array(img, dtype=np.float64)
    y = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    ks = convolve2d(y, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64), mode="valid").var()
    assert abs(ks - sharp) <= 1e-10 * ks, (ks, sharp)
    assert abs(y.std() - contrast) <= 1e-10 * contrast, (y.std(), contrast)


cases = []
for kind, seed in [("noise", 1), ("smooth", 2), ("hazy", 3)]:
    img = image(kind, seed)
    sharp, contrast = scores(img)
    check(img, sharp, contrast)
    cases.append({"kind": kind, "seed": seed, "sharpness": sharp, "contrast": contrast})
print(json.dumps({"generator": "baselines/testdata/gen_served.py", "h": H, "w": W, "cases": cases}, indent=1))
