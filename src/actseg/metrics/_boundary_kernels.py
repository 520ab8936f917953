"""numba kernels for boundary F1: greedy one-to-one matching of boundary positions under a tolerance.

One call per video computes, for every tolerance and every rater, the true positives of the chosen
matching rule and keeps the rater with the best F1 (first on ties), so the Python overhead per video
is a single dispatch. Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

MATCH_GREEDY_GT = 0
MATCH_GREEDY_PRED = 1


@numba.njit(cache=True, nogil=True)
def _tp_greedy_gt(gt, lo, hi, pred, tol, used):  # pragma: no cover - compiled
    """TAPOS / GEBD rule: for each GT boundary in order, the nearest unused prediction (first on ties)
    is a hit when ``|g - p| <= tol``, and is then removed."""
    n_pred = pred.shape[0]
    for j in range(n_pred):
        used[j] = False
    remaining = n_pred
    tp = 0
    for i in range(lo, hi):
        if remaining == 0:
            break
        best = -1
        best_d = 0.0
        for j in range(n_pred):
            if used[j]:
                continue
            d = abs(gt[i] - pred[j])
            if best == -1 or d < best_d:
                best = j
                best_d = d
        if best_d <= tol:
            tp += 1
            used[best] = True
            remaining -= 1
    return tp


@numba.njit(cache=True, nogil=True)
def _tp_greedy_pred(gt, lo, hi, pred, tol, hit):  # pragma: no cover - compiled
    """ASRF rule: for each prediction in order, the nearest GT boundary (first on ties, already hit ones
    included) is a hit when ``|g - p| <= tol`` and it was not hit before; otherwise a false positive."""
    for i in range(lo, hi):
        hit[i - lo] = False
    if hi == lo:
        return 0
    tp = 0
    for j in range(pred.shape[0]):
        best = lo
        best_d = abs(gt[lo] - pred[j])
        for i in range(lo + 1, hi):
            d = abs(gt[i] - pred[j])
            if d < best_d:
                best = i
                best_d = d
        if best_d <= tol and not hit[best - lo]:
            tp += 1
            hit[best - lo] = True
    return tp


@numba.njit(cache=True, nogil=True)
def _f1(tp, num_pos, num_det):  # pragma: no cover - compiled
    """The scripts' per-rater F1, in their operation order (rec = 1 without GT, prec = 0 without detections)."""
    if num_pos == 0:
        rec = 1.0
    else:
        rec = tp / num_pos
    if num_det == 0:
        prec = 0.0
    else:
        prec = tp / num_det
    if rec + prec == 0:
        return 0.0
    return 2 * rec * prec / (rec + prec)


@numba.njit(cache=True, nogil=True)
def video_counts(pred, lo, hi, gt, offsets, tol, matching, out_tp, out_pos, out_rater):  # pragma: no cover
    """Counts of one video for every tolerance; returns the number of kept predictions.

    pred: float64 (P,) predictions in the given order; those outside ``[lo, hi]`` are dropped first
    (order kept). gt: float64, the raters' boundaries concatenated; rater ``r`` is
    ``gt[offsets[r]:offsets[r + 1]]``. tol: float64 (D,) absolute tolerances. For each tolerance the
    rater with the largest F1 (first on ties, ``numpy.argmax``) gives ``out_tp[d]``, ``out_pos[d]``
    (its number of boundaries) and ``out_rater[d]``.
    """
    kept = np.empty(pred.shape[0], dtype=np.float64)
    n_det = 0
    for j in range(pred.shape[0]):
        if pred[j] >= lo and pred[j] <= hi:
            kept[n_det] = pred[j]
            n_det += 1
    kept = kept[:n_det]
    n_raters = offsets.shape[0] - 1
    scratch = np.zeros(max(n_det, gt.shape[0], 1), dtype=np.bool_)
    for d in range(tol.shape[0]):
        best_f1 = -1.0
        for r in range(n_raters):
            a = offsets[r]
            b = offsets[r + 1]
            if matching == MATCH_GREEDY_GT:
                tp = _tp_greedy_gt(gt, a, b, kept, tol[d], scratch)
            else:
                tp = _tp_greedy_pred(gt, a, b, kept, tol[d], scratch)
            f1 = _f1(tp, b - a, n_det)
            if f1 > best_f1:
                best_f1 = f1
                out_tp[d] = tp
                out_pos[d] = b - a
                out_rater[d] = r
    return n_det
