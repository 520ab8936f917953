"""GraphMatching (PCA-GM, RTK §3.2): parity with pygmtools' pca_gm, padding, gradients, bad input."""

# ruff: noqa: C408  (keyword dict() calls read as the call they describe)

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from actseg.io import convert_state_dict
from actseg.layers import GraphMatching
from actseg.layers._matching import sinkhorn
from actseg.losses import permutation_loss

DATA = Path(__file__).parent / "data" / "matching"


def _cases() -> list[dict]:
    return torch.load(DATA / "pca_gm.pt", weights_only=True)


def _model(case: dict) -> GraphMatching:
    d, hidden, out, layers, iterations, tau = case["config"]
    model = GraphMatching(d, hidden, out, layers, sinkhorn_iterations=iterations, sinkhorn_tau=tau)
    model.load_state_dict(convert_state_dict(case["state_dict"], "pygmtools-pca-gm"), strict=True)
    return model


def _graphs(seed: int, n1: list[int], n2: list[int], size1: int, size2: int, d: int = 6,
            dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for n, size in ((n1, size1), (n2, size2)):
        n = torch.tensor(n)
        valid = torch.arange(size) < n[:, None]
        adj = ((torch.rand(len(n), size, size, generator=g) < 0.5) & valid[:, :, None] & valid[:, None, :]).to(dtype)
        out.append((torch.randn(len(n), size, d, generator=g, dtype=dtype) * 0.5, adj, n))
    (f1, a1, c1), (f2, a2, c2) = out
    return f1, f2, a1, a2, c1, c2


@pytest.mark.parametrize("index", range(5))
def test_parity_with_stored_pygmtools_outputs(index: int) -> None:
    case = _cases()[index]
    assert case["pygmtools"] == "0.6.0"
    S, emb1, emb2 = _model(case)(*case["inputs"])
    torch.testing.assert_close(S, case["S"], atol=1e-5, rtol=0)
    n1, n2 = case["inputs"][4], case["inputs"][5]
    for b in range(len(n1)):
        assert (S[b, n1[b]:] == 0).all() and (S[b, :, n2[b]:] == 0).all()
        assert (emb1[b, n1[b]:] == 0).all() and (emb2[b, n2[b]:] == 0).all()
        # an even number of iterations ends with pygmtools' column step of the graph oriented with its
        # smaller side first: each node of the larger graph gets a total of 1
        if case["config"][4] % 2 == 0 and n1[b] != n2[b]:
            sums = S[b, :n1[b], :n2[b]].sum(dim=0 if n1[b] < n2[b] else 1)
            torch.testing.assert_close(sums, torch.ones_like(sums), atol=1e-4, rtol=0)


def test_parity_with_live_pygmtools_float64_values_and_gradients() -> None:
    pygm = pytest.importorskip("pygmtools")
    from pygmtools.pytorch_backend import PCA_GM_Net

    pygm.set_backend("pytorch")
    torch.manual_seed(3)
    net = PCA_GM_Net(6, 10, 8, 3).double()
    model = GraphMatching(6, 10, 8, 3).double()
    model.load_state_dict(convert_state_dict(net.state_dict(), "pygmtools-pca-gm"))
    f1, f2, a1, a2, n1, n2 = _graphs(0, [5, 3, 7, 4], [6, 7, 4, 4], 7, 8, dtype=torch.float64)
    weights = torch.rand(4, 7, 8, dtype=torch.float64)
    grads = []
    for run in (lambda *a: pygm.pca_gm(*a, network=net), lambda *a: model(*a)[0]):
        x1, x2 = f1.clone().requires_grad_(), f2.clone().requires_grad_()
        S = run(x1, x2, a1, a2, n1, n2)
        (S * weights).sum().backward()
        grads.append((S.detach(), x1.grad, x2.grad))
    for ref, ours in zip(*grads):
        torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-9)
    assert grads[1][1].abs().max() > 1e-3  # a gradient that is not trivially 0


