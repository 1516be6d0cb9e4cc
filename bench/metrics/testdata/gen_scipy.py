#!/usr/bin/python3
"""Writes scipy_ref.json: reference values for the Go tests in bench/metrics.

Run from the repository root (needs ../shared/data/agiqa-3k/data.csv):

    /usr/bin/python3 bench/metrics/testdata/gen_scipy.py

The fixture holds every input vector, so the Go tests never read ../shared.
Correlations: scipy.stats.spearmanr / pearsonr / kendalltau (variant "b").
RMSE: sqrt(mean((pred - mos)**2)) with numpy.
Logistic fits: scipy.optimize.curve_fit (Levenberg-Marquardt), best of the
usual single start (MOS range, mean and std of pred) and the grid of starts the
Go code scans (slopes 0.25*2^i / std(pred), centres at pred quantiles 5..95%):
the 5-parameter surface has local minima (on AGIQA-3k the single start stops
in one). The Go side uses Nelder-Mead, so fitted values are compared with a
looser tolerance (see fit_test.go).
Summaries: numpy mean / median / std(ddof=1) and scipy.stats.t.ppf(0.975, n-1).
"""
import csv
import json
import math
import os
import sys
import warnings

import numpy as np
import scipy
import scipy.optimize
import scipy.stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CSV = os.path.join(ROOT, "..", "shared", "data", "agiqa-3k", "data.csv")


def read_agiqa3k():
    cols = {"mos_quality": [], "mos_align": [], "std_quality": []}
    with open(CSV, newline="") as f:
        for row in csv.DictReader(f):
            for k in cols:
                # float(str) then repr in json: the decimal text round-trips exactly.
                cols[k].append(float(row[k]))
    return cols


def logistic4(x, b1, b2, b3, b4):
    return (b1 - b2) / (1.0 + np.exp(-(x - b3) / np.abs(b4))) + b2


def logistic5(x, b1, b2, b3, b4, b5):
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


def init4(x, y):
    # Mirrors initialParams in fit.go (in original, not standardised, units).
    s = 1.0 if scipy.stats.pearsonr(x, y)[0] >= 0 else -1.0
    hi, lo = (y.max(), y.min()) if s > 0 else (y.min(), y.max())
    return [hi, lo, x.mean(), x.std() / 2]


def init5(x, y):
    s = 1.0 if scipy.stats.pearsonr(x, y)[0] >= 0 else -1.0
    return [s * (y.max() - y.min()), 2.0 / x.std(), x.mean(), 0.0, y.mean()]


def corr_case(name, vec, pred, mos):
    x, y = np.asarray(vec[pred]), np.asarray(vec[mos])
    return {
        "name": name,
        "pred": pred,
        "mos": mos,
        "srcc": float(scipy.stats.spearmanr(x, y)[0]),
        "plcc": float(scipy.stats.pearsonr(x, y)[0]),
        "krcc": float(scipy.stats.kendalltau(x, y, variant="b")[0]),
        "rmse": float(np.sqrt(np.mean((x - y) ** 2))),
    }


def scaled_case(name, vec, pred, mos):
    # No RMSE: for 1e200 numpy's overflows to inf, which JSON cannot hold.
    with np.errstate(over="ignore"):
        case = corr_case(name, vec, pred, mos)
    del case["rmse"]
    return case


