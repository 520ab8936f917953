"""TransParser's SPS unit (``actseg.layers.SoftPatternStrengthening``) and its parsing rule
(``actseg.postprocess.pattern_boundaries``): TAPOS §5.2, Eq. (1)–(2). No official code exists, so the
tests check the equations on hand-computable inputs and against a literal per-head implementation.
"""
# ruff: noqa: C408  (keyword dict() calls read as the constructor call they describe)

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from actseg.layers import SPS_NORMS, SoftPatternStrengthening
from actseg.losses import global_parse_loss, local_parse_loss
from actseg.postprocess import pattern_boundaries


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _unit(seed: int = 0, dtype=torch.float64, **kw) -> SoftPatternStrengthening:
    torch.manual_seed(seed)
    unit = SoftPatternStrengthening(**{"channels": 6, "num_patterns": 4, **kw}).to(dtype).eval()
    with torch.no_grad():  # non-trivial norms
        for p in unit.parameters():
            if p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=_gen(p.numel() + seed), dtype=dtype))
    return unit


def _hole_mask() -> torch.Tensor:
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 3] = False        # a hole
    mask[1, 7:] = False       # and padding
    mask[2, 0] = False        # a hole at the start
    mask[2, 4:6] = False
    return mask


# ------------------------------------------------------------------------------------------- equations


