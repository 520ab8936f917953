from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.segments import Segments
from actseg.targets import (
    action_point_heatmaps,
    boundary_heatmap,
    boundary_labels,
    class_mask_targets,
    gaussian_boundary_targets,
    global_mask_targets,
    resample_snippets,
    segments_to_global_masks,
    segments_to_snippets,
    skeleton_heatmaps,
)

IGNORE = -100


# ----------------------------------------------------------------------------------------------
# naive per-frame references (readable loops, float64)


def _loop_segments(row, valid, background=()):
    """Maximal runs of one non-background class within the valid frames: [(s, e, c)]."""
    out, t, n = [], 0, len(row)
    while t < n:
        if not valid[t] or row[t] in background:
            t += 1
            continue
        s = t
        while t + 1 < n and valid[t + 1] and row[t + 1] == row[s]:
            t += 1
        out.append((s, t + 1, row[s]))
        t += 1
    return out


def _rows(labels, mask=None):
    labels = np.asarray(labels)
    valid = labels != IGNORE
    if mask is not None:
        valid = valid & np.asarray(mask)
    return labels.tolist(), valid.tolist()


def _loop_boundary_heatmap(labels, mask=None, background=(), region=33.0, sigma_ratio=0.5, end="last"):
    rows, valids = _rows(labels, mask)
    out = np.zeros(np.shape(labels))
    sigma = sigma_ratio * region
    for b, (row, valid) in enumerate(zip(rows, valids)):
        last_valid = max([t for t, v in enumerate(valid) if v], default=-1)
        points = []
        for s, e, _ in _loop_segments(row, valid, background):
            points += [s, e - 1 if end == "last" else min(e, last_valid)]
        for t in range(len(row)):
            if valid[t] and points:
                out[b, t] = max(math.exp(-((t - p) ** 2) / (2 * sigma**2)) for p in points)
    return out


def _loop_action_points(labels, mask=None, background=(), lr=0.8, sr=0.25, pr=0.32, region="positive",
                        centres="positive"):
    rows, valids = _rows(labels, mask)
    heat = np.zeros(np.shape(labels))
    cat = np.full(np.shape(labels), IGNORE)
    for b, (row, valid) in enumerate(zip(rows, valids)):
        segs = _loop_segments(row, valid, background)
        for t in range(len(row)):
            if not valid[t]:
                continue
            for s, e, c in segs:
                length = e - s
                p = (s + e - 1) // 2
                sigma = sr * lr * length
                half = math.floor(pr * length / 2 + 1e-9)
                positive = s <= t < e and abs(t - p) <= half
                # RTK §3.1: a Gaussian "for each p that Y_p = 1" (every positive frame q), or the midpoint only
                ones = [q for q in range(s, e) if abs(q - p) <= half] if centres == "positive" else [p]
                gauss = max(math.exp(-((t - q) ** 2) / (2 * sigma**2)) for q in ones)
                value = 1.0 if positive else gauss
                heat[b, t] = max(heat[b, t], value)
                if (positive and region == "positive") or (region == "segment" and s <= t < e):
                    cat[b, t] = c
    return heat, cat


def _loop_global_masks(labels, num_classes, mask=None, background=()):
    rows, valids = _rows(labels, mask)
    bsz, length = np.shape(labels)
    masks = np.zeros((bsz, length, length))
    classes = np.full((bsz, length), IGNORE)
    for b, (row, valid) in enumerate(zip(rows, valids)):
        for t in range(length):
            if valid[t]:
                classes[b, t] = num_classes if row[t] in background else row[t]
        for s, e, _ in _loop_segments(row, valid, background):
            for i in range(s, e):
                for j in range(s, e):
                    masks[b, i, j] = 1
    return masks, classes


def _loop_boundary_labels(labels, mask=None, include_first=True):
    rows, valids = _rows(labels, mask)
    out = np.zeros(np.shape(labels))
    for b, (row, valid) in enumerate(zip(rows, valids)):
        for t in range(len(row)):
            if not valid[t]:
                continue
            first = t == 0 or not valid[t - 1]
            if (first and include_first) or (not first and row[t] != row[t - 1]):
                out[b, t] = 1
    return out


def _loop_gaussian_boundaries(labels, sigma=1.0, truncate=4.0, mask=None, include_first=True):
    hard = _loop_boundary_labels(labels, mask, include_first)
    _, valids = _rows(labels, mask)
    radius = math.ceil(truncate * sigma)
    out = np.zeros_like(hard)
    for b in range(hard.shape[0]):
        for t in range(hard.shape[1]):
            if valids[b][t]:
                total = sum(
                    math.exp(-(k**2) / (2 * sigma**2))
                    for k in range(-radius, radius + 1)
                    if 0 <= t - k < hard.shape[1] and hard[b, t - k]
                )
                out[b, t] = min(1.0, total)
    return out


def _loop_skeleton(kp, conf, size, sigma, limbs, kind):
    """Per-pixel PoseC3D-style rendering (full Gaussians, squared distance to the limb segment)."""
    h, w = size
    bsz, length, joints, _ = kp.shape
    chans = (list(range(joints)) if kind != "limbs" else []) + (list(limbs) if kind != "joints" else [])
    out = np.zeros((bsz, length, len(chans), h, w))
    for b in range(bsz):
        for t in range(length):
            for c, ch in enumerate(chans):
                if isinstance(ch, int):
                    x0, y0 = kp[b, t, ch]
                    value = conf[b, t, ch]
                    if not (value > 0 and np.isfinite(x0) and np.isfinite(y0)):
                        continue
                    for i in range(h):
                        for j in range(w):
                            out[b, t, c, i, j] = value * math.exp(-((j - x0) ** 2 + (i - y0) ** 2) / (2 * sigma**2))
                else:
                    a, bb = kp[b, t, ch[0]], kp[b, t, ch[1]]
                    value = min(conf[b, t, ch[0]], conf[b, t, ch[1]])
                    if not (value > 0 and np.isfinite(a).all() and np.isfinite(bb).all()):
                        continue
                    v = bb - a
                    for i in range(h):
                        for j in range(w):
                            p = np.array([j, i], dtype=np.float64)
                            tt = 0.0 if v @ v == 0 else min(1.0, max(0.0, (p - a) @ v / (v @ v)))
                            d2 = np.sum((p - a - tt * v) ** 2)
                            out[b, t, c, i, j] = value * math.exp(-d2 / (2 * sigma**2))
    return out


