"""Triton Python-backend entry of a native Go model. Copied verbatim into the version folder of every
model that Triton serves through libagiqa.so (modelrepo/models/*/1/model.py; a test checks the copies).

The scoring is the Go code the embedded server runs (baselines/capi); this file only finds the library
(the model's native.library parameter, else $AGIQA_NATIVE_LIB, else /opt/agiqa/libagiqa.so where the
Triton image of modelrepo/triton/Dockerfile installs it) and imports agiqa_native.py from its folder.
"""
import json
import os
import sys

DEFAULT_LIBRARY = "/opt/agiqa/libagiqa.so"


def library_path(config):
    value = ((config.get("parameters") or {}).get("native.library") or {}).get("string_value")
    return value or os.environ.get("AGIQA_NATIVE_LIB") or DEFAULT_LIBRARY


class TritonPythonModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils  # only inside Triton

        lib = os.path.abspath(library_path(json.loads(args["model_config"])))
        folder = os.path.dirname(lib)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            import agiqa_native
        except ImportError as exc:
            raise RuntimeError(f"model {args.get('model_name')!r}: agiqa_native.py is not beside {lib}: {exc}") from None
        self._impl = agiqa_native.TritonModel(pb_utils, lib)
        self._impl.initialize(args)

    def execute(self, requests):
        return self._impl.execute(requests)

    def finalize(self):
        self._impl.finalize()
