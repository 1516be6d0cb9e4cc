"""conftest.py turns skips into failures when CI's AGIQA_REQUIRE_* variables are set."""

import os

CONFTEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")

SUITE = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("CLIP vocabulary absent: /nowhere/bpe.txt.gz")

@pytest.mark.skipif(True, reason="no ONNX Runtime here")
def test_marked():
    pass

@pytest.mark.xfail(reason="known", strict=False)
def test_xfails():
    assert False
"""

WHOLE_MODULE = """
import pytest
pytest.skip("label files absent", allow_module_level=True)
"""


def run(pytester, monkeypatch, env):
    for var in ("AGIQA_REQUIRE_SHARED", "AGIQA_REQUIRE_ORT", "AGIQA_REQUIRE_PYTHON"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with open(CONFTEST, encoding="utf-8") as f:
        # The copy must not load pytester a second time inside pytester.
        pytester.makeconftest(f.read().replace('pytest_plugins = ["pytester"]', ""))
    pytester.makepyfile(test_suite=SUITE, test_whole=WHOLE_MODULE)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rfs", "--continue-on-collection-errors")


def test_skips_pass_without_the_variables(pytester, monkeypatch):
    res = run(pytester, monkeypatch, {})
    res.assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_skips_fail_when_ci_requires_everything(pytester, monkeypatch):
    res = run(pytester, monkeypatch, {"AGIQA_REQUIRE_ORT": "1", "AGIQA_REQUIRE_SHARED": "0"})
    # A skip in setup (skipif marks) or collection reports as an error, one in the test body as a failure.
    res.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    out = res.stdout.str()
    assert "AGIQA_REQUIRE_ORT=1 requires every test to run: Skipped: CLIP vocabulary absent" in out
    assert "no ONNX Runtime here" in out and "label files absent" in out
