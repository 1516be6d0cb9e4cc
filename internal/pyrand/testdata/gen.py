#!/usr/bin/env python3
"""Reference outputs for internal/pyrand, drawn by numpy's legacy RandomState and CPython's random.

Run with Debian's interpreter (python3-numpy): /usr/bin/python3 gen.py > streams.json
The Go tests compare pyrand against this file and, when $AGIQA_PYTHON is set, rerun this script and
compare its output with the committed file, so the fixture cannot drift from numpy and CPython.
Only the standard library and numpy are used; nothing here imports the Go side's code.
"""
import hashlib
import json
import random
import struct
import sys

import numpy as np

RAW = 2000  # outputs per stream hashed: more than three MT19937 blocks of 624
# permutation sizes: small, around powers of two (the masked rejection's edge), AGIQA-3k's 300
PERM_NS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
           255, 256, 257, 299, 300, 301, 511, 512, 513, 1000, 1024, 1025]
# random_interval bounds, including the 32/64-bit switch
INTERVAL_MAX = [1, 2, 3, 5, 6, 7, 100, 299, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 2**32 + 1,
                2**33 - 1, 2**40 + 3, 2**52 + 7, 2**62]


def seeds():
    fixed = [0, 1, 2, 3, 7, 42, 100, 1234, 12345, 2**31 - 1, 2**31, 2**32 - 1]
    pick = random.Random(20240601)
    extra = [pick.getrandbits(32) for _ in range(50)]
    return fixed + [s for s in extra if s not in fixed]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def numpy_case(seed):
    rs = np.random.RandomState(seed)  # the same legacy seeding np.random.seed(seed) does
    raw = rs._bit_generator.random_raw(RAW).astype("<u4")
    rs = np.random.RandomState(seed)
    perm_hash = hashlib.sha256()
    for n in PERM_NS:  # one stream, consecutive draws, as a training script makes them
        perm_hash.update(rs.permutation(n).astype("<i4").tobytes())
    rs = np.random.RandomState(seed)
    # legacy randint(0, m + 1) with int64 is random_interval(m) (masked rejection)
    interval = [int(rs.randint(0, m + 1, dtype=np.int64)) for m in INTERVAL_MAX for _ in range(3)]
    return {"seed": seed, "first": [int(x) for x in raw[:8]], "raw_sha256": sha(raw.tobytes()),
            "perm_sha256": perm_hash.hexdigest(), "interval": interval}


def python_case(seed):
    r = random.Random(seed)  # what random.seed(seed) does to the module's generator
    vals = [r.random() for _ in range(RAW)]
    r = random.Random(seed)
    bits = [r.getrandbits(32) for _ in range(4)]
    return {"seed": seed, "first": vals[:8], "random_sha256": sha(struct.pack("<%dd" % RAW, *vals)),
            "getrandbits32": bits}


def main():
    ss = seeds()
    py_seeds = ss + [2**32, 2**32 + 1, 2**40 + 5, 2**63, 2**64 - 1]  # two-word keys
    np.random.seed(42)
    official = [np.random.permutation(300).tolist() for _ in range(3)]
    doc = {
        "about": "numpy legacy RandomState and CPython random reference streams; made by gen.py",
        "numpy_version": np.__version__,
        "python_version": "%d.%d" % sys.version_info[:2],
        "raw_count": RAW,
        "perm_ns": PERM_NS,
        "interval_max": INTERVAL_MAX,
        "numpy": [numpy_case(s) for s in ss],
        "python": [python_case(s) for s in py_seeds],
        "seed42_permutation300_x3": official,
    }
    write(doc)


def write(doc):
    """JSON with one case (or one list) per line: small diffs, stable bytes."""
    out = ["{"]
    items = list(doc.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(v, list) and v and isinstance(v[0], (dict, list)):
            out.append("  %s: [" % json.dumps(k))
            out.extend("    %s%s" % (json.dumps(x), "," if j < len(v) - 1 else "") for j, x in enumerate(v))
            out.append("  ]" + comma)
        else:
            out.append("  %s: %s%s" % (json.dumps(k), json.dumps(v), comma))
    out.append("}")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
