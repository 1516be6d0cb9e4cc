"""train trains what the official code trains (text positional embedding and projection included);
--freeze-text-extras freezes them, is recorded in the build arguments, and survives resume and export."""

import os

import torch

from agiqa_torch import build_model, train
from agiqa_torch import export as E
from test_train import args_for, ds  # noqa: F401 - the module-scoped dataset fixture

EXTRAS = ("text.positional_embedding", "text.text_projection")


def trained(out, kwargs):
    """best.pt's weights and those the run started from (train builds with --seed 3)."""
    best = torch.load(os.path.join(out, "best.pt"))
    assert best["model_kwargs"] == kwargs
    start = build_model(seed=3, **kwargs).state_dict()
    return best["model"], start


def test_default_trains_the_text_extras(ds, tmp_path):  # noqa: F811
    out = str(tmp_path / "run")
    assert train.main(args_for(ds, out, 1)) == 0
    kwargs = {"name": "ipiqa", "num_outputs": 2, "image_size": 32, "width": 8, "text_width": 64, "text_layers": 2,
              "freeze_text_extras": False}
    after, before = trained(out, kwargs)
    for k in EXTRAS:
        assert not torch.equal(after[k], before[k]), k
    # The rest of the text tower stays as it was (the token table trains through the QA token).
    assert torch.equal(after["text.ln_final.weight"], before["text.ln_final.weight"])
    assert torch.equal(after["text.transformer.resblocks.0.attn.in_proj_weight"],
                       before["text.transformer.resblocks.0.attn.in_proj_weight"])


def test_freeze_text_extras_keeps_them_and_is_recorded(ds, tmp_path, capsys):  # noqa: F811
    out = str(tmp_path / "run")
    assert train.main(args_for(ds, out, 1, extra=["--freeze-text-extras"])) == 0
    kwargs = {"name": "ipiqa", "num_outputs": 2, "image_size": 32, "width": 8, "text_width": 64, "text_layers": 2,
              "freeze_text_extras": True}
    after, before = trained(out, kwargs)
    for k in EXTRAS:
        assert torch.equal(after[k], before[k]), k
    # Export rebuilds the model with the recorded arguments.
    args = E._parser().parse_args(["--model", "ipiqa", "--checkpoint", os.path.join(out, "best.pt"), "--out", "x"])
    model, kw, _ = E.build_for_export(args)
    assert kw == kwargs and model.freeze_text_extras is True
    # A baseline has no text tower to freeze.
    argv = args_for(ds, str(tmp_path / "rn"), 1, extra=["--freeze-text-extras"])
    argv[argv.index("--model") + 1] = "resnet50_clip"
    capsys.readouterr()
    assert train.main(argv) == 1
    assert "--freeze-text-extras applies to --model ipiqa only" in capsys.readouterr().err


def test_a_run_from_before_the_switch_resumes_only_as_it_was_trained(ds, tmp_path, capsys):  # noqa: F811
    # last.pt of a run written before the switch existed: no freeze_text_extras in its build arguments,
    # trained with the extras frozen. Resuming it under the new default would change what trains.
    out = str(tmp_path / "run")
    assert train.main(args_for(ds, out, 1, extra=["--freeze-text-extras"])) == 0
    last = os.path.join(out, "last.pt")
    state = torch.load(last)
    del state["config"]["model_kwargs"]["freeze_text_extras"]
    torch.save(state, last)
    capsys.readouterr()
    assert train.main(args_for(ds, out, 2)) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "model_kwargs" in err and "'freeze_text_extras': True" in err
    assert train.main(args_for(ds, out, 2, extra=["--freeze-text-extras"])) == 0
    assert torch.load(last)["epoch"] == 2
