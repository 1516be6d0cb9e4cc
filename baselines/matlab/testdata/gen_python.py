#!/usr/bin/python3
"""Writes python_ref.json: references for package baselines/matlab from Debian's numpy 1.24, scipy
1.10, scikit-image 0.19 and Pillow 9.4 (python3-numpy, python3-scipy, python3-skimage, python3-pil).

- ssim_index: skimage.metrics.structural_similarity with Wang et al.'s settings (Gaussian weights of
  sigma 1.5 truncated at 11x11, population covariances, K1 0.01, K2 0.03, data range 255); skimage
  averages the map over the 'valid' region, as ssim_index.m's filter2(..., 'valid') does.
- ssim_2009: the same after ssim.m's downsampling, here scipy.ndimage.correlate with an f x f box,
  mode 'reflect' (= MATLAB 'symmetric'), centre at floor((f+1)/2), then [::f, ::f].
- ssim_toolbox: MATLAB's toolbox ssim (R2014a+) written with scipy: Gaussian 11x11 sigma 1.5
  (scipy.ndimage.correlate, mode 'nearest' = 'replicate'), C3 = C2/2, mean of the whole map.
- resize_pillow: Pillow's float ('F') BICUBIC resize (a = -0.5, support widened by in/out, weights
  normalised): equal to MATLAB's imresize(A, [h w]) wherever the window stays inside the image
  (Pillow clips the window at the border, MATLAB mirrors); the test compares those pixels only.
Images come from integer formulas that the Go test rebuilds (testImage in python_test.go).
Run: /usr/bin/python3 gen_python.py > python_ref.json
"""
import json
import sys

import numpy as np
import scipy.ndimage as nd
import skimage
import skimage.metrics
import PIL
from PIL import Image


def test_image(h, w, seed):
    """uint8-valued image: a smooth integer pattern plus hashed noise (same formula as the Go test)."""
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            v = ((y * 73856093) ^ (x * 19349663) ^ (seed * 83492791)) & 0xFFFFFFFF
            v = (v * 2654435761) & 0xFFFFFFFF
            out[y, x] = ((x * x // 7 + 3 * y + seed * 11) % 200) + (v >> 24) % 56
    return out


def ssim_index(a, b):
    return skimage.metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        K1=0.01, K2=0.03)


def ssim_2009(a, b):
    f = max(1, int(np.floor(min(a.shape) / 256 + 0.5)))
    if f > 1:
        box = np.ones((f, f)) / (f * f)
        origin = -1 if f % 2 == 0 else 0
        a = nd.correlate(a, box, mode="reflect", origin=origin)[::f, ::f]
        b = nd.correlate(b, box, mode="reflect", origin=origin)[::f, ::f]
    return ssim_index(a, b), f


def ssim_toolbox(a, b):
    r = np.arange(-5, 6)
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    filt = lambda x: nd.correlate(x, g, mode="nearest")
    mx, my = filt(a), filt(b)
    sx, sy, sxy = filt(a * a) - mx * mx, filt(b * b) - my * my, filt(a * b) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float((((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sx + sy + c2))).mean())


def main():
    out = {"generator": "gen_python.py", "numpy": np.__version__, "scipy": __import__("scipy").__version__,
           "skimage": skimage.__version__, "pillow": PIL.__version__, "ssim": [], "resize": []}
    for h, w, sa, sb in [(11, 11, 1, 2), (33, 50, 3, 4), (64, 80, 5, 5), (400, 420, 6, 7), (780, 800, 8, 9)]:
        a, b = test_image(h, w, sa), test_image(h, w, sb)
        if sa == sb:  # a blurred copy (3x3 integer mean, edges replicated) instead of an independent image
            p = np.pad(a, 1, mode="edge")
            b = sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) // 9
        s09, f = ssim_2009(a, b)
        out["ssim"].append({"h": h, "w": w, "seed_a": sa, "seed_b": sb, "blur_b": sa == sb,
                            "ssim_index": ssim_index(a, b), "ssim_2009": s09, "f": f,
                            "ssim_toolbox": ssim_toolbox(a, b)})
    for h, w, seed, oh, ow in [(33, 50, 1, 17, 25), (33, 50, 2, 13, 19), (40, 40, 3, 20, 11), (30, 45, 4, 60, 90)]:
        a = test_image(h, w, seed)
        r = np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((ow, oh), Image.BICUBIC), dtype=np.float64)
        out["resize"].append({"h": h, "w": w, "seed": seed, "oh": oh, "ow": ow, "data": r.ravel().tolist()})
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
