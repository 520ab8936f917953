"""FACT's frame–action blocks (``CrossAttentionUpdate``, ``ActionTokenDecoderLayer``, ``TokenSelfAttentionLayer``).

``tests/data/fact/fact.pt`` holds the outputs of FACT's own ``X2Y_map``, ``SCALayer`` and ``SALayer`` on one
unpadded video (``tests/data/fact/README.md``); our modules load the state dicts through
``actseg.io.convert_state_dict(sd, "fact")`` with ``strict=True`` and match to 1e-5 (float32) / 1e-9 (float64).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from actseg.io import CHECKPOINT_SOURCES, convert_state_dict
from actseg.layers import ActionTokenDecoderLayer, CrossAttentionUpdate, TokenSelfAttentionLayer, _common
from actseg.layers._interaction import attention, attention_orders

DATA = Path(__file__).parent / "data" / "fact"
TOLERANCE = {"float32": 1e-5, "float64": 1e-9}
REFERENCE = torch.load(DATA / "fact.pt", weights_only=True)
CASES = sorted(REFERENCE["float32"])


def _seq(x):
    """FACT's sequence-first ``(L, 1, C)`` -> ours ``(1, L, C)``."""
    return x.transpose(0, 1)


def _reference_module(name, case, dtype):
    args = case["args"]
    if name.startswith("x2y"):
        cx, cy, co, head, kq_pos = args
        module = CrossAttentionUpdate(cx, cy, co, head, positional=kq_pos)
    elif name.startswith("sca"):
        module = ActionTokenDecoderLayer(*args)
    else:
        module = TokenSelfAttentionLayer(*args)
    module = module.to(dtype)
    module.load_state_dict(convert_state_dict(case["state_dict"], "fact"), strict=True)
    return module.eval()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_matches_fact(name, dtype):
    case = REFERENCE[dtype][name]
    module = _reference_module(name, case, getattr(torch, dtype))
    inp = {k: _seq(v) for k, v in case["inputs"].items()}
    tol = TOLERANCE[dtype]
    with torch.no_grad():
        if name.startswith("x2y"):
            out, logits = module(inp["x"], inp["y"], inp["x_pos"], inp["y_pos"])
            torch.testing.assert_close(logits, case["logits"], rtol=0, atol=tol)
            # an all-valid mask changes nothing
            ones = torch.ones(1, inp["x"].shape[1], dtype=torch.bool)
            torch.testing.assert_close(module(inp["x"], inp["y"], inp["x_pos"], inp["y_pos"], x_mask=ones)[0], out)
        elif name.startswith("sca"):
            out = module(inp["tokens"], inp["frames"], inp["token_pos"], inp["frame_pos"])
        else:
            out = module(inp["tokens"], inp["token_pos"])
    torch.testing.assert_close(out, _seq(case["out"]), rtol=0, atol=tol)


def test_converter_tells_sa_and_sca_layers_apart_in_a_whole_model():
    assert "fact" in CHECKPOINT_SOURCES
    keys = REFERENCE["model_keys"]
    out = list(convert_state_dict(dict.fromkeys(keys, 0), "fact"))
    sca = "block_list.0.action_branch.layers.1."
    sa = "block_list.1.action_branch.layers.0."
    assert f"{sca}cross_attn.in_proj_weight" in out and f"{sca}self_attn.in_proj_weight" in out
    assert f"{sa}self_attn.in_proj_weight" in out and f"{sa}cross_attn.in_proj_weight" not in out
    assert not any("multihead_attn" in k or ".X_K." in k or ".Y_W." in k for k in out)
    assert "block_list.1.a2f_layer.out.weight" in out and "block_list.0.action_branch.out_linear.weight" in out
    # one block's state dict cut out of the whole model loads strictly
    layer = ActionTokenDecoderLayer(16, 16, 2, 32)
    full = {k: torch.zeros(v.shape) for k, v in layer.state_dict().items()}
    prefixed = convert_state_dict({"module." + sca + k.replace("cross_attn", "multihead_attn"): v
                                   for k, v in full.items()}, "fact")
    layer.load_state_dict({k[len(sca):]: v for k, v in prefixed.items()}, strict=True)


