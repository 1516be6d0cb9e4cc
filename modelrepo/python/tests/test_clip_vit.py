"""CLIP ViT towers against the authors' implementations, loaded from the same random state dict.

Each oracle (open_clip 2.23.0's ``open_clip.model.CLIP``, OpenAI's ``clip.model.build_model``,
transformers 4.36.2's ``CLIPModel``) is built at a tiny size and its parameters are all redrawn at
random; its ``state_dict()`` (the official layout and names) is loaded into our towers by our loaders,
and image and text features are compared in fp32. Also: the loaders' error messages, and the
safetensors reader against the ``safetensors`` package.
"""

import pytest
import torch

from agiqa_torch import clip_vit as V
from agiqa_torch.clip_rn50 import CLIP_MEAN, CLIP_STD, CLIPRN50, EOT_TOKEN, SOT_TOKEN
from agiqa_torch.safetensors_read import read_safetensors
from agiqa_torch.statedicts import checkpoint_tensors

torch.set_num_threads(2)
open_clip_model = pytest.importorskip("open_clip.model", reason="oracle open_clip_torch 2.23.0 not installed")
openai_clip_model = pytest.importorskip("clip.model", reason="oracle openai-clip not installed")
transformers = pytest.importorskip("transformers", reason="oracle transformers 4.36.2 not installed")

TOL = 1e-5


def randomize(module, seed, fp16_exact=False):
    """Redraw every parameter (biases and LayerNorms included, which their inits leave at 0 / 1), so a
    wrong name mapping cannot hide behind equal initial values. fp16_exact rounds through fp16, for
    OpenAI's build_model, which converts the weights to fp16."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            std = 0.02 if "embedding" in name else 0.1
            v = torch.randn(p.shape, generator=g) * std
            if name.endswith("logit_scale"):
                v = torch.tensor(2.0 + 0.5 * torch.rand((), generator=g).item())
            elif "ln" in name or "norm" in name:
                v = v + (1.0 if name.endswith("weight") else 0.0)
            p.copy_(v.half().float() if fp16_exact else v)
    return module.eval()


def tokens(batch, seed, vocab=49408):
    """CLIP-style rows: SOT, random ids, EOT, zero padding; lengths from empty to the full 77."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(batch, 77, dtype=torch.int64)
    lengths = [0, 75] + torch.randint(1, 40, (max(0, batch - 2),), generator=g).tolist()
    for i, n in enumerate(lengths[:batch]):
        out[i, 0] = SOT_TOKEN
        out[i, 1:1 + n] = torch.randint(1, min(vocab, SOT_TOKEN), (n,), generator=g)
        out[i, 1 + n] = EOT_TOKEN
    return out


def images(batch, size, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, size, size), generator=g, dtype=torch.int64).to(torch.uint8)


def normalized(img):
    """The official pipelines' ToTensor + Normalize(mean, std), as torchvision computes them."""
    from torchvision.transforms import Normalize

    return Normalize(CLIP_MEAN, CLIP_STD)(img.to(torch.float32) / 255.0)


def cfg(act, width=128, heads=2, text_width=64, text_heads=1, image=32, patch=8, embed=32):
    return V.ViTConfig("test", embed, image, patch, width, 2, heads, text_width, 2, text_heads, act)


def open_clip_oracle(c, seed):
    """open_clip.model.CLIP of config ``c`` (exact GELU unless c.act is quick_gelu), random weights."""
    vision = {"image_size": c.image_size, "patch_size": c.patch_size, "width": c.width, "layers": c.layers,
              "head_width": c.width // c.heads}
    text = {"context_length": 77, "vocab_size": c.vocab_size, "width": c.text_width, "heads": c.text_heads,
            "layers": c.text_layers}
    model = open_clip_model.CLIP(c.embed_dim, vision, text, quick_gelu=c.act == "quick_gelu")
    return randomize(model, seed)


def openai_state(c, seed):
    """An OpenAI-layout state dict (as ViT-*.pt holds it, hyper-parameter entries included) of a
    randomly weighted clip.model.CLIP of config ``c`` (heads = width // 64, as build_model derives)."""
    model = openai_clip_model.CLIP(c.embed_dim, c.image_size, c.layers, c.width, c.patch_size, 77, c.vocab_size,
                                   c.text_width, c.text_heads, c.text_layers)
    state = dict(randomize(model, seed, fp16_exact=True).state_dict())
    state.update(input_resolution=torch.tensor(c.image_size), context_length=torch.tensor(77),
                 vocab_size=torch.tensor(c.vocab_size))
    return state


def openai_oracle(state):
    """OpenAI's own build_model on a copy of ``state`` (it deletes keys), back in fp32."""
    return openai_clip_model.build_model({k: v.clone() for k, v in state.items()}).float().eval()


def hf_config(c, eos_token_id=49407):
    text = {"vocab_size": c.vocab_size, "hidden_size": c.text_width, "intermediate_size": 4 * c.text_width,
            "num_hidden_layers": c.text_layers, "num_attention_heads": c.text_heads,
            "max_position_embeddings": 77, "hidden_act": c.act, "eos_token_id": eos_token_id}
    vision = {"hidden_size": c.width, "intermediate_size": 4 * c.width, "num_hidden_layers": c.layers,
              "num_attention_heads": c.heads, "image_size": c.image_size, "patch_size": c.patch_size,
              "hidden_act": c.act}
    return transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=c.embed_dim)


