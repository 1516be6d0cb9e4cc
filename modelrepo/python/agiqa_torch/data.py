"""Label files, split files and the training Dataset.

Label readers:
- ``agiqa-3k``: ``data.csv`` (name, prompt, ..., mos_quality, ..., mos_align, ...): two targets,
  quality and alignment.
- ``agiqa-1k``: ``AIGC_MOS_Zscore.xlsx`` (Image, Prompt, MOS), what IP-IQA's official code reads; or
  ``AIGC_all.csv`` (Image, Score: another scale, no prompts; prompts are rebuilt from the file-name codes).
- anything else: a generic csv with columns ``image,prompt,mos`` and optionally ``mos_align``.

Split files are written by ``agiqa splits`` (Go) so that training and the harness score the same images.
"""

import csv
import hashlib
import io
import json
import os
import random
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from . import tokenizer as tok

AGIQA_3K = "agiqa-3k"
AGIQA_1K = "agiqa-1k"

# AGIQA-1k file-name codes <generator>_<object>_<action>_<place>_<style> in deepai's index space.
_OBJECTS_1K = ["bird", "cat", "dog", "batman", "snoppy", "teddy bear", "kid", "man", "woman", "alien", "demon", "witch"]
_ACTIONS_1K = [
    "driving aircraft", "driving bike", "driving car", "having hamburger", "having icecream", "having pizza",
    "playing baseball", "playing football", "playing yoga", "using CD", "using laptop", "using phone",
    "wearing coat", "wearing hat", "wearing shirt",
]
_PLACES_1K = ["city", "wild"]
_STYLES_1K = ["anime style", "realistic style"]


@dataclass
class Sample:
    name: str  # image file name, relative to the image directory
    prompt: str
    targets: tuple  # raw MOS, one per target name
    line: int = 0  # line (csv) or row (xlsx) in the label file


@dataclass
class Labels:
    dataset: str
    path: str
    target_names: list
    samples: list = field(default_factory=list)

    def names(self):
        return {s.name for s in self.samples}

    def select(self, names):
        """Samples whose image is in ``names``, in label-file order."""
        wanted = set(names)
        return [s for s in self.samples if s.name in wanted]


def _warn(msg):
    print("agiqa_torch: warning: " + msg, file=sys.stderr)


def _float(value, where, column):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError("%s: column %s: %r is not a number" % (where, column, value)) from None
    if not np.isfinite(v):
        raise ValueError("%s: column %s: %r is not finite" % (where, column, value))
    return v


def check_text(path, data):
    """Refuse label-file bytes that are not UTF-8 text or hold a NUL byte, naming the line of the first
    offending byte (1 + the newlines before it), with the Go reader's words (bench/dataset checkText),
    so that training and the harness refuse the same files at the same line."""
    nul = data.find(b"\x00")
    bad = None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start
    if nul >= 0 and (bad is None or nul < bad):
        raise ValueError("%s:%d: NUL byte: a label file must be UTF-8 text" % (path, 1 + data.count(b"\n", 0, nul)))
    if bad is not None:
        raise ValueError("%s:%d: not UTF-8 text (byte 0x%02x): save the label file as UTF-8"
                         % (path, 1 + data.count(b"\n", 0, bad), data[bad]))


