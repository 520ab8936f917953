"""RTK keypoint graphs and the refinement head (§3.2, Eq. (4)–(5)): hand-made graphs, the compromise strategy,
padded batches equal to each video alone, gradients, float64 gradcheck, a training run, bad input."""

# ruff: noqa: C408  (keyword dict() calls read as the call they describe)

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actseg.layers import KeypointGraphs, KeypointRefinement, keypoint_graphs
from actseg.losses import permutation_loss
from actseg.postprocess import Keypoints, watershed_peaks

# segments [0, 4) class 1, [4, 10) class 2, [10, 12) class 3: boundaries 0, 4, 10, 11 (the end, T = 12, is not a
# frame: the last segment's last frame), action points 1, 6, 10
LABELS = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3]])
TARGET_POSITIONS = [0, 1, 4, 6, 10, 10, 11]
TARGET_KINDS = [0, 1, 0, 1, 0, 1, 0]
TARGET_LABELS = [-100, 1, -100, 2, -100, 3, -100]
# boundary regions with region=33 (16 frames each side), cut half-way between neighbouring boundaries
BOUNDARY_REGIONS = {0: (0, 2), 4: (3, 7), 10: (8, 10), 11: (11, 11)}


def _x(batch=1, channels=4, length=12, seed=0, dtype=torch.float32):
    return torch.randn(batch, channels, length, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _matched(g: KeypointGraphs, b: int = 0) -> list[int]:
    """Target node matched by each valid source node."""
    n = int(g.n1[b])
    return g.target[b, :n, :n].argmax(1).tolist()


def test_exact_m_candidates_one_per_region() -> None:
    x = _x()
    g = keypoint_graphs(x, LABELS, [[1, 6, 10]], [[0, 4, 10, 11]], generator=0)
    assert g.n1.tolist() == g.n2.tolist() == [7]
    assert g.positions2[0].tolist() == TARGET_POSITIONS and g.kinds2[0].tolist() == TARGET_KINDS
    assert g.labels2[0].tolist() == TARGET_LABELS
    assert g.positions1[0].tolist() == TARGET_POSITIONS and g.detected[0].all()
    assert g.target[0].equal(torch.eye(7)) and g.offsets[0].abs().sum() == 0
    torch.testing.assert_close(g.feat1[0], x[0, :, TARGET_POSITIONS].T, rtol=0, atol=0)
    torch.testing.assert_close(g.feat2, g.feat1, rtol=0, atol=0)
    full = torch.ones(7, 7) - torch.eye(7)  # the paper's edges among all points, no self loops
    assert g.A1[0].equal(full) and g.A2[0].equal(full)


def test_candidates_off_by_some_frames_match_their_regions() -> None:
    # boundary 5 -> boundary 4 (offset -1), 9 -> 10 (+1); action 8 -> segment 2's mid-point 6 (-2)
    g = keypoint_graphs(_x(), LABELS, [[2, 8, 11]], [[0, 5, 9, 11]], generator=0)
    # at frame 11 the boundary comes first (node order: frame, then boundary before action point)
    assert g.positions1[0].tolist() == [0, 2, 5, 8, 9, 11, 11]
    assert g.kinds1[0].tolist() == [0, 1, 0, 1, 0, 0, 1]
    assert _matched(g) == [0, 1, 2, 3, 4, 6, 5]
    assert g.offsets[0].tolist() == [0, -1, -1, -2, 1, 0, -1]
    assert g.labels1[0].tolist() == [-100, 1, -100, 2, -100, -100, 3] and g.detected[0].all()


def test_too_few_candidates_use_the_compromise_strategy() -> None:
    # no candidate for boundary 4, boundary 11 and the action point of segment 3
    runs = [keypoint_graphs(_x(), LABELS, [[1, 6]], [[0, 10]], generator=seed) for seed in range(30)]
    for g in runs:
        assert g.n1.tolist() == [7]
        for i, j in enumerate(_matched(g)):
            p, q, kind = int(g.positions1[0, i]), TARGET_POSITIONS[j], TARGET_KINDS[j]
            assert g.kinds1[0, i] == kind and g.labels1[0, i] == TARGET_LABELS[j]
            assert bool(g.detected[0, i]) == (j in (0, 1, 3, 4))  # targets 2, 5, 6 have no candidate
            if kind == 1:  # within the segment of the target point
                assert int(LABELS[0, p]) == TARGET_LABELS[j]
            else:
                lo, hi = BOUNDARY_REGIONS[q]
                assert lo <= p <= hi
    drawn = {int(g.positions1[0][g.kinds1[0] == 0][1]) for g in runs}  # the point standing for boundary 4
    assert drawn == {3, 4, 5, 6, 7}  # uniform over its region
    again = keypoint_graphs(_x(), LABELS, [[1, 6]], [[0, 10]], generator=7)
    assert again.positions1.equal(runs[7].positions1)  # the same seed gives the same graph


def test_too_many_candidates_are_subsampled_per_region() -> None:
    action = [0, 2, 3, 5, 6, 9, 10, 11]
    boundary = [1, 2, 3, 5, 8, 10, 11]
    picks = set()
    for seed in range(40):
        g = keypoint_graphs(_x(), LABELS, [action], [boundary], generator=seed)
        assert g.n1.tolist() == [7] and g.detected[0].all()
        pos = g.positions1[0].tolist()
        assert all(p in action for p, k in zip(pos, g.kinds1[0].tolist()) if k == 1)
        assert all(p in boundary for p, k in zip(pos, g.kinds1[0].tolist()) if k == 0)
        assert len(set(zip(pos, g.kinds1[0].tolist()))) == 7  # distinct points
        picks.add(tuple(pos))
    boundary_for_4 = {p[2] for p in picks}
    assert boundary_for_4 == {3, 5}  # both candidates of boundary 4's region [3, 7] are drawn


def test_empty_candidate_sets_give_m_drawn_points() -> None:
    for empty in (None, [[]], [np.zeros(0, dtype=np.int64)]):
        g = keypoint_graphs(_x(), LABELS, empty, empty, generator=3)
        assert g.n1.tolist() == [7] and not g.detected.any()
        matched = _matched(g)
        assert sorted(matched) == list(range(7)) and g.positions1[0].tolist() == sorted(g.positions1[0].tolist())
        assert [TARGET_KINDS[j] for j in matched] == g.kinds1[0].tolist()
        assert [TARGET_LABELS[j] for j in matched] == g.labels1[0].tolist()


def test_one_segment_video_and_a_video_without_segments() -> None:
    labels = torch.tensor([[5] * 9, [0] * 9])
    g = keypoint_graphs(_x(2, length=9), labels, [[4], []], [[0, 8], [3]], background=[0], generator=0)
    assert g.n1.tolist() == [3, 0] and g.positions2[0].tolist() == [0, 4, 8]
    assert g.labels2[0].tolist() == [-100, 5, -100] and g.positions1[0].tolist() == [0, 4, 8]
    assert (g.positions1[1] == -1).all() and (g.feat1[1] == 0).all() and (g.A1[1] == 0).all()
    head = KeypointRefinement(4, 6, hidden_channels=8)
    out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
    assert torch.isfinite(out.S).all() and (out.S[1] == 0).all() and (out.logits[1] == 0).all()


def test_holes_end_segments_and_padding_is_never_gathered() -> None:
    labels = torch.tensor([[1, 1, 1, 1, 1, 2, 2, 2, -100, -100]])
    mask = torch.tensor([[True, True, False, True, True, True, True, True, False, False]])
    g = keypoint_graphs(_x(length=10), labels, None, None, mask=mask, generator=0)
    # segments [0, 2), [3, 5), [5, 8): the first ends at the hole (boundary 1, its last frame), the last at padding
    assert g.positions2[0].tolist() == [0, 0, 1, 3, 3, 5, 6, 7]
    assert g.kinds2[0].tolist() == [0, 1, 0, 0, 1, 0, 1, 0]
    for seed in range(20):
        g = keypoint_graphs(_x(length=10), labels, None, [[2, 8]], mask=mask, generator=seed)
        assert bool(mask[0, g.positions1[0]].all())  # drawn points and used candidates are valid frames


def test_padded_batch_equals_each_video_alone() -> None:
    labels = torch.tensor([
        [1, 1, 1, 2, 2, 2, 2, 2, 0, 0, 3, 3, 3, 3, 1, 1],
        [4, 4, 4, 4, 4, 2, 2, 2, 2, 2, -100, -100, -100, -100, -100, -100],
        [0, 0, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2],
    ])
    mask = labels != -100
    mask[2, 7] = False  # a hole
    x = _x(3, 5, 16, seed=1)
    actions = [Keypoints(torch.tensor([1, 5, 11]), torch.rand(3), torch.tensor([1, 2, 3])), [2], (np.array([4, 9]),
                                                                                                 np.ones(2))]
    bounds = [[0, 3, 8, 9, 14, 15], np.array([0, 6]), torch.tensor([1, 2, 6, 13])]
    gen = torch.Generator().manual_seed(5)
    g = keypoint_graphs(x, labels, actions, bounds, mask=mask, background=[0], generator=gen, max_nodes=12)
    assert g.feat1.shape == (3, 12, 5)
    head = KeypointRefinement(5, 5, hidden_channels=8, kernel_size=3).eval()
    out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
    gen = torch.Generator().manual_seed(5)  # the same stream, served one video at a time
    for b in range(3):
        alone = keypoint_graphs(x[b:b + 1], labels[b:b + 1], actions[b:b + 1], bounds[b:b + 1],
                                mask=mask[b:b + 1], background=[0], generator=gen)
        n = int(alone.n1[0])
        assert int(g.n1[b]) == n
        for field in ("positions1", "positions2", "kinds1", "kinds2", "labels1", "labels2", "detected", "offsets"):
            assert getattr(g, field)[b, :n].equal(getattr(alone, field)[0]), field
        for field in ("feat1", "feat2", "A1", "A2", "target"):
            value = getattr(g, field)[b]
            assert value[:n, :n].equal(getattr(alone, field)[0]) if value.shape[-1] == 12 and field[0] != "f" else \
                value[:n].equal(getattr(alone, field)[0]), field
            assert (value[n:] == 0).all()
        one = head(alone.feat1, alone.A1, alone.n1, alone.feat2, alone.A2, alone.n2)
        torch.testing.assert_close(out.S[b, :n, :n], one.S[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out.logits[b, :n], one.logits[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.offsets[b, :n], one.offsets[0], atol=1e-5, rtol=1e-5)
        assert (out.logits[b, n:] == 0).all() and (out.offsets[b, n:] == 0).all()


def test_gradients_flow_to_the_features_at_node_frames_only() -> None:
    x = _x(2, 4, 12).requires_grad_()
    labels = torch.cat([LABELS, torch.tensor([[2] * 8 + [-100] * 4])])
    g = keypoint_graphs(x, labels, [[1, 6], [3]], [[0, 4], [0]], generator=0)
    head = KeypointRefinement(4, 4, hidden_channels=8)
    out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
    loss = permutation_loss(out.S, g.target, g.n1, g.n2) + F.cross_entropy(
        out.logits.flatten(0, 1), g.labels1.flatten(), ignore_index=-100) + out.offsets.sum()
    loss.backward()
    used = torch.zeros(2, 12, dtype=torch.bool)
    for b in range(2):
        n = int(g.n1[b])
        used[b, g.positions1[b, :n]] = True
        used[b, g.positions2[b, :n]] = True
    touched = x.grad.abs().sum(1) > 0
    assert touched.equal(used) and not touched[1, 8:].any()  # padded frames get no gradient


def test_gradcheck_float64_features_to_head_outputs() -> None:
    torch.manual_seed(0)
    head = KeypointRefinement(3, 3, hidden_channels=4, kernel_size=3, sinkhorn_iterations=5, sinkhorn_tau=0.5).double()
    labels = torch.tensor([[1, 1, 1, 2, 2, 2, 2, 0], [2, 2, 1, 1, 1, -100, -100, -100]])
    x = _x(2, 3, 8, seed=2, dtype=torch.float64).requires_grad_()

    def run(features):
        g = keypoint_graphs(features, labels, [[1, 4], [3]], [[0, 3, 7], [2]], generator=1)
        out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
        return out.S, out.logits, out.offsets, head(g.feat1, g.A1, g.n1).logits

    assert torch.autograd.gradcheck(run, (x,))


def test_training_decreases_the_permutation_and_reclassification_losses() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    labels = torch.stack([torch.randint(0, 4, (6,), generator=gen).repeat_interleave(5) for _ in range(4)])
    x = torch.randn(4, 8, 30, generator=gen) + F.one_hot(labels, 8).permute(0, 2, 1).float()  # class-coded frames
    peaks = [watershed_peaks(torch.rand(4, 30, generator=gen), 0.5) for _ in range(2)]
    head = KeypointRefinement(8, 4, hidden_channels=16, sinkhorn_tau=0.2)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    perm, ce = [], []
    for step in range(40):
        g = keypoint_graphs(x, labels, peaks[0], peaks[1], generator=step)
        out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
        loss_perm = permutation_loss(out.S, g.target, g.n1, g.n2)
        loss_cr = F.cross_entropy(out.logits.flatten(0, 1), g.labels1.flatten(), ignore_index=-100)
        opt.zero_grad()
        (loss_perm + loss_cr).backward()
        opt.step()
        perm.append(loss_perm.item())
        ce.append(loss_cr.item())
    assert np.mean(perm[-3:]) < 0.8 * np.mean(perm[:3]) and np.mean(ce[-3:]) < 0.6 * np.mean(ce[:3])


def test_inference_graph_holds_every_valid_candidate() -> None:
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 9:] = False
    kp = [Keypoints(np.array([2, 7]), np.ones(2), np.array([3, 1])), Keypoints(np.array([4, 10]), np.ones(2),
                                                                            np.array([0, 2]))]
    g = keypoint_graphs(_x(2), None, kp, [[0, 7, 11], [1]], mask=mask, adjacency="forward")
    assert g.n1.tolist() == [5, 2] and g.feat2 is None and g.target is None and g.offsets is None
    assert g.positions1[0].tolist() == [0, 2, 7, 7, 11] and g.kinds1[0].tolist() == [0, 1, 0, 1, 0]
    assert g.labels1[0].tolist() == [-100, 3, -100, 1, -100] and g.positions1[1, :2].tolist() == [1, 4]
    assert g.A1[0].equal(torch.tril(torch.ones(5, 5), -1)) and g.A1[1, :2, :2].equal(torch.tensor([[0., 0], [1, 0]]))
    out = KeypointRefinement(4, 4, hidden_channels=8)(g.feat1, g.A1, g.n1)
    assert out.S is None and out.logits.shape == (2, 5, 4) and (out.logits[1, 2:] == 0).all()


def test_meta_features_give_shapes() -> None:
    g = keypoint_graphs(_x().to("meta"), LABELS, [[1]], [[0]], generator=0)
    assert g.feat1.is_meta and g.feat1.shape == (1, 7, 4)
    assert g.positions1.shape == (1, 7) and g.target.shape == (1, 7, 7)
    head = KeypointRefinement(4, 3, hidden_channels=8).to("meta")
    out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
    assert out.logits.shape == (1, 7, 3) and out.S.shape == (1, 7, 7)


@pytest.mark.parametrize(("change", "error", "message"), [
    (dict(max_nodes=5), ValueError,
     r"^max_nodes: expected at least the 7 ground-truth keypoints of video 0 \(the padded node count\), got 5$"),
    (dict(action_points=[[1, 12]]), ValueError,
     r"^action_points\[0\]: expected frames in \[0, 12\) \(T of features\), got 12$"),
    (dict(boundary_points=[(np.array([-1]), np.ones(1))]), ValueError,
     r"^boundary_points\[0\]\.positions: expected frames in \[0, 12\) \(T of features\), got -1$"),
    (dict(action_points=[[1], [2]]), ValueError,
     r"^action_points: expected 1 per-video candidate sets \(one per video of features\), got 2$"),
    (dict(action_points=torch.tensor([[1]])), TypeError, r"^action_points: expected a list of 1 per-video"),
    (dict(action_points=[[1.5]]), TypeError, r"^action_points\[0\]: expected an integer dtype, got float64$"),
    (dict(action_points=[(np.array([1, 2]), np.ones(2), np.array([1]))]), ValueError,
     r"^action_points\[0\]\.labels: expected one label per candidate \(2\), got shape \(1,\)$"),
    (dict(features=_x().index_put_((torch.tensor(0), torch.tensor(1), torch.tensor(2)), torch.tensor(float("nan")))),
     ValueError, r"^features: expected no NaN, got NaN at index \(0, 1, 2\)$"),
    (dict(labels=LABELS[:, :5]), ValueError, r"^labels: expected shape \(B, T\) = \(1, 12\) \(as features\), got"),
    (dict(labels=LABELS.float()), TypeError, r"^labels: expected an integer dtype"),
    (dict(labels=LABELS - 2), ValueError, r"^labels: expected class ids >= 0 or ignore_index=-100, got -1$"),
    (dict(generator="seed"), TypeError, r"^generator: expected a torch.Generator, an integer seed or None"),
    (dict(adjacency="chain"), ValueError, r"^adjacency: expected one of"),
    (dict(region=0.0), ValueError, r"^region: expected"),
    (dict(features=_x()[0]), ValueError, r"^features: expected shape \(B, C, T\)"),
])
def test_bad_input_names_the_argument(change, error, message) -> None:
    args = dict(features=_x(), labels=LABELS, action_points=[[1, 6]], boundary_points=[[0]], generator=0)
    args.update(change)
    with pytest.raises(error, match=message):
        keypoint_graphs(**args)


def test_head_bad_input() -> None:
    head = KeypointRefinement(4, 3, hidden_channels=8)
    g = keypoint_graphs(_x(), LABELS, [[1]], [[0]], generator=0)
    with pytest.raises(ValueError, match=r"^feat2: expected feat2, A2 and n2 together \(the target graph\) or none "
                                         r"of them \(inference\), got no A2, n2$"):
        head(g.feat1, g.A1, g.n1, g.feat2)
    with pytest.raises(ValueError, match=r"^n1: expected node counts in \[0, 7\] \(the padded size\), got \[8\]$"):
        head(g.feat1, g.A1, torch.tensor([8]))
    with pytest.raises(ValueError, match=r"^feat1: expected shape \(b, n1, 4\), got \(1, 7, 5\)$"):
        head(torch.randn(1, 7, 5), g.A1, g.n1)
    with pytest.raises(ValueError, match=r"^kernel_size: expected an odd integer \(nodes keep their places\), got 2$"):
        KeypointRefinement(4, 3, kernel_size=2)
    with pytest.raises(ValueError, match=r"^num_graph_layers: expected an integer >= 2"):
        KeypointRefinement(4, 3, num_graph_layers=1)
