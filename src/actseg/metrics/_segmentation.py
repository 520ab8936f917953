"""Temporal action segmentation metrics: frame accuracy, segmental edit score, segmental F1@k.

Every number reproduces one family of official evaluation scripts, selected by ``protocol``:

============  =================================================================================
protocol      reproduces
============  =================================================================================
``mstcn``     yabufarha/ms-tcn ``eval.py`` (also C2F-TCN, MS-GCN): segments end at ``T``; pooled
              accuracy; mean of per-video edit; TP/FP/FN pooled over videos for F1.
``asformer``  MS-TCN2 / ASFormer / DiffAct ``eval.py``: as ``mstcn`` but the last segment of a
              sequence ends at ``T - 1`` (one frame short).
``asrf``      ASRF ``ScoreMeter``: the ``asformer`` segment rule, ``+1e-7`` in the F1 denominator.
``fact``      FACT ``Checkpoint.compute_metrics``: ``accuracy`` is its ``AccB`` (all frames),
              ``accuracy_foreground`` its ``Acc``; NaN per-video edits skipped; ``1e-5`` epsilons.
``mtlera``    MTL-ERA ``util/metrics.py``: per-video means of accuracy, edit and F1 (with the
              true label of every segment: its ``segment_labels`` shifts labels by one run).
============  =================================================================================

References: Lea et al., "Temporal Convolutional Networks for Action Segmentation and Detection",
CVPR 2017 (edit score, segmental F1@k); Farha & Gall, "MS-TCN", CVPR 2019 (the evaluation
script). See ``docs/metrics.md`` for every difference between the scripts and the measured effect.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import check_choice, id_set, integer_array, is_tensor, label_array, shape_str, to_numpy
from .._distributed import batch_video_ids, first_occurrences, gather_objects

__all__ = ["PROTOCOLS", "SegmentationMetrics", "accuracy", "edit_score", "f1_score", "segment_stats"]

PROTOCOLS = ("mstcn", "asformer", "asrf", "fact", "mtlera")
_SHORT_LAST_SEGMENT = frozenset({"asformer", "asrf"})
_N_FIXED = 5  # correct, total, fg_correct, fg_total, edit; then tp[K], fp[K], fn[K]


# ----------------------------------------------------------------------------------------------
# argument handling


def _overlaps(overlaps: Any) -> np.ndarray:
    arr = to_numpy(overlaps if not isinstance(overlaps, (int, float)) else [overlaps], "overlaps")
    arr = np.asarray(arr, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("overlaps: expected at least one IoU threshold, got none")
    if not np.all((arr > 0) & (arr <= 1)):
        raise ValueError(f"overlaps: expected IoU thresholds in (0, 1], got {arr.tolist()}")
    return arr


def _overlap_keys(overlaps: np.ndarray) -> list[str]:
    keys = [f"f1@{round(100 * float(k))}" for k in overlaps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"overlaps: thresholds must differ after rounding to percent, got {overlaps.tolist()}")
    return keys


def _protocol(protocol: str) -> str:
    return check_choice(protocol, PROTOCOLS, "protocol")


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    pred_arr = label_array(pred, "pred")
    target_arr = label_array(target, "target")
    if pred_arr.shape != target_arr.shape:
        raise ValueError(
            f"pred: expected the length of target ({target_arr.shape[0]}), got length {pred_arr.shape[0]}"
        )
    return pred_arr, target_arr


def _video_row(pred: np.ndarray, target: np.ndarray, background: np.ndarray, overlaps: np.ndarray,
               protocol: str) -> np.ndarray:
    from ._tas_kernels import video_stats

    row = np.empty(_N_FIXED + 3 * overlaps.shape[0], dtype=np.float64)
    video_stats(np.ascontiguousarray(pred), np.ascontiguousarray(target), background, overlaps,
                protocol in _SHORT_LAST_SEGMENT, row)
    return row


# ----------------------------------------------------------------------------------------------
# the formulas of each script (kept in the scripts' operation order so that floats match bit for bit)


def _percent(correct: float, total: float, protocol: str) -> float:
    """Frame accuracy in percent: ``100 * correct / total`` (ms-tcn, ASRF); FACT/MTL-ERA take a mean first."""
    if total == 0:
        return math.nan
    if protocol in ("fact", "mtlera"):
        return (correct / total) * 100
    return 100 * correct / total


def _f1_percent(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, protocol: str) -> np.ndarray:
    """F1 in percent from TP/FP/FN; a 0/0 precision or recall gives 0, as ``np.nan_to_num`` does there."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        if protocol == "fact":
            precision = tp / (tp + fp + 1e-5)
            recall = tp / (tp + fn + 1e-5)
            f1 = 2.0 * (precision * recall) / (precision + recall + 1e-5)
        else:
            precision = tp / (tp + fp)
            recall = tp / (tp + fn)
            if protocol == "asrf":
                f1 = 2.0 * (precision * recall) / (precision + recall + 1e-7)
            else:
                f1 = 2.0 * (precision * recall) / (precision + recall)
    return np.nan_to_num(f1) * 100


