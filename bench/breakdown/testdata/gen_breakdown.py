# Generates breakdown.json: a synthetic dataset (image -> generator, one or two adjectives, prompt),
# one result's per-split scored pairs, and the expected per-group metrics computed with scipy.stats
# (spearmanr, pearsonr, kendalltau tau-b) per split, then the mean over the splits where the group
# has >= 2 images with non-constant values. Run: /work/main/.tools/pyoracles/bin/python gen_breakdown.py
import json
import numpy as np
from scipy import stats

rng = np.random.default_rng(16)
gens = ["gan", "diffusion", "rare"]
adjs = ["warm", "cold", "close-up"]
items = []
for i in range(90):
    g = gens[0] if i % 2 == 0 else gens[1]
    if i % 30 == 7:
        g = "rare"
    a = [adjs[i % 3]] if i % 4 else [adjs[i % 3], adjs[(i + 1) % 3]]
    words = 3 + (i % 12)
    items.append({"image": f"im{i:03d}.jpg", "generator": g, "adjective": a,
                  "prompt": " ".join(["w"] * words), "mos": round(float(rng.normal(2.5, 0.8)), 4)})
pred_of = {it["image"]: float(rng.normal()) for it in items}
splits = []
for k in range(3):
    test = sorted(rng.choice(len(items), 40, replace=False).tolist())
    pairs = []
    for j in test:
        it = items[j]
        # per-split version: the prediction moves with the split
        p = 0.6 * it["mos"] + pred_of[it["image"]] * 0.5 + 0.1 * k
        pairs.append({"image": it["image"], "pred": round(p, 6), "mos": it["mos"]})
    splits.append(pairs)

def words(p):
    n = len(p.split())
    for hi, name in [(4, "1-4 words"), (7, "5-7 words"), (10, "8-10 words"), (13, "11-13 words")]:
        if n <= hi:
            return name
    return "14+ words"

def groups_of(it, col):
    if col == "generator":
        return [it["generator"]]
    if col == "adjective":
        return it["adjective"]
    return [words(it["prompt"])]

by_name = {it["image"]: it for it in items}
expected = {}
for col in ["generator", "adjective", "prompt-length"]:
    out = {}
    names = sorted({g for it in items for g in groups_of(it, col)})
    for g in names:
        per = {"srcc": [], "plcc": [], "krcc": []}
        sizes = []
        for pairs in splits:
            sel = [(q["pred"], q["mos"]) for q in pairs if g in groups_of(by_name[q["image"]], col)]
            sizes.append(len(sel))
            if len(sel) < 2 or len({x for x, _ in sel}) < 2 or len({y for _, y in sel}) < 2:
                continue
            x = np.array([s[0] for s in sel]); y = np.array([s[1] for s in sel])
            per["srcc"].append(stats.spearmanr(x, y)[0])
            per["plcc"].append(stats.pearsonr(x, y)[0])
            per["krcc"].append(stats.kendalltau(x, y)[0])
        out[g] = {m: (float(np.mean(v)) if v else None) for m, v in per.items()}
        out[g]["min_n"] = min(sizes)
        out[g]["mean_n"] = float(np.mean(sizes))
    expected[col] = out
json.dump({"items": items, "splits": splits, "expected": expected}, open("breakdown.json", "w"), indent=1)
