r"""RTK keypoints -> segments: watershed peaks (§3.2) and rule-based re-assembly (§3.3, Eq. (6a)-(6d)).

Jiang, Jin, Tan and Mu, "Video Action Segmentation via Contextually Refined Temporal Keypoints"
(RTK, ICCV 2023; equation map in ``docs/papers/rtk.md``). The two functions compose: :func:`watershed_peaks` returns one
:class:`Keypoints` per video, which is the input format of :func:`reassemble`.
"""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Any, NamedTuple

import numpy as np

from .._checks import (
    MAX_SIZE,
    check_labels_nonnegative,
    integer_array,
    integer_sequence,
    is_tensor,
    like_inputs,
    mask_rows,
    matching_length,
    probability,
    real_array,
    real_rows,
    shape_str,
    size,
    to_numpy,
    type_name,
    upcast_half_array,
    values_in_range,
)
from ..segments import Segments

__all__ = ["Keypoints", "reassemble", "watershed_peaks"]


class Keypoints(NamedTuple):
    """The keypoints of one video: ``positions`` (int64 frames, increasing), ``scores`` (float64
    confidences) and ``labels`` (int64 class ids, or ``None`` for a category-agnostic heatmap).

    The output of :func:`watershed_peaks` and the input of :func:`reassemble`; a plain tuple
    ``(positions, scores)`` or ``(positions, scores, labels)`` is accepted wherever a ``Keypoints`` is.
    Arrays are numpy, or tensors on the heatmap's device when :func:`watershed_peaks` got a tensor.
    """

    positions: Any
    scores: Any
    labels: Any = None


_I64, _F32, _F64 = np.dtype(np.int64), np.dtype(np.float32), np.dtype(np.float64)
_new = tuple.__new__  # a Keypoints from a 3-tuple, without NamedTuple's argument parsing
_KERNELS = None  # the numba kernels module, imported on first use (numba's import is slow)


def _kernels() -> Any:
    global _KERNELS
    from . import _keypoints_kernels

    _KERNELS = _keypoints_kernels
    return _KERNELS


_NO_MASK = np.ones((1, 1), dtype=np.bool_)  # the kernel's mask argument when there is none (not read)


def _heatmap_rows(heatmap: Any) -> tuple[np.ndarray, int]:
    """``heatmap`` as a C-contiguous float ``(B, C, T)`` array and its input rank (1, 2 or 3)."""
    arr = to_numpy(heatmap, "heatmap")
    if arr.ndim not in (1, 2, 3):
        raise ValueError(f"heatmap: expected shape (T,), (B, T) or (B, C, T), got {shape_str(arr.shape)}")
    shape = {1: (1, 1, *arr.shape), 2: (arr.shape[0], 1, *arr.shape[1:]), 3: arr.shape}[arr.ndim]
    rows, _ = real_rows(upcast_half_array(arr).reshape(math.prod(shape[:-1]), shape[-1]), "heatmap")  # T = 0 too
    return rows.reshape(shape), arr.ndim


