"""numba kernels of RTK's keypoint post-processing: watershed peaks and rule-based re-assembly.

``watershed_batch`` returns a status code (``OK`` or an error) and writes the offending
(video, channel, frame) to ``info``; the typed wrappers in ``_keypoints.py`` turn it into a
``ValueError``. Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from ._refine_kernels import _valid_positions

OK = 0
ERR_NAN = 1
ERR_RANGE = 2
BINS = 4096  # score histogram of the cap selection


@numba.njit(cache=True, nogil=True)
def _grown(arr, used, size):  # pragma: no cover - compiled
    """A copy of ``arr[:used]`` in a new array of ``size`` elements."""
    out = np.empty(size, dtype=arr.dtype)
    out[:used] = arr[:used]
    return out


@numba.njit(cache=True, nogil=True)
def _kth_largest(scores, m, k, hist):  # pragma: no cover - compiled
    """The ``k``-th largest of ``scores[:m]`` (values in [0, 1], ``1 <= k <= m``): a histogram finds its
    bin, a sort of that bin's values finds it (``O(m + BINS)``, no sort of all candidates)."""
    hist[:] = 0
    for i in range(m):
        hist[min(np.int64(scores[i] * BINS), BINS - 1)] += 1
    above = 0
    bin_k = BINS - 1
    while above + hist[bin_k] < k:
        above += hist[bin_k]
        bin_k -= 1
    tmp = np.empty(hist[bin_k], dtype=scores.dtype)
    c = 0
    for i in range(m):
        if min(np.int64(scores[i] * BINS), BINS - 1) == bin_k:
            tmp[c] = scores[i]
            c += 1
    part = np.sort(tmp[:c])
    return part[c - (k - above)]


@numba.njit(cache=True, nogil=True)
def _first_outside(row, thr):  # pragma: no cover - compiled
    """Index of the first value of ``row`` outside [0, 1] (NaN fails both tests) or -1, and whether a
    value reaches ``thr``; the common all-valid case is one branch-free (vectorised) pass."""
    bad = False
    hit = False
    for i in range(row.shape[0]):
        v = row[i]
        bad |= not (v >= 0.0 and v <= 1.0)
        hit |= v >= thr
    if bad:
        for i in range(row.shape[0]):
            v = row[i]
            if not (v >= 0.0 and v <= 1.0):
                return i, hit
    return -1, hit


@numba.njit(cache=True, nogil=True)
def _scan(row, thr, peaks, scores):  # pragma: no cover - compiled
    """Regional maxima ``>= thr`` of a contiguous track in one pass (outside counts as -inf): a run of
    equal values with lower neighbours is one peak at its centre ``(first + last) // 2``; returns the count.

    ``start`` is the first frame of the current run when the run rose above its left neighbour.
    """
    prev = -np.inf
    start = -1
    m = 0
    n = row.shape[0]
    for i in range(n):
        v = row[i]
        if v > prev:
            start = i
        elif v < prev:
            if start >= 0 and prev >= thr:
                peaks[m] = (start + i - 1) // 2
                scores[m] = prev
                m += 1
            start = -1
        prev = v
    if start >= 0 and prev >= thr:
        peaks[m] = (start + n - 1) // 2
        scores[m] = prev
        m += 1
    return m


