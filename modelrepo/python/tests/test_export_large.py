"""Models over 2 GB: weights in model.onnx.data beside model.onnx (ONNX external data).

The tests lower the threshold (--external-data-above) so a tiny model takes the path a large one takes,
and rebuild torch's own large-model layout (one file per tensor, what torch 1.13 writes above 2 GiB)
with onnx's converter to check that the export folds it into one data file.
"""

import os

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

from agiqa_torch import export as E
from agiqa_torch import onnxfile
from test_export import need_ort, run_main

ARGS = ["--model", "resnet50_clip", "--dataset", "agiqa-1k", "--tiny", "--image-size", "32", "--seed", "4"]


def external_tensors(path):
    m = onnx.load(str(path), load_external_data=False)
    return {t.name: {e.key: e.value for e in t.external_data}
            for t in onnxfile.all_tensors(m) if t.data_location == onnx.TensorProto.EXTERNAL}


@pytest.fixture(scope="module")
def large_repo(tmp_path_factory):
    need_ort()
    root = tmp_path_factory.mktemp("large")
    rc = E.main(ARGS + ["--external-data-above", "0", "--out", str(root), "--reference", str(root / "ref.json")])
    assert rc == 0
    return root / "resnet50_clip_agiqa1k_tiny" / "1"


def test_weights_go_to_one_data_file_beside_the_model(large_repo):
    assert sorted(p.name for p in large_repo.iterdir()) == ["model.onnx", "model.onnx.data"]
    ext = external_tensors(large_repo / "model.onnx")
    assert ext and all(e["location"] == "model.onnx.data" for e in ext.values())
    assert all(int(e["offset"]) % onnxfile.ALIGN == 0 for e in ext.values())
    data = (large_repo / "model.onnx.data").stat().st_size
    assert max(int(e["offset"]) + int(e["length"]) for e in ext.values()) == data
    # The graph file itself holds no weights to speak of.
    assert (large_repo / "model.onnx").stat().st_size < data / 4


def test_external_model_runs_from_its_path_and_matches_the_inline_export(large_repo, tmp_path):
    # Same seed, inline: the two files compute the same function; ONNX Runtime reads the data file
    # relative to model.onnx.
    assert E.main(ARGS + ["--out", str(tmp_path)]) == 0
    inline = tmp_path / "resnet50_clip_agiqa1k_tiny" / "1" / "model.onnx"
    assert not external_tensors(inline)
    m = E.build_for_export(E._parser().parse_args(ARGS + ["--out", str(tmp_path)]))[0]
    image, _ = E.sample_inputs(m, 3, seed=9)
    a, _ = E.run_onnxruntime(str(large_repo / "model.onnx"), {"IMAGE": image.numpy()}, ["QUALITY"])
    b, _ = E.run_onnxruntime(str(inline), {"IMAGE": image.numpy()}, ["QUALITY"])
    np.testing.assert_array_equal(a["QUALITY"], b["QUALITY"])
    assert np.ptp(a["QUALITY"]) > 0


def test_torch_per_tensor_files_are_folded_into_one(tmp_path):
    # torch 1.13 above 2 GiB: every tensor in its own file next to model.onnx. Rebuilt here with onnx's
    # converter (one file per tensor), then consolidated.
    need_ort()
    m = E.build_for_export(E._parser().parse_args(ARGS + ["--out", str(tmp_path)]))[0]
    path = str(tmp_path / "model.onnx")
    E.export_onnx(m, path)
    inline = onnx.load(path)
    want = {t.name: onnx.numpy_helper.to_array(t) for t in inline.graph.initializer}
    onnx.save_model(inline, path, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=1024)
    per_tensor = sorted(set(os.listdir(tmp_path)) - {"model.onnx"})
    assert len(per_tensor) > 3
    onnxfile.consolidate(path)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "model.onnx.data"]
    folded = onnx.load(path)  # loads the external data back
    got = {t.name: onnx.numpy_helper.to_array(t) for t in folded.graph.initializer}
    assert want.keys() == got.keys()
    assert all(np.array_equal(want[k], got[k]) for k in want)
    E.compare_with_eager(path, m)


def test_reexport_inline_removes_the_old_data_file(large_repo, tmp_path, capsys):
    root = tmp_path / "repo"
    rc, out, err = run_main(ARGS + ["--external-data-above", "0", "--out", str(root)], capsys)
    assert rc == 0 and "model.onnx + model.onnx.data" in out, err
    version = root / "resnet50_clip_agiqa1k_tiny" / "1"
    assert (version / "model.onnx.data").exists()
    rc, out, err = run_main(ARGS + ["--out", str(root)], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in version.iterdir()) == ["model.onnx"]


def test_a_failed_external_export_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    def broken(p, model):
        raise E.ExportError(f"{p}: graph signature differs (simulated)")

    monkeypatch.setattr(E, "check_onnx", broken)
    rc, _, err = run_main(ARGS + ["--external-data-above", "0", "--out", str(tmp_path)], capsys)
    version = tmp_path / "resnet50_clip_agiqa1k_tiny" / "1"
    assert rc == 1 and "simulated" in err and str(version / "model.onnx") in err
    assert list(version.iterdir()) == []


def test_consolidate_names_a_truncated_tensor_file(tmp_path):
    m = E.build_for_export(E._parser().parse_args(ARGS + ["--out", str(tmp_path)]))[0]
    path = str(tmp_path / "model.onnx")
    E.export_onnx(m, path)
    onnx.save_model(onnx.load(path), path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin")
    with open(tmp_path / "weights.bin", "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=r"tensor '.*': .*weights.bin holds 100 bytes"):
        onnxfile.consolidate(path)


def test_parameter_bytes_counts_shared_tensors_once():
    import torch

    lin = torch.nn.Linear(4, 3)
    seq = torch.nn.Sequential(lin, lin)
    assert onnxfile.parameter_bytes(seq) == (4 * 3 + 3) * 4
