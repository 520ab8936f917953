from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.metrics import PROTOCOLS, SegmentationMetrics, accuracy, edit_score, f1_score, segment_stats


# ---------------------------------------------------------------------------------------------
# A slow, readable statement of the algorithm (numpy argmax semantics, NaN included) to compare
# the numba kernel with on random inputs beyond the stored reference vectors.
def _runs(labels, background, short_last):
    segs, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[t - 1]:
            if labels[t - 1] not in background:
                segs.append([start, t, labels[t - 1]])
            start = t
    if short_last and segs and segs[-1][1] == len(labels):
        segs[-1][1] = len(labels) - 1
    return segs


def _slow_stats(pred, target, background, overlaps, short_last):
    p, g = _runs(pred, background, short_last), _runs(target, background, short_last)
    tp, fp = [], []
    for k in overlaps:
        hit = np.zeros(len(g), bool)
        n_tp = n_fp = 0
        for ps, pe, pl in p:
            if not g:
                n_fp += 1
                continue
            gs, ge, gl = (np.array([s[i] for s in g]) for i in range(3))
            with np.errstate(all="ignore"):
                iou = (np.minimum(pe, ge) - np.maximum(ps, gs)) / (np.maximum(pe, ge) - np.minimum(ps, gs)) * (gl == pl)
            idx = int(np.argmax(iou))
            if iou[idx] >= k and not hit[idx]:
                hit[idx] = True
                n_tp += 1
            else:
                n_fp += 1
        tp.append(n_tp)
        fp.append(n_fp)
    fn = [len(g) - t for t in tp]
    d = np.arange(len(g) + 1)
    for i, (_, _, pl) in enumerate(p, 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j, (_, _, gl) in enumerate(g, 1):
            d[j] = prev[j - 1] if pl == gl else 1 + min(prev[j - 1], prev[j], d[j - 1])
    longest = max(len(p), len(g))
    edit = math.nan if longest == 0 else (1 - d[-1] / longest) * 100
    return tp, fp, fn, edit


sequences = st.integers(1, 40).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 3), min_size=n, max_size=n),
                        st.lists(st.integers(0, 3), min_size=n, max_size=n))
)


@given(pair=sequences, background=st.sets(st.integers(0, 3), max_size=2), protocol=st.sampled_from(PROTOCOLS))
@settings(max_examples=300, deadline=None)
def test_kernel_matches_readable_algorithm(pair, background, protocol):
    pred, target = pair
    overlaps = (0.1, 0.25, 0.5, 0.75)
    tp, fp, fn = segment_stats(pred, target, overlaps=overlaps, background=background, protocol=protocol)
    s_tp, s_fp, s_fn, s_edit = _slow_stats(pred, target, background, overlaps, protocol in ("asformer", "asrf"))
    assert (tp.tolist(), fp.tolist(), fn.tolist()) == (s_tp, s_fp, s_fn)
    edit = edit_score(pred, target, background=background, protocol=protocol)
    assert (math.isnan(edit) and math.isnan(s_edit)) or edit == s_edit


# ---------------------------------------------------------------------------------------------
# per-video functions


def test_examples():
    assert accuracy([0, 1, 1, 2], [0, 1, 2, 2]) == 75.0
    assert edit_score([1, 1, 2, 2, 1], [1, 1, 1, 2, 2]) == pytest.approx(200 / 3)
    tp, fp, fn = segment_stats([1, 1, 2, 2, 2, 0], [1, 1, 1, 2, 2, 0], background=[0])
    assert tp.dtype == np.int64 and tp.tolist() == [2, 2, 2] and fp.tolist() == fn.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(f1_score([1, 1, 2, 2, 2, 0], [1, 1, 1, 2, 2, 0], background=[0],
                                           overlaps=(0.5, 0.9)), [100.0, 0.0])


def test_accuracy_ignore_index():
    assert accuracy([1, 0, 2], [1, -100, 0]) == 50.0
    assert math.isnan(accuracy([1, 2], [-100, -100]))
    assert accuracy([1, 0, 2], [1, 7, 0], ignore_index=7) == 50.0


def test_tensor_inputs():
    pred = torch.tensor([0, 1, 1, 2])
    assert accuracy(pred, torch.tensor([0, 1, 2, 2])) == 75.0
    assert edit_score(pred, pred) == 100.0


