"""Temporal action localization metrics: mAP@tIoU (ActivityNet / ActionFormer), MTL-ERA segment mAP, frame mAP.

============================  ==================================================================================
function                      reproduces
============================  ==================================================================================
``detection_map``             ``protocol="activitynet"``: the official ActivityNet ``ANETdetection``
                              (activitynet/ActivityNet ``Evaluation/eval_detection.py``): greedy matching by
                              descending score, interpolated (VOC2011 all-point) AP per ground-truth class,
                              mean over classes per tIoU threshold, mean over thresholds.
                              ``protocol="actionformer"``: ActionFormer's Python port
                              (``libs/utils/metrics.py``): the same AP, ground-truth de-duplication and
                              Recall@kx. ``protocol="opentad"``: OpenTAD's ``mAP`` evaluator (the same AP,
                              its de-duplication); ``protocol="mmaction2"``: mmaction2's
                              ``ActivityNetLocalization`` (float32 tIoU, stable score sort).
``DetectionMAP``              the same over a dataset fed in pieces; exact under ``torch.distributed``.
``segment_map``               MTL-ERA ``IoU_mAP`` / ``midpoint_mAP`` (THUMOS14-style, non-interpolated, strict
                              threshold, ground-truth-major greedy matching).
``frame_map``                 MTL-ERA ``compute_class_ap``: per-class average precision of frame scores with
                              scikit-learn's ``average_precision_score`` semantics, mean over classes.
============================  ==================================================================================

Every result is a fraction in [0, 1]. Time may be in any unit (frames or seconds, int or float).
References: Heilbron et al., "ActivityNet: A Large-Scale Video Benchmark for Human Activity
Understanding", CVPR 2015 (detection mAP); Zhang et al., "ActionFormer", ECCV 2022 (the port and its
Recall@kx); Parsa et al., "A Multi-Task Learning Approach for Human Activity Segmentation and Ergonomics
Risk Assessment", WACV 2021 (MTL-ERA). See ``docs/detection.md`` for every difference between the
scripts and how each was checked.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._checks import (
    choice,
    flag,
    id_set,
    integer,
    integer_array,
    integer_sequence,
    is_tensor,
    real,
    real_array,
    real_sequence,
    segments_mapping,
    shape_str,
)
from ..segments import Segments
from ._accumulator import VideoAccumulator

__all__ = [
    "ACTIONFORMER_TIOU_THRESHOLDS",
    "ACTIVITYNET_TIOU_THRESHOLDS",
    "DETECTION_PROTOCOLS",
    "THUMOS14_TIOU_THRESHOLDS",
    "DetectionMAP",
    "detection_map",
    "frame_map",
    "segment_map",
]


def _constant(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


#: THUMOS14 tIoU thresholds 0.3:0.1:0.7, built as the references do (``np.linspace(0.3, 0.7, 5)``):
#: ``[0.3, 0.39999999999999997, 0.5, 0.6, 0.7]``.
THUMOS14_TIOU_THRESHOLDS = _constant(np.linspace(0.3, 0.7, 5))
#: ActivityNet-1.3 tIoU thresholds 0.5:0.05:0.95 (``np.linspace(0.5, 0.95, 10)``, the official default).
ACTIVITYNET_TIOU_THRESHOLDS = _constant(np.linspace(0.5, 0.95, 10))
#: ActionFormer's default ``ANETdetection`` thresholds (``np.linspace(0.1, 0.5, 5)``): note
#: ``0.30000000000000004``, so a tIoU of exactly 0.3 is not a match at the third threshold.
ACTIONFORMER_TIOU_THRESHOLDS = _constant(np.linspace(0.1, 0.5, 5))

#: ``protocol=`` values of :func:`detection_map`: the official ActivityNet evaluator, ActionFormer's port,
#: OpenTAD's ``mAP`` evaluator and mmaction2's ``ActivityNetLocalization``.
DETECTION_PROTOCOLS = ("activitynet", "actionformer", "opentad", "mmaction2")
_DEDUPE_PROTOCOLS = ("actionformer", "opentad")
_UNKNOWN_LABELS = ("error", "ignore")
_SEGMENT_MODES = ("iou", "midpoint")
_DEDUPE_TOL = 1e-3  # ActionFormer remove_duplicate_annotations(tol=1e-3), in the unit of the segments


# ----------------------------------------------------------------------------------------------
# argument handling


def _thresholds(values: Any) -> np.ndarray:
    return real_sequence(values, "tiou_thresholds", low=0, high=1, low_open=True)


def _top_k(top_k: Any) -> np.ndarray:
    return integer_sequence(top_k, "top_k", low=1)


def _dedupe_flag(value: Any) -> bool | None:
    return None if value is None else flag(value, "dedupe_ground_truth")


def _sorted_ids(ids: Any) -> list[Any]:
    """Video ids in ascending order (by ``repr`` when they cannot be compared with each other)."""
    ids = list(ids)
    try:
        return sorted(ids)
    except TypeError:
        return sorted(ids, key=repr)


class _Flat(NamedTuple):
    """All segments of a dataset as flat arrays, videos in ascending id order, input order inside."""

    videos: list[Any]
    p_vid: np.ndarray
    p_s: np.ndarray
    p_e: np.ndarray
    p_lab: np.ndarray
    p_score: np.ndarray
    g_vid: np.ndarray
    g_s: np.ndarray
    g_e: np.ndarray
    g_lab: np.ndarray


def _flatten(predictions: Mapping, ground_truth: Mapping) -> _Flat:
    videos = _sorted_ids(set(predictions) | set(ground_truth))
    p_parts: list[tuple[int, Segments]] = []
    g_parts: list[tuple[int, Segments]] = []
    for i, vid in enumerate(videos):
        seg = predictions.get(vid)
        if seg is not None and len(seg):
            p_parts.append((i, seg))
        seg = ground_truth.get(vid)
        if seg is not None and len(seg):
            g_parts.append((i, seg))

    def cat(parts: list[tuple[int, Segments]], with_scores: bool) -> tuple[np.ndarray, ...]:
        if not parts:
            empty_f, empty_i = np.zeros(0), np.zeros(0, np.int64)
            return (empty_i, empty_f, empty_f, empty_i) + ((empty_f,) if with_scores else ())
        vid = np.repeat(np.array([i for i, _ in parts], dtype=np.int64), [len(s) for _, s in parts])
        out = (
            vid,
            np.concatenate([s.starts for _, s in parts]).astype(np.float64),
            np.concatenate([s.ends for _, s in parts]).astype(np.float64),
            np.concatenate([s.labels for _, s in parts]).astype(np.int64),
        )
        if with_scores:
            out += (np.concatenate([s.scores for _, s in parts]).astype(np.float64),)
        return out

    p_vid, p_s, p_e, p_lab, p_score = cat(p_parts, True)
    g_vid, g_s, g_e, g_lab = cat(g_parts, False)
    return _Flat(videos, p_vid, p_s, p_e, p_lab, p_score, g_vid, g_s, g_e, g_lab)


def _group_bounds(keys_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique keys of a sorted int64 array and the start of each run (plus the end)."""
    if keys_sorted.size == 0:
        return keys_sorted, np.zeros(1, np.int64)
    starts = np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]])
    return keys_sorted[starts], np.r_[starts, keys_sorted.size].astype(np.int64)