def _read_csv_rows(path, required):
    """Yield (line number, row) with header names trimmed and lower-cased (as the Go reader does)."""
    with open(path, "rb") as f:
        data = f.read()
    check_text(path, data)
    with io.StringIO(data.decode("utf-8-sig"), newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError("%s: empty file, want a header line" % path)
        keys = [h.strip().lower() for h in header]
        missing = [c for c in required if c not in keys]
        if missing:
            raise ValueError("%s:1: missing column(s) %s (header has: %s)" % (path, ",".join(missing), ",".join(header)))
        for rec in reader:
            if not rec or not "".join(rec).strip():
                continue
            lineno = reader.line_num
            if len(rec) < len(keys):
                raise ValueError("%s:%d: %d fields, header has %d" % (path, lineno, len(rec), len(keys)))
            row = {}
            for k, v in zip(keys, rec):
                row.setdefault(k, v)
            yield lineno, row


def _read_agiqa3k(path):
    labels = Labels(AGIQA_3K, path, ["quality", "alignment"])
    for lineno, row in _read_csv_rows(path, ["name", "prompt", "mos_quality", "mos_align"]):
        where = "%s:%d" % (path, lineno)
        labels.samples.append(
            Sample(
                row["name"].strip(),
                row["prompt"],
                (_float(row["mos_quality"], where, "mos_quality"), _float(row["mos_align"], where, "mos_align")),
                lineno,
            )
        )
    return labels


# Valid codes per field (object, action, place, style) in each generator's own numbering.
_CODE_LIMITS_1K = {"deepai": (12, 15, 2, 2), "dreamStudio": (9, 10, 2, 2)}
_FIELDS_1K = ("object", "action", "place", "style")


def _parse_agiqa1k_name(name):
    parts = os.path.splitext(os.path.basename(name))[0].split("_")
    if len(parts) != 5:
        raise ValueError("AGIQA-1k image name %r: want <generator>_<object>_<action>_<place>_<style>.jpg" % name)
    limits = _CODE_LIMITS_1K.get(parts[0])
    if limits is None:
        raise ValueError("AGIQA-1k image name %r: unknown generator %r (want deepai or dreamStudio)" % (name, parts[0]))
    codes = []
    for field_name, p, limit in zip(_FIELDS_1K, parts[1:], limits):
        if not p.isdigit() or int(p) >= limit:
            raise ValueError("AGIQA-1k image name %r: %s code %r is not in 0..%d for %s"
                             % (name, field_name, p, limit - 1, parts[0]))
        codes.append(int(p))
    return parts[0], codes


def decode_agiqa1k_prompt(name):
    """The AGIQA-1k prompt "object, action, place, style" from a file name like ``deepai_0_0_0_0.jpg``.

    dreamStudio codes are shifted against deepai's: objects above 5 skip "kid", actions start at 5.
    """
    gen, (obj, act, place, style) = _parse_agiqa1k_name(name)
    if gen == "dreamStudio":
        obj = obj + 1 if obj > 5 else obj
        act += 5
    return ", ".join((_OBJECTS_1K[obj], _ACTIONS_1K[act], _PLACES_1K[place], _STYLES_1K[style]))


def _repair_agiqa1k_name(name, listed):
    """Complete a name with exactly one empty code ("dreamStudio_8_9_1_.jpg" in the published csv) when
    exactly one value gives a valid name the file does not list; None otherwise. Same rule as the Go reader.
    """
    stem, ext = os.path.splitext(name)
    parts = stem.split("_")
    limits = _CODE_LIMITS_1K.get(parts[0])
    if len(parts) != 5 or limits is None or [p == "" for p in parts[1:]].count(True) != 1:
        return None
    k = [p == "" for p in parts[1:]].index(True)
    found = [c for c in ("_".join(parts[: k + 1] + [str(v)] + parts[k + 2 :]) + ext for v in range(limits[k]))
             if c not in listed]
    return found[0] if len(found) == 1 else None


def _read_agiqa1k_xlsx(path):
    try:
        import openpyxl
    except ImportError:
        raise ImportError(
            "%s: reading .xlsx needs openpyxl (Debian python3-openpyxl); or pass AIGC_all.csv" % path
        ) from None
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(c).strip().lower() if c is not None else "" for c in next(rows, ())]
        cols = {}
        for want in ("image", "prompt", "mos"):
            if want not in header:
                raise ValueError("%s:1: missing column %r (header has: %s)" % (path, want, ",".join(header)))
            cols[want] = header.index(want)
        labels = Labels(AGIQA_1K, path, ["quality"])
        first = {}
        for rowno, row in enumerate(rows, start=2):
            if row is None or all(c is None or str(c).strip() == "" for c in row):
                continue
            where = "%s:%d" % (path, rowno)
            name = str(row[cols["image"]]).strip()
            mos = _float(row[cols["mos"]], where, "MOS")
            # The sheet lists dreamStudio_8_9_1_1.jpg twice with different MOS. The harness keys
            # predictions by image name, so keep the first row, as the Go reader does.
            if name in first:
                _warn("%s: image %s listed again with MOS %s; kept row %d, ignored this one" % (where, name, mos, first[name]))
                continue
            first[name] = rowno
            prompt = row[cols["prompt"]]
            prompt = decode_agiqa1k_prompt(name) if prompt is None or str(prompt) == "" else str(prompt)
            labels.samples.append(Sample(name, prompt, (mos,), rowno))
        return labels
    finally:
        wb.close()