def test_asformer_last_segment_rule():
    labels = [1, 1, 2, 2, 3]  # last run of one frame
    assert f1_score(labels, labels, protocol="mstcn").tolist() == [100.0] * 3
    tp, fp, fn = segment_stats(labels, labels, protocol="asformer")
    assert (tp.tolist(), fp.tolist(), fn.tolist()) == ([2] * 3, [1] * 3, [1] * 3)
    assert f1_score(labels, labels, protocol="asformer")[0] == pytest.approx(200 / 3)


def test_no_fallback_to_second_best():
    # prediction 1 takes GT 0; prediction 2 also prefers GT 0 (already hit): FP, although GT 1 fits
    target = [1, 1, 1, 1, 0, 1, 1, 1, 1]
    pred = [1, 1, 1, 1, 1, 1, 1, 1, 1]
    tp, fp, fn = segment_stats(pred, target, background=[0], overlaps=[0.4])
    assert (tp[0], fp[0], fn[0]) == (1, 0, 1)


def test_iou_exactly_threshold_counts():
    target = [1] * 4 + [0] * 6
    pred = [1] * 10  # IoU 0.4
    assert segment_stats(pred, target, overlaps=[0.4], background=[0])[0].tolist() == [1]
    assert segment_stats(pred, target, overlaps=[0.41], background=[0])[0].tolist() == [0]


def test_gt_without_foreground_counts_false_positives():
    tp, fp, fn = segment_stats([1, 1, 0, 2], [0, 0, 0, 0], background=[0])
    assert tp.tolist() == [0] * 3 and fp.tolist() == [2] * 3 and fn.tolist() == [0] * 3
    assert f1_score([1, 1, 0, 2], [0, 0, 0, 0], background=[0]).tolist() == [0.0] * 3


