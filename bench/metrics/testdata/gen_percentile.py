#!/usr/bin/python3
"""Writes percentile_ref.json: reference values for Percentile (percentile.go).

Run from the repository root:

    /usr/bin/python3 bench/metrics/testdata/gen_percentile.py

For every vector and percentile p the fixture holds
  numpy: numpy.percentile(v, p, method="inverted_cdf"), the nearest-rank
         definition Percentile implements;
  exact: the same definition in exact arithmetic, sorted(v)[ceil(p*n/100)-1]
         with p read as the decimal it is written as (fractions.Fraction);
  noise: whether the two differ. numpy computes p/100*n in floating point, so
         where p*n/100 is a whole number it can land just above it and take
         the next rank (p99.9 of 1000 values is the maximum in numpy). The
         script checks that this is the only way they differ.
"""
import json
import math
import os
import sys
from fractions import Fraction

import numpy as np

PERCENTILES = ["0.1", "1", "5", "7", "10", "14", "25", "28", "29", "50", "55", "57",
               "75", "90", "95", "99", "99.5", "99.9", "99.99", "100"]


def vectors():
    rng = np.random.default_rng(20240917)
    out = {}
    for n in (1, 2, 3, 4, 5, 10, 37, 100, 999, 1000, 1001):
        # latency-like: lognormal milliseconds, rounded so JSON keeps them exact
        out[f"lognormal_{n}"] = [round(float(x), 6) for x in rng.lognormal(1.0, 0.6, n)]
    for n in (7, 100, 200):
        # many ties
        out[f"ties_{n}"] = [float(x) for x in rng.integers(0, 5, n)]
    out["constant_9"] = [3.25] * 9
    return out


def main():
    cases = []
    for name, v in vectors().items():
        s = sorted(v)
        n = len(s)
        for p in PERCENTILES:
            got = float(np.percentile(np.array(v), float(p), method="inverted_cdf"))
            rank = Fraction(p) * n / 100
            exact = s[min(max(math.ceil(rank), 1), n) - 1]
            noise = got != exact
            if noise and rank.denominator != 1:
                sys.exit(f"{name} p{p}: numpy {got} != {exact} away from a whole rank")
            cases.append({"vector": name, "p": float(p), "numpy": got, "exact": exact, "noise": noise})
    doc = {"numpy": np.__version__, "vectors": vectors(), "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "percentile_ref.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {len(cases)} cases, {sum(c['noise'] for c in cases)} with numpy's rounding noise")


if __name__ == "__main__":
    main()