# ----------------------------------------------------------------------------------------------
# strategies: padded batches of label rows


@st.composite
def batches(draw, max_batch=4, max_len=40, classes=4):
    bsz = draw(st.integers(1, max_batch))
    lengths = draw(st.lists(st.integers(0, max_len), min_size=bsz, max_size=bsz))
    length = max(max(lengths), 1)
    labels = np.full((bsz, length), IGNORE, dtype=np.int64)
    for b, n in enumerate(lengths):
        runs = draw(st.lists(st.tuples(st.integers(0, classes - 1), st.integers(1, 8)), min_size=1, max_size=12))
        row = np.repeat([c for c, _ in runs], [r for _, r in runs])[:n]
        row = np.pad(row, (0, max(0, n - row.shape[0])), mode="edge") if row.shape[0] else row
        labels[b, : row.shape[0]] = row
    return labels, lengths


def _prefix_mask(lengths, length):
    return torch.arange(length).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)


backgrounds = st.sets(st.integers(0, 3), max_size=2)


def _labels_runs(*runs):
    """One row from (class, length) runs."""
    return torch.tensor([np.repeat([c for c, _ in runs], [n for _, n in runs]).tolist()])


# ----------------------------------------------------------------------------------------------
# boundary_heatmap (RTK Y^b)


class TestBoundaryHeatmap:
    def test_hand_computed(self):
        labels = torch.tensor([[0, 0, 1, 1, 1, 1, 0, 0]])
        y = boundary_heatmap(labels, background=[0], region=2.0)  # σ = 1, keypoints 2 and 5
        g = [math.exp(-(d**2) / 2) for d in range(3)]
        expected = [g[2], g[1], 1.0, g[1], g[1], 1.0, g[1], g[2]]
        assert y.dtype == torch.float32 and y.shape == (1, 8)
        assert torch.allclose(y[0], torch.tensor(expected, dtype=torch.float32))

    def test_defaults_are_rtk(self):
        labels = _labels_runs((0, 50), (1, 100), (0, 50))
        y = boundary_heatmap(labels, background=[0])
        sigma = 0.5 * 33
        assert y[0, 50] == 1.0 and y[0, 149] == 1.0
        assert y[0, 60].item() == pytest.approx(math.exp(-(10**2) / (2 * sigma**2)), rel=1e-6)

    def test_end_exclusive(self):
        labels = torch.tensor([[1, 1, 1, 2, 2]])
        last = boundary_heatmap(labels, region=2.0)
        exclusive = boundary_heatmap(labels, region=2.0, end="exclusive")
        # last: keypoints 0, 2, 3, 4; exclusive: 0, 3 (end of [0, 3)), 3, and 5 clipped to 4
        assert last[0].tolist() == [1.0, pytest.approx(math.exp(-0.5)), 1.0, 1.0, 1.0]
        assert exclusive[0].tolist() == [1.0, pytest.approx(math.exp(-0.5)), pytest.approx(math.exp(-0.5)), 1.0, 1.0]

    def test_exclusive_end_clipped_to_last_valid_frame(self):
        labels = torch.tensor([[1, 1, 1, 1, IGNORE, IGNORE]])
        y = boundary_heatmap(labels, region=2.0, end="exclusive")
        assert y[0, 3] == 1.0 and y[0, 4:].tolist() == [0.0, 0.0]

    def test_all_background_and_empty(self):
        assert boundary_heatmap(torch.zeros(2, 7, dtype=torch.long), background=[0]).abs().sum() == 0
        assert boundary_heatmap(torch.zeros(3, 0, dtype=torch.long)).shape == (3, 0)
        assert boundary_heatmap(torch.tensor([[4]]))[0].tolist() == [1.0]

    def test_numpy_input(self):
        y = boundary_heatmap(np.array([[0, 1, 1, 0]]), background=[0], region=2.0)
        assert isinstance(y, torch.Tensor) and y[0, 1] == 1.0 and y[0, 2] == 1.0

    @given(data=batches(), background=backgrounds, end=st.sampled_from(["last", "exclusive"]),
           region=st.floats(0.5, 40.0))
    @settings(max_examples=60, deadline=None)
    def test_matches_loop_and_peaks(self, data, background, end, region):
        labels, _ = data
        y = boundary_heatmap(torch.from_numpy(labels), background=background, end=end, region=region)
        ref = _loop_boundary_heatmap(labels, background=background, end=end, region=region)
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        rows, valids = _rows(labels)
        for b, (row, valid) in enumerate(zip(rows, valids)):
            for s, e, _ in _loop_segments(row, valid, background):
                assert y[b, s].item() == 1.0  # exactly exp(0)
                if end == "last":
                    assert y[b, e - 1].item() == 1.0


# ----------------------------------------------------------------------------------------------
# action_point_heatmaps (RTK Y^cl, Y^cc)


