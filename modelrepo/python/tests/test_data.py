"""Label/split readers and the Dataset, on generated data (and on the shared label files when present).

``make_dataset`` and ``write_splits`` are also used by test_train.py.
"""

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from agiqa_torch import data as D
from agiqa_torch import tokenizer as T

torch.set_num_threads(2)

PROMPTS = ["a red apple on a table", "a cat wearing a hat", "a city street at night",
           "a bowl of soup", "a mountain lake", "an old robot"]


def mos_of(brightness):
    """Quality MOS of a generated image: a function of its brightness."""
    return 1.0 + 3.0 * brightness / 255.0


def make_dataset(root, n=24, size=32, align=True, seed=0):
    """n PNGs (size x size) in root/images with a textured grey level; labels.csv with
    image,prompt,mos[,mos_align]. Returns (labels path, images dir, [(name, prompt)])."""
    rng = np.random.RandomState(seed)
    img_dir = os.path.join(root, "images")
    os.makedirs(img_dir, exist_ok=True)
    rows = []
    for i in range(n):
        b = 20 + 215 * ((i * 7) % n) / (n - 1)  # brightness spread over prompts
        noise = rng.randint(-12, 13, size=(size, size, 3))
        pix = np.clip(b + noise, 0, 255).astype(np.uint8)
        name = "img_%03d.png" % i
        Image.fromarray(pix, "RGB").save(os.path.join(img_dir, name))
        prompt = PROMPTS[i % len(PROMPTS)]
        rows.append((name, prompt, mos_of(pix.mean()), 0.5 + 0.5 * (i % len(PROMPTS))))
    labels = os.path.join(root, "labels.csv")
    with open(labels, "w", encoding="utf-8") as f:
        f.write("image,prompt,mos" + (",mos_align" if align else "") + "\n")
        for name, prompt, mos, mal in rows:
            f.write("%s,%s,%.6f" % (name, prompt, mos) + (",%.6f" % mal if align else "") + "\n")
    return labels, img_dir, [(r[0], r[1]) for r in rows]


def write_splits(path, items, dataset="csv", protocol="paper", n=2):
    """A splits file as `agiqa splits` writes it: groups are prompts; split k tests on two prompts."""
    names = [name for name, _ in items]
    splits = []
    for k in range(n):
        test_prompts = {PROMPTS[(2 * k) % len(PROMPTS)], PROMPTS[(2 * k + 1) % len(PROMPTS)]}
        val_prompts = {PROMPTS[(2 * k + 2) % len(PROMPTS)]} if protocol == "holdout" else set()
        side = lambda p: "test" if p in test_prompts else "val" if p in val_prompts else "train"  # noqa: E731
        splits.append({"index": k, **{s: sorted(nm for nm, p in items if side(p) == s) for s in ("train", "val", "test")}})
    digest = hashlib.sha256("".join(nm + "\n" for nm in sorted(names)).encode()).hexdigest()
    doc = {"dataset": dataset, "protocol": protocol, "seed": 1, "n": n, "images": len(names),
           "images_sha256": digest, "splits": splits}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    return doc


@pytest.fixture()
def generated(tmp_path):
    labels, img_dir, items = make_dataset(str(tmp_path))
    return str(tmp_path), labels, img_dir, items


def test_generic_labels(generated):
    root, labels_path, _, items = generated
    labels = D.read_labels("csv", labels_path)
    assert labels.dataset == "csv" and labels.target_names == ["quality", "alignment"]
    assert [s.name for s in labels.samples] == [n for n, _ in items]
    assert labels.samples[1].prompt == PROMPTS[1] and labels.samples[1].line == 3
    assert labels.samples[4].targets[1] == pytest.approx(2.5)


def test_dataset_items(generated):
    root, labels_path, img_dir, _ = generated
    labels = D.read_labels("csv", labels_path)
    ds = D.ImageDataset(labels.samples, img_dir, 64, train=False)
    img, tokens, target = ds[3]
    assert img.shape == (3, 64, 64) and img.dtype == torch.float32
    assert 0 <= img.min() and img.max() <= 255
    assert tokens.shape == (77,) and tokens.dtype == torch.long
    assert torch.equal(tokens, T.tokenize(PROMPTS[3])[0])
    assert target.shape == (2,)
    assert target.tolist() == pytest.approx(list(labels.samples[3].targets))
    # The squash resize is Pillow's bicubic: compare with Pillow directly.
    with Image.open(os.path.join(img_dir, "img_003.png")) as im:
        want = np.asarray(im.convert("RGB").resize((64, 64), Image.BICUBIC)).transpose(2, 0, 1)
    assert np.array_equal(img.numpy().astype(np.uint8), want)
    # Brightness drives the quality MOS (what test_train relies on to learn something).
    assert labels.samples[3].targets[0] == pytest.approx(mos_of(img.mean().item()), abs=0.05)