def _nan_result(n_thr: int, top_k: np.ndarray | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mAP": np.full(n_thr, np.nan),
        "average_mAP": math.nan,
        "ap": np.zeros((n_thr, 0)),
        "classes": np.zeros(0, np.int64),
    }
    if top_k is not None and top_k.size:
        out["recall"] = np.full((n_thr, top_k.size), np.nan)
        out["top_k"] = top_k.copy()
    return out


# ----------------------------------------------------------------------------------------------
# detection mAP (ActivityNet / ActionFormer)


def detection_map(predictions: Mapping[Hashable, Segments], ground_truth: Mapping[Hashable, Segments], *,
                  tiou_thresholds: Any, protocol: str = "activitynet", unknown_labels: str = "error",
                  dedupe_ground_truth: bool | None = None, top_k: Sequence[int] | None = None) -> dict[str, Any]:
    """Mean average precision at temporal IoU thresholds, as the official ActivityNet evaluator.

    For every ground-truth class and threshold ``t``: predictions of the class, over all videos, are
    ranked by descending score; each one takes the not-yet-matched ground truth of its video and
    class with the highest tIoU if that tIoU is ``>= t`` (true positive), otherwise it is a false
    positive. AP is the VOC2011 all-point interpolated area under the precision/recall curve:

    .. math:: \\mathrm{AP} = \\sum_i (r_i - r_{i-1})\\, \\max_{j \\ge i} p_j, \\qquad
              \\mathrm{mAP}(t) = \\frac{1}{|C|} \\sum_{c \\in C} \\mathrm{AP}_c(t)

    with ``C`` the classes that have ground truth (a class without prediction has AP 0), and
    ``average_mAP`` the mean of ``mAP`` over the thresholds.

    Convention:
        - ``protocol="activitynet"`` reproduces ``ANETdetection`` of activitynet/ActivityNet
          (``eval_detection.py``); ``"actionformer"`` its port in ActionFormer
          (``libs/utils/metrics.py``), which by default also de-duplicates the ground truth and
          reports Recall@kx. Per-class APs of the two are identical on the same ground truth.
        - ``"opentad"`` reproduces OpenTAD's ``mAP`` evaluator (``opentad/evaluations/mAP.py``):
          ActivityNet's AP after OpenTAD's de-duplication (repeats within 1e-3 only; short
          instances are kept). OpenTAD silently drops predicted labels without ground truth: its
          number is ``unknown_labels="ignore"``.
        - ``"mmaction2"`` reproduces mmaction2's ``ActivityNetLocalization``: tIoU rounded to
          float32 before it is ranked and compared with the (float64) thresholds, and equal
          scores ranked by Python's stable sort (earlier video / position first, no warning).
        - Classes are the sorted unique ground-truth labels (the official script orders classes by
          first appearance in its JSON: per-class AP does not depend on that order, the mean can
          differ in the last bit, <= 2.2e-16).
        - Predictions for videos without ground truth are kept (false positives), as in both scripts.
        - Equal scores within a class: the prediction that comes later in (video id ascending,
          position in that video's ``Segments``) ranks first; equal tIoU: the later ground truth of
          the video is taken first. This is what the official ``argsort()[::-1]`` gives with a
          stable sort on a file whose videos are sorted by id; the official order of equal values is
          platform-dependent (NumPy's SIMD sort), so a :class:`UserWarning` is raised when tied
          scores can change the result (ties among predictions that can be true positives), and
          another when a prediction's best tIoU among the free ground truths (at a threshold it
          passes) is shared by instances with different boundaries.
        - Segments have ``end > start`` (validated by :class:`~actseg.segments.Segments`), so the
          official NaN tIoU of zero-length segments never arises.

    Args:
        predictions: ``video_id -> Segments`` with ``scores`` (any time unit; int or float).
        ground_truth: ``video_id -> Segments`` (scores ignored). Ids are any hashable, sortable values.
        tiou_thresholds: thresholds in (0, 1], for example :data:`THUMOS14_TIOU_THRESHOLDS` or
            :data:`ACTIVITYNET_TIOU_THRESHOLDS` (exact ``np.linspace`` values, compared with ``>=``).
        protocol: ``"activitynet"``, ``"actionformer"``, ``"opentad"`` or ``"mmaction2"``
            (:data:`DETECTION_PROTOCOLS`).
        unknown_labels: what to do with predicted labels that are no ground-truth class:
            ``"error"`` (``ValueError``; the official script raises ``KeyError``) or ``"ignore"``
            (drop those predictions; ActionFormer instead re-maps them onto other classes by
            accident, see ``docs/detection.md``).
        dedupe_ground_truth: drop ground-truth instances shorter than 1e-3 and repeats of an earlier
            instance of the same video and label whose start and end are within 1e-3 (ActionFormer's
            ``remove_duplicate_annotations``; with ``"opentad"`` its version, which keeps short
            instances). ``None``: ``True`` for ``"actionformer"`` and ``"opentad"``, ``False`` for
            ``"activitynet"`` and ``"mmaction2"``.
        top_k: ``k`` values of Recall@kx: per video and class, the ``k * n_gt`` best-scored
            predictions; a ground truth is recalled when one of them has ``tIoU >= t``; recall is
            averaged over classes. ``None``: ``(1, 5)`` for ``"actionformer"``, none for the
            others; ``()`` disables it.

    Returns:
        dict with ``"mAP"`` ``(n_thr,)`` float64, ``"average_mAP"`` float, ``"ap"``
        ``(n_thr, n_classes)`` float64, ``"classes"`` ``(n_classes,)`` int64 and, when Recall@kx is
        computed, ``"recall"`` ``(n_thr, len(top_k))`` float64 and ``"top_k"``. Without any
        ground-truth segment everything is NaN (with a warning).

    Raises:
        ValueError: unknown protocol or ``unknown_labels``, a threshold outside (0, 1], predictions
            without or with non-finite scores, predicted labels without ground truth (``"error"``).
        TypeError: a mapping or one of its values has the wrong type.

    Example:
        >>> gt = {"v1": Segments([0.0, 20.0], [10.0, 30.0], [0, 1])}
        >>> pred = {"v1": Segments([1.0, 20.0], [10.0, 31.0], [0, 1], scores=[0.9, 0.8])}
        >>> out = detection_map(pred, gt, tiou_thresholds=THUMOS14_TIOU_THRESHOLDS)
        >>> out["mAP"].tolist(), out["average_mAP"]
        ([1.0, 1.0, 1.0, 1.0, 1.0], 1.0)
    """
    protocol = choice(protocol, DETECTION_PROTOCOLS, "protocol")
    unknown_labels = choice(unknown_labels, _UNKNOWN_LABELS, "unknown_labels")
    thresholds = _thresholds(tiou_thresholds)
    dedupe = _dedupe_flag(dedupe_ground_truth)
    if dedupe is None:
        dedupe = protocol in _DEDUPE_PROTOCOLS
    if top_k is None:
        ks = np.array([1, 5], np.int64) if protocol == "actionformer" else np.zeros(0, np.int64)
    else:
        ks = _top_k(top_k)
    segments_mapping(predictions, "predictions", scores=True)
    segments_mapping(ground_truth, "ground_truth")
    return _detection_map(_flatten(predictions, ground_truth), thresholds, unknown_labels, dedupe, ks, protocol)


