"""Boundary F1@d: TAPOS (relative / absolute distance), Kinetics-GEBD (raters), ASRF ``BoundaryScoreMeter``.

A predicted boundary is a true positive when it is matched one-to-one with a ground-truth boundary
within a tolerance ``d`` (frames, seconds, or a fraction of the instance length). Precision, recall
and F1 pool the counts over videos; the reported number is their mean over the thresholds.

=================  ============================================================================
protocol           reproduces
=================  ============================================================================
``tapos``          GEBD repository ``eval/eval_GEBD_TAPOS.ipynb`` (F1@relative distance on TAPOS;
                   Shao et al., "Intra- and Inter-Action Understanding via Temporal Action
                   Parsing", CVPR 2020, Eq. 7): ``d`` in 0.05:0.05:0.5, tolerance
                   ``d * (end - start + 1)``, greedy matching in ground-truth order.
``tapos_absolute`` the same with ``d`` = 5:5:50 frames (the paper's absolute distance; no public code).
``gebd``           Kinetics-GEBD ``Challenge_eval_Code/eval.py`` (Shou et al., "Generic Event
                   Boundary Detection", ICCV 2021): raters, the best-F1 rater per video,
                   videos with ``f1_consis_avg < 0.3`` skipped, tolerance ``d * duration``.
``asrf``           ASRF ``libs/metric.py`` ``BoundaryScoreMeter`` (Ishikawa et al., WACV 2021):
                   peaks of dense tracks by ``argrelmax``, 5-frame tolerance, matching in
                   prediction order; **percentages**, with a boundary "accuracy".
=================  ============================================================================

See ``docs/boundary.md`` for every quirk of the scripts that is reproduced and every deviation.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._checks import choice, is_tensor, real, real_array, real_pair, shape_str, to_numpy, values_in_range
from .._distributed import batch_video_ids, single_video_id
from ._accumulator import VideoAccumulator

__all__ = [
    "ABSOLUTE_THRESHOLDS",
    "BOUNDARY_PROTOCOLS",
    "RELATIVE_THRESHOLDS",
    "BoundaryF1",
    "BoundaryMatch",
    "boundary_f1",
]

BOUNDARY_PROTOCOLS = ("tapos", "tapos_absolute", "gebd", "asrf")
MATCHINGS = ("greedy_gt", "greedy_pred")
TOLERANCE_MODES = ("relative", "absolute")
# the literals of the TAPOS / GEBD notebooks (not np.arange: 0.15000000000000002 != 0.15)
RELATIVE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
ABSOLUTE_THRESHOLDS = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)


@dataclass(frozen=True)
class _Preset:
    thresholds: tuple[float, ...]
    tolerance_mode: str
    matching: str
    skip_without_target: bool  # TAPOS notebook: only instances with >= 1 internal boundary are evaluated
    uses_consistency: bool  # GEBD: videos with f1_consis_avg < consistency_threshold are skipped
    dense: bool  # ASRF: inputs are per-frame tracks, boundaries are their argrelmax peaks
    percent: bool  # ASRF reports percentages and the +1e-7 F1


_PRESETS = {
    "tapos": _Preset(RELATIVE_THRESHOLDS, "relative", "greedy_gt", True, False, False, False),
    "tapos_absolute": _Preset(ABSOLUTE_THRESHOLDS, "absolute", "greedy_gt", True, False, False, False),
    "gebd": _Preset(RELATIVE_THRESHOLDS, "relative", "greedy_gt", False, True, False, False),
    "asrf": _Preset((5,), "absolute", "greedy_pred", False, False, True, True),
}


class BoundaryMatch(NamedTuple):
    """Counts and scores of :func:`boundary_f1` (scalars for a scalar tolerance, else one entry per tolerance).

    ``tp``: matched predictions; ``num_pos``: ground-truth boundaries of the chosen rater;
    ``num_det``: predictions inside ``valid_range``; ``precision``/``recall``/``f1``: fractions
    (recall = 1 without ground truth, precision = 0 without predictions, F1 = 0 when both are 0);
    ``rater``: index of the rater that was used (0 with a single annotation).
    """

    tp: Any
    num_pos: Any
    num_det: Any
    precision: Any
    recall: Any
    f1: Any
    rater: Any


# ----------------------------------------------------------------------------------------------
# argument handling


def _positions(x: Any, name: str) -> np.ndarray:
    """A 1-D finite float64 array of boundary positions (frames or seconds), order kept."""
    return real_array(x, name, 1, dtype=np.float64)


def _is_sequence(v: Any) -> bool:
    """A list, tuple, array or tensor of at least one dimension (0-d arrays and tensors are numbers)."""
    return isinstance(v, (list, tuple)) or ((isinstance(v, np.ndarray) or is_tensor(v)) and v.ndim > 0)


def _raters(gt: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth as ``(concatenated positions, offsets)``; a sequence of sequences means several raters."""
    if isinstance(gt, np.ndarray) or is_tensor(gt):
        arr = to_numpy(gt, name)
        if arr.ndim == 1:
            return _positions(arr, name), np.array([0, arr.shape[0]], dtype=np.int64)
        if arr.ndim != 2:
            raise ValueError(f"{name}: expected a 1-D sequence or one sequence per rater, got shape "
                             f"{shape_str(arr.shape)}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one rater, got none")
        offsets = np.arange(arr.shape[0] + 1, dtype=np.int64) * arr.shape[1]
        return real_array(arr, name, dtype=np.float64).reshape(-1), offsets
    if not isinstance(gt, (list, tuple)):
        raise TypeError(f"{name}: expected a numpy array, a torch.Tensor or a sequence, got {type(gt).__name__}")
    if len(gt) == 0 or not _is_sequence(gt[0]):  # one annotation: a flat sequence of numbers
        if any(_is_sequence(v) for v in gt):
            raise TypeError(f"{name}: expected boundary positions or one sequence of positions per rater, "
                            f"got a mix of numbers and sequences")
        return _positions(gt, name), np.array([0, len(gt)], dtype=np.int64)
    if not all(_is_sequence(v) for v in gt):
        raise TypeError(f"{name}: expected boundary positions or one sequence of positions per rater, "
                        f"got a mix of numbers and sequences")
    parts = [r if isinstance(r, (list, tuple)) else to_numpy(r, name).tolist() for r in gt]
    ends = [0]
    for r in parts:
        ends.append(ends[-1] + len(r))
    offsets = np.array(ends, dtype=np.int64)
    nested = f"{name}: expected one 1-D sequence of positions per rater, got deeper nesting"
    try:
        flat = np.asarray([v for r in parts for v in r])
    except ValueError as exc:  # ragged nesting
        raise ValueError(nested) from exc
    if flat.ndim != 1:
        raise ValueError(nested)
    return _positions(flat, name), offsets


