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