def _detection_map(flat: _Flat, thresholds: np.ndarray, unknown_labels: str, dedupe: bool,
                   ks: np.ndarray, protocol: str) -> dict[str, Any]:
    from . import _detection_kernels as kern

    n_v = max(len(flat.videos), 1)
    g_vid, g_s, g_e, g_lab = flat.g_vid, flat.g_s, flat.g_e, flat.g_lab
    p_vid, p_s, p_e, p_lab, p_score = flat.p_vid, flat.p_s, flat.p_e, flat.p_lab, flat.p_score
    given = np.unique(g_lab)
    known = np.isin(p_lab, given)
    if unknown_labels == "error" and not known.all():
        bad = np.unique(p_lab[~known])
        where = sorted({repr(flat.videos[i]) for i in p_vid[~known][:50]})[:3]
        raise ValueError(
            f"predictions: expected labels among the ground-truth classes {_short(given)}, got {_short(bad)} "
            f"(in videos {', '.join(where)}, ...); the ActivityNet evaluator raises KeyError here; pass "
            f"unknown_labels='ignore' to drop these predictions"
        )
    if dedupe and g_s.size:
        video_start = np.searchsorted(g_vid, np.arange(n_v + 1))
        # ActionFormer also drops instances shorter than the tolerance; OpenTAD only end - start <= 0
        keep = kern.dedupe_ground_truth(video_start, g_s, g_e, g_lab, _DEDUPE_TOL, protocol != "opentad")
        g_vid, g_s, g_e, g_lab = g_vid[keep], g_s[keep], g_e[keep], g_lab[keep]
    classes = np.unique(g_lab)
    n_c = classes.size
    # labels without ground truth ("ignore"), or whose every instance the de-duplication removed: dropped
    p_cls = np.searchsorted(classes, p_lab)
    evaluated = p_cls < n_c
    evaluated[evaluated] = classes[p_cls[evaluated]] == p_lab[evaluated]
    if not evaluated.all():
        p_vid, p_s, p_e, p_score = p_vid[evaluated], p_s[evaluated], p_e[evaluated], p_score[evaluated]
        p_cls = p_cls[evaluated]
    if n_c == 0:
        warnings.warn("detection_map: no ground-truth segment, mAP is NaN", UserWarning, stacklevel=3)
        return _nan_result(thresholds.size, ks)

    # ground truth grouped by (class, video), input order inside a group
    g_cls = np.searchsorted(classes, g_lab)
    g_key = g_cls * n_v + g_vid
    g_order = np.argsort(g_key, kind="stable")
    g_key_sorted = g_key[g_order]
    gs, ge = g_s[g_order], g_e[g_order]
    npos = np.bincount(g_cls, minlength=n_c)

    # predictions: class ascending, score descending; equal scores: later (video, position) first, as
    # a stable argsort()[::-1]; mmaction2 sorts by -score with Python's stable sort: earlier first
    mmaction2 = protocol == "mmaction2"
    order = np.argsort(-p_score, kind="stable") if mmaction2 else np.argsort(p_score, kind="stable")[::-1]
    order = order[np.argsort(p_cls[order], kind="stable")]
    cls_sorted = p_cls[order]
    p_key = cls_sorted * n_v + p_vid[order]
    lo = np.searchsorted(g_key_sorted, p_key, side="left")
    hi = np.searchsorted(g_key_sorted, p_key, side="right")
    _, g_bounds = _group_bounds(g_key_sorted)
    max_group = int(np.diff(g_bounds).max(initial=0))
    ps, pe = p_s[order], p_e[order]
    if not mmaction2:
        _warn_ties(cls_sorted, p_score[order], hi > lo)

    tp, tiou_ties = kern.match_detections(ps, pe, lo, hi, gs, ge, thresholds, max_group, mmaction2)
    if tiou_ties:
        warnings.warn(
            f"detection_map: {tiou_ties} time(s) a prediction's best tIoU was tied between free ground-truth "
            "instances; actseg takes the later instance (a stable argsort()[::-1]). The official evaluators "
            "order equal tIoU by a platform-dependent sort, so their AP can differ there.",
            UserWarning,
            stacklevel=3,
        )
    class_start = np.searchsorted(cls_sorted, np.arange(n_c + 1))
    ap = kern.interpolated_ap(tp, class_start, npos)
    m_ap = ap.mean(axis=1)
    out: dict[str, Any] = {"mAP": m_ap, "average_mAP": float(m_ap.mean()), "ap": ap, "classes": classes}
    if ks.size:
        out["recall"] = _topk_recall(ps, pe, p_key, gs, ge, g_key_sorted, n_v, n_c, npos, thresholds, ks)
        out["top_k"] = ks.copy()
    return out