def _mean(values: np.ndarray, *, skip_nan: bool = False) -> float:
    """Mean with an exactly rounded sum (independent of order, so DDP and one process agree bit for bit)."""
    values = np.asarray(values, dtype=np.float64)
    if skip_nan:
        values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan
    return math.fsum(values.tolist()) / values.size


def _split_row(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = rows[..., _N_FIXED:_N_FIXED + k]
    fp = rows[..., _N_FIXED + k:_N_FIXED + 2 * k]
    fn = rows[..., _N_FIXED + 2 * k:_N_FIXED + 3 * k]
    return tp, fp, fn


# ----------------------------------------------------------------------------------------------
# per-video functions


def accuracy(pred: Any, target: Any, *, ignore_index: int = -100) -> float:
    """Frame-wise accuracy (MoF) of one video, in percent.

    .. math:: \\mathrm{Acc} = 100 \\cdot \\frac{|\\{t : \\hat y_t = y_t\\}|}{T}

    Frames whose target equals ``ignore_index`` are left out (ASRF ``ScoreMeter``). Over a dataset
    the scripts pool frames (``SegmentationMetrics``), they do not average this per-video number.

    Args:
        pred: ``(T,)`` predicted class ids (integer numpy array, tensor or sequence).
        target: ``(T,)`` ground-truth class ids, ``ignore_index`` allowed.
        ignore_index: target value of frames to skip.

    Returns:
        Accuracy in percent; NaN when every frame is ignored.

    Raises:
        ValueError: empty input, lengths differ, negative class ids.
        TypeError: non-integer labels.

    Example:
        >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
        75.0
    """
    pred_arr = label_array(pred, "pred")
    target_arr = label_array(target, "target", ignore_index=ignore_index)
    if pred_arr.shape != target_arr.shape:
        raise ValueError(
            f"pred: expected the length of target ({target_arr.shape[0]}), got length {pred_arr.shape[0]}"
        )
    valid = target_arr != ignore_index
    total = int(valid.sum())
    correct = int((pred_arr[valid] == target_arr[valid]).sum())
    return _percent(correct, total, "mstcn")


def edit_score(pred: Any, target: Any, *, background: Any = (), protocol: str = "mstcn") -> float:
    """Segmental edit score of one video, in percent (Lea et al., CVPR 2017).

    .. math:: \\mathrm{Edit} = \\Bigl(1 - \\frac{\\mathrm{Lev}(P, Y)}{\\max(|P|, |Y|)}\\Bigr) \\cdot 100

    ``P`` and ``Y`` are the class ids of the non-background segments (maximal runs of one class) of
    the prediction and the target; ``Lev`` is the Levenshtein distance with unit insertion,
    deletion and substitution costs. Segment boundaries play no role, so every protocol gives the
    same value (``protocol`` is validated for symmetry with the other functions).

    Args:
        pred: ``(T,)`` predicted class ids.
        target: ``(T,)`` ground-truth class ids.
        background: class ids whose runs are not segments.
        protocol: one of ``PROTOCOLS``.

    Returns:
        Edit score in percent. **NaN** when neither sequence has a foreground segment: the scripts
        divide 0 by 0 there (ms-tcn, ASFormer, FACT give NaN; ASRF raises ``ZeroDivisionError``).

    Example:
        >>> edit_score([1, 1, 2, 2, 1], [1, 1, 1, 2, 2])
        66.66666666666667
    """
    _protocol(protocol)
    pred_arr, target_arr = _pair(pred, target)
    overlaps = np.array([0.5])
    return float(_video_row(pred_arr, target_arr, id_set(background, "background"), overlaps, protocol)[4])


def segment_stats(pred: Any, target: Any, *, overlaps: Sequence[float] = (0.1, 0.25, 0.5), background: Any = (),
                  protocol: str = "mstcn") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives of segmental F1@k for one video.

    The ``f_score`` of the MS-TCN evaluation script: for each predicted segment in temporal order,
    take the ground-truth segment of highest ``IoU · [same class]`` (the first one on ties); it is a
    true positive if that IoU is ``>= k`` and that ground-truth segment is not matched yet,
    otherwise a false positive (no fallback to the second best). ``FN = #GT - #TP``.
    IoU is ``(min(e) - max(s)) / (max(e) - min(s))`` on half-open segments (the hull, which equals
    the union whenever the segments overlap).

    Convention:
        - ``protocol="asformer"``/``"asrf"`` end the last segment at ``T - 1`` as MS-TCN2, ASFormer,
          DiffAct and ASRF do; a last run of one frame then has zero length and never matches.
        - A ground truth without foreground segment but a prediction with some makes every script
          raise (``argmax`` of an empty array); here every predicted segment is a false positive.

    Args:
        pred: ``(T,)`` predicted class ids.
        target: ``(T,)`` ground-truth class ids.
        overlaps: IoU thresholds ``k`` in (0, 1].
        background: class ids whose runs are not segments.
        protocol: one of ``PROTOCOLS``.

    Returns:
        ``(tp, fp, fn)``, each an int64 array with one entry per overlap.

    Example:
        >>> tp, fp, fn = segment_stats([1, 1, 2, 2, 2, 0], [1, 1, 1, 2, 2, 0], background=[0])
        >>> tp.tolist(), fp.tolist(), fn.tolist()
        ([2, 2, 2], [0, 0, 0], [0, 0, 0])
    """
    _protocol(protocol)
    ks = _overlaps(overlaps)
    pred_arr, target_arr = _pair(pred, target)
    row = _video_row(pred_arr, target_arr, id_set(background, "background"), ks, protocol)
    tp, fp, fn = _split_row(row, ks.shape[0])
    return tp.astype(np.int64), fp.astype(np.int64), fn.astype(np.int64)


def f1_score(pred: Any, target: Any, *, overlaps: Sequence[float] = (0.1, 0.25, 0.5), background: Any = (),
             protocol: str = "mstcn") -> np.ndarray:
    """Segmental F1@k of one video, in percent (Lea et al., CVPR 2017).

    .. math:: P = \\frac{TP}{TP + FP},\\quad R = \\frac{TP}{TP + FN},\\quad
              F1 = 100 \\cdot \\frac{2PR}{P + R}

    with TP/FP/FN from :func:`segment_stats`; 0/0 gives 0. ``protocol="asrf"`` adds ``1e-7`` to
    the last denominator, ``"fact"`` adds ``1e-5`` to all three. Over a dataset the scripts pool
    TP/FP/FN before this ratio (except MTL-ERA, which averages this per-video value): use
    :class:`SegmentationMetrics` for dataset numbers.

    Returns:
        float64 array, one F1 per overlap.

    Example:
        >>> f1_score([1, 1, 2, 2, 2, 0], [1, 1, 1, 2, 2, 0], background=[0], overlaps=(0.5, 0.9)).tolist()
        [100.0, 0.0]
    """
    tp, fp, fn = segment_stats(pred, target, overlaps=overlaps, background=background, protocol=protocol)
    return _f1_percent(tp, fp, fn, protocol)


# ----------------------------------------------------------------------------------------------
# dataset accumulator


class SegmentationMetrics:
    """Dataset-level accuracy, edit and F1@k for temporal action segmentation, as the official scripts.

    Feed one video or a padded batch at a time with :meth:`update`; :meth:`compute` returns the
    dataset numbers of the chosen ``protocol`` (see the module docstring), in percent. The state
    is one row of sufficient statistics per video (frame counts, edit, TP/FP/FN per overlap), so
    ``merge`` and multi-process evaluation are exact.

    Convention:
        - Frames with ``mask == False`` or with ``target == ignore_index`` are removed before
          anything is computed (ASRF's rule; the runs on both sides of a removed frame join).
        - Under ``torch.distributed``, :meth:`compute` gathers the rows of all ranks. Rows that
          share a video id count once (the first copy), so the duplicates that
          ``DistributedSampler`` pads with do not change the numbers: pass ``video_ids``.
          Rows without an id are never de-duplicated. Sums are exactly rounded (``math.fsum``),
          so the result does not depend on the split or the video order.
        - ``edit`` is the mean of per-video edit scores: one video without any foreground segment
          makes it NaN, as in the scripts, except for ``protocol="fact"``, which skips NaN.
        - ``accuracy_foreground`` is the pooled accuracy over frames whose target is not
          background (FACT's ``Acc``; NaN without foreground frames; equal to ``accuracy`` when
          ``background`` is empty).

    Args:
        overlaps: IoU thresholds for F1 (keys ``f1@{round(100*k)}``).
        background: class ids excluded from segments (see ``actseg.io.background_ids``).
        protocol: one of ``"mstcn"``, ``"asformer"``, ``"asrf"``, ``"fact"``, ``"mtlera"``.
        ignore_index: target value of frames to skip.

    Example:
        >>> m = SegmentationMetrics(background=[0])
        >>> m.update([0, 1, 1, 2, 2], [0, 1, 1, 1, 2], video_ids="v1")
        >>> m.compute()["f1@50"]
        100.0
    """

    def __init__(self, *, overlaps: Sequence[float] = (0.1, 0.25, 0.5), background: Any = (),
                 protocol: str = "mstcn", ignore_index: int = -100) -> None:
        self.protocol = _protocol(protocol)
        self.overlaps = _overlaps(overlaps)
        self._keys = _overlap_keys(self.overlaps)
        self.background = id_set(background, "background")
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"ignore_index: expected an int, got {type(ignore_index).__name__}")
        self.ignore_index = int(ignore_index)
        self.reset()

    def reset(self) -> None:
        """Forget every video seen so far."""
        self._ids: list[Any] = []
        self._rows: list[np.ndarray] = []

    @property
    def num_videos(self) -> int:
        """Number of videos recorded on this process (duplicates included)."""
        return len(self._rows)

    def update(self, pred: Any, target: Any, mask: Any = None, video_ids: Any = None) -> None:
        """Add one video or a padded batch.

        Args:
            pred: ``(T,)`` or ``(B, T)`` integer class ids, or ``(B, K, T)`` class scores (argmax
                over ``K`` is taken), numpy or torch (any device).
            target: ``(T,)`` or ``(B, T)`` integer class ids; ``ignore_index`` marks frames to skip.
            mask: optional bool, same shape as ``target``; ``True`` = valid frame.
            video_ids: one id (``(T,)`` input) or a sequence of ``B`` ids (str or int), used to
                de-duplicate videos when gathering across ranks.

        Raises:
            ValueError: shapes disagree, a video has no valid frame, labels are negative.
            TypeError: non-integer labels or a non-bool mask.
        """
        pred_arr = self._labels_from(pred)
        target_arr = integer_array(target, "target", (1, 2))
        single = target_arr.ndim == 1
        if single:
            target_arr = target_arr[None]
            pred_arr = pred_arr[None] if pred_arr.ndim == 1 else pred_arr
        if pred_arr.shape != target_arr.shape:
            raise ValueError(
                f"pred: expected shape {shape_str(target_arr.shape[1:] if single else target_arr.shape)} "
                f"(as target), got {shape_str(pred_arr.shape[1:] if single else pred_arr.shape)}"
            )
        valid = target_arr != self.ignore_index
        if mask is not None:
            mask_arr = to_numpy(mask, "mask")
            if mask_arr.dtype != np.bool_:
                raise TypeError(f"mask: expected dtype bool, got {mask_arr.dtype}")
            mask_arr = mask_arr[None] if single and mask_arr.ndim == 1 else mask_arr
            if mask_arr.shape != target_arr.shape:
                raise ValueError(
                    f"mask: expected shape {shape_str(target_arr.shape)} (as target), got {shape_str(mask_arr.shape)}"
                )
            valid &= mask_arr
        ids = batch_video_ids(video_ids, target_arr.shape[0], single)
        rows = []
        for b in range(target_arr.shape[0]):
            keep = valid[b]
            p, y = pred_arr[b][keep], target_arr[b][keep]
            where = "" if single else f" (batch element {b})"
            if y.size == 0:
                raise ValueError(f"target: expected at least one valid frame per video, got none{where}")
            check_labels = label_array  # validates >= 0 with the argument's name
            check_labels(p, "pred" + where)
            check_labels(y, "target" + where)
            rows.append(_video_row(p, y, self.background, self.overlaps, self.protocol))
        self._rows.extend(rows)
        self._ids.extend(ids)

    @staticmethod
    def _labels_from(pred: Any) -> np.ndarray:
        if is_tensor(pred) and pred.ndim == 3:
            return to_numpy(pred.argmax(dim=1), "pred").astype(np.int64)
        arr = to_numpy(pred, "pred")
        if arr.ndim == 3:
            if not np.issubdtype(arr.dtype, np.floating):
                raise TypeError(f"pred: expected floating class scores for a 3-D input (B, K, T), got {arr.dtype}")
            return arr.argmax(axis=1).astype(np.int64)
        return integer_array(arr, "pred", (1, 2))


    def merge(self, other: SegmentationMetrics) -> SegmentationMetrics:
        """Add the videos of ``other`` (same configuration) to this accumulator; returns ``self``."""
        if not isinstance(other, SegmentationMetrics):
            raise TypeError(f"other: expected a SegmentationMetrics, got {type(other).__name__}")
        mine = (self.protocol, self.overlaps.tolist(), self.background.tolist(), self.ignore_index)
        theirs = (other.protocol, other.overlaps.tolist(), other.background.tolist(), other.ignore_index)
        if mine != theirs:
            raise ValueError(f"other: expected the configuration {mine}, got {theirs}")
        self._ids.extend(other._ids)
        self._rows.extend(other._rows)
        return self

    def _gathered(self) -> tuple[list[Any], np.ndarray]:
        parts = gather_objects((self._ids, self._rows))
        ids = [vid for part_ids, _ in parts for vid in part_ids]
        rows = [row for _, part_rows in parts for row in part_rows]
        keep = first_occurrences(ids)
        width = _N_FIXED + 3 * self.overlaps.shape[0]
        table = np.stack([rows[i] for i in keep]) if keep else np.zeros((0, width))
        return [ids[i] for i in keep], table

    def compute(self) -> dict[str, float]:
        """Dataset numbers in percent: ``accuracy``, ``accuracy_foreground``, ``edit``, ``f1@{k}``.

        Gathers over ``torch.distributed`` when it is initialised (collective: call on every rank).
        NaN everywhere, with a warning, before any update.
        """
        _, rows = self._gathered()
        keys = ["accuracy", "accuracy_foreground", "edit", *self._keys]
        if rows.shape[0] == 0:
            warnings.warn("SegmentationMetrics.compute() called before any update", UserWarning, stacklevel=2)
            return dict.fromkeys(keys, math.nan)
        k = self.overlaps.shape[0]
        tp, fp, fn = _split_row(rows, k)
        correct, total, fg_correct, fg_total, edit = (rows[:, i] for i in range(_N_FIXED))
        if self.protocol == "mtlera":
            acc = _mean(correct / total) * 100
            f1 = np.array([_mean(col) for col in _f1_percent(tp, fp, fn, self.protocol).T])
        else:
            acc = _percent(correct.sum(), total.sum(), self.protocol)
            f1 = _f1_percent(tp.sum(0), fp.sum(0), fn.sum(0), self.protocol)
        out = {
            "accuracy": float(acc),
            "accuracy_foreground": float(_percent(fg_correct.sum(), fg_total.sum(), self.protocol)),
            "edit": _mean(edit, skip_nan=self.protocol == "fact"),
        }
        out.update({key: float(v) for key, v in zip(self._keys, f1)})
        return out

    def per_video(self) -> list[dict[str, Any]]:
        """One dict per video (after gathering and de-duplication): ``video`` and the numbers of :meth:`compute`.

        Per-video ``f1@{k}`` uses the protocol's formula on that video's TP/FP/FN.
        """
        ids, rows = self._gathered()
        out = []
        f1 = _f1_percent(*_split_row(rows, self.overlaps.shape[0]), self.protocol)
        for vid, row, f1_row in zip(ids, rows, f1):
            record = {
                "video": vid,
                "accuracy": float(_percent(row[0], row[1], self.protocol)),
                "accuracy_foreground": float(_percent(row[2], row[3], self.protocol)),
                "edit": float(row[4]),
            }
            record.update({key: float(v) for key, v in zip(self._keys, f1_row)})
            out.append(record)
        return out

    def __repr__(self) -> str:
        return (
            f"SegmentationMetrics(overlaps={self.overlaps.tolist()}, background={self.background.tolist()}, "
            f"protocol={self.protocol!r}, ignore_index={self.ignore_index}, videos={self.num_videos})"
        )