def test_converter_separate_projection_weights():
    sd = REFERENCE["float32"]["sca_separate"]["state_dict"]
    assert "multihead_attn.q_proj_weight" in sd and "self_attn.in_proj_weight" in sd
    out = convert_state_dict(sd, "fact")
    assert "cross_attn.k_proj_weight" in out and "self_attn.in_proj_weight" in out


# --- the attention core in every order -------------------------------------------------------------


def _naive(query, key, value, weights, heads, valid):
    wq, bq, wk, bk, wv, bv, wo = weights
    b, lq, _ = query.shape
    s = key.shape[1]
    d = wq.shape[0] // heads
    q = (query @ wq.T + bq).view(b, lq, heads, d).transpose(1, 2)
    k = (key @ wk.T + bk).view(b, s, heads, d).transpose(1, 2)
    v = (value @ wv.T + bv).view(b, s, heads, d).transpose(1, 2)
    logits = q @ k.transpose(-1, -2) / math.sqrt(d)
    if valid is not None:
        logits = logits.masked_fill(~valid[:, None, None], float("-inf"))
    a = torch.softmax(logits, -1).nan_to_num(0.0)
    return (a @ v).transpose(1, 2).reshape(b, lq, -1) @ wo.T, logits


SHAPES = {  # (lq, s, cq, ck, cv, dim, heads, o) -> (score order, value order)
    "plain": ((5, 6, 32, 32, 32, 4, 2, 32), (0, 0)),
    "few queries": ((2, 50, 16, 24, 20, 32, 2, 12), (1, 1)),
    "few keys": ((50, 2, 16, 24, 20, 32, 2, 12), (2, 2)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_order_equals_the_plain_formula(shape):
    (lq, s, cq, ck, cv, dim, heads, o), orders = SHAPES[shape]
    assert attention_orders(lq, s, cq, ck, cv, dim, heads, o, False) == orders
    g = torch.Generator().manual_seed(1)
    r = lambda *sh: torch.randn(*sh, generator=g, dtype=torch.float64)  # noqa: E731
    weights = (r(dim, cq), r(dim), r(dim, ck), r(dim), r(dim, cv), r(dim), r(o, dim))
    query, key, value = r(3, lq, cq), r(3, s, ck), r(3, s, cv)
    valid = torch.ones(3, s, dtype=torch.bool)
    valid[1, 0] = False  # a hole
    valid[2] = False     # no valid key at all: reads nothing
    out, logits = attention(query, key, value, weights, heads, valid, need_logits=True)
    want, want_logits = _naive(query, key, value, weights, heads, valid)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-9)
    torch.testing.assert_close(logits, want_logits, rtol=0, atol=1e-9)
    assert torch.equal(out[2], torch.zeros_like(out[2]))
    inputs = tuple(t.requires_grad_() for t in (query, key, value))
    assert torch.autograd.gradcheck(lambda q, k, v: attention(q, k, v, weights, heads, valid)[0], inputs,
                                    fast_mode=True)


# --- hand-computable cases -------------------------------------------------------------------------


def test_single_key_is_read_entirely():
    """One ``x`` element: ``A = 1``, so ``y' = W_Y [y ‖ W_V x + b_V]``."""
    torch.manual_seed(0)
    m = CrossAttentionUpdate(3, 2, 4).double()
    x, y = torch.randn(1, 1, 3, dtype=torch.float64), torch.randn(1, 5, 2, dtype=torch.float64)
    out, logits = m(x, y)
    v = m.value(x).expand(1, 5, 3)
    torch.testing.assert_close(out, m.out(torch.cat([y, v], -1)), rtol=0, atol=1e-12)
    q, k = m.query(y), m.key(x)
    torch.testing.assert_close(logits, q @ k.transpose(1, 2) / math.sqrt(3), rtol=0, atol=1e-12)


def test_identity_attention_reads_the_matching_frame():
    """``W_Q = W_K = c·I`` on one-hot inputs: ``A ≈ I``, ``A v = W_V x`` row by row."""
    n = 4
    m = CrossAttentionUpdate(n, n, n).double()
    with torch.no_grad():
        for lin in (m.query, m.key):
            lin.weight.copy_(torch.eye(n) * 20.0)
            lin.bias.zero_()
        m.out.weight.zero_()
        m.out.weight[:, n:] = torch.eye(n)  # y' = A v
        m.out.bias.zero_()
    x = torch.eye(n, dtype=torch.float64).unsqueeze(0)
    out, logits = m(x, x.flip(1))
    torch.testing.assert_close(logits[0, 0, -1], torch.tensor(200.0, dtype=torch.float64))
    torch.testing.assert_close(out, m.value(x).flip(1), rtol=0, atol=1e-12)


def test_positions_follow_fact():
    """Positions go to keys and queries only (narrower ones to the first channels); ignored unless positional."""
    torch.manual_seed(0)
    m = CrossAttentionUpdate(4, 3, 2, head_channels=5, positional=True).double()
    x, y = torch.randn(2, 6, 4, dtype=torch.float64), torch.randn(2, 3, 3, dtype=torch.float64)
    px, py = torch.randn(1, 6, 2, dtype=torch.float64), torch.randn(2, 3, 3, dtype=torch.float64)
    out, logits = m(x, y, px, py)
    xk = x + torch.nn.functional.pad(px, (0, 2))
    q, k, v = m.query(y + py), m.key(xk), m.value(x)
    torch.testing.assert_close(logits, q @ k.transpose(1, 2) / math.sqrt(5), rtol=0, atol=1e-12)
    a = torch.softmax(logits, -1)
    torch.testing.assert_close(out, m.out(torch.cat([y, a @ v], -1)), rtol=0, atol=1e-12)
    m.positional = False
    torch.testing.assert_close(m(x, y, px, py)[0], m(x, y)[0], rtol=0, atol=0)


# --- masks: padded batch = per-video runs, no NaN without valid keys ---------------------------------


def _masks(holes=True):
    """Frame and token masks; with ``holes`` neither is a prefix mask (the padded path runs), without them
    both are (on the CPU every video then runs at its own length)."""
    frames = torch.ones(3, 40, dtype=torch.bool)
    frames[0, 30:] = False
    frames[1, 35:] = False
    tokens = torch.ones(3, 6, dtype=torch.bool)
    tokens[2, 4:] = False
    if holes:
        frames[1, 5] = frames[1, 17:20] = False
        tokens[1, 2] = False
    return frames, tokens


MASKS = ["holes", "prefix", "prefix-padded-path"]


@pytest.fixture(params=MASKS)
def masks(request, monkeypatch):
    if request.param == "prefix-padded-path":
        monkeypatch.setattr(_common, "RAGGED_CPU", False)
    return _masks(request.param == "holes")


def _valid(x, mask, b):
    return x[b:b + 1, mask[b]]


@pytest.mark.parametrize("direction", ["f2a", "a2f"])
def test_cross_attention_update_padded_equals_per_video(direction, masks):
    torch.manual_seed(0)
    fmask, tmask = masks
    frames, tokens = torch.randn(3, 40, 24, dtype=torch.float64), torch.randn(3, 6, 16, dtype=torch.float64)
    fpos, tpos = torch.randn(3, 40, 8, dtype=torch.float64), torch.randn(1, 6, 16, dtype=torch.float64)
    if direction == "f2a":
        m, args, xm, ym = CrossAttentionUpdate(24, 16, 16, positional=True), (frames, tokens, fpos, tpos), fmask, tmask
    else:
        m, args, xm, ym = CrossAttentionUpdate(16, 24, 24, positional=True), (tokens, frames, tpos, fpos), tmask, fmask
    m = m.double()
    out, logits = m(*args, x_mask=xm, y_mask=ym)
    assert torch.equal(out[~ym], torch.zeros_like(out[~ym]))
    assert torch.isneginf(logits[ym[:, :, None] & ~xm[:, None, :]]).all()  # masked keys of valid queries
    assert torch.equal(logits[~ym], torch.zeros_like(logits[~ym]))  # rows of padded queries
    for b in range(3):
        x, y, xp, yp = args
        one, one_logits = m(_valid(x, xm, b), _valid(y, ym, b), _valid(xp.expand(3, -1, -1), xm, b),
                            _valid(yp.expand(3, -1, -1), ym, b))
        torch.testing.assert_close(out[b:b + 1, ym[b]], one, rtol=0, atol=1e-12)
        torch.testing.assert_close(logits[b][ym[b]][:, xm[b]].unsqueeze(0), one_logits, rtol=0, atol=1e-12)


def test_decoder_layers_padded_equal_per_video(masks):
    torch.manual_seed(0)
    fmask, tmask = masks
    frames, tokens = torch.randn(3, 40, 24, dtype=torch.float64), torch.randn(3, 6, 16, dtype=torch.float64)
    fpos, tpos = torch.randn(3, 40, 24, dtype=torch.float64), torch.randn(3, 6, 8, dtype=torch.float64)
    dec = ActionTokenDecoderLayer(16, 24, num_heads=4, ff_channels=32).double().eval()
    sa = TokenSelfAttentionLayer(16, num_heads=2, ff_channels=32).double().eval()
    out = dec(tokens, frames, tpos, fpos, tmask, fmask)
    out_sa = sa(tokens, tpos, tmask)
    assert torch.equal(out[~tmask], torch.zeros_like(out[~tmask]))
    for b in range(3):
        one = dec(_valid(tokens, tmask, b), _valid(frames, fmask, b), _valid(tpos, tmask, b), _valid(fpos, fmask, b))
        torch.testing.assert_close(out[b:b + 1, tmask[b]], one, rtol=0, atol=1e-12)
        one = sa(_valid(tokens, tmask, b), _valid(tpos, tmask, b))
        torch.testing.assert_close(out_sa[b:b + 1, tmask[b]], one, rtol=0, atol=1e-12)


def test_no_valid_key_gives_no_nan():
    torch.manual_seed(0)
    frames, tokens = torch.randn(2, 10, 8), torch.randn(2, 3, 8)
    empty = torch.tensor([[True] * 10, [False] * 10])
    m = CrossAttentionUpdate(8, 8, 8)
    out, logits = m(frames, tokens, x_mask=empty)
    assert torch.isfinite(out).all() and torch.isneginf(logits[1]).all()
    torch.testing.assert_close(out[1], tokens[1] @ m.out.weight[:, :8].T + m.out.bias)  # A v = 0
    dec = ActionTokenDecoderLayer(8, 8, num_heads=2, ff_channels=16)
    out = dec(tokens, frames, frame_mask=empty)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in dec.parameters())


