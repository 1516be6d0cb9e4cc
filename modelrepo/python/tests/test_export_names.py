"""Export names and module modes: every IP-IQA switch combination is exported under its own Table 3
row, the same rows as baselines/catalog.go; exporting leaves the caller's model in the modes it had."""

import itertools
import json
import os

import pytest
import torch

from agiqa_torch import build_model, gpubench, tritonconfig
from agiqa_torch import export as E

TINY = dict(width=8, text_width=64, text_layers=2)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Written by the Go test TestTable3RowsGolden from the catalogue itself.
TABLE3_ROWS = os.path.join(ROOT, "baselines", "testdata", "table3_rows.json.golden")

# (Image2Prompt, integral prompt, QA token) -> Table 3 row key. Only all three on is the paper's model.
WANT = {
    (False, False, False): "ipiqa_base", (True, False, False): "ipiqa_i2p",
    (False, True, False): "ipiqa_prompt", (True, True, False): "ipiqa_i2p_prompt",
    (False, False, True): "ipiqa_qa", (True, False, True): "ipiqa_i2p_qa",
    (False, True, True): "ipiqa_prompt_qa", (True, True, True): "ipiqa",
}


def run_main(args, capsys):
    rc = E.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def config_param(text, key):
    return tritonconfig._config_param(text, key)


@pytest.mark.parametrize("i2p,prompt,qa", list(itertools.product([False, True], repeat=3)))
def test_every_switch_combination_exports_under_its_row(tmp_path, capsys, i2p, prompt, qa):
    kwargs = dict(name="ipiqa", num_outputs=1, image_size=32, integral_prompt=prompt, qa_token=qa, **TINY)
    ckpt = tmp_path / "best.pt"
    torch.save({"format": "agiqa-train-v1", "model_kwargs": kwargs, "image2prompt": i2p,
                "config": {"split": 0, "dataset": "agiqa-1k", "init_image2prompt": "i2p.pt" if i2p else None},
                "model": build_model(seed=1, **kwargs).state_dict()}, ckpt)
    rc, _, err = run_main(["--model", "ipiqa", "--checkpoint", str(ckpt), "--out", str(tmp_path / "repo")], capsys)
    assert rc == 0, err
    key = WANT[(i2p, prompt, qa)]
    name = f"{key}_agiqa1k_tiny"
    assert sorted(os.listdir(tmp_path / "repo")) == [name]
    cfg = (tmp_path / "repo" / name / "config.pbtxt").read_text()
    assert f'name: "{name}"' in cfg
    assert config_param(cfg, "agiqa.catalog") == key
    assert (tmp_path / "repo" / name / "1" / "model.onnx").is_file()


def test_switch_keys_are_the_go_catalogues_table3_rows():
    with open(TABLE3_ROWS, encoding="utf-8") as f:
        rows = json.load(f)
    go = {(r["image2prompt"], r["integral_prompt"], r["qa_token"]): r["key"] for r in rows}
    assert len(go) == len(rows) == 8
    assert go == WANT
    assert E.ABLATION_KEYS == WANT
    for sw, key in WANT.items():
        m = build_model("ipiqa", 1, 32, image2prompt=sw[0], integral_prompt=sw[1], qa_token=sw[2], **TINY)
        assert E.catalog_key(m) == key
    # Rows the paper has numbers for are exactly the five it prints.
    assert {r["key"] for r in rows if r["in_paper"]} == {"ipiqa_base", "ipiqa_i2p", "ipiqa_prompt",
                                                          "ipiqa_i2p_prompt", "ipiqa"}


def test_image2prompt_flag_is_for_checkpoints_that_do_not_record_it(tmp_path, capsys):
    # An official checkpoint records no Image2Prompt start; --image2prompt claims it (the paper's model).
    kwargs = dict(name="ipiqa", num_outputs=1, image_size=32, **TINY)
    official = tmp_path / "official.pt"
    torch.save({"model": build_model(seed=2, **kwargs).state_dict()}, official)
    base = ["--model", "ipiqa", "--dataset", "agiqa-1k", "--checkpoint", str(official), "--tiny", "--image-size", "32",
            "--out", str(tmp_path / "r")]
    rc, _, err = run_main(base + ["--image2prompt"], capsys)
    assert rc == 0, err
    assert config_param((tmp_path / "r" / "ipiqa_agiqa1k_tiny" / "config.pbtxt").read_text(), "agiqa.catalog") == "ipiqa"
    # Our checkpoint of a run without --init-image2prompt says so; the flag cannot overrule it.
    ours = tmp_path / "best.pt"
    torch.save({"model_kwargs": kwargs, "image2prompt": False, "config": {"split": 0, "dataset": "agiqa-1k"},
                "model": build_model(seed=2, **kwargs).state_dict()}, ours)
    rc, _, err = run_main(["--model", "ipiqa", "--checkpoint", str(ours), "--image2prompt",
                           "--out", str(tmp_path / "r2")], capsys)
    assert rc == 1 and "records a run without --init-image2prompt" in err
    rc, _, err = run_main(["--model", "ipiqa", "--dataset", "agiqa-1k", "--tiny", "--image2prompt",
                           "--out", str(tmp_path / "r3")], capsys)
    assert rc == 1 and "--image2prompt needs the --checkpoint" in err


def modes(model):
    return {name: m.training for name, m in model.named_modules()}


def test_export_keeps_an_eval_model_in_eval_mode(tmp_path):
    m = build_model("ipiqa", 1, 32, seed=0, **TINY).eval()
    E.export_onnx(m, str(tmp_path / "m.onnx"))
    assert not any(modes(m).values()), [n for n, t in modes(m).items() if t]


def test_export_keeps_every_module_of_a_training_model_as_it_was(tmp_path):
    # image2prompt.py trains the image branch with the frozen text tower and head in eval mode.
    m = build_model("ipiqa", 1, 32, seed=0, **TINY).train()
    m.text.eval()
    m.head.eval()
    before = modes(m)
    assert any(before.values()) and not all(before.values())
    E.export_onnx(m, str(tmp_path / "m.onnx"))
    assert modes(m) == before
    # Traced in eval mode all the same: no dropout, batch norm on running statistics.
    import onnx

    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert not [n for n in graph.node if n.op_type == "Dropout"]
    assert all(a.i == 0 for n in graph.node if n.op_type == "BatchNormalization"
               for a in n.attribute if a.name == "training_mode")


def test_reference_outputs_are_eval_mode_and_keep_the_callers_modes(tmp_path):
    # In training mode batch norm would use the batch's statistics: not what the ONNX file computes.
    m = build_model("resnet50_clip", 1, 32, seed=0, **TINY).train()
    before = modes(m)
    E.write_reference(str(tmp_path / "ref.json"), m)
    assert modes(m) == before
    ref = json.loads((tmp_path / "ref.json").read_text())
    image = torch.tensor(ref["inputs"]["IMAGE"]["data"], dtype=torch.uint8).reshape(ref["inputs"]["IMAGE"]["shape"])
    with torch.no_grad():
        want = m.eval()(image)[:, 0].tolist()
    assert ref["outputs"]["QUALITY"]["data"] == want


def test_gpubench_times_an_eval_mode_model(tmp_path, capsys, monkeypatch):
    seen = []

    def record(model, *args):
        seen.append([n for n, t in modes(model).items() if t])
        return 1.0

    monkeypatch.setattr(gpubench, "time_eager", record)
    rc = gpubench.main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--batch", "1", "--iters", "1",
                        "--warmup", "0", "--threads", "2"])
    assert rc == 0
    assert seen == [[]]  # one timing, no module in training mode