def test_all_background_edit_is_nan():
    assert math.isnan(edit_score([0, 0], [0, 0], background=[0]))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_protocol_epsilons_on_perfect_prediction(protocol):
    labels = [1, 1, 2, 2, 2]
    f1 = f1_score(labels, labels, protocol=protocol)
    asrf = 2.0 * (1.0 * 1.0) / (1.0 + 1.0 + 1e-7) * 100
    expected = {"mstcn": 100.0, "mtlera": 100.0, "asformer": 100.0, "asrf": asrf, "fact": None}[protocol]
    if protocol == "fact":
        p = 2 / (2 + 1e-5)
        expected = 2.0 * (p * p) / (p + p + 1e-5) * 100
    assert f1[0] == expected


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: accuracy([0, 1], [0]), ValueError, r"pred: expected the length of target \(1\), got length 2"),
        (lambda: accuracy([], []), ValueError, "pred: expected a non-empty"),
        (lambda: accuracy([0.5], [0]), TypeError, "pred: expected an integer dtype, got float64"),
        (lambda: accuracy([0], [-3]), ValueError, "target: expected class ids >= 0 or ignore_index=-100, got -3"),
        (lambda: edit_score([0, -1], [0, 1]), ValueError, "pred: expected class ids >= 0, got -1"),
        (lambda: edit_score([0], [0], protocol="bogus"), ValueError, "protocol: expected one of"),
        (lambda: edit_score([True], [False]), TypeError, "pred: expected an integer dtype, got bool"),
        (lambda: edit_score([[0]], [[0]]), ValueError, "pred: expected a 1-D array"),
        (lambda: segment_stats([0], [0], overlaps=[0.0]), ValueError,
         r"overlaps: expected values > 0 and <= 1, got 0.0 at index 0"),
        (lambda: segment_stats([0], [0], overlaps=[]), ValueError, "overlaps: expected at least one"),
        (lambda: f1_score([0], [0], background=[-1]), ValueError, "background: expected class ids >= 0"),
        (lambda: f1_score([0], [0], background="bg"), TypeError, "background"),
        (lambda: accuracy("01", [0, 1]), TypeError, "pred: expected a numpy array"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# accumulator


def _random_video(rng, length, n_classes=5):
    runs = rng.integers(1, 12, size=length)
    labels = np.repeat(rng.integers(0, n_classes, size=length), runs)[:length]
    noisy = labels.copy()
    flip = rng.random(length) < 0.1
    noisy[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
    return noisy, labels


def _videos(seed, n=6):
    rng = np.random.default_rng(seed)
    return [_random_video(rng, int(rng.integers(1, 80))) for _ in range(n)]


def test_accumulator_keys_and_values():
    m = SegmentationMetrics(background=[0], overlaps=(0.1, 0.5, 0.75))
    m.update([0, 1, 1, 2, 2], [0, 1, 1, 1, 2], video_ids="v")
    out = m.compute()
    assert list(out) == ["accuracy", "accuracy_foreground", "edit", "f1@10", "f1@50", "f1@75"]
    assert out["accuracy"] == 80.0 and out["accuracy_foreground"] == 75.0
    assert all(isinstance(v, float) for v in out.values())
    assert m.num_videos == 1 and "mstcn" in repr(m)


def test_accumulator_equals_per_video_functions():
    videos = _videos(0)
    m = SegmentationMetrics(background=[0])
    tp = fp = fn = 0
    correct = total = 0
    edits = []
    for pred, target in videos:
        m.update(pred, target)
        a, b, c = segment_stats(pred, target, background=[0])
        tp, fp, fn = tp + a, fp + b, fn + c
        correct += int((pred == target).sum())
        total += len(target)
        edits.append(edit_score(pred, target, background=[0]))
    out = m.compute()
    p, r = tp / (tp + fp), tp / (tp + fn)
    np.testing.assert_allclose([out["f1@10"], out["f1@25"], out["f1@50"]], np.nan_to_num(2 * p * r / (p + r)) * 100)
    assert out["accuracy"] == pytest.approx(100 * correct / total)
    assert out["edit"] == pytest.approx(np.mean(edits)) or math.isnan(out["edit"])
    per_video = m.per_video()
    assert len(per_video) == len(videos) and per_video[0]["video"] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_padded_batch_with_mask_equals_videos_one_by_one(protocol):
    videos = _videos(1, n=4)
    length = max(len(t) for _, t in videos)
    pred = np.zeros((4, length), np.int64)
    target = np.full((4, length), 3, np.int64)
    mask = np.zeros((4, length), bool)
    for b, (p, t) in enumerate(videos):
        pred[b, : len(p)], target[b, : len(t)], mask[b, : len(t)] = p, t, True
    batched = SegmentationMetrics(background=[0], protocol=protocol)
    batched.update(torch.from_numpy(pred), torch.from_numpy(target), mask=torch.from_numpy(mask),
                   video_ids=["a", "b", "c", "d"])
    single = SegmentationMetrics(background=[0], protocol=protocol)
    for vid, (p, t) in zip("abcd", videos):
        single.update(p, t, video_ids=vid)
    assert _same(batched.compute(), single.compute())
    padded_with_ignore = SegmentationMetrics(background=[0], protocol=protocol)
    padded_with_ignore.update(pred, np.where(mask, target, -100))
    assert _same(padded_with_ignore.compute(), single.compute())


def test_scores_input_takes_argmax():
    logits = torch.randn(2, 4, 30)
    target = torch.randint(0, 4, (2, 30))
    a, b = SegmentationMetrics(), SegmentationMetrics()
    a.update(logits, target)
    b.update(logits.argmax(1), target)
    assert a.compute() == b.compute()


def _same(a, b):
    return all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_duplicate_video_ids_count_once_and_merge():
    videos = _videos(2, n=5)
    full = SegmentationMetrics()
    for i, (p, t) in enumerate(videos):
        full.update(p, t, video_ids=i)
    first, second = SegmentationMetrics(), SegmentationMetrics()
    for i, (p, t) in enumerate(videos[:3]):
        first.update(p, t, video_ids=i)
    for i, (p, t) in enumerate(videos[2:], start=2):  # video 2 twice (DistributedSampler padding)
        second.update(p, t, video_ids=i)
    assert _same(first.merge(second).compute(), full.compute())
    assert len(first.per_video()) == 5


def test_reset_pickle_and_empty_compute():
    m = SegmentationMetrics()
    m.update([1, 2], [1, 2])
    clone = pickle.loads(pickle.dumps(m))
    assert clone.compute() == m.compute()
    m.reset()
    with pytest.warns(UserWarning, match="before any update"):
        out = m.compute()
    assert all(math.isnan(v) for v in out.values())


def test_fact_skips_nan_edit_others_propagate():
    videos = [([1, 1, 2], [1, 1, 2]), ([0, 0, 0], [0, 0, 0])]
    for protocol, nan_expected in (("mstcn", True), ("fact", False)):
        m = SegmentationMetrics(background=[0], protocol=protocol)
        for p, t in videos:
            m.update(p, t)
        assert math.isnan(m.compute()["edit"]) == nan_expected


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m.update([0, 1], [0, 1, 1]), ValueError, r"pred: expected shape \(3,\) \(as target\), got \(2,\)"),
        (lambda m: m.update(np.zeros((2, 3), int), np.zeros((2, 4), int)), ValueError, "pred: expected shape"),
        (lambda m: m.update([0, 1], [0, 1], mask=[1, 1]), TypeError, "mask: expected dtype bool"),
        (lambda m: m.update([0, 1], [0, 1], mask=np.ones(3, bool)), ValueError, r"mask: expected shape \(1, 2\)"),
        (lambda m: m.update([0, 1], [-100, -100]), ValueError, "target: expected at least one valid frame"),
        (lambda m: m.update(np.zeros((2, 3), int), np.zeros((2, 3), int), video_ids=["a"]), ValueError,
         "video_ids: expected 2 ids"),
        (lambda m: m.update(np.zeros((2, 3), int), np.zeros((2, 3), int), video_ids="ab"), TypeError,
         "video_ids: expected a sequence"),
        (lambda m: m.update(np.zeros((1, 2, 3), int), np.zeros((1, 3), int)), TypeError, "floating class scores"),
        (lambda m: m.update(np.array([[0, -2]]), np.array([[0, 1]])), ValueError,
         r"pred \(batch element 0\): expected class ids >= 0"),
        (lambda m: m.update([0.5], [0]), TypeError, "pred: expected an integer dtype"),
        (lambda m: m.merge(SegmentationMetrics(protocol="fact")), ValueError, "other: expected the configuration"),
        (lambda m: m.merge(object()), TypeError, "other: expected a SegmentationMetrics"),
    ],
)
def test_accumulator_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(SegmentationMetrics())


