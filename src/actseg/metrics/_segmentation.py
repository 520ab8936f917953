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
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import (
    check_labels_nonnegative,
    choice,
    id_set,
    ignore_set,
    integer_array,
    is_tensor,
    label_array,
    mask_array,
    no_nan,
    real_array,
    shape_str,
    to_numpy,
    values_in_range,
)
from .._distributed import batch_video_ids
from ._accumulator import VideoAccumulator

__all__ = ["PROTOCOLS", "SegmentationMetrics", "accuracy", "edit_score", "f1_score", "segment_stats"]

PROTOCOLS = ("mstcn", "asformer", "asrf", "fact", "mtlera")
_SHORT_LAST_SEGMENT = frozenset({"asformer", "asrf"})
_N_FIXED = 5  # correct, total, fg_correct, fg_total, edit; then tp[K], fp[K], fn[K]


# ----------------------------------------------------------------------------------------------
# argument handling


def _overlaps(overlaps: Any) -> np.ndarray:
    """IoU thresholds in (0, 1] as a non-empty float64 vector (one real number is one threshold)."""
    if isinstance(overlaps, numbers.Real) and not isinstance(overlaps, (bool, np.bool_)):
        overlaps = [overlaps]
    arr = real_array(overlaps, "overlaps", (0, 1), finite=False, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("overlaps: expected at least one IoU threshold, got none")
    return values_in_range(arr, "overlaps", low=0, high=1, low_open=True)


def _overlap_keys(overlaps: np.ndarray) -> list[str]:
    keys = [f"f1@{round(100 * float(k))}" for k in overlaps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"overlaps: thresholds must differ after rounding to percent, got {overlaps.tolist()}")
    return keys


def _protocol(protocol: str) -> str:
    return choice(protocol, PROTOCOLS, "protocol")


def _ignore(ignore_index: Any) -> tuple[np.ndarray, Any]:
    """``ignore_index`` as a sorted id array and as shown (an ``int``, or a tuple for a collection)."""
    ids = ignore_set(ignore_index)
    if isinstance(ignore_index, (int, np.integer)) or (isinstance(ignore_index, np.ndarray) and ignore_index.ndim == 0):
        return ids, int(ids[0])
    return ids, tuple(ids.tolist())


def _kept(target: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """Frames whose target is not ignored (LTContext's ``IGNORED_CLASSES`` and padding rule)."""
    if ignore.size == 1:
        return target != ignore[0]
    return ~np.isin(target, ignore)


def _pair(pred: Any, target: Any, ignore_index: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(T,)`` label arrays of one video, frames whose target is in ``ignore_index`` removed."""
    ignore, shown = _ignore(ignore_index)
    pred_arr = label_array(pred, "pred")
    target_arr = label_array(target, "target", ignore_index=shown)
    if pred_arr.shape != target_arr.shape:
        raise ValueError(
            f"pred: expected the length of target ({target_arr.shape[0]}), got length {pred_arr.shape[0]}"
        )
    keep = _kept(target_arr, ignore)
    if not keep.all():
        pred_arr, target_arr = pred_arr[keep], target_arr[keep]
    return pred_arr, target_arr


def _video_row(pred: np.ndarray, target: np.ndarray, background: np.ndarray, overlaps: np.ndarray,
               protocol: str, with_edit: bool = True) -> np.ndarray:
    from ._tas_kernels import video_stats

    row = np.empty(_N_FIXED + 3 * overlaps.shape[0], dtype=np.float64)
    video_stats(np.ascontiguousarray(pred), np.ascontiguousarray(target), background, overlaps,
                protocol in _SHORT_LAST_SEGMENT, with_edit, row)
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


def accuracy(pred: Any, target: Any, *, ignore_index: Any = -100) -> float:
    r"""Frame-wise accuracy (MoF) of one video, in percent.

    .. math:: \mathrm{Acc} = 100 \cdot \frac{|\{t : \hat y_t = y_t\}|}{T}

    Frames whose target is in ``ignore_index`` are left out first (ASRF ``ScoreMeter``; LTContext's
    ``IGNORED_CLASSES``). Over a dataset the scripts pool frames (``SegmentationMetrics``), they do
    not average this per-video number.

    Args:
        pred: ``(T,)`` predicted class ids (integer numpy array, tensor or sequence).
        target: ``(T,)`` ground-truth class ids, values of ``ignore_index`` allowed.
        ignore_index: an integer or a collection of integers: target values of frames to skip.

    Returns:
        Accuracy in percent; NaN when every frame is ignored.

    Raises:
        ValueError: empty input, lengths differ, negative class ids.
        TypeError: non-integer labels, a non-integer ``ignore_index`` (``bool`` included).

    Example:
        >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2])
        75.0
        >>> accuracy([0, 1, 1, 2], [0, 1, 2, 2], ignore_index={0, 2})
        100.0
    """
    pred_arr, target_arr = _pair(pred, target, ignore_index)
    correct = int(np.count_nonzero(pred_arr == target_arr))
    return _percent(correct, target_arr.shape[0], "mstcn")


def edit_score(pred: Any, target: Any, *, background: Any = (), protocol: str = "mstcn",
               ignore_index: Any = -100) -> float:
    r"""Segmental edit score of one video, in percent (Lea et al., CVPR 2017).

    .. math:: \mathrm{Edit} = \Bigl(1 - \frac{\mathrm{Lev}(P, Y)}{\max(|P|, |Y|)}\Bigr) \cdot 100

    ``P`` and ``Y`` are the class ids of the non-background segments (maximal runs of one class) of
    the prediction and the target; ``Lev`` is the Levenshtein distance with unit insertion,
    deletion and substitution costs, the value of the scripts' dynamic programme, computed
    bit-parallel (Myers 1999) in ``O(|P| |Y| / 64)``. Segment boundaries play no role, so every
    protocol gives the same value (``protocol`` is validated for symmetry with the other functions).

    Args:
        pred: ``(T,)`` predicted class ids.
        target: ``(T,)`` ground-truth class ids.
        background: class ids whose runs are not segments.
        protocol: one of ``PROTOCOLS``.
        ignore_index: an integer or a collection of integers: frames whose target is one of them are
            removed from both sequences first (the runs on both sides join).

    Returns:
        Edit score in percent. **NaN** when neither sequence has a foreground segment: the scripts
        divide 0 by 0 there (ms-tcn, ASFormer, FACT give NaN; ASRF raises ``ZeroDivisionError``).

    Example:
        >>> edit_score([1, 1, 2, 2, 1], [1, 1, 1, 2, 2])
        66.66666666666667
    """
    _protocol(protocol)
    pred_arr, target_arr = _pair(pred, target, ignore_index)
    overlaps = np.array([0.5])
    return float(_video_row(pred_arr, target_arr, id_set(background, "background"), overlaps, protocol)[4])


def segment_stats(pred: Any, target: Any, *, overlaps: Sequence[float] = (0.1, 0.25, 0.5), background: Any = (),
                  protocol: str = "mstcn", ignore_index: Any = -100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""True positives, false positives and false negatives of segmental F1@k for one video.

    The ``f_score`` of the MS-TCN evaluation script: for each predicted segment in temporal order,
    take the ground-truth segment of highest ``IoU · [same class]`` (the first one on ties); it is a
    true positive if that IoU is ``>= k`` and that ground-truth segment is not matched yet,
    otherwise a false positive (no fallback to the second best). ``FN = #GT - #TP``.
    IoU is ``(min(e) - max(s)) / (max(e) - min(s))`` on half-open segments (the hull, which equals
    the union whenever the segments overlap). The edit distance is not computed here.

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
        ignore_index: an integer or a collection of integers: frames whose target is one of them are
            removed from both sequences first.

    Returns:
        ``(tp, fp, fn)``, each an int64 array with one entry per overlap.

    Example:
        >>> tp, fp, fn = segment_stats([1, 1, 2, 2, 2, 0], [1, 1, 1, 2, 2, 0], background=[0])
        >>> tp.tolist(), fp.tolist(), fn.tolist()
        ([2, 2, 2], [0, 0, 0], [0, 0, 0])
    """
    _protocol(protocol)
    ks = _overlaps(overlaps)
    pred_arr, target_arr = _pair(pred, target, ignore_index)
    row = _video_row(pred_arr, target_arr, id_set(background, "background"), ks, protocol, with_edit=False)
    tp, fp, fn = _split_row(row, ks.shape[0])
    return tp.astype(np.int64), fp.astype(np.int64), fn.astype(np.int64)


def f1_score(pred: Any, target: Any, *, overlaps: Sequence[float] = (0.1, 0.25, 0.5), background: Any = (),
             protocol: str = "mstcn", ignore_index: Any = -100) -> np.ndarray:
    r"""Segmental F1@k of one video, in percent (Lea et al., CVPR 2017).

    .. math:: P = \frac{TP}{TP + FP},\quad R = \frac{TP}{TP + FN},\quad
              F1 = 100 \cdot \frac{2PR}{P + R}

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
    tp, fp, fn = segment_stats(pred, target, overlaps=overlaps, background=background, protocol=protocol,
                               ignore_index=ignore_index)
    return _f1_percent(tp, fp, fn, protocol)


# ----------------------------------------------------------------------------------------------
# dataset accumulator


_PRED_LAYOUTS = ("pred: expected (T,) or (B, T) integer class ids, or (B, K, T) floating class scores, got shape "
                 "{shape}; a multi-stage output (S, B, K, T) is not accepted: pass its last stage (out[-1])")


def _labels_from(pred: Any) -> np.ndarray:
    """Frame labels from ``pred``: integer ``(T,)``/``(B, T)`` as they are, ``(B, K, T)`` scores by argmax."""
    arr = pred if is_tensor(pred) else to_numpy(pred, "pred")
    if arr.ndim == 3:
        floating = arr.is_floating_point() if is_tensor(arr) else arr.dtype.kind == "f"
        if not floating:
            raise TypeError(f"pred: expected floating class scores for a 3-D input (B, K, T), got {arr.dtype}")
        no_nan(arr, "pred")  # argmax of a NaN column is silently the NaN's class
        labels = arr.argmax(dim=1) if is_tensor(arr) else arr.argmax(axis=1)
        return to_numpy(labels, "pred").astype(np.int64, copy=False)
    if arr.ndim not in (1, 2):
        raise ValueError(_PRED_LAYOUTS.format(shape=shape_str(arr.shape)))
    return integer_array(arr, "pred", (1, 2))


class SegmentationMetrics(VideoAccumulator):
    """Dataset-level accuracy, edit and F1@k for temporal action segmentation, as the official scripts.

    Feed one video or a padded batch at a time with :meth:`update`; :meth:`compute` returns the
    dataset numbers of the chosen ``protocol`` (see the module docstring), in percent. The state
    is one row of sufficient statistics per video (frame counts, edit, TP/FP/FN per overlap), keyed
    by video id (:class:`~actseg.metrics._accumulator.VideoAccumulator`), so ``merge`` and
    multi-process evaluation are exact.

    Convention:
        - Frames with ``mask == False`` or with a target in ``ignore_index`` are removed before
          anything is computed (ASRF's rule; LTContext's ``IGNORED_CLASSES``; the runs on both
          sides of a removed frame join).
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
        ignore_index: an integer or a collection of integers: target values of frames to skip.

    Example:
        >>> m = SegmentationMetrics(background=[0])
        >>> m.update([0, 1, 1, 2, 2], [0, 1, 1, 1, 2], video_ids="v1")
        >>> m.compute()["f1@50"]
        100.0
    """

    RECORDS = ("rows",)

    def __init__(self, *, overlaps: Sequence[float] = (0.1, 0.25, 0.5), background: Any = (),
                 protocol: str = "mstcn", ignore_index: Any = -100) -> None:
        self.protocol = _protocol(protocol)
        self.overlaps = _overlaps(overlaps)
        self._keys = _overlap_keys(self.overlaps)
        self.background = id_set(background, "background")
        self._ignore, self.ignore_index = _ignore(ignore_index)
        self.reset()

    def _config(self) -> tuple[Any, ...]:
        return (self.protocol, self.overlaps.tolist(), self.background.tolist(), self.ignore_index)

    @property
    def num_videos(self) -> int:
        """Number of videos recorded on this process (duplicates included)."""
        return self._num_records()

    def update(self, pred: Any, target: Any, mask: Any = None, video_ids: Any = None) -> None:
        """Add one video or a padded batch.

        Args:
            pred: ``(T,)`` or ``(B, T)`` integer class ids, or ``(B, K, T)`` floating class scores
                (argmax over ``K``; NaN is rejected), numpy or torch (any device). A multi-stage
                output ``(S, B, K, T)`` is rejected: pass its last stage, ``out[-1]``.
            target: ``(T,)`` or ``(B, T)`` integer class ids; values in ``ignore_index`` mark frames
                to skip.
            mask: optional bool, same shape as ``target``; ``True`` = valid frame.
            video_ids: one id (``(T,)`` input) or a sequence of ``B`` ids (str or int), used to
                de-duplicate videos when gathering across ranks.

        Raises:
            ValueError: shapes disagree, a video has no valid frame, labels are negative, NaN scores.
            TypeError: non-integer labels, non-floating scores or a non-bool mask.
        """
        pred_arr = _labels_from(pred)
        target_arr = integer_array(target, "target", (1, 2))
        given = pred_arr.shape, target_arr.shape  # for the message: the shapes before a video gets its batch axis
        single = target_arr.ndim == 1
        if single:
            target_arr = target_arr[None]
            pred_arr = pred_arr[None] if pred_arr.ndim == 1 else pred_arr
        if pred_arr.shape != target_arr.shape:
            raise ValueError(f"pred: expected shape {shape_str(given[1])} (as target), got {shape_str(given[0])}")
        valid = _kept(target_arr, self._ignore)
        if mask is not None:
            mask_arr = to_numpy(mask, "mask")
            valid &= mask_array(mask_arr[None] if single and mask_arr.ndim == 1 else mask_arr, target_arr.shape)
        ids = batch_video_ids(video_ids, target_arr.shape[0], single)
        rows = []
        for b in range(target_arr.shape[0]):
            keep = valid[b]
            p, y = pred_arr[b][keep], target_arr[b][keep]
            where = "" if single else f" (batch element {b})"
            if y.size == 0:
                raise ValueError(f"target: expected at least one valid frame per video, got none{where}")
            check_labels_nonnegative(p, "pred" + where)
            check_labels_nonnegative(y, "target" + where)
            rows.append(_video_row(p, y, self.background, self.overlaps, self.protocol))
        self._record(ids, rows)

    def _table(self) -> tuple[list[Any], np.ndarray]:
        """Gathered, de-duplicated ids and their rows as one ``(N, width)`` array."""
        state, _ = self._gathered()
        ids, rows = state["rows"]
        width = _N_FIXED + 3 * self.overlaps.shape[0]
        return ids, (np.stack(rows) if rows else np.zeros((0, width)))

    def compute(self) -> dict[str, float]:
        """Dataset numbers in percent: ``accuracy``, ``accuracy_foreground``, ``edit``, ``f1@{k}``.

        Gathers over ``torch.distributed`` when it is initialised (collective: call on every rank).
        NaN everywhere, with a warning, before any update.
        """
        _, rows = self._table()
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
        ids, rows = self._table()
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