def hf_oracle(c, seed, eos_token_id=49407):
    return randomize(transformers.CLIPModel(hf_config(c, eos_token_id)), seed)


def _compare(ours, img_feat, txt_feat, img, tok):
    with torch.no_grad():
        a = ours.encode_image(normalized(img))
        b = ours.encode_text(tok)
    err_i = (a - img_feat).abs().max().item()
    err_t = (b - txt_feat).abs().max().item()
    assert err_i < TOL * max(1.0, img_feat.abs().max().item()), f"image features differ by {err_i}"
    assert err_t < TOL * max(1.0, txt_feat.abs().max().item()), f"text features differ by {err_t}"
    return err_i, err_t


@pytest.mark.parametrize("act", ["gelu", "quick_gelu"])
def test_open_clip_layout_matches_open_clip(act):
    c = cfg(act, width=64, heads=2, text_width=32, text_heads=2)  # open_clip takes head widths of 32
    oracle = open_clip_oracle(c, seed=1)
    img, tok = images(3, c.image_size, 2), tokens(4, 3)
    with torch.no_grad():
        want_i, want_t = oracle.encode_image(normalized(img)), oracle.encode_text(tok)
    # HPS v2's file nests the state dict, and DataParallel checkpoints prefix "module.".
    wrapped = {"state_dict": {"module." + k: v for k, v in oracle.state_dict().items()}}
    ours = V.load_clip_vit(checkpoint_tensors(wrapped, "test"), c, "open_clip", "test")
    _compare(ours, want_i, want_t, img, tok)
    assert torch.allclose(ours.logit_scale, oracle.logit_scale)


def test_openai_layout_matches_openai_build_model():
    c = cfg("quick_gelu")
    state = openai_state(c, seed=4)
    oracle = openai_oracle(state)
    img, tok = images(3, c.image_size, 5), tokens(4, 6)
    with torch.no_grad():
        want_i, want_t = oracle.encode_image(normalized(img)), oracle.encode_text(tok)
    ours = V.load_openai(state, c)
    _compare(ours, want_i, want_t, img, tok)
    assert torch.allclose(ours.logit_scale, oracle.logit_scale)