def watershed_peaks(heatmap: Any, threshold: float, *, mask: Any = None, max_candidates: int | None = None) -> Any:
    r"""Keypoint candidates of RTK (§3.2): the peaks of the 1-D watershed of a heatmap that reach ``threshold``.

    RTK §3.2: "the heatmaps undergo a watershed algorithm [Vincent & Soille 1991]. All the locally
    maximal peaks that exceed a certain threshold are marked as candidates of boundary or action
    keypoints." Immersion of the inverted heatmap :math:`-h` floods one catchment basin from each
    regional minimum of :math:`-h`, i.e. from each *regional maximum* of :math:`h` (a maximal run of
    equal values whose two neighbours are lower; outside the track counts as :math:`-\infty`), and in
    1-D the watershed lines fall on the regional minima of :math:`h` between two such runs. Every
    basin therefore holds exactly one peak, its regional maximum, and the candidates are

    .. math:: \mathcal P = \{\, \lfloor (a + e)/2 \rfloor : h_a = \dots = h_e \ge \theta,\
              h_{a-1} < h_a,\ h_{e+1} < h_e \,\}

    which one linear scan finds (no sort of the frames by level is needed in 1-D). A plateau
    ``[a, e]`` gives one candidate at its centre frame ``(a + e) // 2`` (the rule of
    ``scipy.signal.find_peaks``; the same peaks as ``find_peaks(..., peak_rule="plateau")``), so
    the result is deterministic.

    Convention:
        - ``heatmap`` holds probabilities: every valid value must lie in ``[0, 1]`` (a ``ValueError``
          names the first one that does not, NaN included). RTK's action heatmap is the product of
          Eq. (2), ``Ŷ^c = Ŷ^cl · Ŷ^cc``: ``sigmoid(action_logits)[:, None] * softmax(category_logits, 1)``.
        - ``(B, C, T)``: each channel is a separate track and its index is the candidate's ``label``.
        - ``mask``: padded frames are removed first (their values are not read); peaks are searched
          on the valid frames as one sequence and reported as frames of the input row.
        - ``max_candidates``: at most this many candidates per video (all channels together), the
          highest scores; ties go to the earlier frame, then the lower label. RTK caps the candidates
          at :math:`N_{max} = \alpha T` with :math:`\alpha = 0.1` (§4.5, Table 4): pass
          ``max_candidates=max(1, int(0.1 * T))``. ``None`` (default): no cap.
        - Candidates of a video are in increasing position (then label) order; scores are the
          heatmap values at the peaks (float64); no candidate gives empty arrays.

    Args:
        heatmap: ``(T,)``, ``(B, T)`` (boundary or action-localisation heatmap ``Ŷ^b``, ``Ŷ^cl``) or
            ``(B, C, T)`` (class heatmaps ``Ŷ^c``), real values in ``[0, 1]`` (numpy, torch, sequence).
        threshold: the cut-off in ``[0, 1]``; a peak needs ``h >= threshold`` (RTK §4.1: 0.4 for
            action points, 0.2 for boundary points).
        mask: optional ``(B, T)`` bool (``(T,)`` for a 1-D heatmap), ``True`` = valid frame.
        max_candidates: optional integer ``>= 1``, the cap per video.

    Returns:
        ``(T,)`` input: one :class:`Keypoints`; batched input: a list of ``B`` of them. ``labels`` is
        ``None`` unless the heatmap is ``(B, C, T)``. Tensors on ``heatmap``'s device for tensor input.

    Raises:
        ValueError: wrong rank, a valid value outside ``[0, 1]`` or NaN, ``threshold`` outside
            ``[0, 1]``, a mask of the wrong shape, ``max_candidates < 1``.
        TypeError: complex/object dtype, a non-bool mask, a non-integer ``max_candidates``.

    Example:
        >>> kp = watershed_peaks([0.1, 0.9, 0.9, 0.2, 0.6, 0.3, 0.7], 0.5)
        >>> kp.positions.tolist(), kp.scores.tolist(), kp.labels
        ([1, 4, 6], [0.9, 0.6, 0.7], None)
        >>> watershed_peaks([[0.1, 0.9, 0.9, 0.2, 0.6, 0.3, 0.7]], 0.5, max_candidates=2)[0].positions.tolist()
        [1, 6]
    """
    k = _KERNELS or _kernels()
    if type(heatmap) is np.ndarray and (heatmap.dtype is _F64 or heatmap.dtype is _F32) and heatmap.size:
        # numpy float32/float64 (the common case): the same checks without the conversions
        ndim = heatmap.ndim
        if ndim == 3:
            h = heatmap
        elif ndim == 2:
            h = heatmap.reshape(heatmap.shape[0], 1, heatmap.shape[1])
        elif ndim == 1:
            h = heatmap.reshape(1, 1, heatmap.shape[0])
        else:
            h, ndim = _heatmap_rows(heatmap)  # raises the rank error
        if not h.flags.c_contiguous:
            h = np.ascontiguousarray(h)
    else:
        h, ndim = _heatmap_rows(heatmap)
    if type(threshold) is float and 0.0 <= threshold <= 1.0:
        thr = h.dtype.type(threshold)
    else:
        thr = h.dtype.type(probability(threshold, "threshold"))
    if max_candidates is None:
        cap = -1
    elif type(max_candidates) is int and 1 <= max_candidates <= MAX_SIZE:
        cap = max_candidates
    else:
        cap = size(max_candidates, "max_candidates")
    batch, channels, length = h.shape
    if mask is None:
        mask_arr, has_mask = _NO_MASK, False
    else:
        mask_arr, has_mask = mask_rows(mask, (batch, length), ndim == 1), True
    width = channels * ((length + 1) // 2)
    if 0 <= cap < width:
        width = cap
    ints = np.empty((2, batch, width), dtype=np.int64)  # positions, labels
    scores = np.empty((batch, width), dtype=np.float64)
    info = np.empty(batch + 3, dtype=np.int64)  # counts per video, then (video, channel, frame) of an error
    status = k.watershed_batch(h, mask_arr, has_mask, thr, cap, ints, scores, info)
    if status:
        b, c, t = (int(i) for i in info[batch:])
        where = (b, c, t) if ndim == 3 else (b, t) if ndim == 2 else t
        value = "NaN" if status == k.ERR_NAN else repr(float(h[b, c, t]))
        raise ValueError(f"heatmap: expected probabilities in [0, 1], got {value} at index {where}")
    if type(heatmap) is np.ndarray or not is_tensor(heatmap):  # numpy out: views of the outputs, no copies
        if ndim == 1:
            n = int(info[0])
            return _new(Keypoints, (ints[0, 0, :n], scores[0, :n], None))
        return [_new(Keypoints, (ints[0, b, :n], scores[b, :n], ints[1, b, :n] if ndim == 3 else None))
                for b, n in enumerate(info[:batch].tolist())]
    out = []
    for b in range(batch):
        n = int(info[b])
        fields = like_inputs((ints[0, b, :n], scores[b, :n], ints[1, b, :n]), heatmap)
        out.append(Keypoints(fields[0], fields[1], fields[2] if ndim == 3 else None))
    return out[0] if ndim == 1 else out


def _typed_points(value: Any, *, labelled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One video's point set as it is, when it is a :class:`Keypoints` or tuple of 1-D numpy arrays that
    already have the kernel's dtypes (int64, float64, int64) and matching lengths (the output of
    :func:`watershed_peaks`); else ``None`` (:func:`_points` converts and checks it). Values are not
    checked here: the kernel checks them and the caller falls back to :func:`_points` to name an error."""
    if (type(value) is not Keypoints and type(value) is not tuple) or not 2 <= len(value) <= 3:
        return None
    pos, scores = value[0], value[1]
    if (type(pos) is not np.ndarray or pos.dtype is not _I64 or pos.ndim != 1 or type(scores) is not np.ndarray
            or scores.dtype is not _F64 or scores.shape != pos.shape):
        return None
    if not labelled:
        return pos, scores, pos[:0]
    labels = value[2] if len(value) == 3 else None
    if type(labels) is not np.ndarray or labels.dtype is not _I64 or labels.shape != pos.shape:
        return None
    return pos, scores, labels


def _points(value: Any, name: str, *, labelled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One video's point set (a :class:`Keypoints` or a tuple) as int64 positions, float64 scores >= 0
    and int64 labels >= 0 (zeros when not ``labelled``)."""
    if not isinstance(value, tuple) or len(value) not in (2, 3):
        raise TypeError(f"{name}: expected a Keypoints or a tuple (positions, scores[, labels]), "
                        f"got {type_name(value)}")
    pos = integer_array(value[0], f"{name}.positions", 1)
    n = pos.shape[0]
    scores = matching_length(real_array(value[1], f"{name}.scores", 1, dtype=np.float64), n,
                             f"{name}.scores", "one per point")
    values_in_range(scores, f"{name}.scores", low=0.0)
    labels_value = value[2] if len(value) == 3 else None
    if not labelled:
        return pos, scores, np.zeros(n, dtype=np.int64)
    if labels_value is None:
        raise ValueError(f"{name}.labels: expected the class ids of the action points, got None (use the "
                         "(B, C, T) class heatmaps in watershed_peaks, or give (positions, scores, labels))")
    labels = matching_length(integer_array(labels_value, f"{name}.labels", 1), n, f"{name}.labels", "one per point")
    check_labels_nonnegative(labels, f"{name}.labels")
    return pos, scores, labels


def _reassemble_typed(k: Any, action_points: Any, boundary_points: Any, length: int) -> Any:
    """:func:`reassemble` of one video whose point sets pass :func:`_typed_points`, or ``None`` (not
    typed, or a value the kernel rejects: the caller's general path then converts, checks and names it)."""
    a = _typed_points(action_points, labelled=True)
    b = _typed_points(boundary_points, labelled=False) if a is not None else None
    if b is None:
        return None
    ints = np.empty((3, a[0].shape[0]), dtype=np.int64)  # starts, ends, labels
    scores = np.empty(a[0].shape[0], dtype=np.float64)
    n = k.reassemble_one(a[0], a[1], a[2], b[0], b[1], length, ints, scores)
    if n < 0:
        return None
    seg = Segments.__new__(Segments)  # filled with the kernel's output, valid by construction
    seg.starts, seg.ends, seg.labels, seg.scores = ints[0, :n], ints[1, :n], ints[2, :n], scores[:n]
    return seg


def reassemble(action_points: Any, boundary_points: Any, length: Any) -> Any:
    r"""RTK's rule-based re-assembly (§3.3, Eq. (6a)-(6d)): action and boundary keypoints -> segments of ``[0, T)``.

    With the action points :math:`S_0 = \{(d_i, c_i)\}` and boundary points :math:`S_1 = \{b_j\}`
    sorted by time, the output satisfies (0-based, half-open, ``T = length``)

    .. math::
        N_0 + 1 = N_1 \ \text{(6a)},\qquad b_1 = 0,\ b_{N_1} = T \ \text{(6b)},\qquad
        b_i \le d_i < b_{i+1} \ \text{(6c)},\qquad c_i \ne c_{i+1} \ \text{(6d)}

    built in the paper's four steps:

    (i) the action points between two adjacent boundary points (``b ≤ d < b'``; the implicit
        boundaries 0 and ``T`` of Eq. (6b) included) merge into one: confidence-weighted position,
        the label and score of the most confident point;
    (ii) the boundary points between two adjacent (merged) action points (``d < b ≤ d'``) merge into
         one at their confidence-weighted mean frame, rounded half up; boundary points before the
         first or after the last action point merge into ``b_1 = 0`` / ``b_{N_1} = T`` (Eq. (6b));
    (iii) adjacent action points with equal labels merge (Eq. (6d)): the boundary between them is
          removed and the more confident point kept;
    (iv) segment ``i`` is ``[b_i, b_{i+1})`` with label ``c_i`` and score the confidence of its point.

    Every segment is non-empty and they tile ``[0, T)`` with differing neighbours by construction: a
    merged boundary lies in ``[min, max]`` of the frames it merges, which all lie in ``(d_i, d_{i+1}]``.
    The merged action positions of step (i) stay between the same two boundaries, so they never
    move a segment edge and are not returned.

    Convention:
        - Input format: one video's ``action_points`` is a :class:`Keypoints` (or a tuple
          ``(positions, scores, labels)``), e.g. ``watershed_peaks(class_heatmaps, ...)``;
          ``boundary_points`` is a :class:`Keypoints` or ``(positions, scores)`` (labels ignored), e.g.
          ``watershed_peaks(boundary_heatmap, ...)``. Positions are integer frames; scores are
          confidences ``>= 0`` (weights; all-zero weights give the plain mean); labels ``>= 0``.
        - A boundary point at frame ``b`` is the first frame of a new segment. Train with
          ``boundary_heatmap(..., end="exclusive")`` for that meaning; with ``end="last"`` two
          neighbouring keypoints ``e − 1`` and ``e`` form one plateau whose centre is ``e − 1``.
        - Points outside ``[0, T)`` are dropped (padding of a batch), as are boundary points at
          frame 0 (the implicit ``b_1``). Input order does not matter; ties are broken
          deterministically (equal confidences: the earlier point, then the lower label).
        - No action point in ``[0, T)``: nothing gives a label, and the result is empty
          (``Segments`` of length 0; ``seg.to_labels(T, fill=background)`` fills the video).

    Args:
        action_points: one video's action points, or a list of ``B`` of them (a batch).
        boundary_points: one video's boundary points, or a list of ``B`` of them.
        length: the number of frames ``T >= 1``; for a batch an integer (all videos) or ``B`` of them
            (e.g. ``mask.sum(1)`` of a padded batch).

    Returns:
        One :class:`actseg.segments.Segments` (int64 frames, int64 labels, float64 scores), or a list of
        ``B`` of them for a batch.

    Raises:
        ValueError: NaN, infinite or negative scores, negative labels, missing action labels, lengths of
            positions/scores/labels that differ, batch sizes that differ, ``length < 1``.
        TypeError: a point set that is not a tuple, non-integer positions or labels, non-integer length.

    Example:
        >>> seg = reassemble(([2, 3, 8], [0.9, 0.5, 0.8], [1, 2, 2]), ([5, 6, 9], [0.4, 0.6, 1.0]), 12)
        >>> seg.starts.tolist(), seg.ends.tolist(), seg.labels.tolist(), seg.scores.tolist()
        ([0, 6], [6, 12], [1, 2], [0.9, 0.8])
    """
    k = _KERNELS or _kernels()
    if type(length) is int and 1 <= length <= MAX_SIZE:
        # numpy point sets with the kernel's dtypes (the output of watershed_peaks), one kernel call per
        # video: the kernel checks the values; if it rejects one, the general path below names it
        if type(action_points) is not list:
            seg = _reassemble_typed(k, action_points, boundary_points, length)
            if seg is not None:
                return seg
        elif type(boundary_points) is list and len(boundary_points) == len(action_points):
            out = []
            for a, b in zip(action_points, boundary_points):
                seg = _reassemble_typed(k, a, b, length)
                if seg is None:
                    break
                out.append(seg)
            else:
                return out
    batched = isinstance(action_points, list)
    if batched != isinstance(boundary_points, list):
        raise TypeError(f"boundary_points: expected {'a list (a batch, as action_points)' if batched else 'one video'}"
                        f", got {type_name(boundary_points)}")
    acts = action_points if batched else [action_points]
    bnds = boundary_points if batched else [boundary_points]
    if len(bnds) != len(acts):
        raise ValueError(f"boundary_points: expected {len(acts)} videos (as action_points), got {len(bnds)}")
    if batched:
        if isinstance(length, (int, np.integer)):
            lengths = np.full(len(acts), size(length, "length"), dtype=np.int64)
        else:
            lengths = integer_sequence(length, "length", low=1)
        if lengths.shape[0] != len(acts):
            raise ValueError(f"length: expected an integer or {len(acts)} of them (one per video), "
                             f"got {lengths.shape[0]}")
    else:
        lengths = np.array([size(length, "length")], dtype=np.int64)
    where = (lambda v: f"[{v}]") if batched else (lambda v: "")
    a = [_points(p, f"action_points{where(v)}", labelled=True) for v, p in enumerate(acts)]
    b = [_points(p, f"boundary_points{where(v)}", labelled=False) for v, p in enumerate(bnds)]
    a_off = np.array([0, *accumulate(p[0].shape[0] for p in a)], dtype=np.int64)
    b_off = np.array([0, *accumulate(p[0].shape[0] for p in b)], dtype=np.int64)

    def flat(parts: list, i: int, dtype: Any) -> np.ndarray:
        if len(parts) == 1:
            return np.ascontiguousarray(parts[0][i])
        return np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=dtype)

    total = int(a_off[-1])
    ints = np.empty((3, total), dtype=np.int64)  # starts, ends, labels
    scores = np.empty(total, dtype=np.float64)
    counts = k.reassemble_batch(flat(a, 0, np.int64), flat(a, 1, np.float64), flat(a, 2, np.int64), a_off,
                                flat(b, 0, np.int64), flat(b, 1, np.float64), b_off, lengths, ints, scores)
    out = []
    for lo, n in zip(a_off.tolist(), counts.tolist()):
        seg = Segments.__new__(Segments)  # filled with the kernel's output, valid by construction
        seg.starts, seg.ends, seg.labels = ints[0, lo:lo + n], ints[1, lo:lo + n], ints[2, lo:lo + n]
        seg.scores = scores[lo:lo + n]
        out.append(seg)
    return out if batched else out[0]