def _topk_recall(ps: np.ndarray, pe: np.ndarray, p_key: np.ndarray, gs: np.ndarray, ge: np.ndarray,
                 g_key_sorted: np.ndarray, n_v: int, n_c: int, npos: np.ndarray, thresholds: np.ndarray,
                 ks: np.ndarray) -> np.ndarray:
    from . import _detection_kernels as kern

    # predictions regrouped by (class, video), keeping the descending-score order inside a group
    regroup = np.argsort(p_key, kind="stable")
    key2 = p_key[regroup]
    group_keys, group_start = _group_bounds(g_key_sorted)
    plo = np.searchsorted(key2, group_keys, side="left")
    phi = np.searchsorted(key2, group_keys, side="right")
    hits = kern.topk_recall_hits(gs, ge, group_start, group_keys // n_v, plo, phi, ps[regroup], pe[regroup],
                                 thresholds, ks, n_c)
    return (hits / npos).mean(axis=2)


def _warn_ties(cls_sorted: np.ndarray, score_sorted: np.ndarray, can_match: np.ndarray) -> None:
    if cls_sorted.size < 2:
        return
    tie = (cls_sorted[1:] == cls_sorted[:-1]) & (score_sorted[1:] == score_sorted[:-1])
    tie &= can_match[1:] | can_match[:-1]
    if tie.any():
        warnings.warn(
            f"detection_map: {int(tie.sum())} pair(s) of predictions of one class share a score; they are ranked "
            "by actseg's deterministic rule (later video id / later position first). The official evaluator "
            "orders equal scores by a platform-dependent sort, so its AP can differ there.",
            UserWarning,
            stacklevel=4,
        )


