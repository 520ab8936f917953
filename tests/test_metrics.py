from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actseg.metrics import PROTOCOLS, SegmentationMetrics, accuracy, edit_score, f1_score, segment_stats
from tas_oracle import edit_distance, runs

# ---------------------------------------------------------------------------------------------
# A slow, readable statement of the algorithm (numpy argmax semantics, NaN included) to compare
# the numba kernel with on random inputs beyond the stored reference vectors.


def _slow_stats(pred, target, background, overlaps, short_last):
    p, g = runs(pred, background, short_last), runs(target, background, short_last)
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
         r"overlaps: expected values in \(0, 1\], got 0.0 at index 0"),
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
    expected_edit = float(np.mean(edits))  # NaN only if a video has no foreground segment on either side
    if math.isnan(expected_edit):
        assert math.isnan(out["edit"])
    else:
        assert out["edit"] == pytest.approx(expected_edit, rel=1e-12)
    assert math.isnan(expected_edit) == any(math.isnan(e) for e in edits)
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


# ---------------------------------------------------------------------------------------------
# regression tests (issue 10)




segment_sequences = st.tuples(st.lists(st.integers(0, 3), max_size=300), st.lists(st.integers(0, 3), max_size=300),
                              st.sampled_from([1, 2**40, -(2**62)]))


@given(pair=segment_sequences)
@settings(max_examples=150, deadline=None)
def test_bit_parallel_edit_distance_equals_the_dynamic_programme(pair):
    # lengths up to 300 cross the 64-row blocks (and the two-block sweep); label values of any size
    from actseg.metrics._tas_kernels import levenshtein

    a, b, scale = pair
    p = np.asarray(a, dtype=np.int64) * scale
    y = np.asarray(b, dtype=np.int64) * scale
    assert levenshtein(p, len(a), y, len(b)) == edit_distance(a, b)


@pytest.mark.parametrize("n", [63, 64, 65, 127, 128, 129, 200])
def test_bit_parallel_edit_distance_at_block_edges(n):
    from actseg.metrics._tas_kernels import levenshtein

    rng = np.random.default_rng(n)
    for m in (1, n - 1, n, n + 1, 3 * n):
        a, b = rng.integers(0, 3, n), rng.integers(0, 3, m)
        assert levenshtein(a, n, b, m) == edit_distance(a.tolist(), b.tolist())
    assert levenshtein(np.zeros(n, np.int64), n, np.ones(n, np.int64), 0) == n


def test_huge_class_ids_cost_nothing():
    # used to allocate a table of max(label) + 1 entries: 2**34 -> 16.5 GB and 41 s; 2**62 -> MemoryError
    big = 2**62
    assert f1_score([big, 0], [big, 0]).tolist() == [100.0] * 3
    assert edit_score([big, big - 1, 0], [big, 0, 0], background=[big - 1]) == 100.0
    tp, fp, fn = segment_stats([2**34, 2**34, 0], [2**34, 5, 5], background=[0], overlaps=[0.5])
    assert (tp.tolist(), fp.tolist(), fn.tolist()) == ([1], [0], [1])  # IoU 1/2 with the first GT segment
    small = segment_stats([1, 1, 0], [1, 5, 5], background=[0], overlaps=[0.5])
    assert [v.tolist() for v in small] == [tp.tolist(), fp.tolist(), fn.tolist()]
    m = SegmentationMetrics(background=[big])
    m.update(np.array([[big, 7, 7, 2**40]]), np.array([[big, 7, 7, 2**40]]))
    assert m.compute() == {"accuracy": 100.0, "accuracy_foreground": 100.0, "edit": 100.0,
                           "f1@10": 100.0, "f1@25": 100.0, "f1@50": 100.0}


def _fragmented(t_len, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 48, t_len), rng.integers(0, 48, t_len)


def test_fragmented_100k_frames_is_fast():
    # used to be a quadratic dynamic programme: 9.4 s for edit and again for F1 (which computed it)
    import time

    pred, target = _fragmented(100_000)
    edit_score(pred[:200], target[:200])  # compiled / loaded from the cache outside the timing
    f1_score(pred[:200], target[:200])
    t0 = time.process_time()
    edit = edit_score(pred, target)
    t_edit = time.process_time() - t0
    t0 = time.process_time()
    f1 = f1_score(pred, target)
    t_f1 = time.process_time() - t0
    assert t_edit < 4.0 and t_f1 < 0.5, (t_edit, t_f1)
    assert 0 < edit < 100 and f1.shape == (3,)
    assert edit == edit_score(target, pred)  # symmetric


