"""ONNX export: graph contract, Triton config, parity with eager PyTorch through ONNX Runtime."""

import os
import re

import numpy as np
import pytest
import torch

from agiqa_torch import build_model
from agiqa_torch import export as E

TINY = dict(width=8, text_width=64, text_layers=2)
ORT = E.find_ort_library()
if ORT is not None and not os.path.exists(ORT):
    ORT = None
HAVE_ORT = ORT is not None
try:
    import onnxruntime  # noqa: F401

    HAVE_ORT = True
except ImportError:
    pass


def need_ort():
    if not HAVE_ORT:
        if os.environ.get("AGIQA_REQUIRE_ORT") == "1":
            pytest.fail("AGIQA_REQUIRE_ORT=1 but no ONNX Runtime (set AGIQA_ORT_LIB; scripts/install-ort.sh)")
        pytest.skip("no ONNX Runtime (onnxruntime package or $AGIQA_ORT_LIB / .tools/ort)")


def run_main(args, capsys):
    rc = E.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def ipiqa_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    rc = E.main(["--model", "ipiqa", "--dataset", "agiqa-3k", "--tiny", "--seed", "3", "--version", "2",
                 "--out", str(root), "--reference", str(root / "ref.json")])
    assert rc == 0
    return root


def test_ipiqa_graph_follows_the_contract(ipiqa_repo):
    path = ipiqa_repo / "ipiqa_prompt_qa_agiqa3k_tiny" / "2" / "model.onnx"
    assert path.is_file()
    import onnx

    onnx.checker.check_model(str(path))
    m = onnx.load(str(path))
    assert m.opset_import[0].version >= 13
    assert E.graph_signature(str(path)) == {
        "inputs": [("IMAGE", "UINT8", ("batch", 3, 64, 64)), ("TOKENS", "INT64", ("batch", 77))],
        "outputs": [("QUALITY", "FLOAT", ("batch", 1)), ("ALIGNMENT", "FLOAT", ("batch", 1))],
    }
    meta = {p.key: p.value for p in m.metadata_props}
    assert meta["agiqa.model"] == "ipiqa" and "seed 3" in meta["agiqa.weights"]


def test_ipiqa_config(ipiqa_repo):
    text = (ipiqa_repo / "ipiqa_prompt_qa_agiqa3k_tiny" / "config.pbtxt").read_text()
    assert 'name: "ipiqa_prompt_qa_agiqa3k_tiny"' in text
    assert 'platform: "onnxruntime_onnx"' in text
    assert "max_batch_size: 32" in text
    assert re.search(r'name: "IMAGE" data_type: TYPE_UINT8 dims: \[ 3, 64, 64 \]', text)
    assert re.search(r'name: "TOKENS" data_type: TYPE_INT64 dims: \[ 77 \]', text)
    assert re.search(r'name: "ALIGNMENT" data_type: TYPE_FP32 dims: \[ 1 \]', text)
    assert "version_policy: { all { } }" in text and "dynamic_batching" in text and "KIND_GPU" in text
    for k, v in (("agiqa.preprocess", "resize"), ("agiqa.per_split", "true"), ("agiqa.higher_is_better", "true"),
                 ("agiqa.catalog", "ipiqa_prompt_qa"), ("agiqa.dataset", "agiqa-3k")):
        assert f'key: "{k}" value: {{ string_value: "{v}" }}' in text


