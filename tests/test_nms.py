"""actseg.postprocess NMS / Soft-NMS: parity with the official code, properties, types, bad input.

Reference vectors (``tests/data/nms/*.pt``, see the README there) come from running ActionFormer's
compiled ``nms_1d_cpu`` op and ``libs/utils/nms.py``, and the pandas Soft-NMS of BMN, G-TAD and TAGS.
Indices, labels and counts must match exactly; float32 scores to 1e-6 (they match bit for bit in
practice) and float64 scores to 1e-12.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actseg.postprocess._nms import SOFT_NMS_PRESETS, batched_nms, nms, soft_nms, soft_nms_preset

DATA = Path(__file__).parent / "data" / "nms"
METHODS = ("hard", "linear", "gaussian")


def _load(name):
    return torch.load(DATA / f"{name}.pt", weights_only=True)


SOFT = _load("softnms")
HARD = _load("nms")
BATCHED = _load("batched_nms")
PRESETS = {name: _load(name) for name in ("bmn", "gtad", "tags")}


def _ids(cases):
    return [c["name"] for c in cases]


# --------------------------------------------------------------------------------------------------
# reference vectors


def test_reference_files_are_large_enough():
    for data in (SOFT, HARD, BATCHED, *PRESETS.values()):
        assert len(data["cases"]) >= 30
        assert "sources" in data["meta"]
    names = " ".join(_ids(SOFT["cases"]))
    for kind in ("empty", "single", "identical", "disjoint", "score_ties", "below_min_score", "grid_2000"):
        assert kind in names


@pytest.mark.parametrize("case", SOFT["cases"], ids=_ids(SOFT["cases"]))
def test_soft_nms_matches_nms_1d_cpu(case):
    max_num = None if case["max_num"] < 0 else case["max_num"]
    keep, scores = soft_nms(
        case["segments"].numpy(),
        case["scores"].numpy(),
        iou_threshold=case["iou_threshold"],
        sigma=case["sigma"],
        min_score=case["min_score"],
        method=METHODS[case["method"]],
        max_num=max_num,
    )
    assert keep.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(keep, case["keep"].numpy())
    np.testing.assert_allclose(scores, case["out_scores"].numpy(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(case["segments"].numpy()[keep], case["out_segments"].numpy())


@pytest.mark.parametrize("case", HARD["cases"], ids=_ids(HARD["cases"]))
def test_nms_matches_nms_1d_cpu(case):
    keep = nms(case["segments"].numpy(), case["scores"].numpy(), iou_threshold=case["iou_threshold"])
    expected = case["keep"].numpy()
    assert keep.dtype == np.int64
    if case["ties"] == "set":  # the reference order among tied scores is arbitrary
        assert sorted(keep.tolist()) == sorted(expected.tolist())
        assert np.all(np.diff(case["scores"].numpy()[keep]) <= 0)
    else:
        np.testing.assert_array_equal(keep, expected)


def _assert_same_detections(out, case):
    """Exact labels/counts, segments and scores to float32 rounding; tied scores compared as sets."""
    segs, scores, labels = out
    exp_segs, exp_scores = case["out_segments"].numpy(), case["out_scores"].numpy()
    exp_labels = case["out_labels"].numpy()
    assert segs.dtype == np.float32 and scores.dtype == np.float32 and labels.dtype == np.int64
    assert segs.shape == exp_segs.shape and labels.shape == exp_labels.shape
    np.testing.assert_allclose(scores, exp_scores, rtol=0, atol=1e-6)
    # torch.sort (unstable) may order tied scores differently: compare within groups of equal score
    bounds = np.flatnonzero(np.diff(exp_scores) != 0) + 1
    for idx in np.split(np.arange(exp_scores.shape[0]), bounds):
        ours = sorted(zip(labels[idx].tolist(), segs[idx, 0].tolist(), segs[idx, 1].tolist()))
        ref = sorted(zip(exp_labels[idx].tolist(), exp_segs[idx, 0].tolist(), exp_segs[idx, 1].tolist()))
        assert [r[0] for r in ours] == [r[0] for r in ref]
        np.testing.assert_allclose(np.array([r[1:] for r in ours]).reshape(-1, 2),
                                   np.array([r[1:] for r in ref]).reshape(-1, 2), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", BATCHED["cases"], ids=_ids(BATCHED["cases"]))
def test_batched_nms_matches_actionformer(case):
    out = batched_nms(
        case["segments"].numpy(),
        case["scores"].numpy(),
        case["labels"].numpy(),
        iou_threshold=case["iou_threshold"],
        min_score=case["min_score"],
        max_num=case["max_num"],
        soft=case["soft"],
        class_agnostic=case["class_agnostic"],
        sigma=case["sigma"],
        voting_threshold=case["voting_threshold"],
    )
    _assert_same_detections(out, case)
    if case["voting_threshold"] == 0:  # without voting the kept segments are input rows, bit for bit
        np.testing.assert_array_equal(np.sort(out[0], axis=0), np.sort(case["out_segments"].numpy(), axis=0))


def test_batched_nms_reference_covers_the_options():
    cases = BATCHED["cases"]
    assert {(c["soft"], c["class_agnostic"]) for c in cases} == {(s, a) for s in (True, False) for a in (True, False)}
    assert any(c["voting_threshold"] > 0 for c in cases)
    assert any(c["segments"].shape[0] == 0 for c in cases)
    assert any(c["segments"].shape[0] == 2000 and len(torch.unique(c["labels"])) == 20 for c in cases)


PRESET_CASES = [(name, case) for name, data in PRESETS.items() for case in data["cases"]]


@pytest.mark.parametrize(("preset", "case"), PRESET_CASES, ids=[f"{p}-{c['name']}" for p, c in PRESET_CASES])
def test_soft_nms_preset_matches_pandas_code(preset, case):
    seg, sc = case["segments"].numpy(), case["scores"].numpy()
    pandas_order = case["pandas_order"].numpy()
    mimic = np.arange(sc.shape[0])[::-1][sc[::-1].argsort(kind="quicksort")][::-1]
    if not np.array_equal(mimic, pandas_order):  # numpy's quicksort orders ties by CPU features
        pytest.skip("tied scores are sorted differently by numpy's quicksort on this CPU than when recorded")
    keep, scores = soft_nms_preset(seg, sc, reference=preset, **case["params"])
    assert keep.dtype == np.int64 and scores.dtype == np.float64
    np.testing.assert_array_equal(seg[keep, 0], case["out_xmin"].numpy())
    np.testing.assert_array_equal(seg[keep, 1], case["out_xmax"].numpy())
    np.testing.assert_allclose(scores, case["out_scores"].numpy(), rtol=0, atol=1e-12)
    if "keep" in case:
        np.testing.assert_array_equal(keep, case["keep"].numpy())


# --------------------------------------------------------------------------------------------------
# documented semantics on hand-made inputs


def test_single_segment_below_min_score_is_kept():
    keep, scores = soft_nms(np.array([[0.0, 1.0]]), np.array([1e-4]), min_score=1e-3)
    assert keep.tolist() == [0] and scores.tolist() == [np.float32(1e-4)]


def test_disjoint_segment_below_min_score_is_removed():
    keep, _ = soft_nms(np.array([[0.0, 1.0], [5.0, 6.0]]), np.array([0.9, 1e-4]), min_score=1e-3)
    assert keep.tolist() == [0]


def test_gaussian_uses_divide_by_sigma():
    seg = np.array([[0.0, 10.0], [0.0, 5.0]])
    _, scores = soft_nms(seg, np.array([1.0, 1.0]), sigma=0.5, min_score=0.0)
    ovr = np.float32(5) / (np.float32(10 + 1e-6) + np.float32(5 + 1e-6) - np.float32(5))
    assert scores[1] == np.float32(np.exp(np.float32(-(ovr * ovr) / np.float32(0.5))))


def test_max_num_is_a_prefix():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 50, 60)
    seg = np.stack([s, s + rng.uniform(1, 10, 60)], 1)
    sc = rng.uniform(0, 1, 60)
    for method in METHODS:
        keep, scores = soft_nms(seg, sc, method=method)
        k5, s5 = soft_nms(seg, sc, method=method, max_num=5)
        np.testing.assert_array_equal(k5, keep[:5])
        np.testing.assert_array_equal(s5, scores[:5])


def test_nms_threshold_boundary_and_ties():
    seg = np.array([[0.0, 2.0], [1.0, 3.0], [0.0, 2.0], [10.0, 11.0]])
    # IoU([0, 2], [1, 3]) = 1/3 (slightly less with the +1e-6 areas): not suppressed at 1/3
    assert nms(seg, np.array([0.9, 0.8, 0.1, 0.5]), iou_threshold=1 / 3).tolist() == [0, 1, 3]
    assert nms(seg, np.array([0.9, 0.8, 0.1, 0.5]), iou_threshold=0.3).tolist() == [0, 3]
    # ties: lower index first
    assert nms(seg, np.array([0.5, 0.5, 0.5, 0.5]), iou_threshold=0.9).tolist() == [0, 1, 3]


def test_batched_nms_voting_replaces_segments_by_weighted_average():
    seg = np.array([[0.0, 10.0], [1.0, 11.0], [50.0, 60.0]])
    sc = np.array([0.9, 0.6, 0.5])
    out_seg, out_sc, out_lab = batched_nms(seg, sc, np.array([3, 3, 4]), iou_threshold=0.5, min_score=0.001,
                                           max_num=None, class_agnostic=True, voting_threshold=0.5)
    iou = 9 / 11
    w = np.array([0.9, 0.6 * iou])
    expected = (w[:, None] * seg[:2]).sum(0) / w.sum()
    np.testing.assert_allclose(out_seg[0], expected, rtol=1e-6)
    assert out_sc[0] == np.float32(0.9) and out_lab.tolist()[0] == 3
    np.testing.assert_array_equal(out_seg[1], [50.0, 60.0])  # nothing else overlaps it


def _voting(seg, sc, threshold, **kw):
    args = {"iou_threshold": 0.5, "min_score": 0.001, "max_num": None, "class_agnostic": True, **kw}
    return batched_nms(np.array(seg), np.array(sc), np.zeros(len(sc), np.int64), voting_threshold=threshold, **args)


def test_batched_nms_voting_threshold_is_inclusive():
    # IoU([0, 10], [0, 5]) = 5 / 10 = 0.5 exactly in float32: it votes at voting_threshold=0.5 (>=)
    seg, sc = [[0.0, 10.0], [0.0, 5.0]], [0.9, 0.6]
    out_seg, out_sc, _ = _voting(seg, sc, 0.5)
    # [0, 10]: weights 0.9 (itself) and 0.6 * 0.5 -> end (0.9 * 10 + 0.3 * 5) / 1.2 = 8.75
    np.testing.assert_allclose(out_seg[0], [0.0, 8.75], rtol=1e-6)
    # [0, 5] (kept with a decayed score): weights 0.9 * 0.5 and 0.6 -> end (4.5 + 3) / 1.05
    np.testing.assert_allclose(out_seg[1], [0.0, 7.5 / 1.05], rtol=1e-6)
    assert out_sc[0] == np.float32(0.9) and out_sc[1] < np.float32(0.6)  # scores are not voted
    # just above the IoU: nobody else votes, both segments stay as they are
    out_seg, _, _ = _voting(seg, sc, float(np.nextafter(np.float32(0.5), np.float32(1))))
    np.testing.assert_array_equal(out_seg, np.array(seg, np.float32))
    # voting_threshold=0 disables voting, also for overlapping segments
    out_seg, _, _ = _voting(seg, sc, 0.0)
    np.testing.assert_array_equal(out_seg, np.array(seg, np.float32))


def test_batched_nms_voting_ties():
    # two identical groups: equal top scores keep their selection order (earlier first) after the
    # final sort, equal decayed scores too; each group votes only with itself (IoU 0 across groups)
    seg = [[0.0, 10.0], [0.0, 5.0], [20.0, 30.0], [20.0, 25.0]]
    out_seg, out_sc, _ = _voting(seg, [0.9, 0.6, 0.9, 0.6], 0.5, sigma=0.5)
    decayed = 0.6 * np.exp(-((5 / 10.000002) ** 2) / 0.5)  # IoU 0.5 (with the 1e-6 areas), sigma 0.5
    assert out_sc.tolist() == pytest.approx([0.9, 0.9, decayed, decayed], rel=1e-6)
    assert out_sc[0] == out_sc[1] and out_sc[2] == out_sc[3]
    np.testing.assert_allclose(out_seg, [[0.0, 8.75], [20.0, 28.75], [0.0, 7.5 / 1.05], [20.0, 20.0 + 7.5 / 1.05]],
                               rtol=1e-6)
    # a segment whose voters tie in IoU: [0, 10] and [10, 20] both have IoU 1/3 with [5, 15]
    out_seg, _, _ = _voting([[5.0, 15.0], [0.0, 10.0], [10.0, 20.0]], [0.9, 0.3, 0.3], 0.3, soft=False,
                            iou_threshold=0.9)
    # weights 0.9, 0.1, 0.1 -> symmetric: the kept [5, 15] stays centred, [0, 10] / [10, 20] pulled in
    np.testing.assert_allclose(out_seg[0], [5.0, 15.0], rtol=1e-6)
    np.testing.assert_allclose(out_seg[1], [(0.3 * 0 + 0.9 / 3 * 5) / (0.3 + 0.3), (0.3 * 10 + 0.3 * 15) / 0.6],
                               rtol=1e-6)


def test_soft_nms_linear_and_hard_thresholds_are_inclusive():
    seg = np.array([[0.0, 10.0], [0.0, 5.0]], np.float32)
    areas = seg[:, 1] - seg[:, 0] + np.float32(1e-6)
    ovr = np.float32(5) / (areas[0] + areas[1] - np.float32(5))  # the op's float32 IoU
    above = float(np.nextafter(ovr, np.float32(1)))
    sc = np.array([0.9, 0.8], np.float32)
    # linear: weight 1 - IoU when IoU >= iou_threshold
    keep, scores = soft_nms(seg, sc, method="linear", iou_threshold=float(ovr), min_score=0.0)
    assert keep.tolist() == [0, 1] and scores.tolist() == [np.float32(0.9), np.float32(0.8) * (np.float32(1) - ovr)]
    assert scores[1] == pytest.approx(0.8 * (1 - 5 / 10.000002), rel=1e-6)
    keep, scores = soft_nms(seg, sc, method="linear", iou_threshold=above, min_score=0.0)
    assert scores.tolist() == [np.float32(0.9), np.float32(0.8)]
    # hard: weight 0 when IoU >= iou_threshold, then removed below min_score
    keep, scores = soft_nms(seg, sc, method="hard", iou_threshold=float(ovr), min_score=0.001)
    assert keep.tolist() == [0] and scores.tolist() == [np.float32(0.9)]
    keep, scores = soft_nms(seg, sc, method="hard", iou_threshold=float(ovr), min_score=0.0)
    assert keep.tolist() == [0, 1] and scores.tolist() == [np.float32(0.9), 0.0]
    keep, scores = soft_nms(seg, sc, method="hard", iou_threshold=above, min_score=0.001)
    assert keep.tolist() == [0, 1] and scores.tolist() == [np.float32(0.9), np.float32(0.8)]


def test_soft_nms_preset_reference_keyword_and_deprecated_preset():
    seg = np.array([[0.0, 0.5], [0.1, 0.5], [0.6, 0.9]])
    sc = np.array([0.9, 0.8, 0.7])
    keep, scores = soft_nms_preset(seg, sc, reference="gtad")
    assert keep.tolist() == [0, 2] and scores.tolist() == [0.9, 0.7]
    with pytest.warns(DeprecationWarning, match="preset is deprecated.*use reference"):
        old_keep, old_scores = soft_nms_preset(seg, sc, preset="gtad")
    assert old_keep.tolist() == keep.tolist() and old_scores.tolist() == scores.tolist()
    with pytest.warns(DeprecationWarning):
        old_keep, _ = soft_nms_preset(seg, sc, preset="bmn", alpha=0.4)
    assert old_keep.tolist() == soft_nms_preset(seg, sc, reference="bmn", alpha=0.4)[0].tolist()
    with pytest.raises(TypeError, match="preset: deprecated spelling of reference; pass only reference"):
        soft_nms_preset(seg, sc, reference="gtad", preset="gtad")
    with pytest.raises(TypeError, match="reference: expected one of 'bmn', 'gtad', 'tags', got None"):
        soft_nms_preset(seg, sc)


def test_batched_nms_voting_with_zero_scores_keeps_segments():
    seg = np.array([[0.0, 10.0], [1.0, 11.0]])
    out_seg, _, _ = batched_nms(seg, np.zeros(2), np.array([0, 0]), iou_threshold=0.5, min_score=0.0, max_num=10,
                                class_agnostic=True, voting_threshold=0.5)
    assert np.isfinite(out_seg).all()  # the reference gives NaN here (0 / 0)
    np.testing.assert_array_equal(out_seg, seg.astype(np.float32))


def test_batched_nms_per_class_is_independent():
    seg = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    _, out_sc, out_lab = batched_nms(seg, np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), iou_threshold=0.5,
                                     min_score=0.01, max_num=None, soft=False)
    assert out_lab.tolist() == [1, 0] and out_sc.tolist() == [np.float32(0.9), np.float32(0.8)]


def test_batched_nms_hard_filters_min_score_strictly():
    seg = np.array([[0.0, 1.0], [5.0, 6.0], [8.0, 9.0]])
    _, out_sc, _ = batched_nms(seg, np.array([0.5, 0.1, 0.2]), np.zeros(3, np.int64), iou_threshold=0.5,
                               min_score=0.1, max_num=None, soft=False)
    assert out_sc.tolist() == [np.float32(0.5), np.float32(0.2)]


def test_presets_drop_the_last_candidate():
    seg = np.array([[0.0, 0.1], [0.5, 0.6]])
    for preset in SOFT_NMS_PRESETS:
        keep, _ = soft_nms_preset(seg, np.array([0.5, 0.9]), reference=preset)
        assert keep.tolist() == [1]
        keep, scores = soft_nms_preset(seg[:1], np.array([0.5]), reference=preset)
        assert keep.shape == (0,) and scores.shape == (0,)


def test_gtad_preset_zeroes_long_segments():
    seg = np.array([[0.0, 400.0], [1000.0, 1100.0], [2000.0, 2050.0]])
    keep, _ = soft_nms_preset(seg, np.array([0.9, 0.5, 0.4]), reference="gtad")
    assert keep.tolist() == [1, 2]  # the zeroed long segment is the last remaining: never emitted
    keep, _ = soft_nms_preset(seg, np.array([0.9, 0.5, 0.4]), reference="gtad", max_length=1000)
    assert keep.tolist() == [0, 1]


# --------------------------------------------------------------------------------------------------
# properties


@st.composite
def segment_sets(draw, max_n=40, integer=False):
    n = draw(st.integers(0, max_n))
    if integer:
        starts = draw(st.lists(st.integers(0, 60), min_size=n, max_size=n))
        lengths = draw(st.lists(st.integers(1, 20), min_size=n, max_size=n))
        scores = draw(st.lists(st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]), min_size=n, max_size=n))
    else:
        starts = draw(st.lists(st.floats(0, 100, width=32), min_size=n, max_size=n))
        lengths = draw(st.lists(st.floats(0.5, 30, width=32), min_size=n, max_size=n))
        scores = draw(st.lists(st.floats(0, 1, width=32), min_size=n, max_size=n))
    s = np.array(starts, dtype=np.float64)
    seg = np.stack([s, s + np.array(lengths, dtype=np.float64)], 1).reshape(n, 2).astype(np.float32)
    return seg, np.array(scores, dtype=np.float32)


PROP = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROP
@given(segment_sets(), st.sampled_from(METHODS), st.floats(0.05, 0.95), st.floats(0.0, 0.2))
def test_soft_nms_output_is_a_subset(data, method, thr, min_score):
    seg, sc = data
    keep, scores = soft_nms(seg, sc, iou_threshold=thr, min_score=min_score, method=method)
    assert len(set(keep.tolist())) == keep.shape[0]
    assert np.all((keep >= 0) & (keep < seg.shape[0]))
    assert np.all(scores <= sc[keep] + 1e-7)  # decays only lower scores
    if seg.shape[0]:
        assert keep[0] == int(np.argmax(sc))  # the first selection is the first maximum
        assert np.all(scores[1:] >= np.float32(min_score))


@PROP
@given(segment_sets(), st.floats(0.05, 0.95))
def test_hard_nms_is_idempotent_and_a_subset(data, thr):
    seg, sc = data
    keep = nms(seg, sc, iou_threshold=thr)
    assert set(keep.tolist()) <= set(range(seg.shape[0]))
    again = nms(seg[keep], sc[keep], iou_threshold=thr)
    np.testing.assert_array_equal(keep[again], keep)
    assert np.all(np.diff(sc[keep]) <= 0)


@PROP
@given(segment_sets(), st.floats(0.05, 0.95), st.randoms(use_true_random=False))
def test_hard_nms_is_invariant_to_input_order_without_ties(data, thr, rnd):
    seg, sc = data
    _, first = np.unique(sc, return_index=True)
    seg, sc = seg[first], sc[first]  # distinct scores
    perm = np.array(rnd.sample(range(sc.shape[0]), sc.shape[0]), dtype=np.int64)
    keep = nms(seg, sc, iou_threshold=thr)
    keep_perm = nms(seg[perm], sc[perm], iou_threshold=thr)
    np.testing.assert_array_equal(perm[keep_perm], keep)


@PROP
@given(segment_sets(integer=True), st.floats(0.05, 0.95), st.randoms(use_true_random=False))
def test_hard_nms_with_ties_is_invariant_up_to_ties(data, thr, rnd):
    """Any permutation that keeps tied segments in their relative order gives the same result."""
    seg, sc = data
    perm = np.array(rnd.sample(range(sc.shape[0]), sc.shape[0]), dtype=np.int64)
    for value in np.unique(sc):
        pos = np.flatnonzero(sc[perm] == value)
        perm[pos] = np.sort(perm[pos])
    keep = nms(seg, sc, iou_threshold=thr)
    np.testing.assert_array_equal(perm[nms(seg[perm], sc[perm], iou_threshold=thr)], keep)
    if len(np.unique(sc)) == sc.shape[0]:  # without ties the selection-sort variant keeps the same segments
        keep_soft, scores = soft_nms(seg, sc, iou_threshold=thr, method="hard", min_score=0.0)
        np.testing.assert_array_equal(keep_soft[scores > 0], keep[sc[keep] > 0])


@PROP
@given(segment_sets(), st.floats(0.2, 1.0), st.sampled_from(METHODS))
def test_selected_scores_are_non_increasing(data, sigma, method):
    """Each step takes the maximum of the current scores and weights are in [0, 1] (scores >= 0 here)."""
    seg, sc = data
    _, scores = soft_nms(seg, sc, sigma=sigma, min_score=0.0, method=method)
    assert np.all(np.diff(scores) <= 0)


@PROP
@given(segment_sets(integer=True), st.integers(1, 4), st.booleans(), st.booleans())
def test_batched_nms_properties(data, n_cls, soft, agnostic):
    seg, sc = data
    labels = (np.arange(seg.shape[0]) * 7) % n_cls
    out_seg, out_sc, out_lab = batched_nms(seg, sc, labels, iou_threshold=0.5, min_score=0.001, max_num=10,
                                           soft=soft, class_agnostic=agnostic)
    assert out_seg.shape[0] == out_sc.shape[0] == out_lab.shape[0] <= 10
    assert np.all(np.diff(out_sc) <= 0)
    rows = {(float(a), float(b), int(c)) for a, b, c in zip(seg[:, 0], seg[:, 1], labels)}
    assert all((float(a), float(b), int(c)) in rows for (a, b), c in zip(out_seg, out_lab))
    if not agnostic:  # per class == that class alone, then a global cut by score
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            if soft:
                _, expected = soft_nms(seg[idx], sc[idx], sigma=0.5, min_score=0.001, max_num=10)
            else:
                pre = idx[sc[idx] > 0.001]
                expected = sc[pre][nms(seg[pre], sc[pre], iou_threshold=0.5)[:10]]
            got = out_sc[out_lab == c]
            np.testing.assert_array_equal(got, expected[: got.shape[0]])


# --------------------------------------------------------------------------------------------------
# types and devices


def _devices():
    yield "cpu"
    if torch.cuda.is_available():
        yield "cuda"


@pytest.mark.parametrize("device", list(_devices()))
def test_torch_in_torch_out(device):
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 50, 30)
    seg = np.stack([s, s + rng.uniform(1, 10, 30)], 1).astype(np.float32)
    sc = rng.uniform(0, 1, 30).astype(np.float32)
    lab = rng.integers(0, 3, 30)
    tseg, tsc, tlab = (torch.from_numpy(x).to(device) for x in (seg, sc, lab))

    keep, scores = soft_nms(tseg, tsc)
    ref_keep, ref_scores = soft_nms(seg, sc)
    assert keep.device.type == device and keep.dtype == torch.int64 and scores.dtype == torch.float32
    np.testing.assert_array_equal(keep.cpu().numpy(), ref_keep)
    np.testing.assert_array_equal(scores.cpu().numpy(), ref_scores)

    hard = nms(tseg, tsc, iou_threshold=0.5)
    assert hard.device.type == device
    np.testing.assert_array_equal(hard.cpu().numpy(), nms(seg, sc, iou_threshold=0.5))

    out = batched_nms(tseg, tsc, tlab, iou_threshold=0.5, min_score=0.001, max_num=20)
    ref = batched_nms(seg, sc, lab, iou_threshold=0.5, min_score=0.001, max_num=20)
    for a, b in zip(out, ref):
        assert a.device.type == device
        np.testing.assert_array_equal(a.cpu().numpy(), b)

    k, s = soft_nms_preset(tseg.double(), tsc.double(), reference="tags")
    assert k.device.type == device and s.dtype == torch.float64


def test_float64_and_integer_inputs_round_to_float32():
    seg = np.array([[0, 10], [2, 12], [30, 40]])
    keep, scores = soft_nms(seg, np.array([0.9, 0.8, 0.7]))
    keep32, scores32 = soft_nms(seg.astype(np.float32), np.array([0.9, 0.8, 0.7], np.float32))
    np.testing.assert_array_equal(keep, keep32)
    np.testing.assert_array_equal(scores, scores32)
    k16, _ = soft_nms(torch.tensor(seg, dtype=torch.bfloat16), torch.tensor([0.9, 0.8, 0.7], dtype=torch.float16))
    np.testing.assert_array_equal(k16.numpy(), keep)


def test_empty_inputs():
    for seg in (np.zeros((0, 2)), [], torch.zeros(0, 2)):
        keep, scores = soft_nms(seg, np.zeros(0) if not torch.is_tensor(seg) else torch.zeros(0))
        assert keep.shape == (0,) and scores.shape == (0,)
        assert nms(seg, np.zeros(0), iou_threshold=0.5).shape == (0,)
    out = batched_nms(torch.zeros(0, 2), torch.zeros(0), torch.zeros(0, dtype=torch.long), iou_threshold=0.5,
                      min_score=0.0, max_num=5)
    assert [tuple(x.shape) for x in out] == [(0, 2), (0,), (0,)]
    assert out[2].dtype == torch.int64


# --------------------------------------------------------------------------------------------------
# bad input


GOOD_SEG = np.array([[0.0, 1.0], [2.0, 3.0]])
GOOD_SC = np.array([0.5, 0.4])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"segments": np.array([[0.0, 1.0], [3.0, 3.0]])}, ValueError, r"segments: expected end > start.*row 1"),
        ({"segments": np.array([[0.0, 1.0], [3.0, 2.0]])}, ValueError, "end > start"),
        ({"segments": np.array([[0.0, np.nan], [2.0, 3.0]])}, ValueError, "segments: expected finite"),
        ({"segments": np.array([0.0, 1.0, 2.0])}, ValueError, r"segments: expected shape \(N, 2\), got \(3,\)"),
        ({"segments": np.zeros((2, 3))}, ValueError, r"expected shape \(N, 2\), got \(2, 3\)"),
        ({"segments": np.array([["a", "b"], ["c", "d"]])}, TypeError,
         r"segments: expected a real \(integer or floating\) dtype, got <U1"),
        ({"scores": np.array([0.5, np.nan])}, ValueError, "scores: expected finite values, got nan at index 1"),
        ({"scores": np.array([0.5, np.inf])}, ValueError, "scores: expected finite"),
        ({"scores": np.array([0.5, 0.4, 0.3])}, ValueError, r"scores: expected shape \(2,\).*got \(3,\)"),
        ({"method": "cubic"}, ValueError, "method: expected one of 'hard', 'linear', 'gaussian', got 'cubic'"),
        ({"sigma": 0.0}, ValueError, "sigma: expected a finite number > 0.0, got 0.0"),
        ({"sigma": "0.5"}, TypeError, "sigma: expected a real number"),
        ({"iou_threshold": float("nan")}, ValueError, "iou_threshold: expected a finite number"),
        ({"max_num": 0}, ValueError, "max_num: expected an integer >= 1 and <= 2147483647, got 0"),
        ({"max_num": np.int64(0)}, ValueError, "max_num: expected an integer >= 1"),
        ({"max_num": 2.0}, TypeError, "max_num"),
        ({"min_score": None}, TypeError, "min_score"),
    ],
)
def test_soft_nms_bad_input(kwargs, error, match):
    args = {"segments": GOOD_SEG, "scores": GOOD_SC, **kwargs}
    seg, sc = args.pop("segments"), args.pop("scores")
    with pytest.raises(error, match=match):
        soft_nms(seg, sc, **args)


@pytest.mark.parametrize("fn", ["soft_nms", "nms"])
def test_float32_bad_input_is_caught_in_the_kernel_path(fn):
    call = {"soft_nms": lambda a, b: soft_nms(a, b), "nms": lambda a, b: nms(a, b, iou_threshold=0.5)}[fn]
    seg32, sc32 = GOOD_SEG.astype(np.float32), GOOD_SC.astype(np.float32)
    with pytest.raises(ValueError, match=r"expected end > start in every row, got start=2\.0, end=2\.0 at row 1"):
        call(np.array([[0, 1], [2, 2]], np.float32), sc32)
    with pytest.raises(ValueError, match="segments: expected finite values"):
        call(np.array([[0, 1], [2, np.inf]], np.float32), sc32)
    with pytest.raises(ValueError, match="scores: expected finite values"):
        call(seg32, np.array([0.5, np.nan], np.float32))
    with pytest.raises(ValueError, match="scores: expected finite values"):
        call(torch.from_numpy(seg32), torch.tensor([np.inf, 0.5]))
    # float64 rows that collapse to end == start in float32 are valid input (area 1e-6, as the reference)
    keep = call(np.array([[1e8, 1e8 + 1.0], [0.0, 1.0]]), np.array([0.4, 0.5]))
    keep = keep[0] if isinstance(keep, tuple) else keep
    assert sorted(keep.tolist()) == [0, 1]


def test_nms_and_batched_bad_input():
    with pytest.raises(ValueError, match="end > start"):
        nms(np.array([[1.0, 0.0]]), np.array([0.5]), iou_threshold=0.5)
    with pytest.raises(ValueError, match=r"scores: expected shape \(2,\)"):
        nms(GOOD_SEG, np.array([0.5]), iou_threshold=0.5)
    kw = {"iou_threshold": 0.5, "min_score": 0.001, "max_num": None}
    with pytest.raises(ValueError, match=r"labels: expected shape \(2,\)"):
        batched_nms(GOOD_SEG, GOOD_SC, np.array([0]), **kw)
    with pytest.raises(TypeError, match="labels: expected an integer dtype, got float64"):
        batched_nms(GOOD_SEG, GOOD_SC, np.array([0.0, 1.0]), **kw)
    with pytest.raises(ValueError, match=r"voting_threshold: expected a finite number >= 0\.0 and <= 1\.0"):
        batched_nms(GOOD_SEG, GOOD_SC, np.array([0, 1]), voting_threshold=1.5, class_agnostic=True, **kw)
    with pytest.raises(TypeError, match="soft: expected True or False, got str 'yes'"):
        batched_nms(GOOD_SEG, GOOD_SC, np.array([0, 1]), soft="yes", **kw)
    with pytest.raises(ValueError, match="scores: expected finite"):
        batched_nms(GOOD_SEG, np.array([0.5, np.nan]), np.array([0, 1]), **kw)
    with pytest.raises(ValueError, match="reference: expected one of 'bmn', 'gtad', 'tags', got 'bsn'"):
        soft_nms_preset(GOOD_SEG, GOOD_SC, reference="bsn")
    with pytest.raises(TypeError, match=r"reference 'bmn' takes \['alpha', 'max_num', 't1', 't2'\].*\['sigma'\]"):
        soft_nms_preset(GOOD_SEG, GOOD_SC, reference="bmn", sigma=0.5)


def test_input_boundary_numpy_integers_meta_and_grad():
    # issue 9: numpy integers are integers, meta tensors have no values, inputs that require grad are read
    keep, _ = soft_nms(GOOD_SEG, GOOD_SC, max_num=np.int64(1))
    assert keep.tolist() == [0]
    with pytest.raises(TypeError, match=r"segments: expected a tensor with values .* got a meta tensor"):
        soft_nms(torch.zeros(2, 2, device="meta"), torch.zeros(2, device="meta"))
    with pytest.raises(TypeError, match="labels: expected an integer dtype"):
        batched_nms(GOOD_SEG, GOOD_SC, np.array([True, False]), iou_threshold=0.5, min_score=0.0, max_num=None)
    seg = torch.tensor(GOOD_SEG, requires_grad=True)
    keep, scores = soft_nms(seg, torch.tensor(GOOD_SC, requires_grad=True))
    assert keep.tolist() == [0, 1] and not scores.requires_grad
    assert nms(seg, torch.tensor(GOOD_SC), iou_threshold=np.float32(0.5)).tolist() == [0, 1]