def test_f1_does_not_compute_the_edit_distance(monkeypatch):
    from actseg.metrics import _segmentation

    pred, target = _fragmented(300, seed=1)
    expected = f1_score(pred, target)
    flags = []
    original = _segmentation._video_row

    def spy(*args, **kwargs):
        flags.append(kwargs.get("with_edit", True))
        return original(*args, **kwargs)

    monkeypatch.setattr(_segmentation, "_video_row", spy)
    np.testing.assert_array_equal(f1_score(pred, target), expected)
    segment_stats(pred, target)
    edit_score(pred, target)
    assert flags == [False, False, True]
    row_f1 = original(pred, target, np.zeros(0, np.int64), np.array([0.1]), "mstcn", with_edit=False)
    row = original(pred, target, np.zeros(0, np.int64), np.array([0.1]), "mstcn")
    assert math.isnan(row_f1[4]) and row[4] == edit_score(pred, target)
    np.testing.assert_array_equal(row_f1[5:], row[5:])


def test_nan_scores_are_rejected():
    scores = np.random.default_rng(0).normal(size=(1, 4, 6))
    scores[0, 2, 3] = np.nan  # argmax used to pick class 2 there silently
    target = np.zeros((1, 6), np.int64)
    for pred in (scores, torch.from_numpy(scores), torch.from_numpy(scores).half()):
        with pytest.raises(ValueError, match=r"pred: expected no NaN, got NaN at index \(0, 2, 3\)"):
            SegmentationMetrics().update(pred, target)
    finite = np.where(np.isnan(scores), -np.inf, scores)  # -inf (a masked class) is fine
    m = SegmentationMetrics()
    m.update(finite, target)
    assert m.num_videos == 1


def test_integer_scores_rejected_as_tensor_and_as_array():
    scores = np.zeros((2, 3, 5), np.int64)
    for pred in (scores, torch.from_numpy(scores)):
        with pytest.raises(TypeError, match=r"pred: expected floating class scores for a 3-D input \(B, K, T\)"):
            SegmentationMetrics().update(pred, np.zeros((2, 5), np.int64))
    with pytest.raises(TypeError, match="pred: expected an integer dtype, got float"):
        SegmentationMetrics().update(torch.zeros(2, 5), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="target: expected an integer dtype, got float32"):
        SegmentationMetrics().update(torch.zeros(2, 3, 5), torch.zeros(2, 5))


def test_meta_scores_rejected():
    with pytest.raises(TypeError, match="pred: expected a tensor with values"):
        SegmentationMetrics().update(torch.zeros(1, 3, 5, device="meta"), torch.zeros(1, 5, dtype=torch.long))


def test_stacked_stages_message_lists_every_layout():
    out = torch.randn(4, 2, 5, 9)  # (S, B, K, T) of actseg's multi-stage models
    target = torch.zeros(2, 9, dtype=torch.long)
    with pytest.raises(ValueError, match=r"pred: expected \(T,\) or \(B, T\) integer class ids, or \(B, K, T\) "
                                         r"floating class scores, got shape \(4, 2, 5, 9\); a multi-stage output "
                                         r"\(S, B, K, T\) is not accepted: pass its last stage \(out\[-1\]\)"):
        SegmentationMetrics().update(out, target)
    m = SegmentationMetrics()
    m.update(out[-1], target)
    assert m.num_videos == 2


def test_bool_ignore_index_is_not_class_one():
    with pytest.raises(TypeError, match="ignore_index: expected an integer or a collection of integers, got bool"):
        accuracy([1, 0, 2], [1, 0, 2], ignore_index=True)
    with pytest.raises(TypeError, match="ignore_index"):
        SegmentationMetrics(ignore_index=np.bool_(True))
    assert accuracy([1, 0, 2], [1, 0, 0], ignore_index=np.int64(1)) == 50.0  # numpy integers are integers


ignore_cases = st.integers(2, 40).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 4), min_size=n, max_size=n),
                        st.lists(st.integers(-1, 4), min_size=n, max_size=n),
                        st.sets(st.integers(-1, 4), max_size=3))
)


