"""DSMI (InterAct §3.2, Eq. (1)-(3)): equation tests on hand-computable inputs, padding, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actseg.layers import DSMI, multiscale_adjacency, skeleton_edges
from actseg.layers._graph import _joint_modalities


def test_modalities_by_hand_with_a_hole():
    x = torch.tensor([[1.0, 2.0, 4.0, 7.0, 11.0]])[None, :, :, None].repeat(1, 1, 1, 2)  # (1, 1, 5, 2)
    x[..., 1] = 10.0
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0]]).unsqueeze(1)  # frame 2 is a hole
    absolute, relative, motion = _joint_modalities(x, 1, mask)
    assert absolute[0, 0, :, 0].tolist() == [1, 2, 0, 7, 11]
    assert relative[0, 0, :, 0].tolist() == [-9, -8, 0, -3, 1] and relative[..., 1].abs().sum() == 0
    assert motion[0, 0, :, 0].tolist() == [1, 0, 0, 4, 0]  # breaks at the hole; the last valid frame is 0
    _, _, plain = _joint_modalities(x, 1)
    assert plain[0, 0, :, 0].tolist() == [1, 2, 3, 4, 0]


def _dsmi(attention="joints", pooling="mean", v=19, layout="lara-19", seed=0, **kw):
    torch.manual_seed(seed)
    model = DSMI(3, 4, multiscale_adjacency(skeleton_edges(layout), v, 4), center_joint=0, num_heads=2,
                 attention=attention, pooling=pooling, **kw).double()
    with torch.no_grad():
        for gcn in (model.abs_gcn, model.rel_gcn, model.motion_gcn):
            gcn.residual.normal_(0, 0.1)
            gcn.norm.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_single_joint_equals_the_equations_written_out():
    # one joint: attention over one token is out_proj(v_proj(z)); V = 1 makes every scale the identity
    torch.manual_seed(0)
    model = DSMI(2, 3, multiscale_adjacency([], 1, 2), center_joint=0).double().eval()
    x = torch.randn(2, 2, 5, 1, dtype=torch.float64)
    s_abs = model.abs_gcn(x)
    s_rel = model.rel_gcn(torch.zeros_like(x))
    diff = torch.zeros_like(x)
    diff[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    s_mot = model.motion_gcn(diff)

    def fuse(a, b, attn, mlp):
        z = torch.cat([a, b], dim=1)[..., 0].transpose(1, 2)  # (B, T, 2C)
        w_v = attn.in_proj_weight[2 * 6:]
        b_v = attn.in_proj_bias[2 * 6:]
        return F.relu(mlp(z + attn.out_proj(z @ w_v.T + b_v)))  # (B, T, C)

    x_hat = fuse(s_abs, s_rel, model.attn1, model.mlp1)
    expected = fuse(x_hat.transpose(1, 2)[..., None], s_mot, model.attn2, model.mlp2).transpose(1, 2)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", ["joints", "frames"])
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_padded_batch_equals_each_video(attention, pooling):
    model = _dsmi(attention, pooling)
    lengths = [7, 4, 6]
    x = torch.randn(3, 3, 7, 19, dtype=torch.float64)
    mask = torch.arange(7)[None] < torch.tensor(lengths)[:, None]
    garbage = x.clone()
    garbage[~mask[:, None, :, None].expand_as(x)] = 1e3
    out = model(garbage, mask)
    for b, n in enumerate(lengths):
        torch.testing.assert_close(out[b, :, :n], model(x[b:b + 1, :, :n])[0], rtol=0, atol=1e-10)
        assert torch.all(out[b, :, n:] == 0)


def test_hole_values_have_no_influence():
    model = _dsmi("frames")
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 2] = False
    x = torch.randn(2, 3, 6, 19, dtype=torch.float64)
    y = x.clone()
    y[0, :, 2] = 50.0
    torch.testing.assert_close(model(x, mask), model(y, mask), rtol=0, atol=0)


def test_permuting_joints_equals_permuting_adjacency():
    model = _dsmi()
    perm = torch.randperm(19, generator=torch.Generator().manual_seed(2))
    inverse = torch.argsort(perm).tolist()
    edges = [(inverse[i], inverse[j]) for i, j in skeleton_edges("lara-19")]
    permuted = DSMI(3, 4, multiscale_adjacency(edges, 19, 4), center_joint=inverse[0], num_heads=2).double().eval()
    state = model.state_dict()
    for key in [k for k in state if k.endswith("residual")]:
        state[key] = state[key][:, perm][:, :, perm]
    permuted.load_state_dict(state)
    x = torch.randn(2, 3, 5, 19, dtype=torch.float64)
    torch.testing.assert_close(permuted(x[..., perm]), model(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("attention", ["joints", "frames"])
def test_gradcheck_float64(attention):
    torch.manual_seed(0)
    model = DSMI(2, 2, multiscale_adjacency([(0, 1), (1, 2)], 3, 2), center_joint=1,
                 attention=attention).double().train()
    mask = torch.tensor([[True, True, True], [True, True, False]])
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: model(t, mask), (x,))


def test_meta():
    model = DSMI(3, 4, multiscale_adjacency(skeleton_edges("ntu-25"), 25, 3), center_joint=0).to("meta")
    assert model(torch.empty(2, 3, 9, 25, device="meta")).shape == (2, 4, 9)


def _adj():
    return multiscale_adjacency(skeleton_edges("lara-19"), 19, 3)


@pytest.mark.parametrize(("call", "error", "text"), [
    (lambda: DSMI(3, 4, _adj(), center_joint=19), ValueError, "center_joint:"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0.5), TypeError, "center_joint:"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0, num_heads=3), ValueError, "num_heads: expected a divisor"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0, attention="time"), ValueError, "attention:"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0, pooling="sum"), ValueError, "pooling:"),
    (lambda: DSMI(3, 4, torch.zeros(3, 19, 18), center_joint=0), ValueError, "adjacency:"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0)(torch.randn(1, 3, 5, 25)), ValueError, "x: expected shape"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0)(torch.randn(1, 3, 5)), ValueError, "x: expected shape"),
    (lambda: DSMI(3, 4, _adj(), center_joint=0)(torch.randn(1, 3, 5, 19), torch.ones(1, 4, dtype=torch.bool)),
     ValueError, "mask:"),
])
def test_bad_input_names_the_argument(call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)
