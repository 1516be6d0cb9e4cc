"""The export's numeric gate: ONNX Runtime judged against an fp64 eager run, with a tolerance from
fp32's own error on the same inputs. It must pass a correct full-size export and refuse wrong ones."""

import numpy as np
import pytest
import torch

from agiqa_torch import build_model
from agiqa_torch import export as E
from test_export import need_ort

TINY = dict(width=8, text_width=64, text_layers=2)


def trained_scale(model, seed):
    """Random weights at a trained model's scale. CLIP's initialisation zeroes each bottleneck's last
    batch norm, so a freshly built ResNet is nearly the identity on its shortcuts and its fp32 error is
    ~1e-8; trained weights are not like that. Draw every batch norm's affine parameters and running
    statistics around 1 and 0, and scale the head so outputs span MOS units."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
        model.head[4].weight.mul_(10.0)
    return model


def test_full_size_ipiqa_export_passes_the_gate(tmp_path):
    # IP-IQA at 512 px with RN50 widths (about 1 minute on 2 cores, 3 GB).
    need_ort()
    model = trained_scale(build_model("ipiqa", 2, 512, seed=2), seed=2).eval()
    image, tokens = E.sample_inputs(model, 3, 1)  # what compare_with_eager draws by default
    with torch.no_grad():
        # Put one quality output at 0, as z-scored MOS are: a fixed |ref|-relative tolerance is then
        # only its absolute part there.
        model.head[4].bias[0] -= model(image, tokens)[0, 0]
    path = str(tmp_path / "model.onnx")
    E.export_onnx(model, path)
    res = E.compare_with_eager(path, model, batch=3, seed=1)
    # The case the gate exists for: eager fp32 itself is farther from the exact value than the old
    # fixed 1e-4 + 1e-3 x |ref| allowed around it.
    assert res["fp32_error"] > 1e-4, res
    assert res["max_abs_diff"] <= res["tolerance"]
    assert res["tolerance"] < 100 * res["fp32_error"]


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    need_ort()
    model = build_model("ipiqa", 2, 64, seed=3, **TINY).eval()
    path = str(tmp_path_factory.mktemp("gate") / "model.onnx")
    E.export_onnx(model, path)
    return model, path


def test_gate_passes_a_correct_tiny_export(tiny_export):
    model, path = tiny_export
    res = E.compare_with_eager(path, model, batch=5, seed=9)
    assert res["max_abs_diff"] <= res["tolerance"] < 1e-5


def test_gate_refuses_weights_rounded_to_fp16(tiny_export, tmp_path):
    # A realistic wrong export (weights through a half-precision copy): every output about 1e-4
    # relative off, which 1e-4 + 1e-3 x |ref| around eager fp32 let through.
    import onnx
    from onnx import numpy_helper

    model, path = tiny_export
    m = onnx.load(path)
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size > 1:
            init.CopyFrom(numpy_helper.from_array(w.astype(np.float16).astype(np.float32), init.name))
    bad = str(tmp_path / "fp16.onnx")
    onnx.save(m, bad)
    with pytest.raises(E.ExportError, match=r"from an fp64 eager run, more than"):
        E.compare_with_eager(bad, model, batch=5, seed=9)


def test_gate_refuses_another_models_export(tiny_export):
    model, path = tiny_export
    other = build_model("ipiqa", 2, 64, seed=4, **TINY).eval()
    with pytest.raises(E.ExportError, match="output QUALITY is up to"):
        E.compare_with_eager(path, other, batch=3)


def test_gate_tolerance_follows_the_rule():
    out64 = np.array([[1.0, -2.0], [3.0, 0.5]])
    out32 = out64 + np.array([[1e-5, 0.0], [-3e-5, 0.0]])  # second output: fp32 exact by chance
    tol = E.gate_tolerances(out32, out64)
    np.testing.assert_allclose(tol, [E.GATE_K * 3e-5 + E.GATE_ATOL,
                                     E.GATE_K * E.GATE_REL_FLOOR * 2.0 + E.GATE_ATOL])


def test_fp64_reference_is_double_throughout():
    # The reference copy computes in float64 from the first op (pixel normalisation) on.
    model = build_model("ipiqa", 1, 64, seed=0, **TINY).eval()
    image, tokens = E.sample_inputs(model, 2, 0)
    out32, out64 = E.eager_outputs(model, image, tokens)
    ref = __import__("copy").deepcopy(model).double()
    assert ref.normalize(image).dtype == torch.float64
    with torch.no_grad():
        np.testing.assert_array_equal(out64, ref(image, tokens).numpy())
        np.testing.assert_array_equal(out32, model(image, tokens).double().numpy())
    assert 0 < np.abs(out32 - out64).max() < 1e-5
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the caller's model untouched
