"""ImageReward (agiqa_torch.imagereward) against the authors' own module from the image-reward 1.5
package, built at tiny sizes from the package's classes; its loader on the official layout and on
wrong checkpoints; and the ONNX export run in ONNX Runtime.

The oracle is the package's ImageReward class itself (its __init__, MLP, mean/std and score paths).
The package's top-level __init__ imports diffusers/accelerate (absent), so its packages are entered
in sys.modules as bare packages for the duration of this module and only the needed files are run.
Two things are swapped for tiny ones inside BLIP_Pretrain: create_vit (it hard-codes ViT-L at 224)
returns the package's own VisionTransformer at width 32, and init_tokenizer (which downloads
bert-base-uncased) returns a transformers BertTokenizer over a small vocabulary written here. The
med_config is the published one with the sizes shrunk. The MLP is rebuilt by the package's MLP class
at the tiny text width (ImageReward.__init__ hard-codes MLP(768)).
"""

import importlib
import json
import os
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from agiqa_torch import imagereward as IR
from agiqa_torch import ortc

torch.set_num_threads(2)

TOL = 1e-5
PKG = "ImageReward"
# The published med_config.json (BERT-base + cross-attention), sizes shrunk to TINY's.
MED_CONFIG = {
    "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": IR.TINY.text_width, "initializer_range": 0.02,
    "intermediate_size": IR.TINY.text_intermediate, "layer_norm_eps": 1e-12,
    "max_position_embeddings": IR.TINY.max_positions, "model_type": "bert",
    "num_attention_heads": IR.TINY.text_heads, "num_hidden_layers": IR.TINY.text_layers, "pad_token_id": 0,
    "type_vocab_size": 2, "vocab_size": IR.TINY.vocab_size, "encoder_width": 768, "add_cross_attention": True,
}
WORDS = ["a", "photo", "of", "red", "cat", "##s", "on", "the", "moon", ",", ".", "painting", "by", "van", "gogh"]


def package_dir():
    import importlib.util

    spec = importlib.util.find_spec(PKG)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the image-reward package (module ImageReward) is not installed: "
                    "scripts/install-pyoracles.sh (requirements-oracles.txt)")
    return list(spec.submodule_search_locations)[0]


@pytest.fixture(scope="module")
def authors(tmp_path_factory):
    """The package's ImageReward.py and BLIP modules, imported without the package __init__s."""
    root = package_dir()
    saved = {k: v for k, v in sys.modules.items() if k == PKG or k.startswith(PKG + ".")}
    for name, sub in ((PKG, ""), (PKG + ".models", "models"), (PKG + ".models.BLIP", "models/BLIP")):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(root, sub) if sub else root]
        sys.modules[name] = mod
    try:
        yield types.SimpleNamespace(ir=importlib.import_module(PKG + ".ImageReward"),
                                    bp=importlib.import_module(PKG + ".models.BLIP.blip_pretrain"),
                                    vit=importlib.import_module(PKG + ".models.BLIP.vit"),
                                    tmp=tmp_path_factory.mktemp("imagereward"))
    finally:
        for k in [k for k in sys.modules if k == PKG or k.startswith(PKG + ".")]:
            del sys.modules[k]
        sys.modules.update(saved)


def tiny_tokenizer(tmp):
    """transformers' BertTokenizer over bert-base-uncased's special-token ids ([PAD] 0, [UNK] 100,
    [CLS] 101, [SEP] 102, [MASK] 103) and a few words."""
    from transformers import BertTokenizer

    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    path = tmp / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizer(str(path))


def build_oracle(authors, monkeypatch, seed=0):
    """The authors' ImageReward at TINY sizes, its weights randomised (seeded) away from the init so
    that biases and norms matter, Linear weights at unit gain so activations are O(1) (the GELUs
    bend) and the reward varies between inputs."""
    cfg = IR.TINY
    vit_cls = authors.vit.VisionTransformer

    def tiny_vit(vit, image_size, *args):
        return vit_cls(img_size=image_size, patch_size=cfg.patch_size, embed_dim=cfg.vision_width,
                       depth=cfg.vision_layers, num_heads=cfg.vision_heads), cfg.vision_width

    monkeypatch.setattr(authors.bp, "create_vit", tiny_vit)
    monkeypatch.setattr(authors.bp, "init_tokenizer", lambda: tiny_tokenizer(authors.tmp))
    med = authors.tmp / "med_config.json"
    med.write_text(json.dumps(MED_CONFIG), encoding="utf-8")
    torch.manual_seed(seed)
    model = authors.ir.ImageReward(med_config=str(med), device="cpu")
    model.mlp = authors.ir.MLP(cfg.text_width)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and not name.endswith("embeddings.weight"):  # Linear: unit gain
                p.copy_(torch.randn_like(p) * p.shape[1] ** -0.5)
            else:  # biases, norms, embeddings, patch conv, tokens
                p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