class TestActionPoints:
    def test_hand_computed(self):
        labels = _labels_runs((0, 1), (3, 10), (0, 1))  # segment [1, 11): p = 5, σ = 2, positive |t−5| ≤ 1
        heat, cat = action_point_heatmaps(labels, background=[0])
        # the paper (default): Gaussians centred at every positive frame 4, 5, 6 -> distance to [4, 6]
        dist = [max(4 - t, 0, t - 6) for t in range(12)]
        expected = [math.exp(-(d**2) / 8) for d in dist]
        assert torch.allclose(heat[0], torch.tensor(expected, dtype=torch.float32))
        assert heat[0, 3].item() == pytest.approx(math.exp(-1 / 8)) and heat[0, 4:7].tolist() == [1.0] * 3
        midpoint, cat_mid = action_point_heatmaps(labels, background=[0], centres="midpoint")
        expected = [1.0 if abs(t - 5) <= 1 else math.exp(-((t - 5) ** 2) / 8) for t in range(12)]
        assert torch.allclose(midpoint[0], torch.tensor(expected, dtype=torch.float32))
        assert midpoint[0, 3].item() == pytest.approx(math.exp(-4 / 8))
        assert torch.equal(cat_mid, cat)
        assert cat[0].tolist() == [IGNORE] * 4 + [3, 3, 3] + [IGNORE] * 5
        assert cat.dtype == torch.int64

    def test_paper_plateau_on_a_100_frame_segment(self):
        """Issue 10 §3: a frame just outside the 0.32·l run is ≈ 1.0 (paper), not 0.70 (midpoint form)."""
        labels = _labels_runs((0, 20), (1, 100), (0, 20))  # [20, 120): p = 69, σ = 20, positive |t − 69| ≤ 16
        heat, cat = action_point_heatmaps(labels, background=[0])
        assert heat[0, 53:86].tolist() == [1.0] * 33 and (cat[0] == 1).sum() == 33
        assert heat[0, 86].item() == pytest.approx(math.exp(-1 / 800), rel=1e-6)  # 0.99875
        assert heat[0, 52].item() == pytest.approx(math.exp(-1 / 800), rel=1e-6)
        assert heat[0, 100].item() == pytest.approx(math.exp(-(15**2) / 800), rel=1e-6)
        assert heat[0, 0].item() == pytest.approx(math.exp(-(53**2) / 800), rel=1e-5)
        mid, _ = action_point_heatmaps(labels, background=[0], centres="midpoint")
        assert mid[0, 86].item() == pytest.approx(math.exp(-(17**2) / 800), rel=1e-6)  # 0.697
        assert mid[0, 86].item() == pytest.approx(0.697, abs=1e-3)
        assert torch.equal(mid[0, 53:86], heat[0, 53:86])
        assert torch.all(heat >= mid)  # the paper's max over more Gaussians

    def test_centres_agree_without_positive_region(self):
        labels = _labels_runs((0, 3), (2, 17), (1, 6), (0, 2))
        paper, _ = action_point_heatmaps(labels, background=[0], positive_ratio=0.0)
        mid, _ = action_point_heatmaps(labels, background=[0], positive_ratio=0.0, centres="midpoint")
        assert torch.equal(paper, mid)

    def test_category_region_segment(self):
        labels = _labels_runs((0, 2), (3, 4), (1, 3))
        _, cat = action_point_heatmaps(labels, background=[0], category_region="segment")
        assert cat[0].tolist() == [IGNORE, IGNORE, 3, 3, 3, 3, 1, 1, 1]

    def test_even_length_midpoint_and_zero_positive_ratio(self):
        labels = _labels_runs((2, 4))  # [0, 4): p = (0 + 4 − 1) // 2 = 1
        heat, cat = action_point_heatmaps(labels, positive_ratio=0.0)
        assert heat[0, 1] == 1.0 and heat[0, 2] < 1.0
        assert cat[0].tolist() == [IGNORE, 2, IGNORE, IGNORE]

    def test_overlapping_gaussians_take_the_max(self):
        labels = _labels_runs((1, 40), (2, 4))
        heat, _ = action_point_heatmaps(labels)
        big = math.exp(-((41 - 19) ** 2) / (2 * 8.0**2))  # segment 1: p = 19, σ = 8
        small = math.exp(-((41 - 41) ** 2))  # segment 2's midpoint
        assert heat[0, 41].item() == 1.0 == max(big, small)

    @given(data=batches(), background=backgrounds, pr=st.sampled_from([0.0, 0.32, 0.5, 1.0]),
           region=st.sampled_from(["positive", "segment"]), centres=st.sampled_from(["positive", "midpoint"]))
    @settings(max_examples=60, deadline=None)
    def test_matches_loop_and_peaks(self, data, background, pr, region, centres):
        labels, _ = data
        heat, cat = action_point_heatmaps(torch.from_numpy(labels), background=background, positive_ratio=pr,
                                          category_region=region, centres=centres)
        ref_heat, ref_cat = _loop_action_points(labels, background=background, pr=pr, region=region, centres=centres)
        np.testing.assert_allclose(heat.numpy(), ref_heat, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(cat.numpy(), ref_cat)
        assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0
        rows, valids = _rows(labels)
        for b, (row, valid) in enumerate(zip(rows, valids)):
            for s, e, c in _loop_segments(row, valid, background):
                assert heat[b, (s + e - 1) // 2].item() == 1.0
                assert cat[b, (s + e - 1) // 2].item() == c


# ----------------------------------------------------------------------------------------------
# global masks (GSMT), snippets (TAGS)


class TestGlobalMasks:
    def test_hand_computed(self):
        masks, classes = global_mask_targets(torch.tensor([[0, 2, 2, 0, 1, IGNORE]]), num_classes=3, background=[0])
        expected = np.zeros((6, 6))
        expected[1:3, 1:3] = 1
        expected[4, 4] = 1
        np.testing.assert_array_equal(masks[0].numpy(), expected)
        assert classes[0].tolist() == [3, 2, 2, 3, 1, IGNORE]
        assert masks.dtype == torch.float32

    def test_background_id_equal_to_num_classes(self):
        masks, classes = global_mask_targets(torch.tensor([[5, 1, 1, 5]]), num_classes=5, background=[5])
        assert classes[0].tolist() == [5, 1, 1, 5] and masks[0].sum() == 4

    def test_bool_dtype(self):
        masks, _ = global_mask_targets(torch.tensor([[1, 1, 0]]), num_classes=2, dtype=torch.bool)
        assert masks.dtype == torch.bool

    @given(data=batches(max_len=25), background=backgrounds)
    @settings(max_examples=60, deadline=None)
    def test_matches_loop_symmetric_idempotent(self, data, background):
        labels, _ = data
        masks, classes = global_mask_targets(torch.from_numpy(labels), num_classes=4, background=background)
        ref_masks, ref_classes = _loop_global_masks(labels, 4, background=background)
        np.testing.assert_array_equal(masks.numpy(), ref_masks)
        np.testing.assert_array_equal(classes.numpy(), ref_classes)
        assert torch.equal(masks, masks.transpose(1, 2))
        # an equivalence relation on the action snippets: M² = M · diag(row sums), diagonal = foreground
        rowsum = masks.sum(dim=2)
        assert torch.equal(masks @ masks, masks * rowsum.unsqueeze(2))
        fg = torch.from_numpy((classes.numpy() >= 0) & (classes.numpy() < 4))
        assert torch.equal(torch.diagonal(masks, dim1=1, dim2=2) == 1, fg)


class TestSnippets:
    def test_nearest(self):
        seg = Segments([1.0, 4.3, 12.0], [3.5, 9.9, 15.0], [0, 1, 2], scores=[0.1, 0.2, 0.3])
        out = segments_to_snippets(seg, 10.0, 10)
        assert out.starts.tolist() == [1, 4] and out.ends.tolist() == [4, 10]
        assert out.labels.tolist() == [0, 1] and out.scores.tolist() == [0.1, 0.2]

    def test_nearest_keeps_short_instances(self):
        out = segments_to_snippets(Segments([0.42], [0.44], [3]), 1.0, 10)
        assert out.starts.tolist() == [4] and out.ends.tolist() == [5]
        out = segments_to_snippets(Segments([0.99], [1.0], [3]), 1.0, 10)
        assert out.starts.tolist() == [9] and out.ends.tolist() == [10]

    def test_tags_rule(self):
        seg = Segments([1.0, 4.3, 20.0], [3.5, 9.9, 80.0], [0, 1, 2])
        out = segments_to_snippets(seg, 100.0, 100, rounding="tags")
        # ⌊N s/d⌋ + 1 .. ⌊N e/d⌋ − 1: [2, 2) dropped, [5, 8), [21, 79)
        assert out.starts.tolist() == [5, 21] and out.ends.tolist() == [8, 79]

    def test_tags_loader_reference(self):
        """segments_to_global_masks(rounding="tags") vs the TAGS getVideoData loops written out."""
        rng = np.random.default_rng(0)
        n, k = 100, 5
        for _ in range(20):
            d = float(rng.uniform(30, 200))
            starts = np.sort(rng.uniform(0, d, 6))
            ends = np.minimum(starts + rng.uniform(0.5, d / 3, 6), d)
            labels = rng.integers(0, k, 6)
            action_mask = np.zeros((n, n))
            new_mask = np.full(n, -1)
            for s, e, c in zip(starts, ends, labels):
                a = math.floor(n * max(min(1, s / d), 0)) + 1
                b = math.floor(n * max(min(1, e / d), 0)) - 1
                action_mask[a:b, a:b] = 1
                new_mask[a:b] = c
            new_mask[new_mask == -1] = k
            masks, classes = segments_to_global_masks(Segments(starts, ends, labels), n, num_classes=k, duration=d,
                                                      rounding="tags")
            np.testing.assert_array_equal(masks[0].numpy(), action_mask)
            np.testing.assert_array_equal(classes[0].numpy(), new_mask)

    def test_global_masks_from_overlapping_segments(self):
        masks, classes = segments_to_global_masks(
            [Segments([1, 2], [3, 5], [0, 1]), Segments.empty()], 5, num_classes=2
        )
        assert masks.shape == (2, 5, 5) and masks[1].sum() == 0
        assert masks[0, 1].tolist() == [0, 1, 1, 0, 0] and masks[0, 2].tolist() == [0, 1, 1, 1, 1]
        assert classes.tolist() == [[2, 0, 1, 1, 1], [2, 2, 2, 2, 2]]

    def test_global_masks_agree_with_labels_version(self):
        seg = Segments([0, 3, 7], [2, 6, 9], [1, 0, 2])
        masks, classes = segments_to_global_masks(seg, 10, num_classes=3)
        labels = torch.from_numpy(seg.to_labels(10, fill=3)).unsqueeze(0)
        masks2, classes2 = global_mask_targets(labels, num_classes=3, background=[3])
        assert torch.equal(masks, masks2) and torch.equal(classes, classes2)

    def test_resample_matches_interpolate(self):
        x = torch.randn(2, 3, 37)
        out = resample_snippets(x, 100)
        assert torch.equal(out, F.interpolate(x, size=100, mode="linear", align_corners=False))
        assert resample_snippets(x[0], 16).shape == (3, 16)

    def test_resample_masked_batch_equals_each_alone(self):
        lengths = [37, 10, 1]
        x = torch.randn(3, 4, 37)
        out = resample_snippets(x, 25, mask=_prefix_mask(lengths, 37))
        for b, n in enumerate(lengths):
            torch.testing.assert_close(out[b], resample_snippets(x[b, :, :n], 25), rtol=0, atol=0)

    def test_resample_mask_with_hole_skips_it(self):
        x = torch.arange(6.0).view(1, 1, 6)
        mask = torch.tensor([[True, True, False, False, True, True]])
        assert resample_snippets(x, 4, mask=mask).tolist() == [[[0.0, 1.0, 4.0, 5.0]]]
        noisy = torch.where(mask.unsqueeze(1), x, torch.tensor(float("nan")))  # values under the mask not read
        assert resample_snippets(noisy, 4, mask=mask).tolist() == [[[0.0, 1.0, 4.0, 5.0]]]
        batch = torch.stack([x[0], x[0].flip(-1)])  # two rows, holes in different places
        holes = torch.tensor([[True, False, True, True, False, True], [False, True, True, False, True, True]])
        out = resample_snippets(batch, 3, mask=holes)
        for b in range(2):
            assert torch.equal(out[b], resample_snippets(batch[b][:, holes[b]], 3))


# ----------------------------------------------------------------------------------------------
# boundary labels, Gaussian boundary targets, class masks (ASRF, InterAct)


class TestBoundaries:
    def test_asrf_boundaries(self):
        y = boundary_labels(torch.tensor([[4, 4, 1, 1, 1, 2, IGNORE], [0, 0, 0, 0, 0, 0, 0]]))
        assert y.tolist() == [[1, 0, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0, 0]]
        assert boundary_labels(torch.tensor([[4, 4, 1]]), include_first=False).tolist() == [[0, 0, 1]]

    def test_gaussian_hand_computed(self):
        y = gaussian_boundary_targets(torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]]), sigma=1.0, include_first=False)
        expected = [math.exp(-(d**2) / 2) for d in (4, 3, 2, 1, 0, 1, 2, 3)]
        assert torch.allclose(y[0], torch.tensor(expected, dtype=torch.float32))
        assert y[0, 4].item() == 1.0

    def test_gaussian_close_boundaries_clip_at_one(self):
        y = gaussian_boundary_targets(torch.tensor([[0, 0, 1, 2, 2, 2]]), sigma=2.0, include_first=False)
        assert y.max().item() == 1.0 and y[0, 2] == 1.0 and y[0, 3] == 1.0

    def test_class_masks(self):
        m = class_mask_targets(torch.tensor([[2, 2, 0, IGNORE]]), 3)
        assert m.shape == (1, 3, 4) and m.dtype == torch.float32
        assert m[0].tolist() == [[0, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]]

    @given(data=batches(), include_first=st.booleans(), sigma=st.floats(0.3, 5.0))
    @settings(max_examples=50, deadline=None)
    def test_match_loops(self, data, include_first, sigma):
        labels, _ = data
        t = torch.from_numpy(labels)
        np.testing.assert_array_equal(boundary_labels(t, include_first=include_first).numpy(),
                                      _loop_boundary_labels(labels, include_first=include_first))
        y = gaussian_boundary_targets(t, sigma=sigma, include_first=include_first)
        np.testing.assert_allclose(y.numpy(), _loop_gaussian_boundaries(labels, sigma, include_first=include_first),
                                   rtol=1e-6, atol=1e-7)
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        hard = boundary_labels(t, include_first=include_first)
        assert torch.all(y[hard == 1] == 1.0)
        m = class_mask_targets(t, 4)
        valid = t != IGNORE
        assert torch.equal(m.sum(dim=1), valid.float())
        assert torch.equal(m.argmax(dim=1)[valid], t[valid])


