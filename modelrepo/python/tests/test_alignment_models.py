"""CLIPScore, HPS v1, HPS v2 / v2.1 and PickScore: the tiny models that build_alignment builds from a
random state dict in each model's official layout score like the authors' code on the oracle model
holding the same weights (open_clip 2.23.0, OpenAI clip, transformers 4.36.2), fp32, to 1e-5.

The authors' scores, as their code computes them with image features f and text features t:
- CLIPScore (jmhessel/clipscore, get_clip_score, w = 2.5): 2.5 * clip(f/|f| . t/|t|, 0, None);
- HPS v1 (tgxs002/align_sd, evaluate_hps.py): diag(f/|f| @ (t/|t|).T) with OpenAI's ViT-L/14;
- HPS v2 (tgxs002/HPSv2, score.py): diag(image_features @ text_features.T) from open_clip's
  model(image, text), whose features come out normalised;
- PickScore (the PickScore_v1 model card): logit_scale.exp() * (text_embs @ image_embs.T), embs / norm.
"""

import pytest
import torch

from agiqa_torch import clip_alignment as A
from test_clip_vit import (TOL, hf_oracle, images, normalized, open_clip_oracle, openai_oracle, openai_state,
                           tokens)

torch.set_num_threads(2)


def _cos(f, t):
    return ((f / f.norm(dim=-1, keepdim=True)) * (t / t.norm(dim=-1, keepdim=True))).sum(dim=-1)


def _check(model, img, tok, want):
    with torch.no_grad():
        got = model(img, tok)
    assert got.shape == (img.shape[0], 1) and got.dtype == torch.float32
    err = (got[:, 0] - want).abs().max().item()
    assert err < TOL * max(1.0, want.abs().max().item()), f"{model.name}: scores differ by {err}: {got} vs {want}"
    print(f"{model.name}: max |score - oracle| = {err:.3g} (scores {want.tolist()})")
    return err


@pytest.fixture(scope="module")
def batch():
    return images(4, A.IMAGE_SIZE, 21), tokens(4, 22)


@pytest.mark.parametrize("name", ["clipscore", "hpsv1"])
def test_openai_based_scores_match_the_authors_formula(name, batch):
    img, tok = batch
    state = openai_state(A.config_for(name, tiny=True), seed=23)
    oracle = openai_oracle(state)
    with torch.no_grad():
        c = _cos(oracle.encode_image(normalized(img)), oracle.encode_text(tok))
    want = 2.5 * torch.clamp(c, min=0) if name == "clipscore" else c
    _check(A.build_alignment(name, tiny=True, state=state), img, tok, want)


@pytest.mark.parametrize("name", ["hpsv2", "hpsv21"])
def test_hpsv2_scores_match_open_clip(name, batch):
    img, tok = batch
    oracle = open_clip_oracle(A.config_for(name, tiny=True), seed=24)
    with torch.no_grad():
        f, t, _ = oracle(normalized(img), tok)
    want = torch.diagonal(f @ t.T)
    state = {"state_dict": dict(oracle.state_dict())}  # as HPS_v2_compressed.pt nests it
    _check(A.build_alignment(name, tiny=True, state=state), img, tok, want)


