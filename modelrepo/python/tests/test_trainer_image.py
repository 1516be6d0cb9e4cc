"""The trainer image (Dockerfile here, docker-compose.yml's trainer profile) installs every third-party
package agiqa_torch imports that its PyTorch base image lacks."""

import ast
import os
import re
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(HERE, "agiqa_torch")
# What pytorch/pytorch images ship: torch, torchvision and torchvision's dependencies.
IN_BASE_IMAGE = {"torch", "torchvision", "numpy", "PIL"}
PIP_NAME = {"PIL": "pillow", "onnxruntime": "onnxruntime-gpu"}  # the GPU build also runs on CPU


def third_party_imports():
    found = set()
    for name in sorted(os.listdir(PACKAGE)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
            tree = ast.parse(f.read(), name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module]
            else:
                continue
            found.update(m.split(".")[0] for m in mods)
    return {m for m in found if m not in sys.stdlib_module_names and m != "__future__" and m != "agiqa_torch"}


def test_dockerfile_installs_what_the_package_imports():
    with open(os.path.join(HERE, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    pinned = dict(re.findall(r"\b([A-Za-z0-9_.-]+)==([0-9][^\s]*)", text))
    imports = third_party_imports()
    assert {"torch", "onnx", "scipy"} <= imports  # the scan sees the package's real imports
    missing = sorted(PIP_NAME.get(m, m) for m in imports - IN_BASE_IMAGE if PIP_NAME.get(m, m) not in pinned)
    assert not missing, "modelrepo/python/Dockerfile does not pin-install %s" % missing
