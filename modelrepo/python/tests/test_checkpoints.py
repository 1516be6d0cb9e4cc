"""Checkpoint loading: official IP-IQA layout, Image2Prompt image branches, our training checkpoints."""

import re

import pytest
import torch

from agiqa_torch import build_model
from agiqa_torch import checkpoints as K
from agiqa_torch import clip_rn50 as C
from agiqa_torch.models import COMMA_TOKEN

TINY = dict(width=8, text_width=64, text_layers=2)
S = 64

TOKENS = torch.zeros(2, 77, dtype=torch.long)
TOKENS[0, :6] = torch.tensor([C.SOT_TOKEN, 320, COMMA_TOKEN, 1125, 2368, C.EOT_TOKEN])
TOKENS[1, :3] = torch.tensor([C.SOT_TOKEN, 1929, C.EOT_TOKEN])
IMAGES = torch.randint(0, 256, (2, 3, S, S), generator=torch.Generator().manual_seed(0)).to(torch.uint8)

# Key names of the official implementation (github Coobiw/IP-IQA, ipiqa/models/ipiqa.py + utils.py):
# IPIQA.resnet50 (CLIP visual with attnpool = Identity), .attnpool, .txt_attnpool.cross_attn,
# .head (MLPHead dense/out_proj), .wte, .txt_pos, .txt_model, .ln_final, .text_projection.
OFFICIAL_SAMPLE = {
    "resnet50.conv1.weight", "resnet50.bn3.running_var", "resnet50.layer1.0.downsample.0.weight",
    "resnet50.layer4.2.bn3.num_batches_tracked", "attnpool.positional_embedding", "attnpool.q_proj.weight",
    "attnpool.c_proj.bias", "txt_attnpool.positional_embedding", "txt_attnpool.cross_attn.q_proj.weight",
    "txt_attnpool.cross_attn.k_proj.bias", "txt_attnpool.cross_attn.v_proj.weight",
    "txt_attnpool.cross_attn.out_proj.bias", "head.dense.weight", "head.dense.bias", "head.out_proj.weight",
    "head.out_proj.bias", "wte.weight", "txt_pos", "text_projection", "ln_final.weight", "ln_final.bias",
    "txt_model.resblocks.0.attn.in_proj_weight", "txt_model.resblocks.0.attn.out_proj.bias",
    "txt_model.resblocks.1.mlp.c_fc.weight", "txt_model.resblocks.1.ln_2.bias",
}
OFFICIAL_PREFIXES = ("resnet50.", "attnpool.", "txt_attnpool.", "head.dense.", "head.out_proj.", "txt_model.",
                     "ln_final.")
OFFICIAL_SINGLE = {"wte.weight", "txt_pos", "text_projection"}


def tiny(seed, **kw):
    return build_model("ipiqa", 2, S, seed=seed, **TINY, **kw).eval()


def clip_state(seed=7):
    torch.manual_seed(seed)
    clip = C.CLIPRN50(image_size=224, **TINY)
    return {(k[len("text."):] if k.startswith("text.") else k): v for k, v in clip.state_dict().items()}


def official_checkpoint(model, drop_frozen=False):
    """What the official trainer saves: {"model": state dict, ...} under DDP's "module." prefix, without
    parameters that do not require grad when drop_frozen."""
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    sd = {k: v.clone() for k, v in model.state_dict().items() if not (drop_frozen and k in frozen)}
    official = K.to_official_names(sd)
    return {"model": {"module." + k: v for k, v in official.items()}, "optimizer": {"state": {}}, "epoch": 3,
            "config": {"run": {"lr": 1e-5}}, "scaler": None}


def outputs(model):
    with torch.no_grad():
        return model(IMAGES, TOKENS)


def test_official_names():
    official = K.to_official_names(tiny(0).state_dict())
    assert OFFICIAL_SAMPLE <= set(official)
    assert all(k.startswith(OFFICIAL_PREFIXES) or k in OFFICIAL_SINGLE for k in official), \
        sorted(k for k in official if not (k.startswith(OFFICIAL_PREFIXES) or k in OFFICIAL_SINGLE))
    assert not any(k.startswith("resnet50.attnpool.") for k in official)  # moved out, as upstream


def test_load_official_checkpoint_reproduces_the_model():
    src, dst = tiny(1), tiny(2)
    assert not torch.allclose(outputs(src), outputs(dst))
    report = K.load_official_ipiqa(dst, official_checkpoint(src))
    torch.testing.assert_close(outputs(dst), outputs(src), rtol=0, atol=0)
    assert report.kept == [] and report.ignored == []
    assert "text_pool.q_proj.weight" in report.loaded and "head.4.bias" in report.loaded


def test_official_checkpoint_without_frozen_text_tower_needs_clip_weights():
    state = clip_state()
    src = build_model("ipiqa", 2, S, seed=1, clip_state=state, **TINY).eval()
    ckpt = official_checkpoint(src, drop_frozen=True)
    names = set(ckpt["model"])
    assert "module.wte.weight" in names  # trainable through the [QA] token
    assert not any(k.startswith("module.txt_model.") or k.startswith("module.ln_final.") for k in names)

    random_text = tiny(2)
    with pytest.raises(ValueError, match="lacks the text tower.*clip_state"):
        K.load_official_ipiqa(random_text, ckpt)

    dst = build_model("ipiqa", 2, S, seed=2, clip_state=state, **TINY).eval()
    report = K.load_official_ipiqa(dst, ckpt)
    torch.testing.assert_close(outputs(dst), outputs(src), rtol=0, atol=0)
    assert "text.transformer.resblocks.0.attn.in_proj_weight" in report.kept
    assert "text.token_embedding.weight" in report.loaded