# ----------------------------------------------------------------------------------------------
# padding: a padded batch gives each element what it gets alone (ignore_index or mask)

BUILDERS = {
    "boundary_heatmap": lambda x, **k: boundary_heatmap(x, background=[0], **k),
    "boundary_heatmap_exclusive": lambda x, **k: boundary_heatmap(x, background=[0], end="exclusive", region=4, **k),
    "action_heat": lambda x, **k: action_point_heatmaps(x, background=[0], **k)[0],
    "action_heat_midpoint": lambda x, **k: action_point_heatmaps(x, background=[0], centres="midpoint", **k)[0],
    "action_cat": lambda x, **k: action_point_heatmaps(x, background=[0], **k)[1],
    "action_cat_segment": lambda x, **k: action_point_heatmaps(x, category_region="segment", **k)[1],
    "global_masks": lambda x, **k: global_mask_targets(x, num_classes=4, background=[0], **k)[0],
    "global_classes": lambda x, **k: global_mask_targets(x, num_classes=4, background=[0], **k)[1],
    "boundary_labels": lambda x, **k: boundary_labels(x, **k),
    "gaussian_boundaries": lambda x, **k: gaussian_boundary_targets(x, sigma=2.0, **k),
    "class_masks": lambda x, **k: class_mask_targets(x, 4, **k),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@given(data=batches(max_len=30), use_mask=st.booleans())
@settings(max_examples=25, deadline=None)
def test_padded_batch_equals_each_alone(name, data, use_mask):
    build = BUILDERS[name]
    labels, lengths = data
    batch = torch.from_numpy(labels)
    kwargs = {}
    if use_mask:  # garbage class ids under the mask are not read
        kwargs["mask"] = _prefix_mask(lengths, labels.shape[1])
        batch = torch.where(kwargs["mask"], batch, torch.full_like(batch, 77))
    out = build(batch, **kwargs)
    fill = IGNORE if out.dtype == torch.int64 else 0
    for b, n in enumerate(lengths):
        alone = build(batch[b : b + 1, :n])
        if name == "global_masks":
            assert torch.equal(out[b, :n, :n], alone[0]) and not out[b, n:].any() and not out[b, :, n:].any()
            continue
        if name == "class_masks":
            assert torch.equal(out[b, :, :n], alone[0]) and not out[b, :, n:].any()
            continue
        assert torch.equal(out[b, :n], alone[0]), (b, n)
        assert torch.all(out[b, n:] == fill)


@given(data=batches(max_batch=3, max_len=20))
@settings(max_examples=25, deadline=None)
def test_batch_composition_invariance(data):
    """Reordering or dropping videos of a batch does not change any video's targets."""
    labels, _ = data
    batch = torch.from_numpy(labels)
    order = torch.arange(batch.shape[0]).flip(0)
    for name, build in BUILDERS.items():
        full, flipped = build(batch), build(batch[order])
        assert torch.equal(full[order], flipped), name


def _loop_class_masks(labels, num_classes, mask=None):
    _, valids = _rows(labels, mask)
    labels = np.asarray(labels)
    out = np.zeros((labels.shape[0], num_classes, labels.shape[1]))
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1]):
            if valids[b][t]:
                out[b, labels[b, t], t] = 1
    return out


