"""CLIP-IQA+ (agiqa_torch.clipiqa_plus) against OpenAI's own CLIP modules (the `clip` package of the oracle
venv, the model pyiqa's CLIPIQA wraps), holding the same random weights: the learned prompts' text
features, the score, the learned-prompt file loader and the export."""

import os

import pytest
import torch
from torch import nn

from agiqa_torch import build_model
from agiqa_torch import clip_rn50 as C
from agiqa_torch import clipiqa_plus as P

TINY = dict(width=8, text_width=64, text_layers=2)
S = 64

clip_pkg = pytest.importorskip("clip", reason="OpenAI's clip package (scripts/install-pyoracles.sh) is the oracle")


def tiny_clip(seed):
    """Our CLIPRN50 (one block per stage) with non-trivial BN statistics, and its OpenAI-layout state."""
    torch.manual_seed(seed)
    clip = C.CLIPRN50(image_size=S, layers=(1, 1, 1, 1), **TINY).eval()
    with torch.no_grad():
        for mod in clip.visual.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
        clip.visual.attnpool.positional_embedding.mul_(20)  # must not be used
    state = {k.replace("text.", "", 1): v for k, v in clip.state_dict().items()}
    return clip, state


def openai_clip(state):
    """OpenAI's clip.model.CLIP built at the tiny sizes, loaded strictly with the same fp32 weights (its
    build_model would round them to fp16). fp32: its LayerNorm computes in float32 whatever the input."""
    oracle = clip_pkg.model.CLIP(embed_dim=state["text_projection"].shape[1], image_resolution=S,
                                 vision_layers=(1, 1, 1, 1), vision_width=8, vision_patch_size=None,
                                 context_length=77, vocab_size=state["token_embedding.weight"].shape[0],
                                 transformer_width=64, transformer_heads=1, transformer_layers=2)
    oracle.load_state_dict(state)
    return oracle.eval()


def oracle_text_features(oracle, ctx):
    """The learned prompts' features as pyiqa's PromptLearner computes them with OpenAI's modules: the
    template tokenized by clip.tokenize, embedded, the context halves spliced around the 3 class tokens,
    positional embedding, the (L, N, D) transformer with its own causal mask, ln_final, EOT row, projection."""
    tokens = clip_pkg.tokenize(list(P.PROMPT_TEXTS))
    emb = oracle.token_embedding(tokens)
    ctx = ctx.unsqueeze(0).expand(2, -1, -1) if ctx.dim() == 2 else ctx
    prefix, suffix = emb[:, :1], emb[:, 17:]
    prompts = torch.cat([prefix, ctx[:, :8], suffix[:, :3], ctx[:, 8:], suffix[:, 3:]], dim=1)
    x = (prompts + oracle.positional_embedding).permute(1, 0, 2)
    x = oracle.ln_final(oracle.transformer(x).permute(1, 0, 2))
    f = x[torch.arange(2), tokens.argmax(dim=-1)] @ oracle.text_projection
    return f / f.norm(dim=-1, keepdim=True)


def test_template_tokens_are_what_clip_tokenizes():
    want = clip_pkg.tokenize(list(P.PROMPT_TEXTS))
    assert torch.equal(P.prompt_tokens(), want)
    assert int(want[0].argmax()) == 1 + P.N_CTX + P.CLASS_LEN  # "good photo .." is exactly 3 tokens


@pytest.mark.parametrize("shape", [(16, 64), (2, 16, 64)])
def test_text_features_match_openai_text_transformer(shape):
    clip, state = tiny_clip(7)
    ctx = torch.randn(*shape, generator=torch.Generator().manual_seed(1)) * 0.02
    m = build_model("clipiqa_plus", 1, S, clip_state=state, learned_prompts=ctx, **TINY).eval()
    with torch.no_grad():
        want = oracle_text_features(openai_clip(state), ctx)
    torch.testing.assert_close(m.text_features, want, rtol=0, atol=2e-6)
    assert m.prompts_learned
    # The context matters: another one gives other features.
    other = build_model("clipiqa_plus", 1, S, clip_state=state, learned_prompts=ctx.flip(-1), **TINY)
    assert (other.text_features - m.text_features).abs().max() > 1e-3