def test_corrupted_official_checkpoint_lists_every_problem_sorted():
    sd = K.to_official_names(tiny(1).state_dict())
    del sd["head.dense.weight"]
    del sd["attnpool.k_proj.bias"]
    sd["head.classifier.weight"] = torch.zeros(2, 2)
    sd["txt_attnpool.cross_attn.extra"] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        K.load_official_ipiqa(tiny(2), sd)
    msg = str(err.value)
    assert "missing keys (2): head.1.weight, visual.attnpool.k_proj.bias" in msg
    assert "unexpected keys (2): head.classifier.weight, txt_attnpool.cross_attn.extra" in msg
    # strict=False loads the rest and reports what it ignored.
    dst = tiny(2)
    report = K.load_official_ipiqa(dst, sd, strict=False)
    assert report.ignored == ["head.classifier.weight", "txt_attnpool.cross_attn.extra"]
    assert "head.1.weight" in report.kept


def test_shape_mismatch_is_always_an_error():
    sd = K.to_official_names(tiny(1).state_dict())
    sd["attnpool.positional_embedding"] = torch.zeros(50, 256)  # trained at 224 px, model at 64
    sd["head.out_proj.weight"] = torch.zeros(1, 256)  # one output, model has two
    with pytest.raises(ValueError, match=re.escape("shape mismatches (2): head.4.weight: checkpoint (1, 256), "
                                                   "model (2, 256); visual.attnpool.positional_embedding")):
        K.load_official_ipiqa(tiny(2), sd, strict=False)


def test_duplicate_and_clip_style_text_names():
    src = tiny(1)
    sd = K.to_official_names(src.state_dict())
    sd["token_embedding.weight"] = sd["wte.weight"]
    with pytest.raises(ValueError, match="wte.weight and token_embedding.weight both map"):
        K.load_official_ipiqa(tiny(2), sd)
    # CLIP's own text names are accepted in place of the official split names.
    sd = K.to_official_names(src.state_dict())
    sd["token_embedding.weight"] = sd.pop("wte.weight")
    sd["positional_embedding"] = sd.pop("txt_pos")
    sd = {("transformer." + k[len("txt_model."):] if k.startswith("txt_model.") else k): v for k, v in sd.items()}
    dst = tiny(2)
    K.load_official_ipiqa(dst, sd)
    torch.testing.assert_close(outputs(dst), outputs(src), rtol=0, atol=0)


def test_official_loader_rejects_other_models_and_non_tensors():
    with pytest.raises(ValueError, match="model must be ipiqa"):
        K.load_official_ipiqa(build_model("resnet50_clip", 1, S, **TINY), {})
    with pytest.raises(ValueError, match="not tensors.*epoch"):
        K.load_official_ipiqa(tiny(0), {"resnet50.conv1.weight": torch.zeros(1), "epoch": 3})
    with pytest.raises(ValueError, match="expected a state dict"):
        K.unwrap_state_dict([1, 2])


def test_load_image_branch_from_model_official_and_bare_layouts():
    src = build_model("ipiqa", 1, 224, seed=1, **TINY)  # Image2Prompt trained at CLIP's 224 px
    for layout in ("ours", "official", "bare"):
        dst = tiny(2)
        sd = src.state_dict()
        if layout == "official":
            sd = K.to_official_names(sd)
        elif layout == "bare":
            sd = src.visual.state_dict()
        K.load_image_branch(dst, {"model": sd})
        torch.testing.assert_close(dst.visual.conv1.weight, src.visual.conv1.weight, rtol=0, atol=0)
        want = C.interpolate_pos_embedding(src.visual.attnpool.positional_embedding.data, S // 32)
        torch.testing.assert_close(dst.visual.attnpool.positional_embedding.data, want)
        # Only the image branch changes.
        torch.testing.assert_close(dst.head[1].weight, tiny(2).head[1].weight, rtol=0, atol=0)
    with pytest.raises(ValueError, match="missing keys"):
        K.load_image_branch(tiny(2), {"visual.conv1.weight": src.visual.conv1.weight})
    with pytest.raises(ValueError, match="no CLIP image branch"):
        K.load_image_branch(build_model("resnet50", 1, S, **TINY), {})


def test_build_model_loads_image2prompt_state():
    src = tiny(1)
    m = build_model("ipiqa", 2, S, seed=2, image2prompt=True, image2prompt_state=src.state_dict(), **TINY)
    assert m.image2prompt
    torch.testing.assert_close(m.visual.layer4[0].conv2.weight, src.visual.layer4[0].conv2.weight, rtol=0, atol=0)
    assert not torch.equal(m.head[1].weight, src.head[1].weight)
    flag_only = build_model("ipiqa", 2, S, seed=2, image2prompt=True, **TINY)  # caller loads the tower itself
    assert flag_only.image2prompt
    with pytest.raises(ValueError, match="ipiqa only"):
        build_model("resnet50", 1, S, image2prompt=True, **TINY)


def test_load_model_state_accepts_training_checkpoints_and_official_ones():
    src, dst = tiny(1), tiny(2)
    ckpt = {"format": "agiqa-train-v1", "model_kwargs": {"name": "ipiqa"}, "epoch": 4,
            "model": {"module." + k: v for k, v in src.state_dict().items()}}
    K.load_model_state(dst, ckpt)
    torch.testing.assert_close(outputs(dst), outputs(src), rtol=0, atol=0)
    dst = tiny(3)
    K.load_model_state(dst, official_checkpoint(src))
    torch.testing.assert_close(outputs(dst), outputs(src), rtol=0, atol=0)
    bad = dict(src.state_dict())
    bad.pop("head.4.weight")
    with pytest.raises(ValueError, match=r"checkpoint for model ipiqa: missing keys \(1\): head.4.weight"):
        K.load_model_state(tiny(2), bad)