def test_reference_file_matches_the_model(ipiqa_repo):
    import json

    ref = json.loads((ipiqa_repo / "ref.json").read_text())
    m = build_model("ipiqa", 2, 64, seed=3, **TINY).eval()
    img = torch.tensor(ref["inputs"]["IMAGE"]["data"], dtype=torch.uint8).reshape(ref["inputs"]["IMAGE"]["shape"])
    tok = torch.tensor(ref["inputs"]["TOKENS"]["data"]).reshape(ref["inputs"]["TOKENS"]["shape"])
    with torch.no_grad():
        out = m(img, tok)
    np.testing.assert_allclose(ref["outputs"]["QUALITY"]["data"], out[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(ref["outputs"]["ALIGNMENT"]["data"], out[:, 1].numpy(), rtol=1e-6)


def test_ipiqa_onnx_matches_eager_on_another_batch_size(ipiqa_repo):
    need_ort()
    m = build_model("ipiqa", 2, 64, seed=3, **TINY).eval()
    res = E.compare_with_eager(str(ipiqa_repo / "ipiqa_prompt_qa_agiqa3k_tiny" / "2" / "model.onnx"), m, batch=5, seed=9)
    assert res["batch"] == 5 and res["max_abs_diff"] <= 1e-4


def test_export_reexport_keeps_a_matching_config_and_rejects_a_stale_one(ipiqa_repo, capsys):
    args = ["--model", "ipiqa", "--dataset", "agiqa-3k", "--tiny", "--seed", "3", "--version", "3",
            "--out", str(ipiqa_repo)]
    rc, out, err = run_main(args, capsys)
    assert rc == 0, err
    assert "kept" in out and (ipiqa_repo / "ipiqa_prompt_qa_agiqa3k_tiny" / "3" / "model.onnx").is_file()
    if HAVE_ORT:
        assert re.search(r"numeric check: .* matches eager PyTorch on batch 3", out)
    else:
        assert "numeric check skipped" in out
    # agiqa-1k has one output: the existing 2-output config must be refused, naming the file, before
    # anything is written.
    before = {p: p.stat().st_mtime_ns for p in ipiqa_repo.rglob("*")}
    rc, out, err = run_main(["--model", "ipiqa", "--dataset", "agiqa-1k", "--tiny", "--name", "ipiqa_prompt_qa_agiqa3k_tiny",
                             "--version", "3", "--out", str(ipiqa_repo)], capsys)
    assert rc == 1
    assert "config.pbtxt does not describe the exported model" in err and "ALIGNMENT" in err
    assert {p: p.stat().st_mtime_ns for p in ipiqa_repo.rglob("*")} == before


@pytest.mark.parametrize("name,dataset", [("resnet50", "agiqa-1k"), ("resnet50_clip", "agiqa-3k")])
def test_image_only_models(tmp_path, capsys, name, dataset):
    rc, out, err = run_main(["--model", name, "--dataset", dataset, "--tiny", "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    repo_name = f"{name}_{dataset.replace('-', '')}_tiny"
    sig = E.graph_signature(str(tmp_path / repo_name / "1" / "model.onnx"))
    assert sig["inputs"] == [("IMAGE", "UINT8", ("batch", 3, 64, 64))]
    # Table 1 baselines regress quality only, on AGIQA-3k too (as their committed configs say).
    assert [o[0] for o in sig["outputs"]] == ["QUALITY"]
    cfg = (tmp_path / repo_name / "config.pbtxt").read_text()
    assert "TOKENS" not in cfg and "version_policy: { all { } }" in cfg


def test_clipiqa_is_zero_shot(tmp_path, capsys):
    tk = pytest.importorskip("agiqa_torch.tokenizer")
    try:
        tk.default_vocab_path()
    except FileNotFoundError as err:
        if os.environ.get("AGIQA_REQUIRE_SHARED") == "1":
            raise
        pytest.skip(f"CLIP vocabulary absent: {err}")
    rc, out, err = run_main(["--model", "clipiqa", "--tiny", "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    cfg = (tmp_path / "clipiqa_tiny" / "config.pbtxt").read_text()
    assert 'string_value: "native"' in cfg and "dims: [ 3, -1, -1 ]" in cfg
    assert 'key: "agiqa.per_split" value: { string_value: "false" }' in cfg
    assert "version_policy: { latest { num_versions: 1 } }" in cfg  # one version for every split
    sig = E.graph_signature(str(tmp_path / "clipiqa_tiny" / "1" / "model.onnx"))
    assert sig == {"inputs": [("IMAGE", "UINT8", ("batch", 3, "height", "width"))],
                   "outputs": [("QUALITY", "FLOAT", ("batch", 1))]}
    # The numeric gate ran at a square and a non-square size that is no multiple of 32.
    assert "at 64x64, 53x93" in out or "numeric check skipped" in out


def test_clipiqa_positional_224_flag_keeps_the_earlier_variant(tmp_path, capsys):
    tk = pytest.importorskip("agiqa_torch.tokenizer")
    try:
        tk.default_vocab_path()
    except FileNotFoundError as err:
        if os.environ.get("AGIQA_REQUIRE_SHARED") == "1":
            raise
        pytest.skip(f"CLIP vocabulary absent: {err}")
    rc, out, err = run_main(["--model", "clipiqa", "--tiny", "--clipiqa-positional-224", "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    cfg = (tmp_path / "clipiqa_pos224_tiny" / "config.pbtxt").read_text()
    assert 'string_value: "resize_center_crop"' in cfg and "dims: [ 3, 64, 64 ]" in cfg
    sig = E.graph_signature(str(tmp_path / "clipiqa_pos224_tiny" / "1" / "model.onnx"))
    assert sig["inputs"] == [("IMAGE", "UINT8", ("batch", 3, 64, 64))]
    rc, _, err = run_main(["--model", "ipiqa", "--dataset", "agiqa-1k", "--tiny", "--clipiqa-positional-224",
                           "--out", str(tmp_path)], capsys)
    assert rc == 1 and "applies to clipiqa only" in err


def test_comma_split_graph_runs_in_onnx_runtime(tmp_path):
    # integral_prompt=False builds the prompt parts with gathers and cumulative sums inside the graph.
    need_ort()
    m = build_model("ipiqa", 1, 64, seed=1, integral_prompt=False, **TINY).eval()
    path = str(tmp_path / "split.onnx")
    E.export_onnx(m, path)
    E.check_onnx(path, m)
    res = E.compare_with_eager(path, m, batch=4, seed=5)
    assert res["max_abs_diff"] <= 1e-4


def test_export_from_a_training_checkpoint(tmp_path, capsys):
    kwargs = dict(name="ipiqa", num_outputs=2, image_size=64, **TINY)
    trained = build_model(seed=11, **kwargs).eval()
    ckpt = tmp_path / "best.pt"
    torch.save({"format": "agiqa-train-v1", "model_kwargs": kwargs, "epoch": 7, "model": trained.state_dict()}, ckpt)
    rc, out, err = run_main(["--model", "ipiqa", "--dataset", "agiqa-3k", "--checkpoint", str(ckpt),
                             "--version", "4", "--out", str(tmp_path / "repo")], capsys)
    assert rc == 0, err
    path = tmp_path / "repo" / "ipiqa_prompt_qa_agiqa3k_tiny" / "4" / "model.onnx"
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    head = [w for w in weights.values() if w.shape == (2, 256)]
    assert len(head) == 1
    np.testing.assert_array_equal(head[0], trained.head[4].weight.detach().numpy())
    if HAVE_ORT:
        img, tok = E.sample_inputs(trained, 3)
        got, _ = E.run_onnxruntime(str(path), {"IMAGE": img.numpy(), "TOKENS": tok.numpy()}, ["QUALITY", "ALIGNMENT"])
        with torch.no_grad():
            want = trained(img, tok).numpy()
        np.testing.assert_allclose(np.concatenate([got["QUALITY"], got["ALIGNMENT"]], 1), want, rtol=1e-4, atol=1e-5)
    # The checkpoint says which model it holds.
    rc, _, err = run_main(["--model", "resnet50_clip", "--dataset", "agiqa-3k", "--checkpoint", str(ckpt),
                           "--out", str(tmp_path / "repo")], capsys)
    assert rc == 1 and "holds model 'ipiqa', not 'resnet50_clip'" in err
    # A baseline checkpoint with an alignment head is not a Table 1 model for the repository.
    two = dict(kwargs, name="resnet50_clip")
    torch.save({"model_kwargs": two, "model": build_model(**two).state_dict()}, ckpt)
    rc, _, err = run_main(["--model", "resnet50_clip", "--dataset", "agiqa-3k", "--checkpoint", str(ckpt),
                           "--out", str(tmp_path / "repo")], capsys)
    assert rc == 1 and "has 2 outputs; resnet50_clip on agiqa-3k has 1" in err


@pytest.mark.parametrize("args,msg", [
    (["--model", "ipiqa", "--tiny", "--dataset", "agiqa-1k", "--version", "0"], "positive integers"),
    (["--model", "ipiqa", "--tiny"], "--dataset is required for ipiqa"),
    (["--model", "ipiqa", "--dataset", "agiqa-1k"], "--checkpoint is required for ipiqa"),
    (["--model", "clipiqa"], "--clip-weights RN50.pt is required for clipiqa"),
    (["--model", "ipiqa", "--dataset", "agiqa-1k", "--checkpoint", "/nonexistent/best.pt"],
     "--checkpoint /nonexistent/best.pt: no such file"),
    (["--model", "ipiqa", "--dataset", "agiqa-1k", "--checkpoint", __file__], "not a torch checkpoint"),
])
def test_bad_arguments_are_reported(tmp_path, capsys, args, msg):
    rc, _, err = run_main(args + ["--out", str(tmp_path)], capsys)
    assert rc == 1 and msg in err
    assert not any(tmp_path.iterdir())


def test_version_is_split_index_plus_one(tmp_path, capsys):
    # train.py records the 0-based split in the checkpoint; the harness (bench/runner VersionForSplit)
    # scores split k with version k + 1, so that is the default and a contradicting --version is refused.
    kwargs = dict(name="resnet50_clip", num_outputs=1, image_size=32, **TINY)
    ckpt = tmp_path / "best.pt"
    torch.save({"format": "agiqa-train-v1", "config": {"split": 3}, "model_kwargs": kwargs,
                "model": build_model(seed=1, **kwargs).state_dict()}, ckpt)
    repo = tmp_path / "repo"
    base = ["--model", "resnet50_clip", "--dataset", "agiqa-1k", "--checkpoint", str(ckpt), "--out", str(repo)]
    rc, out, err = run_main(base, capsys)
    assert rc == 0, err
    assert (repo / "resnet50_clip_agiqa1k_tiny" / "4" / "model.onnx").is_file()
    assert [p.name for p in (repo / "resnet50_clip_agiqa1k_tiny").iterdir() if p.is_dir()] == ["4"]
    rc, _, err = run_main(base + ["--version", "3"], capsys)
    assert rc == 1
    assert "--version 3, but --checkpoint" in err and "trained on split 3" in err and "with version 4" in err
    assert not (repo / "resnet50_clip_agiqa1k_tiny" / "3").exists()
    rc, _, err = run_main(base + ["--version", "4"], capsys)
    assert rc == 0, err


COMMITTED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models")


def test_committed_configs_are_where_export_writes_and_describe_its_models():
    # Every model export writes at full size has its committed config under export's default name, and
    # that config is one export keeps (names, tensors, image size, per-split policy); every committed
    # ONNX model is one of them. IP-IQA's are the paper's model: trained from an Image2Prompt start.
    expected = {}
    for model in E.MODEL_NAMES:
        for dataset in ([None] if model in E.ZERO_SHOT else sorted(E.DATASET_OUTPUTS)):
            args = E._parser().parse_args(["--model", model, "--out", "x"] + (["--dataset", dataset] if dataset else []))
            kw = {"name": model, "num_outputs": 1 if dataset is None else E.outputs_for(model, dataset),
                  "image_size": E.DEFAULT_IMAGE_SIZE[model]}
            extra = {"antonym_tokens": torch.tensor([[E.SOT_TOKEN, 1, E.EOT_TOKEN] + [0] * 74] * 2)} \
                if model == "clipiqa" else {}
            # Tiny widths at the full image size: the config check reads names, tensors and sizes only.
            m = build_model(**dict(kw, **TINY), **extra, image2prompt=model == "ipiqa")
            expected[E._default_name(args, kw, m)] = (m, model not in E.ZERO_SHOT)
    # Table 2's alignment models: zero-shot, one version, named after the model.
    from agiqa_torch.alignexport import ALIGNMENT_MODELS, _builtin
    for model in ALIGNMENT_MODELS:
        expected[model] = (_builtin(model, None)[0](tiny=True, state=None, seed=0), False)
    assert {"ipiqa_agiqa1k", "ipiqa_agiqa3k", "clipscore", "imagereward"} <= set(expected)
    committed = {d for d in os.listdir(COMMITTED)
                 if 'platform: "onnxruntime_onnx"' in open(os.path.join(COMMITTED, d, "config.pbtxt")).read()}
    assert committed == set(expected)
    for name, (m, per_split) in expected.items():
        E.check_existing_config(os.path.join(COMMITTED, name, "config.pbtxt"), name, m, per_split)


def test_ablation_checkpoint_is_exported_under_its_row(tmp_path, capsys):
    # Exported from a training checkpoint of an ablation run (train --no-qa-token --init-image2prompt).
    kwargs = dict(name="ipiqa", num_outputs=1, image_size=32, qa_token=False, **TINY)
    ckpt = tmp_path / "best.pt"
    torch.save({"model_kwargs": kwargs, "image2prompt": True, "config": {"split": 0, "dataset": "agiqa-1k"},
                "model": build_model(**kwargs).state_dict()}, ckpt)
    rc, _, err = run_main(["--model", "ipiqa", "--checkpoint", str(ckpt), "--name", "ipiqa_i2p_agiqa1k",
                           "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    cfg = (tmp_path / "ipiqa_i2p_agiqa1k" / "config.pbtxt").read_text()
    assert 'key: "agiqa.catalog" value: { string_value: "ipiqa_i2p_prompt" }' in cfg
    assert 'key: "agiqa.dataset" value: { string_value: "agiqa-1k" }' in cfg  # from the checkpoint
    assert (tmp_path / "ipiqa_i2p_agiqa1k" / "1" / "model.onnx").is_file()


def test_ablation_checkpoint_does_not_take_the_full_models_place(tmp_path, capsys):
    # An ablation run (train --no-qa-token ...) exported without --name must not land in the full
    # IP-IQA's directory, where the harness would score it as the paper's model.
    kwargs = dict(name="ipiqa", num_outputs=1, image_size=32, qa_token=False, integral_prompt=False, **TINY)
    ckpt = tmp_path / "best.pt"
    torch.save({"model_kwargs": kwargs, "config": {"split": 0, "dataset": "agiqa-1k"},
                "model": build_model(**kwargs).state_dict()}, ckpt)
    repo = tmp_path / "repo"
    rc, _, err = run_main(["--model", "ipiqa", "--checkpoint", str(ckpt), "--out", str(repo)], capsys)
    assert rc == 0, err
    assert (repo / "ipiqa_base_agiqa1k_tiny" / "1" / "model.onnx").is_file()
    assert not (repo / "ipiqa_agiqa1k_tiny").exists()
    # Nor, named into it, under a config whose catalogue row is another model's (the full model's,
    # exported from a run that started from Image2Prompt).
    full = dict(kwargs, qa_token=True, integral_prompt=True)
    torch.save({"model_kwargs": full, "image2prompt": True, "config": {"split": 0, "dataset": "agiqa-1k"},
                "model": build_model(**full).state_dict()}, tmp_path / "full.pt")
    rc, _, err = run_main(["--model", "ipiqa", "--checkpoint", str(tmp_path / "full.pt"), "--out", str(repo)], capsys)
    assert rc == 0, err
    assert 'string_value: "ipiqa" }' in (repo / "ipiqa_agiqa1k_tiny" / "config.pbtxt").read_text()
    before = {p: p.stat().st_mtime_ns for p in repo.rglob("*")}
    rc, _, err = run_main(["--model", "ipiqa", "--checkpoint", str(ckpt), "--name", "ipiqa_agiqa1k_tiny",
                           "--out", str(repo)], capsys)
    assert rc == 1
    assert 'agiqa.catalog is "ipiqa", the model is "ipiqa_base"' in err
    assert {p: p.stat().st_mtime_ns for p in repo.rglob("*")} == before


def test_export_from_last_pt_keeps_the_runs_build_arguments(tmp_path, capsys):
    # train.py's last.pt records the build arguments in its config only; exporting it must not rebuild
    # the model with defaults (here: losing integral_prompt=False, which changes no weight shape).
    kwargs = dict(name="ipiqa", num_outputs=1, image_size=32, integral_prompt=False, **TINY)
    ckpt = tmp_path / "last.pt"
    torch.save({"format": "agiqa-train-v1", "config": {"split": 1, "dataset": "agiqa-1k", "model_kwargs": kwargs},
                "epoch": 3, "model": build_model(seed=5, **kwargs).state_dict(), "optimizer": {}}, ckpt)
    args = E._parser().parse_args(["--model", "ipiqa", "--checkpoint", str(ckpt), "--out", str(tmp_path)])
    model, kw, _ = E.build_for_export(args)
    assert kw == kwargs and model.integral_prompt is False and model.image_size == 32
    assert args.version == 2 and args.dataset == "agiqa-1k"


def test_export_refuses_a_config_of_another_dataset(tmp_path, capsys):
    # Same tensors, other training set: the harness would score AGIQA-3k's splits with AGIQA-1k models.
    rc, _, err = run_main(["--model", "resnet50", "--dataset", "agiqa-3k", "--tiny", "--image-size", "32",
                           "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    rc, _, err = run_main(["--model", "resnet50", "--dataset", "agiqa-1k", "--tiny", "--image-size", "32",
                           "--name", "resnet50_agiqa3k_tiny", "--version", "2", "--out", str(tmp_path)], capsys)
    assert rc == 1
    assert 'agiqa.dataset is "agiqa-3k", the model was trained on "agiqa-1k"' in err
    assert not (tmp_path / "resnet50_agiqa3k_tiny" / "2").exists()


def test_a_model_that_fails_its_checks_is_not_installed(tmp_path, capsys, monkeypatch):
    # The served path must keep the previous good version (or stay absent) when the new file fails
    # onnx.checker / the contract / the comparison with eager PyTorch.
    base = ["--model", "resnet50_clip", "--dataset", "agiqa-1k", "--tiny", "--image-size", "32",
            "--out", str(tmp_path)]
    rc, _, err = run_main(base + ["--seed", "1"], capsys)
    assert rc == 0, err
    path = tmp_path / "resnet50_clip_agiqa1k_tiny" / "1" / "model.onnx"
    good = path.read_bytes()

    def broken(p, model):
        raise E.ExportError(f"{p}: graph signature differs (simulated)")

    monkeypatch.setattr(E, "check_onnx", broken)
    rc, _, err = run_main(base + ["--seed", "2"], capsys)
    assert rc == 1 and "simulated" in err and str(path) in err
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temporary left behind
