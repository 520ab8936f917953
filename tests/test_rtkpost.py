"""RTK post-processing: watershed keypoint peaks (§3.2) and rule-based re-assembly (§3.3, Eq. (6a)-(6d))."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.postprocess import Keypoints, find_peaks, reassemble, watershed_peaks
from actseg.segments import labels_to_segments
from actseg.targets import action_point_heatmaps, boundary_heatmap

# ---------------------------------------------------------------------------------------------------
# independent references: a level-by-level flooding, and the benchmark's plain-Python RTK rules

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_rtk_post.py"
_spec = importlib.util.spec_from_file_location("bench_rtk_post", _BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
python_reassemble = bench.python_reassemble


def immersion_peaks(h: np.ndarray, threshold: float) -> list[int]:
    """Vincent-Soille immersion from the top: flood ``{h >= level}`` level by level (descending); a
    connected component that holds no earlier basin is a new basin, seeded by its plateau at that level."""
    seen = np.zeros(h.shape, dtype=bool)
    peaks = []
    for level in np.unique(h)[::-1]:
        if level < threshold:
            break
        comp, n = scipy.ndimage.label(h >= level)
        for k in range(1, n + 1):
            where = comp == k
            if not seen[where].any():
                idx = np.flatnonzero(where)
                peaks.append(int((idx[0] + idx[-1]) // 2))
        seen |= h >= level
    return sorted(peaks)


def as_tuples(seg):
    return list(zip(seg.starts.tolist(), seg.ends.tolist(), seg.labels.tolist(), seg.scores.tolist()))


# ---------------------------------------------------------------------------------------------------
# watershed_peaks


def test_peaks_hand_made():
    h = [0.9, 0.9, 0.2, 0.7, 0.7, 0.7, 0.1, 0.4, 0.4, 0.8]
    kp = watershed_peaks(h, 0.5)
    assert kp.positions.tolist() == [0, 4, 9]  # border plateau, interior plateau centre, last frame
    assert kp.scores.tolist() == [0.9, 0.7, 0.8]
    assert kp.labels is None
    assert kp.positions.dtype == np.int64 and kp.scores.dtype == np.float64
    # a shoulder (equal run with a higher neighbour) is no peak; an even plateau takes the left centre
    assert watershed_peaks([0.2, 0.6, 0.6, 0.9, 0.1, 0.8, 0.8, 0.3], 0.0).positions.tolist() == [3, 5]
    # constant track: one plateau covering everything, one peak at the centre
    assert watershed_peaks(np.full(7, 0.6), 0.5).positions.tolist() == [3]
    # threshold is inclusive
    assert watershed_peaks([0.1, 0.5, 0.1], 0.5).positions.tolist() == [1]


def test_peaks_all_below_threshold_and_empty():
    kp = watershed_peaks([[0.1, 0.3, 0.2], [0.0, 0.0, 0.0]], 0.5)
    assert [k.positions.tolist() for k in kp] == [[], []]
    assert kp[0].scores.shape == (0,)
    three = watershed_peaks(np.zeros((1, 3, 4)), 0.5)[0]
    assert three.positions.shape == three.scores.shape == three.labels.shape == (0,)


def test_peaks_equal_immersion_and_scipy():
    rng = np.random.default_rng(0)
    for _ in range(200):
        t = int(rng.integers(1, 40))
        h = rng.integers(0, 5, t) / 4.0  # many plateaus
        thr = float(rng.choice([0.0, 0.25, 0.5, 1.0]))
        ours = watershed_peaks(h, thr).positions.tolist()
        assert ours == immersion_peaks(h, thr)
        assert ours == (scipy.signal.find_peaks(np.pad(h, 1, constant_values=-np.inf), height=thr)[0] - 1).tolist()
        assert ours == find_peaks(h, thr).tolist()


def test_peaks_mask_with_holes():
    h = np.array([[0.2, 0.8, 0.3, 0.9, 0.9, 0.1, 0.7, 0.5]])
    mask = np.array([[True, True, True, False, False, True, True, False]])
    # the padded frames are removed: valid track 0.2, 0.8, 0.3, 0.1, 0.7 -> peaks at frames 1 and 6
    kp = watershed_peaks(h, 0.5, mask=mask)[0]
    assert kp.positions.tolist() == [1, 6]
    # values at padding are not read (not even checked)
    bad = h.copy()
    bad[0, 3] = np.nan
    bad[0, 7] = 5.0
    assert watershed_peaks(bad, 0.5, mask=mask)[0].positions.tolist() == [1, 6]
    # a plateau across a hole is one plateau of the valid sequence
    h2 = np.array([[0.1, 0.6, 0.0, 0.6, 0.1]])
    assert watershed_peaks(h2, 0.5, mask=np.array([[1, 1, 0, 1, 1]], bool))[0].positions.tolist() == [1]


def test_peaks_class_heatmaps_and_cap():
    h = np.zeros((2, 3, 8))
    h[0, 0, [1, 5]] = [0.6, 0.9]
    h[0, 2, [1, 3]] = [0.6, 0.8]
    h[1, 1, 7] = 0.7
    kp = watershed_peaks(h, 0.5)
    assert kp[0].positions.tolist() == [1, 1, 3, 5]
    assert kp[0].labels.tolist() == [0, 2, 2, 0]  # (position, label) order
    assert kp[0].scores.tolist() == [0.6, 0.6, 0.8, 0.9]
    assert kp[1].positions.tolist() == [7] and kp[1].labels.tolist() == [1]
    capped = watershed_peaks(h, 0.5, max_candidates=3)
    # the 3 best: 0.9, 0.8 and the earlier/lower-label of the tied 0.6 (frame 1, label 0)
    assert capped[0].positions.tolist() == [1, 3, 5]
    assert capped[0].labels.tolist() == [0, 2, 0]
    assert capped[1].positions.tolist() == [7]
    assert [k.positions.tolist() for k in watershed_peaks(h, 0.5, max_candidates=np.int64(1))] == [[5], [7]]


def test_peaks_rtk_cap():
    rng = np.random.default_rng(1)
    h = scipy.ndimage.gaussian_filter1d(rng.random((1, 4, 2000)), 2.0)
    h = (h - h.min()) / (h.max() - h.min())
    kp = watershed_peaks(h, 0.0, max_candidates=int(0.1 * 2000))[0]
    full = watershed_peaks(h, 0.0)[0]
    assert len(kp.positions) == 200 < len(full.positions)
    assert kp.scores.min() >= np.sort(full.scores)[-200]
    assert np.all(np.diff(kp.positions) >= 0)


def test_peaks_tensor_in_tensor_out():
    h = torch.tensor([[[0.1, 0.9, 0.1, 0.6]], [[0.7, 0.1, 0.1, 0.1]]], dtype=torch.float16)
    kp = watershed_peaks(h, 0.5)
    assert isinstance(kp[0].positions, torch.Tensor) and kp[0].positions.tolist() == [1, 3]
    assert kp[0].labels.tolist() == [0, 0]
    assert kp[1].scores.dtype == torch.float64
    assert torch.allclose(kp[1].scores, torch.tensor([0.7], dtype=torch.float64), atol=1e-3)
    assert isinstance(watershed_peaks(torch.rand(5), 0.5), Keypoints)


@pytest.mark.parametrize("bad, match", [
    ([0.1, 1.5, 0.2], r"heatmap: expected probabilities in \[0, 1\], got 1.5 at index 1"),
    ([[0.1, -0.5]], r"heatmap: .*got -0.5 at index \(0, 1\)"),
    ([[[0.1, float("nan")]]], r"heatmap: .*got NaN at index \(0, 0, 1\)"),
    (np.zeros((1, 1, 1, 3)), r"heatmap: expected shape \(T,\), \(B, T\) or \(B, C, T\), got \(1, 1, 1, 3\)"),
])
def test_peaks_bad_heatmap(bad, match):
    with pytest.raises(ValueError, match=match):
        watershed_peaks(bad, 0.5)


def test_peaks_bad_arguments():
    with pytest.raises(ValueError, match="threshold"):
        watershed_peaks([0.5], 1.5)
    with pytest.raises(ValueError, match="max_candidates"):
        watershed_peaks([0.5], 0.5, max_candidates=0)
    with pytest.raises(TypeError, match="max_candidates"):
        watershed_peaks([0.5], 0.5, max_candidates=2.0)
    with pytest.raises(ValueError, match="mask"):
        watershed_peaks(np.zeros((2, 3, 5)), 0.5, mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="mask"):
        watershed_peaks(np.zeros((2, 5)), 0.5, mask=np.ones((2, 5)))
    with pytest.raises(TypeError, match="heatmap"):
        watershed_peaks(np.zeros(3, complex), 0.5)


# ---------------------------------------------------------------------------------------------------
# reassemble: every rule's edge case


def test_reassemble_rules():
    # (i) action points between two boundaries merge: the most confident label
    seg = reassemble(([1, 2, 3], [0.3, 0.9, 0.5], [4, 5, 6]), ([], []), 10)
    assert as_tuples(seg) == [(0, 10, 5, 0.9)]
    # (ii) boundaries between two action points merge at the weighted mean (3*0.25 + 7*0.75 = 6)
    seg = reassemble(([1, 8], [0.5, 0.6], [0, 1]), ([3, 7], [0.25, 0.75]), 10)
    assert as_tuples(seg) == [(0, 6, 0, 0.5), (6, 10, 1, 0.6)]
    # (iii) neighbours with equal labels merge (the boundary between them goes), higher confidence kept
    seg = reassemble(([1, 4, 8], [0.5, 0.7, 0.6], [2, 2, 3]), ([3, 6], [1.0, 1.0]), 10)
    assert as_tuples(seg) == [(0, 6, 2, 0.7), (6, 10, 3, 0.6)]
    # boundaries before the first / after the last action point merge into 0 / T (Eq. (6b))
    seg = reassemble(([4], [0.5], [1]), ([1, 2, 8], [1.0, 1.0, 1.0]), 10)
    assert as_tuples(seg) == [(0, 10, 1, 0.5)]


def test_reassemble_edge_cases():
    # no action point: nothing labels the video -> empty Segments
    seg = reassemble(([], [], []), ([3], [0.9]), 10)
    assert len(seg) == 0 and seg.scores.shape == (0,)
    assert seg.to_labels(10, fill=0).tolist() == [0] * 10
    # no boundary point: one segment
    assert as_tuples(reassemble(([5], [0.2], [3]), ([], []), 7)) == [(0, 7, 3, 0.2)]
    # points outside [0, T) are dropped; a boundary at 0 is the implicit b_1
    seg = reassemble(([-2, 3, 6, 10, 12], [1.0, 0.4, 0.5, 1.0, 1.0], [7, 1, 2, 7, 7]), ([0, 5, 10, -1], [1.0] * 4), 10)
    assert as_tuples(seg) == [(0, 5, 1, 0.4), (5, 10, 2, 0.5)]
    # an action point on a boundary frame belongs to the segment that starts there (b_i <= d_i)
    assert as_tuples(reassemble(([2, 5], [0.5, 0.5], [0, 1]), ([5], [1.0]), 9)) == [(0, 5, 0, 0.5), (5, 9, 1, 0.5)]
    # all-zero boundary weights: the plain mean (3 + 6) / 2 = 4.5 -> 5 (half up)
    assert reassemble(([1, 8], [0.5, 0.5], [0, 1]), ([3, 6], [0.0, 0.0]), 10).starts.tolist() == [0, 5]
    # equal confidences in a group: the earlier point, then the lower label
    assert reassemble(([3, 1, 1], [0.5, 0.5, 0.5], [9, 4, 2]), ([], []), 5).labels.tolist() == [2]
    # length 1
    assert as_tuples(reassemble(([0], [1.0], [0]), ([0], [1.0]), 1)) == [(0, 1, 0, 1.0)]


def test_reassemble_batch_and_composition_with_peaks():
    rng = np.random.default_rng(3)
    heat = torch.tensor(scipy.ndimage.gaussian_filter1d(rng.random((3, 4, 50)), 1.5), dtype=torch.float32)
    heat = (heat - heat.min()) / (heat.max() - heat.min())
    bheat = heat.mean(1)
    mask = torch.ones(3, 50, dtype=torch.bool)
    mask[1, 40:] = False
    mask[2, 10:13] = False
    acts = watershed_peaks(heat, 0.5, mask=mask, max_candidates=5)
    bnds = watershed_peaks(bheat, 0.3, mask=mask)
    lengths = mask.sum(1)
    segs = reassemble(acts, bnds, lengths)
    assert len(segs) == 3
    for v in range(3):
        one = reassemble(acts[v], bnds[v], int(lengths[v]))
        assert as_tuples(one) == as_tuples(segs[v])
        assert one.ends[-1] == int(lengths[v])
    assert [len(s) for s in reassemble(acts, bnds, 50)] == [len(s) for s in segs[:1]] + [
        len(reassemble(acts[1], bnds[1], 50)), len(reassemble(acts[2], bnds[2], 50))]


@pytest.mark.parametrize("end", ["exclusive", "last"])
def test_perfect_heatmaps_give_the_ground_truth(end):
    labels = torch.tensor([[0] * 10 + [1] * 15 + [2] * 20 + [1] * 15, [3] * 30 + [0] * 20 + [-100] * 10])
    mask = labels != -100
    heat, _ = action_point_heatmaps(labels, mask=mask)
    onehot = torch.nn.functional.one_hot(labels.clamp(min=0), 4).permute(0, 2, 1).float() * mask[:, None]
    acts = watershed_peaks(heat[:, None] * onehot, 0.5, mask=mask)
    bnds = watershed_peaks(boundary_heatmap(labels, mask=mask, end=end), 0.5, mask=mask)
    segs = reassemble(acts, bnds, mask.sum(1))
    for v, seg in enumerate(segs):
        truth = labels_to_segments(labels[v][mask[v]])
        shift = 0 if end == "exclusive" else 1  # "last": the plateau e-1, e has its centre at e-1
        assert seg.labels.tolist() == truth.labels.tolist()
        assert seg.starts.tolist() == [0] + [s - shift for s in truth.starts.tolist()[1:]]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: reassemble(([1], [float("nan")], [0]), ([], []), 5), ValueError, r"action_points.scores: expected finite"),
    (lambda: reassemble(([1], [-0.1], [0]), ([], []), 5), ValueError,
     r"action_points.scores: expected values >= 0.0, got -0.1"),
    (lambda: reassemble(([1], [0.5], [-1]), ([], []), 5), ValueError, r"action_points.labels"),
    (lambda: reassemble(([1], [0.5]), ([], []), 5), ValueError, r"action_points.labels: expected the class ids"),
    (lambda: reassemble(Keypoints([1], [0.5]), ([], []), 5), ValueError, r"action_points.labels"),
    (lambda: reassemble(([1.5], [0.5], [0]), ([], []), 5), TypeError, r"action_points.positions"),
    (lambda: reassemble(([1, 2], [0.5], [0, 0]), ([], []), 5), ValueError, r"action_points.scores: expected shape"),
    (lambda: reassemble(([1], [0.5], [0]), ([2], [np.inf]), 5), ValueError, r"boundary_points.scores"),
    (lambda: reassemble(([1], [0.5], [0]), ([], []), 0), ValueError, r"length"),
    (lambda: reassemble(([1], [0.5], [0]), ([], []), 2.0), TypeError, r"length"),
    (lambda: reassemble([1, 2], ([], []), 5), TypeError, r"boundary_points: expected a list"),
    (lambda: reassemble([([1], [0.5], [0])], [], 5), ValueError, r"boundary_points: expected 1 videos"),
    (lambda: reassemble([([1], [0.5], [0])], [([], [])], [5, 6]), ValueError, r"length: expected an integer or 1"),
    (lambda: reassemble([([1], [0.5], [0]), "x"], [([], []), ([], [])], 5), TypeError, r"action_points\[1\]"),
    (lambda: reassemble({"a": 1}, ([], []), 5), TypeError, r"action_points: expected a Keypoints"),
])
def test_reassemble_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------------------------------
# hypothesis: a valid segmentation by construction, equal to the Python rules, order-invariant

point = st.tuples(st.integers(-3, 33), st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(acts=st.lists(point, max_size=25), bnds=st.lists(point, max_size=25), length=st.integers(1, 30),
       seed=st.integers(0, 2**16))
def test_reassemble_properties(acts, bnds, length, seed):
    a = (np.array([p[0] for p in acts], np.int64), np.array([p[1] for p in acts]),
         np.array([p[2] for p in acts], np.int64))
    b = (np.array([p[0] for p in bnds], np.int64), np.array([p[1] for p in bnds]))
    seg = reassemble(a, b, length)
    if not any(0 <= p[0] < length for p in acts):
        assert len(seg) == 0
        return
    assert seg.starts[0] == 0 and seg.ends[-1] == length
    assert np.array_equal(seg.ends[:-1], seg.starts[1:])
    assert np.all(seg.ends > seg.starts)
    assert np.all(seg.labels[1:] != seg.labels[:-1])
    assert set(seg.labels.tolist()) <= {p[2] for p in acts if 0 <= p[0] < length}
    inner = {p[0] for p in bnds if 0 < p[0] < length}
    assert set(seg.starts[1:].tolist()) <= set(range(min(inner, default=0), max(inner, default=0) + 1))
    # each segment holds an action point of its label (Eq. (6c))
    for s, e, c in zip(seg.starts, seg.ends, seg.labels):
        assert any(s <= p[0] < e and p[2] == c for p in acts)
    assert as_tuples(seg) == python_reassemble(acts, [(p[0], p[1]) for p in bnds], length)
    # the input order does not matter
    rng = np.random.default_rng(seed)
    pa, pb = rng.permutation(len(acts)), rng.permutation(len(bnds))
    shuffled = reassemble(tuple(x[pa] for x in a), tuple(x[pb] for x in b), length)
    assert as_tuples(shuffled) == as_tuples(seg)


# ---------------------------------------------------------------------------------------------------
# composed (issue 12 §3): ASFormer encoder -> RTK targets -> KeypointLoss -> watershed_peaks -> reassemble -> metrics


def test_rtk_pipeline_trains_and_decodes():
    from actseg.layers import ASFormer
    from actseg.losses import KeypointLoss
    from actseg.metrics import SegmentationMetrics

    torch.manual_seed(0)
    classes, length, channels = 3, 64, 8
    gen = np.random.default_rng(0)
    labels = torch.full((4, length), -100, dtype=torch.long)
    for v, n in enumerate([64, 64, 50, 40]):  # two padded videos
        cuts = np.sort(gen.choice(np.arange(8, n - 8), size=2, replace=False))
        runs = np.split(np.arange(n), cuts)
        ids = gen.permutation(classes)
        for k, run in enumerate(runs):
            labels[v, run] = int(ids[k % classes])
    mask = labels != -100
    embed = torch.randn(classes, channels)
    feats = (embed[labels.clamp(min=0)].permute(0, 2, 1) + 0.3 * torch.randn(4, channels, length)) * mask[:, None]
    heat, cats = action_point_heatmaps(labels, mask=mask)
    bheat = boundary_heatmap(labels, mask=mask, region=4.0, end="exclusive")

    model = ASFormer(channels, classes + 2, num_layers=3, num_channels=16, num_decoders=0, channel_dropout=0.0)
    criterion = KeypointLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        out = model(feats, mask)[0]  # the encoder's output (B, 2 + K, T)
        loss = criterion(out[:, 0], out[:, 2:], out[:, 1], heat, cats, bheat, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]

    model.eval()
    with torch.no_grad():
        out = model(feats, mask)[0]
    class_heat = torch.sigmoid(out[:, 0])[:, None] * torch.softmax(out[:, 2:], 1)  # RTK Eq. (2)
    acts = watershed_peaks(class_heat, 0.4, mask=mask, max_candidates=int(0.1 * length))
    bnds = watershed_peaks(torch.sigmoid(out[:, 1]), 0.2, mask=mask)
    segs = reassemble(acts, bnds, mask.sum(1))
    metrics = SegmentationMetrics()
    for v, seg in enumerate(segs):
        n = int(mask[v].sum())
        assert len(seg) > 0  # every video got action points; a valid segmentation of [0, n)
        assert seg.starts[0] == 0 and seg.ends[-1] == n
        assert np.array_equal(seg.ends[:-1], seg.starts[1:]) and np.all(seg.labels[1:] != seg.labels[:-1])
        metrics.update(seg.to_labels(n, fill=0), labels[v, :n], video_ids=str(v))
    result = metrics.compute()
    assert set(result) >= {"accuracy", "edit", "f1@10"}
    assert result["accuracy"] > 50.0  # 69 % after 25 steps on this seed (loss 156 -> 17)


# ---------------------------------------------------------------------------------------------------
# the fused fast paths (issue 12 speed): value checks inside the kernels, numpy inputs without conversions


def scipy_candidates(h: np.ndarray, threshold: float) -> list[int]:
    return (scipy.signal.find_peaks(np.pad(h, 1, constant_values=-np.inf), height=threshold)[0] - 1).tolist()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("where, value, shown", [
    ((1, 2, 7777), np.nan, "NaN"),      # deep inside an interior block of a long track
    ((0, 3, 0), 1.25, "1.25"),          # frame 0 (scalar head)
    ((2, 0, 9999), -0.5, "-0.5"),       # the last frame (scalar tail)
    ((1, 4, 64), np.inf, "inf"),        # first frame of the second 64-frame block
])
def test_peaks_fused_check_reports_the_exact_value_and_index(dtype, where, value, shown):
    rng = np.random.default_rng(0)
    h = rng.random((3, 5, 10_000)).astype(dtype)
    h[where] = value
    b, c, t = where
    message = rf"heatmap: expected probabilities in \[0, 1\], got {shown} at index \({b}, {c}, {t}\)"
    with pytest.raises(ValueError, match=message):
        watershed_peaks(h, 0.5, max_candidates=100)
    # the same message from the general path (a tensor) and from a (B, T) / (T,) view of the track
    with pytest.raises(ValueError, match=message):
        watershed_peaks(torch.from_numpy(h), 0.5)
    with pytest.raises(ValueError, match=rf"got {shown} at index \(0, {t}\)$"):
        watershed_peaks(np.ascontiguousarray(h[b, c][None]), 0.5)
    with pytest.raises(ValueError, match=rf"got {shown} at index {t}$"):
        watershed_peaks(h[b, c], 0.5)


def test_peaks_fused_check_first_bad_value_and_masks():
    h = np.full((2, 3, 300), 0.5)
    h[1, 0, 5] = 2.0
    h[0, 2, 299] = np.nan  # earlier in (video, channel, frame) order: reported first
    with pytest.raises(ValueError, match=r"got NaN at index \(0, 2, 299\)"):
        watershed_peaks(h, 0.5)
    mask = np.ones((2, 300), bool)
    mask[0, 250:] = False  # the NaN is now padding (not read); the 2.0 of video 1 is reported
    with pytest.raises(ValueError, match=r"got 2.0 at index \(1, 0, 5\)"):
        watershed_peaks(h, 0.5, mask=mask)
    mask[1, :10] = False
    assert [k.positions.tolist() for k in watershed_peaks(h, 0.5, mask=mask)] == [[124, 124, 124], [154] * 3]
    # a mask with holes: the index is the frame of the input row, not of the valid sequence
    h = np.full((1, 200), 0.3)
    h[0, 150] = -1e-9
    holes = np.ones((1, 200), bool)
    holes[0, 10:100] = False
    with pytest.raises(ValueError, match=r"got -1e-09 at index \(0, 150\)"):
        watershed_peaks(h, 0.5, mask=holes)


def test_peaks_long_tracks_equal_scipy_across_blocks():
    rng = np.random.default_rng(4)
    for t in [1, 2, 3, 63, 64, 65, 66, 127, 128, 129, 130, 1000, 4097]:
        for _ in range(5):
            h = rng.integers(0, 4, t) / 3.0
            runs = np.repeat(np.arange(t), rng.integers(1, 90, t))[:t]  # plateaus across the 64-frame blocks
            h = h[runs]
            for thr in [0.0, 1 / 3, 1.0]:
                assert watershed_peaks(h, thr).positions.tolist() == scipy_candidates(h, thr)
    # one plateau over a whole long track: one peak at its centre; a plateau covering blocks 1-3
    assert watershed_peaks(np.full(5000, 0.7), 0.5).positions.tolist() == [2499]
    h = np.zeros(400)
    h[60:200] = 0.9
    h[300] = 0.9
    assert watershed_peaks(h, 0.5).positions.tolist() == [129, 300]
    h[200] = 1.0  # now a shoulder: the plateau is no peak
    assert watershed_peaks(h, 0.5).positions.tolist() == [200, 300]


def test_peaks_fast_path_equals_general_path():
    rng = np.random.default_rng(5)
    h = np.round(scipy.ndimage.gaussian_filter1d(rng.random((2, 6, 3000)), 2.0), 2)
    mask = rng.random((2, 3000)) < 0.9
    for kwargs in [{}, {"max_candidates": 50}, {"mask": mask, "max_candidates": 7}]:
        fast = watershed_peaks(h, 0.5, **kwargs)  # float64 C-contiguous numpy
        for other in [torch.from_numpy(h), np.asfortranarray(h), h.tolist()]:
            slow = watershed_peaks(other, 0.5, **kwargs)
            for f, s in zip(fast, slow):
                assert f.positions.tolist() == np.asarray(s.positions).tolist()
                assert f.labels.tolist() == np.asarray(s.labels).tolist()
                assert f.scores.tolist() == np.asarray(s.scores).tolist()
    # (position, label) order and the cap's ties with many channels peaking at the same frames
    same = np.zeros((1, 8, 50))
    same[0, :, [10, 30]] = 0.6
    same[0, 5, 20] = 0.6
    kp = watershed_peaks(same, 0.5, max_candidates=10)[0]
    assert list(zip(kp.positions.tolist(), kp.labels.tolist())) == [(10, c) for c in range(8)] + [(20, 5), (30, 0)]
    # float32 compares in float32, numpy threshold types and numpy max_candidates take the checked path
    h32 = np.array([0.1, 0.3, 0.2], np.float32)
    assert watershed_peaks(h32, 0.3).positions.tolist() == [1]
    assert watershed_peaks(h32, np.float64(0.3), max_candidates=np.int32(1)).positions.tolist() == [1]
    with pytest.raises(ValueError, match=r"threshold: expected a finite number >= 0.0 and <= 1.0, got nan"):
        watershed_peaks(h32, float("nan"))
    with pytest.raises(TypeError, match="max_candidates"):
        watershed_peaks(h32, 0.3, max_candidates=True)


def test_reassemble_fused_checks_name_the_same_value():
    rng = np.random.default_rng(6)
    heat = scipy.ndimage.gaussian_filter1d(rng.random((2, 3, 400)), 2.0)
    acts = watershed_peaks(heat / heat.max(), 0.3)
    bnds = watershed_peaks(heat.mean(1) / heat.max(), 0.3)
    good = reassemble(acts, bnds, 400)  # the fast path (numpy Keypoints, int length)
    general = reassemble(acts, bnds, [400, 400])  # the general path (checked conversions)
    assert [as_tuples(s) for s in good] == [as_tuples(s) for s in general]
    assert as_tuples(reassemble(acts[1], bnds[1], 400)) == as_tuples(good[1])
    cases = [
        (1, "scores", 1, np.nan, r"action_points\[1\].scores: expected finite values, got nan at index"),
        (1, "scores", 1, -0.25, r"action_points\[1\].scores: expected values >= 0.0, got -0.25 at index"),
        (0, "labels", 1, -3, r"action_points\[0\].labels: expected class ids >= 0, got -3"),
        (1, "scores", 0, np.inf, r"boundary_points\[1\].scores: expected finite values, got inf at index"),
    ]
    for video, field, which, value, message in cases:
        points = [list(acts), list(bnds)][1 - which]
        arrays = points[video]._asdict()
        deep = len(arrays[field]) // 2  # deep inside the point set
        arrays[field] = arrays[field].copy()
        arrays[field][deep] = value
        points[video] = Keypoints(**arrays)
        a, b = (points, list(bnds)) if which == 1 else (list(acts), points)
        with pytest.raises(ValueError, match=message + (f" {deep}" if field == "scores" else "")):
            reassemble(a, b, 400)
        with pytest.raises(ValueError, match=message.replace(rf"\[{video}\]", "")):
            reassemble(a[video], b[video], 400)  # one video
    # Python lists (the general path) give the same messages
    with pytest.raises(ValueError, match=r"action_points.scores: expected finite values, got nan at index 1"):
        reassemble(([1, 2], [0.5, float("nan")], [0, 1]), ([], []), 5)
