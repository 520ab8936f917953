# ruff: noqa: C408  (keyword dict() calls read as the call they describe)
"""InterAct's MFAI (§3.3, eq. 4–5) and its multi-scale extractor (``actseg.layers._mfai``).

InterAct has no public code, so the values are checked against the paper's equations written out by hand
on inputs where every step is computable (identity blocks, a single coarse frame, uniform attention), plus
the invariants every actseg layer keeps: padded batch = per-video runs, no influence of padded values, and
float64 gradients.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from actseg.layers import MFAI, MultiScaleEncoderDecoder, MultiScaleFeatures, _common
from actseg.layers._mfai import downsample_mask, upsample_linear

# ------------------------------------------------------------------------------------------ helpers


def test_downsample_mask_by_hand():
    mask = torch.tensor([[True, True, False, False, True], [False, True, False, False, False]])
    assert downsample_mask(mask).tolist() == [[True, False, True], [True, False, False]]
    # a prefix of L valid frames keeps ceil(L / 2) whatever the padded length (the paper's T^(u))
    for padded in (9, 10):
        for length in range(padded + 1):
            prefix = torch.arange(padded).unsqueeze(0) < length
            assert int(downsample_mask(prefix).sum()) == math.ceil(length / 2)
            assert downsample_mask(prefix).shape == (1, math.ceil(padded / 2))


@pytest.mark.parametrize("length", [13, 14])
def test_upsample_equals_interpolate_without_mask(length):
    x = torch.randn(2, 3, 7, dtype=torch.float64)
    expected = F.interpolate(x, scale_factor=2.0, mode="linear", align_corners=False)[..., :length]
    torch.testing.assert_close(upsample_linear(x, None, length), expected, rtol=0, atol=1e-12)


def test_upsample_masked_renormalises_and_equals_the_video_alone():
    x = torch.tensor([[[2.0, 6.0, 0.0, 0.0]]])
    m = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    # fine frames 0..3 of a video whose coarse frames are [2, 6]: 2, 3, 5, 6 (the last one repeats)
    assert upsample_linear(x, m, 4).tolist() == [[[2.0, 3.0, 5.0, 6.0]]]
    assert upsample_linear(x[..., :2], None, 4).tolist() == [[[2.0, 3.0, 5.0, 6.0]]]
    # a hole: coarse frame 1 invalid, every fine frame reads only its valid neighbours (fine frames 2 and 3,
    # the children of the hole, are invalid and masked by the caller)
    hole = upsample_linear(torch.tensor([[[4.0, 0.0, 8.0]]]), torch.tensor([[[1.0, 0.0, 1.0]]]), 6)
    assert hole.tolist() == [[[4.0, 4.0, 4.0, 8.0, 8.0, 8.0]]]


# ------------------------------------------------------------------------------------------ extractor


def _identity_extractor(fusion="add", num_scales=2):
    """Two copies of one input channel, every block the identity: ``E_u = x[::2^u]`` (centre tap), decoder
    ``Up(·) + E_u`` (the ASFormer and convolution blocks add ``W_{1×1} h = 0`` to their input)."""
    ext = MultiScaleEncoderDecoder(1, 2, num_scales=num_scales, fusion=fusion).eval()
    with torch.no_grad():
        for p in ext.parameters():
            p.zero_()
        ext.conv_in.weight.fill_(1.0)
        for level in ext.encoder:
            level.downsample.weight[:, 0, 1] = 1.0      # centre tap: frame 2j
        for level in ext.decoder:
            if level.fuse is not None:
                for c in range(2):
                    level.fuse.weight[c, c] = level.fuse.weight[c, 2 + c] = 1.0   # [Up ‖ E] -> Up + E
    return ext


@pytest.mark.parametrize("fusion", ["add", "concat"])
def test_extractor_by_hand(fusion):
    ext = _identity_extractor(fusion)
    x = torch.arange(5.0).view(1, 1, 5)
    out = ext(x)
    assert isinstance(out, MultiScaleFeatures) and out.masks == [None, None, None]
    e1, e2 = [0.0, 2.0, 4.0], [0.0, 4.0]
    up2 = [0.0, 1.0, 3.0]                                # Up([0, 4]) cut to 3 frames
    d1 = [a + b for a, b in zip(up2, e1)]                # [0, 3, 7]
    up1 = [0.0, 0.75, 2.25, 4.0, 6.0]                    # Up([0, 3, 7]) cut to 5 frames
    d0 = [a + b for a, b in zip(up1, range(5))]
    assert [f[0, 0].tolist() for f in out.features] == [e2, d1, d0]
    assert all(torch.equal(f[:, 0], f[:, 1]) for f in out.features)
    # the same video padded to 8 frames (and a hole that leaves T^(u) unchanged) gives the same values
    padded = torch.cat([x, torch.full((1, 1, 3), 9.0)], dim=2)
    mask = torch.arange(8).unsqueeze(0) < 5
    out = ext(padded, mask)
    assert [m.sum().item() for m in out.masks] == [2, 3, 5]
    for got, want in zip(out.features, [e2, d1, d0]):
        assert got[0, 0].tolist()[:len(want)] == want and not got[..., len(want):].any()


def test_extractor_lengths_and_masks():
    ext = MultiScaleEncoderDecoder(3, 4, num_scales=4).eval()
    for t in (1, 5, 16, 37):
        out = ext(torch.randn(2, 3, t), torch.ones(2, t, dtype=torch.bool))
        assert [f.shape for f in out.features] == [(2, 4, math.ceil(t / 2**u)) for u in range(4, -1, -1)]
        assert [m.shape for m in out.masks] == [(2, math.ceil(t / 2**u)) for u in range(4, -1, -1)]
    assert MultiScaleEncoderDecoder(3, 4, num_scales=3).encoder[2].block.attention.block_size == 8
    assert MultiScaleEncoderDecoder(3, 4, num_scales=3, block_size=4).encoder[0].block.attention.block_size == 4


# ------------------------------------------------------------------------------------------ eq. 4-5 by hand


def _ln(x):
    return F.layer_norm(x, x.shape[-1:])


def _uniform_self_attention(mha, q):
    """``nn.MultiheadAttention`` with zero key projection (one head): every token reads the mean value."""
    d = q.shape[-1]
    wv, bv = mha.in_proj_weight[2 * d:], mha.in_proj_bias[2 * d:]
    mean = (q @ wv.T + bv).mean(dim=-2, keepdim=True)
    return (mean @ mha.out_proj.weight.T + mha.out_proj.bias).expand_as(q)


def test_eq4_eq5_by_hand_single_coarse_frame_uniform_attention():
    """T = 4 and 2 scales: X̂_0 has ONE frame, so the QBlock's cross-attention reads exactly that frame;
    zero key projections make the self-attention and the FBlock attention uniform. Q^1, F^1 and P^1 are
    then written out from eq. 4–5 with the module's own weights."""
    torch.manual_seed(0)
    model = MFAI(3, num_classes=2, channels=4, num_scales=2, num_interaction_scales=2, num_heads=1,
                 ff_channels=6, num_frame_layers=1).double().eval()
    qb, fa_upd, fb_upd = model.query_updates[0], model.action_updates[0], model.boundary_updates[0]
    with torch.no_grad():
        qb.self_attn.in_proj_weight[4:8] = 0.0
        qb.self_attn.in_proj_bias[4:8] = 0.0
        for upd in (fa_upd, fb_upd):
            upd.key.weight.zero_()
            upd.key.bias.zero_()
    x = torch.randn(1, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
        feats = model.extractor(x).features
        assert feats[0].shape[-1] == 1                                   # X̂_0: a single frame
        fa0 = model.action_block[0](feats[-1]).transpose(1, 2)           # F_a^0 (1, T, D)
        fb0 = model.boundary_block[0](feats[-1]).transpose(1, 2)
        q0 = model.queries.unsqueeze(0)                                  # [Q_a^0; Q_b^0] (1, A + 1, D)
        # eq. 4: Q^1 = MLP(CAttn(SAttn(Q_a^0, Q_b^0), X̂_0))
        t = _ln(q0 + _uniform_self_attention(qb.self_attn, q0))
        ca = qb.cross_attn
        frame = feats[0].transpose(1, 2)                                 # (1, 1, D)
        read = (frame @ ca.in_proj_weight[8:].T + ca.in_proj_bias[8:]) @ ca.out_proj.weight.T + ca.out_proj.bias
        t = _ln(t + read)                                                # one key: softmax weight 1
        q1 = _ln(t + qb.linear2(F.relu(qb.linear1(t))))
        # eq. 5: F^1 = [CAttn(F_a^0, Q^1), CAttn(F_b^0, Q^1)], uniform weights over the A + 1 queries

        def fblock(upd, f0):
            mean_value = (q1 @ upd.value.weight.T + upd.value.bias).mean(dim=1, keepdim=True)
            return torch.cat([f0, mean_value.expand(-1, f0.shape[1], -1)], dim=-1) @ upd.out.weight.T + upd.out.bias

        fa1, fb1 = fblock(fa_upd, fa0), fblock(fb_upd, fb0)
    torch.testing.assert_close(out.action_logits[0], q0[:, :2] @ fa0.transpose(1, 2), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.boundary_logits[0], q0[:, 2:] @ fb0.transpose(1, 2), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.action_logits[1], q1[:, :2] @ fa1.transpose(1, 2), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.boundary_logits[1], q1[:, 2:] @ fb1.transpose(1, 2), rtol=0, atol=1e-12)
    assert not out.attention_logits[0].any()                             # zero keys: all scores 0
    torch.testing.assert_close(out.action_probs, torch.softmax(out.action_logits, dim=2))
    torch.testing.assert_close(out.boundary_probs, torch.sigmoid(out.boundary_logits))
    torch.testing.assert_close(out.logits, out.action_logits[-1])


def test_stages_read_the_decoder_scales_coarse_to_fine():
    """Stage r's QBlock reads X̂_{r−1} (the (H + 1 − r)-th last decoder output), written out with the blocks."""
    torch.manual_seed(1)
    model = MFAI(5, num_classes=3, channels=8, num_scales=4, num_interaction_scales=3, num_heads=2).eval()
    x = torch.randn(2, 5, 29)
    mask = torch.ones(2, 29, dtype=torch.bool)
    mask[1, 20:] = False
    with torch.no_grad():
        out = model(x, mask)
        feats, masks = model.extractor(x, mask)
        assert len(feats) == 5
        fa, fb = feats[-1], feats[-1]
        for layer in model.action_block:
            fa = layer(fa, mask)
        for layer in model.boundary_block:
            fb = layer(fb, mask)
        fa, fb = fa.transpose(1, 2), fb.transpose(1, 2)
        q = model.queries.expand(2, -1, -1)
        for r in range(3):
            xr = feats[1 + r]                                           # X̂_r of [X̂_0..X̂_3] = feats[1:]
            assert xr.shape[-1] == math.ceil(29 / 2 ** (3 - r))
            q = model.query_updates[r](q, xr.transpose(1, 2), frame_mask=masks[1 + r])
            fa, logits = model.action_updates[r](q, fa, y_mask=mask)
            fb, _ = model.boundary_updates[r](q, fb, y_mask=mask)
            torch.testing.assert_close(out.action_logits[r + 1], q[:, :3] @ fa.transpose(1, 2))
            torch.testing.assert_close(out.boundary_logits[r + 1], q[:, 3:] @ fb.transpose(1, 2))
            torch.testing.assert_close(out.attention_logits[r], logits)


# ------------------------------------------------------------------------------------------ padding


def _mask(holes):
    """Lengths 23, 18, 10: even lengths at some level (18 → 9, 10 → 5 → 3 → 2), where a padded video's last
    fine frame reads the coarse frame after its end (the up-sampling must renormalise)."""
    mask = torch.ones(3, 23, dtype=torch.bool)
    mask[1, 18:] = False
    mask[2, 10:] = False
    if holes:
        mask[0, 3:6] = False
        mask[2, 4] = False
    return mask


def _per_video(model, x, mask):
    outs = []
    for b in range(x.shape[0]):
        n = int(mask[b].nonzero().max()) + 1
        outs.append((n, model(x[b:b + 1, :, :n], mask[b:b + 1, :n])))
    return outs


def _assert_same(out, outs):
    for b, (n, one) in enumerate(outs):
        torch.testing.assert_close(out.logits[b:b + 1, :, :n], one.logits, rtol=1e-5, atol=1e-5)
        for field in ("action_logits", "boundary_logits", "action_probs", "boundary_probs"):
            torch.testing.assert_close(getattr(out, field)[:, b:b + 1, :, :n], getattr(one, field),
                                       rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.attention_logits[:, b:b + 1, :n], one.attention_logits, rtol=1e-5, atol=1e-5)
        assert not out.logits[b, :, n:].any() and not out.action_probs[:, b, :, n:].any()
        assert not out.boundary_probs[:, b, :, n:].any() and not out.attention_logits[:, b, n:].any()


@pytest.mark.parametrize("ragged", [True, False])
@pytest.mark.parametrize("holes", [False, True])
@pytest.mark.parametrize(("fusion", "probability"), [("add", "softmax"), ("concat", "sigmoid")])
def test_padded_batch_equals_per_video(ragged, holes, fusion, probability, monkeypatch):
    monkeypatch.setattr(_common, "RAGGED_CPU", ragged)
    torch.manual_seed(2)
    model = MFAI(6, num_classes=4, channels=8, num_scales=3, num_interaction_scales=3, num_heads=2,
                 fusion=fusion, action_probability=probability).eval()
    mask = _mask(holes)
    x = torch.randn(3, 6, 23) * mask.unsqueeze(1)
    with torch.no_grad():
        out = model(x, mask)
        _assert_same(out, _per_video(model, x, mask))
        # values at padded frames and in holes have no influence
        garbage = torch.where(mask.unsqueeze(1), x, torch.full_like(x, 1e3))
        for a, b in zip(model(garbage, mask), out):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(model(x, torch.ones(3, 23, dtype=torch.bool)), model(x))


def test_extractor_padded_equals_per_video(monkeypatch):
    torch.manual_seed(3)
    ext = MultiScaleEncoderDecoder(4, 8, num_scales=3).eval()
    mask = _mask(holes=True)
    x = torch.randn(3, 4, 23) * mask.unsqueeze(1)
    with torch.no_grad():
        out = ext(x, mask)
        for b in range(3):
            n = int(mask[b].nonzero().max()) + 1
            one = ext(x[b:b + 1, :, :n], mask[b:b + 1, :n])
            for f, g, m, k in zip(out.features, one.features, out.masks, one.masks):
                torch.testing.assert_close(f[b:b + 1, :, :g.shape[-1]], g, rtol=1e-5, atol=1e-5)
                assert torch.equal(m[b:b + 1, :k.shape[-1]], k) and not m[b, k.shape[-1]:].any()
                assert not f[b, :, g.shape[-1]:].any()


# ------------------------------------------------------------------------------------------ gradients, sizes


def test_gradcheck_float64(monkeypatch):
    monkeypatch.setattr(_common, "RAGGED_CPU", False)
    torch.manual_seed(4)
    model = MFAI(2, num_classes=2, channels=4, num_scales=2, num_interaction_scales=2, num_heads=2,
                 num_frame_layers=1).double().eval()
    mask = torch.tensor([[True] * 7, [True, True, False, True, True, False, False]])
    x = (torch.randn(2, 2, 7, dtype=torch.float64) * mask.unsqueeze(1)).requires_grad_()

    def run(x):
        out = model(x, mask)
        return out.action_logits, out.boundary_probs, out.attention_logits

    # fast mode: the Jacobian against finite differences along random directions (the full Jacobian costs minutes)
    assert torch.autograd.gradcheck(run, (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    run(x)[0].sum().backward()
    assert not x.grad[1, :, ~mask[1]].any() and x.grad[1, :, mask[1]].abs().sum() > 0
    assert model.queries.grad is None or model.queries.grad.isfinite().all()


def test_training_backward_keeps_padding_zero():
    torch.manual_seed(5)
    model = MFAI(3, num_classes=3, channels=8, num_scales=2, num_heads=2, num_interaction_scales=2,
                 dropout=0.2).train()
    mask = _mask(holes=True)
    out = model(torch.randn(3, 3, 23), mask)
    (out.action_probs.sum() + out.boundary_probs.sum() + out.logits.pow(2).sum()).backward()
    assert not out.logits.masked_fill(mask.unsqueeze(1), 0).any()
    assert all(p.grad is not None and bool(p.grad.isfinite().all()) for p in model.parameters())


@pytest.mark.parametrize(("t", "scales", "h"), [(1, 3, 3), (5, 4, 2), (16, 2, 0), (37, 6, 6)])
def test_shapes(t, scales, h):
    model = MFAI(3, num_classes=4, channels=8, num_scales=scales, num_interaction_scales=h, num_heads=2).eval()
    out = model(torch.randn(2, 3, t))
    assert out.logits.shape == (2, 4, t) and out.action_logits.shape == (h + 1, 2, 4, t)
    assert out.boundary_logits.shape == out.boundary_probs.shape == (h + 1, 2, 1, t)
    assert out.attention_logits.shape == (h, 2, t, 5)
    assert bool(out.action_probs.sum(dim=2).sub(1).abs().max() < 1e-5)
    meta = model.to("meta")(torch.randn(2, 3, t, device="meta"), torch.ones(2, t, dtype=torch.bool, device="meta"))
    assert [tuple(f.shape) for f in meta] == [tuple(f.shape) for f in out]


def test_defaults_follow_the_paper():
    model = MFAI(2048, num_classes=48)
    assert model.extractor.num_scales == 6 and model.num_interaction_scales == 3
    assert len(model.query_updates) == len(model.action_updates) == len(model.boundary_updates) == 3
    assert model.queries.shape == (49, 64)


# ------------------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(num_interaction_scales=4), ValueError, r"num_interaction_scales: expected an integer >= 0 and <= 3, got 4"),
    (dict(kernel_size=4), ValueError, r"kernel_size: expected an odd integer >= 1, got 4"),
    (dict(num_heads=3), ValueError, r"num_heads: expected a divisor of channels = 8, got 3"),
    (dict(fusion="sum"), ValueError, r"fusion: expected one of 'add', 'concat', got 'sum'"),
    (dict(action_probability=1), TypeError, r"action_probability: expected one of"),
    (dict(channels=1), ValueError, r"channels: expected an integer >= 2"),
    (dict(num_frame_layers=-1), ValueError, r"num_frame_layers: expected an integer"),
    (dict(block_size=2.0), TypeError, r"block_size: expected an integer"),
])
def test_bad_constructor_arguments(kwargs, error, message):
    base = dict(in_channels=4, num_classes=3, channels=8, num_scales=3, num_heads=2)
    with pytest.raises(error, match=message):
        MFAI(**{**base, **kwargs})


@pytest.mark.parametrize("module", ["mfai", "extractor"])
def test_bad_forward_inputs(module):
    model = (MFAI(4, 3, channels=8, num_scales=2, num_interaction_scales=2, num_heads=2) if module == "mfai"
             else MultiScaleEncoderDecoder(4, 8, num_scales=2))
    x = torch.randn(2, 4, 10)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, 4, T\), got \(4, 10\)"):
        model(x[0])
    with pytest.raises(ValueError, match=r"x: expected shape \(B, 4, T\), got \(2, 5, 10\)"):
        model(torch.randn(2, 5, 10))
    with pytest.raises(ValueError, match=r"mask: expected shape \(B, T\) = \(2, 10\), got \(2, 9\)"):
        model(x, torch.ones(2, 9, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"mask: expected dtype torch\.bool, got torch\.float32"):
        model(x, torch.ones(2, 10))
    with pytest.raises(TypeError, match=r"x: expected a floating dtype, got torch\.int64"):
        model(x.long())
    with pytest.raises(TypeError, match=r"x: expected dtype torch\.float32 \(the module's parameters\)"):
        model(x.double())
