"""actseg.postprocess.decode_global_masks (GSMT/TAGS inference): hand-made cases, a loop reference, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actseg.postprocess._decode import decode_global_masks
from actseg.postprocess._nms import batched_nms
from actseg.segments import Segments

NO_NMS = {"nms": "none", "min_score": 0.0}


def _one_instance(t_len=20, start=5, end=12, label=1, n_cls=3, value=0.8, cls=0.9):
    """Class scores (1, K+1, T) with background last, and masks (1, T, T) for one action [start, end)."""
    probs = np.zeros((1, n_cls + 1, t_len))
    probs[0, n_cls] = 1.0
    probs[0, label, start:end] = cls
    probs[0, n_cls, start:end] = 1 - cls
    masks = np.zeros((1, t_len, t_len))
    masks[0, start:end, start:end] = value
    return probs, masks


def _reference_candidates(probs, masks, valid, top_k, thresholds, mode, min_score, min_length, bg):
    """Readable loop version of steps 1-3 (without de-duplication and M2)."""
    n_cls, t_len = probs.shape
    fg = [c for c in range(n_cls) if c != bg % n_cls]
    score = np.array([max(probs[c, t] for c in fg) if valid[t] else -np.inf for t in range(t_len)])
    label = np.array([fg[int(np.argmax([probs[c, t] for c in fg]))] for t in range(t_len)])
    anchors = sorted(range(t_len), key=lambda t: (-score[t], t))[:top_k]
    out = set()
    for t in anchors:
        if not np.isfinite(score[t]):
            continue
        row = [masks[t, j] if valid[j] else -np.inf for j in range(t_len)]
        for theta in thresholds:
            on = [j for j in range(t_len) if row[j] > theta]
            if not on:
                continue
            if mode == "span":
                spans = [(on[0], on[-1] + 1)]
            else:
                spans, s = [], on[0]
                for a, b in zip(on, [*on[1:], None]):
                    if b != a + 1:
                        spans.append((s, a + 1))
                        s = b
            for s, e in spans:
                sc = score[t] * max(row[s:e])
                if sc >= min_score and e - s >= min_length:
                    out.add((s, e, int(label[t]), round(float(sc), 12)))
    return out


def _as_set(seg: Segments):
    return {(int(s), int(e), int(lab), round(float(sc), 12)) for s, e, lab, sc in
            zip(seg.starts, seg.ends, seg.labels, seg.scores)}


# --------------------------------------------------------------------------------------------------
# hand-made cases


def test_one_instance_gives_one_proposal_with_its_boundaries():
    probs, masks = _one_instance()
    (out,) = decode_global_masks(probs, masks, num_anchors=5)
    assert isinstance(out, Segments) and len(out) == 1
    assert out.starts.tolist() == [5.0] and out.ends.tolist() == [12.0] and out.labels.tolist() == [1]
    assert out.scores[0] == pytest.approx(0.9 * 0.8, rel=1e-6)  # class score x maximal mask score
    assert out.starts.dtype == np.float64 and out.labels.dtype == np.int64 and out.scores.dtype == np.float64


def test_thresholds_give_nested_candidates():
    probs, masks = _one_instance(t_len=12, start=2, end=9)
    masks[0, :, 2:9] = [0.15, 0.35, 0.95, 0.95, 0.95, 0.35, 0.15]
    (out,) = decode_global_masks(probs, masks, num_anchors=1, thresholds=(0.1, 0.3, 0.5), **NO_NMS)
    assert sorted(zip(out.starts.tolist(), out.ends.tolist())) == [(2.0, 9.0), (3.0, 8.0), (4.0, 7.0)]
    np.testing.assert_allclose(out.scores, 0.9 * 0.95)
    (soft,) = decode_global_masks(probs, masks, num_anchors=1, thresholds=(0.1, 0.3, 0.5))
    assert len(soft) == 3 and soft.scores[0] == pytest.approx(0.9 * 0.95, rel=1e-6) and soft.scores[2] < soft.scores[1]


def test_span_versus_runs():
    probs, masks = _one_instance(t_len=16, start=2, end=12)
    masks[0, 2:12, 6:8] = 0.0  # a hole in every anchor's mask
    (span,) = decode_global_masks(probs, masks, num_anchors=1, thresholds=(0.5,), **NO_NMS)
    (runs,) = decode_global_masks(probs, masks, num_anchors=1, thresholds=(0.5,), mode="runs", **NO_NMS)
    assert list(zip(span.starts, span.ends)) == [(2.0, 12.0)]
    assert sorted(zip(runs.starts, runs.ends)) == [(2.0, 6.0), (8.0, 12.0)]


def test_runs_scores_use_the_maximum_inside_each_run():
    probs, masks = _one_instance(t_len=10, start=0, end=10)
    masks[0, 0, :] = [0.6, 0.7, 0.0, 0.0, 0.9, 0.8, 0.0, 0.0, 0.0, 0.0]
    (runs,) = decode_global_masks(probs, masks, num_anchors=1, thresholds=(0.5,), mode="runs", **NO_NMS)
    got = dict(zip(zip(runs.starts.tolist(), runs.ends.tolist()), runs.scores.tolist()))
    assert got == pytest.approx({(0.0, 2.0): 0.9 * 0.7, (4.0, 6.0): 0.9 * 0.9})


def test_top_k_min_score_min_length_and_max_candidates():
    probs, masks = _one_instance(t_len=20, start=2, end=18)
    probs[0, 1, 2:18] = np.linspace(0.5, 0.95, 16)
    for t in range(2, 18):
        masks[0, t, :] = 0
        masks[0, t, max(0, t - 3) : t + 3] = 0.9  # each anchor has its own span around it
    (all_,) = decode_global_masks(probs, masks, num_anchors=20, thresholds=(0.5,), **NO_NMS)
    assert len(all_) == 16
    (top3,) = decode_global_masks(probs, masks, num_anchors=3, thresholds=(0.5,), **NO_NMS)
    assert sorted(top3.starts.tolist()) == [12.0, 13.0, 14.0]  # anchors 15, 16, 17
    (high,) = decode_global_masks(probs, masks, num_anchors=20, thresholds=(0.5,), nms="none", min_score=0.8)
    assert np.all(high.scores >= 0.8) and len(high) < 16
    (long_,) = decode_global_masks(probs, masks, num_anchors=20, thresholds=(0.5,), min_length=6, **NO_NMS)
    assert np.all(long_.ends - long_.starts >= 6) and len(long_) == 15  # anchor 2: [0, 5) is cut by the start
    (m2,) = decode_global_masks(probs, masks, num_anchors=20, thresholds=(0.5,), max_candidates=4, **NO_NMS)
    np.testing.assert_allclose(m2.scores, np.sort(all_.scores)[::-1][:4])


def test_duplicates_are_merged_unless_asked():
    probs, masks = _one_instance()
    (dedup,) = decode_global_masks(probs, masks, num_anchors=7, **NO_NMS)
    (dup,) = decode_global_masks(probs, masks, num_anchors=7, deduplicate=False, **NO_NMS)
    assert len(dedup) == 1 and len(dup) == 7 * 7  # 7 anchors x 7 thresholds below the mask value 0.8


def test_background_channel_and_labels():
    probs, masks = _one_instance(label=2)
    moved = np.concatenate([probs[:, -1:], probs[:, :-1]], axis=1)  # background first
    (a,) = decode_global_masks(probs, masks, num_anchors=5)
    (b,) = decode_global_masks(moved, masks, num_anchors=5, background_index=0)
    assert a.labels.tolist() == [2] and b.labels.tolist() == [3]  # channel indices of class_scores
    np.testing.assert_array_equal(a.scores, b.scores)


def test_from_logits_and_anchor_axis():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 16))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    masks = rng.uniform(size=(2, 16, 16))
    kw = {"num_anchors": 6, "thresholds": (0.3, 0.6, 0.9)}
    ref = decode_global_masks(probs, masks, **kw)
    for got in (decode_global_masks(logits, masks, from_logits=True, **kw),
                decode_global_masks(probs, masks.transpose(0, 2, 1), anchor_axis=2, **kw)):
        for x, y in zip(got, ref):
            np.testing.assert_array_equal(x.starts, y.starts)
            np.testing.assert_array_equal(x.labels, y.labels)
            np.testing.assert_allclose(x.scores, y.scores, rtol=1e-6)


def test_no_activation_gives_empty_segments():
    probs, masks = _one_instance()
    (out,) = decode_global_masks(probs, masks * 0.0, num_anchors=5)
    assert len(out) == 0 and out.starts.dtype == np.float64 and out.scores is not None


# --------------------------------------------------------------------------------------------------
# against the loop reference; batching and padding


@pytest.mark.parametrize("mode", ["span", "runs"])
@pytest.mark.parametrize("seed", range(4))
def test_candidates_match_a_loop_reference(mode, seed):
    rng = np.random.default_rng(seed)
    bsz, n_cls, t_len = 3, 4, 24
    probs = rng.dirichlet(np.ones(n_cls), size=(bsz, t_len)).transpose(0, 2, 1)
    masks = rng.uniform(size=(bsz, t_len, t_len)) ** 2
    valid = np.ones((bsz, t_len), dtype=bool)
    valid[1, 17:] = False
    kw = {"num_anchors": 8, "thresholds": (0.2, 0.5, 0.8), "mode": mode, "min_score": 0.05, "min_length": 2}
    out = decode_global_masks(probs, masks, mask=valid, nms="none", deduplicate=False, max_candidates=None, **kw)
    for b in range(bsz):
        ref = _reference_candidates(probs[b], masks[b], valid[b], kw["num_anchors"], kw["thresholds"], mode,
                                    kw["min_score"], kw["min_length"], -1)
        assert _as_set(out[b]) == ref


def test_padded_batch_equals_each_video_alone():
    rng = np.random.default_rng(5)
    lengths = [30, 18, 25]
    t_len = max(lengths)
    probs = rng.dirichlet(np.ones(6), size=(3, t_len)).transpose(0, 2, 1)
    masks = rng.uniform(size=(3, t_len, t_len))
    valid = np.arange(t_len)[None, :] < np.array(lengths)[:, None]
    batch = decode_global_masks(probs, masks, mask=valid, num_anchors=10)
    for b, n in enumerate(lengths):
        (alone,) = decode_global_masks(probs[b : b + 1, :, :n], masks[b : b + 1, :n, :n], num_anchors=10)
        assert batch[b] == alone
        assert len(alone) == 0 or alone.ends.max() <= n


def test_nms_options_are_forwarded():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=(1, 32)).transpose(0, 2, 1)
    masks = rng.uniform(size=(1, 32, 32))
    (raw,) = decode_global_masks(probs, masks, nms="none")
    seg = np.stack([raw.starts, raw.ends], 1)
    expected = batched_nms(seg, raw.scores, raw.labels, iou_threshold=0.5, min_score=0.01, max_num=7,
                           class_agnostic=False, sigma=0.4)
    (got,) = decode_global_masks(probs, masks, nms_kwargs={"min_score": 0.01, "max_num": 7, "class_agnostic": False,
                                                           "sigma": 0.4})
    np.testing.assert_array_equal(got.starts, expected[0][:, 0])
    np.testing.assert_array_equal(got.labels, expected[2])
    np.testing.assert_array_equal(got.scores, expected[1].astype(np.float64))
    (hard,) = decode_global_masks(probs, masks, nms="hard", nms_kwargs={"iou_threshold": 0.3})
    seg = np.stack([hard.starts, hard.ends], 1)
    inter = np.clip(np.minimum(seg[:, None, 1], seg[None, :, 1]) - np.maximum(seg[:, None, 0], seg[None, :, 0]), 0,
                    None)
    iou = inter / ((seg[:, 1] - seg[:, 0])[:, None] + (seg[:, 1] - seg[:, 0])[None, :] - inter)
    assert np.all(iou[np.triu_indices(len(seg), 1)] < 0.3)


def _devices():
    yield "cpu"
    if torch.cuda.is_available():
        yield "cuda"


@pytest.mark.parametrize("device", list(_devices()))
def test_torch_inputs(device):
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5), size=(2, 20)).transpose(0, 2, 1)
    masks = rng.uniform(size=(2, 20, 20))
    ref = decode_global_masks(probs, masks, num_anchors=5)
    got = decode_global_masks(torch.tensor(probs, device=device), torch.tensor(masks, device=device),
                              mask=torch.ones(2, 20, dtype=torch.bool, device=device), num_anchors=5)
    assert got == ref
    got32 = decode_global_masks(torch.tensor(probs, dtype=torch.float32), torch.tensor(masks, dtype=torch.float16),
                                num_anchors=5)
    assert [len(x) for x in got32] == [len(x) for x in ref]


# --------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"masks": np.zeros((1, 20, 19))}, ValueError, r"masks: expected shape \(1, 20, 20\) \(B, T, T\), got"),
        ({"class_scores": np.zeros((1, 20))}, ValueError, "class_scores: expected a 3-D array"),
        ({"class_scores": np.zeros((1, 1, 20))}, ValueError, "K >= 1"),
        ({"class_scores": np.full((1, 4, 20), np.nan)}, ValueError, "class_scores: expected finite values"),
        ({"mask": np.ones((1, 20))}, TypeError, "mask: expected dtype bool, got float64"),
        ({"mask": np.ones((1, 21), dtype=bool)}, ValueError, r"mask: expected shape \(1, 20\)"),
        ({"thresholds": (0.5, 1.0)}, ValueError, r"thresholds: expected a non-empty sequence of values in \[0, 1\)"),
        ({"thresholds": ()}, ValueError, "thresholds"),
        ({"mode": "peaks"}, ValueError, "mode: expected one of 'span', 'runs', got 'peaks'"),
        ({"nms": "soft-nms"}, ValueError, "nms: expected one of"),
        ({"num_anchors": 0}, ValueError, "num_anchors: expected an integer >= 1 and <= 2147483647, got 0"),
        ({"num_anchors": 2.0}, TypeError, "num_anchors: expected an integer, got float"),
        ({"anchor_axis": 0}, ValueError, "anchor_axis: expected an integer >= 1 and <= 2, got 0"),
        ({"anchor_axis": True}, TypeError, "anchor_axis: expected an integer, got bool"),
        # regression (issue 10): masks > 1 gave proposal scores of 2.7; min_score=nan was accepted
        ({"masks": np.full((1, 20, 20), 3.0)}, ValueError, r"masks: expected values in \[0, 1\], got 3\.0"),
        ({"masks": np.full((1, 20, 20), -0.5)}, ValueError, r"masks: expected values in \[0, 1\], got -0\.5"),
        ({"class_scores": np.full((1, 4, 20), 2.0)}, ValueError, r"class_scores: expected values in \[0, 1\]"),
        ({"min_score": float("nan")}, ValueError, r"min_score: expected a finite number >= 0.0 and <= 1.0, got nan"),
        ({"min_score": -0.1}, ValueError, r"min_score: expected a finite number >= 0.0 and <= 1.0, got -0.1"),
        ({"min_score": "0.1"}, TypeError, "min_score: expected a real number, got str"),
        ({"class_scores": np.ones((1, 4, 20), dtype=bool)}, TypeError, "class_scores: expected a real"),
        ({"class_scores": torch.zeros(1, 4, 20, device="meta")}, TypeError, "class_scores: expected a tensor with "
                                                                         "values"),
        ({"from_logits": 1}, TypeError, "from_logits: expected True or False, got int 1"),
        ({"nms_kwargs": [("sigma", 0.5)]}, TypeError, "nms_kwargs: expected a mapping"),
        ({"background_index": 4}, ValueError, "background_index"),
        ({"nms_kwargs": {"sigam": 0.5}}, TypeError, r"nms_kwargs: expected keys among .*\['sigam'\]"),
        ({"nms_kwargs": {"sigma": -1.0}}, ValueError, "sigma: expected a finite number > 0.0"),
    ],
)
def test_bad_input(change, error, match):
    probs, masks = _one_instance()
    kwargs = {"class_scores": probs, "masks": masks, **change}
    with pytest.raises(error, match=match):
        decode_global_masks(kwargs.pop("class_scores"), kwargs.pop("masks"), **kwargs)


def test_masks_and_scores_validated_as_probabilities():
    """Regression (issue 10): masks above 1 were decoded into scores above 1; logits need from_logits."""
    probs, masks = _one_instance()
    (out,) = decode_global_masks(probs, masks, **NO_NMS)
    assert out.scores.max() <= 1.0 and out.scores.max() == pytest.approx(0.9 * 0.8)
    logits = np.log(np.clip(probs, 1e-12, None)) + 5.0  # softmax gives probs back
    (from_logits,) = decode_global_masks(logits, masks, from_logits=True, **NO_NMS)
    np.testing.assert_allclose(from_logits.scores, out.scores, rtol=1e-9)
    with pytest.raises(ValueError, match=r"class_scores: expected values in \[0, 1\], got -22\.6"):
        decode_global_masks(logits, masks, **NO_NMS)


def test_top_k_is_a_deprecated_spelling_of_num_anchors():
    probs, masks = _one_instance()
    new = decode_global_masks(probs, masks, num_anchors=np.int64(3))  # numpy integers are integers
    with pytest.warns(DeprecationWarning, match="top_k is deprecated .* use num_anchors"):
        old = decode_global_masks(probs, masks, top_k=3)
    assert old == new and len(new[0]) == 1
    with pytest.raises(TypeError, match="top_k: deprecated spelling of num_anchors; pass only num_anchors"):
        decode_global_masks(probs, masks, top_k=3, num_anchors=3)


def test_anchor_axis_orientation_on_an_asymmetric_mask():
    """Row t (anchor_axis=1, the conventions' layout) vs column t (anchor_axis=2, GSMT Eq. (4))."""
    probs = np.zeros((1, 2, 10))
    probs[0, 1] = 1.0  # background everywhere ...
    probs[0, 0, 4], probs[0, 1, 4] = 0.9, 0.1  # ... except anchor snippet 4
    masks = np.zeros((1, 10, 10))
    masks[0, 4, 1:3] = 0.8  # row 4: [1, 3)
    masks[0, 6:9, 4] = 0.7  # column 4: [6, 9)
    kw = {"num_anchors": 1, "thresholds": (0.5,), **NO_NMS}
    (rows,) = decode_global_masks(probs, masks, **kw)
    (cols,) = decode_global_masks(probs, masks, anchor_axis=2, **kw)
    assert (rows.starts.tolist(), rows.ends.tolist(), rows.labels.tolist()) == ([1.0], [3.0], [0])
    assert rows.scores.tolist() == pytest.approx([0.9 * 0.8])
    assert (cols.starts.tolist(), cols.ends.tolist()) == ([6.0], [9.0])
    assert cols.scores.tolist() == pytest.approx([0.9 * 0.7])
    (transposed,) = decode_global_masks(probs, masks.transpose(0, 2, 1).copy(), **kw)
    assert transposed == cols