def test_pickscore_matches_transformers_clipmodel_from_a_safetensors_file(batch, tmp_path):
    from safetensors.torch import save_file

    img, tok = batch
    oracle = hf_oracle(A.config_for("pickscore", tiny=True), seed=25, eos_token_id=2)  # PickScore's legacy id
    with torch.no_grad():
        ie = oracle.get_image_features(pixel_values=normalized(img))
        te = oracle.get_text_features(input_ids=tok)
        ie, te = ie / ie.norm(dim=-1, keepdim=True), te / te.norm(dim=-1, keepdim=True)
        want = oracle.logit_scale.exp() * torch.diagonal(te @ ie.T)
    path = str(tmp_path / "model.safetensors")
    save_file({k: v.contiguous() for k, v in oracle.state_dict().items()}, path)
    _check(A.build_alignment("pickscore", tiny=True, state=A.read_checkpoint(path)), img, tok, want)
    bin_path = str(tmp_path / "pytorch_model.bin")
    torch.save(oracle.state_dict(), bin_path)
    _check(A.build_alignment("pickscore", tiny=True, state=A.read_checkpoint(bin_path)), img, tok, want)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_read_checkpoint_reads_openai_torchscript_and_hps_v1_files(tmp_path):
    cfg = A.config_for("hpsv1", tiny=True)
    state = openai_state(cfg, seed=26)
    oracle = openai_oracle(state)
    archive = str(tmp_path / "ViT-L-14.pt")  # OpenAI publishes traced TorchScript archives
    torch.jit.save(torch.jit.trace(oracle, (normalized(images(1, cfg.image_size, 1)), tokens(1, 1))), archive)
    got = A.read_checkpoint(archive)
    assert {k for k in got if k not in ("input_resolution", "context_length", "vocab_size")} == \
        set(oracle.state_dict())
    hpc = str(tmp_path / "hpc.pth")  # HPS v1: {"state_dict": OpenAI names}
    torch.save({"state_dict": oracle.state_dict()}, hpc)
    m1 = A.build_alignment("hpsv1", tiny=True, state=A.read_checkpoint(archive))
    m2 = A.build_alignment("hpsv1", tiny=True, state=A.read_checkpoint(hpc))
    img, tok = images(2, cfg.image_size, 27), tokens(2, 28)
    with torch.no_grad():
        assert torch.equal(m1(img, tok), m2(img, tok))


def test_clipscore_clamps_negative_cosines_at_zero():
    model = A.build_alignment("clipscore", tiny=True, seed=1)
    c = torch.tensor([[-0.3], [0.0], [0.4]])
    assert torch.equal(model.score(c), torch.tensor([[0.0], [0.0], [1.0]]))


def test_model_attributes_are_what_the_harness_sends():
    for name in A.ALIGNMENT_CLASSES:
        m = A.build_alignment(name, tiny=True, seed=2)
        # HPS v2's own transform pads the long side to 224 (ResizeMaxSize); the others crop as CLIP does.
        method = "resize_pad" if name in ("hpsv2", "hpsv21") else "resize_center_crop"
        assert (m.name, m.image_size, m.preprocess, m.tokenizer, m.token_length) == \
            (name, 224, method, "clip_bpe", 77)
        assert m.input_names() == ["IMAGE", "TOKENS"] and m.output_names == ["ALIGNMENT"] and m.zero_shot
        assert m.prompt_prefix == ("A photo depicts " if name == "clipscore" else "")
        assert not m.training
    assert A.config_for("hpsv2").act == "gelu" and A.config_for("pickscore").act == "gelu"
    assert A.config_for("clipscore").name == "ViT-B-32" and A.config_for("hpsv1").name == "ViT-L-14"


def test_seed_is_reproducible_and_leaves_the_global_rng_alone():
    before = torch.random.get_rng_state()
    a = A.build_alignment("hpsv2", tiny=True, seed=5)
    b = A.build_alignment("hpsv2", tiny=True, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k


def test_wrong_checkpoints_are_refused_with_their_keys(batch):
    hf_state = hf_oracle(A.config_for("pickscore", tiny=True), seed=29).state_dict()
    with pytest.raises(ValueError) as err:
        A.build_alignment("hpsv2", tiny=True, state=hf_state)
    msg = str(err.value)
    assert "model hpsv2" in msg and "HPS_v2_compressed.pt" in msg
    assert "visual.class_embedding" in msg and "vision_model.embeddings.class_embedding" in msg
    with pytest.raises(ValueError, match=r"unknown CLIP alignment model 'clip'"):
        A.build_alignment("clip", tiny=True)


def test_bad_inputs_are_named():
    m = A.build_alignment("pickscore", tiny=True, seed=3)
    with pytest.raises(ValueError, match=r"input IMAGE must be \[B, 3, 224, 224\]"):
        m(images(1, 32, 1), tokens(1, 1))
    with pytest.raises(ValueError, match=r"input TOKENS must be \[1, 77\]"):
        m(images(1, 224, 1), tokens(1, 1)[:, :35])