LOOPS = {  # the per-frame references of BUILDERS, with a mask
    "boundary_heatmap": lambda x, m: _loop_boundary_heatmap(x, m, background=[0]),
    "boundary_heatmap_exclusive": lambda x, m: _loop_boundary_heatmap(x, m, background=[0], end="exclusive", region=4),
    "action_heat": lambda x, m: _loop_action_points(x, m, background=[0])[0],
    "action_heat_midpoint": lambda x, m: _loop_action_points(x, m, background=[0], centres="midpoint")[0],
    "action_cat": lambda x, m: _loop_action_points(x, m, background=[0])[1],
    "action_cat_segment": lambda x, m: _loop_action_points(x, m, region="segment")[1],
    "global_masks": lambda x, m: _loop_global_masks(x, 4, m, background=[0])[0],
    "global_classes": lambda x, m: _loop_global_masks(x, 4, m, background=[0])[1],
    "boundary_labels": lambda x, m: _loop_boundary_labels(x, m),
    "gaussian_boundaries": lambda x, m: _loop_gaussian_boundaries(x, sigma=2.0, mask=m),
    "class_masks": lambda x, m: _loop_class_masks(x, 4, m),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@given(data=batches(max_len=30), seed=st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_mask_with_holes_matches_loop_and_ignores_labels_under_it(name, data, seed):
    """Masks with holes anywhere (not only prefix padding); labels under the mask perturbed, never read."""
    build = BUILDERS[name]
    labels, _ = data
    rng = np.random.default_rng(seed)
    mask = rng.random(labels.shape) < 0.75  # holes anywhere, also inside segments
    outputs = []
    for garbage in (77, -5, 10**12, IGNORE):
        perturbed = np.where(mask, labels, rng.choice([garbage, 3], size=labels.shape))
        outputs.append(build(torch.from_numpy(perturbed), mask=torch.from_numpy(mask)))
    for out in outputs[1:]:
        assert torch.equal(out, outputs[0])
    ref = LOOPS[name](labels, mask)
    if outputs[0].dtype == torch.int64:
        np.testing.assert_array_equal(outputs[0].numpy(), ref)
    else:
        np.testing.assert_allclose(outputs[0].numpy(), ref, rtol=1e-5, atol=1e-6)
    valid = torch.from_numpy(mask & (labels != IGNORE))
    fill = IGNORE if outputs[0].dtype == torch.int64 else 0
    if name == "class_masks":
        assert torch.all(outputs[0].permute(1, 0, 2)[:, ~valid] == 0)
    elif name == "global_masks":
        assert torch.all(outputs[0][~valid] == 0) and torch.all(outputs[0].transpose(1, 2)[~valid] == 0)
    else:
        assert torch.all(outputs[0][~valid] == fill)


def test_mask_hole_splits_segments():
    labels = torch.tensor([[1, 1, 1, 1, 1, 1]])
    mask = torch.tensor([[True, True, True, False, True, True]])
    masks, classes = global_mask_targets(labels, num_classes=2, mask=mask)
    assert masks[0, 0].tolist() == [1, 1, 1, 0, 0, 0] and masks[0, 4].tolist() == [0, 0, 0, 0, 1, 1]
    assert classes[0].tolist() == [1, 1, 1, IGNORE, 1, 1]
    assert boundary_labels(labels, mask=mask)[0].tolist() == [1, 0, 0, 0, 1, 0]


# ----------------------------------------------------------------------------------------------
# skeleton heatmaps


COCO_LIMBS = [(0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
              (11, 13), (13, 15), (12, 14), (14, 16)]


class TestSkeleton:
    def test_hand_computed_joint_and_limb(self):
        kp = torch.tensor([[[[1.0, 1.0], [3.0, 1.0]]]])
        h = skeleton_heatmaps(kp, torch.tensor([[[0.5, 1.0]]]), size=(3, 5), limbs=[(0, 1)], sigma=1.0)
        assert h.shape == (1, 1, 3, 3, 5) and h.dtype == torch.float32
        g = [math.exp(-(d**2) / 2) for d in range(4)]
        assert h[0, 0, 0, 1, 1] == 0.5 and h[0, 0, 1, 1, 3] == 1.0
        assert h[0, 0, 0, 0, 0].item() == pytest.approx(0.5 * g[1] * g[1])
        # limb: min confidence 0.5; on the segment 0.5, one row away 0.5 g(1), beyond the end 0.5 g(1)
        assert h[0, 0, 2, 1].tolist() == pytest.approx([0.5 * g[1], 0.5, 0.5, 0.5, 0.5 * g[1]])
        assert h[0, 0, 2, 0, 2].item() == pytest.approx(0.5 * g[1])

    @given(seed=st.integers(0, 2**16), kind=st.sampled_from(["joints", "limbs", "both"]), sigma=st.floats(0.4, 2.0))
    @settings(max_examples=10, deadline=None)
    def test_matches_loop(self, seed, kind, sigma):
        rng = np.random.default_rng(seed)
        kp = rng.uniform(-2, 9, (2, 2, 5, 2))
        conf = rng.uniform(0, 1, (2, 2, 5))
        conf[0, 0, 1] = 0.0
        kp[1, 1, 2] = np.nan
        limbs = [(0, 1), (1, 2), (3, 4), (4, 4)]
        h = skeleton_heatmaps(torch.from_numpy(kp), torch.from_numpy(conf), size=(6, 7), sigma=sigma, limbs=limbs,
                              kind=kind, dtype=torch.float64)
        ref = _loop_skeleton(kp, conf, (6, 7), sigma, limbs, kind)
        np.testing.assert_allclose(h.numpy(), ref, rtol=1e-10, atol=1e-12)

    @given(seed=st.integers(0, 2**16))
    @settings(max_examples=15, deadline=None)
    def test_peak_at_integer_keypoints_and_range(self, seed):
        rng = np.random.default_rng(seed)
        kp = torch.from_numpy(rng.integers(0, 12, (2, 3, 17, 2)).astype(np.float32))
        conf = torch.from_numpy(rng.uniform(0, 1, (2, 3, 17)).astype(np.float32))
        h = skeleton_heatmaps(kp, conf, size=(12, 12), limbs=COCO_LIMBS)
        assert h.shape == (2, 3, 17 + 16, 12, 12)
        assert float(h.min()) >= 0 and float(h.max()) <= 1
        xi, yi = kp[..., 0].long(), kp[..., 1].long()
        b, t, v = torch.meshgrid(torch.arange(2), torch.arange(3), torch.arange(17), indexing="ij")
        assert torch.equal(h[b, t, v, yi, xi], conf)  # exactly c_k at the keypoint
        assert torch.equal(h[:, :, :17].amax(dim=(-1, -2)), conf)

    def test_missing_keypoints_render_nothing(self):
        kp = torch.tensor([[[[2.0, 2.0], [float("nan"), 1.0], [4.0, 4.0]]]])
        conf = torch.tensor([[[1.0, 1.0, 0.0]]])
        h = skeleton_heatmaps(kp, conf, size=(6, 6), limbs=[(0, 1), (0, 2), (0, 0)])
        assert h[0, 0, 0].max() == 1.0
        assert h[0, 0, 1].abs().sum() == 0 and h[0, 0, 2].abs().sum() == 0
        assert h[0, 0, 3].abs().sum() == 0 and h[0, 0, 4].abs().sum() == 0  # limbs touching a missing joint
        torch.testing.assert_close(h[0, 0, 5], h[0, 0, 0])  # zero-length limb = joint map
        nan_conf = skeleton_heatmaps(kp, torch.tensor([[[float("nan"), 1.0, 1.0]]]), size=(6, 6))
        assert nan_conf[0, 0, 0].abs().sum() == 0

    def test_batch_composition_and_mask(self):
        rng = np.random.default_rng(1)
        kp = torch.from_numpy(rng.uniform(0, 1, (3, 4, 5, 2)).astype(np.float32))
        conf = torch.from_numpy(rng.uniform(0, 1, (3, 4, 5)).astype(np.float32))
        mask = _prefix_mask([4, 2, 3], 4)
        for coords in ("normalized", "video_box"):
            full = skeleton_heatmaps(kp, conf, size=(8, 9), limbs=[(0, 1), (2, 3)], coordinates=coords, mask=mask)
            for b, n in enumerate([4, 2, 3]):
                alone = skeleton_heatmaps(kp[b : b + 1, :n], conf[b : b + 1, :n], size=(8, 9), limbs=[(0, 1), (2, 3)],
                                          coordinates=coords)
                assert torch.equal(full[b, :n], alone[0])
                assert not full[b, n:].any()

    def test_coordinates(self):
        kp = torch.tensor([[[[0.0, 0.0], [1.0, 1.0]], [[0.5, 0.5], [0.5, 0.75]]]])
        h = skeleton_heatmaps(kp, size=(5, 9), coordinates="normalized")
        assert h[0, 0, 0, 0, 0] == 1.0 and h[0, 0, 1, 4, 8] == 1.0 and h[0, 1, 0, 2, 4] == 1.0
        box = skeleton_heatmaps(kp, size=(5, 9), coordinates="video_box")
        assert torch.equal(box, h)  # the video's keypoints already span [0, 1]²
        flat = skeleton_heatmaps(kp[:, :1] * 3 + 1, size=(5, 9), coordinates="video_box")
        assert flat[0, 0, 0, 0, 0] == 1.0 and flat[0, 0, 1, 4, 8] == 1.0

    def test_reduce_and_flatten(self):
        rng = np.random.default_rng(2)
        kp = torch.from_numpy(rng.uniform(0, 7, (2, 3, 4, 2)).astype(np.float32))
        h = skeleton_heatmaps(kp, size=(6, 7), limbs=[(0, 1), (1, 2)])
        assert torch.allclose(skeleton_heatmaps(kp, size=(6, 7), limbs=[(0, 1), (1, 2)], reduce="sum"),
                              h.sum(dim=2, keepdim=True))
        assert torch.equal(skeleton_heatmaps(kp, size=(6, 7), limbs=[(0, 1), (1, 2)], reduce="max"),
                           h.amax(dim=2, keepdim=True))
        flat = skeleton_heatmaps(kp, size=(6, 7), limbs=[(0, 1), (1, 2)], flatten=True)
        assert flat.shape == (2, 6 * 6 * 7, 3)
        assert torch.equal(flat[1, 2 * 42 + 3 * 7 + 4, 2], h[1, 2, 2, 3, 4])

    def test_chunking_does_not_change_values(self, monkeypatch):
        import actseg.targets._skeleton as sk

        kp = torch.rand(2, 9, 5, 2) * 8
        ref = skeleton_heatmaps(kp, size=(8, 8), limbs=[(0, 1), (3, 4)])
        monkeypatch.setattr(sk, "_CHUNK_ELEMENTS", 8 * 8 * 7 * 2)
        assert torch.equal(skeleton_heatmaps(kp, size=(8, 8), limbs=[(0, 1), (3, 4)]), ref)


    def test_requires_grad_inputs(self):
        """Regression (issue 9): inputs that require grad failed (out= in autograd); they are read detached."""
        kp = (torch.rand(2, 3, 5, 2) * 6).requires_grad_()
        conf = torch.rand(2, 3, 5).requires_grad_()
        h = skeleton_heatmaps(kp, conf, size=(7, 7), limbs=[(0, 1), (2, 3)], reduce="sum")
        assert not h.requires_grad
        assert torch.equal(h, skeleton_heatmaps(kp.detach(), conf.detach(), size=(7, 7), limbs=[(0, 1), (2, 3)],
                                                reduce="sum"))

    def test_paper_pipeline(self):
        """§III-A: crop to the video's box, sum joint + limb maps, 56 × 56, replicate to 3 channels."""
        # two frames of a two-joint skeleton in image pixels; the video's box is [10, 110] × [20, 70]
        kp = torch.tensor([[[[10.0, 20.0], [110.0, 70.0]], [[60.0, 45.0], [60.0, 45.0]]]])
        h = skeleton_heatmaps(kp, limbs=[(0, 1)], coordinates="video_box", reduce="sum", repeat=3)
        assert h.shape == (1, 2, 3, 56, 56) and h.dtype == torch.float32
        assert torch.equal(h[:, :, 0], h[:, :, 1]) and torch.equal(h[:, :, 0], h[:, :, 2])
        # frame 0: joints at pixels (0, 0) and (55, 55), the limb on the diagonal
        g = math.exp(-(55**2) / (2 * 0.6**2))  # 0 in float32
        assert h[0, 0, 0, 0, 0].item() == pytest.approx(2.0 + g) and h[0, 0, 0, 55, 55].item() == pytest.approx(2.0)
        assert h[0, 0, 0, 28, 28].item() == pytest.approx(1.0)  # on the limb only
        off = math.exp(-1 / (2 * 0.6**2))
        assert h[0, 0, 0, 0, 1].item() == pytest.approx(off + math.exp(-0.5 / 0.72), rel=1e-5)  # joint 0 + limb
        # frame 1: both joints at the box centre (27.5, 27.5): a zero-length limb is a joint map -> 3 maps summed
        centre = math.exp(-(0.5**2 + 0.5**2) / (2 * 0.6**2))
        assert h[0, 1, 0, 27, 27].item() == pytest.approx(3 * centre, rel=1e-5)
        joints_and_limbs = skeleton_heatmaps(kp, limbs=[(0, 1)], coordinates="video_box")
        assert joints_and_limbs.shape == (1, 2, 3, 56, 56)  # V + L = 3 maps, not the same thing
        torch.testing.assert_close(h[:, :, :1], joints_and_limbs.sum(dim=2, keepdim=True))
        flat = skeleton_heatmaps(kp, limbs=[(0, 1)], coordinates="video_box", reduce="sum", repeat=3, flatten=True)
        assert flat.shape == (1, 3 * 56 * 56, 2)
        assert torch.equal(flat[0, 2 * 56 * 56 + 28 * 56 + 28], h[0, :, 2, 28, 28])

    def test_mask_with_holes_and_perturbed_keypoints(self):
        rng = np.random.default_rng(4)
        kp = torch.from_numpy(rng.uniform(0, 1, (2, 6, 4, 2)).astype(np.float32))
        conf = torch.from_numpy(rng.uniform(0, 1, (2, 6, 4)).astype(np.float32))
        mask = torch.tensor([[True, False, True, True, False, True], [False, True, True, False, True, True]])
        noisy_kp = torch.where(mask[..., None, None], kp, torch.tensor(1e6))  # huge / NaN under the mask
        noisy_conf = torch.where(mask[..., None], conf, torch.tensor(float("nan")))
        for coords in ("normalized", "video_box"):
            kw = {"size": (8, 9), "limbs": [(0, 1), (2, 3)], "coordinates": coords, "mask": mask}
            out = skeleton_heatmaps(kp, conf, **kw)
            assert torch.equal(skeleton_heatmaps(noisy_kp, noisy_conf, **kw), out)
            assert not out[~mask].any()
            for b in range(2):  # the valid frames alone give the same maps
                alone = skeleton_heatmaps(kp[b : b + 1, mask[b]], conf[b : b + 1, mask[b]], size=(8, 9),
                                          limbs=[(0, 1), (2, 3)], coordinates=coords)
                assert torch.equal(out[b, mask[b]], alone[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(3)
    labels = torch.from_numpy(rng.integers(0, 4, (3, 200)))
    labels[1, 150:] = IGNORE
    for name, build in BUILDERS.items():
        cpu, gpu = build(labels), build(labels.cuda())
        assert gpu.device.type == "cuda", name
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-6, atol=1e-6, msg=name)
    kp = torch.rand(2, 5, 17, 2) * 20
    cpu = skeleton_heatmaps(kp, size=(24, 24), limbs=COCO_LIMBS)
    torch.testing.assert_close(skeleton_heatmaps(kp.cuda(), size=(24, 24), limbs=COCO_LIMBS).cpu(), cpu,
                               rtol=1e-5, atol=1e-6)
