"""Peaks of a 1-D score track (boundary probabilities): ASRF ``argrelmax`` and plateau-aware local maxima."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import choice, is_tensor, mask_rows, real, real_rows, renamed

__all__ = ["PEAK_MODES", "PEAK_RULES", "find_peaks", "mask_rows", "real_rows"]

PEAK_RULES = ("plateau", "argrelmax")
PEAK_MODES = PEAK_RULES  # deprecated name (0.1), kept for one minor release


def peak_rule_code(peak_rule: str, name: str = "peak_rule") -> int:
    """The kernel code of a ``peak_rule`` (validated against ``PEAK_RULES``)."""
    from ._refine_kernels import PEAKS_ARGRELMAX, PEAKS_PLATEAU

    choice(peak_rule, PEAK_RULES, name)
    return PEAKS_PLATEAU if peak_rule == "plateau" else PEAKS_ARGRELMAX


def threshold_in(threshold: Any, dtype: np.dtype, name: str = "threshold") -> np.floating:
    """A finite real ``threshold`` rounded to ``dtype`` (numpy compares an array with a Python float in its dtype)."""
    return np.dtype(dtype).type(real(threshold, name))


def peaks_of_rows(rows: np.ndarray, mask: np.ndarray, threshold: Any, peak_rule: str,
                  name: str = "x") -> list[np.ndarray]:
    """Peak positions of each row of a validated ``(B, T)`` float array (one kernel call)."""
    from ._refine_kernels import OK, find_peaks_batch

    code = peak_rule_code(peak_rule)
    thr = threshold_in(threshold, rows.dtype)
    out = np.empty(rows.shape, dtype=np.int64)
    counts = np.zeros(rows.shape[0], dtype=np.int64)
    info = np.zeros(2, dtype=np.int64)
    status = find_peaks_batch(rows, mask, thr, code, out, counts, info)
    if status != OK:
        where = f"frame {info[1]}" if rows.shape[0] == 1 else f"batch element {info[0]}, frame {info[1]}"
        raise ValueError(f"{name}: expected finite values, got NaN at {where}")
    return [out[b, : counts[b]].copy() for b in range(rows.shape[0])]


def find_peaks(x: Any, threshold: float = 0.5, *, peak_rule: str | None = None, mask: Any = None,
               mode: str | None = None) -> Any:
    r"""Frames where a score track (boundary probability) has a local maximum at least ``threshold``.

    ``peak_rule="argrelmax"`` is ASRF's ``argrelmax`` (``libs/metric.py``; Ishikawa et al., "Alleviating
    Over-segmentation Errors by Detecting Action Boundaries", WACV 2021, Sec. 3.3), used by its
    boundary F1 and its boundary refinement:

    .. math:: \tilde x_t = x_t\,[x_t \ge \theta],\qquad
              \mathcal P = \{0\} \cup \{t \in [1, T-2] : \tilde x_{t-1} < \tilde x_t > \tilde x_{t+1}\}

    Frame 0 is always a peak (the start of the first segment), the last frame never is, and a
    plateau of equal values (two adjacent boundary frames, a saturated probability) gives no peak.

    ``peak_rule="plateau"`` (default) keeps every local maximum with ``x_t >= threshold``: a maximal run
    of equal values is one peak, at its centre frame ``(first + last) // 2`` (the rule of
    ``scipy.signal.find_peaks``), when both its neighbours are lower; outside the track counts as
    :math:`-\infty`, so the first/last frame (or a plateau reaching the border, or a constant track)
    can be a peak. The result equals ``scipy.signal.find_peaks(pad(x, -inf), height=threshold)[0] - 1``.

    Convention:
        - The comparison with ``threshold`` happens in the dtype of ``x`` (float32 stays float32,
          as numpy compares an array with a Python float); float16/bfloat16 are compared in float32,
          integers and bool in float64.
        - With ``mask``, the padded frames are removed first: peaks are searched on the valid frames
          as one sequence and reported as positions in the input row.

    Args:
        x: ``(T,)`` or ``(B, T)`` real scores (numpy, torch on any device, or a sequence).
        threshold: finite real number; values below it are never peaks.
        peak_rule: ``"plateau"`` (default) or ``"argrelmax"``.
        mask: optional bool, same shape as ``x``; ``True`` = valid frame.
        mode: deprecated spelling of ``peak_rule`` (0.1; ``DeprecationWarning``).

    Returns:
        ``(T,)`` input: int64 positions in increasing order (a numpy array, or a tensor on ``x``'s
        device for tensor input). ``(B, T)`` input: a list of ``B`` such arrays.

    Raises:
        ValueError: wrong rank, mask shape, NaN in ``x``, non-finite ``threshold``, unknown ``peak_rule``.
        TypeError: complex/object dtype, non-bool mask, non-real threshold.

    Example:
        >>> find_peaks([0.9, 0.2, 0.8, 0.8, 0.1, 0.6], 0.5).tolist()
        [0, 2, 5]
        >>> find_peaks([0.9, 0.2, 0.8, 0.8, 0.1, 0.6], 0.5, peak_rule="argrelmax").tolist()
        [0]

    .. versionchanged:: 0.2.0
        ``mode=`` renamed ``peak_rule=`` (the old spelling warns until the next minor release).
    """
    peak_rule = renamed(peak_rule, mode, new="peak_rule", old="mode", default="plateau")
    choice(peak_rule, PEAK_RULES, "peak_rule")
    rows, single = real_rows(x, "x")
    mask_arr = mask_rows(mask, rows.shape, single)
    peaks = peaks_of_rows(rows, mask_arr, threshold, peak_rule)
    if is_tensor(x):
        import torch

        peaks = [torch.from_numpy(p).to(x.device) for p in peaks]
    return peaks[0] if single else peaks