@given(case=ignore_cases, protocol=st.sampled_from(PROTOCOLS))
@settings(max_examples=100, deadline=None)
def test_ignore_set_removes_frames_first(case, protocol):
    # LTContext's IGNORED_CLASSES: frames whose target is in the set leave both sequences first,
    # anywhere in the video (holes, not only a padded tail)
    pred, target, ignored = case
    ignored = ignored | {-1}
    keep = [i for i, y in enumerate(target) if y not in ignored]
    p, y = [pred[i] for i in keep], [target[i] for i in keep]
    if not keep:
        assert math.isnan(accuracy(pred, target, ignore_index=ignored))
        assert math.isnan(edit_score(pred, target, ignore_index=sorted(ignored)))
        assert segment_stats(pred, target, ignore_index=ignored)[0].tolist() == [0, 0, 0]
        return
    assert accuracy(pred, target, ignore_index=ignored) == accuracy(p, y)
    kw = {"background": [0], "protocol": protocol}
    s = edit_score(p, y, **kw)
    got = edit_score(pred, target, ignore_index=tuple(ignored), **kw)
    assert got == s or (math.isnan(got) and math.isnan(s))
    assert np.array_equal(f1_score(pred, target, ignore_index=np.array(sorted(ignored)), **kw), f1_score(p, y, **kw))
    a = SegmentationMetrics(ignore_index=ignored, **kw)
    a.update(pred, target)
    b = SegmentationMetrics(**kw)
    b.update(p, y)
    assert _same(a.compute(), b.compute())
    assert a.ignore_index == tuple(sorted(ignored))


def test_ignore_set_with_mask_holes():
    pred = np.array([[1, 1, 2, 2, 3, 3, 0, 0]])
    target = np.array([[1, 1, 9, 2, 3, 7, 0, 0]])
    mask = np.array([[True, False, True, True, True, True, True, False]])
    m = SegmentationMetrics(ignore_index=[9, 7], background=[0])
    m.update(pred, target, mask=mask)
    # kept frames 0, 3, 4, 6: pred [1, 2, 3, 0], target [1, 2, 3, 0]
    assert m.compute()["accuracy"] == 100.0 and m.compute()["edit"] == 100.0
    assert m.per_video()[0]["accuracy"] == 100.0


def test_numpy_scalars_accepted():
    m = SegmentationMetrics(overlaps=np.float64(0.5), ignore_index=np.int32(-1), background=np.int64(0))
    m.update([0, 1, 1], [0, 1, -1])
    assert list(m.compute()) == ["accuracy", "accuracy_foreground", "edit", "f1@50"]
    assert f1_score([1, 1], [1, 1], overlaps=np.float32(0.5)).tolist() == [100.0]


def test_video_ids_are_validated_at_update():
    m = SegmentationMetrics()
    with pytest.raises(TypeError, match="video_ids: expected hashable ids"):
        m.update([[0, 1]], [[0, 1]], video_ids=[[1]])  # used to fail later, inside compute()
    with pytest.raises(TypeError, match="video_ids: expected a tensor with values"):
        m.update([[0, 1]], [[0, 1]], video_ids=torch.zeros(1, device="meta"))
    m.update([[0, 1]], [[0, 1]], video_ids=np.array([7]))
    m.update([0, 1], [0, 1], video_ids=np.int64(8))
    assert [v["video"] for v in m.per_video()] == [7, 8]
    with pytest.raises(TypeError, match="protocol: expected one of"):
        edit_score([0], [0], protocol=np.array(["mstcn", "fact"]))  # used to be numpy's ambiguous-truth error


def test_checks_helpers_added_for_the_metrics():
    from actseg._checks import no_nan, values_in_range

    assert values_in_range(np.array([0.5, 1.0]), "overlaps", low=0, high=1, low_open=True).tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match=r"overlaps: expected values in \(0, 1\], got 1.5 at index \(1, 0\)"):
        values_in_range(np.array([[0.5], [1.5]]), "overlaps", low=0, high=1, low_open=True)
    with pytest.raises(ValueError, match="tolerance: expected values >= 0, got nan at index 0"):
        values_in_range(np.array([np.nan]), "tolerance", low=0)
    assert values_in_range(np.array([3, 4]), "k", low=3).tolist() == [3, 4]  # integer arrays
    x = torch.tensor([[0.0, -float("inf")], [float("inf"), 1.0]])
    assert no_nan(x, "pred") is x and no_nan(np.zeros(3, np.int64), "pred") is not None
    with pytest.raises(ValueError, match=r"pred: expected no NaN, got NaN at index 1"):
        no_nan(np.array([0.0, np.nan]), "pred")
    with pytest.raises(ValueError, match=r"pred: expected no NaN, got NaN at index \(1, 0\)"):
        no_nan(torch.tensor([[0.0], [float("nan")]], dtype=torch.bfloat16), "pred")
    with pytest.raises(TypeError, match="pred: expected a tensor with values"):
        no_nan(torch.zeros(2, device="meta"), "pred")
