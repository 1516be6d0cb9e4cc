"""The ctypes binding to ONNX Runtime's C API (agiqa_torch.ortc): its function-table slots against the
header the Go side builds with, and its refusal of a library that does not serve the API it needs."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from agiqa_torch import ortc
from test_export import ORT, need_ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
GO_MODULE = "github.com/yalue/onnxruntime_go"


def header_path():
    """onnxruntime_c_api.h as vendored by the onnxruntime_go version go.mod requires, in the Go module
    cache (present wherever the Go tests have built; CI runs them first)."""
    with open(os.path.join(ROOT, "go.mod"), encoding="utf-8") as f:
        m = re.search(re.escape(GO_MODULE) + r"\s+(v\S+)", f.read())
    assert m, f"go.mod does not require {GO_MODULE}"
    cache = os.environ.get("GOMODCACHE")
    if not cache and shutil.which("go"):
        cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip()
    cache = cache or os.path.join(os.path.expanduser("~"), "go", "pkg", "mod")
    path = os.path.join(cache, GO_MODULE + "@" + m.group(1), "onnxruntime_c_api.h")
    if not os.path.isfile(path):
        if os.environ.get("AGIQA_REQUIRE_ORT") == "1":
            pytest.fail(f"AGIQA_REQUIRE_ORT=1 but {path} is absent (go mod download {GO_MODULE})")
        pytest.skip(f"ONNX Runtime C header absent: {path} (go mod download {GO_MODULE})")
    return path


def api_members(text):
    """[(name, since)] of struct OrtApi in declaration order; since is the minor version of the last
    "\\since Version 1.N" note before the member (0 before the first note)."""
    body = text[text.index("struct OrtApi {") + len("struct OrtApi {"):]
    body = body[:body.index("\n};")]
    since = [(m.start(), int(m.group(1))) for m in re.finditer(r"\\since Version 1\.(\d+)", body)]
    # Comments blanked to spaces, so positions still line up with the notes found above.
    code = re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: " " * len(m.group(0)), body, flags=re.S)
    members, depth, start = [], 0, 0
    for i, c in enumerate(code):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if c == ";" and depth == 0:
            decl = code[start:i].strip()
            at = start + len(code[start:i]) - len(code[start:i].lstrip())
            start = i + 1
            if decl:
                members.append((member_name(decl), max([v for p, v in since if p < at], default=0)))
    return members


def member_name(decl):
    for pattern, fmt in ((r"^ORT_API2_STATUS\(\s*(\w+)", "{}"), (r"^ORT_CLASS_RELEASE\(\s*(\w+)", "Release{}"),
                         (r"^ORT_API_T\([^,]+,\s*(\w+)", "{}"), (r"ORT_API_CALL\s*\*\s*(\w+)\s*\)", "{}")):
        m = re.search(pattern, decl)
        if m:
            return fmt.format(m.group(1))
    raise AssertionError(f"unrecognised OrtApi member: {decl[:120]!r}")


def test_header_parser_reads_known_slots():
    text = open(header_path(), encoding="utf-8").read()
    members = api_members(text)
    names = [n for n, _ in members]
    assert names[:4] == ["CreateStatus", "GetErrorCode", "GetErrorMessage", "CreateEnv"]
    assert len(names) == len(set(names)) and len(names) > 300
    version = int(re.search(r"#define ORT_API_VERSION (\d+)", text).group(1))
    assert max(v for _, v in members) == version  # the notes run up to the header's own version


def test_binding_slots_match_the_header():
    text = open(header_path(), encoding="utf-8").read()
    members = api_members(text)
    slot = {name: i for i, (name, _) in enumerate(members)}
    since = dict(members)
    for name, want in ortc.OrtCSession.SLOTS.items():
        assert slot.get(name) == want, f"{name}: slot {want} in ortc, {slot.get(name)} in {header_path()}"
        # Served by the API version the binding asks for (the table only grows after it).
        assert since[name] <= ortc.OrtCSession.API_VERSION, f"{name} is from API 1.{since[name]}"
    assert int(re.search(r"#define ORT_API_VERSION (\d+)", text).group(1)) >= ortc.OrtCSession.API_VERSION


def tiny_onnx(path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["n", 2])
    graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "relu", [x], [y])
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)


def test_c_session_runs_through_the_real_library(tmp_path):
    need_ort()
    if ORT is None:
        pytest.skip("the C library is not installed (only the Python package)")
    path = str(tmp_path / "relu.onnx")
    tiny_onnx(path)
    with ortc.OrtCSession(ORT, path) as sess:
        out = sess.run({"X": np.array([[-1.0, 2.0], [3.0, -4.0]], dtype=np.float32)}, ["Y"])
        assert re.match(r"\d+\.\d+", sess.version)
    np.testing.assert_array_equal(out["Y"], [[0.0, 2.0], [3.0, 0.0]])
    with ortc.OrtCSession(ORT, path) as sess, pytest.raises(ortc.OrtError, match="Run"):
        sess.run({"NOPE": np.zeros((1, 2), np.float32)}, ["Y"])


def test_a_library_without_the_needed_api_version_is_refused(tmp_path, monkeypatch):
    need_ort()
    if ORT is None:
        pytest.skip("the C library is not installed (only the Python package)")
    path = str(tmp_path / "relu.onnx")
    tiny_onnx(path)
    # As an older library would answer: GetApi(N) is NULL for an N it does not serve.
    monkeypatch.setattr(ortc.OrtCSession, "API_VERSION", 10000)
    with pytest.raises(ortc.OrtError, match="does not serve C API version 10000"):
        ortc.OrtCSession(ORT, path)
