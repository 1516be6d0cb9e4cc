"""Reference latency summaries for bench/perf's Metrics (metrics_test.go).

Regenerate with:  /usr/bin/python3 bench/perf/testdata/gen_percentiles.py > bench/perf/testdata/percentiles.json

Percentiles follow the nearest-rank definition Metrics implements: the
smallest sample with at least p% of the samples at or below it, i.e.
sorted[ceil(p/100 * n) - 1], computed here with exact fractions. numpy's
np.percentile(method="inverted_cdf") is the same definition and is checked to
agree, except where p/100 * n is an integer that floating point pushes just
above itself (p99.9 of 1000 samples: numpy takes rank 1000, the definition
999); those cases are listed in "numpy_differs". Latencies are integer
nanoseconds; figures are in microseconds as Metrics reports them.
"""
import json
import math
from fractions import Fraction

import numpy as np

rng = np.random.default_rng(20240611)
cases = {
    "single": [1500],
    "seven": [900, 100, 700, 300, 500, 200, 400],
    "ties": [1000] * 5 + [2000] * 3 + [5000] * 2,
    "thousand_lognormal": [int(x) for x in rng.lognormal(mean=11.0, sigma=0.6, size=1000)],
    "odd_2347_heavy_tail": [int(x) for x in (rng.pareto(2.5, size=2347) + 1) * 40000],
}
out = {}
for name, ns in cases.items():
    a = np.array(ns, dtype=np.int64)
    s = sorted(ns)
    pct, differs = {}, []
    for p in ("50", "90", "95", "99", "99.9"):
        k = max(1, math.ceil(Fraction(p) / 100 * len(s)))
        pct[p] = s[k - 1] / 1e3
        if float(np.percentile(a, float(p), method="inverted_cdf")) / 1e3 != pct[p]:
            differs.append(p)
    out[name] = {
        "latencies_ns": ns,
        "mean_us": float(a.mean()) / 1e3,
        "max_us": float(a.max()) / 1e3,
        "percentiles_us": pct,
        "numpy_differs": differs,
    }
print(json.dumps(out, indent=1))
