"""The GPU check script runs its whole path (export, check, timing) on a tiny model on CPU."""
import json

from agiqa_torch import gpubench


def test_gpubench_tiny_cpu(tmp_path, capsys):
    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "2", "--iters", "1", "--warmup", "1"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["card"] == "cpu" and out["batch"] == 2 and out["image_size"] == 64
    assert out["fp32_images_per_s"] > 0
    assert (tmp_path / "ipiqa_random" / "1" / "model.onnx").stat().st_size == out["onnx_bytes"]