def _short(values: np.ndarray, n: int = 10) -> str:
    items = [int(v) for v in values[:n]]
    return str(items)[:-1] + (", ...]" if values.size > n else "]")


# ----------------------------------------------------------------------------------------------
# dataset accumulator


class DetectionMAP(VideoAccumulator):
    """Dataset-level :func:`detection_map`, fed video by video or batch by batch, exact under DDP.

    :meth:`update` takes a mapping ``video_id -> Segments`` of predictions and one of ground truth
    (either may be empty or cover other videos: ground truth can be given all at once and
    predictions batch by batch). Each side is recorded per video id; a video id seen again on the
    same side is ignored (the first copy counts), so the repeated samples of a padded
    ``DistributedSampler`` do not change the result. :meth:`compute` gathers every rank's records
    with ``torch.distributed`` when it is initialised and evaluates them with :func:`detection_map`,
    whose ranking depends only on the video ids (not on the order of arrival), so two ranks give
    the numbers of one process bit for bit.

    Args:
        tiou_thresholds: as :func:`detection_map`.
        protocol: as :func:`detection_map`.
        unknown_labels: as :func:`detection_map`.
        dedupe_ground_truth: as :func:`detection_map`.
        top_k: as :func:`detection_map`.

    Example:
        >>> m = DetectionMAP(tiou_thresholds=[0.5])
        >>> m.update({"v1": Segments([0.0], [10.0], [3], scores=[0.9])}, {"v1": Segments([0.0], [9.0], [3])})
        >>> m.update({"v2": Segments([5.0], [9.0], [3], scores=[0.4])}, {"v2": Segments([0.0], [4.0], [3])})
        >>> m.compute()["mAP"].tolist()
        [0.5]
    """

    def __init__(self, *, tiou_thresholds: Any, protocol: str = "activitynet", unknown_labels: str = "error",
                 dedupe_ground_truth: bool | None = None, top_k: Sequence[int] | None = None) -> None:
        self.protocol = choice(protocol, DETECTION_PROTOCOLS, "protocol")
        self.unknown_labels = choice(unknown_labels, _UNKNOWN_LABELS, "unknown_labels")
        self.tiou_thresholds = _thresholds(tiou_thresholds)
        self.dedupe_ground_truth = _dedupe_flag(dedupe_ground_truth)
        self.top_k = None if top_k is None else tuple(int(k) for k in _top_k(top_k))
        self.reset()

    RECORDS = ("predictions", "ground_truth")  # per-video Segments, keyed by video id, one list per side

    @property
    def num_videos(self) -> int:
        """Number of distinct video ids recorded on this process (either side)."""
        return len(set(self._ids["predictions"]) | set(self._ids["ground_truth"]))

    def update(self, predictions: Mapping[Hashable, Segments],
               ground_truth: Mapping[Hashable, Segments] | None = None) -> None:
        """Record predictions (with scores) and ground truth, each a mapping ``video_id -> Segments``.

        A video with ground truth but no prediction counts as missed; one with predictions but no
        ground truth contributes false positives (as in the official script). Inputs are validated
        here; labels against ground-truth classes in :meth:`compute`.

        Raises:
            TypeError: not a mapping of :class:`~actseg.segments.Segments`, or a video id is ``None``.
            ValueError: predictions without or with non-finite scores.
        """
        ground_truth = {} if ground_truth is None else ground_truth
        segments_mapping(predictions, "predictions", scores=True)
        segments_mapping(ground_truth, "ground_truth")
        for name, mapping in (("predictions", predictions), ("ground_truth", ground_truth)):
            if any(vid is None for vid in mapping):
                raise TypeError(f"{name}: expected hashable video ids, got None")
        self._record(list(predictions.keys()), list(predictions.values()), "predictions")
        self._record(list(ground_truth.keys()), list(ground_truth.values()), "ground_truth")

    def _config(self) -> tuple[Any, ...]:
        return (self.protocol, self.unknown_labels, self.tiou_thresholds.tolist(), self.dedupe_ground_truth,
                self.top_k)

    def _sides(self) -> tuple[dict[Any, Segments], dict[Any, Segments]]:
        state, _ = self._gathered()
        return tuple(dict(zip(*state[side])) for side in self.RECORDS)

    def compute(self) -> dict[str, Any]:
        """The :func:`detection_map` result over every recorded video (of every rank under DDP).

        Collective under ``torch.distributed``: call it on every rank. NaN everywhere, with a
        warning, before any update.
        """
        predictions, ground_truth = self._sides()
        ks = np.array([1, 5] if self.protocol == "actionformer" else [], np.int64) if self.top_k is None else \
            np.array(self.top_k, np.int64)
        if not predictions and not ground_truth:
            warnings.warn("DetectionMAP.compute() called before any update", UserWarning, stacklevel=2)
            return _nan_result(self.tiou_thresholds.size, ks)
        return detection_map(predictions, ground_truth, tiou_thresholds=self.tiou_thresholds, protocol=self.protocol,
                             unknown_labels=self.unknown_labels, dedupe_ground_truth=self.dedupe_ground_truth,
                             top_k=tuple(ks.tolist()))

    def __repr__(self) -> str:
        return (
            f"DetectionMAP(tiou_thresholds={self.tiou_thresholds.tolist()}, protocol={self.protocol!r}, "
            f"unknown_labels={self.unknown_labels!r}, videos={self.num_videos})"
        )


