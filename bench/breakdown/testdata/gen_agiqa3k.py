# Generates agiqa3k_by.json: on AGIQA-3k's own labels (../shared/data/agiqa-3k/data.csv), with the
# alignment MOS standing in for a model's prediction of the quality MOS over all images (one block),
# scipy.stats' SRCC / PLCC / KRCC (tau-b) and n per group of generator, style, adjective (adj1 and
# adj2, an image in each) and prompt length (word count buckets). Only numbers are written.
# Run: /work/main/.tools/pyoracles/bin/python gen_agiqa3k.py ../../../../shared/data/agiqa-3k/data.csv
import csv, json, sys
from collections import defaultdict
from scipy import stats

rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))

def bucket(p):
    n = len(p.split())
    for hi, name in [(4, "1-4 words"), (7, "5-7 words"), (10, "8-10 words"), (13, "11-13 words")]:
        if n <= hi:
            return name
    return "14+ words"

cols = {
    "generator": lambda r: [r["name"].split("_")[0]],
    "style": lambda r: [r["style"].strip() or "(none)"],
    "adjective": lambda r: sorted({a.strip() for a in (r["adj1"], r["adj2"]) if a.strip()}) or ["(none)"],
    "prompt-length": lambda r: [bucket(r["prompt"])],
}
out = {}
for col, f in cols.items():
    groups = defaultdict(lambda: ([], []))
    for r in rows:
        for g in f(r):
            groups[g][0].append(float(r["mos_align"]))
            groups[g][1].append(float(r["mos_quality"]))
    out[col] = {g: {"n": len(x), "srcc": stats.spearmanr(x, y)[0], "plcc": stats.pearsonr(x, y)[0],
                    "krcc": stats.kendalltau(x, y)[0]} for g, (x, y) in groups.items()}
json.dump(out, open("agiqa3k_by.json", "w"), indent=1, sort_keys=True)