def fit_case(name, vec, pred, mos, kind):
    x, y = np.asarray(vec[pred]), np.asarray(vec[mos])
    f, p0 = (logistic4, init4(x, y)) if kind == "logistic4" else (logistic5, init5(x, y))
    starts = [p0]
    xs, sx = np.sort(x), x.std()
    for k in 0.25 * 2.0 ** np.arange(11):
        for q in range(1, 20):
            m = xs[q * (len(xs) - 1) // 20]
            if kind == "logistic4":
                starts.append([y.max(), y.min(), m, sx / k])
            else:
                starts.append([y.max() - y.min(), k / sx, m, 0.0, y.mean()])
    best = None
    # Flat directions (near-step fits) make curve_fit warn about the covariance,
    # which is not used here.
    warnings.simplefilter("ignore", scipy.optimize.OptimizeWarning)
    with np.errstate(over="ignore"):
        for start in starts:
            try:
                p, _ = scipy.optimize.curve_fit(f, x, y, p0=start, maxfev=20000)
            except RuntimeError:  # no convergence from this start
                continue
            sse = float(np.sum((f(x, *p) - y) ** 2))
            if best is None or sse < best[0]:
                best = (sse, p)
        params = best[1]
        fitted = f(x, *params)
    return {
        "name": name,
        "pred": pred,
        "mos": mos,
        "fit": kind,
        "params": [float(p) for p in params],
        "plcc": float(scipy.stats.pearsonr(fitted, y)[0]),
        "rmse": float(np.sqrt(np.mean((fitted - y) ** 2))),
        "srcc": float(scipy.stats.spearmanr(x, y)[0]),
        "krcc": float(scipy.stats.kendalltau(x, y, variant="b")[0]),
    }


def summary_case(name, values):
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)])
    n = len(v)
    out = {"name": name, "values": values, "n": n, "dropped": len(values) - n}
    out["mean"] = float(v.mean())
    out["median"] = float(np.median(v))
    if n >= 2:
        std = float(v.std(ddof=1))
        half = float(scipy.stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        out.update(std=std, ci95_low=out["mean"] - half, ci95_high=out["mean"] + half)
    return out


def main():
    vec = {}
    a3k = read_agiqa3k()
    for k, v in a3k.items():
        vec["agiqa3k_" + k] = v

    rng = np.random.default_rng(20240520)
    # Heavily tied integer vectors (5 and 4 levels, correlated).
    a = rng.integers(0, 5, size=400)
    b = np.clip(a + rng.integers(-1, 2, size=400) - 1, 0, 3)
    vec["tied_a"] = [float(t) for t in a]
    vec["tied_b"] = [float(t) for t in b]
    # Hand-checkable: ranks are the values, d = (-1, 1, -1, 1, 0), sum d^2 = 4,
    # rho = 1 - 6*4/(5*24) = 0.8; discordant pairs (1,2) and (3,4) of 10: tau = 0.6.
    vec["hand_x"] = [1.0, 2.0, 3.0, 4.0, 5.0]
    vec["hand_y"] = [2.0, 1.0, 4.0, 3.0, 5.0]
    # Ties in both, tau-b != tau-a.
    vec["hand_tx"] = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
    vec["hand_ty"] = [1.0, 2.0, 2.0, 2.0, 3.0, 1.0]
    # Synthetic sigmoidal relation for the logistic fits.
    sx = rng.uniform(-3, 3, size=300)
    sy = 1 + 3 / (1 + np.exp(-(sx - 0.5) / 0.7)) + rng.normal(0, 0.15, size=300)
    vec["sig_x"] = [round(float(t), 10) for t in sx]
    vec["sig_y"] = [round(float(t), 10) for t in sy]
    # Decreasing relation (lower-is-better predictor, like NIQE).
    vec["sig_neg_x"] = [-t for t in vec["sig_x"]]

    # Scores whose squares overflow (1e200) or underflow (1e-200) in float64: pearsonr normalises
    # before multiplying, so its r is still the unscaled one.
    vec["sig_x_huge"] = [t * 1e200 for t in vec["sig_x"]]
    vec["sig_x_tiny"] = [t * 1e-200 for t in vec["sig_x"]]

    corr = [
        corr_case("agiqa3k quality vs alignment", vec, "agiqa3k_mos_align", "agiqa3k_mos_quality"),
        corr_case("agiqa3k std_quality vs mos_quality", vec, "agiqa3k_std_quality", "agiqa3k_mos_quality"),
        corr_case("tied integers", vec, "tied_a", "tied_b"),
        corr_case("hand 5", vec, "hand_x", "hand_y"),
        corr_case("hand ties", vec, "hand_tx", "hand_ty"),
        corr_case("sigmoid", vec, "sig_x", "sig_y"),
    ]
    scaled = [
        scaled_case("sigmoid, pred x 1e200", vec, "sig_x_huge", "sig_y"),
        scaled_case("sigmoid, pred x 1e-200", vec, "sig_x_tiny", "sig_y"),
    ]
    fits = [
        fit_case("agiqa3k align->quality logistic4", vec, "agiqa3k_mos_align", "agiqa3k_mos_quality", "logistic4"),
        fit_case("agiqa3k align->quality logistic5", vec, "agiqa3k_mos_align", "agiqa3k_mos_quality", "logistic5"),
        fit_case("sigmoid logistic4", vec, "sig_x", "sig_y", "logistic4"),
        fit_case("sigmoid logistic5", vec, "sig_x", "sig_y", "logistic5"),
        fit_case("decreasing sigmoid logistic4", vec, "sig_neg_x", "sig_y", "logistic4"),
        fit_case("decreasing sigmoid logistic5", vec, "sig_neg_x", "sig_y", "logistic5"),
    ]

    # Per-split SRCCs as the harness would aggregate them: 10 random 20% subsets.
    q, al = np.asarray(a3k["mos_quality"]), np.asarray(a3k["mos_align"])
    split_srcc = []
    for _ in range(10):
        idx = rng.permutation(len(q))[: len(q) // 5]
        split_srcc.append(float(scipy.stats.spearmanr(al[idx], q[idx])[0]))
    summaries = [
        summary_case("10 split SRCCs", split_srcc),
        summary_case("with NaN", [0.5, None, 0.7, 0.65, None, 0.61]),
        summary_case("two values", [0.25, 0.75]),
        summary_case("one value", [0.42]),
    ]

    out = {
        "command": "/usr/bin/python3 bench/metrics/testdata/gen_scipy.py",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "vectors": vec,
        "correlations": corr,
        "scaled": scaled,
        "fits": fits,
        "summaries": summaries,
    }
    path = os.path.join(HERE, "scipy_ref.json")
    with open(path, "w") as f:
        json.dump(out, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