# ----------------------------------------------------------------------------------------------
# MTL-ERA segment mAP


def segment_map(predictions: Mapping[Hashable, Segments], ground_truth: Mapping[Hashable, Segments], *,
                threshold: float = 0.5, mode: str = "iou", background: Any = ()) -> dict[str, Any]:
    """Segment mAP of MTL-ERA (``IoU_mAP`` / ``midpoint_mAP``, "recreated from the THUMOS2014 code").

    Per class (sorted ground-truth labels minus ``background``) and video, detections are ranked by
    descending confidence; every ground-truth segment, in input order, takes the free detection of
    highest overlap (the first one on ties) when that overlap is ``> threshold`` (strict). Over all
    videos, detections are then ranked by confidence and

    .. math:: \\mathrm{AP}_c = \\frac{1}{n^{pos}_c} \\sum_{i:\\ \\mathrm{TP}} \\mathrm{prec}(i), \\qquad
              \\mathrm{mAP} = \\frac{1}{|C|} \\sum_c \\mathrm{AP}_c

    (non-interpolated). Overlap is the intersection over the hull ``max(e) - min(s)`` (equal to the
    IoU whenever the segments overlap); ``mode="midpoint"`` uses "the detection midpoint
    ``(s + e) / 2`` lies in ``[s_g, e_g)``" instead.

    Convention:
        - Differences from :func:`detection_map`: strict ``>``, ground-truth-major matching, no
          interpolation, and equal confidences keep the order (video id ascending, position in
          the video's ``Segments``) (Python's stable ``sorted``, as the reference).
        - Detections of classes without ground truth and of ``background`` are ignored; a class
          without any detection has AP 0; no ground-truth class gives NaN (with a warning), as the
          reference's mean of an empty list.

    Args:
        predictions: ``video_id -> Segments`` with ``scores`` (frames or seconds).
        ground_truth: ``video_id -> Segments``.
        threshold: overlap threshold in [0, 1) (``mode="iou"``); must stay 0.5 for ``"midpoint"``,
            whose overlap is 0 or 1 (the reference forces 0.5).
        mode: ``"iou"`` (``IoU_mAP``) or ``"midpoint"`` (``midpoint_mAP``).
        background: class ids excluded from the classes (the reference takes one ``bg_class``).

    Returns:
        dict with ``"mAP"`` (float), ``"ap"`` ``(n_classes,)`` float64, ``"classes"`` ``(n_classes,)``.

    Example:
        >>> gt = {"v1": Segments([0, 10], [10, 30], [0, 1])}
        >>> pred = {"v1": Segments([0, 12], [10, 30], [0, 1], scores=[0.9, 0.8])}
        >>> out = segment_map(pred, gt, threshold=0.5, background=[0])
        >>> out["mAP"], out["classes"].tolist()
        (1.0, [1])
    """
    from . import _detection_kernels as kern

    mode = choice(mode, _SEGMENT_MODES, "mode")
    threshold = real(threshold, "threshold", low=0.0, high=1.0, high_open=True)
    if mode == "midpoint" and threshold != 0.5:
        raise ValueError(f"threshold: expected 0.5 for mode='midpoint' (the criterion is 0 or 1), got {threshold}")
    bg = id_set(background, "background")
    segments_mapping(predictions, "predictions", scores=True)
    segments_mapping(ground_truth, "ground_truth")
    flat = _flatten(predictions, ground_truth)
    n_v = max(len(flat.videos), 1)
    classes = np.setdiff1d(np.unique(flat.g_lab), bg)
    n_c = classes.size
    if n_c == 0:
        warnings.warn("segment_map: no ground-truth class (after removing background), mAP is NaN", UserWarning,
                      stacklevel=2)
        return {"mAP": math.nan, "ap": np.zeros(0), "classes": classes}

    g_cls = np.searchsorted(classes, flat.g_lab)
    g_in = g_cls < n_c
    g_in[g_in] = classes[g_cls[g_in]] == flat.g_lab[g_in]
    g_key = (g_cls * n_v + flat.g_vid)[g_in]
    g_order = np.argsort(g_key, kind="stable")
    g_key_sorted = g_key[g_order]
    gs, ge = flat.g_s[g_in][g_order], flat.g_e[g_in][g_order]
    group_keys, group_start = _group_bounds(g_key_sorted)
    npos = np.bincount(g_cls[g_in], minlength=n_c)

    p_cls = np.searchsorted(classes, flat.p_lab)
    p_in = p_cls < n_c
    p_in[p_in] = classes[p_cls[p_in]] == flat.p_lab[p_in]
    p_cls, p_vid = p_cls[p_in], flat.p_vid[p_in]
    ds, de, conf = flat.p_s[p_in], flat.p_e[p_in], flat.p_score[p_in]
    idx = np.arange(p_cls.size)
    # matching order: (class, video, confidence descending, input order)
    by_group = np.lexsort((idx, -conf, p_vid, p_cls))
    key = (p_cls * n_v + p_vid)[by_group]
    d_group = np.full(key.size, -1, dtype=np.int64)
    if group_keys.size:
        pos = np.minimum(np.searchsorted(group_keys, key), group_keys.size - 1)
        d_group = np.where(group_keys[pos] == key, pos, -1).astype(np.int64)
    tp_grouped = kern.thumos_match(ds[by_group], de[by_group], d_group, gs, ge, group_start,
                                   threshold, mode == "midpoint")
    tp = np.empty_like(tp_grouped)
    tp[by_group] = tp_grouped
    # ranking order: (class, confidence descending, video, input order)
    ranked = np.lexsort((idx, p_vid, -conf, p_cls))
    class_start = np.searchsorted(p_cls[ranked], np.arange(n_c + 1))
    ap = kern.thumos_ap(tp[ranked], class_start, npos)
    return {"mAP": float(np.mean(ap)), "ap": ap, "classes": classes}


