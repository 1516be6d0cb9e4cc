"""Model definitions: shapes, freezing, CLIP loading, and attention blocks against torch's own MHA."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agiqa_torch import build_model
from agiqa_torch import clip_rn50 as C
from agiqa_torch.models import COMMA_TOKEN, IPIQA, split_prompt_parts

TINY = dict(width=8, text_width=64, text_layers=2)
S = 64


def tokens_for(rows):
    """Token rows from id lists: SOT, ids, EOT, zero padding."""
    out = torch.zeros(len(rows), 77, dtype=torch.long)
    for i, ids in enumerate(rows):
        out[i, : len(ids) + 2] = torch.tensor([C.SOT_TOKEN, *ids, C.EOT_TOKEN])
    return out


TOKENS = tokens_for([[320, COMMA_TOKEN, 1125, 539, COMMA_TOKEN, 2368], [1929]])


def images(batch=2, seed=0, size=S):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, size, size), generator=g).to(torch.uint8)


def antonyms():
    return tokens_for([[886, 1125, 269], [2103, 1125, 269]])


def tiny(name, k=1, **kw):
    extra = {"antonym_tokens": antonyms()} if name == "clipiqa" else {}
    return build_model(name, k, S, seed=0, **TINY, **extra, **kw).eval()


@pytest.mark.parametrize("name,k", [("ipiqa", 1), ("ipiqa", 2), ("resnet50", 1), ("resnet50", 2),
                                    ("resnet50_clip", 1), ("resnet50_clip", 2), ("clipiqa", 1)])
def test_forward_shapes_and_attributes(name, k):
    m = tiny(name, k)
    img = images(3)
    tok = tokens_for([[320], [1125, 539], [2368]]) if m.uses_prompt else None
    with torch.no_grad():
        out = m(img, tok)
        out_float = m(img.to(torch.float32), tok)
    assert out.shape == (3, k) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, out_float, rtol=0, atol=0)  # uint8 and 0..255 float are the same input
    assert m.output_names == ["QUALITY", "ALIGNMENT"][:k]
    assert m.uses_prompt == (name == "ipiqa")
    assert m.preprocess == ("native" if name == "clipiqa" else "resize")
    assert isinstance(m.head, nn.Module)
    with torch.no_grad():
        feat = m.image_encoder(img)
    assert feat.shape == (3, m.feature_dim)
    assert m.feature_dim == (32 * 8 if name == "resnet50" else 16 * 8)


def test_outputs_depend_on_the_image_and_prompt():
    m = tiny("ipiqa", 2)
    with torch.no_grad():
        a = m(images(2, seed=1), TOKENS)
        b = m(images(2, seed=2), TOKENS)
        c = m(images(2, seed=1), TOKENS.flip(0))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, c)


def test_clipiqa_rejects_two_outputs_and_missing_antonyms():
    with pytest.raises(ValueError, match="1 output"):
        build_model("clipiqa", 2, S, antonym_tokens=antonyms(), **TINY)
    with pytest.raises(ValueError, match="antonym_tokens"):
        build_model("clipiqa", 1, S, **TINY)
    with pytest.raises(ValueError, match=r"\[2, 77\]"):
        build_model("clipiqa", 1, S, antonym_tokens=antonyms()[:1], **TINY)


def test_clipiqa_positional_224_is_softmax_over_antonym_similarities():
    # The earlier variant (--clipiqa-positional-224): CLIP's own image tower, positional embedding included.
    torch.manual_seed(3)
    clip = C.CLIPRN50(image_size=S, **TINY).eval()
    state = {k.replace("text.", "", 1): v for k, v in clip.state_dict().items()}
    m = build_model("clipiqa", 1, S, antonym_tokens=antonyms(), clip_state=state, positional_224=True,
                    **TINY).eval()
    assert m.preprocess == "resize_center_crop"
    img = images(2)
    with torch.no_grad():
        x = (img.float() / 255 - torch.tensor(C.CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(C.CLIP_STD).view(1, 3, 1, 1)
        f = clip.encode_image(x)
        t = clip.encode_text(antonyms())
        cos = F.cosine_similarity(f[:, None, :], t[None, :, :], dim=-1)
        want = (clip.logit_scale.exp() * cos).softmax(-1)[:, :1]
        got = m(img)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert "text" not in dict(m.named_children())  # image-only at serving time


def _official_clipiqa(state, image, heads):
    """CLIP-IQA as IceClear/CLIP-IQA computes it (CLIPIQAFixed, pos_embedding=False), written out here
    from an OpenAI-layout state dict: CLIP mean/std on the image at its own size; the 3-conv stem in
    torch functional; the four stages through a separately built ModifiedResNet holding the same
    weights; the attention pool with torch's F.multi_head_attention_forward over (HW+1, N, C) tokens,
    mean token prepended and NO positional embedding, output row 0; cosine against the two text
    features, softmax of exp(logit_scale) x cos, probability of "Good photo."."""
    v = {k[len("visual."):]: t.double() for k, t in state.items() if k.startswith("visual.")}
    mean = torch.tensor(C.CLIP_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(C.CLIP_STD, dtype=torch.float64).view(1, 3, 1, 1)
    x = (image.double() / 255 - mean) / std

    def bn(x, p):
        return F.batch_norm(x, v[p + ".running_mean"], v[p + ".running_var"], v[p + ".weight"], v[p + ".bias"],
                            training=False, eps=1e-5)

    x = F.relu(bn(F.conv2d(x, v["conv1.weight"], stride=2, padding=1), "bn1"))
    x = F.relu(bn(F.conv2d(x, v["conv2.weight"], padding=1), "bn2"))
    x = F.relu(bn(F.conv2d(x, v["conv3.weight"], padding=1), "bn3"))
    x = F.avg_pool2d(x, 2)
    tower = C.ModifiedResNet(layers=(1, 1, 1, 1), output_dim=v["attnpool.c_proj.weight"].shape[0], heads=heads,
                             input_resolution=64, width=8).double().eval()
    tower.load_state_dict(v)
    x = tower.layer4(tower.layer3(tower.layer2(tower.layer1(x))))
    n, c = x.shape[:2]
    x = x.reshape(n, c, -1).permute(2, 0, 1)  # (HW, N, C)
    x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)  # no positional embedding
    a = "attnpool."
    x, _ = F.multi_head_attention_forward(
        query=x, key=x, value=x, embed_dim_to_check=c, num_heads=heads,
        in_proj_weight=None, in_proj_bias=torch.cat([v[a + "q_proj.bias"], v[a + "k_proj.bias"], v[a + "v_proj.bias"]]),
        bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
        out_proj_weight=v[a + "c_proj.weight"], out_proj_bias=v[a + "c_proj.bias"], training=False,
        need_weights=False, use_separate_proj_weight=True, q_proj_weight=v[a + "q_proj.weight"],
        k_proj_weight=v[a + "k_proj.weight"], v_proj_weight=v[a + "v_proj.weight"])
    f = x[0]
    return f / f.norm(dim=-1, keepdim=True)


def test_clipiqa_matches_the_official_computation_at_two_sizes():
    torch.manual_seed(5)
    clip = C.CLIPRN50(image_size=S, layers=(1, 1, 1, 1), **TINY).eval()
    with torch.no_grad():  # non-trivial BN statistics and positional embedding (which must not be used)
        for mod in clip.visual.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
        clip.visual.attnpool.positional_embedding.mul_(20)
    state = {k.replace("text.", "", 1): t for k, t in clip.state_dict().items()}
    m = build_model("clipiqa", 1, S, antonym_tokens=antonyms(), clip_state=state, **TINY).eval()
    assert m.preprocess == "native" and m.visual.attnpool.add_positional_embedding is False
    with torch.no_grad():
        t = clip.encode_text(antonyms()).double()
        t = t / t.norm(dim=-1, keepdim=True)
        scale = clip.logit_scale.exp().double()
        for h, w in ((64, 64), (45, 97)):  # square, and non-square with sides no multiple of 32
            g = torch.Generator().manual_seed(h * w)
            img = torch.randint(0, 256, (3, 3, h, w), generator=g).to(torch.uint8)
            want = (scale * _official_clipiqa(state, img, heads=clip.visual.attnpool.heads) @ t.t()).softmax(-1)[:, :1]
            got = m(img)
            assert got.shape == (3, 1)
            torch.testing.assert_close(got.double(), want, rtol=0, atol=2e-6)
            assert float(want.max() - want.min()) > 1e-3  # the images move the score
            # With the positional embedding (the 224 variant) the same weights score differently.
            pos = build_model("clipiqa", 1, S, antonym_tokens=antonyms(), clip_state=state, positional_224=True,
                              **TINY).eval()
            if (h, w) == (64, 64):
                assert not torch.allclose(pos(img), got, atol=1e-4)


def test_clipiqa_native_refuses_images_without_a_feature_map():
    m = tiny("clipiqa")
    with pytest.raises(ValueError, match=r"20x97.*>= 32"):
        m(torch.zeros(1, 3, 20, 97, dtype=torch.uint8))
    with pytest.raises(ValueError, match="positional_224 applies to clipiqa only"):
        build_model("ipiqa", 1, S, positional_224=True, **TINY)


TEXT_EXTRAS = {"text.positional_embedding", "text.text_projection"}


def official_trainable(model, qa_token):
    """Our parameter names the official IP-IQA code trains, by its own rule applied to its own names
    (checkpoints.to_official_names): freeze_module() on the modules txt_model and ln_final, and on wte
    without the QA token, turns requires_grad off; on the bare Parameters txt_pos and text_projection
    it turns it on; nothing else is frozen."""
    from agiqa_torch import checkpoints as K

    out = set()
    for ours, _ in model.named_parameters():
        (official,) = K.to_official_names({ours: torch.zeros(1)})
        frozen = official.startswith(("txt_model.", "ln_final.")) or (official == "wte.weight" and not qa_token)
        if not frozen:
            out.add(ours)
    return out


@pytest.mark.parametrize("qa_token", [True, False])
def test_text_tower_trains_as_the_official_code_by_default(qa_token):
    m = build_model("ipiqa", 2, S, qa_token=qa_token, seed=0, **TINY)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == official_trainable(m, qa_token)
    assert TEXT_EXTRAS <= trainable
    frozen = build_model("ipiqa", 2, S, qa_token=qa_token, seed=0, freeze_text_extras=True, **TINY)
    assert {n for n, p in frozen.named_parameters() if p.requires_grad} == trainable - TEXT_EXTRAS


def test_freeze_text_extras_is_ipiqas():
    with pytest.raises(ValueError, match="freeze_text_extras applies to ipiqa only"):
        build_model("resnet50_clip", 1, S, freeze_text_extras=True, **TINY)


def test_full_size_text_extras_are_563712_parameters():
    # 77 x 512 positional embedding + 512 x 1024 projection, the parameters the official code trains
    # beyond ours (issue 9).
    def count(**kw):
        m = build_model("ipiqa", 2, 512, **kw)
        return sum(p.numel() for p in m.parameters() if p.requires_grad)

    assert count() - count(freeze_text_extras=True) == 77 * 512 + 512 * 1024 == 563712


@pytest.mark.parametrize("qa_token", [True, False])
def test_text_tower_frozen_except_token_table(qa_token):
    m = build_model("ipiqa", 2, S, qa_token=qa_token, seed=0, freeze_text_extras=True, **TINY)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    text = {n for n, _ in m.named_parameters() if n.startswith("text.")}
    assert text and len(text) > 5
    assert trainable & text == ({"text.token_embedding.weight"} if qa_token else set())
    assert all(n in trainable for n, _ in m.named_parameters() if n.startswith(("visual.", "text_pool.", "head.")))
    m.train()
    loss = m(images(2), TOKENS).pow(2).sum()
    loss.backward()
    emb = m.text.token_embedding.weight.grad
    if qa_token:
        used = TOKENS.unique()
        assert emb is not None and emb[used].abs().sum() > 0
        unused = torch.ones(emb.shape[0], dtype=torch.bool)
        unused[used] = False
        assert emb[unused].abs().sum() == 0
    else:
        assert emb is None
    assert m.text.transformer.resblocks[0].attn.in_proj_weight.grad is None
    assert m.visual.conv1.weight.grad is not None and m.head[4].weight.grad is not None


def test_ipiqa_full_size_layout():
    # The published sizes (width 64): 512 px input, 16x16 grid, 1024-d features, 2048-wide fusion.
    m = build_model("ipiqa", 2, 512, seed=0)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes["visual.attnpool.positional_embedding"] == (257, 2048)
    assert shapes["visual.attnpool.c_proj.weight"] == (1024, 2048)
    assert m.visual.attnpool.heads == 32
    assert shapes["text_pool.positional_embedding"] == (257, 2048)
    assert shapes["text_pool.q_proj.weight"] == (2048, 1024)
    assert shapes["text_pool.k_proj.weight"] == (2048, 2048)
    assert shapes["text_pool.out_proj.weight"] == (1024, 2048)
    assert m.text_pool.heads == 32
    assert shapes["text.token_embedding.weight"] == (49408, 512)
    assert shapes["text.positional_embedding"] == (77, 512)
    assert shapes["text.text_projection"] == (512, 1024)
    assert len(m.text.transformer.resblocks) == 12 and m.text.transformer.resblocks[0].attn.heads == 8
    kinds = [type(x) for x in m.head]
    assert kinds == [nn.Dropout, nn.Linear, nn.Tanh, nn.Dropout, nn.Linear]
    assert m.head[0].p == 0.5 and m.head[3].p == 0.5
    assert shapes["head.1.weight"] == (2048, 2048) and shapes["head.4.weight"] == (2, 2048)
    counts = {}
    for n, p in m.named_parameters():
        counts[n.split(".")[0]] = counts.get(n.split(".")[0], 0) + p.numel()
    # Both CLIP towers hold OpenAI's published RN50 count (102,007,137 with logit_scale) at 224 px;
    # at 512 px the attention-pool embedding grows by (257 - 50) rows of 2048.
    assert counts["visual"] + counts["text"] + 1 == 102_007_137 + 207 * 2048
    assert counts["text_pool"] == 257 * 2048 + (1024 + 1) * 2048 + 2 * (2048 + 1) * 2048 + (2048 + 1) * 1024
    assert counts["head"] == (2048 + 1) * 2048 + (2048 + 1) * 2


def test_attention_pool_matches_torch_mha():
    torch.manual_seed(0)
    pool = C.AttentionPool2d(grid=3, embed_dim=32, heads=4, output_dim=24)
    fmap = torch.randn(2, 32, 3, 3)
    x = fmap.flatten(2).permute(2, 0, 1)  # HW,N,C as torch's MHA wants
    x = torch.cat([x.mean(0, keepdim=True), x]) + pool.positional_embedding[:, None, :]
    want, _ = F.multi_head_attention_forward(
        x[:1], x, x, 32, 4, None, torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]), None, None,
        False, 0.0, pool.c_proj.weight, pool.c_proj.bias, training=False, need_weights=False,
        use_separate_proj_weight=True, q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight,
        v_proj_weight=pool.v_proj.weight)
    torch.testing.assert_close(pool(fmap), want[0], rtol=1e-5, atol=1e-6)


def test_causal_self_attention_matches_torch_mha():
    torch.manual_seed(0)
    ours = C.SelfAttention(32, 4)
    ref = nn.MultiheadAttention(32, 4)
    ref.load_state_dict(ours.state_dict())  # same parameter names as nn.MultiheadAttention
    x = torch.randn(2, 77, 32)
    mask = torch.full((77, 77), float("-inf")).triu(1)
    want, _ = ref(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), attn_mask=mask, need_weights=False)
    torch.testing.assert_close(ours(x, mask), want.transpose(0, 1), rtol=1e-5, atol=1e-6)


def test_text_feature_is_taken_at_the_end_token():
    torch.manual_seed(0)
    text = C.TextTransformer(width=64, layers=2, embed_dim=16).eval()
    tok = tokens_for([[320, 1125], [1929, 2368, 539, 320]])
    with torch.no_grad():
        x = text.ln_final(text.transformer(text.token_embedding(tok) + text.positional_embedding, text.causal_mask))
        want = torch.stack([x[0, 3], x[1, 5]]) @ text.text_projection
        got = text(tok)
        # Causality: what follows the end token (padding) cannot change the feature.
        tok2 = tok.clone()
        tok2[:, 10] = 999
        got2 = text(tok2)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got2, got)


def test_interpolate_pos_embedding():
    c = 6
    g = torch.arange(49, dtype=torch.float32).reshape(7, 7) // 7  # value = row index
    pos = torch.cat([torch.full((1, c), -5.0), g.reshape(49, 1).expand(49, c)])
    out = C.interpolate_pos_embedding(pos, 16)
    assert out.shape == (257, c)
    torch.testing.assert_close(out[0], pos[0])  # the mean-token row is kept
    grid = out[1:, 0].reshape(16, 16)
    torch.testing.assert_close(grid, grid[:, :1].expand(16, 16))  # rows stay rows (no transposition)
    assert grid[0, 0] < grid[8, 0] < grid[15, 0]
    const = C.interpolate_pos_embedding(torch.ones(50, c), 2)
    torch.testing.assert_close(const, torch.ones(5, c))  # bicubic keeps constants
    torch.testing.assert_close(C.interpolate_pos_embedding(pos, 7), pos)
    with pytest.raises(ValueError, match="square"):
        C.interpolate_pos_embedding(torch.ones(48, c), 2)


def _openai_state(model: C.CLIPRN50):
    """Our CLIPRN50 state dict under OpenAI's key names, stored fp16 like RN50.pt, plus its metadata."""
    state = {}
    for k, v in model.state_dict().items():
        k = k[len("text."):] if k.startswith("text.") else k
        state[k] = v.half() if v.is_floating_point() else v
    state.update(input_resolution=torch.tensor(224), context_length=torch.tensor(77), vocab_size=torch.tensor(49408))
    return state