def test_train_flip_is_horizontal(generated):
    root, labels_path, img_dir, _ = generated
    s = D.read_labels("csv", labels_path).samples[:1]
    plain = D.load_image(os.path.join(img_dir, s[0].name), 32)
    flipped = D.load_image(os.path.join(img_dir, s[0].name), 32, flip=True)
    assert torch.equal(flipped, plain.flip(-1))
    ds = D.ImageDataset(s, img_dir, 32, train=True)
    seen = {bool(torch.equal(ds[0][0], plain)) for _ in range(40)}
    assert seen == {True, False}, "train items must be flipped about half of the time"


def test_splits_round_trip_and_select(generated):
    root, labels_path, _, items = generated
    labels = D.read_labels("csv", labels_path)
    path = os.path.join(root, "splits.json")
    write_splits(path, items, protocol="holdout")
    splits = D.read_splits(path, labels)
    s1 = splits.get(1)
    assert splits.protocol == "holdout" and splits.images == 24
    assert len(s1.test) == 8 and len(s1.val) == 4 and len(s1.train) == 12
    assert {smp.prompt for smp in labels.select(s1.test)} == {PROMPTS[2], PROMPTS[3]}
    with pytest.raises(ValueError, match="no split 5"):
        splits.get(5)


def test_splits_mismatch_is_refused(generated):
    root, labels_path, _, items = generated
    labels = D.read_labels("csv", labels_path)
    path = os.path.join(root, "splits.json")

    write_splits(path, items, dataset="agiqa-3k")
    with pytest.raises(ValueError, match="made for dataset agiqa-3k, not csv"):
        D.read_splits(path, labels)

    # An image the labels do not have: the error names it.
    write_splits(path, items + [("zz_extra.png", PROMPTS[0])])
    with pytest.raises(ValueError, match="lists image zz_extra.png, which labels"):
        D.read_splits(path, labels)

    # An image the labels have but the splits lack: named with its line.
    write_splits(path, [it for it in items if it[0] != "img_005.png"])
    with pytest.raises(ValueError, match=r"have image img_005.png \(line 7\)"):
        D.read_splits(path, labels)

    # A digest that does not match the listed images.
    doc = write_splits(path, items)
    doc["images_sha256"] = "0" * 64
    with open(path, "w") as f:
        json.dump(doc, f)
    with pytest.raises(ValueError, match="images_sha256"):
        D.read_splits(path)

    # Validation images in a paper-protocol file.
    doc = write_splits(path, items, protocol="holdout")
    doc["protocol"] = "paper"
    with open(path, "w") as f:
        json.dump(doc, f)
    with pytest.raises(ValueError, match="protocol paper has no validation images"):
        D.read_splits(path)


