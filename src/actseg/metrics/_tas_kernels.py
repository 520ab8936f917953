"""numba kernels for the TAS metrics: segment runs, segmental edit distance, greedy F1 matching.

One call per video does everything (accuracy counts, edit, TP/FP/FN for every overlap) so that the
Python overhead per video is a single dispatch. Nothing is allocated in proportion to a class id:
background ids are looked up by binary search, and the edit distance works on dense ids of the
segment labels, so the cost depends on the number of frames and segments, never on label values.
Kernels are compiled on first use and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

# Layout of one video's statistics row (float64): see ``video_stats``.
N_FIXED = 5  # correct, total, fg_correct, fg_total, edit

_WORD = 64
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio


@numba.njit(cache=True, nogil=True)
def _is_background(background, label):  # pragma: no cover - compiled
    """``label in background`` for a sorted int64 array (binary search)."""
    i = np.searchsorted(background, label)
    return i < background.shape[0] and background[i] == label


@numba.njit(cache=True, nogil=True)
def _fg_runs(labels, background, short_last, starts, ends, run_labels):  # pragma: no cover - compiled
    """Maximal runs of equal labels that are not background; returns their number."""
    t_len = labels.shape[0]
    n = 0
    run_start = 0
    for t in range(1, t_len + 1):
        if t == t_len or labels[t] != labels[t - 1]:
            lab = labels[t - 1]
            if not _is_background(background, lab):
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
def _dense_ids(a, n, b, m, a_out, b_out):  # pragma: no cover - compiled
    """Relabel ``a[:n]`` and ``b[:m]`` with dense ids ``0..K-1`` (equal labels, equal ids); returns ``K``.

    An open-addressing hash table (Fibonacci hashing, linear probing): no sort, whatever the values.
    """
    bits = 1
    while (1 << bits) < 2 * (n + m):
        bits += 1
    size = 1 << bits
    keys = np.empty(size, dtype=np.int64)
    ids = np.full(size, -1, dtype=np.int64)
    shift = np.uint64(64 - bits)
    mask = size - 1
    k = 0
    for i in range(n + m):
        x = a[i] if i < n else b[i - n]
        slot = np.int64((np.uint64(x) * _FIBONACCI) >> shift)
        while ids[slot] >= 0 and keys[slot] != x:
            slot = (slot + 1) & mask
        if ids[slot] < 0:
            keys[slot] = x
            ids[slot] = k
            k += 1
        if i < n:
            a_out[i] = ids[slot]
        else:
            b_out[i - n] = ids[slot]
    return k


@numba.njit(cache=True, nogil=True)
def _myers_step(pv, mv, eq, hin, last):  # pragma: no cover - compiled
    """One column of one 64-row block (Hyyro 2003, Fig. 5): new ``(pv, mv)`` and the last row's delta."""
    neg = np.uint64(hin < 0)
    xv = eq | mv
    eq |= neg
    xh = (((eq & pv) + pv) ^ pv) | eq
    ph = mv | ~(xh | pv)
    mh = pv & xh
    hout = np.int8((ph & last) != _ZERO) - np.int8((mh & last) != _ZERO)
    ph = (ph << _ONE) | np.uint64(hin > 0)
    mh = (mh << _ONE) | neg
    return mh | ~(xv | ph), ph & xv, hout


@numba.njit(cache=True, nogil=True)
def _block_peq(peq, pattern, top, rows, value):  # pragma: no cover - compiled
    """Set (``value`` True) or clear the match masks of the pattern rows ``[top, top + rows)``."""
    for r in range(rows):
        peq[pattern[top + r]] = (peq[pattern[top + r]] | (_ONE << np.uint64(r))) if value else _ZERO
    return _ONE << np.uint64(rows - 1)


