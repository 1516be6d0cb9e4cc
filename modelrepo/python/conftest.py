"""pytest setup for modelrepo/python: import agiqa_torch from this directory, keep torch to 2 threads
(the test machines are small and shared), and make skips fail where CI requires everything to run.

Tests skip when something outside the repository is missing (the CLIP vocabulary or label files in
../shared, ONNX Runtime, python3-regex, openpyxl). CI (scripts/test.sh) installs all of it and sets
AGIQA_REQUIRE_SHARED / AGIQA_REQUIRE_ORT / AGIQA_REQUIRE_PYTHON to 1: with any of them set, a skipped
test is reported as a failure carrying the skip's reason, so a broken setup cannot pass by skipping.
"""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(2)

pytest_plugins = ["pytester"]  # tests/test_ci_no_skip.py runs this hook on a throw-away suite

REQUIRE_VARS = ("AGIQA_REQUIRE_SHARED", "AGIQA_REQUIRE_ORT", "AGIQA_REQUIRE_PYTHON")


def required_by():
    """The AGIQA_REQUIRE_* variables set to 1 in the environment."""
    return [v for v in REQUIRE_VARS if os.environ.get(v) == "1"]


def _fail_skip(rep):
    if not rep.skipped or hasattr(rep, "wasxfail"):
        return
    required = required_by()
    if not required:
        return
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    rep.outcome = "failed"
    rep.longrepr = "skipped, but %s=1 requires every test to run: %s" % ("=1, ".join(required), reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A module skipped as a whole (pytest.skip(allow_module_level=True), importorskip at import time).
    outcome = yield
    _fail_skip(outcome.get_result())
