"""Reference values for baselines/contrast.go (RMS contrast).

Regenerate from the repository root with:
    /usr/bin/python3 baselines/testdata/gen_contrast.py > baselines/testdata/contrast_ref.json

Luma is BT.601 (0.299 R + 0.587 G + 0.114 B) in float64 over the whole image,
and the contrast is numpy's population standard deviation (ddof=0).
"""
import json

import numpy as np


def score(img):
    img = img.astype(np.float64)
    y = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    return float(y.std())


cases = []
rng = np.random.default_rng(20240602)
for h, w in [(1, 1), (1, 5), (4, 3), (16, 16), (33, 20)]:
    img = rng.integers(0, 256, size=(3, h, w), dtype=np.uint8)
    cases.append({"name": f"random_{h}x{w}", "h": h, "w": w, "pixels": img.flatten().tolist(), "contrast": score(img)})
# Washed out: bright pixels in a narrow band, a large mean next to a small spread.
hazy = rng.integers(200, 206, size=(3, 12, 12), dtype=np.uint8)
cases.append({"name": "hazy_12x12", "h": 12, "w": 12, "pixels": hazy.flatten().tolist(), "contrast": score(hazy)})
print(json.dumps({"generator": "baselines/testdata/gen_contrast.py", "cases": cases}, indent=1))
