"""The GPU check script runs its whole path (export, check, eager and ONNX Runtime timing) on a tiny model
on CPU; its CUDA-provider branch is exercised with stand-in onnxruntime modules."""
import json
import os
import re
import sys
import types

import pytest

from agiqa_torch import gpubench
from agiqa_torch.ortc import find_ort_library


def need_ort():
    """ONNX Runtime on CPU: the Python package, else the C library (what CI installs)."""
    try:
        import onnxruntime  # noqa: F401

        return
    except ImportError:
        pass
    lib = find_ort_library()
    if lib is None or not os.path.exists(lib):
        pytest.skip("no ONNX Runtime (onnxruntime package or $AGIQA_ORT_LIB / .tools/ort; scripts/install-ort.sh)")


def test_gpubench_tiny_cpu(tmp_path, capsys):
    need_ort()
    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "2", "--iters", "1",
                        "--warmup", "1", "--threads", "2"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["card"] == "cpu" and out["batch"] == 2 and out["image_size"] == 64 and out["threads"] == 2
    assert out["fp32_images_per_s"] > 0
    assert "fp16_images_per_s" not in out  # autocast fp16 is only measured on CUDA
    # The exported file timed in ONNX Runtime's CPU provider, and its outputs those of eager fp32.
    assert "ort_skipped" not in out and out["ort_provider"] == "CPUExecutionProvider"
    assert out["ort_images_per_s"] > 0
    assert "(C library" in out["ort_runtime"] or "(Python)" in out["ort_runtime"]
    assert 0 <= out["ort_max_abs_diff"] < 1e-4
    assert (tmp_path / "ipiqa_random" / "1" / "model.onnx").stat().st_size == out["onnx_bytes"]
    cfg = (tmp_path / "ipiqa_random" / "config.pbtxt").read_text()
    assert 'name: "ipiqa_random"' in cfg and "dims: [ 3, 64, 64 ]" in cfg and "max_batch_size: 32" in cfg


@pytest.mark.parametrize("flag,value", [("--batch", "0"), ("--iters", "0"), ("--threads", "0"), ("--warmup", "-1")])
def test_gpubench_refuses_impossible_counts(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exc:
        gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", flag, value])
    assert exc.value.code == 2
    assert f"{flag} {value} must be" in capsys.readouterr().err
    assert not (tmp_path / "ipiqa_random").exists()


def test_gpubench_all_models_tiny_cpu(tmp_path, capsys):
    """--model all (what scripts/gpu-check.sh runs) exports, checks and times every model of the tables,
    one JSON line each, each repository entry servable as exported."""
    from agiqa_torch.models import MODEL_NAMES

    need_ort()
    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "2", "--iters", "1",
                        "--warmup", "0", "--threads", "2", "--model", "all"])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [r["model"].split(" ")[0] for r in lines] == list(MODEL_NAMES)
    for r in lines:
        name = r["model"].split(" ")[0]
        assert r["fp32_images_per_s"] > 0
        assert r["ort_images_per_s"] > 0 and r["ort_max_abs_diff"] < 1e-4, r  # every model through ORT too
        assert (tmp_path / f"{name}_random" / "1" / "model.onnx").stat().st_size == r["onnx_bytes"]
        cfg = (tmp_path / f"{name}_random" / "config.pbtxt").read_text()
        assert f'name: "{name}_random"' in cfg
    # CLIP-IQA is exported at native size; HyperIQA needs room for its 224 crops.
    assert "dims: [ 3, -1, -1 ]" in (tmp_path / "clipiqa_random" / "config.pbtxt").read_text()
    assert "dims: [ 3, -1, -1 ]" in (tmp_path / "clipiqa_plus_random" / "config.pbtxt").read_text()
    assert next(r for r in lines if r["model"].startswith("hyperiqa"))["image_size"] == 288


def test_gpubench_ort_off_times_eager_only(tmp_path, capsys):
    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "1", "--iters", "1",
                        "--warmup", "0", "--threads", "2", "--model", "cnniqa", "--ort", "off"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert not [k for k in out if k.startswith("ort_")]


def fake_onnxruntime(providers, loaded=None):
    """A stand-in onnxruntime module: its providers, and the ones a CUDA session ends up on."""
    mod = types.ModuleType("onnxruntime")
    mod.__version__ = "0.0-test"
    mod.get_available_providers = lambda: list(providers)

    class Session:
        def __init__(self, path, *args, providers=None):
            self.path = path

        def get_providers(self):
            return list(loaded or providers)

        def run(self, names, feeds):
            return [feeds["IMAGE"][:, :1, 0, 0].astype("float32") for _ in names]

    mod.InferenceSession = Session
    return mod


@pytest.mark.parametrize("providers,loaded,reason", [
    (None, None, "onnxruntime Python package is not installed"),
    (["CPUExecutionProvider"], None, "has no CUDAExecutionProvider (it has CPUExecutionProvider): it is the CPU build"),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"], "CUDA execution provider did not load"),
])
def test_ort_on_cuda_says_why_it_is_skipped(monkeypatch, providers, loaded, reason):
    monkeypatch.setitem(sys.modules, "onnxruntime", None if providers is None else fake_onnxruntime(providers, loaded))
    with pytest.raises(gpubench.OrtUnavailable, match=re.escape(reason)):
        gpubench.ort_runner("m.onnx", ["QUALITY"], "cuda", 2)


def test_ort_on_cuda_times_the_cuda_provider(monkeypatch, capsys):
    import numpy as np
    import torch

    monkeypatch.setitem(sys.modules, "onnxruntime", fake_onnxruntime(["CUDAExecutionProvider", "CPUExecutionProvider"]))
    model = types.SimpleNamespace(name="m", output_names=["QUALITY"])
    image = torch.full((2, 3, 4, 4), 7, dtype=torch.uint8)
    args = types.SimpleNamespace(threads=2, warmup=0, iters=2, ort="auto")
    res = gpubench.time_ort("m.onnx", model, image, None, "cuda:0", args, np.full((2, 1), 7.5))
    assert res["ort_provider"] == "CUDAExecutionProvider" and res["ort_images_per_s"] > 0
    assert res["ort_max_abs_diff"] == 0.5
    # Without the CUDA provider: the reason in the report (auto), an error under --ort require.
    monkeypatch.setitem(sys.modules, "onnxruntime", fake_onnxruntime(["CPUExecutionProvider"]))
    res = gpubench.time_ort("m.onnx", model, image, None, "cuda", args, None)
    assert set(res) == {"ort_skipped"} and "CPU build" in res["ort_skipped"]
    assert "m: ONNX Runtime timing skipped" in capsys.readouterr().err
    args.ort = "require"
    with pytest.raises(gpubench.OrtUnavailable):
        gpubench.time_ort("m.onnx", model, image, None, "cuda", args, None)
