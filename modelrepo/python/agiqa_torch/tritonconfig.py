"""The Triton side of an export: the model's row in the paper tables (``agiqa.catalog``), the
``config.pbtxt`` export writes, and the check of an existing one against the model to export.
"""

from __future__ import annotations

import re
from typing import Optional

from .clip_rn50 import CONTEXT_LENGTH
from .models import AGIQAModel


class ConfigError(ValueError):
    """An existing config.pbtxt that does not describe the model to export."""


# Table 3's rows (baselines/catalog.go, listed in baselines/testdata/table3_rows.json.golden) by the
# switches (Image2Prompt, integral prompt, QA token). Only all three on is the paper's full model
# ("ipiqa", Table 3's "Ours" and the Table 1 / 2 rows); the paper has no row for the three QA-token
# combinations short of it, which are ours and carry no paper numbers.
ABLATION_KEYS = {
    (False, False, False): "ipiqa_base", (True, False, False): "ipiqa_i2p",
    (False, True, False): "ipiqa_prompt", (True, True, False): "ipiqa_i2p_prompt",
    (False, False, True): "ipiqa_qa", (True, False, True): "ipiqa_i2p_qa",
    (False, True, True): "ipiqa_prompt_qa", (True, True, True): "ipiqa",
}


def catalog_key(model: AGIQAModel) -> str:
    """The model's row key in the paper tables (the agiqa.catalog parameter): the model name, or for
    IP-IQA the Table 3 row of its switches. A model trained without Image2Prompt pretraining is not
    the paper's model, whatever its other switches."""
    if model.name != "ipiqa":
        return model.name
    return ABLATION_KEYS[(bool(model.image2prompt), bool(model.integral_prompt), bool(model.qa_token))]


def config_pbtxt(name: str, model: AGIQAModel, max_batch_size: int, per_split: bool,
                 dataset: Optional[str] = None, writer: str = "python -m agiqa_torch.export") -> str:
    s = _image_side(model)
    inputs = [f'  {{ name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, {s}, {s} ] }}']
    for n in _token_inputs(model):
        inputs.append(f'  {{ name: "{n}" data_type: TYPE_INT64 dims: [ {_token_length(model)} ] }}')
    outputs = [f'  {{ name: "{n}" data_type: TYPE_FP32 dims: [ 1 ] }}' for n in model.output_names]
    params = {"agiqa.catalog": catalog_key(model), "agiqa.preprocess": model.preprocess,
              "agiqa.per_split": "true" if per_split else "false",
              "agiqa.higher_is_better": "true" if model.higher_is_better else "false"}
    if per_split and dataset:
        params["agiqa.dataset"] = dataset
    if hasattr(model, "tokenizer"):  # alignment models name their tokenizer (the contract's default: clip_bpe)
        params["agiqa.tokenizer"] = model.tokenizer
    if getattr(model, "prompt_prefix", ""):
        params["agiqa.prompt_prefix"] = model.prompt_prefix
    lines = [
        f"# Written by {writer} ({model.name}).",
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch_size}",
        "input [", ",\n".join(inputs), "]",
        "output [", ",\n".join(outputs), "]",
    ]
    # Explicit either way: per-split models serve every version, zero-shot ones their one version.
    lines.append("version_policy: { all { } }" if per_split else "version_policy: { latest { num_versions: 1 } }")
    lines += ["dynamic_batching { }", "instance_group [ { kind: KIND_GPU, count: 1 } ]"]
    for k, v in params.items():
        lines.append(f'parameters {{ key: "{k}" value: {{ string_value: "{_quote(v)}" }} }}')
    # Weights over 2 GB sit in model.onnx.data beside model.onnx; Triton's onnxruntime backend loads
    # them from there by itself (the file's location is recorded in model.onnx), so nothing here changes.
    return "\n".join(lines) + "\n"


def _quote(v: str) -> str:
    """A protobuf text string's contents: backslashes and double quotes escaped."""
    return v.replace("\\", "\\\\").replace('"', '\\"')