@numba.njit(cache=True, nogil=True)
def watershed_batch(h, mask, thr, cap, out_pos, out_score, out_label, counts, info):  # pragma: no cover
    """Regional maxima ``>= thr`` of every channel of ``h`` (B, C, T) over the valid frames of ``mask`` (B, T).

    Per video: candidates of all channels, capped to the ``cap`` best (score descending, then position,
    then channel ascending; ``cap < 0``: no cap), written in (position, channel) order.
    """
    n_videos, n_channels, length = h.shape
    pos = np.empty(length, dtype=np.int64)
    vals = np.empty(length, dtype=h.dtype)
    peaks = np.empty((length + 1) // 2, dtype=np.int64)
    peak_scores = np.empty((length + 1) // 2, dtype=np.float64)
    # candidate buffers start at one track's worth and double when needed (small, reused allocations)
    size = (length + 1) // 2
    cand_pos = np.empty(size, dtype=np.int64)
    cand_label = np.empty(size, dtype=np.int64)
    cand_score = np.empty(size, dtype=np.float64)
    first = np.empty(length + 1, dtype=np.int64)
    hist = np.empty(BINS, dtype=np.int64)
    for b in range(n_videos):
        n = _valid_positions(mask[b], pos)
        full = n == length
        m = 0
        for c in range(n_channels):
            if full:
                row = h[b, c]
            else:
                for i in range(n):
                    vals[i] = h[b, c, pos[i]]
                row = vals[:n]
            bad, hit = _first_outside(row, thr)
            if bad >= 0:
                info[0] = b
                info[1] = c
                info[2] = pos[bad]
                v = row[bad]
                return ERR_NAN if v != v else ERR_RANGE
            if not hit:  # no frame reaches the threshold (most class tracks of a video)
                continue
            k = _scan(row, thr, peaks, peak_scores)
            if m + k > cand_pos.shape[0]:
                size = max(2 * cand_pos.shape[0], m + k)
                cand_pos = _grown(cand_pos, m, size)
                cand_label = _grown(cand_label, m, size)
                cand_score = _grown(cand_score, m, size)
            for i in range(k):
                cand_pos[m] = pos[peaks[i]]
                cand_label[m] = c
                cand_score[m] = peak_scores[i]
                m += 1
        order = np.empty(m, dtype=np.int64)
        # (position, channel) order: a counting sort by position of the channel-major list (stable, O(m + T))
        first[:] = 0
        for i in range(m):
            first[cand_pos[i] + 1] += 1
        for t in range(length):
            first[t + 1] += first[t]
        for i in range(m):
            order[first[cand_pos[i]]] = i
            first[cand_pos[i]] += 1
        # the cap best by score: all above the cap-th score, then its ties in (position, channel) order
        kth = -1.0
        ties = 0
        if 0 <= cap < m:
            kth = _kth_largest(cand_score, m, cap, hist)
            ties = cap
            for i in range(m):
                if cand_score[i] > kth:
                    ties -= 1
        w = 0
        for i in range(m):
            j = order[i]
            if cand_score[j] < kth:
                continue
            if cand_score[j] == kth:
                if ties == 0:
                    continue
                ties -= 1
            out_pos[b, w] = cand_pos[j]
            out_score[b, w] = cand_score[j]
            out_label[b, w] = cand_label[j]
            w += 1
        counts[b] = w
    return OK


@numba.njit(cache=True, nogil=True)
def _weighted_frame(pos, score, lo, hi):  # pragma: no cover - compiled
    """Confidence-weighted mean of ``pos[lo:hi]`` (plain mean if the weights sum to 0), rounded half up
    and kept in ``[min, max]`` of those integer positions."""
    total = 0.0
    acc = 0.0
    low = pos[lo]
    high = pos[lo]
    for i in range(lo, hi):
        total += score[i]
        acc += score[i] * pos[i]
        low = min(low, pos[i])
        high = max(high, pos[i])
    if total > 0.0:
        mean = acc / total
    else:
        mean = 0.0
        for i in range(lo, hi):
            mean += pos[i]
        mean /= hi - lo
    frame = np.int64(np.floor(mean + 0.5))
    return min(max(frame, low), high)


@numba.njit(cache=True, nogil=True)
def _sorted_pairs(first, second):  # pragma: no cover - compiled
    """Whether ``first`` is non-decreasing and, where ``second`` is given, ``(first, second)`` is."""
    for i in range(1, first.shape[0]):
        if first[i] < first[i - 1]:
            return False
        if second.shape[0] and first[i] == first[i - 1] and second[i] < second[i - 1]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def reassemble_video(a_pos, a_score, a_label, b_pos, b_score, length, starts, ends, labels, scores):  # pragma: no cover
    """RTK §3.3 rule-based re-assembly of one video; returns the number of segments written.

    Action points outside ``[0, length)`` and boundary points outside ``(0, length)`` are dropped (the
    implicit boundaries 0 and ``length`` are Eq. (6b)).
    """
    keep = (a_pos >= 0) & (a_pos < length)
    ap = a_pos[keep]
    asc = a_score[keep]
    al = a_label[keep]
    if ap.shape[0] == 0:
        return 0
    keep_b = (b_pos > 0) & (b_pos < length)
    bp = b_pos[keep_b]
    bsc = b_score[keep_b]
    # sort: actions by (position, label), boundaries by position (stable: ties keep input order);
    # skipped when already sorted (the output of watershed_peaks)
    if not _sorted_pairs(ap, al):
        o = np.argsort(al, kind="mergesort")
        o = o[np.argsort(ap[o], kind="mergesort")]
        ap = ap[o]
        asc = asc[o]
        al = al[o]
    if not _sorted_pairs(bp, np.zeros(0, dtype=np.int64)):
        ob = np.argsort(bp, kind="mergesort")
        bp = bp[ob]
        bsc = bsc[ob]
    na = ap.shape[0]
    # g[k]: number of boundaries <= d_k, the segment (between two boundaries) that holds action k
    g = np.searchsorted(bp, ap, side="right")
    # step (i): one action group per run of equal g; label and score of its most confident point
    grp_label = np.empty(na, dtype=np.int64)
    grp_score = np.empty(na, dtype=np.float64)
    grp_g = np.empty(na, dtype=np.int64)
    n_grp = 0
    k = 0
    while k < na:
        best = k
        j = k
        while j + 1 < na and g[j + 1] == g[k]:
            j += 1
            if asc[j] > asc[best]:
                best = j
        grp_label[n_grp] = al[best]
        grp_score[n_grp] = asc[best]
        grp_g[n_grp] = g[k]
        n_grp += 1
        k = j + 1
    # steps (ii)-(iv): boundaries [g_i, g_{i+1}) between groups i and i+1 merge into one; groups with
    # equal labels merge (no boundary between them, the higher confidence kept); cast to segments
    n_seg = 0
    starts[0] = 0
    labels[0] = grp_label[0]
    scores[0] = grp_score[0]
    for i in range(1, n_grp):
        if grp_label[i] == labels[n_seg]:
            if grp_score[i] > scores[n_seg]:
                scores[n_seg] = grp_score[i]
            continue
        cut = _weighted_frame(bp, bsc, grp_g[i - 1], grp_g[i])
        ends[n_seg] = cut
        n_seg += 1
        starts[n_seg] = cut
        labels[n_seg] = grp_label[i]
        scores[n_seg] = grp_score[i]
    ends[n_seg] = length
    return n_seg + 1


@numba.njit(cache=True, nogil=True)
def reassemble_batch(a_pos, a_score, a_label, a_off, b_pos, b_score, b_off, lengths,
                     starts, ends, labels, scores, s_off):  # pragma: no cover - compiled
    """:func:`reassemble_video` of every video of a flat batch (``*_off``: ``(B + 1,)`` offsets).

    Video ``v`` writes its segments (at most one per action point) from ``s_off[v]`` on; returns the
    ``(B,)`` segment counts.
    """
    counts = np.zeros(lengths.shape[0], dtype=np.int64)
    for v in range(lengths.shape[0]):
        lo = a_off[v]
        hi = a_off[v + 1]
        at = s_off[v]
        counts[v] = reassemble_video(a_pos[lo:hi], a_score[lo:hi], a_label[lo:hi],
                                     b_pos[b_off[v]:b_off[v + 1]], b_score[b_off[v]:b_off[v + 1]], lengths[v],
                                     starts[at:], ends[at:], labels[at:], scores[at:])
    return counts
