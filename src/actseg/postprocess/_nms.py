"""1-D NMS and Soft-NMS without a compilation step: ActionFormer's ``nms_1d_cpu`` in numba.

``soft_nms``, ``nms`` and ``batched_nms`` give the kept indices, labels and float32 scores of
ActionFormer's C++ op ``nms_1d_cpu`` (ported from mmcv) and of its Python wrapper ``batched_nms``
(happyharrycn/actionformer_release@61ea7eb, ``libs/utils/csrc/nms_cpu.cpp``, ``libs/utils/nms.py``);
``soft_nms_preset`` reproduces the pandas Soft-NMS loops of BMN, G-TAD and TAGS/GSMT in float64.
Soft-NMS: Bodla et al., "Soft-NMS -- Improving Object Detection With One Line of Code", ICCV 2017.

Convention: a segment is a row ``[start, end)`` with ``end > start`` (frames, feature-grid
positions or seconds, the unit does not matter). numpy inputs give numpy results; tensor inputs
give tensors on the device of ``segments`` (the work runs on CPU copies).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import (
    check_labels_nonnegative,
    choice,
    flag,
    integer_array,
    like_input,
    like_inputs,
    matching_length,
    real,
    real_array,
    renamed,
    segment_array,
    size,
)

__all__ = ["SOFT_NMS_PRESETS", "batched_nms", "nms", "soft_nms", "soft_nms_preset"]

_METHODS = {"hard": 0, "linear": 1, "gaussian": 2}

#: Default parameters of the pandas Soft-NMS variants (``soft_nms_preset``), from each repository's
#: configuration: BMN ``opts.py`` (soft_nms_alpha / low / high thresholds, at most 101 outputs),
#: G-TAD ``opts.py`` (nms_thr 0.46, num_prop 200, segments of 300 frames or longer dropped) and
#: TAGS ``config/anet.yaml`` (nms_thresh 0.6, num_prop 100).
SOFT_NMS_PRESETS: dict[str, dict[str, float]] = {
    "bmn": {"alpha": 0.4, "t1": 0.5, "t2": 0.9, "max_num": 101},
    "gtad": {"nms_threshold": 0.46, "max_num": 200, "max_length": 300.0},
    "tags": {"nms_threshold": 0.6, "max_num": 100},
}
_PRESET_IDS = {"bmn": 0, "gtad": 1, "tags": 2}
_NO_LIMIT = np.iinfo(np.int64).max


# --------------------------------------------------------------------------------------------------
# conversion (validation: actseg._checks)


def _max_num(max_num: Any) -> int:
    value = size(max_num, "max_num", none=True)
    return _NO_LIMIT if value is None else value


def _segments_and_scores(segments: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    seg = segment_array(segments, "segments")
    return seg, matching_length(real_array(scores, "scores"), seg.shape[0], "scores")


def _float32_work(seg: np.ndarray, sc: np.ndarray):
    """Working copies in float32, as the C++ op reads them: x1, x2, scores, areas = x2 - x1 + 1e-6."""
    x1 = np.ascontiguousarray(seg[:, 0], dtype=np.float32)
    x2 = np.ascontiguousarray(seg[:, 1], dtype=np.float32)
    areas = x2 - x1
    areas += np.float32(1e-6)
    scores = np.array(sc, dtype=np.float32, copy=True)
    return x1, x2, scores, areas


def _fast_inputs(segments: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """float32 ``(N, 2)`` rows and ``(N,)`` scores for the kernels, and whether the kernel must validate.

    float32 inputs go to the kernel as they are and are validated there (one pass, the error
    message then comes from the numpy validators); other dtypes are validated here on their own
    values (float64 rows can only collapse to ``end == start`` by the float32 rounding) and cast.
    """
    seg = real_array(segments, "segments", finite=False)
    sc = real_array(scores, "scores", finite=False)
    if (
        seg.dtype == np.float32
        and sc.dtype == np.float32
        and seg.ndim == 2
        and seg.shape[1] == 2
        and sc.shape == (seg.shape[0],)
    ):
        return np.ascontiguousarray(seg), np.ascontiguousarray(sc), True
    seg, sc = _segments_and_scores(seg, sc)
    return np.ascontiguousarray(seg, dtype=np.float32), np.ascontiguousarray(sc, dtype=np.float32), False


def _raise_bad_row(seg: np.ndarray, sc: np.ndarray) -> None:
    """Re-validate with the numpy validators after a kernel reported a bad row (they raise)."""
    _segments_and_scores(seg, sc)
    raise ValueError("segments: expected finite rows with end > start")  # pragma: no cover


# --------------------------------------------------------------------------------------------------
# public functions


def soft_nms(
    segments: Any,
    scores: Any,
    *,
    iou_threshold: float = 0.5,
    sigma: float = 0.5,
    min_score: float = 0.001,
    method: str = "gaussian",
    max_num: int | None = None,
) -> tuple[Any, Any]:
    """Soft-NMS of 1-D segments, identical to ActionFormer's ``nms_1d_cpu.softnms`` (methods 0/1/2).

    Bodla et al., ICCV 2017, as implemented by the mmcv-derived C++ op of ActionFormer
    (``libs/utils/csrc/nms_cpu.cpp``, ``softnms_1d_cpu``).

    .. math::
        o = \\frac{\\max(0, \\min(e_i, e_j) - \\max(s_i, s_j))}{a_i + a_j - \\text{inter}},\\quad
        a = e - s + 10^{-6},\\qquad
        w = \\begin{cases} [o < \\tau] & \\text{hard} \\\\ 1 - o\\,[o \\ge \\tau] & \\text{linear}
        \\\\ e^{-o^2/\\sigma} & \\text{gaussian} \\end{cases}

    Convention (the reference's, reproduced exactly):
        * float32 arithmetic throughout (float64 inputs are rounded to float32 first);
        * selection sort over a working copy: each step takes the **first** maximal remaining score
          in the current working order (which earlier swaps permute; that is the tie rule), then
          multiplies every later score by ``w``;
        * the Gaussian weight is ``exp(-o² / sigma)`` (not ``/(2σ²)``) and ignores ``iou_threshold``;
        * a decayed score ``< min_score`` removes the segment (the last working segment is copied
          into its place). The first selected segment is never compared with ``min_score``, so a
          single segment is always kept (as in mmcv#1726); a disjoint segment already below
          ``min_score`` is removed by the first selection;
        * ``method="hard"`` is this selection-sort loop with weight 0 (the removal then depends on
          ``min_score``), not :func:`nms`.

    Args:
        segments: ``(N, 2)`` ``[start, end)`` rows, numpy array or tensor (any device).
        scores: ``(N,)`` confidences.
        iou_threshold: ``τ`` of the hard and linear methods.
        sigma: Gaussian divisor ``σ > 0``.
        min_score: segments whose decayed score falls below it are dropped.
        method: ``"hard"``, ``"linear"`` or ``"gaussian"`` (C++ methods 0, 1, 2).
        max_num: keep at most this many (the first selections); ``None`` keeps all.

    Returns:
        ``(keep, scores)``: ``keep`` int64 ``(M,)`` indices into ``segments`` in selection order,
        ``scores`` float32 ``(M,)`` the decayed score of each kept segment at its selection.
        numpy for numpy input; tensors on ``segments``'s device for tensor input.

    Raises:
        ValueError: a row with ``end <= start``, NaN/inf values, mismatched lengths, bad parameters.
        TypeError: non-numeric inputs or parameters.

    Example:
        >>> keep, sc = soft_nms(np.array([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0]]), np.array([0.9, 0.8, 0.7]))
        >>> keep.tolist(), [round(float(x), 4) for x in sc]
        ([0, 2, 1], [0.9, 0.7, 0.1583])
    """
    from ._nms_kernels import softnms_run

    method_id = _METHODS[choice(method, tuple(_METHODS), "method")]
    thr = real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    sig = real(sigma, "sigma", low=0.0, low_open=True)
    low = real(min_score, "min_score")
    limit = _max_num(max_num)
    seg, sc, check = _fast_inputs(segments, scores)
    bad, keep, out = softnms_run(seg, sc, check, np.float32(thr), np.float32(sig), np.float32(low), method_id, limit)
    if bad >= 0:
        _raise_bad_row(seg, sc)
    return like_inputs((keep, out), segments)


def nms(segments: Any, scores: Any, *, iou_threshold: float) -> Any:
    """Greedy (hard) NMS of 1-D segments, identical to ActionFormer's ``nms_1d_cpu.nms``.

    Segments are visited by descending score; each kept segment suppresses every later one with
    ``IoU >= iou_threshold``, IoU computed in float32 with ``area = end - start + 1e-6`` as in
    the C++ op. Scores are not filtered (see :func:`batched_nms` for ``min_score``).

    Convention: ties in score are visited in ascending index order (a stable sort). The reference
    sorts with ``torch.sort`` (unstable), which keeps index order for N ≤ 16 but not beyond, so
    with tied scores and N > 16 the reference's choice among tied overlapping segments is
    arbitrary; without ties the results are identical.

    Args:
        segments: ``(N, 2)`` ``[start, end)`` rows, numpy array or tensor.
        scores: ``(N,)`` confidences.
        iou_threshold: suppression threshold (``IoU >= iou_threshold`` suppresses).

    Returns:
        int64 ``(M,)`` indices of the kept segments, by descending score (numpy, or a tensor on
        ``segments``'s device).

    Example:
        >>> nms(np.array([[0, 10], [1, 10], [20, 30]]), np.array([0.9, 0.8, 0.7]), iou_threshold=0.5).tolist()
        [0, 2]
    """
    from ._nms_kernels import hardnms_run

    thr = real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    seg, sc, check = _fast_inputs(segments, scores)
    bad, keep = hardnms_run(seg, sc, check, np.float32(thr))
    if bad >= 0:
        _raise_bad_row(seg, sc)
    return like_input(keep, segments)


def batched_nms(
    segments: Any,
    scores: Any,
    labels: Any,
    *,
    iou_threshold: float,
    min_score: float,
    max_num: int | None,
    soft: bool = True,
    class_agnostic: bool = False,
    sigma: float = 0.5,
    voting_threshold: float = 0.0,
) -> tuple[Any, Any, Any]:
    """Per-class (or class-agnostic) Soft-NMS/NMS with segment voting, as ActionFormer's ``batched_nms``.

    ActionFormer ``libs/utils/nms.py::batched_nms`` (``multiclass = not class_agnostic``,
    ``use_soft_nms = soft``, ``max_seg_num = max_num``, ``voting_thresh = voting_threshold``).

    Convention (the reference's):
        * per class, in ascending label order, the segments of that class in index order go
          through Gaussian Soft-NMS (always the Gaussian method; ``iou_threshold`` is then unused,
          actionformer#127) or, with ``soft=False``, through hard NMS after keeping only
          ``score > min_score`` when ``min_score > 0``; each class keeps at most ``max_num``;
        * class-agnostic: one pass over all segments, then, if ``voting_threshold > 0``, every kept
          segment is replaced by the average of **all input** segments weighted by
          ``[IoU >= voting_threshold] · score · IoU`` (its score is unchanged);
        * the results are sorted by descending score (ties: earlier class / selection first; the
          reference's unstable ``torch.sort`` may order tied scores differently) and cut to
          ``max_num``.
        Deviation: a kept segment whose voting weights sum to 0 (all scores 0) is left unchanged,
        where the reference returns NaN boundaries.

    Args:
        segments: ``(N, 2)`` ``[start, end)`` rows, numpy array or tensor.
        scores: ``(N,)`` confidences.
        labels: ``(N,)`` integer class ids.
        iou_threshold: hard-NMS threshold (unused by Soft-NMS).
        min_score: Soft-NMS removal threshold / hard-NMS pre-filter (``> min_score``, if positive).
        max_num: at most this many results per class and in total; ``None`` for no limit.
        soft: Gaussian Soft-NMS (``True``) or hard NMS.
        class_agnostic: one pass over all classes (plus voting) instead of one per class.
        sigma: Gaussian divisor of Soft-NMS (``exp(-IoU² / sigma)``).
        voting_threshold: IoU threshold of segment voting (class-agnostic only); 0 disables it.

    Returns:
        ``(segments, scores, labels)``: float32 ``(M, 2)``, float32 ``(M,)``, int64 ``(M,)`` by
        descending score; numpy, or tensors on ``segments``'s device.

    Example:
        >>> seg = np.array([[0.0, 10.0], [1.0, 10.0], [0.0, 9.0]])
        >>> out = batched_nms(seg, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1]),
        ...                   iou_threshold=0.5, min_score=0.001, max_num=None, soft=False)
        >>> out[0].tolist(), out[2].tolist()
        ([[0.0, 10.0], [0.0, 9.0]], [0, 1])
    """
    from ._nms_kernels import hardnms_groups, segment_voting, softnms_groups

    thr = real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    low = real(min_score, "min_score")
    limit = _max_num(max_num)
    sig = real(sigma, "sigma", low=0.0, low_open=True)
    vote = real(voting_threshold, "voting_threshold", low=0.0, high=1.0)
    soft = flag(soft, "soft")
    class_agnostic = flag(class_agnostic, "class_agnostic")
    seg, sc = _segments_and_scores(segments, scores)
    n = seg.shape[0]
    lab = matching_length(integer_array(labels, "labels"), n, "labels")
    check_labels_nonnegative(lab, "labels")
    if n == 0:
        return like_inputs((np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)), segments)

    x1, x2, work, areas = _float32_work(seg, sc)
    if class_agnostic:
        order = np.arange(n, dtype=np.int64)
        bounds = np.array([0, n], dtype=np.int64)
    else:
        order = np.argsort(lab, kind="stable")
        change = np.flatnonzero(lab[order][1:] != lab[order][:-1]) + 1
        bounds = np.concatenate(([0], change, [n])).astype(np.int64)
        x1, x2, work, areas = x1[order], x2[order], work[order], areas[order]
    counts = np.zeros(bounds.shape[0] - 1, dtype=np.int64)
    if soft:
        inds = order.copy()
        f32 = np.float32
        softnms_groups(x1, x2, work, areas, inds, bounds, f32(thr), f32(sig), f32(low), 2, limit, counts)
        pos = np.concatenate([np.arange(lo, lo + c) for lo, c in zip(bounds[:-1], counts)])
        out_x1, out_x2, out_sc, out_idx = x1[pos], x2[pos], work[pos], inds[pos]
    else:
        kept = np.empty(n, dtype=np.int64)
        hardnms_groups(x1, x2, work, areas, bounds, np.float32(thr), np.float32(low), low > 0, limit, kept, counts)
        pos = np.concatenate([kept[lo : lo + c] for lo, c in zip(bounds[:-1], counts)])
        out_x1, out_x2, out_sc, out_idx = x1[pos], x2[pos], work[pos], order[pos]
    out_seg = np.stack([out_x1, out_x2], axis=1)
    if class_agnostic and vote > 0 and out_seg.shape[0]:
        all_x1 = np.ascontiguousarray(seg[:, 0], dtype=np.float32)
        all_x2 = np.ascontiguousarray(seg[:, 1], dtype=np.float32)
        voted = np.empty_like(out_seg)
        segment_voting(out_x1, out_x2, all_x1, all_x2, sc.astype(np.float32), np.float32(vote), voted)
        out_seg = voted
    final = np.argsort(-out_sc, kind="stable")[: min(limit, out_sc.shape[0])]
    return like_inputs((out_seg[final], out_sc[final], lab[out_idx[final]]), segments)


def soft_nms_preset(segments: Any, scores: Any, *, reference: str | None = None, preset: str | None = None,
                    **params: float) -> tuple[Any, Any]:
    """The pandas Soft-NMS of BMN, G-TAD (BSN lineage) or TAGS/GSMT, reproduced exactly (float64).

    These are not ActionFormer's op; each is a Python loop over a score-sorted DataFrame:
    BMN ``post_processing.py::soft_nms`` (JJBOY/BMN-Boundary-Matching-Network@a92c1d7),
    G-TAD ``gtad_postprocess.py::Soft_NMS`` (frostinassiky/gtad@6deb5b1), TAGS
    ``utils/postprocess_utils.py::Soft_NMS`` (sauradip/TAGS@0585aa9).

    Common loop: sort by score (descending, pandas' default quicksort, reproduced with the same
    numpy call, so ties come out as pandas orders them); then, while more than one candidate
    remains and fewer than ``max_num`` were emitted (``gtad``/``tags``: and the maximal score is
    > 0), take the first maximal remaining score, decay all other remaining scores, emit it.
    **The last remaining candidate is never emitted** and a single candidate gives nothing (their
    pipelines skip the call when there is at most one proposal).

    References and parameters (defaults in :data:`SOFT_NMS_PRESETS`):
        * ``"bmn"`` (``alpha=0.4, t1=0.5, t2=0.9, max_num=101``): true IoU; decay
          ``s *= exp(-IoU²/alpha)`` only if ``IoU > t1 + (t2 - t1) * width(selected)`` (widths in
          the normalised [0, 1] time of BMN).
        * ``"gtad"`` (``nms_threshold=0.46, max_num=200, max_length=300``): scores of segments with
          ``end - start >= max_length`` are set to 0 first; IoU is 0 for disjoint segments (touching
          counts as overlapping with IoU 0); decay ``s *= exp(-IoU²/nms_threshold)`` when IoU > 0.
        * ``"tags"`` (``nms_threshold=0.6, max_num=100``): TAGS's IOU uses ``min(s1, s2)`` where the
          intersection needs ``max`` and divides by ``union - inter + len(other)``; decay
          ``s *= exp(-10·IoU²) / nms_threshold`` (weakly overlapping scores can grow).

    Args:
        segments: ``(N, 2)`` ``[xmin, xmax]`` rows (cast to float64).
        scores: ``(N,)`` scores (cast to float64).
        reference: the code reproduced, ``"bmn"``, ``"gtad"`` or ``"tags"`` (required; the
            ``reference=`` of ``docs/conventions.md``).
        preset: deprecated spelling of ``reference`` (works until the next minor release, with a
            ``DeprecationWarning``).
        **params: overrides of the reference's parameters (names above).

    Returns:
        ``(keep, scores)``: int64 indices into ``segments`` in emission order and the float64
        emitted scores; numpy, or tensors on ``segments``'s device.

    Example:
        >>> seg = np.array([[0.0, 0.5], [0.1, 0.5], [0.6, 0.9]])
        >>> keep, sc = soft_nms_preset(seg, np.array([0.9, 0.8, 0.7]), reference="gtad")
        >>> keep.tolist(), sc.round(4).tolist()
        ([0, 2], [0.9, 0.7])
    """
    from ._nms_kernels import softnms_preset

    reference = renamed(reference, preset, new="reference", old="preset", default=None)
    if reference is None:
        raise TypeError("reference: expected one of 'bmn', 'gtad', 'tags', got None (a required keyword)")
    reference = choice(reference, tuple(SOFT_NMS_PRESETS), "reference")
    values = dict(SOFT_NMS_PRESETS[reference])
    unknown = sorted(set(params) - set(values))
    if unknown:
        raise TypeError(f"params: reference {reference!r} takes {sorted(values)}, got unexpected {unknown}")
    values.update(params)
    limit = _max_num(values.pop("max_num"))
    if reference == "bmn":
        alpha = real(values["alpha"], "alpha", low=0.0, low_open=True)
        p = (alpha, real(values["t1"], "t1"), real(values["t2"], "t2"))
    elif reference == "gtad":
        divisor = real(values["nms_threshold"], "nms_threshold", low=0.0, low_open=True)
        p = (divisor, real(values["max_length"], "max_length", low=0.0, low_open=True), 0.0)
    else:
        p = (real(values["nms_threshold"], "nms_threshold", low=0.0, low_open=True), 0.0, 0.0)
    seg, sc = _segments_and_scores(segments, scores)
    seg, sc = seg.astype(np.float64), sc.astype(np.float64)
    # pandas DataFrame.sort_values(by="score", ascending=False) -> nargsort(kind="quicksort")
    order = np.arange(sc.shape[0])[::-1][sc[::-1].argsort(kind="quicksort")][::-1]
    starts = np.ascontiguousarray(seg[order, 0])
    ends = np.ascontiguousarray(seg[order, 1])
    ordered = np.ascontiguousarray(sc[order])
    keep = np.empty(sc.shape[0], dtype=np.int64)
    out = np.empty(sc.shape[0], dtype=np.float64)
    k = softnms_preset(starts, ends, ordered, _PRESET_IDS[reference], p[0], p[1], p[2], limit, keep, out)
    return like_inputs((order[keep[:k]].astype(np.int64), out[:k]), segments)