def _read_agiqa1k_csv(path):
    _warn("%s: AIGC_all.csv scores are on another scale than the xlsx IP-IQA trains on; "
          "prompts are rebuilt from file names" % path)
    rows = list(_read_csv_rows(path, ["image", "score"]))
    listed = {row["image"].strip() for _, row in rows}
    labels = Labels(AGIQA_1K, path, ["quality"])
    for lineno, row in rows:
        where = "%s:%d" % (path, lineno)
        name = row["image"].strip()
        try:
            prompt = decode_agiqa1k_prompt(name)
        except ValueError as e:
            fixed = _repair_agiqa1k_name(name, listed)
            if fixed is None:
                raise ValueError("%s: %s" % (where, e)) from None
            _warn("%s: broken image name %r read as %r (the only completion the file does not list)" % (where, name, fixed))
            name, prompt = fixed, decode_agiqa1k_prompt(fixed)
        labels.samples.append(Sample(name, prompt, (_float(row["score"], where, "Score"),), lineno))
    return labels


def _read_generic(dataset, path):
    rows = list(_read_csv_rows(path, ["image", "prompt", "mos"]))
    # Alignment is a target only when every row has one (else the dataset is quality-only, as in Go).
    has_align = bool(rows) and all((row.get("mos_align") or "").strip() for _, row in rows)
    if not has_align and rows and "mos_align" in rows[0][1]:
        _warn("%s: some rows lack mos_align; training on quality only" % path)
    labels = Labels(dataset, path, ["quality", "alignment"] if has_align else ["quality"])
    for lineno, row in rows:
        where = "%s:%d" % (path, lineno)
        t = [_float(row["mos"], where, "mos")]
        if has_align:
            t.append(_float(row["mos_align"], where, "mos_align"))
        labels.samples.append(Sample(row["image"].strip(), row["prompt"], tuple(t), lineno))
    return labels


def quality_only(labels):
    """The same labels with the quality target alone (the baselines of Table 1 regress quality MOS)."""
    return Labels(labels.dataset, labels.path, labels.target_names[:1],
                  [Sample(s.name, s.prompt, s.targets[:1], s.line) for s in labels.samples])


# Label files the published archives keep beside their images, preferred first (IP-IQA reads the xlsx).
DEFAULT_LABEL_FILES = {AGIQA_3K: ("data.csv",), AGIQA_1K: ("AIGC_MOS_Zscore.xlsx", "AIGC_all.csv")}


def default_labels_path(dataset, image_dir):
    """The label file of ``dataset`` in ``image_dir`` (the first that exists, else the preferred one,
    so that the error names it); None for datasets without a known file name."""
    names = DEFAULT_LABEL_FILES.get(dataset.lower())
    if not names:
        return None
    paths = [os.path.join(image_dir, n) for n in names]
    return next((p for p in paths if os.path.isfile(p)), paths[0])


