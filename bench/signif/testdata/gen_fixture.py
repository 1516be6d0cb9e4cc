#!/usr/bin/python3
"""Writes signif_ref.json: reference values for the Go tests in bench/signif.

Run from the repository root:

    /usr/bin/python3 bench/signif/testdata/gen_fixture.py

Data: two models A and B scored on 5 splits of 24..40 images (numpy RandomState(2024)); MOS and
predictions are rounded so that ties occur. B is lower-is-better (its served predictions are the
negated ones). On split 2, B has no prediction for the images in "b_missing": every figure of that
split is computed on the images both scored.

References, computed here without the Go code:
- per split, SRCC / PLCC / KRCC: scipy.stats.spearmanr / pearsonr / kendalltau (tau-b);
- over splits: scipy.stats.ttest_rel(a, b), the mean difference with mean -+ t.ppf(1-alpha/2, n-1)
  * std(ddof=1)/sqrt(n), and scipy.stats.binomtest(pos, pos+neg, 0.5).pvalue (the sign test);
- Williams' test (Steiger 1980 eq. 7) in numpy from its formula, on Pearson correlations (PLCC) and
  on Pearson correlations of scipy.stats.rankdata ranks (SRCC), p = 2 t.sf(|t|, n-3);
- the paired bootstrap per split: numpy RandomState(seed).randint(0, n, size=n) per replicate (the
  same stream the Go code draws from), metrics by scipy on the resample, np.percentile (linear) for
  the interval, p = min(1, 2 min(mean(d <= 0), mean(d >= 0)));
- binomtest p-values and t quantiles for a few (k, n) and df.
"""
import json
import math
import os

import numpy as np
import scipy
import scipy.stats as st

ALPHA = 0.05
REPS = 300
rs = np.random.RandomState(2024)


def corr3(pred, mos):
    return [
        float(st.spearmanr(pred, mos)[0]),
        float(st.pearsonr(pred, mos)[0]),
        float(st.kendalltau(pred, mos, variant="b")[0]),
    ]


def williams(r12, r13, r23, n):
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    rbar = (r12 + r13) / 2
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / (2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r23) ** 3))
    return float(t), float(2 * st.t.sf(abs(t), n - 3))


splits = []
for k in range(5):
    n = int(rs.randint(24, 41))
    mos = np.round(rs.uniform(0, 5, n), 1)
    common_noise = rs.normal(0, 0.6, n)
    a = np.round(mos + common_noise + rs.normal(0, 0.5, n), 2)
    b = np.round(mos + 0.7 * common_noise + rs.normal(0, 0.9 if k != 3 else 0.45, n), 2)
    names = ["s%d_img%03d" % (k, i) for i in range(n)]
    missing = sorted(rs.choice(n, 3, replace=False).tolist()) if k == 2 else []
    keep = np.array([i not in missing for i in range(n)])
    ac, bc, mc = a[keep], b[keep], mos[keep]
    ca, cb = corr3(ac, mc), corr3(bc, mc)
    will = {}
    m = len(mc)
    for metric, f in (("plcc", lambda x: x), ("srcc", st.rankdata)):
        fa, fb, fm = f(ac), f(bc), f(mc)
        r12 = np.corrcoef(fm, fa)[0, 1]
        r13 = np.corrcoef(fm, fb)[0, 1]
        r23 = np.corrcoef(fa, fb)[0, 1]
        will[metric] = williams(r12, r13, r23, m)
    seed = 1000 + k
    boot_rs = np.random.RandomState(seed)
    diffs = []
    first_idx = []
    for r in range(REPS):
        idx = boot_rs.randint(0, m, size=m)
        if r < 2:
            first_idx.append(idx.tolist())
        da, db = corr3(ac[idx], mc[idx]), corr3(bc[idx], mc[idx])
        diffs.append([x - y for x, y in zip(da, db)])
    diffs = np.array(diffs)
    boot = []
    for j in range(3):
        d = diffs[:, j]
        d = d[np.isfinite(d)]
        boot.append({
            "n": int(len(d)),
            "lo": float(np.percentile(d, 100 * ALPHA / 2)),
            "hi": float(np.percentile(d, 100 * (1 - ALPHA / 2))),
            "p": float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))),
        })
    splits.append({
        "names": names, "mos": mos.tolist(), "a": a.tolist(), "b_served": (-b).tolist(),
        "b_missing": [names[i] for i in missing], "common": int(m),
        "a_metrics": ca, "b_metrics": cb,
        "williams": {k2: {"t": v[0], "p": v[1]} for k2, v in will.items()},
        "boot_seed": seed, "boot": boot, "boot_first_indices": first_idx,
    })

over = []
for j in range(3):
    a = np.array([s["a_metrics"][j] for s in splits])
    b = np.array([s["b_metrics"][j] for s in splits])
    d = a - b
    tt = st.ttest_rel(a, b)
    n = len(d)
    half = st.t.ppf(1 - ALPHA / 2, n - 1) * np.std(d, ddof=1) / math.sqrt(n)
    pos, neg = int(np.sum(d > 0)), int(np.sum(d < 0))
    over.append({
        "mean": float(d.mean()), "lo": float(d.mean() - half), "hi": float(d.mean() + half),
        "t": float(tt.statistic), "p": float(tt.pvalue),
        "pos": pos, "neg": neg, "sign_p": float(st.binomtest(pos, pos + neg, 0.5).pvalue),
    })

binom = [{"k": k, "n": n, "p": float(st.binomtest(k, n, 0.5).pvalue)}
         for k, n in [(0, 1), (0, 10), (1, 10), (2, 10), (5, 10), (7, 10), (10, 10), (3, 7), (4, 7),
                      (12, 40), (20, 40), (0, 60), (45, 100)]]
# Paired t-tests on differences with a fixed seed (independent of the model data).
tcases = []
trs = np.random.RandomState(7)
for n in (2, 3, 5, 10, 30):
    x = trs.normal(0.01, 0.02, n)
    y = trs.normal(0.0, 0.02, n)
    tt = st.ttest_rel(x, y)
    d = x - y
    half = st.t.ppf(1 - ALPHA / 2, n - 1) * np.std(d, ddof=1) / math.sqrt(n)
    tcases.append({"x": x.tolist(), "y": y.tolist(), "t": float(tt.statistic), "p": float(tt.pvalue),
                   "lo": float(d.mean() - half), "hi": float(d.mean() + half)})

out = {
    "scipy": scipy.__version__, "numpy": np.__version__, "alpha": ALPHA, "reps": REPS,
    "splits": splits, "over_splits": over, "binom": binom, "ttests": tcases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signif_ref.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote", path)