# ----------------------------------------------------------------------------------------------
# frame-wise mAP


def frame_map(scores: Any, labels: Any, *, ignore_index: int = -100) -> dict[str, Any]:
    """Frame-wise mAP: the mean over classes of the average precision of per-frame class scores.

    For class ``c`` the frames are ranked by ``scores[:, c]``; with ``P_n``/``R_n`` the precision and
    recall of "score >= n-th distinct threshold" for the positives ``labels == c``,

    .. math:: \\mathrm{AP}_c = \\sum_n (R_n - R_{n-1})\\, P_n, \\qquad
              \\mathrm{mAP} = \\frac{1}{K}\\sum_{c=0}^{K-1} \\mathrm{AP}_c

    (scikit-learn's ``average_precision_score``: step-wise, not interpolated, tied scores form one
    threshold). This is the "mAP" of MTL-ERA's logs (``compute_class_ap`` in
    ``val/validate_model_UW.py``): frames of all videos are pooled, every class ``0..K-1`` counts
    (background included) and a class without positive frame has AP 0 (sklearn's value, MTL-ERA's
    NaN -> 0). Implemented here with NumPy (no scikit-learn dependency).

    Args:
        scores: ``(N, K)`` frame scores (logits or probabilities: only the ranking matters); or a
            padded batch ``(B, K, T)`` (the layout of model outputs) with ``labels`` ``(B, T)``; or a
            list of per-video ``(T_i, K)`` arrays with a list of ``(T_i,)`` labels. numpy or torch.
        labels: class ids in ``[0, K)``; frames equal to ``ignore_index`` are left out.
        ignore_index: label of frames to skip (padding).

    Returns:
        dict with ``"mAP"`` (float) and ``"ap"`` ``(K,)`` float64.

    Raises:
        ValueError: shapes disagree, labels outside ``[0, K)``, NaN scores, no frame left.

    Example:
        >>> out = frame_map(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
        >>> out["ap"].tolist()
        [1.0, 1.0]
    """
    ignore_index = integer(ignore_index, "ignore_index", high=None)
    s, y = _frame_arrays(scores, labels)
    keep = y != ignore_index
    s, y = s[keep], y[keep]
    k = s.shape[1]
    if y.size == 0:
        raise ValueError("labels: expected at least one frame that is not ignore_index, got none")
    if y.min() < 0 or y.max() >= k:
        bad = y[(y < 0) | (y >= k)][0]
        raise ValueError(f"labels: expected class ids in [0, {k}) or ignore_index={ignore_index}, got {int(bad)}")
    ap = np.array([_binary_average_precision(y == c, s[:, c]) for c in range(k)], dtype=np.float64)
    return {"mAP": float(np.mean(ap)), "ap": ap}