def test_score_matches_openai_clip_without_positional_embedding():
    clip, state = tiny_clip(11)
    ctx = torch.randn(16, 64, generator=torch.Generator().manual_seed(2)) * 0.02
    m = build_model("clipiqa_plus", 1, S, clip_state=state, learned_prompts=ctx, **TINY).eval()
    assert m.preprocess == "native" and m.visual.attnpool.add_positional_embedding is False
    oracle = openai_clip(state)
    with torch.no_grad():
        # At the trained grid, a zero positional embedding is no positional embedding (pos_embedding=False).
        oracle.visual.attnpool.positional_embedding.zero_()
        img = torch.randint(0, 256, (4, 3, S, S), generator=torch.Generator().manual_seed(3)).to(torch.uint8)
        mean = torch.tensor(C.CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(C.CLIP_STD).view(1, 3, 1, 1)
        f = oracle.encode_image((img.float() / 255 - mean) / std)
        f = f / f.norm(dim=-1, keepdim=True)
        want = (oracle.logit_scale.exp() * f @ oracle_text_features(oracle, ctx).t()).softmax(-1)[:, :1]
        got = m(img)
    assert got.shape == (4, 1)
    torch.testing.assert_close(got, want, rtol=0, atol=2e-6)
    assert float(want.max() - want.min()) > 1e-4  # the images move the score
    with torch.no_grad():  # native size: a non-square image scores too
        assert torch.isfinite(m(torch.zeros(1, 3, 45, 97, dtype=torch.uint8))).all()


def test_unlearned_prompts_are_the_placeholder_embeddings():
    m = build_model("clipiqa_plus", 1, S, seed=0, **TINY)
    assert not m.prompts_learned
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        clip = C.CLIPRN50(image_size=S, **TINY)
    want = P.learned_text_features(clip.text, clip.text.token_embedding.weight[P.X_TOKEN].expand(16, -1))
    torch.testing.assert_close(m.text_features, want, rtol=0, atol=1e-6)


def test_loader_reads_pyiqa_bare_tensor_and_state_dicts(tmp_path):
    ctx = torch.randn(16, 512).half()  # the release file's layout: one bare fp16 context (17 KB)
    torch.save(ctx, tmp_path / P.PROMPTS_FILE)
    got = P.read_learned_prompts(str(tmp_path / P.PROMPTS_FILE))
    assert got.dtype == torch.float32 and torch.equal(got, ctx.float())
    per_prompt = torch.randn(2, 16, 512)
    torch.save({"params": {"prompt_learner.ctx": per_prompt, "prompt_learner.token_prefix": torch.zeros(2, 1, 512),
                           "prompt_learner.token_suffix": torch.zeros(2, 60, 512)}}, tmp_path / "rn50_512.pth")
    assert torch.equal(P.read_learned_prompts(str(tmp_path / "rn50_512.pth")), per_prompt)


def test_loader_lists_missing_and_unexpected_keys(tmp_path):
    torch.save({"conv1.weight": torch.zeros(3), "fc.bias": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError) as exc:
        P.read_learned_prompts(str(tmp_path / "other.pth"))
    msg = str(exc.value)
    assert "other.pth" in msg and "missing keys (1): prompt_learner.ctx" in msg
    assert "unexpected keys (2): conv1.weight, fc.bias" in msg
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a torch file"):
        P.read_learned_prompts(str(tmp_path / "junk.pth"))


def test_published_file_check_compares_the_sha256_prefix(tmp_path):
    path = tmp_path / P.PROMPTS_FILE
    torch.save(torch.zeros(16, 512), path)
    digest = P.file_sha256(str(path))
    assert not digest.startswith(P.PROMPTS_SHA256_PREFIX)  # a stand-in, not the release file
    with pytest.raises(ValueError, match=f"sha256 {digest} does not start with 603f3273"):
        P.read_learned_prompts(str(path), check_published=True)
    assert P.read_learned_prompts(str(path)).shape == (16, 512)  # tests and --tiny exports skip the check


def test_build_refuses_contexts_of_another_shape_and_misuse():
    with pytest.raises(ValueError, match=r"shape \(16, 512\), want \[16, 64\]"):
        build_model("clipiqa_plus", 1, S, learned_prompts=torch.zeros(16, 512), **TINY)
    with pytest.raises(ValueError, match="1 output"):
        build_model("clipiqa_plus", 2, S, **TINY)
    with pytest.raises(ValueError, match="learned_prompts applies to clipiqa_plus only"):
        build_model("clipiqa", 1, S, learned_prompts=torch.zeros(16, 64), **TINY)
    with pytest.raises(ValueError, match="non-finite"):
        build_model("clipiqa_plus", 1, S, learned_prompts=torch.full((16, 64), float("nan")), **TINY)


def _have_ort():
    from agiqa_torch.ortc import find_ort_library

    lib = find_ort_library()
    return lib is not None and os.path.exists(lib)


def test_export_serves_images_only_with_the_learned_features(tmp_path, capsys):
    from agiqa_torch import export as E

    if not _have_ort():
        pytest.skip("no ONNX Runtime ($AGIQA_ORT_LIB / .tools/ort; scripts/install-ort.sh)")
    ctx = torch.randn(16, 64, generator=torch.Generator().manual_seed(4)) * 0.02
    torch.save(ctx, tmp_path / "prompts.pth")
    repo = tmp_path / "repo"
    rc = E.main(["--model", "clipiqa_plus", "--tiny", "--learned-prompts", str(tmp_path / "prompts.pth"),
                 "--out", str(repo)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "numeric check: ONNX Runtime" in out.out  # ORT within the gate of an fp64 eager run, two sizes
    cfg = (repo / "clipiqa_plus_tiny" / "config.pbtxt").read_text()
    assert 'key: "agiqa.catalog" value: { string_value: "clipiqa_plus" }' in cfg
    assert "dims: [ 3, -1, -1 ]" in cfg and "version_policy: { latest { num_versions: 1 } }" in cfg and "TOKENS" not in cfg
    sig = E.graph_signature(str(repo / "clipiqa_plus_tiny" / "1" / "model.onnx"))
    assert [n for n, _, _ in sig["inputs"]] == ["IMAGE"]


def test_export_requires_the_learned_prompts_at_full_size(tmp_path, capsys):
    from agiqa_torch import export as E

    rc = E.main(["--model", "clipiqa_plus", "--clip-weights", str(tmp_path / "RN50.pt"), "--out", str(tmp_path)])
    assert rc == 1 and "--learned-prompts" in capsys.readouterr().err
    rc = E.main(["--model", "clipiqa", "--tiny", "--learned-prompts", "x.pth", "--out", str(tmp_path)])
    assert rc == 1 and "--learned-prompts applies to clipiqa_plus only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
