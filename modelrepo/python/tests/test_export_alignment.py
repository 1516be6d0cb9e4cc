"""Export of Table 2's alignment models (AlignmentModel): inputs by name, ALIGNMENT only, the numeric gate
against fp64 eager PyTorch in ONNX Runtime, and the Triton config the harness reads (tokenizer, token
width, mask, prompt prefix, one zero-shot version)."""

import json
import re

import numpy as np
import pytest
import torch

from agiqa_torch import export as E
from test_export import need_ort, run_main

BUILDERS = {"toyalign_clip": "tests.toy_alignment:build_clip", "toyalign_bert": "tests.toy_alignment:build_bert"}


def export_toy(root, name, *extra):
    return E.main(["--builder", BUILDERS[name], "--tiny", "--seed", "5", "--out", str(root),
                   "--reference", str(root / f"{name}.json"), *extra])


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory):
    need_ort()
    root = tmp_path_factory.mktemp("align")
    for name in BUILDERS:
        assert export_toy(root, name) == 0
    return root


def param(text, key):
    m = re.search(r'key: "' + re.escape(key) + r'" value: \{ string_value: "((?:[^"\\]|\\.)*)" \}', text)
    return m.group(1) if m else None


@pytest.mark.parametrize("name,tokens", [("toyalign_clip", 77), ("toyalign_bert", 35)])
def test_graph_takes_the_inputs_by_name_and_gives_alignment_only(toy_repo, name, tokens):
    path = toy_repo / f"{name}_tiny" / "1" / "model.onnx"
    sig = E.graph_signature(str(path))
    want = [("IMAGE", "UINT8", ("batch", 3, 224, 224)), ("TOKENS", "INT64", ("batch", tokens))]
    if name == "toyalign_bert":
        want.append(("TOKENS_MASK", "INT64", ("batch", tokens)))
    assert sig == {"inputs": want, "outputs": [("ALIGNMENT", "FLOAT", ("batch", 1))]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # small: no external data


def test_configs_name_tokenizer_width_mask_and_prefix(toy_repo):
    clip = (toy_repo / "toyalign_clip_tiny" / "config.pbtxt").read_text()
    bert = (toy_repo / "toyalign_bert_tiny" / "config.pbtxt").read_text()
    assert re.search(r'name: "TOKENS" data_type: TYPE_INT64 dims: \[ 77 \]', clip)
    assert "TOKENS_MASK" not in clip
    assert re.search(r'name: "TOKENS" data_type: TYPE_INT64 dims: \[ 35 \]', bert)
    assert re.search(r'name: "TOKENS_MASK" data_type: TYPE_INT64 dims: \[ 35 \]', bert)
    assert re.search(r'name: "IMAGE" data_type: TYPE_UINT8 dims: \[ 3, 224, 224 \]', bert)
    for text, tok, cat in ((clip, "clip_bpe", "toyalign_clip"), (bert, "bert_wordpiece", "toyalign_bert")):
        assert param(text, "agiqa.tokenizer") == tok
        assert param(text, "agiqa.catalog") == cat
        assert param(text, "agiqa.preprocess") == "resize_center_crop"
        assert param(text, "agiqa.per_split") == "false"
        assert "version_policy: { latest { num_versions: 1 } }" in text  # one version, served for every split
        assert re.search(r'name: "ALIGNMENT" data_type: TYPE_FP32 dims: \[ 1 \]', text)
        assert "QUALITY" not in text
    assert param(clip, "agiqa.prompt_prefix") == 'A \\"toy\\" photo depicts '  # escaped for protobuf text
    assert param(bert, "agiqa.prompt_prefix") is None


def test_bert_sample_rows_and_mask():
    from toy_alignment import build_bert

    feeds = E.sample_feeds(build_bert(seed=0), 4, seed=3)
    tokens, mask = feeds["TOKENS"], feeds["TOKENS_MASK"]
    assert list(feeds) == ["IMAGE", "TOKENS", "TOKENS_MASK"] and tokens.shape == (4, 35)
    for row, m in zip(tokens.tolist(), mask.tolist()):
        n = sum(m)
        assert row[0] == 101 and row[n - 1] == 102 and all(t == 0 for t in row[n:])
        assert m == [1] * n + [0] * (35 - n)
        assert all(999 <= t < 30522 for t in row[1:n - 1])
    assert sum(mask[0].tolist()) == 35  # one row fills the width


def test_reference_outputs_match_onnx_runtime_and_the_mask_is_live(toy_repo):
    # The reference JSON (what the Go side compares against) through ONNX Runtime, then the same rows
    # with a shortened mask: a graph that ignored TOKENS_MASK would give the same scores.
    ref = json.loads((toy_repo / "toyalign_bert.json").read_text())
    feeds = {n: np.array(v["data"], dtype=np.uint8 if n == "IMAGE" else np.int64).reshape(v["shape"])
             for n, v in ref["inputs"].items()}
    path = str(toy_repo / "toyalign_bert_tiny" / "1" / "model.onnx")
    got, _ = E.run_onnxruntime(path, feeds, ["ALIGNMENT"])
    out = ref["outputs"]["ALIGNMENT"]
    np.testing.assert_allclose(got["ALIGNMENT"][:, 0], out["fp64"], rtol=0, atol=out["tolerance"])
    short = dict(feeds, TOKENS_MASK=feeds["TOKENS_MASK"].copy())
    short["TOKENS_MASK"][:, 3:] = 0
    moved, _ = E.run_onnxruntime(path, short, ["ALIGNMENT"])
    assert np.abs(moved["ALIGNMENT"] - got["ALIGNMENT"]).max() > 1e-3


def test_reexport_keeps_the_config_and_refuses_a_stale_tokenizer(toy_repo, capsys):
    capsys.readouterr()
    assert export_toy(toy_repo, "toyalign_bert") == 0
    assert "kept" in capsys.readouterr().out
    cfg = toy_repo / "toyalign_bert_tiny" / "config.pbtxt"
    good = cfg.read_text()
    try:
        cfg.write_text(good.replace('"bert_wordpiece"', '"clip_bpe"').replace("dims: [ 35 ]", "dims: [ 77 ]"))
        assert export_toy(toy_repo, "toyalign_bert") == 1
        err = capsys.readouterr().err
        assert 'agiqa.tokenizer is "clip_bpe", the model takes "bert_wordpiece"' in err
        assert "TOKENS dims are not [ 35 ]" in err and "TOKENS_MASK dims are not [ 35 ]" in err
    finally:
        cfg.write_text(good)


def test_the_gate_refuses_another_models_graph(tmp_path):
    # The gate feeds IMAGE, TOKENS and TOKENS_MASK by name; a graph of other weights is refused.
    need_ort()
    from toy_alignment import build_bert

    m5, m6 = build_bert(seed=5), build_bert(seed=6)
    path = str(tmp_path / "m.onnx")
    E.export_onnx(m6, path)
    E.compare_with_eager(path, m6)
    with pytest.raises(E.ExportError, match="ALIGNMENT"):
        E.compare_with_eager(path, m5)


@pytest.mark.parametrize("name", ["clipscore", "hpsv1", "hpsv2", "hpsv21", "pickscore", "imagereward"])
def test_the_papers_alignment_models_export_tiny(tmp_path, capsys, name):
    # The real builders (clip_alignment.build_alignment, imagereward.build_imagereward) at small widths.
    need_ort()
    ref = tmp_path / "ref.json"
    rc, out, err = run_main(["--model", name, "--tiny", "--seed", "7", "--out", str(tmp_path), "--reference", str(ref)],
                            capsys)
    assert rc == 0, err
    assert "numeric check: " in out and "matches eager PyTorch" in out
    # Seed 7: outputs that vary (a random tiny CLIPScore clamps most cosines to 0 at other seeds).
    assert np.ptp(json.loads(ref.read_text())["outputs"]["ALIGNMENT"]["fp64"]) > 1e-4
    text = (tmp_path / f"{name}_tiny" / "config.pbtxt").read_text()
    assert param(text, "agiqa.catalog") == name
    bert = name == "imagereward"
    assert param(text, "agiqa.tokenizer") == ("bert_wordpiece" if bert else "clip_bpe")
    assert ("TOKENS_MASK" in text) == bert
    assert param(text, "agiqa.prompt_prefix") == ("A photo depicts " if name == "clipscore" else None)


def test_alignment_arguments_are_checked(tmp_path, capsys):
    rc, _, err = run_main(["--model", "clipscore", "--out", str(tmp_path)], capsys)
    assert rc == 1 and "--weights (the published checkpoint) is required for clipscore" in err
    rc, _, err = run_main(["--model", "clipscore", "--tiny", "--dataset", "agiqa-3k", "--out", str(tmp_path)], capsys)
    assert rc == 1 and "--dataset does not apply to alignment models" in err
    rc, _, err = run_main(["--model", "imagereward", "--weights", str(tmp_path / "nope.pt"), "--out", str(tmp_path)], capsys)
    assert rc == 1 and "nope.pt: no such file" in err
    rc, _, err = run_main(["--builder", "tests.toy_alignment:nothing", "--tiny", "--out", str(tmp_path)], capsys)
    assert rc == 1 and "nothing" in err
    rc, _, err = run_main(["--out", str(tmp_path)], capsys)
    assert rc == 1 and "--model (or --builder) is required" in err


def test_eager_fp64_pass_restores_the_models_weights_bit_for_bit():
    from toy_alignment import build_clip

    model = build_clip(seed=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    feeds = E.sample_feeds(model, 2)
    out32, out64 = E.eager_outputs(model, *feeds.values())
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    assert 0 < np.abs(out32 - out64).max() < 1e-4
