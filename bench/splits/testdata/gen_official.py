#!/usr/bin/env python3
"""The first splits IP-IQA's official training scripts draw, as reference for `--rng official`.

    /usr/bin/python3 gen_official.py ../../../../shared/data > official.json

Mirrors github.com/Coobiw/IP-IQA (train_agiqa3k.py, train_agiqa1k.py): seed_everything(seed) seeds
Python's random and numpy once, then each cross-validation round draws one split from the same
generators. AGIQA-3k: indices = np.random.permutation(300); an image is train when the number after
the last "_" of its name is in indices[:int(0.8 * 300)]. AGIQA-1k: rows of AIGC_MOS_Zscore.xlsx in
file order; the group code is (object, action) from the name, dreamStudio codes shifted into deepai's
numbering (object + 1 when > 5, action + 5); the first row of a new group draws random.random() < 0.8
for train. The official "val" side is the test side here. Needs numpy and openpyxl (Debian:
python3-numpy, python3-openpyxl); the 3k names come from data.csv (the official code reads its own
mos_joint.xlsx, but only the names matter to the draw).
"""
import csv
import hashlib
import json
import os
import random
import sys

import numpy as np
import openpyxl

SEEDS = [42, 0, 1, 7, 1234, 2**32 - 1]
ROUNDS = 10


def digest(names):
    h = hashlib.sha256()
    for n in sorted(set(names)):
        h.update(n.encode() + b"\n")
    return h.hexdigest()


def names_3k(data):
    with open(os.path.join(data, "agiqa-3k", "data.csv"), newline="", encoding="utf-8") as f:
        return [row["name"] for row in csv.DictReader(f)]


def names_1k(data):
    wb = openpyxl.load_workbook(os.path.join(data, "agiqa-1k", "AIGC_MOS_Zscore.xlsx"), read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    return [r[0] for r in rows[1:]]  # pandas.read_excel: the first row is the header


def split_3k(names):
    indices = np.random.permutation(300)
    count = int(0.8 * 300)
    train = set(int(i) for i in indices[:count])
    tr, te = [], []
    for n in names:
        (tr if int(n[:-4].split("_")[-1]) in train else te).append(n)
    return tr, te, [str(i) for i in sorted(set(int(n[:-4].split("_")[-1]) for n in te))]


def code_1k(name):
    parts = name[:-4].split("_")
    c1, c2 = int(parts[1]), int(parts[2])
    if name.startswith("dream"):
        c1 = c1 + 1 if c1 > 5 else c1
        c2 += 5
    return c1, c2


def split_1k(names):
    train_rec, val_rec = set(), set()
    tr, te = [], []
    for n in names:
        c = code_1k(n)
        if c not in train_rec and c not in val_rec:
            if random.random() < 0.8:
                train_rec.add(c)
            else:
                val_rec.add(c)
        (tr if c in train_rec else te).append(n)
    return tr, te, ["%d,%d" % c for c in sorted(val_rec)]


def rounds(fn, names, seed):
    random.seed(seed)  # seed_everything, less torch
    np.random.seed(seed)
    out = []
    for _ in range(ROUNDS):
        tr, te, test_groups = fn(names)
        out.append({"train_sha256": digest(tr), "test_sha256": digest(te), "test_groups": test_groups})
    return out


def main():
    data = sys.argv[1]
    n3, n1 = names_3k(data), names_1k(data)
    cases = []
    for seed in SEEDS:
        cases.append({"dataset": "agiqa-3k", "seed": seed, "splits": rounds(split_3k, n3, seed)})
        cases.append({"dataset": "agiqa-1k", "seed": seed, "splits": rounds(split_1k, n1, seed)})
    print("{")
    print('  "about": "first %d official IP-IQA splits per seed; made by gen_official.py",' % ROUNDS)
    print('  "cases": [')
    for i, c in enumerate(cases):
        print("    " + json.dumps(c) + ("," if i < len(cases) - 1 else ""))
    print("  ]")
    print("}")


if __name__ == "__main__":
    main()