@pytest.mark.parametrize("holes", [True, False])
def test_gradcheck_float64(holes):
    """Masks with holes (the padded path) and prefix masks (on the CPU: each video at its own length)."""
    torch.manual_seed(0)
    fmask = torch.arange(9) < torch.tensor([9, 6, 4]).unsqueeze(1)
    tmask = torch.arange(4) < torch.tensor([4, 3, 4]).unsqueeze(1)
    if holes:
        fmask[1, 3] = tmask[2, 1] = False
    frames = torch.randn(3, 9, 6, dtype=torch.float64, requires_grad=True)
    tokens = torch.randn(3, 4, 4, dtype=torch.float64, requires_grad=True)
    f2a = CrossAttentionUpdate(6, 4, 4, head_channels=3, positional=True).double()
    a2f = CrossAttentionUpdate(4, 6, 5, positional=True).double()
    dec = ActionTokenDecoderLayer(4, 6, num_heads=2, ff_channels=8).double()
    sa = TokenSelfAttentionLayer(4, num_heads=2, ff_channels=8).double()
    pos = torch.randn(1, 9, 6, dtype=torch.float64)
    check = lambda f, args: torch.autograd.gradcheck(f, args, fast_mode=True)  # noqa: E731
    assert check(lambda f, t: f2a(f, t, pos, None, fmask, tmask)[0], (frames, tokens))
    assert check(lambda f, t: a2f(t, f, None, pos, tmask, fmask)[0], (frames, tokens))
    assert check(lambda f, t: dec(t, f, None, pos, tmask, fmask), (frames, tokens))
    assert check(lambda t: sa(t, None, tmask), (tokens,))