def test_hungarian_matches_pygmtools() -> None:
    pygm = pytest.importorskip("pygmtools")
    pygm.set_backend("pytorch")
    case = _cases()[3]
    S = _model(case)(*case["inputs"])[0].detach()
    n1, n2 = case["inputs"][4], case["inputs"][5]
    X = GraphMatching.hungarian(S, n1, n2)
    torch.testing.assert_close(X, pygm.hungarian(S, n1, n2).to(X.dtype))
    assert X.sum(dim=(1, 2)).tolist() == torch.minimum(n1, n2).float().tolist()
    assert X.dtype == S.dtype and ((X == 0) | (X == 1)).all()


def test_padded_batch_equals_each_graph_alone() -> None:
    torch.manual_seed(0)
    model = GraphMatching(6, 12, 10)
    f1, f2, a1, a2, n1, n2 = _graphs(1, [5, 2, 7], [6, 7, 3], 8, 9)
    # garbage in the padding: features and adjacency entries of padded nodes must not matter
    f1[0, 5:], f2[2, 3:] = 100.0, -50.0
    a1[0, 5:, :] = 1.0
    a2[2, :, 3:] = 1.0
    S, emb1, emb2 = model(f1, f2, a1, a2, n1, n2)
    for b in range(3):
        k1, k2 = int(n1[b]), int(n2[b])
        s, e1, e2 = model(f1[b:b + 1, :k1], f2[b:b + 1, :k2], a1[b:b + 1, :k1, :k1], a2[b:b + 1, :k2, :k2],
                          n1[b:b + 1], n2[b:b + 1])
        torch.testing.assert_close(S[b, :k1, :k2], s[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(emb1[b, :k1], e1[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(emb2[b, :k2], e2[0], atol=1e-5, rtol=1e-5)


def test_gradients_flow_to_valid_node_features_only() -> None:
    torch.manual_seed(0)
    model = GraphMatching(6, 12, 10)
    f1, f2, a1, a2, n1, n2 = _graphs(2, [5, 3], [4, 6], 6, 6)
    f1.requires_grad_()
    f2.requires_grad_()
    S, emb1, emb2 = model(f1, f2, a1, a2, n1, n2)
    ((S * torch.rand(S.shape)).sum() + emb1.sum() + emb2.sum()).backward()
    for grad, n in ((f1.grad, n1), (f2.grad, n2)):
        for b in range(2):
            assert (grad[b, :n[b]].abs().sum(dim=-1) > 0).all()
            assert (grad[b, n[b]:] == 0).all()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_gradcheck_float64() -> None:
    torch.manual_seed(0)
    model = GraphMatching(3, 4, 4, sinkhorn_iterations=5, sinkhorn_tau=0.5).double()
    f1, f2, a1, a2, n1, n2 = _graphs(3, [3, 2], [2, 4], 3, 4, d=3, dtype=torch.float64)
    f1.requires_grad_()
    f2.requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: model(x, y, a1, a2, n1, n2), (f1, f2))


def test_permutation_loss_composes_and_training_decreases_it() -> None:
    torch.manual_seed(0)
    model = GraphMatching(6, 16, 16, sinkhorn_tau=0.2)
    f1, _, a1, _, n1, _ = _graphs(4, [6, 4, 5], [6, 4, 5], 6, 6)
    perm = torch.stack([torch.randperm(6) for _ in range(3)])
    target = torch.zeros(3, 6, 6)
    for b in range(3):  # graph 2 is graph 1 with its valid nodes permuted
        k = int(n1[b])
        p = torch.randperm(k)
        target[b, torch.arange(k), p] = 1.0
        perm[b, :k] = torch.argsort(p)
    f2 = torch.stack([f1[b, perm[b]] for b in range(3)])
    a2 = torch.stack([a1[b][perm[b]][:, perm[b]] for b in range(3)])
    for b in range(3):  # keep the padding of graph 2 where graph 1 has it
        f2[b, int(n1[b]):], a2[b, int(n1[b]):], a2[b, :, int(n1[b]):] = 0, 0, 0
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        S = model(f1, f2, a1, a2, n1, n1)[0]
        loss = permutation_loss(S, target, n1, n1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    X = GraphMatching.hungarian(model(f1, f2, a1, a2, n1, n1)[0], n1, n1)
    assert torch.equal(X, target)


def test_sinkhorn_log_domain_steps_match_pygmtools_for_saturated_scores() -> None:
    pygm = pytest.importorskip("pygmtools")
    pygm.set_backend("pytorch")
    g = torch.Generator().manual_seed(5)
    n1, n2 = torch.tensor([5, 7, 3]), torch.tensor([7, 4, 3])
    for scale in (0.1, 1000.0):  # small scores: every step in place; huge ones underflow and take log steps
        scores = (torch.randn(3, 7, 7, generator=g, dtype=torch.float64) * scale).requires_grad_()
        ours = sinkhorn(scores, n1, n2, 20, 0.05)
        ref = pygm.sinkhorn(scores, n1, n2, max_iter=20, tau=0.05)
        torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)
        w = torch.rand(3, 7, 7, generator=g, dtype=torch.float64)
        g_ours, = torch.autograd.grad((ours * w).sum(), scores)
        g_ref, = torch.autograd.grad((ref * w).sum(), scores)
        torch.testing.assert_close(g_ours, g_ref, atol=1e-10, rtol=1e-8)
        # a second backward through the same graph (retain_graph) gives the same gradient
        ours = sinkhorn(scores, n1, n2, 20, 0.05)
        first, = torch.autograd.grad((ours * w).sum(), scores, retain_graph=True)
        second, = torch.autograd.grad((ours * w).sum(), scores)
        torch.testing.assert_close(first, g_ref, atol=1e-10, rtol=1e-8)
        torch.testing.assert_close(second, first, atol=0, rtol=0)


def test_autocast_bfloat16_gives_finite_matchings() -> None:
    torch.manual_seed(0)
    model = GraphMatching(6, 12, 10)
    f1, f2, a1, a2, n1, n2 = _graphs(7, [5, 3], [4, 6], 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        S, _, _ = model(f1, f2, a1, a2, n1, n2)
    reference = model(f1, f2, a1, a2, n1, n2)[0]
    assert torch.isfinite(S).all() and (S[0, 5:] == 0).all()
    torch.testing.assert_close(S.float(), reference, atol=0.1, rtol=0)


def test_empty_graph_gives_a_zero_matching() -> None:
    model = GraphMatching(6, 8, 8)
    f1, f2, a1, a2, _, _ = _graphs(6, [3, 3], [3, 3], 3, 3)
    S, emb1, _ = model(f1, f2, a1, a2, torch.tensor([0, 3]), torch.tensor([3, 3]))
    assert (S[0] == 0).all() and (emb1[0] == 0).all() and torch.isfinite(S).all()
    torch.testing.assert_close(S[1].sum(dim=0), torch.ones(3))  # the last step normalises columns


def test_meta_tensors_give_shapes() -> None:
    model = GraphMatching(6, 8, 5).to("meta")
    S, e1, e2 = model(*(x.to("meta") for x in _graphs(0, [3, 2], [4, 1], 3, 4)))
    assert S.shape == (2, 3, 4) and e1.shape == (2, 3, 5) and e2.shape == (2, 4, 5)


def test_convert_state_dict_rejects_foreign_keys() -> None:
    with pytest.raises(ValueError, match="state_dict: 1 keys are not parameters of a 'pygmtools-pca-gm'"):
        convert_state_dict({"gnn_layer_0.gconv.a_fc.weight": 0, "bogus.weight": 1}, "pygmtools-pca-gm")
    out = convert_state_dict({"module.affinity_1.A": 0, "cross_graph_0.bias": 1}, "pygmtools-pca-gm")
    assert out == {"affinity.1": 0, "cross_graph.bias": 1}


@pytest.mark.parametrize(("change", "error", "message"), [
    (lambda a: a.update(n1=torch.tensor([4, 2])), ValueError, r"^n1: expected node counts in \[0, 3\]"),
    (lambda a: a.update(n2=torch.tensor([1, -1])), ValueError, r"^n2: expected node counts in \[0, 4\]"),
    (lambda a: a.update(n1=torch.tensor([1, 2, 3])), ValueError, r"^n1: expected shape \(2,\)"),
    (lambda a: a.update(n1=torch.tensor([1.0, 2.0])), TypeError, r"^n1: "),
    (lambda a: a["feat1"].__setitem__((0, 0, 0), float("nan")), ValueError, r"^feat1: expected no NaN"),
    (lambda a: a["A2"].__setitem__((1, 0, 0), float("nan")), ValueError, r"^A2: expected no NaN"),
    (lambda a: a.update(feat1=a["feat1"][0]), ValueError, r"^feat1: expected shape \(b, n1, 6\)"),
    (lambda a: a.update(feat2=a["feat2"][..., :5]), ValueError, r"^feat2: expected shape \(2, n2, 6\)"),
    (lambda a: a.update(A1=a["A1"][:, :2]), ValueError, r"^A1: expected shape \(2, 3, 3\)"),
    (lambda a: a.update(A2=a["A2"][None]), ValueError, r"^A2: expected shape \(2, 4, 4\)"),
    (lambda a: a.update(A1=a["A1"].bool()), TypeError, r"^A1: expected a floating dtype"),
    (lambda a: a.update(feat2=a["feat2"].double()), TypeError, r"^feat2: expected dtype torch.float32"),
])
def test_bad_input_names_the_argument(change, error, message) -> None:
    model = GraphMatching(6, 8, 8)
    args = dict(zip(("feat1", "feat2", "A1", "A2", "n1", "n2"), _graphs(0, [3, 2], [4, 1], 3, 4)))
    change(args)
    with pytest.raises(error, match=message):
        model(**args)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(num_layers=1), r"^num_layers: expected an integer >= 2"),
    (dict(sinkhorn_tau=0.0), r"^sinkhorn_tau: expected a finite number > 0"),
    (dict(sinkhorn_iterations=-1), r"^sinkhorn_iterations: expected an integer >= 0"),
    (dict(hidden_channels=2**20), r"^hidden_channels: expected an integer"),
])
def test_bad_constructor_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        GraphMatching(**{"in_channels": 4, "hidden_channels": 8, "out_channels": 8, **kwargs})


def test_hungarian_bad_input() -> None:
    with pytest.raises(ValueError, match=r"^n1: expected node counts in \[0, 2\]"):
        GraphMatching.hungarian(torch.rand(1, 2, 3), torch.tensor([3]), None)
    with pytest.raises(ValueError, match=r"^S: expected shape \(b, n1, n2\)"):
        GraphMatching.hungarian(torch.rand(2, 3))


def test_compile_path_sinkhorn_equals_eager_float64(monkeypatch) -> None:
    """The static-shaped Sinkhorn taken while ``torch.compile`` traces (log-domain steps, both orientations in one
    batch) gives the eager path's values and gradients, for graphs of both orientations, ties and an empty one."""
    import actseg.layers._matching as matching

    g = torch.Generator().manual_seed(11)
    n1, n2 = torch.tensor([5, 7, 3, 0, 6]), torch.tensor([7, 4, 3, 2, 6])
    scores = (torch.randn(5, 7, 7, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    w = torch.rand(5, 7, 7, generator=g, dtype=torch.float64)
    eager = sinkhorn(scores, n1, n2, 20, 0.05)
    g_eager, = torch.autograd.grad((eager * w).sum(), scores)
    monkeypatch.setattr(matching, "compiling", lambda: True)
    static = sinkhorn(scores, n1, n2, 20, 0.05)
    g_static, = torch.autograd.grad((static * w).sum(), scores)
    torch.testing.assert_close(static, eager, atol=1e-12, rtol=0)
    torch.testing.assert_close(g_static, g_eager, atol=1e-10, rtol=1e-8)
    assert (static[3] == 0).all() and g_eager.abs().max() > 1e-3
