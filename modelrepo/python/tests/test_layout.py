"""Package layout: the training commands share helpers through agiqa_torch.runs and never import each
other; the ONNX Runtime binding lives in agiqa_torch.ortc, not in the export."""

import ast
import os

import agiqa_torch

PKG = os.path.dirname(os.path.abspath(agiqa_torch.__file__))


def imported_modules(module):
    """Every agiqa_torch module ``module`` imports, at the top or inside a function."""
    with open(os.path.join(PKG, module + ".py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                out.add(node.module.split(".")[0])
            elif node.level == 1:
                out.update(a.name for a in node.names)
            elif (node.module or "").startswith("agiqa_torch."):
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("agiqa_torch."))
    return out


def test_train_and_image2prompt_do_not_import_each_other():
    assert "image2prompt" not in imported_modules("train")
    assert "train" not in imported_modules("image2prompt")
    assert "runs" in imported_modules("train") and "runs" in imported_modules("image2prompt")
    assert not {"train", "image2prompt"} & imported_modules("runs")


def test_the_ort_binding_is_its_own_module():
    with open(os.path.join(PKG, "export.py"), encoding="utf-8") as f:
        src = f.read()
    assert "ctypes" not in src and "OrtCSession" not in src
    assert "ortc" in imported_modules("export")