def test_dropout_only_in_training():
    torch.manual_seed(0)
    frames, tokens = torch.randn(2, 10, 8), torch.randn(2, 3, 8)
    m = CrossAttentionUpdate(8, 8, 8, dropout=0.5)
    dec = ActionTokenDecoderLayer(8, 8, num_heads=2, ff_channels=16, dropout=0.5)
    train = m(frames, tokens)[0], dec(tokens, frames)
    m.eval(), dec.eval()
    evaluated = m(frames, tokens)[0], dec(tokens, frames)
    assert not torch.allclose(train[0], evaluated[0]) and not torch.allclose(train[1], evaluated[1])
    torch.testing.assert_close(m(frames, tokens)[0], evaluated[0], rtol=0, atol=0)


# --- bad input names the argument ------------------------------------------------------------------


def _bad_calls():
    m = CrossAttentionUpdate(8, 6, 4, positional=True)
    dec = ActionTokenDecoderLayer(8, 6, num_heads=2, ff_channels=16)
    sa = TokenSelfAttentionLayer(8, num_heads=2, ff_channels=16)
    x, y = torch.randn(2, 10, 8), torch.randn(2, 3, 6)
    return {
        "y channels": (lambda: m(x, torch.randn(2, 3, 8)), ValueError, r"^y: expected shape \(2, L, 6\)"),
        "y batch": (lambda: m(x, torch.randn(1, 3, 6)), ValueError, r"^y: expected shape \(2, L, 6\)"),
        "x rank": (lambda: m(x[0], y), ValueError, r"^x: expected shape \(B, L, 8\)"),
        "frame channels": (lambda: dec(x, torch.randn(2, 10, 8)), ValueError, r"^frames: expected shape \(2, L, 6\)"),
        "token channels": (lambda: dec(y, x), ValueError, r"^tokens: expected shape \(B, L, 8\)"),
        "tokens rank": (lambda: sa(x[0]), ValueError, r"^tokens: expected shape"),
        "mask shape": (lambda: m(x, y, x_mask=torch.ones(2, 9, dtype=torch.bool)), ValueError, r"^x_mask: .*\(2, 10\)"),
        "mask dtype": (lambda: dec(x, y, token_mask=torch.ones(2, 10)), TypeError, r"^token_mask: expected dtype"),
        "frame mask": (lambda: dec(x, y, frame_mask=torch.ones(2, 4, dtype=torch.bool)), ValueError, r"^frame_mask:"),
        "pos width": (lambda: sa(x, torch.randn(2, 10, 9)), ValueError, r"^token_pos: expected .*P <= 8"),
        "pos length": (lambda: m(x, y, torch.randn(2, 9, 8)), ValueError, r"^x_pos: expected shape \(B, 10, P\)"),
        "pos dtype": (lambda: dec(x, y, frame_pos=torch.randn(2, 3, 6).double()), TypeError, r"^frame_pos:"),
        "heads": (lambda: TokenSelfAttentionLayer(8, num_heads=3), ValueError, r"^num_heads: expected a divisor"),
        "head channels": (lambda: CrossAttentionUpdate(8, 6, 4, head_channels=0), ValueError, r"^head_channels:"),
        "huge": (lambda: ActionTokenDecoderLayer(2**16, 2**16, ff_channels=2**16), ValueError,
                 r"^token_channels, frame_channels, ff_channels: expected a model of at most"),
    }


@pytest.mark.parametrize("case", sorted(_bad_calls()))
def test_bad_input_names_the_argument(case):
    call, error, match = _bad_calls()[case]
    with pytest.raises(error, match=match):
        call()


def test_meta_tensors_give_the_output_shape():
    dec = ActionTokenDecoderLayer(8, 6, num_heads=2, ff_channels=16).to("meta")
    out = dec(torch.empty(2, 3, 8, device="meta"), torch.empty(2, 10, 6, device="meta"),
              token_mask=torch.ones(2, 3, dtype=torch.bool, device="meta"))
    assert out.shape == (2, 3, 8) and out.is_meta