@pytest.mark.parametrize("act,eos", [("gelu", 49407), ("quick_gelu", 2)])
def test_hf_layout_matches_transformers_clipmodel(act, eos):
    # eos_token_id 2 is the legacy config value (argmax pooling in transformers); 49407 pools at the
    # first EOT. With zero padding both are our argmax position.
    c = cfg(act, width=64, heads=2, text_width=32, text_heads=2)
    oracle = hf_oracle(c, seed=7, eos_token_id=eos)
    img, tok = images(3, c.image_size, 8), tokens(4, 9)
    mask = torch.zeros_like(tok)
    for i, row in enumerate(tok):  # what PickScore's processor sends: 1 over SOT .. EOT
        mask[i, :int(row.argmax()) + 1] = 1
    with torch.no_grad():
        want_i = oracle.get_image_features(pixel_values=normalized(img))
        want_t = oracle.get_text_features(input_ids=tok)
        want_tm = oracle.get_text_features(input_ids=tok, attention_mask=mask)
    assert (want_t - want_tm).abs().max() < TOL  # causal attention: the padding mask changes nothing at EOT
    state = dict(oracle.state_dict())
    for k in V.HF_IGNORED:  # older transformers saved these buffers with the weights
        state[k] = torch.arange(77 if k.startswith("text") else (c.image_size // c.patch_size) ** 2 + 1)[None]
    ours = V.load_hf(state, c)
    _compare(ours, want_i, want_t, img, tok)
    assert torch.allclose(ours.logit_scale, oracle.logit_scale)


def test_full_size_configs_match_the_authors_configs():
    import json
    import os

    root = os.path.dirname(open_clip_model.__file__)
    for name, ours in V.CONFIGS.items():
        with open(os.path.join(root, "model_configs", name + ".json")) as f:
            ref = json.load(f)
        vc, tc = ref["vision_cfg"], ref["text_cfg"]
        assert (ours.embed_dim, ours.image_size, ours.patch_size, ours.width, ours.layers) == \
            (ref["embed_dim"], vc["image_size"], vc["patch_size"], vc["width"], vc["layers"]), name
        assert ours.heads == vc["width"] // vc.get("head_width", 64), name
        assert (ours.text_width, ours.text_layers, ours.text_heads, ours.context_length, ours.vocab_size) == \
            (tc["width"], tc["layers"], tc["heads"], tc["context_length"], tc["vocab_size"]), name
    # OpenAI's build_model derives every head count as width // 64.
    for name in ("ViT-B-32", "ViT-L-14"):
        c = V.CONFIGS[name]
        assert (c.heads, c.text_heads, c.act) == (c.width // 64, c.text_width // 64, "quick_gelu")
    assert V.CONFIGS["ViT-H-14"].act == "gelu"


def test_extra_and_missing_keys_are_both_listed():
    c = cfg("quick_gelu")
    state = openai_state(c, seed=10)
    del state["visual.ln_post.bias"]
    state["visual.extra_thing"] = torch.zeros(3)
    state["ln_final.weight"] = torch.zeros(5)
    with pytest.raises(ValueError) as err:
        V.load_openai(state, c, what="ViT-B-32.pt")
    msg = str(err.value)
    assert "ViT-B-32.pt" in msg and "visual.ln_post.bias" in msg and "visual.extra_thing" in msg
    assert "missing keys (1)" in msg and "unexpected keys (1)" in msg
    assert "ln_final.weight: got (5,), want (64,)" in msg


def test_resnet_checkpoint_given_to_the_vit_loader_lists_keys():
    state = CLIPRN50(width=8, image_size=64, text_width=64, text_layers=2).state_dict()
    rn_state = {(k[len("text."):] if k.startswith("text.") else k): v for k, v in state.items()}
    with pytest.raises(ValueError) as err:
        V.load_openai(rn_state, cfg("quick_gelu"), what="RN50.pt")
    msg = str(err.value)
    assert "visual.class_embedding" in msg and "visual.conv1.weight" in msg  # missing ViT keys
    assert "visual.layer1.0.conv1.weight" in msg and "visual.attnpool.c_proj.weight" in msg  # unexpected


def test_hf_loader_lists_missing_q_proj_and_stray_keys_by_their_hf_names():
    c = cfg("gelu", width=64, heads=2, text_width=32, text_heads=2)
    state = dict(hf_oracle(c, seed=11).state_dict())
    del state["vision_model.encoder.layers.1.self_attn.q_proj.weight"]
    state["text_model.pooler.weight"] = torch.zeros(2)
    with pytest.raises(ValueError) as err:
        V.load_hf(state, c, what="model.safetensors")
    msg = str(err.value)
    assert "vision_model.encoder.layers.1.self_attn.q_proj.weight" in msg and "text_model.pooler.weight" in msg
    # An OpenAI-layout file given to the HF loader: nothing fits, and the message says so by name.
    with pytest.raises(ValueError, match=r"missing keys .*visual_projection\.weight.*unexpected keys .*visual\.proj"):
        V.load_hf(openai_state(cfg("quick_gelu"), seed=12), cfg("quick_gelu"))


def test_safetensors_reader_matches_the_safetensors_package(tmp_path):
    from safetensors.torch import load_file, save_file

    g = torch.Generator().manual_seed(13)
    tensors = {
        "a.f32": torch.randn(3, 4, generator=g), "b.f16": torch.randn(5, generator=g).half(),
        "c.bf16": torch.randn(2, 3, generator=g).to(torch.bfloat16), "d.i64": torch.arange(7),
        "e.scalar": torch.tensor(1.5), "f.empty": torch.zeros(0, 3), "g.u8": torch.arange(9, dtype=torch.uint8),
    }
    path = str(tmp_path / "t.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    ref, ours = load_file(path), read_safetensors(path)
    assert sorted(ours) == sorted(ref)
    for k, v in ref.items():
        want = v.float() if v.dtype == torch.bfloat16 else v  # ours widens bf16 to fp32, exactly
        assert ours[k].dtype == want.dtype and ours[k].shape == want.shape, k
        assert torch.equal(ours[k], want), k


def test_safetensors_reader_names_bad_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match=r"bad\.safetensors: safetensors header is not JSON"):
        read_safetensors(str(bad))
    short = tmp_path / "short.safetensors"
    header = b'{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    short.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 8)
    with pytest.raises(ValueError, match=r"tensor 'x': data_offsets \[0, 16\] do not hold F32 \[4\]"):
        read_safetensors(str(short))