def _literal(unit: SoftPatternStrengthening, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (1)–(2), the FC and the FFN written out per head and per frame, unfolded."""
    h, d = unit.num_heads, unit.head_channels
    phi = unit.patterns
    out = torch.empty_like(x)
    alphas = torch.empty(x.shape[0], h, x.shape[2], unit.num_patterns, dtype=x.dtype)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            f = x[b, :, t]
            g = unit.norm1(f) if unit.norm == "pre" else f
            heads = []
            for k in range(h):
                rows = slice(k * d, (k + 1) * d)
                w_q, w_k, w_v = unit.query.weight[rows].T, unit.key.weight[rows].T, unit.value.weight[rows].T
                alpha = torch.softmax(unit.scale * (g @ w_q) @ (phi @ w_k).T, dim=0)   # Eq. (1)
                alphas[b, k, t] = alpha
                heads.append(alpha @ (phi @ w_v))                                       # Eq. (2)
            r = unit.fc.weight @ torch.cat(heads) + unit.fc.bias
            y = f + r
            if unit.norm == "post":
                y = unit.norm1(y)
            ffn_in = unit.norm2(y) if unit.norm == "pre" else y
            o = y + unit.ff2.weight @ torch.relu(unit.ff1.weight @ ffn_in + unit.ff1.bias) + unit.ff2.bias
            out[b, :, t] = unit.norm2(o) if unit.norm == "post" else o
    return out, alphas


@pytest.mark.parametrize("norm", SPS_NORMS)
@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("heads", [1, 2, 3])
def test_equals_the_literal_equations(norm, fold, heads):
    unit = _unit(norm=norm, num_heads=heads, head_channels=5, pattern_channels=7)
    unit._fold = fold
    x = torch.randn(2, 6, 5, generator=_gen(1), dtype=torch.float64)
    out, alpha = unit(x)
    ref_out, ref_alpha = _literal(unit, x)
    torch.testing.assert_close(alpha, ref_alpha, rtol=0, atol=1e-12)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)


def test_fold_is_chosen_by_cost():
    assert SoftPatternStrengthening(1024, num_patterns=32)._fold           # 2·C·H·m << 4·C²
    assert not SoftPatternStrengthening(8, num_patterns=64)._fold          # many patterns, narrow heads


def test_single_pattern_by_hand():
    """m = 1: α ≡ 1, so r^(h) = φ W_V^(h) for every frame; ``norm="none"``: f' = y + FFN(y), y = f + r̃."""
    unit = _unit(num_patterns=1, num_heads=2, head_channels=3, norm="none")
    x = torch.randn(2, 6, 4, generator=_gen(2), dtype=torch.float64)
    out, alpha = unit(x)
    assert torch.equal(alpha, torch.ones(2, 2, 4, 1, dtype=torch.float64))
    phi = unit.patterns[0]
    r1 = phi @ unit.value.weight[:3].T
    r2 = phi @ unit.value.weight[3:].T
    r_tilde = unit.fc.weight @ torch.cat([r1, r2]) + unit.fc.bias                  # the same for all frames
    y = x + r_tilde[None, :, None]
    hidden = torch.relu(torch.einsum("fc,bct->bft", unit.ff1.weight, y) + unit.ff1.bias[None, :, None])
    expected = y + torch.einsum("cf,bft->bct", unit.ff2.weight, hidden) + unit.ff2.bias[None, :, None]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_identity_attention_by_hand():
    """W_Q = W_K = W_V = FC = I, φ = I, FFN = 0, scale = s: α_t = softmax(s f_t) and f' = f + α_t."""
    c = 5
    unit = SoftPatternStrengthening(c, num_patterns=c, num_heads=1, scale=3.0, norm="none").double()
    with torch.no_grad():
        eye = torch.eye(c, dtype=torch.float64)
        for lin in (unit.query, unit.key, unit.value, unit.fc):
            lin.weight.copy_(eye)
        unit.fc.bias.zero_()
        unit.patterns.copy_(eye)
        unit.ff2.weight.zero_()
        unit.ff2.bias.zero_()
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    out, alpha = unit(x)
    e = math.exp(3.0)
    first = torch.tensor([e, 1, 1, 1, 1], dtype=torch.float64) / (e + 4)              # softmax(3·[1,0,0,0,0])
    second = torch.tensor([1, math.exp(6.0), 1, 1, 1], dtype=torch.float64) / (math.exp(6.0) + 4)
    torch.testing.assert_close(alpha[0, 0], torch.stack([first, second]), rtol=0, atol=1e-15)
    torch.testing.assert_close(out, x + torch.stack([first, second], 1)[None], rtol=0, atol=1e-15)


def test_default_scale_and_literal_scale():
    assert SoftPatternStrengthening(8).scale == pytest.approx(1 / math.sqrt(4))
    assert SoftPatternStrengthening(8, head_channels=16).scale == pytest.approx(0.25)
    assert SoftPatternStrengthening(8, scale=1.0).scale == 1.0


def test_parameter_count_and_defaults():
    unit = SoftPatternStrengthening(16)
    assert unit.patterns.shape == (32, 16) and unit.num_heads == 2 and unit.head_channels == 8
    assert unit.ff_channels == 16 and unit.norm == "post"
    expected = 32 * 16 + 3 * 16 * 16 + (16 * 16 + 16) + 2 * (16 * 16 + 16) + 4 * 16
    assert sum(p.numel() for p in unit.parameters()) == expected
    assert not hasattr(SoftPatternStrengthening(16, norm="none"), "norm1")


# -------------------------------------------------------------------------------- masks and padding


@pytest.mark.parametrize("norm", SPS_NORMS)
def test_padded_batch_equals_per_video(norm):
    unit = _unit(norm=norm, dtype=torch.float32)
    x = torch.randn(3, 6, 9, generator=_gen(3))
    mask = _hole_mask()
    x_bad = x.masked_fill(~mask[:, None], float("nan"))        # padded values must not enter
    out, alpha = unit(x_bad, mask)
    for b in range(3):
        keep = mask[b]
        alone, alone_alpha = unit(x[b:b + 1, :, keep])          # the valid frames as one video
        torch.testing.assert_close(out[b][:, keep], alone[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(alpha[b][:, keep], alone_alpha[0], rtol=0, atol=1e-6)
    assert torch.equal(out.masked_select(~mask[:, None]), torch.zeros(int((~mask).sum()) * 6))
    assert torch.equal(alpha.masked_select(~mask[:, None, :, None]), torch.zeros(int((~mask).sum()) * 2 * 4))
    # no gradient reaches padded frames, and NaN there does not poison the valid gradients
    x_bad.requires_grad_(True)
    out, alpha = unit(x_bad, mask)
    (out.sum() + alpha.square().sum()).backward()
    assert torch.isfinite(x_bad.grad).all()
    assert torch.equal(x_bad.grad.masked_select(~mask[:, None]), torch.zeros(int((~mask).sum()) * 6))
    assert all(torch.isfinite(p.grad).all() for p in unit.parameters())


def test_all_valid_mask_equals_no_mask():
    unit = _unit(dtype=torch.float32)
    x = torch.randn(2, 6, 7, generator=_gen(4))
    a = unit(x)
    b = unit(x, torch.ones(2, 7, dtype=torch.bool))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("norm", SPS_NORMS)
def test_gradcheck_float64(norm):
    unit = _unit(norm=norm, num_patterns=3, head_channels=2, ff_channels=4)
    x = torch.randn(2, 6, 4, generator=_gen(5), dtype=torch.float64, requires_grad=True)
    phi = unit.patterns.detach().clone().requires_grad_(True)
    mask = torch.tensor([[True, False, True, True], [True, True, True, False]])

    def run(x, phi):
        out, alpha = torch.func.functional_call(unit, {"patterns": phi}, (x, mask))
        return out, alpha

    assert torch.autograd.gradcheck(run, (x, phi))


def test_meta_tensors_give_the_shapes():
    unit = SoftPatternStrengthening(8, num_patterns=5, num_heads=4).to("meta")
    x = torch.empty(3, 8, 11, device="meta")
    for mask in (None, torch.ones(3, 11, dtype=torch.bool), torch.ones(3, 11, dtype=torch.bool, device="meta")):
        out, alpha = unit(x, mask)
        assert out.is_meta and out.shape == (3, 8, 11)
        assert alpha.is_meta and alpha.shape == (3, 4, 11, 5)


def test_half_precision_keeps_dtype_under_autocast():
    unit = SoftPatternStrengthening(8, num_patterns=5)
    x = torch.randn(2, 8, 6, generator=_gen(6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, alpha = unit(x, torch.ones(2, 6, dtype=torch.bool))
    assert torch.isfinite(out.float()).all() and alpha.shape == (2, 2, 6, 5)
    ref, _ = unit(x)
    torch.testing.assert_close(out.float(), ref, rtol=0.1, atol=0.1)


def test_dropout_trains_and_eval_is_deterministic():
    unit = SoftPatternStrengthening(8, num_patterns=5, dropout=0.5)
    x = torch.randn(2, 8, 6, generator=_gen(7))
    unit.eval()
    assert torch.equal(unit(x)[0], unit(x)[0])
    unit.train()
    torch.manual_seed(0)
    a = unit(x)[0]
    torch.manual_seed(1)
    assert not torch.equal(a, unit(x)[0])


def test_shared_pattern_bank():
    one, two = SoftPatternStrengthening(8), SoftPatternStrengthening(8)
    two.patterns = one.patterns
    x = torch.randn(1, 8, 5, generator=_gen(8))
    out, _ = one(x)
    (two(out)[0].sum()).backward()
    assert one.patterns.grad is not None and one.patterns.grad.abs().sum() > 0


# ------------------------------------------------------------------------------- fit with the losses


def test_attention_feeds_the_parse_losses():
    """Two stacked units as TransParser (Fig. 5): α' of the second unit -> local loss, f'' -> global loss."""
    torch.manual_seed(0)
    first, second = SoftPatternStrengthening(8, num_patterns=6), SoftPatternStrengthening(8, num_patterns=6)
    classifier = torch.nn.Conv1d(8, 3, 1)
    x = torch.randn(2, 8, 10, generator=_gen(9))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 4] = False
    mask[1, 8:] = False
    segment_ids = torch.tensor([[0, 0, 0, 1, 1, 1, 2, 2, 2, 2], [0, 0, 1, 1, 1, 1, 1, 2, 0, 0]])
    f1, _ = first(x, mask)
    f2, alpha = second(f1, mask)
    response = alpha.mean(1)                                                   # (B, T, m)
    local = local_parse_loss(response, segment_ids, mask)
    glob = global_parse_loss(classifier(f2), torch.tensor([0, 2]), mask)
    (local + glob).backward()
    assert first.patterns.grad.abs().sum() > 0 and second.patterns.grad.abs().sum() > 0
    # the local loss by hand for video 0 (no padding): mean pair distances within / across sub-actions
    a = response[0].detach()
    dist = torch.cdist(a, a)
    same = segment_ids[0][:, None] == segment_ids[0][None]
    sim = dist[same & ~torch.eye(10, dtype=torch.bool)].mean()
    dissim = dist[~same].mean()
    per_video = local_parse_loss(response.detach(), segment_ids, mask, reduction="none")
    torch.testing.assert_close(per_video[0], (sim + 1.0) / (dissim + 1e-6))
    # the concatenated heads fit the same layout
    flat = alpha.detach().transpose(1, 2).flatten(2)
    assert flat.shape == (2, 10, 12)
    assert torch.isfinite(local_parse_loss(flat, segment_ids, mask))
    # inference on the same attention
    assert len(pattern_boundaries(response.detach(), mask)) == 2


# ---------------------------------------------------------------------------------- pattern_boundaries


def _loop_boundaries(alpha: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    """The rule of §5.2 written as a loop over the valid frames of each video."""
    out = []
    for a, m in zip(alpha, mask):
        starts, last = [], None
        for t in range(len(a)):
            if not m[t]:
                continue
            k = int(np.argmax(a[t]))
            if last is not None and k != last:
                starts.append(t)
            last = k
        out.append(starts)
    return out


def test_pattern_boundaries_by_hand():
    alpha = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9], [0.6, 0.2, 0.2]])
    assert pattern_boundaries(alpha).tolist() == [1, 3, 4]
    assert pattern_boundaries(alpha[:1]).tolist() == []
    assert pattern_boundaries(np.zeros((0, 3))).tolist() == []
    # ties: the first maximal pattern, as argmax
    assert pattern_boundaries(np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])).tolist() == [2]
    # a hole: frame 3 is compared with frame 1 (same pattern), frame 4 starts a new one
    holed = np.eye(3)[[0, 1, 2, 1, 0]]
    assert pattern_boundaries(holed).tolist() == [1, 2, 3, 4]
    assert pattern_boundaries(holed, np.array([True, True, False, True, True])).tolist() == [1, 4]
    assert pattern_boundaries(alpha, np.array([False, True, True, True, False])).tolist() == [3]