def random_inputs(b, seed, vocab=IR.TINY.vocab_size):
    """uint8 images and BERT-style rows: [CLS] ids [SEP] then zero padding, with their masks."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (b, 3, 224, 224), generator=g).to(torch.uint8)
    ids = torch.zeros(b, IR.TOKEN_LENGTH, dtype=torch.int64)
    mask = torch.zeros_like(ids)
    lengths = [IR.TOKEN_LENGTH, 2] + torch.randint(3, IR.TOKEN_LENGTH, (b,), generator=g).tolist()
    for i in range(b):
        n = lengths[i]
        ids[i, :n] = torch.randint(999, vocab, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 101, 102
        mask[i, :n] = 1
    return image, ids, mask


def authors_score(oracle, image, ids, mask):
    """score_gard on the image normalised by the authors' own transform's Normalize."""
    norm = oracle.preprocess.transforms[-1]
    with torch.no_grad():
        return oracle.score_gard(ids, mask, norm(image.float() / 255.0))


@pytest.fixture()
def pair(authors, monkeypatch):
    oracle = build_oracle(authors, monkeypatch)
    ours = IR.build_imagereward(tiny=True, state=oracle.state_dict())
    return oracle, ours


def test_matches_the_authors_module(pair):
    oracle, ours = pair
    assert oracle.mean == IR.REWARD_MEAN and oracle.std == IR.REWARD_STD
    image, ids, mask = random_inputs(5, seed=1)
    want = authors_score(oracle, image, ids, mask)
    with torch.no_grad():
        got = ours(image, ids, mask)
    assert got.shape == (5, 1)
    err = (got - want).abs().max().item()
    assert err <= TOL, f"max |ours - authors| = {err:.3g} > {TOL}"
    assert want.std().item() > 0.1, "the scores barely vary: the comparison would not see a wrong layer"
    # The padding mask is honoured the authors' way: changing it changes the score in both.
    mask2 = mask.clone()
    mask2[0, 20:] = 0
    with torch.no_grad():
        got2 = ours(image[:1], ids[:1], mask2[:1])
    want2 = authors_score(oracle, image[:1], ids[:1], mask2[:1])
    assert abs(got2.item() - want2.item()) <= TOL
    assert abs(got2.item() - got[0].item()) > 1e-3


def test_matches_the_authors_module_in_float64(pair):
    """The export's fp64 reference is a double() copy: both modules in float64 agree far tighter.
    models.Normalize holds mean/std as float32 (double() widens those), so the authors' Normalize
    is given the same float32-rounded constants here."""
    from torchvision.transforms import Normalize

    oracle, ours = pair
    oracle, ours = oracle.double(), ours.double()
    image, ids, mask = random_inputs(3, seed=2)
    norm = oracle.preprocess.transforms[-1]
    as32 = [torch.tensor(v, dtype=torch.float32).double().tolist() for v in (norm.mean, norm.std)]
    with torch.no_grad():
        want = oracle.score_gard(ids, mask, Normalize(*as32)(image.double() / 255.0))
        got = ours(image, ids, mask)
    assert got.dtype == torch.float64
    err = (got - want).abs().max().item()
    assert err <= 1e-12, f"max |ours - authors| in float64 = {err:.3g}"


def test_matches_the_authors_score_on_a_pil_image(pair):
    """The authors' score(prompt, PIL image): their tokenizer call and transform. Ours gets the same
    Resize(224, bicubic) + CenterCrop(224) as uint8 (the harness's resize_center_crop) and the
    tokenizer's input_ids and attention_mask as they are."""
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize

    oracle, ours = pair
    g = np.random.default_rng(3)
    pil = Image.fromarray(g.integers(0, 256, (260, 300, 3), dtype=np.uint8), "RGB")
    crop = CenterCrop(224)(Resize(224, interpolation=InterpolationMode.BICUBIC)(pil))
    image = torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1).unsqueeze(0)
    for prompt in ("a photo of red cats on the moon.", "painting by van gogh, " * 12):
        want = oracle.score(prompt, pil)
        tok = oracle.blip.tokenizer(prompt, padding="max_length", truncation=True, max_length=35,
                                    return_tensors="pt")
        assert tok.input_ids[0, 0].item() == 101  # [CLS], fed as is (not BLIP's [ENC])
        with torch.no_grad():
            got = ours(image, tok.input_ids, tok.attention_mask).item()
        assert abs(got - want) <= TOL, f"{prompt!r}: ours {got} vs authors {want}"


def test_loader_accepts_wrappers_and_paths(pair, tmp_path):
    oracle, ours = pair
    state = oracle.state_dict()
    assert "blip.vision_proj.weight" in state and "blip.text_encoder.embeddings.position_ids" in state
    wrapped = {"state_dict": {"module." + k: v for k, v in state.items()}}
    again = IR.build_imagereward(tiny=True, state=wrapped)
    path = tmp_path / "ImageReward.pt"
    torch.save(state, path)
    from_file = IR.build_imagereward(tiny=True, state=str(path))
    image, ids, mask = random_inputs(2, seed=4)
    with torch.no_grad():
        ref = ours(image, ids, mask)
        assert torch.equal(again(image, ids, mask), ref)
        assert torch.equal(from_file(image, ids, mask), ref)