def test_load_openai_rn50_and_interpolate_to_the_input_size():
    torch.manual_seed(0)
    src = C.CLIPRN50(image_size=224, **TINY).eval()
    state = _openai_state(src)
    for key in ("visual.layer1.0.conv1.weight", "visual.attnpool.positional_embedding",
                "transformer.resblocks.1.attn.in_proj_weight",
                "token_embedding.weight", "positional_embedding", "ln_final.weight", "text_projection", "logit_scale"):
        assert key in state  # the names of OpenAI's archive
    same = C.load_openai_rn50(state, image_size=224).eval()
    assert all(p.dtype == torch.float32 for p in same.parameters())
    # Reference: the source model with its weights rounded through fp16, as the archive stores them.
    rounded = C.CLIPRN50(image_size=224, **TINY).eval()
    rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in src.state_dict().items()})
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(same.encode_text(TOKENS), rounded.encode_text(TOKENS), rtol=0, atol=0)
        torch.testing.assert_close(same.encode_image(x), rounded.encode_image(x), rtol=0, atol=0)
        torch.testing.assert_close(same.logit_scale, rounded.logit_scale, rtol=0, atol=0)
    big = C.load_openai_rn50(state, image_size=512)
    assert big.visual.attnpool.positional_embedding.shape == (257, 8 * 32)
    want = C.interpolate_pos_embedding(state["visual.attnpool.positional_embedding"].float(), 16)
    torch.testing.assert_close(big.visual.attnpool.positional_embedding.data, want)