def test_pattern_boundaries_batched_equals_loop():
    rng = np.random.default_rng(0)
    alpha = rng.random((5, 40, 3))
    alpha[:, 10:20] = [0.0, 1.0, 0.0]                    # a run
    mask = rng.random((5, 40)) > 0.3                     # holes everywhere
    mask[0] = True
    mask[1] = False                                      # a video without valid frames
    mask[2, 30:] = False                                 # plus padding
    expected = _loop_boundaries(alpha, mask)
    got = pattern_boundaries(alpha, mask)
    assert [g.tolist() for g in got] == expected
    assert all(isinstance(g, np.ndarray) and g.dtype == np.int64 for g in got)
    got_t = pattern_boundaries(torch.from_numpy(alpha), torch.from_numpy(mask))
    assert [g.tolist() for g in got_t] == expected
    assert all(isinstance(g, torch.Tensor) and g.dtype == torch.int64 for g in got_t)
    # per video equals batched
    for b in range(5):
        assert pattern_boundaries(alpha[b], mask[b]).tolist() == expected[b]
    assert [g.tolist() for g in pattern_boundaries(alpha)] == _loop_boundaries(alpha, np.ones((5, 40), bool))


def test_pattern_boundaries_inputs():
    alpha = torch.rand(2, 6, 3, generator=_gen(10))
    # float16 / bfloat16 and tensors that require grad
    assert [g.tolist() for g in pattern_boundaries(alpha.half())] == [
        g.tolist() for g in pattern_boundaries(alpha.half().float())]
    assert len(pattern_boundaries(alpha.requires_grad_(True))) == 2
    for bad, err, msg in [
        (torch.rand(6), ValueError, r"^attention: expected shape \(T, M\) or \(B, T, M\)"),
        (torch.rand(2, 6, 0), ValueError, r"^attention: expected M >= 1"),
        (torch.full((2, 6, 3), float("nan")), ValueError, r"^attention: expected finite"),
        (torch.ones(2, 6, 3, dtype=torch.long), TypeError, r"^attention: expected a floating"),
        (torch.rand(2, 6, 3, device="meta"), TypeError, r"^attention: expected a tensor with values"),
        ("abc", TypeError, r"^attention:"),
    ]:
        with pytest.raises(err, match=msg):
            pattern_boundaries(bad)
    with pytest.raises(TypeError, match=r"^mask: expected dtype bool"):
        pattern_boundaries(alpha.detach(), torch.ones(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^mask: expected shape"):
        pattern_boundaries(alpha.detach(), torch.ones(2, 5, dtype=torch.bool))


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("kwargs, err, msg", [
    (dict(channels=0), ValueError, r"^channels: expected an integer >= 1"),
    (dict(channels=8, num_patterns=0), ValueError, r"^num_patterns:"),
    (dict(channels=8, num_patterns=2.5), TypeError, r"^num_patterns:"),
    (dict(channels=8, pattern_channels=True), TypeError, r"^pattern_channels:"),
    (dict(channels=4, num_heads=8), ValueError, r"^num_heads: expected at most channels = 4"),
    (dict(channels=8, head_channels=-1), ValueError, r"^head_channels:"),
    (dict(channels=8, ff_channels=10**30), ValueError, r"^ff_channels:"),
    (dict(channels=8, scale=0.0), ValueError, r"^scale: expected"),
    (dict(channels=8, scale=float("nan")), ValueError, r"^scale:"),
    (dict(channels=8, norm="layer"), ValueError, r"^norm:"),
    (dict(channels=8, dropout=1.0), ValueError, r"^dropout:"),
    (dict(channels=2**16, num_patterns=2**16), ValueError, r"^channels, num_patterns, .*parameters"),
])
def test_constructor_bad_input(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        SoftPatternStrengthening(**kwargs)


def test_constructor_accepts_numpy_integers():
    unit = SoftPatternStrengthening(np.int64(8), num_patterns=np.int32(3), scale=np.float32(0.5))
    assert unit.num_patterns == 3 and isinstance(unit.num_patterns, int)


@pytest.mark.parametrize("x, mask, err, msg", [
    (torch.randn(2, 8), None, ValueError, r"^x: expected shape \(B, 8, T\)"),
    (torch.randn(2, 7, 5), None, ValueError, r"^x: expected shape \(B, 8, T\)"),
    (torch.ones(2, 8, 5, dtype=torch.long), None, TypeError, r"^x: expected a floating dtype"),
    (torch.randn(2, 8, 5).double(), None, TypeError, r"^x: expected dtype torch.float32"),
    (torch.randn(2, 8, 5), torch.ones(2, 4, dtype=torch.bool), ValueError, r"^mask: expected shape"),
    (torch.randn(2, 8, 5), torch.ones(2, 5), TypeError, r"^mask: expected dtype torch.bool"),
    (torch.randn(2, 8, 5, device="meta"), None, TypeError, r"^x: expected a tensor on cpu"),
    (torch.randn(2, 8, 5), torch.ones(2, 5, dtype=torch.bool, device="meta"), TypeError, r"^mask: expected"),
    (np.zeros((2, 8, 5), np.float32), None, TypeError, r"^x: expected a torch.Tensor"),
])
def test_forward_bad_input(x, mask, err, msg):
    unit = SoftPatternStrengthening(8, num_patterns=3)
    with pytest.raises(err, match=msg):
        unit(x, mask)


def test_output_is_finite_for_a_zero_input_with_post_norm():
    unit = SoftPatternStrengthening(8, num_patterns=3)
    out, alpha = unit(torch.zeros(1, 8, 4))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(alpha, torch.full((1, 2, 4, 3), 1 / 3))


@pytest.mark.slow
def test_torch_compile_fullgraph_equals_eager():
    """Issue 11 §4: no graph break (no data-dependent branch in forward), same numbers as eager mode."""
    torch.manual_seed(0)
    unit = SoftPatternStrengthening(16, num_patterns=5).eval()
    compiled = torch.compile(unit, fullgraph=True)
    x = torch.randn(2, 16, 9, generator=_gen(11))
    mask = _hole_mask()[1:]
    with torch.no_grad():
        for m in (mask, None):
            for got, want in zip(compiled(x, m), unit(x, m)):
                torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