def read_labels(dataset, path):
    """Read a label file for ``dataset`` (agiqa-3k, agiqa-1k, or any name for a generic csv)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("label file %s for dataset %s not found" % (path, dataset))
    ds = dataset.lower()
    if ds == AGIQA_3K:
        labels = _read_agiqa3k(path)
    elif ds == AGIQA_1K:
        labels = _read_agiqa1k_xlsx(path) if path.lower().endswith(".xlsx") else _read_agiqa1k_csv(path)
    else:
        labels = _read_generic(dataset, path)
    if not labels.samples:
        raise ValueError("label file %s has no rows" % path)
    first = {}
    for smp in labels.samples:
        if smp.name in first:
            raise ValueError("%s:%d: image %s listed twice (first on line %d)" % (path, smp.line, smp.name, first[smp.name]))
        first[smp.name] = smp.line
        if not smp.name:
            raise ValueError("%s:%d: empty image name" % (path, smp.line))
    return labels


@dataclass
class Split:
    index: int
    train: list
    val: list
    test: list


@dataclass
class Splits:
    path: str
    dataset: str
    protocol: str
    seed: object
    images: int  # number of images the splits were drawn over
    images_sha256: str
    splits: list

    def get(self, index):
        for s in self.splits:
            if s.index == index:
                return s
        raise ValueError("splits file %s has no split %d (it has 0..%d)" % (self.path, index, len(self.splits) - 1))


def images_digest(names):
    """sha256 (hex) of the sorted image names, each followed by a newline: the splits file's images_sha256."""
    h = hashlib.sha256()
    for n in sorted(names):
        h.update(n.encode("utf-8") + b"\n")
    return h.hexdigest()


def read_splits(path, labels=None):
    """Read and validate a splits JSON written by ``agiqa splits``; with ``labels``, also refuse one
    drawn over another dataset or image set. The checks mirror the Go reader (bench/splits)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError("splits file %s: not JSON: %s" % (path, e)) from e
    if not isinstance(doc, dict) or not isinstance(doc.get("splits"), list):
        raise ValueError("splits file %s: want an object with a \"splits\" list" % path)

    def bad(msg, *a):
        return ValueError("splits file %s: %s" % (path, msg % a))

    dataset, protocol = doc.get("dataset"), doc.get("protocol")
    if not isinstance(dataset, str) or not dataset:
        raise bad('no "dataset"')
    if protocol not in ("paper", "holdout"):
        raise bad("protocol %r: want paper or holdout", protocol)
    if doc.get("n") != len(doc["splits"]) or not doc["splits"]:
        raise bad('"n" is %r but the file has %d splits', doc.get("n"), len(doc["splits"]))
    parsed, ref = [], None
    for k, s in enumerate(doc["splits"]):
        if not isinstance(s, dict) or s.get("index") != k:
            raise bad("split %d has index %r", k, s.get("index") if isinstance(s, dict) else None)
        sides = {}
        for key in ("train", "val", "test"):
            v = s.get(key) or []
            if not isinstance(v, list) or not all(isinstance(n, str) for n in v):
                raise bad("split %d: %s is not a list of image names", k, key)
            sides[key] = v
        if not sides["train"] or not sides["test"]:
            raise bad("split %d: empty train or test", k)
        if protocol == "paper" and sides["val"]:
            raise bad("split %d: protocol paper has no validation images, found %d", k, len(sides["val"]))
        if protocol == "holdout" and not sides["val"]:
            raise bad("split %d: protocol holdout needs validation images", k)
        every = sorted(sides["train"] + sides["val"] + sides["test"])
        for a, b in zip(every, every[1:]):
            if a == b:
                raise bad("split %d: image %r appears twice", k, a)
        if ref is None:
            ref = every
        elif every != ref:
            diff = sorted(set(every) ^ set(ref))[0]
            raise bad("split %d covers other images than split 0 (first difference: %r)", k, diff)
        parsed.append(Split(k, sides["train"], sides["val"], sides["test"]))
    if doc.get("images") != len(ref):
        raise bad('"images" is %r but each split holds %d', doc.get("images"), len(ref))
    if doc.get("images_sha256") != images_digest(ref):
        raise bad('"images_sha256" %r does not match the images listed (%s)', doc.get("images_sha256"), images_digest(ref))
    splits = Splits(path, dataset, protocol, doc.get("seed"), len(ref), doc["images_sha256"], parsed)
    if labels is not None:
        check_splits(splits, labels)
    return splits


def check_splits(splits, labels):
    """Refuse splits drawn for another dataset or image set, naming the first image in one but not the other."""
    if splits.dataset != labels.dataset:
        raise ValueError("splits file %s was made for dataset %s, not %s (labels %s)"
                         % (splits.path, splits.dataset, labels.dataset, labels.path))
    s0 = splits.splits[0]
    listed = set(s0.train + s0.val + s0.test)
    known = labels.names()
    for name in sorted(listed):
        if name not in known:
            raise ValueError("splits file %s lists image %s, which labels %s do not have"
                             % (splits.path, name, labels.path))
    for smp in labels.samples:
        if smp.name not in listed:
            raise ValueError("labels %s have image %s (line %d), which splits file %s does not list"
                             % (labels.path, smp.name, smp.line, splits.path))


def check_images(samples, image_dir, labels_path=None):
    """Fail before training starts, naming the first image file that is missing and, given the label
    file, the line that names it."""
    for s in samples:
        p = os.path.join(image_dir, s.name)
        if not os.path.isfile(p):
            where = " (named on line %d of %s)" % (s.line, labels_path) if labels_path else ""
            raise FileNotFoundError("image %s not found%s" % (p, where))


def read_image(path, size):
    """uint8 [3, size, size]: RGB, squashed to size x size with Pillow's bicubic (IP-IQA's resize)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BICUBIC)
    except (OSError, ValueError) as e:
        raise OSError("decoding image %s: %s" % (path, e)) from e
    return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def load_image(path, size, flip=False):
    """float [3, size, size] in 0..255, optionally mirrored left-right."""
    img = read_image(path, size)
    return (img.flip(-1) if flip else img).float()


