"""numba kernels for the TAS metrics: segment runs, segmental edit distance, greedy F1 matching.

One call per video does everything (accuracy counts, edit, TP/FP/FN for every overlap) so that the
Python overhead per video is a single dispatch. Kernels are compiled on first use and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

# Layout of one video's statistics row (float64): see ``row_layout``.
N_FIXED = 5  # correct, total, fg_correct, fg_total, edit


@numba.njit(cache=True, nogil=True)
def _fg_runs(labels, is_bg, short_last, starts, ends, run_labels):  # pragma: no cover - compiled
    """Maximal runs of equal labels that are not background; returns their number."""
    t_len = labels.shape[0]
    n = 0
    run_start = 0
    for t in range(1, t_len + 1):
        if t == t_len or labels[t] != labels[t - 1]:
            lab = labels[t - 1]
            if not is_bg[lab]:
                starts[n] = run_start
                ends[n] = t
                run_labels[n] = lab
                n += 1
            run_start = t
    # MS-TCN2 / ASFormer / ASRF close the last run at the last frame index (T - 1), not at T.
    if short_last and n > 0 and ends[n - 1] == t_len:
        ends[n - 1] = t_len - 1
    return n


@numba.njit(cache=True, nogil=True)
def _levenshtein(p, n, y, m):  # pragma: no cover - compiled
    """Unit-cost edit distance between p[:n] and y[:m] (two-row dynamic programme)."""
    prev = np.arange(m + 1)
    cur = np.empty(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        cur[0] = i
        for j in range(1, m + 1):
            if p[i - 1] == y[j - 1]:
                cur[j] = prev[j - 1]
            else:
                best = prev[j - 1]
                if prev[j] < best:
                    best = prev[j]
                if cur[j - 1] < best:
                    best = cur[j - 1]
                cur[j] = best + 1
        prev, cur = cur, prev
    return prev[m]


@numba.njit(cache=True, nogil=True)
def video_stats(pred, target, background, overlaps, short_last, out):  # pragma: no cover - compiled
    """Fill ``out`` with [correct, total, fg_correct, fg_total, edit, tp[K], fp[K], fn[K]] for one video.

    ``pred``/``target``: int64 (T,), class ids >= 0. ``background``: sorted int64 ids.
    ``overlaps``: float64 (K,) in (0, 1]. ``edit`` is NaN when neither sequence has a segment.
    """
    t_len = target.shape[0]
    max_label = 0
    for t in range(t_len):
        if pred[t] > max_label:
            max_label = pred[t]
        if target[t] > max_label:
            max_label = target[t]
    is_bg = np.zeros(max_label + 1, dtype=np.bool_)
    for b in background:
        if b <= max_label:
            is_bg[b] = True

    correct = 0
    fg_correct = 0
    fg_total = 0
    for t in range(t_len):
        hit = pred[t] == target[t]
        correct += hit
        if not is_bg[target[t]]:
            fg_total += 1
            fg_correct += hit

    p_start = np.empty(t_len, dtype=np.int64)
    p_end = np.empty(t_len, dtype=np.int64)
    p_lab = np.empty(t_len, dtype=np.int64)
    g_start = np.empty(t_len, dtype=np.int64)
    g_end = np.empty(t_len, dtype=np.int64)
    g_lab = np.empty(t_len, dtype=np.int64)
    n_pred = _fg_runs(pred, is_bg, short_last, p_start, p_end, p_lab)
    n_gt = _fg_runs(target, is_bg, short_last, g_start, g_end, g_lab)

    out[0] = correct
    out[1] = t_len
    out[2] = fg_correct
    out[3] = fg_total
    longest = max(n_pred, n_gt)
    if longest == 0:
        out[4] = np.nan
    else:
        distance = _levenshtein(p_lab, n_pred, g_lab, n_gt)
        out[4] = (1.0 - distance / longest) * 100.0

    n_k = overlaps.shape[0]
    hits = np.zeros((n_k, max(n_gt, 1)), dtype=np.bool_)
    tp = np.zeros(n_k, dtype=np.int64)
    fp = np.zeros(n_k, dtype=np.int64)
    gt_ends = g_end[:n_gt]
    for j in range(n_pred):
        ps = p_start[j]
        pe = p_end[j]
        # The reference takes argmax over IoU * [same label] for all GT segments; only GT segments
        # of the same label that overlap (intersection > 0) can reach a positive overlap, and GT
        # runs are sorted and disjoint, so a binary search finds them. First maximum wins ties.
        best = 0.0
        best_idx = -1
        x = np.searchsorted(gt_ends, ps, side="right")
        while x < n_gt and g_start[x] < pe:
            if g_lab[x] == p_lab[j]:
                inter = min(pe, g_end[x]) - max(ps, g_start[x])
                if inter > 0:
                    union = max(pe, g_end[x]) - min(ps, g_start[x])
                    iou = (1.0 * inter) / union
                    if iou > best:
                        best = iou
                        best_idx = x
            x += 1
        for k in range(n_k):
            if best_idx >= 0 and best >= overlaps[k] and not hits[k, best_idx]:
                tp[k] += 1
                hits[k, best_idx] = True
            else:
                fp[k] += 1
    for k in range(n_k):
        out[N_FIXED + k] = tp[k]
        out[N_FIXED + n_k + k] = fp[k]
        out[N_FIXED + 2 * n_k + k] = n_gt - tp[k]