def test_loader_lists_missing_unexpected_and_misshaped_keys(pair):
    oracle, _ = pair
    state = dict(oracle.state_dict())
    del state["blip.text_encoder.encoder.layer.1.output.dense.weight"]
    del state["mlp.layers.7.bias"]
    state["blip.text_decoder.cls.predictions.bias"] = torch.zeros(3)
    with pytest.raises(ValueError) as e:
        IR.build_imagereward(tiny=True, state=state)
    msg = str(e.value)
    assert "missing keys (2): blip.text_encoder.encoder.layer.1.output.dense.weight, mlp.layers.7.bias" in msg
    assert "unexpected keys (1): blip.text_decoder.cls.predictions.bias" in msg
    with pytest.raises(ValueError, match=r"shape mismatches: blip\.text_encoder\.encoder\.layer\.0\.intermediate"):
        IR.build_imagereward(tiny=True, text_intermediate=48, state=oracle.state_dict())


def test_loader_lists_the_keys_of_a_clip_state_dict():
    import clip.model

    net = clip.model.CLIP(embed_dim=16, image_resolution=32, vision_layers=1, vision_width=64, vision_patch_size=16,
                          context_length=77, vocab_size=100, transformer_width=32, transformer_heads=2,
                          transformer_layers=1)
    with pytest.raises(ValueError) as e:
        IR.build_imagereward(tiny=True, state=net.state_dict())
    msg = str(e.value)
    assert msg.startswith("ImageReward checkpoint: not an ImageReward state dict")
    assert "missing keys" in msg and "blip.visual_encoder.cls_token" in msg and "mlp.layers.0.weight" in msg
    assert "unexpected keys" in msg and "visual.class_embedding" in msg and "token_embedding.weight" in msg


def test_bad_checkpoints_and_inputs_are_named(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: cannot read"):
        IR.build_imagereward(tiny=True, state=str(junk))
    with pytest.raises(ValueError, match="expected a state dict, got list"):
        IR.build_imagereward(tiny=True, state=[1, 2])
    with pytest.raises(ValueError, match="unknown size"):
        IR.build_imagereward(tiny=True, vision_depth=3)
    with pytest.raises(ValueError, match="not divisible by text_heads"):
        IR.build_imagereward(tiny=True, text_heads=5)
    model = IR.build_imagereward(tiny=True, seed=0)
    image, ids, mask = random_inputs(1, seed=5)
    ids[0, 3] = IR.TINY.vocab_size
    with pytest.raises(ValueError, match=r"TOKENS holds ids .* outside the vocabulary \[0, 30524\)"):
        model(image, ids, mask)
    with pytest.raises(ValueError, match="TOKENS_MASK must hold only 0 and 1"):
        model(image, ids.clamp(max=100), mask * 2)
    with pytest.raises(ValueError, match=r"TOKENS_MASK must be \[1, 35\]"):
        model(image, ids.clamp(max=100), mask[:, :30])
    assert (model.name, model.tokenizer, model.token_length, model.uses_mask, model.zero_shot) == \
        ("imagereward", "bert_wordpiece", 35, True, True)
    assert model.input_names() == ["IMAGE", "TOKENS", "TOKENS_MASK"] and model.output_names == ["ALIGNMENT"]


def test_onnx_export_runs_in_onnx_runtime(tmp_path):
    """Opset 14 with a dynamic batch, traced at batch 2 and run at batch 3 in ONNX Runtime; ORT must
    reproduce eager PyTorch (a different runtime's kernels) to the parity tolerance."""
    model = IR.build_imagereward(tiny=True, seed=7)
    with torch.no_grad():  # make the head's output vary
        for lin in model.mlp.layers:
            if isinstance(lin, torch.nn.Linear):
                lin.weight.copy_(torch.randn_like(lin.weight) * lin.weight.shape[1] ** -0.5)
    path = tmp_path / "imagereward.onnx"
    names = model.input_names()
    axes = {n: {0: "batch"} for n in names + model.output_names}
    with torch.no_grad():
        torch.onnx.export(model, random_inputs(2, seed=8), str(path), opset_version=14, input_names=names,
                          output_names=model.output_names, dynamic_axes=axes)
    image, ids, mask = random_inputs(3, seed=9)
    with torch.no_grad():
        want = model(image, ids, mask).numpy()
    try:
        out, _ = ortc.run_onnxruntime(str(path), {"IMAGE": image.numpy(), "TOKENS": ids.numpy(),
                                                  "TOKENS_MASK": mask.numpy()}, ["ALIGNMENT"])
    except ortc.OrtError as e:
        if str(e).startswith(ortc.NO_RUNTIME) and os.environ.get("AGIQA_REQUIRE_ORT") != "1":
            pytest.skip(str(e))
        raise
    got = out["ALIGNMENT"]
    assert got.shape == (3, 1)
    err = float(np.abs(got - want).max())
    assert err <= 1e-4, f"max |ORT - eager| = {err:.3g}"
