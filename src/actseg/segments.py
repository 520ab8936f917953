"""Frame labels <-> segments: the one vocabulary every actseg module shares.

Convention: time is 0-based; a segment is half-open ``[start, end)``. Frame segments (action
segmentation) are int64; localization segments may be float64 (for example seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import (
    elements,
    finite_values,
    id_set,
    index_value,
    instance_of,
    integer_array,
    is_tensor,
    ordered_rows,
    real_array,
    shape_str,
    size,
    tensor,
)

__all__ = ["Segments", "labels_to_segments", "segment_iou", "segments_to_labels"]


class Segments:
    """The segments of one video: ``starts``, ``ends`` (half-open ``[start, end)``), ``labels``, ``scores``.

    All fields are 1-D numpy arrays of equal length ``N``. ``starts``/``ends`` are int64 when both
    inputs are integers (frames, for segmentation; an empty list counts as integers) and float64
    otherwise (for example seconds, for localization; an empty float array or tensor stays float64);
    ``labels`` are int64 class ids; ``scores`` (optional, float64) are confidences.

    Args:
        starts: ``(N,)`` first frame (or time) of each segment.
        ends: ``(N,)`` one past the last frame of each segment; ``end > start`` is required.
        labels: ``(N,)`` integer class ids.
        scores: ``(N,)`` optional confidences (required by detection metrics).

    Raises:
        ValueError: lengths differ, an ``end <= start``, a NaN or infinite boundary, a NaN score, or an
            array is not 1-D (infinite scores are left to the metrics, which reject them by name).
        TypeError: labels are not integers.

    Example:
        >>> seg = Segments([0, 5], [5, 9], [2, 1])
        >>> len(seg), seg.to_labels(10, fill=-1).tolist()
        (2, [2, 2, 2, 2, 2, 1, 1, 1, 1, -1])
    """

    __slots__ = ("ends", "labels", "scores", "starts")

    def __init__(self, starts: Any, ends: Any, labels: Any, scores: Any = None) -> None:
        starts_arr = _boundary_array(starts, "starts")
        ends_arr = _boundary_array(ends, "ends")
        labels_arr = integer_array(labels, "labels", 1)
        n = starts_arr.shape[0]
        for name, arr in (("ends", ends_arr), ("labels", labels_arr)):
            if arr.shape[0] != n:
                raise ValueError(f"{name}: expected length {n} (as starts), got {arr.shape[0]}")
        if starts_arr.dtype != ends_arr.dtype:
            starts_arr = starts_arr.astype(np.float64)
            ends_arr = ends_arr.astype(np.float64)
        bad = np.flatnonzero(~(ends_arr > starts_arr))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"ends: expected end > start for every segment, got start={starts_arr[i]}, end={ends_arr[i]} "
                f"at index {i}"
            )
        scores_arr = None
        if scores is not None:
            scores_arr = real_array(scores, "scores", 1, dtype=np.float64, finite=False)  # ±inf: the metrics decide
            if np.isnan(scores_arr).any():  # the 0.1 message, which callers match
                index = int(np.isnan(scores_arr).argmax())
                raise ValueError(f"scores: expected finite values, got NaN at index {index}")
            if scores_arr.shape != (n,):
                raise ValueError(f"scores: expected shape ({n},), got {shape_str(scores_arr.shape)}")
        self.starts = starts_arr
        self.ends = ends_arr
        self.labels = labels_arr
        self.scores = scores_arr

    @classmethod
    def empty(cls, *, scores: bool = False, dtype: Any = np.int64) -> Segments:
        """No segments (``len() == 0``) with boundaries of ``dtype``; an empty ``scores`` array when ``scores=True``."""
        out = cls.__new__(cls)
        out.starts = np.zeros(0, dtype=dtype)
        out.ends = np.zeros(0, dtype=dtype)
        out.labels = np.zeros(0, np.int64)
        out.scores = np.zeros(0) if scores else None
        return out

    @property
    def lengths(self) -> np.ndarray:
        """``ends - starts`` per segment."""
        return self.ends - self.starts

    def to_array(self) -> np.ndarray:
        """``(N, 2)`` array of ``[start, end)`` rows, the input layout of :func:`segment_iou`."""
        return np.stack([self.starts, self.ends], axis=1)

    def to_labels(self, length: int, fill: int = -1) -> np.ndarray:
        """Frame labels of length ``length``; see :func:`segments_to_labels`."""
        return segments_to_labels(self, length, fill=fill)

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def __getitem__(self, index: Any) -> Segments:
        """Select segments with an int, a slice, an index array or a boolean mask (always a ``Segments``)."""
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for {n} segments")
            index = slice(index, index + 1 if index != -1 else None)
        out = Segments.__new__(Segments)
        out.starts = np.atleast_1d(self.starts[index])
        out.ends = np.atleast_1d(self.ends[index])
        out.labels = np.atleast_1d(self.labels[index])
        out.scores = None if self.scores is None else np.atleast_1d(self.scores[index])
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segments):
            return NotImplemented
        same_scores = (self.scores is None and other.scores is None) or (
            self.scores is not None and other.scores is not None and np.array_equal(self.scores, other.scores)
        )
        return (
            np.array_equal(self.starts, other.starts)
            and np.array_equal(self.ends, other.ends)
            and np.array_equal(self.labels, other.labels)
            and same_scores
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        rows = [f"[{s}, {e}) label={lab}" for s, e, lab in zip(self.starts[:5], self.ends[:5], self.labels[:5])]
        more = f", ... ({len(self)} total)" if len(self) > 5 else ""
        scores = "" if self.scores is None else ", with scores"
        return f"Segments({'; '.join(rows)}{more}{scores})"


def _boundary_array(x: Any, name: str) -> np.ndarray:
    """Segment boundaries: int64 for integers (and an empty list), float64 otherwise (an empty float array
    or tensor included, so a video without segments keeps the dtype of the others); finite, 1-D."""
    arr = real_array(x, name, 1)
    if arr.size == 0:
        floating = (isinstance(x, np.ndarray) or is_tensor(x)) and arr.dtype.kind == "f"
        return arr.astype(np.float64 if floating else np.int64)
    if arr.dtype.kind in "iu":
        return integer_array(arr, name)
    return arr.astype(np.float64, copy=False)


def runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of every run of equal values in a non-empty 1-D array."""
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [labels.shape[0]]))
    return starts, ends


