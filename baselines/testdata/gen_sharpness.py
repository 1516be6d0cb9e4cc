"""Reference values for baselines/sharpness.go (variance of the Laplacian).

Regenerate from the repository root with:
    /usr/bin/python3 baselines/testdata/gen_sharpness.py > baselines/testdata/sharpness_ref.json

Luma is BT.601 (0.299 R + 0.587 G + 0.114 B) in float64, the Laplacian is
scipy.signal.convolve2d with the 3x3 kernel in "valid" mode (interior pixels
only), and the variance is numpy's population variance (ddof=0).
"""
import json

import numpy as np
from scipy.signal import convolve2d

KERNEL = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)


def score(img):
    img = img.astype(np.float64)
    y = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    return float(convolve2d(y, KERNEL, mode="valid").var())


cases = []
rng = np.random.default_rng(20240601)
for h, w in [(3, 3), (5, 7), (16, 16), (33, 20)]:
    img = rng.integers(0, 256, size=(3, h, w), dtype=np.uint8)
    cases.append({"name": f"random_{h}x{w}", "h": h, "w": w, "pixels": img.flatten().tolist(), "variance": score(img)})
# A smooth gradient with a little noise: a low, non-zero score.
yy, xx = np.mgrid[0:12, 0:12]
grad = np.stack([xx * 20, yy * 20, (xx + yy) * 10]).astype(np.float64)
grad = np.clip(grad + rng.integers(-3, 4, size=grad.shape), 0, 255).astype(np.uint8)
cases.append({"name": "gradient_12x12", "h": 12, "w": 12, "pixels": grad.flatten().tolist(), "variance": score(grad)})
print(json.dumps({"generator": "baselines/testdata/gen_sharpness.py", "cases": cases}, indent=1))
