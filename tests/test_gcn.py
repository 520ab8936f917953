"""Skeleton graphs and MultiScaleGraphConv (issue 11 §1) against the official MS-G3D / DeST code.

Reference vectors: ``tests/data/gcn/gcn.pt``, produced by running the official modules
(``tests/data/gcn/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from actseg.io import convert_state_dict
from actseg.layers import SKELETON_LAYOUTS, MultiScaleGraphConv, multiscale_adjacency, skeleton_edges
from actseg.layers._common import keep_scale

DATA = torch.load(Path(__file__).parent / "data" / "gcn" / "gcn.pt", weights_only=True)
LAYOUTS = list(DATA["layouts"])
TOL = {torch.float32: 1e-5, torch.float64: 1e-9}


def _dtype(case):
    return torch.float64 if case["dtype"] == "torch.float64" else torch.float32


def _loaded(state_dict, adjacency, c_in, c_out, **kw):
    layer = MultiScaleGraphConv(c_in, c_out, adjacency, **kw)
    layer.load_state_dict(convert_state_dict(state_dict, "ms-g3d"), strict=True)
    return layer


def _close(ours, theirs, dtype, what, scale=False):
    """max |ours - theirs| <= atol (times max(1, max |theirs|) for parameter gradients, sums over B·T·V)."""
    err = (ours.to(torch.float64) - theirs.to(torch.float64)).abs().max().item()
    tol = TOL[dtype] * (max(1.0, theirs.abs().max().item()) if scale else 1.0)
    assert err <= tol, f"{what}: max error {err:.3g} > {tol:.3g}"


def test_layouts_are_deST_lists_and_ours():
    assert set(LAYOUTS) == set(SKELETON_LAYOUTS)
    for name in LAYOUTS:
        ref = DATA["layouts"][name]
        assert skeleton_edges(name) == [tuple(e) for e in ref["inward"]]
        v = SKELETON_LAYOUTS[name][0]
        assert ref["a_binary"].shape == (v, v)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("disentangled", [True, False])
def test_adjacency_equals_official_bit_for_bit(layout, disentangled):
    ref = DATA["layouts"][layout]["a_powers" if disentangled else "a_powers_flat"]
    v = SKELETON_LAYOUTS[layout][0]
    ours = multiscale_adjacency(skeleton_edges(layout), v, num_scales=13, disentangled=disentangled)
    assert ours.dtype == torch.float32 and ours.shape == (13, v, v)
    torch.testing.assert_close(ours.reshape(13 * v, v), ref, rtol=0, atol=0)


def test_adjacency_of_msg3d_ntu_graph_from_its_binary_matrix():
    ref = DATA["msg3d_ntu"]
    i, j = np.nonzero(ref["a_binary"].numpy())
    ours = multiscale_adjacency(list(zip(i.tolist(), j.tolist())), 25)
    torch.testing.assert_close(ours.reshape(-1, 25), ref["a_powers"], rtol=0, atol=0)
    # MS-G3D's hand chain (tip -> thumb -> hand) makes its NTU graph's diameter 12 (DeST's "ntu-25": 11)
    hop12 = ref["k_adjacency_12"] - torch.eye(25)
    assert torch.equal(ours[12] > 0, ref["k_adjacency_12"] > 0) and hop12.sum() == 10  # 5 joint pairs at hop 12


@pytest.mark.parametrize(("layout", "diameter"), [("ntu-25", 11), ("openpose-25", 10), ("lara-19", 9)])
def test_scales_beyond_the_diameter_are_the_identity(layout, diameter):
    v = SKELETON_LAYOUTS[layout][0]
    a = multiscale_adjacency(skeleton_edges(layout), v, num_scales=13)
    identity = [bool(torch.equal(a[k], torch.eye(v))) for k in range(13)]
    assert identity == [True] + [False] * diameter + [True] * (12 - diameter)


def test_hop_scales_by_hand():
    a = multiscale_adjacency([(0, 1), (1, 2), (2, 3)], 4, num_scales=5)
    assert torch.equal(a[0], torch.eye(4))
    # hop 3 joins the two ends; degrees 2, 1, 1, 2
    expected = torch.tensor([[0.5, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0, 0, 0.5]])
    torch.testing.assert_close(a[3], expected)
    assert torch.equal(a[4], torch.eye(4))  # beyond the diameter
    p = multiscale_adjacency([(0, 1)], 2, num_scales=3, disentangled=False)
    torch.testing.assert_close(p[2], torch.full((2, 2), 0.5))  # [[.5,.5],[.5,.5]]^2


CASES = [(name, i) for name in LAYOUTS for i in range(len(DATA["layouts"][name]["cases"]))]


@pytest.mark.parametrize(("layout", "index"), CASES)
def test_outputs_gradients_and_statistics_match_deST(layout, index):
    ref = DATA["layouts"][layout]
    case = ref["cases"][index]
    dtype = _dtype(case)
    v = SKELETON_LAYOUTS[layout][0]
    layer = _loaded(ref["state_dict"], multiscale_adjacency(skeleton_edges(layout), v), 4, 6).to(dtype)
    layer.train(case["train"])
    x = case["x"].to(dtype).transpose(2, 3).clone().requires_grad_(True)  # DeST (N, C, V, T) -> ours
    out = layer(x)
    _close(out, case["out"], dtype, "out")
    (out * case["weight"]).sum().backward()
    _close(x.grad.transpose(2, 3), case["grad_x"], dtype, "grad x")
    grads = case["grads"]
    _close(layer.residual.grad.reshape(-1, v), grads["A_res"], dtype, "grad A_res", scale=True)
    _close(layer.conv.weight.grad, grads["mlp.layers.0.weight"], dtype, "grad conv weight", scale=True)
    _close(layer.conv.bias.grad, grads["mlp.layers.0.bias"], dtype, "grad conv bias", scale=True)
    _close(layer.norm.weight.grad, grads["mlp.layers.1.weight"], dtype, "grad bn weight", scale=True)
    _close(layer.norm.running_mean, case["buffers_after"]["mlp.layers.1.running_mean"], dtype, "running mean")
    _close(layer.norm.running_var, case["buffers_after"]["mlp.layers.1.running_var"], dtype, "running var")


def test_msg3d_block_with_dropout_loads_and_matches_in_eval():
    ref = DATA["msg3d_ntu"]
    case = ref["cases"][0]
    i, j = np.nonzero(ref["a_binary"].numpy())
    adjacency = multiscale_adjacency(list(zip(i.tolist(), j.tolist())), 25)
    assert "mlp.layers.1.weight" in ref["state_dict"]  # Dropout first: the keys shift by one
    layer = _loaded(ref["state_dict"], adjacency, 3, 5, dropout=0.2).double().eval()
    x = case["x"].clone().requires_grad_(True)
    out = layer(x)
    _close(out, case["out"], torch.float64, "out")
    (out * case["weight"]).sum().backward()
    _close(x.grad, case["grad_x"], torch.float64, "grad x")


def _layer(seed=0, c_in=3, c_out=5, v=19, layout="lara-19", dtype=torch.float64, **kw):
    torch.manual_seed(seed)
    layer = MultiScaleGraphConv(c_in, c_out, multiscale_adjacency(skeleton_edges(layout), v, 6), **kw).to(dtype)
    with torch.no_grad():
        layer.residual.normal_(0, 0.1)
        layer.norm.running_mean.normal_(0, 0.2)
        layer.norm.running_var.uniform_(0.5, 1.5)
        layer.norm.weight.normal_(1, 0.2)
        layer.norm.bias.normal_(0, 0.2)
    return layer


def test_folded_order_equals_support_order():
    layer = _layer()
    x = torch.randn(2, 3, 7, 19, dtype=torch.float64)
    torch.testing.assert_close(layer.aggregate(x), layer.aggregate_support(x), rtol=0, atol=1e-12)


def test_permuting_joints_equals_permuting_adjacency():
    layer = _layer().eval()
    perm = torch.randperm(19, generator=torch.Generator().manual_seed(1))
    permuted = MultiScaleGraphConv(3, 5, layer.adjacency[:, perm][:, :, perm]).double().eval()
    state = layer.state_dict()
    state["residual"] = state["residual"][:, perm][:, :, perm]
    permuted.load_state_dict(state)
    x = torch.randn(2, 3, 6, 19, dtype=torch.float64)
    torch.testing.assert_close(permuted(x[..., perm]), layer(x)[..., perm], rtol=0, atol=1e-12)
    # and the edge list relabelled gives the permuted adjacency
    inverse = torch.argsort(perm).tolist()
    edges = [(inverse[i], inverse[j]) for i, j in skeleton_edges("lara-19")]
    torch.testing.assert_close(multiscale_adjacency(edges, 19, 6), layer.adjacency[:, perm][:, :, perm].float())


def _holes_mask():
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[0, 5:] = False
    mask[1, 2] = False  # a hole
    mask[1, 6:] = False
    return mask


def test_padded_batch_equals_each_video_in_eval():
    layer = _layer().eval()
    mask = _holes_mask()
    x = torch.randn(3, 3, 8, 19, dtype=torch.float64)
    out = layer(x, mask)
    for b in range(3):
        alone = layer(x[b:b + 1, :, mask[b]])
        torch.testing.assert_close(out[b][:, mask[b]], alone[0], rtol=0, atol=1e-12)
        assert torch.all(out[b][:, ~mask[b]] == 0)


def test_training_statistics_use_valid_frames_only():
    mask = _holes_mask()
    x = torch.randn(3, 3, 8, 19, dtype=torch.float64, requires_grad=True)
    garbage = x.detach().clone()
    pad = ~mask[:, None, :, None].expand_as(garbage)
    garbage[pad] = 1e6  # padded frames may hold anything
    padded, concat = _layer().train(), _layer().train()
    out = padded(garbage.requires_grad_(True), mask)
    valid = torch.cat([x.detach()[b][:, mask[b]] for b in range(3)], dim=1).unsqueeze(0)
    ref = concat(valid)  # the valid frames of all videos as one video: the same batch statistics
    torch.testing.assert_close(torch.cat([out[b][:, mask[b]] for b in range(3)], dim=1), ref[0], rtol=0, atol=1e-10)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(padded.norm, name), getattr(concat.norm, name), rtol=0, atol=1e-12)
    assert torch.all(out[~mask[:, None, :, None].expand_as(out)] == 0)
    out.sum().backward()
    assert torch.all(garbage.grad[pad] == 0)


def test_all_valid_mask_equals_no_mask_in_training():
    x = torch.randn(2, 3, 5, 19, dtype=torch.float64)
    a, b = _layer().train(), _layer().train()
    torch.testing.assert_close(a(x, torch.ones(2, 5, dtype=torch.bool)), b(x), rtol=0, atol=0)


def test_gradcheck_float64():
    torch.manual_seed(0)
    layer = MultiScaleGraphConv(2, 3, multiscale_adjacency([(0, 1), (1, 2), (1, 3)], 4, 3)).double().train()
    mask = torch.tensor([[True, True, False], [True, False, True]])
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t, mask), (x,))
    layer.eval()
    assert torch.autograd.gradcheck(lambda t, r: MultiScaleGraphConv.forward(layer, t, mask), (x, layer.residual))


def test_dropout_in_training_uses_the_support_order():
    layer = _layer(dropout=0.5).train()
    x = torch.randn(2, 3, 4, 19, dtype=torch.float64)
    torch.manual_seed(3)
    out = layer(x)
    torch.manual_seed(3)
    keep = keep_scale(torch.empty(2, 6 * 3, 4, 19, dtype=torch.float64), 0.5) / 2  # actseg's CPU Dropout draw
    support = torch.einsum("svu,bctu->bsctv", layer._scales(x), x).reshape(2, 18, 4, 19)
    expected = torch.relu(layer.norm.__class__.forward(layer.norm, layer.conv(support * keep * 2)))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)


def test_meta_and_half():
    layer = MultiScaleGraphConv(3, 4, multiscale_adjacency(skeleton_edges("ntu-25"), 25, 4)).to("meta")
    assert layer(torch.empty(2, 3, 9, 25, device="meta")).shape == (2, 4, 9, 25)
    layer = MultiScaleGraphConv(3, 4, multiscale_adjacency(skeleton_edges("ntu-25"), 25, 4)).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(1, 3, 5, 25)).shape == (1, 4, 5, 25)


# --- bad input


def _good():
    return MultiScaleGraphConv(3, 4, multiscale_adjacency(skeleton_edges("lara-19"), 19, 3))


@pytest.mark.parametrize(("call", "error", "text"), [
    (lambda: skeleton_edges("ntu"), ValueError, "layout: expected one of 'ntu-25'"),
    (lambda: skeleton_edges(25), TypeError, "layout:"),
    (lambda: multiscale_adjacency([(0, 1)], 0), ValueError, "num_joints:"),
    (lambda: multiscale_adjacency([(0, 1)], 2, num_scales=0), ValueError, "num_scales:"),
    (lambda: multiscale_adjacency([(0, 1)], 1024, num_scales=1024), ValueError, "num_scales:"),
    (lambda: multiscale_adjacency([(0, 2)], 2), ValueError, "edges: expected indices in [0, 2)"),
    (lambda: multiscale_adjacency([(0, 1, 2)], 3), ValueError, "edges:"),
    (lambda: multiscale_adjacency([(1, 1)], 3), ValueError, "edges: expected pairs of two different joints"),
    (lambda: multiscale_adjacency([(0.5, 1)], 3), TypeError, "edges:"),
    (lambda: multiscale_adjacency([(0, 1)], 2, disentangled=1), TypeError, "disentangled:"),
    (lambda: MultiScaleGraphConv(3, 4, torch.zeros(3, 19, 18)), ValueError, "adjacency: expected shape (S, V, V)"),
    (lambda: MultiScaleGraphConv(3, 4, torch.zeros(19, 19)), ValueError, "adjacency: expected shape"),
    (lambda: MultiScaleGraphConv(3, 4, torch.zeros(2, 3, 3, dtype=torch.long)), TypeError, "adjacency:"),
    (lambda: MultiScaleGraphConv(3, 4, torch.full((1, 2, 2), float("nan"))), ValueError, "adjacency:"),
    (lambda: MultiScaleGraphConv(0, 4, torch.eye(2)[None]), ValueError, "in_channels:"),
    (lambda: MultiScaleGraphConv(3, 4, torch.eye(2)[None], dropout=1.0), ValueError, "dropout:"),
    (lambda: _good()(torch.randn(2, 3, 19)), ValueError, "x: expected shape (B, 3, T, 19)"),
    (lambda: _good()(torch.randn(2, 3, 5, 25)), ValueError, "x: expected shape (B, 3, T, 19)"),
    (lambda: _good()(torch.randn(2, 4, 5, 19)), ValueError, "x: expected shape (B, 3, T, 19)"),
    (lambda: _good()(torch.randn(2, 3, 0, 19)), ValueError, "x: expected T >= 1"),
    (lambda: _good()(torch.randn(2, 3, 5, 19).double()), TypeError, "x: expected dtype torch.float32"),
    (lambda: _good()(torch.randn(2, 3, 5, 19), torch.ones(2, 4, dtype=torch.bool)), ValueError, "mask:"),
    (lambda: _good()(torch.randn(2, 3, 5, 19), torch.ones(2, 5)), TypeError, "mask:"),
])
def test_bad_input_names_the_argument(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)


def test_converter_prefix_module_and_errors():
    ref = DATA["layouts"]["lara-19"]["state_dict"]
    sd = {f"module.SP.{k}": t for k, t in ref.items()}
    out = convert_state_dict(sd, "ms-g3d")
    assert sorted(out) == sorted(f"SP.{k}" for k in _good().state_dict())
    assert out["SP.residual"].shape == (13, 19, 19)
    assert out["SP.residual"].data_ptr() == ref["A_res"].data_ptr()  # a view, not a copy
    with pytest.raises(ValueError, match=r"not parameters of a 'ms-g3d' checkpoint: 'gcn\.weight'"):
        convert_state_dict({"gcn.weight": torch.zeros(1)}, "ms-g3d")
    with pytest.raises(ValueError, match=r"state_dict: expected 'A_res' of shape \(S\*V, V\)"):
        convert_state_dict({"A_res": torch.zeros(5, 3)}, "ms-g3d")
    with pytest.raises(ValueError, match="not a parameter of the MLP"):
        convert_state_dict({"mlp.layers.0.weight": 0, "mlp.layers.2.weight": 0}, "ms-g3d")
    with pytest.raises(TypeError, match="state_dict"):
        convert_state_dict([("A_res", 0)], "ms-g3d")