class _Decoded(torch.utils.data.Dataset):
    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return read_image(self.ds.path(i), self.ds.image_size)


class ImageDataset(torch.utils.data.Dataset):
    """(image [3,S,S] 0..255, tokens long [77], target float [k]) per label row.

    Images are float32 unless ``dtype=torch.uint8`` (4x less to move; the models accept both).
    ``train`` adds a random horizontal flip (IP-IQA's only augmentation besides the resize).
    ``preload()`` decodes and resizes every image once and keeps them in memory (S=512: 0.75 MiB
    each), so that epochs no longer decode JPEGs.
    """

    def __init__(self, samples, image_dir, image_size, train=False, vocab_path=None, dtype=torch.float32):
        if not samples:
            raise ValueError("no samples for image directory %s" % image_dir)
        self.samples = list(samples)
        self.image_dir = image_dir
        self.image_size = int(image_size)
        self.train = train
        self.dtype = dtype
        self.cache = None
        # Tokenize once: few distinct prompts, and workers then need no vocabulary.
        self.tokens = tok.tokenize([s.prompt for s in self.samples], vocab_path=vocab_path)
        self.targets = torch.tensor([s.targets for s in self.samples], dtype=torch.float32)

    def __len__(self):
        return len(self.samples)

    def path(self, i):
        return os.path.join(self.image_dir, self.samples[i].name)

    def preload(self, workers=0):
        """Decode every image once (with ``workers`` processes) into an in-memory uint8 tensor."""
        s = self.image_size
        cache = torch.empty((len(self), 3, s, s), dtype=torch.uint8)
        loader = torch.utils.data.DataLoader(_Decoded(self), batch_size=16, num_workers=workers)
        i = 0
        for batch in loader:
            cache[i : i + len(batch)] = batch
            i += len(batch)
        self.cache = cache

    def __getitem__(self, i):
        img = self.cache[i] if self.cache is not None else read_image(self.path(i), self.image_size)
        if self.train and random.random() < 0.5:
            img = img.flip(-1)
        return img.to(self.dtype), self.tokens[i], self.targets[i]


def seed_worker(worker_id):
    """DataLoader worker_init_fn: give Python's random (used for flips) a per-worker seed."""
    random.seed(torch.initial_seed() % 2 ** 32)