def _token_inputs(model: AGIQAModel) -> list:
    """TOKENS (prompt-aware models) and TOKENS_MASK (alignment models that take it)."""
    if hasattr(model, "input_names"):
        return [n for n in model.input_names() if n != "IMAGE"]
    return ["TOKENS"] if model.uses_prompt else []


def _token_length(model: AGIQAModel) -> int:
    return int(getattr(model, "token_length", CONTEXT_LENGTH))


def _image_side(model: AGIQAModel) -> int:
    """The IMAGE side a config declares: S, or -1 (any height and width) for a native-size model."""
    return -1 if model.preprocess == "native" else model.image_size


def _config_param(text: str, key: str) -> Optional[str]:
    m = re.search(r'key\s*:\s*"' + re.escape(key) + r'"\s*value\s*:\s*\{\s*string_value\s*:\s*"((?:[^"\\]|\\.)*)"', text)
    return m.group(1) if m else None


def check_existing_config(path: str, name: str, model: AGIQAModel, per_split: bool,
                          dataset: Optional[str] = None) -> None:
    """An existing config.pbtxt must declare this model's name, tensors and per-split policy, and (where
    it says) its catalogue row and training dataset: the harness reads both from the config, so a
    model exported under another's would be scored as that one."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = []
    m = re.search(r'^\s*name\s*:\s*"([^"]*)"', text, re.M)
    if not m or m.group(1) != name:
        problems.append(f'name is {m.group(1) if m else "absent"!r}, want "{name}"')
    declared = set(re.findall(r'name\s*:\s*"([A-Z_]+)"', text))
    want = {"IMAGE"} | set(_token_inputs(model)) | set(model.output_names)
    if declared != want:
        problems.append(f"tensors {sorted(declared)}, the model has {sorted(want)}")
    for n in _token_inputs(model):
        if re.search(r'name\s*:\s*"' + n + r'"[^}]*dims\s*:\s*\[\s*' + str(_token_length(model)) + r'\s*\]', text) is None:
            problems.append(f"{n} dims are not [ {_token_length(model)} ]")
    tokenizer = _config_param(text, "agiqa.tokenizer")
    if hasattr(model, "tokenizer") and tokenizer is not None and tokenizer != model.tokenizer:
        problems.append(f'agiqa.tokenizer is "{tokenizer}", the model takes "{model.tokenizer}"')
    prefix = _config_param(text, "agiqa.prompt_prefix")
    if hasattr(model, "prompt_prefix") and (prefix or "") != _quote(model.prompt_prefix):
        problems.append(f'agiqa.prompt_prefix is "{prefix or ""}", the model puts "{model.prompt_prefix}"')
    side = _image_side(model)
    if re.search(rf"dims\s*:\s*\[\s*3\s*,\s*{side}\s*,\s*{side}\s*\]", text) is None:
        problems.append(f"IMAGE dims are not [ 3, {side}, {side} ]")
    preprocess = _config_param(text, "agiqa.preprocess")
    if preprocess is not None and preprocess != model.preprocess:
        problems.append(f'agiqa.preprocess is "{preprocess}", the model takes "{model.preprocess}"')
    if per_split != bool(re.search(r"version_policy\s*:\s*\{\s*all", text)):
        problems.append("version_policy does not match per-split=" + str(per_split).lower())
    catalog = _config_param(text, "agiqa.catalog")
    if catalog is not None and catalog != catalog_key(model):
        problems.append(f'agiqa.catalog is "{catalog}", the model is "{catalog_key(model)}"')
    trained_on = _config_param(text, "agiqa.dataset")
    if per_split and dataset and trained_on is not None and trained_on != dataset:
        problems.append(f'agiqa.dataset is "{trained_on}", the model was trained on "{dataset}"')
    if problems:
        raise ConfigError(f"{path} does not describe the exported model: " + "; ".join(problems)
                          + " (delete it to have it rewritten)")
