"""The GPU check script runs its whole path (export, check, timing) on a tiny model on CPU."""
import json

import pytest

from agiqa_torch import gpubench


def test_gpubench_tiny_cpu(tmp_path, capsys):
    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "2", "--iters", "1",
                        "--warmup", "1", "--threads", "2"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["card"] == "cpu" and out["batch"] == 2 and out["image_size"] == 64 and out["threads"] == 2
    assert out["fp32_images_per_s"] > 0
    assert "fp16_images_per_s" not in out  # autocast fp16 is only measured on CUDA
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

    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "2", "--iters", "1",
                        "--warmup", "0", "--threads", "2", "--model", "all"])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [r["model"].split(" ")[0] for r in lines] == list(MODEL_NAMES)
    for r in lines:
        name = r["model"].split(" ")[0]
        assert r["fp32_images_per_s"] > 0
        assert (tmp_path / f"{name}_random" / "1" / "model.onnx").stat().st_size == r["onnx_bytes"]
        cfg = (tmp_path / f"{name}_random" / "config.pbtxt").read_text()
        assert f'name: "{name}_random"' in cfg
    # CLIP-IQA is exported at native size; HyperIQA needs room for its 224 crops.
    assert "dims: [ 3, -1, -1 ]" in (tmp_path / "clipiqa_random" / "config.pbtxt").read_text()
    assert next(r for r in lines if r["model"].startswith("hyperiqa"))["image_size"] == 288