def test_load_openai_rn50_reports_bad_keys():
    torch.manual_seed(0)
    state = _openai_state(C.CLIPRN50(image_size=224, **TINY))
    del state["ln_final.bias"]
    state["visual.extra.weight"] = torch.zeros(1)
    want = r"missing keys \(1\): text.ln_final.bias.*unexpected keys \(1\): visual.extra.weight"
    with pytest.raises(ValueError, match=want):
        C.load_openai_rn50(state)
    with pytest.raises(ValueError, match="ViT"):
        C.load_openai_rn50({"visual.class_embedding": torch.zeros(4)})


def test_build_with_clip_state_checks_sizes():
    torch.manual_seed(0)
    state = _openai_state(C.CLIPRN50(image_size=224, **TINY))
    m = build_model("ipiqa", 1, S, clip_state=state, **TINY)
    assert m.text_initialised
    torch.testing.assert_close(m.text.ln_final.weight.data, state["ln_final.weight"].float())
    with pytest.raises(ValueError, match="text_layers=3 but the weights have 2"):
        build_model("ipiqa", 1, S, clip_state=state, width=8, text_width=64, text_layers=3)


def test_resnet50_loads_torchvision_weights():
    import torchvision

    ref = torchvision.models.resnet50().eval()
    m = build_model("resnet50", 1, S, clip_state=ref.state_dict()).eval()
    x = images(2)
    with torch.no_grad():
        xn = (x.float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        ref.fc = nn.Identity()
        torch.testing.assert_close(m.image_encoder(x), ref(xn))
    with pytest.raises(ValueError, match="CLIP state dict"):
        build_model("resnet50", 1, S, clip_state={"visual.conv1.weight": torch.zeros(1)})


def test_input_checks_name_model_and_tensor():
    m = tiny("ipiqa")
    with pytest.raises(ValueError, match="ipiqa: input TOKENS is required"):
        m(images(2))
    with pytest.raises(ValueError, match=r"ipiqa: input TOKENS must be \[2, 77\]"):
        m(images(2), TOKENS[:, :10])
    with pytest.raises(ValueError, match="ipiqa: input IMAGE is 32x32"):
        m(images(2, size=32), TOKENS)
    with pytest.raises(ValueError, match="unknown model 'vit'"):
        build_model("vit")
    with pytest.raises(ValueError, match="multiple of 32"):
        build_model("ipiqa", image_size=100)
    with pytest.raises(ValueError, match="num_outputs"):
        build_model("resnet50_clip", 3, S, **TINY)


def test_seed_makes_initialisation_reproducible():
    a = build_model("resnet50_clip", 1, S, seed=5, **TINY)
    b = build_model("resnet50_clip", 1, S, seed=5, **TINY)
    c = build_model("resnet50_clip", 1, S, seed=6, **TINY)
    torch.testing.assert_close(a.head.weight, b.head.weight)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_split_prompt_parts():
    tok = tokens_for([[320, COMMA_TOKEN, 1125, 539, COMMA_TOKEN, 2368], [1929], []])
    parts, present = split_prompt_parts(tok, 4)
    assert present.tolist() == [[True, True, True, False], [True, False, False, False], [False] * 4]
    assert parts[0, :3].tolist() == tokens_for([[320], [1125, 539], [2368]]).tolist()
    assert parts[0, 3].tolist() == tokens_for([[]])[0].tolist()
    assert parts[1, 0].tolist() == tokens_for([[1929]])[0].tolist()
    # More parts than slots: the tail stays together, commas included.
    over, present = split_prompt_parts(tok[:1], 2)
    assert over[0].tolist() == tokens_for([[320], [1125, 539, COMMA_TOKEN, 2368]]).tolist()
    assert present.tolist() == [[True, True]]


def test_split_prompt_parts_equals_tokenizing_each_part():
    tk = pytest.importorskip("agiqa_torch.tokenizer")
    try:
        tk.default_vocab_path()
    except FileNotFoundError as err:
        pytest.skip(f"CLIP vocabulary absent: {err}")
    prompt = "bird, driving aircraft, city, anime style"
    parts, present = split_prompt_parts(tk.tokenize([prompt]), 8)
    want = tk.tokenize([p.strip() for p in prompt.split(",")])
    assert present[0].tolist() == [True] * 4 + [False] * 4
    assert parts[0, :4].tolist() == want.tolist()


def test_without_integral_prompt_text_is_the_mean_of_the_parts():
    m = tiny("ipiqa", 1, integral_prompt=False)
    assert isinstance(m, IPIQA) and not m.integral_prompt
    with torch.no_grad():
        got = m.encode_text(TOKENS)
        want0 = m.text(tokens_for([[320], [1125, 539], [2368]])).mean(0)
        want1 = m.text(tokens_for([[1929]]))[0]
        empty = m.encode_text(tokens_for([[]]))
        out = m(images(2), TOKENS)
    torch.testing.assert_close(got, torch.stack([want0, want1]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(empty, m.text(tokens_for([[]])))
    assert out.shape == (2, 1)
    whole = tiny("ipiqa", 1)
    with torch.no_grad():
        assert not torch.allclose(whole.encode_text(TOKENS)[0], got[0])


def test_image_only_models_have_no_text_encoder():
    with pytest.raises(NotImplementedError, match="resnet50_clip has no text tower"):
        tiny("resnet50_clip").encode_text(TOKENS)
    m = tiny("ipiqa")
    with torch.no_grad():
        assert m.encode_text(TOKENS).shape == (2, 16 * 8)
    assert math.isclose(m.head[0].p, 0.5)


def _torchscript_archive(state, path):
    """A TorchScript file whose state_dict() has exactly these names, as OpenAI's RN50.pt does."""
    root = torch.nn.Module()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        mod = root
        for part in parents:
            if not hasattr(mod, part):
                mod.add_module(part, torch.nn.Module())
            mod = getattr(mod, part)
        if value.is_floating_point():
            mod.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
        else:
            mod.register_buffer(leaf, value.clone())
    torch.jit.save(torch.jit.script(root), str(path))


def test_read_rn50_file_accepts_torchscript_and_state_dict_files(tmp_path):
    torch.manual_seed(0)
    state = _openai_state(C.CLIPRN50(image_size=224, **TINY))
    archive = tmp_path / "RN50.pt"
    _torchscript_archive(state, archive)
    got = C.read_rn50_file(str(archive))
    assert sorted(got) == sorted(state)
    for k, v in state.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
    ref = C.load_openai_rn50(state).state_dict()
    for k, v in C.load_openai_rn50(got).state_dict().items():
        assert torch.equal(v, ref[k]), k

    plain, wrapped = tmp_path / "plain.pt", tmp_path / "wrapped.pt"
    torch.save(state, plain)
    torch.save({"state_dict": state, "epoch": 3}, wrapped)
    for path in (plain, wrapped):
        assert sorted(C.read_rn50_file(str(path))) == sorted(state)


def test_read_rn50_file_names_the_file_it_cannot_read(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt: neither a TorchScript archive .* nor a torch\.save file"):
        C.read_rn50_file(str(junk))
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(ValueError, match=r"list\.pt: holds a list, not a CLIP state dict"):
        C.read_rn50_file(str(listed))