def test_constructor_validation():
    with pytest.raises(ValueError, match="protocol"):
        SegmentationMetrics(protocol="ms-tcn")
    with pytest.raises(ValueError, match="differ after rounding"):
        SegmentationMetrics(overlaps=(0.1, 0.101))
    with pytest.raises(TypeError, match="ignore_index"):
        SegmentationMetrics(ignore_index=1.5)


# ---------------------------------------------------------------------------------------------
# hypothesis properties

video_lists = st.lists(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(st.lists(st.integers(0, 4), min_size=n, max_size=n),
                            st.lists(st.integers(0, 4), min_size=n, max_size=n))
    ),
    min_size=1, max_size=5,
)


def _dataset(videos, protocol="mstcn", background=(), overlaps=(0.1, 0.25, 0.5)):
    m = SegmentationMetrics(protocol=protocol, background=background, overlaps=overlaps)
    for p, t in videos:
        m.update(np.array(p), np.array(t))
    return m.compute()


@given(videos=video_lists, protocol=st.sampled_from(("mstcn", "fact", "mtlera")))
@settings(max_examples=60, deadline=None)
def test_perfect_prediction_scores_100(videos, protocol):
    out = _dataset([(t, t) for _, t in videos], protocol=protocol)
    if protocol == "fact":
        assert out["accuracy"] == pytest.approx(100.0) and out["f1@50"] == pytest.approx(100.0, abs=1e-2)
    else:
        assert out["accuracy"] == 100.0 and out["edit"] == 100.0 and out["f1@50"] == 100.0


@given(videos=video_lists, perm=st.permutations(range(5)), protocol=st.sampled_from(PROTOCOLS))
@settings(max_examples=60, deadline=None)
def test_consistent_relabeling_changes_nothing(videos, perm, protocol):
    mapping = np.array(perm)
    relabeled = [(mapping[np.array(p)], mapping[np.array(t)]) for p, t in videos]
    assert _same(_dataset(videos, protocol, background=[0]),
                 _dataset(relabeled, protocol, background=[int(mapping[0])]))


@given(videos=video_lists, protocol=st.sampled_from(PROTOCOLS))
@settings(max_examples=60, deadline=None)
def test_f1_non_increasing_in_overlap(videos, protocol):
    out = _dataset(videos, protocol, background=[0], overlaps=(0.1, 0.25, 0.5, 0.75, 0.9))
    values = [out[k] for k in ("f1@10", "f1@25", "f1@50", "f1@75", "f1@90")]
    assert all(a >= b for a, b in zip(values, values[1:]))


@given(videos=video_lists, order=st.randoms(use_true_random=False), protocol=st.sampled_from(PROTOCOLS))
@settings(max_examples=60, deadline=None)
def test_video_order_does_not_change_dataset_numbers(videos, order, protocol):
    shuffled = list(videos)
    order.shuffle(shuffled)
    assert _same(_dataset(videos, protocol, background=[0]), _dataset(shuffled, protocol, background=[0]))
