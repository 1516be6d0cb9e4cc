"""Reference latency summaries for bench/perf's Metrics (metrics_test.go).

Regenerate with:  /usr/bin/python3 bench/perf/testdata/gen_percentiles.py > bench/perf/testdata/percentiles.json

Percentiles use numpy's method="inverted_cdf", which is the nearest-rank
definition Metrics implements: the smallest sample with at least p% of the
samples at or below it. Latencies are integer nanoseconds; figures are in
microseconds as Metrics reports them.
"""
import json

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
    pct = {str(p): float(np.percentile(a, p, method="inverted_cdf")) / 1e3 for p in (50, 90, 95, 99, 99.9)}
    out[name] = {
        "latencies_ns": ns,
        "mean_us": float(a.mean()) / 1e3,
        "max_us": float(a.max()) / 1e3,
        "percentiles_us": pct,
    }
print(json.dumps(out, indent=1))
