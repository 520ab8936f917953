"""Peaks of a 1-D score track (boundary probabilities): ASRF ``argrelmax`` and plateau-aware local maxima."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_choice, is_tensor, shape_str, to_numpy

__all__ = ["PEAK_MODES", "find_peaks"]

PEAK_MODES = ("plateau", "argrelmax")


def real_rows(x: Any, name: str, *, allow_3d: bool = False) -> tuple[np.ndarray, bool]:
    """``x`` as a C-contiguous 2-D float array ``(B, T)`` and whether the input was 1-D.

    float32/float64 keep their dtype (comparisons happen in it, as numpy does with a Python scalar);
    half precision becomes float32; integers and bool become float64. ``(B, 1, T)`` is accepted when
    ``allow_3d`` (ASRF's layout of boundary tracks).
    """
    arr = to_numpy(x, name) if not is_tensor(x) else _tensor_to_numpy(x)
    if allow_3d and arr.ndim == 3:
        if arr.shape[1] != 1:
            raise ValueError(f"{name}: expected shape (T,), (B, T) or (B, 1, T), got {shape_str(arr.shape)}")
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        expected = "(T,), (B, T) or (B, 1, T)" if allow_3d else "(T,) or (B, T)"
        raise ValueError(f"{name}: expected shape {expected}, got {shape_str(arr.shape)}")
    if arr.dtype in (np.float32, np.float64):
        pass
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64)
    elif arr.size == 0 and arr.dtype == np.float64:
        pass
    else:
        raise TypeError(f"{name}: expected a real (float, integer or bool) dtype, got {arr.dtype}")
    single = arr.ndim == 1
    return np.ascontiguousarray(arr[None] if single else arr), single


def _tensor_to_numpy(x: Any) -> np.ndarray:
    x = x.detach()
    if x.dtype.is_floating_point and x.element_size() < 4:  # float16 / bfloat16: numpy has no bfloat16
        x = x.float()
    return x.cpu().numpy()


def mask_rows(mask: Any, shape: tuple[int, int], single: bool, name: str = "mask") -> np.ndarray:
    """``mask`` as a C-contiguous bool ``(B, T)`` array (all True when ``None``); ``(B, 1, T)`` accepted."""
    if mask is None:
        return np.ones(shape, dtype=np.bool_)
    arr = to_numpy(mask, name)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name}: expected dtype bool, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    expected = shape[1:] if single else shape
    if arr.shape != tuple(expected):
        raise ValueError(f"{name}: expected shape {shape_str(expected)}, got {shape_str(arr.shape)}")
    return np.ascontiguousarray(arr[None] if single else arr)


def threshold_value(threshold: Any, dtype: np.dtype, name: str = "threshold") -> np.floating:
    """A finite real threshold rounded to ``dtype`` (numpy compares an array with a Python float in its dtype)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(threshold).__name__}")
    if not math.isfinite(float(threshold)):
        raise ValueError(f"{name}: expected a finite number, got {threshold}")
    return np.dtype(dtype).type(threshold)


def peak_mode_code(mode: str, name: str = "mode") -> int:
    """The kernel code of a peak ``mode`` (validated against ``PEAK_MODES``)."""
    from ._refine_kernels import PEAKS_ARGRELMAX, PEAKS_PLATEAU

    check_choice(mode, PEAK_MODES, name)
    return PEAKS_PLATEAU if mode == "plateau" else PEAKS_ARGRELMAX


def peaks_of_rows(rows: np.ndarray, mask: np.ndarray, threshold: Any, mode: str, name: str = "x") -> list[np.ndarray]:
    """Peak positions of each row of a validated ``(B, T)`` float array (one kernel call)."""
    from ._refine_kernels import OK, find_peaks_batch

    code = peak_mode_code(mode)
    thr = threshold_value(threshold, rows.dtype)
    out = np.empty(rows.shape, dtype=np.int64)
    counts = np.zeros(rows.shape[0], dtype=np.int64)
    info = np.zeros(2, dtype=np.int64)
    status = find_peaks_batch(rows, mask, thr, code, out, counts, info)
    if status != OK:
        where = f"frame {info[1]}" if rows.shape[0] == 1 else f"batch element {info[0]}, frame {info[1]}"
        raise ValueError(f"{name}: expected finite values, got NaN at {where}")
    return [out[b, : counts[b]].copy() for b in range(rows.shape[0])]


def find_peaks(x: Any, threshold: float = 0.5, *, mode: str = "plateau", mask: Any = None) -> Any:
    """Frames where a score track (boundary probability) has a local maximum at least ``threshold``.

    ``mode="argrelmax"`` is ASRF's ``argrelmax`` (``libs/metric.py``; Ishikawa et al., "Alleviating
    Over-segmentation Errors by Detecting Action Boundaries", WACV 2021, Sec. 3.3), used by its
    boundary F1 and its boundary refinement:

    .. math:: \\tilde x_t = x_t\\,[x_t \\ge \\theta],\\qquad
              \\mathcal P = \\{0\\} \\cup \\{t \\in [1, T-2] : \\tilde x_{t-1} < \\tilde x_t > \\tilde x_{t+1}\\}

    Frame 0 is always a peak (the start of the first segment), the last frame never is, and a
    plateau of equal values (two adjacent boundary frames, a saturated probability) gives no peak.

    ``mode="plateau"`` (default) keeps every local maximum with ``x_t >= threshold``: a maximal run
    of equal values is one peak, at its centre frame ``(first + last) // 2`` (the rule of
    ``scipy.signal.find_peaks``), when both its neighbours are lower; outside the track counts as
    :math:`-\\infty`, so the first/last frame (or a plateau reaching the border, or a constant track)
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
        mode: ``"plateau"`` or ``"argrelmax"``.
        mask: optional bool, same shape as ``x``; ``True`` = valid frame.

    Returns:
        ``(T,)`` input: int64 positions in increasing order (a numpy array, or a tensor on ``x``'s
        device for tensor input). ``(B, T)`` input: a list of ``B`` such arrays.

    Raises:
        ValueError: wrong rank, mask shape, NaN in ``x``, non-finite ``threshold``, unknown ``mode``.
        TypeError: complex/object dtype, non-bool mask, non-real threshold.

    Example:
        >>> find_peaks([0.9, 0.2, 0.8, 0.8, 0.1, 0.6], 0.5).tolist()
        [0, 2, 5]
        >>> find_peaks([0.9, 0.2, 0.8, 0.8, 0.1, 0.6], 0.5, mode="argrelmax").tolist()
        [0]
    """
    check_choice(mode, PEAK_MODES, "mode")
    rows, single = real_rows(x, "x")
    mask_arr = mask_rows(mask, rows.shape, single)
    peaks = peaks_of_rows(rows, mask_arr, threshold, mode)
    if is_tensor(x):
        import torch

        peaks = [torch.from_numpy(p).to(x.device) for p in peaks]
    return peaks[0] if single else peaks