@numba.njit(cache=True, nogil=True)
def levenshtein(p, n, y, m):  # pragma: no cover - compiled
    """Unit-cost edit distance between ``p[:n]`` and ``y[:m]`` (int64 labels, any values).

    Myers' bit-parallel algorithm (Myers, J. ACM 46(3), 1999) in Hyyro's block form (2003), run
    block row by block row: the shorter sequence is cut into blocks of 64 rows; each block sweeps
    the other sequence once and hands the horizontal differences of its last row to the next block
    (two blocks are swept together, one column apart, for instruction-level parallelism). ``O(n m
    / 64)`` time, ``O(n + m)`` memory; the value is exactly the dynamic programme's.
    """
    if n < m:  # rows: the shorter sequence
        p, n, y, m = y, m, p, n
    if m == 0:
        return n
    text = np.empty(n, dtype=np.int64)
    pattern = np.empty(m, dtype=np.int64)
    n_sym = _dense_ids(p, n, y, m, text, pattern)
    peq_a = np.zeros(n_sym, dtype=np.uint64)
    peq_b = np.zeros(n_sym, dtype=np.uint64)
    h = np.ones(n, dtype=np.int8)  # D[top][j] - D[top][j-1] along the row above the block (row 0: +1)
    n_blocks = (m + _WORD - 1) // _WORD
    for blk in range(0, n_blocks, 2):
        top_a = blk * _WORD
        rows_a = min(_WORD, m - top_a)
        last_a = _block_peq(peq_a, pattern, top_a, rows_a, True)
        pv_a = _ALL  # D[i][0] - D[i-1][0] = +1 down column 0
        mv_a = _ZERO
        if blk + 1 < n_blocks:  # block b runs one column behind block a, fed by a's last row
            top_b = top_a + _WORD
            rows_b = min(_WORD, m - top_b)
            last_b = _block_peq(peq_b, pattern, top_b, rows_b, True)
            pv_b = _ALL
            mv_b = _ZERO
            pv_a, mv_a, carry = _myers_step(pv_a, mv_a, peq_a[text[0]], h[0], last_a)
            for j in range(1, n):
                pv_a, mv_a, h_a = _myers_step(pv_a, mv_a, peq_a[text[j]], h[j], last_a)
                pv_b, mv_b, h_b = _myers_step(pv_b, mv_b, peq_b[text[j - 1]], carry, last_b)
                h[j - 1] = h_b
                carry = h_a
            pv_b, mv_b, h_b = _myers_step(pv_b, mv_b, peq_b[text[n - 1]], carry, last_b)
            h[n - 1] = h_b
            _block_peq(peq_b, pattern, top_b, rows_b, False)
        else:
            for j in range(n):
                pv_a, mv_a, h_a = _myers_step(pv_a, mv_a, peq_a[text[j]], h[j], last_a)
                h[j] = h_a
        _block_peq(peq_a, pattern, top_a, rows_a, False)
    score = m
    for j in range(n):
        score += h[j]
    return score


@numba.njit(cache=True, nogil=True)
def video_stats(pred, target, background, overlaps, short_last, with_edit, out):  # pragma: no cover - compiled
    """Fill ``out`` with [correct, total, fg_correct, fg_total, edit, tp[K], fp[K], fn[K]] for one video.

    ``pred``/``target``: int64 (T,), class ids >= 0 (any size). ``background``: sorted int64 ids.
    ``overlaps``: float64 (K,) in (0, 1]. ``edit`` is NaN when neither sequence has a segment, or
    when ``with_edit`` is False (F1 alone does not need it).
    """
    t_len = target.shape[0]
    correct = 0
    fg_correct = 0
    fg_total = 0
    target_bg = False
    for t in range(t_len):
        if t == 0 or target[t] != target[t - 1]:
            target_bg = _is_background(background, target[t])
        hit = pred[t] == target[t]
        correct += hit
        if not target_bg:
            fg_total += 1
            fg_correct += hit

    p_start = np.empty(t_len, dtype=np.int64)
    p_end = np.empty(t_len, dtype=np.int64)
    p_lab = np.empty(t_len, dtype=np.int64)
    g_start = np.empty(t_len, dtype=np.int64)
    g_end = np.empty(t_len, dtype=np.int64)
    g_lab = np.empty(t_len, dtype=np.int64)
    n_pred = _fg_runs(pred, background, short_last, p_start, p_end, p_lab)
    n_gt = _fg_runs(target, background, short_last, g_start, g_end, g_lab)

    out[0] = correct
    out[1] = t_len
    out[2] = fg_correct
    out[3] = fg_total
    longest = max(n_pred, n_gt)
    if longest == 0 or not with_edit:
        out[4] = np.nan
    else:
        distance = levenshtein(p_lab, n_pred, g_lab, n_gt)
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