def _tolerances(tolerance: Any, name: str) -> tuple[np.ndarray, bool]:
    """Tolerances ``d >= 0`` as a non-empty float64 vector, and whether one number was given (0-d included)."""
    if isinstance(tolerance, numbers.Real) and not isinstance(tolerance, (bool, np.bool_)):
        return np.array([real(tolerance, name, low=0)]), True
    if isinstance(tolerance, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a real number or a sequence of them, got bool")
    given = real_array(tolerance, name, (0, 1), dtype=np.float64)
    values = given.reshape(-1)
    if values.size == 0:
        raise ValueError(f"{name}: expected at least one tolerance, got none")
    return values_in_range(values, name, low=0), given.ndim == 0  # a 0-d array or tensor is one number


def _range(valid_range: Any) -> tuple[float, float]:
    """The inclusive ``(start, end)`` filter of the scripts (``start <= p <= end``); everything without one."""
    if valid_range is None:
        return -math.inf, math.inf
    return real_pair(valid_range, "valid_range")


def _f1_fraction(tp: float, num_pos: float, num_det: float) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` of the TAPOS notebook / GEBD eval.py, in their operation order."""
    fn = num_pos - tp
    fp = num_det - tp
    rec = 1 if num_pos == 0 else tp / (tp + fn)
    prec = 0 if (tp + fp) == 0 else tp / (tp + fp)
    f1 = 0 if (rec + prec) == 0 else 2 * rec * prec / (rec + prec)
    return float(prec), float(rec), float(f1)


def _f1_percent_asrf(tp: float, num_pos: float, num_det: float) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` in percent as ``BoundaryScoreMeter.get_scores`` (``+1e-7``; NaN for 0/0)."""
    fp = num_det - tp
    fn = num_pos - tp
    precision = tp / float(tp + fp) if tp + fp else math.nan
    recall = tp / float(tp + fn) if tp + fn else math.nan
    f1 = 2.0 * (precision * recall) / (precision + recall + 1e-7)
    f1 = float(np.nan_to_num(f1)) * 100
    return precision * 100, recall * 100, f1


def _match(pred: np.ndarray, lo: float, hi: float, gt: np.ndarray, offsets: np.ndarray, tol: np.ndarray,
           matching: str, row: np.ndarray, rater: np.ndarray) -> None:
    """Fill ``row[1:]`` = ``[tp[D], num_pos[D], num_det[D]]`` of one video (one kernel call)."""
    from ._boundary_kernels import MATCH_GREEDY_GT, MATCH_GREEDY_PRED, video_counts

    d = tol.shape[0]
    code = MATCH_GREEDY_GT if matching == "greedy_gt" else MATCH_GREEDY_PRED
    n_det = video_counts(pred, lo, hi, gt, offsets, tol, code, row[1:1 + d], row[1 + d:1 + 2 * d], rater)
    row[1 + 2 * d:] = n_det


# ----------------------------------------------------------------------------------------------
# one video


def boundary_f1(pred_boundaries: Any, gt_boundaries: Any, *, tolerance: Any, relative_to: float | None = None,
                matching: str = "greedy_gt", valid_range: tuple[float, float] | None = None) -> BoundaryMatch:
    """Boundary precision, recall and F1 of one video (or action instance) under a distance tolerance.

    TAPOS (Shao et al., CVPR 2020), Eq. 7: :math:`\\mathrm{Rec}@d = |P \\tilde\\cap_d G| / |G|`,
    :math:`\\mathrm{Prec}@d = |P \\tilde\\cap_d G| / |P|`, :math:`F1 = 2\\,\\mathrm{Prec}\\,\\mathrm{Rec} /
    (\\mathrm{Prec} + \\mathrm{Rec})`, where :math:`\\tilde\\cap_d` is a one-to-one matching with
    :math:`|g - p| \\le d` (the public scripts' ``<=``; the paper says "smaller than").

    Convention:
        - ``matching="greedy_gt"`` (TAPOS notebook, GEBD eval.py): ground-truth boundaries in the
          given order each take the nearest still unmatched prediction (the first one in the given
          order on equal distances); a hit removes that prediction. Greedy, not a maximum matching.
        - ``matching="greedy_pred"`` (ASRF ``BoundaryScoreMeter``): predictions in the given order
          each look at the nearest ground-truth boundary, **already matched ones included**; it is a
          hit only if within tolerance and not matched before (no fallback to the second nearest).
        - ``tolerance`` is in the unit of the positions; with ``relative_to=L`` it is ``d * L``
          (TAPOS: ``L = end - start + 1`` frames; GEBD: ``L`` = duration in seconds).
        - ``valid_range=(start, end)`` drops predictions outside ``[start, end]`` (inclusive) first;
          they count nowhere, as in both scripts.
        - Several raters (``gt_boundaries`` a sequence of sequences): the rater with the best F1
          (the first on ties, per tolerance) gives ``tp`` and ``num_pos`` (Kinetics-GEBD). Without
          any prediction every rater has F1 = 0, so the first rater's boundaries count as misses —
          exactly eval.py's special case.
        - Positions are compared in float64 (the scripts' Python floats).

    Args:
        pred_boundaries: ``(P,)`` predicted boundary positions (frames or seconds), any order.
        gt_boundaries: ``(G,)`` ground-truth positions, or a sequence of them (one per rater).
        tolerance: ``d`` >= 0, or a sequence of them (then every result field is an array).
        relative_to: length ``L`` > 0 that turns ``d`` into ``d * L``; ``None`` = absolute.
        matching: ``"greedy_gt"`` or ``"greedy_pred"``.
        valid_range: optional inclusive ``(start, end)`` filter for the predictions.

    Returns:
        :class:`BoundaryMatch` ``(tp, num_pos, num_det, precision, recall, f1, rater)``.

    Raises:
        ValueError: non-finite positions, negative tolerance, ``relative_to <= 0``, bad ``valid_range``.
        TypeError: wrong types.

    Example:
        >>> m = boundary_f1([10, 31, 70], [12, 30, 50], tolerance=0.05, relative_to=100)
        >>> m.tp, m.num_pos, m.num_det, round(m.f1, 4)
        (2, 3, 3, 0.6667)
    """
    choice(matching, MATCHINGS, "matching")
    pred = _positions(pred_boundaries, "pred_boundaries")
    gt, offsets = _raters(gt_boundaries, "gt_boundaries")
    tol, scalar = _tolerances(tolerance, "tolerance")
    if relative_to is not None:
        tol = tol * real(relative_to, "relative_to", low=0, low_open=True)
    lo, hi = _range(valid_range)
    d = tol.shape[0]
    row = np.zeros(1 + 3 * d, dtype=np.int64)
    rater = np.zeros(d, dtype=np.int64)
    _match(pred, lo, hi, gt, offsets, tol, matching, row, rater)
    tp, num_pos, num_det = row[1:1 + d], row[1 + d:1 + 2 * d], row[1 + 2 * d:]
    scores = np.array([_f1_fraction(int(a), int(b), int(c)) for a, b, c in zip(tp, num_pos, num_det)])
    fields = (tp, num_pos, num_det, scores[:, 0], scores[:, 1], scores[:, 2], rater)
    if scalar:
        return BoundaryMatch(*(v[0].item() for v in fields))
    return BoundaryMatch(*fields)


# ----------------------------------------------------------------------------------------------
# dataset accumulator


def _threshold_keys(thresholds: np.ndarray) -> list[str]:
    keys = [f"{float(d):g}" for d in thresholds]
    if len(set(keys)) != len(keys):
        raise ValueError(f"thresholds: expected distinct values, got {thresholds.tolist()}")
    return keys


class BoundaryF1(VideoAccumulator):
    """Dataset boundary precision / recall / F1@d, pooled over videos, for one of the field's protocols.

    Feed one video (or action instance) per :meth:`update` — a padded batch of tracks for
    ``protocol="asrf"`` — and read the numbers with :meth:`compute`. The state is one row of
    integer counts per video (``tp``, ``num_pos``, ``num_det`` per threshold, frame count), so
    :meth:`merge` and multi-process evaluation are exact.

    Presets (``protocol=``; ``thresholds``, ``tolerance_mode`` and ``matching`` override them):

    ==================  ===================  ===========  ===========  ======================================
    protocol            thresholds           tolerance    matching     also
    ==================  ===================  ===========  ===========  ======================================
    ``tapos``           0.05, 0.1, ..., 0.5  relative     greedy_gt    instances without GT boundary skipped
    ``tapos_absolute``  5, 10, ..., 50       absolute     greedy_gt    instances without GT boundary skipped
    ``gebd``            0.05, 0.1, ..., 0.5  relative     greedy_gt    raters; ``consistency < 0.3`` skipped
    ``asrf``            5                    absolute     greedy_pred  dense tracks, argrelmax, percentages
    ==================  ===================  ===========  ===========  ======================================

    Convention:
        - Relative tolerance ``d * L``: with ``start``/``end`` (inclusive frame range of the action
          instance, TAPOS) ``L = end - start + 1``; with ``duration`` (GEBD, seconds) ``L = duration``.
          The same argument filters the predictions to ``[start, end]`` resp. ``[0, duration]``.
          Predictions are absolute positions (TAPOS notebook: stored offsets × 3 + ``start``).
        - Pooled: ``rec = Σtp / Σnum_pos`` (1 if ``Σnum_pos = 0``), ``prec = Σtp / Σnum_det``
          (0 if ``Σnum_det = 0``), ``F1 = 2·rec·prec / (rec + prec)`` (0 if both are 0), per
          threshold; ``f1``/``precision``/``recall`` are the means over the thresholds (the number
          papers report; the GEBD challenge number is ``f1@0.05``). Fractions in [0, 1].
        - ``protocol="asrf"``: ``update(pred, target, mask=)`` takes ``(B, T)``/``(B, 1, T)``/``(T,)``
          tracks: the model's boundary output (ASRF evaluates the **raw logits** against
          ``boundary_threshold``) and the 0/1 ground-truth boundary array; both become
          ``find_peaks(..., peak_rule="argrelmax")`` over the valid frames (frame 0 is a peak of both,
          so it is always a true positive; adjacent GT boundaries form a plateau and are lost).
          ``precision``, ``recall``, ``f1`` and ``accuracy`` are **percentages** as ASRF prints
          them: ``F1 = 100·2PR/(P + R + 1e-7)``; ``accuracy = 100·(TP + TN)/frames`` with
          ``TN = frames − TP − FP − FN``.
        - Under ``torch.distributed``, :meth:`compute` gathers all ranks; rows sharing a video id
          count once (``DistributedSampler`` padding). Counts are integers: order-independent.
          The records live in :class:`~actseg.metrics._accumulator.VideoAccumulator`.

    Args:
        protocol: one of ``"tapos"``, ``"tapos_absolute"``, ``"gebd"``, ``"asrf"``.
        thresholds: the ``d`` values (fractions for relative, frames/seconds for absolute tolerance).
        tolerance_mode: ``"relative"`` or ``"absolute"``.
        matching: ``"greedy_gt"`` or ``"greedy_pred"`` (see :func:`boundary_f1`).
        boundary_threshold: peak threshold of the ``asrf`` protocol (ASRF configs: 0.5; the
            meter's constructor default is 0.7).
        consistency_threshold: ``gebd`` skips videos whose ``consistency`` is below it (0.3).

    Example:
        >>> m = BoundaryF1(protocol="tapos")
        >>> m.update([33, 61], [30, 60], start=0, end=99, video_ids="ins1")
        >>> m.compute()["f1"], m.compute()["f1@0.05"]
        (1.0, 1.0)
    """

    def __init__(self, *, protocol: str = "tapos", thresholds: Sequence[float] | None = None,
                 tolerance_mode: str | None = None, matching: str | None = None, boundary_threshold: float = 0.5,
                 consistency_threshold: float = 0.3) -> None:
        self.protocol = choice(protocol, BOUNDARY_PROTOCOLS, "protocol")
        preset = _PRESETS[protocol]
        self.tolerance_mode = choice(tolerance_mode or preset.tolerance_mode, TOLERANCE_MODES, "tolerance_mode")
        self.matching = choice(matching or preset.matching, MATCHINGS, "matching")
        if thresholds is None:
            if self.tolerance_mode == preset.tolerance_mode:
                thresholds = preset.thresholds
            else:
                thresholds = RELATIVE_THRESHOLDS if self.tolerance_mode == "relative" else ABSOLUTE_THRESHOLDS
        self.thresholds, _ = _tolerances(thresholds, "thresholds")
        self._keys = _threshold_keys(self.thresholds)
        self.boundary_threshold = real(boundary_threshold, "boundary_threshold")
        self.consistency_threshold = real(consistency_threshold, "consistency_threshold")
        self._preset = preset
        self._rater = np.zeros(self.thresholds.shape[0], dtype=np.int64)  # scratch for the kernel
        self.reset()

    # -- state ---------------------------------------------------------------------------------

    RECORDS = ("rows",)
    COUNTERS = ("skipped",)

    @property
    def num_videos(self) -> int:
        """Number of videos recorded on this process (duplicates included, skipped ones excluded)."""
        return self._num_records()

    @property
    def num_skipped(self) -> int:
        """Videos left out by the protocol on this process (no GT boundary for TAPOS, low consistency for GEBD)."""
        return self._counters["skipped"]

    def _config(self) -> tuple:
        return (self.protocol, self.thresholds.tolist(), self.tolerance_mode, self.matching,
                self.boundary_threshold, self.consistency_threshold)

    # -- update --------------------------------------------------------------------------------

    def update(self, pred: Any, target: Any, *, start: float | None = None, end: float | None = None,
               duration: float | None = None, consistency: float | None = None, mask: Any = None,
               video_ids: Any = None) -> None:
        """Add one video / action instance (boundary positions), or a padded batch of tracks (``asrf``).

        Args:
            pred: boundary positions ``(P,)`` in frames or seconds, any order (absolute, i.e. in the
                same coordinates as ``target``). ``asrf``: boundary scores ``(T,)``, ``(B, T)`` or
                ``(B, 1, T)``.
            target: ground-truth positions ``(G,)``, or a sequence of them, one per rater.
                ``asrf``: the ground-truth boundary track, same shape as ``pred``.
            start: first frame of the instance's inclusive frame range (TAPOS ``substages[0]``):
                predictions outside ``[start, end]`` are dropped, relative length ``end - start + 1``.
            end: last frame of that range (TAPOS ``substages[-1]``).
            duration: video duration (GEBD, seconds): range ``[0, duration]``, relative length ``duration``.
            consistency: the video's rater consistency (GEBD ``f1_consis_avg``); with
                ``protocol="gebd"`` videos below ``consistency_threshold`` are skipped.
            mask: ``asrf`` only: bool like ``pred`` (``True`` = valid frame).
            video_ids: one id (str or int) for de-duplication across ranks; a sequence of ``B``
                ids for an ``asrf`` batch.

        Raises:
            ValueError: missing length for a relative tolerance, bad range, shapes that disagree,
                non-finite values, a track without valid frames.
            TypeError: wrong types.
        """
        if self._preset.dense:
            if start is not None or end is not None or duration is not None or consistency is not None:
                raise ValueError("start/end/duration/consistency: not used by protocol='asrf' (dense tracks); "
                                 "pass mask= for padding")
            self._update_dense(pred, target, mask, video_ids)
            return
        if mask is not None:
            raise ValueError(f"mask: only used by protocol='asrf', got a mask with protocol={self.protocol!r}")
        vid = single_video_id(video_ids)
        pred_arr = _positions(pred, "pred")
        gt, offsets = _raters(target, "target")
        length, valid_range = self._length_and_range(start, end, duration)
        low_consistency = consistency is not None and real(consistency, "consistency") < self.consistency_threshold
        if (self._preset.uses_consistency and low_consistency) or (self._preset.skip_without_target and gt.size == 0):
            self._count("skipped")  # GEBD: f1_consis_avg < 0.3; TAPOS: no internal boundary
            return
        tol = self.thresholds * length if self.tolerance_mode == "relative" else self.thresholds
        row = np.zeros(1 + 3 * tol.shape[0], dtype=np.int64)
        _match(pred_arr, *valid_range, gt, offsets, tol, self.matching, row, self._rater)
        self._record([vid], [row])

    def _length_and_range(self, start: Any, end: Any, duration: Any) -> tuple[Any, tuple[float, float]]:
        if duration is not None:
            if start is not None or end is not None:
                raise ValueError("duration: expected either duration or start/end, got both")
            dur = real(duration, "duration", low=0, low_open=True)
            return dur, (0.0, dur)
        if (start is None) != (end is None):
            raise ValueError(f"start/end: expected both or neither, got start={start!r}, end={end!r}")
        if start is None:
            if self.tolerance_mode == "relative":
                raise ValueError("start/end: a relative tolerance needs the instance range (start=, end=) "
                                 "or the duration (duration=)")
            return 1.0, (-math.inf, math.inf)
        lo = real(start, "start")
        hi = real(end, "end")
        if hi < lo:
            raise ValueError(f"end: expected end >= start ({start}), got {end}")
        return end - start + 1, (lo, hi)  # the notebook's d*(ins_end-ins_start+1), in its own types

    def _update_dense(self, pred: Any, target: Any, mask: Any, video_ids: Any) -> None:
        from ..postprocess._peaks import mask_rows, peaks_of_rows, real_rows

        pred_rows, single = real_rows(to_numpy(pred, "pred"), "pred", allow_3d=True)
        target_rows, target_single = real_rows(to_numpy(target, "target"), "target", allow_3d=True)
        if target_rows.shape != pred_rows.shape or target_single != single:
            want = pred_rows.shape[1:] if single else pred_rows.shape
            got = target_rows.shape[1:] if target_single else target_rows.shape
            raise ValueError(f"target: expected the shape of pred {shape_str(want)}, got {shape_str(got)}")
        mask_arr = mask_rows(mask, pred_rows.shape, single)
        n_frames = mask_arr.sum(axis=1)
        if (n_frames == 0).any():
            b = int(np.flatnonzero(n_frames == 0)[0])
            raise ValueError(f"mask: expected at least one valid frame per video, got none (batch element {b})")
        ids = batch_video_ids(video_ids, pred_rows.shape[0], single)
        pred_peaks = peaks_of_rows(pred_rows, mask_arr, self.boundary_threshold, "argrelmax", "pred")
        gt_peaks = peaks_of_rows(target_rows, mask_arr, self.boundary_threshold, "argrelmax", "target")
        compressed = np.cumsum(mask_arr, axis=1) - 1  # position among the valid frames (ASRF: pred[mask])
        for b in range(pred_rows.shape[0]):
            p = compressed[b, pred_peaks[b]].astype(np.float64)
            g = compressed[b, gt_peaks[b]].astype(np.float64)
            tol = self.thresholds * float(n_frames[b]) if self.tolerance_mode == "relative" else self.thresholds
            row = np.zeros(1 + 3 * tol.shape[0], dtype=np.int64)
            row[0] = n_frames[b]
            _match(p, -math.inf, math.inf, g, np.array([0, g.size], dtype=np.int64), tol, self.matching, row,
                   self._rater)
            self._record([ids[b]], [row])

    # -- results -------------------------------------------------------------------------------

    def _table(self) -> tuple[list[Any], np.ndarray, int]:
        """Gathered, de-duplicated ids, their rows as one int64 array, and the number of skipped videos."""
        state, counters = self._gathered()
        ids, rows = state["rows"]
        width = 1 + 3 * self.thresholds.shape[0]
        table = np.stack(rows) if rows else np.zeros((0, width), dtype=np.int64)
        return ids, table, counters["skipped"]

    def _split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self.thresholds.shape[0]
        return rows[..., 0], rows[..., 1:1 + d], rows[..., 1 + d:1 + 2 * d], rows[..., 1 + 2 * d:1 + 3 * d]

    def _scores(self, n_frames: int, tp: np.ndarray, num_pos: np.ndarray, num_det: np.ndarray) -> dict[str, float]:
        names = ("precision", "recall", "f1")
        per = {name: [] for name in names}
        acc = []
        for a, b, c in zip(tp.tolist(), num_pos.tolist(), num_det.tolist()):
            values = _f1_percent_asrf(a, b, c) if self._preset.percent else _f1_fraction(a, b, c)
            for name, v in zip(names, values):
                per[name].append(v)
            if self._preset.percent:
                correct = n_frames - (c - a) - (b - a)  # Σ(tp + tn) = frames - fp - fn
                acc.append(100 * correct / n_frames if n_frames else math.nan)
        out: dict[str, float] = {}
        if self._preset.percent:
            out["accuracy"] = float(np.mean(acc))
        for name in names:
            out[name] = float(np.mean(per[name]))  # the notebooks' np.mean over the thresholds
        for i, key in enumerate(self._keys):
            if self._preset.percent:
                out[f"accuracy@{key}"] = float(acc[i])
            for name in names:
                out[f"{name}@{key}"] = float(per[name][i])
        return out

    def compute(self) -> dict[str, float]:
        """Dataset numbers: ``f1``, ``precision``, ``recall`` (means over thresholds) and ``f1@{d}`` etc. per threshold.

        Fractions in [0, 1], except ``protocol="asrf"``: percentages, plus ``accuracy``. Gathers
        over ``torch.distributed`` when it is initialised (collective: call on every rank). NaN
        everywhere, with a warning, before any update.
        """
        _, rows, skipped = self._table()
        if rows.shape[0] == 0 and skipped == 0:
            warnings.warn("BoundaryF1.compute() called before any update", UserWarning, stacklevel=2)
            names = (["accuracy"] if self._preset.percent else []) + ["precision", "recall", "f1"]
            keys = names + [f"{name}@{k}" for k in self._keys for name in names]
            return dict.fromkeys(keys, math.nan)
        n_frames, tp, num_pos, num_det = self._split(rows)
        return self._scores(int(n_frames.sum()), tp.sum(0), num_pos.sum(0), num_det.sum(0))

    def counts(self) -> dict[str, np.ndarray]:
        """Pooled integer counts per threshold (after gathering): ``tp``, ``num_pos``, ``num_det``, ``frames``."""
        _, rows, _ = self._table()
        n_frames, tp, num_pos, num_det = self._split(rows)
        return {"tp": tp.sum(0), "num_pos": num_pos.sum(0), "num_det": num_det.sum(0),
                "frames": np.asarray(n_frames.sum())}

    def per_video(self) -> list[dict[str, Any]]:
        """One dict per recorded video (after gathering and de-duplication): ``video`` and its counts per
        threshold (``tp``, ``num_pos``, ``num_det`` as lists) plus its own ``f1`` per threshold."""
        ids, rows, _ = self._table()
        n_frames, tp, num_pos, num_det = self._split(rows)
        out = []
        for i, vid in enumerate(ids):
            f1 = [(_f1_percent_asrf if self._preset.percent else _f1_fraction)(a, b, c)[2]
                  for a, b, c in zip(tp[i].tolist(), num_pos[i].tolist(), num_det[i].tolist())]
            out.append({"video": vid, "frames": int(n_frames[i]), "tp": tp[i].tolist(),
                        "num_pos": num_pos[i].tolist(), "num_det": num_det[i].tolist(), "f1": f1})
        return out

    def __repr__(self) -> str:
        return (f"BoundaryF1(protocol={self.protocol!r}, thresholds={self.thresholds.tolist()}, "
                f"tolerance_mode={self.tolerance_mode!r}, matching={self.matching!r}, videos={self.num_videos})")