def _frame_arrays(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(scores, (list, tuple)) and scores and all(is_tensor(x) or isinstance(x, np.ndarray) for x in scores):
        if not isinstance(labels, (list, tuple)) or len(labels) != len(scores):
            n = len(labels) if isinstance(labels, (list, tuple)) else type(labels).__name__
            raise ValueError(f"labels: expected a list of {len(scores)} per-video label arrays (as scores), got {n}")
        pairs = [_frame_arrays_2d(s, y, f"[{i}]") for i, (s, y) in enumerate(zip(scores, labels))]
        widths = {p[0].shape[1] for p in pairs}
        if len(widths) != 1:
            raise ValueError(f"scores: expected the same number of classes K in every video, got {sorted(widths)}")
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    s = real_array(scores, "scores", finite=False)
    if s.ndim == 3:
        y = integer_array(labels, "labels", 2)
        if y.shape != (s.shape[0], s.shape[2]):
            raise ValueError(
                f"labels: expected shape {shape_str((s.shape[0], s.shape[2]))} (B, T) for scores of shape "
                f"{shape_str(s.shape)} (B, K, T), got {shape_str(y.shape)}"
            )
        return _frame_arrays_2d(np.moveaxis(s, 1, 2).reshape(-1, s.shape[1]), y.reshape(-1), "")
    return _frame_arrays_2d(s, labels, "")


def _frame_arrays_2d(scores: Any, labels: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    s = real_array(scores, "scores" + where, finite=False, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores{where}: expected shape (N, K), got {shape_str(s.shape)}")
    y = integer_array(labels, "labels" + where, 1)
    if y.shape[0] != s.shape[0]:
        raise ValueError(
            f"labels{where}: expected length {s.shape[0]} (the N of scores{where} of shape {shape_str(s.shape)}, "
            f"(N, K)), got {y.shape[0]}"
        )
    if np.isnan(s).any():
        raise ValueError(f"scores{where}: expected no NaN, got NaN")
    return s, y


def _binary_average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """scikit-learn ``average_precision_score(positive, score)``, same arrays and summation order."""
    order = np.argsort(score, kind="stable")[::-1]
    score = score[order]
    hits = positive[order].astype(np.float64)
    distinct = np.flatnonzero(score[1:] != score[:-1])  # not np.diff: inf − inf is NaN, which counts as a change
    idx = np.r_[distinct, score.size - 1]
    tps = np.cumsum(hits, dtype=np.float64)[idx]
    fps = 1 + idx.astype(np.float64) - tps
    precision = tps / (tps + fps)
    recall = np.ones_like(tps) if tps[-1] == 0 else tps / tps[-1]
    precision = np.concatenate((precision[::-1], [1.0]))
    recall = np.concatenate((recall[::-1], [0.0]))
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))