def labels_to_segments(labels: Any, background: Any = ()) -> Segments:
    """Turn frame labels into segments: every maximal run of one class is a segment.

    Runs of a class in ``background`` are dropped. This is the segment extraction of the MS-TCN
    evaluation script (``get_labels_start_end_time``, Lea et al. 2017) with the last segment ending
    at ``T`` (half-open). Vectorised: no per-frame Python loop.

    Args:
        labels: ``(T,)`` integer frame labels (numpy array, tensor or sequence), ``T >= 1``.
        background: class ids whose runs are not segments.

    Returns:
        :class:`Segments` (int64 frames), in temporal order.

    Example:
        >>> s = labels_to_segments([0, 0, 3, 3, 3, 0, 1], background=[0])
        >>> s.starts.tolist(), s.ends.tolist(), s.labels.tolist()
        ([2, 6], [5, 7], [3, 1])
    """
    arr = integer_array(labels, "labels", 1)
    if arr.size == 0:
        raise ValueError("labels: expected a non-empty sequence of frame labels, got length 0")
    bg = id_set(background, "background")
    starts, ends = runs(arr)
    run_labels = arr[starts]
    keep = ~np.isin(run_labels, bg) if bg.size else slice(None)
    return Segments(starts[keep], ends[keep], run_labels[keep])