def test_label_errors_name_file_and_line(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("image,prompt,mos\na.png,x,1.5\nb.png,y,high\n")
    with pytest.raises(ValueError, match=r"labels.csv:3: column mos: 'high' is not a number"):
        D.read_labels("csv", str(p))
    p.write_text("image,prompt,mos\na.png,x,1.5\na.png,y,2\n")
    with pytest.raises(ValueError, match=r"labels.csv:3: image a.png listed twice \(first on line 2\)"):
        D.read_labels("csv", str(p))
    p.write_text("image,text,mos\na.png,x,1.5\n")
    with pytest.raises(ValueError, match="missing column.*prompt"):
        D.read_labels("csv", str(p))


def test_missing_image_is_named(generated):
    root, labels_path, img_dir, _ = generated
    labels = D.read_labels("csv", labels_path)
    os.remove(os.path.join(img_dir, "img_010.png"))
    with pytest.raises(FileNotFoundError, match="img_010.png"):
        D.check_images(labels.samples, img_dir)
    # With the label file: its line that names the image (header on line 1, img_000 on line 2).
    with pytest.raises(FileNotFoundError, match=r"img_010.png not found \(named on line 12 of .*labels.csv\)"):
        D.check_images(labels.samples, img_dir, labels.path)


def test_agiqa1k_prompt_codes():
    assert D.decode_agiqa1k_prompt("deepai_0_0_0_0.jpg") == "bird, driving aircraft, city, anime style"
    # dreamStudio: object 6 is "man" (skips "kid"), action 2 is deepai's 7.
    assert D.decode_agiqa1k_prompt("dreamStudio_6_2_0_1.jpg") == "man, playing football, city, realistic style"
    with pytest.raises(ValueError, match="action code '15'"):
        D.decode_agiqa1k_prompt("deepai_0_15_0_0.jpg")
    listed = {"dreamStudio_8_9_1_0.jpg", "dreamStudio_8_9_1_.jpg"}
    assert D._repair_agiqa1k_name("dreamStudio_8_9_1_.jpg", listed) == "dreamStudio_8_9_1_1.jpg"


def _shared(*parts):
    """A file of ../shared/data beside the repository root (the dir holding go.mod), or skip."""
    d = os.path.dirname(os.path.abspath(__file__))
    while not os.path.exists(os.path.join(d, "go.mod")):
        if os.path.dirname(d) == d:
            pytest.skip("no repository root (go.mod) above the tests")
        d = os.path.dirname(d)
    p = os.path.join(os.path.dirname(d), "shared", "data", *parts)
    if not os.path.exists(p):
        pytest.skip("shared label file %s absent" % p)
    return p


def test_shared_agiqa3k():
    labels = D.read_labels("agiqa-3k", _shared("agiqa-3k", "data.csv"))
    assert len(labels.samples) == 2982 and labels.target_names == ["quality", "alignment"]
    s = labels.samples[0]
    assert (s.name, s.prompt) == ("AttnGAN_normal_000.jpg", "statue of a man")
    assert s.targets == pytest.approx((0.965602553, 0.40889324))


def test_shared_agiqa1k_xlsx_and_csv():
    pytest.importorskip("openpyxl")
    xlsx = D.read_labels("agiqa-1k", _shared("agiqa-1k", "AIGC_MOS_Zscore.xlsx"))
    # 1080 rows, one image listed twice: the first row is kept (as the Go reader does).
    assert len(xlsx.samples) == 1079
    dup = [s for s in xlsx.samples if s.name == "dreamStudio_8_9_1_1.jpg"]
    assert len(dup) == 1 and dup[0].targets[0] == pytest.approx(0.4414155439958131)
    # Every prompt in the sheet is what the file-name codes say.
    assert all(D.decode_agiqa1k_prompt(s.name) == s.prompt for s in xlsx.samples)
    csv_labels = D.read_labels("agiqa-1k", _shared("agiqa-1k", "AIGC_all.csv"))
    assert len(csv_labels.samples) == 1080
    assert "dreamStudio_8_9_1_1.jpg" in csv_labels.names()


def test_reads_go_written_splits(generated):
    """A file written by the Go splits package (see testdata/README.md) passes every check."""
    root, labels_path, _, items = generated
    labels = D.read_labels("csv", labels_path)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "splits_go_holdout.json")
    splits = D.read_splits(path, labels)
    assert (splits.dataset, splits.protocol, splits.images, len(splits.splits)) == ("csv", "holdout", 24, 2)
    for s in splits.splits:
        assert len(s.train) + len(s.val) + len(s.test) == 24 and s.val and s.test
        # Images sharing a prompt stay on one side.
        sides = [{smp.prompt for smp in labels.select(part)} for part in (s.train, s.val, s.test)]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_preload_and_uint8_give_the_same_items(generated):
    root, labels_path, img_dir, _ = generated
    samples = D.read_labels("csv", labels_path).samples[:6]
    plain = D.ImageDataset(samples, img_dir, 32)
    cached = D.ImageDataset(samples, img_dir, 32, dtype=torch.uint8)
    cached.preload()
    assert cached.cache.shape == (6, 3, 32, 32)
    for i in range(6):
        a, b = plain[i], cached[i]
        assert b[0].dtype == torch.uint8 and torch.equal(a[0], b[0].float())
        assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])


# The Go reader's bad-text fixtures (bench/dataset/testdata/badtext, made by gen_badtext.py there):
# both readers must refuse each file, naming the same line with the same words.
_BADTEXT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "dataset", "testdata", "badtext")


def _badtext_cases():
    with open(os.path.join(_BADTEXT, "cases.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("case", _badtext_cases(), ids=lambda c: c["file"])
def test_labels_must_be_utf8_without_nul_as_in_go(case):
    path = os.path.join(_BADTEXT, case["file"])
    dataset = "generic" if case["dataset"] == "csv" else case["dataset"]
    with pytest.raises(ValueError) as e:
        D.read_labels(dataset, path)
    msg = str(e.value)
    assert msg.startswith("%s:%d: " % (path, case["line"])), msg
    assert case["says"] in msg, msg


def test_good_utf8_with_bom_still_reads(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_bytes("\ufeffimage,prompt,mos\na.jpg,caf\u00e9 \u2014 na\u00efve,1.5\n".encode("utf-8"))
    labels = D.read_labels("generic", str(p))
    assert labels.samples[0].prompt == "caf\u00e9 \u2014 na\u00efve"