def segments_to_labels(segments: Segments, length: int, fill: int = -1) -> np.ndarray:
    """Paint segments into a ``(length,)`` int64 frame-label array; frames no segment covers get ``fill``.

    Where segments overlap, the one later in ``segments`` wins. Vectorised (no per-frame loop).

    Args:
        segments: integer-frame :class:`Segments` with ``0 <= start`` and ``end <= length``.
        length: number of frames ``T``.
        fill: label of uncovered frames (for example the background id).

    Raises:
        TypeError: ``segments`` is not a ``Segments`` or has non-integer boundaries.
        ValueError: a segment lies outside ``[0, length)``.
    """
    instance_of(segments, Segments, "segments")
    length = size(length, "length", low=0)
    fill = index_value(fill, "fill")
    if not np.issubdtype(segments.starts.dtype, np.integer):
        raise TypeError(f"segments: expected integer frame boundaries, got dtype {segments.starts.dtype}")
    out = np.full(length, fill, dtype=np.int64)
    n = len(segments)
    if n == 0:
        return out
    starts, ends = segments.starts, segments.ends
    if starts.min() < 0 or ends.max() > length:
        raise ValueError(
            f"segments: expected every segment inside [0, {length}), got starts.min()={starts.min()}, "
            f"ends.max()={ends.max()}"
        )
    lengths = ends - starts
    seg_id = np.repeat(np.arange(n), lengths)
    frames = np.arange(seg_id.shape[0]) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
    order = np.argsort(starts, kind="stable")
    disjoint = bool(np.all(starts[order][1:] >= ends[order][:-1]))
    if disjoint:
        out[frames] = segments.labels[seg_id]
    else:
        owner = np.full(int(length), -1, dtype=np.int64)
        np.maximum.at(owner, frames, seg_id)
        covered = owner >= 0
        out[covered] = segments.labels[owner[covered]]
    return out


def segment_iou(a: Any, b: Any) -> Any:
    r"""Pairwise temporal IoU of two sets of half-open segments.

    .. math:: \mathrm{IoU}(a, b) = \frac{\max(0, \min(e_a, e_b) - \max(s_a, s_b))}
              {(e_a - s_a) + (e_b - s_b) - \max(0, \min(e_a, e_b) - \max(s_a, s_b))}

    Args:
        a: ``(N, 2)`` ``[start, end)`` rows (numpy or torch) or a :class:`Segments`.
        b: ``(M, 2)`` rows of the same kind as ``a`` (or a :class:`Segments`).

    Returns:
        ``(N, M)`` IoU in [0, 1]: float64 numpy array for numpy inputs; for tensors, a tensor on
        ``a``'s device in ``a``'s floating dtype (float32 for integer tensors). Two empty segments
        at the same place have IoU 0.

    Raises:
        ValueError: a shape other than ``(N, 2)``, NaN or infinite values, an end before its start.
        TypeError: bool, complex, object or string arrays; a tensor mixed with an array.

    Example:
        >>> segment_iou(np.array([[0, 10]]), np.array([[5, 15], [10, 20]])).tolist()
        [[0.3333333333333333, 0.0]]
    """
    a = a.to_array() if isinstance(a, Segments) else a
    b = b.to_array() if isinstance(b, Segments) else b
    if is_tensor(a) or is_tensor(b):
        return _segment_iou_torch(a, b)
    a = _pair_array(a, "a")
    b = _pair_array(b, "b")
    elements(a.shape[0] * b.shape[0], "a, b", "N·M")
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where(union > 0, iou, 0.0)


def _pair_array(x: Any, name: str) -> np.ndarray:
    arr = real_array(x, name, 2, dtype=np.float64)
    if arr.shape[1] != 2:
        raise ValueError(f"{name}: expected shape (N, 2), got {shape_str(arr.shape)}")
    return ordered_rows(arr, name)


def _segment_iou_torch(a: Any, b: Any) -> Any:
    import torch

    if not (is_tensor(a) and is_tensor(b)):
        raise TypeError(f"a, b: expected both tensors or both numpy arrays, got {type(a).__name__}, {type(b).__name__}")
    for name, x in (("a", a), ("b", b)):
        tensor(x, name, "(N, XY)", dtype="real", sizes={"XY": 2})
        finite_values(x, name)
        ordered_rows(x, name)
    elements(a.shape[0] * b.shape[0], "a, b", "N·M")
    dtype = a.dtype if a.is_floating_point() else torch.get_default_dtype()
    a = a.to(dtype)
    b = b.to(device=a.device, dtype=dtype)
    inter = (torch.minimum(a[:, None, 1], b[None, :, 1]) - torch.maximum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(dtype).tiny), torch.zeros_like(inter))
