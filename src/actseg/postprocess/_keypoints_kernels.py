"""numba kernels of RTK's keypoint post-processing: watershed peaks and rule-based re-assembly.

The kernels check the values they read, in the same pass, instead of leaving it to separate numpy
passes: ``watershed_batch`` returns a status code (``OK`` or an error) and writes the offending
(video, channel, frame) to ``info``, ``reassemble_one`` returns -1 for a bad score or label; the typed
wrappers in ``_keypoints.py`` turn these into the documented ``ValueError``. Compiled on first use and
cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from ._refine_kernels import _valid_positions

OK = 0
ERR_NAN = 1
ERR_RANGE = 2
BINS = 1024  # score histogram of the cap selection
CHUNK = 64  # frames per block of the vectorised first pass (one bit each in a uint64)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)  # index of a lowest set bit: _DEBRUIJN_INDEX[(low * _DEBRUIJN) >> 58]
_DEBRUIJN_INDEX = np.zeros(64, dtype=np.int64)
_DEBRUIJN_INDEX[[((1 << j) * 0x03F79D71B4CB0A89 % 2**64) >> 58 for j in range(64)]] = np.arange(64)


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


@numba.njit(cache=True, nogil=True, inline="always")
def _outside(v):  # pragma: no cover - compiled
    """1 if ``v`` is outside [0, 1] or NaN (branch-free, so the block loop vectorises)."""
    return np.uint8(not ((v >= 0.0) & (v <= 1.0)))


@numba.njit(cache=True, nogil=True)
def _flag_blocks(row, n, thr, starts, bits):  # pragma: no cover - compiled
    """First pass over ``row[:n]``, fused: the [0, 1] / NaN check of every value and the frames that may be peaks.

    Every frame of a regional maximum ``>= thr`` is a weak local maximum ``>= thr`` (``v >= thr`` and
    ``v >=`` both neighbours, outside = -inf). Interior frames go in blocks of ``CHUNK`` (= 64) whose
    branch-free bodies vectorise: per block, a bit mask of its weak local maxima. Frame 0 and the tail
    (at most ``CHUNK`` frames) are scalar. Blocks with a candidate are kept: ``starts[r]`` (first frame)
    and ``bits[r]`` (bit ``j`` = frame ``starts[r] + j``). Returns (any value bad, number of blocks).
    """
    bad = np.uint8(0)
    nb = 0
    if n == 0:
        return bad, nb
    v = row[0]
    bad |= _outside(v)
    if v >= thr and (n == 1 or v >= row[1]):
        starts[0] = 0
        bits[0] = np.uint64(1)
        nb = 1
    n_full = max(n - 2, 0) // CHUNK
    for k in range(n_full):
        s = 1 + k * CHUNK
        mask = np.uint64(0)
        for i in range(s, s + CHUNK):
            v = row[i]
            bad |= _outside(v)
            left = row[i - 1]
            right = row[i + 1]
            top = left if left > right else right
            # (v >= thr) & (v >= left) & (v >= right)
            mask |= np.uint64(v >= (top if top > thr else thr)) << np.uint64(i - s)
        starts[nb] = s  # kept when mask != 0 (branch-free)
        bits[nb] = mask
        nb += np.int64(mask != np.uint64(0))
    s = 1 + n_full * CHUNK
    mask = np.uint64(0)
    for i in range(s, n):
        v = row[i]
        bad |= _outside(v)
        if v >= thr and v >= row[i - 1] and (i == n - 1 or v >= row[i + 1]):
            mask |= np.uint64(1) << np.uint64(i - s)
    if mask:
        starts[nb] = s
        bits[nb] = mask
        nb += 1
    return bad, nb


@numba.njit(cache=True, nogil=True)
def _first_outside(row, n):  # pragma: no cover - compiled
    """Index of the first value of ``row[:n]`` outside [0, 1] (NaN fails both tests), or -1."""
    for i in range(n):
        v = row[i]
        if not (v >= 0.0 and v <= 1.0):
            return i
    return -1


@numba.njit(cache=True, nogil=True)
def _scan_blocks(row, n, starts, bits, nb, out):  # pragma: no cover - compiled
    """Regional maxima of ``row[:n]`` among the candidate frames of :func:`_flag_blocks` (outside = -inf).

    The set bits of each block are visited in increasing order (lowest set bit, its index by a de Bruijn
    multiplication). A strict local maximum is a peak; otherwise the run of equal values ``[a, e]``
    around the frame is found by walking both ways and is a peak at ``(a + e) // 2`` when both its
    neighbours are lower. Candidates inside an already walked run are skipped, so every run is walked
    once (``O(n)``). Writes the peak frames to ``out`` in increasing order and returns their number.
    """
    m = 0
    skip = 0
    for r in range(nb):
        s = starts[r]
        mask = bits[r]
        while mask:
            low = mask & (~mask + np.uint64(1))
            mask ^= low
            i = s + _DEBRUIJN_INDEX[(low * _DEBRUIJN) >> np.uint64(58)]
            if i < skip:
                continue
            v = row[i]
            if (i == 0 or row[i - 1] < v) and (i == n - 1 or row[i + 1] < v):  # a one-frame peak
                out[m] = i
                m += 1
                continue
            a = i
            while a > 0 and row[a - 1] == v:
                a -= 1
            z = i
            while z < n - 1 and row[z + 1] == v:
                z += 1
            if (a == 0 or row[a - 1] < v) and (z == n - 1 or row[z + 1] < v):
                out[m] = (a + z) // 2
                m += 1
            skip = z + 1
    return m


@numba.njit(cache=True, nogil=True)
def _position_order(cand_pos, cand_label, m, n_channels, length):  # pragma: no cover - compiled
    """The permutation of ``m`` channel-major candidates into (position, channel) order.

    A stable bucket sort on coarse positions (about one bucket per candidate), then an insertion sort
    of the keys ``position * C + channel`` that only moves candidates within their bucket: ``O(m)`` for
    spread-out peaks, never above ``O(C * T)``.
    """
    order = np.empty(m, dtype=np.int64)
    if m == 0:
        return order
    keys = np.empty(m, dtype=np.int64)
    shift = 0
    while (length >> shift) > m:
        shift += 1
    n_buckets = ((length - 1) >> shift) + 1
    first = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(m):
        first[(cand_pos[i] >> shift) + 1] += 1
    for t in range(n_buckets):
        first[t + 1] += first[t]
    for i in range(m):
        q = cand_pos[i] >> shift
        d = first[q]
        order[d] = i
        keys[d] = cand_pos[i] * n_channels + cand_label[i]
        first[q] = d + 1
    for i in range(1, m):
        key = keys[i]
        if keys[i - 1] <= key:
            continue
        j = order[i]
        k = i - 1
        while k >= 0 and keys[k] > key:
            keys[k + 1] = keys[k]
            order[k + 1] = order[k]
            k -= 1
        keys[k + 1] = key
        order[k + 1] = j
    return order


@numba.njit(cache=True, nogil=True)
def watershed_batch(h, mask, has_mask, thr, cap, ints, out_score, info):  # pragma: no cover - compiled
    """Regional maxima ``>= thr`` of every channel of ``h`` (B, C, T) over the valid frames of ``mask`` (B, T).

    ``has_mask=False``: every frame is valid (``mask`` is not read). One fused, vectorised pass per track
    checks the values and flags the blocks that may hold a peak; a second pass over those blocks finds
    the peaks. A value outside [0, 1] or NaN (the first, in (video, channel, frame) order) stops the call:
    its (video, channel, frame) goes to ``info[B:B + 3]`` and the status is ``ERR_NAN`` / ``ERR_RANGE``.
    Per video: candidates of all channels, capped to the ``cap`` best (score descending, then position,
    then channel ascending; ``cap < 0``: no cap), written in (position, channel) order to ``ints[0]``
    (positions), ``ints[1]`` (channels) and ``out_score``, their number to ``info[b]``; returns ``OK``.
    """
    n_videos, n_channels, length = h.shape
    pos = np.empty(length if has_mask else 0, dtype=np.int64)
    vals = np.empty(length if has_mask else 0, dtype=h.dtype)
    starts = np.empty(length // CHUNK + 3, dtype=np.int64)
    bits = np.empty(length // CHUNK + 3, dtype=np.uint64)
    peaks = np.empty((length + 1) // 2 + 1, dtype=np.int64)
    # candidate buffers start at one track's worth and double when needed (small, reused allocations)
    size = (length + 1) // 2 + 1
    cand_pos = np.empty(size, dtype=np.int64)
    cand_label = np.empty(size, dtype=np.int64)
    cand_score = np.empty(size, dtype=np.float64)
    hist = np.empty(BINS, dtype=np.int64)
    for b in range(n_videos):
        n = _valid_positions(mask[b], pos) if has_mask else length
        full = n == length
        m = 0
        for c in range(n_channels):
            if full:
                row = h[b, c]
            else:
                for i in range(n):
                    vals[i] = h[b, c, pos[i]]
                row = vals
            bad, nb = _flag_blocks(row, n, thr, starts, bits)
            if bad:
                i = _first_outside(row, n)
                info[n_videos] = b
                info[n_videos + 1] = c
                info[n_videos + 2] = i if full else pos[i]
                v = row[i]
                return ERR_NAN if v != v else ERR_RANGE
            if nb == 0:  # no frame can be a peak (most class tracks of a video)
                continue
            k = _scan_blocks(row, n, starts, bits, nb, peaks)
            if m + k > cand_pos.shape[0]:
                size = max(2 * cand_pos.shape[0], m + k)
                cand_pos = _grown(cand_pos, m, size)
                cand_label = _grown(cand_label, m, size)
                cand_score = _grown(cand_score, m, size)
            for i in range(k):
                p = peaks[i]
                cand_pos[m] = p if full else pos[p]
                cand_label[m] = c
                cand_score[m] = row[p]
                m += 1
        # the cap best by score: every candidate above the cap-th score, then its ties in (position,
        # channel) order; the others are dropped before the sort
        kth = -1.0
        ties = 0
        if 0 <= cap < m:
            kth = _kth_largest(cand_score, m, cap, hist)
            ties = cap
            w = 0
            for i in range(m):
                s = cand_score[i]
                if s >= kth:
                    if s > kth:
                        ties -= 1
                    cand_pos[w] = cand_pos[i]
                    cand_label[w] = cand_label[i]
                    cand_score[w] = s
                    w += 1
            m = w
        if n_channels == 1:  # channel-major order is position order
            order = np.arange(m)
        else:
            order = _position_order(cand_pos, cand_label, m, n_channels, length)
        w = 0
        for i in range(m):
            j = order[i]
            if cand_score[j] == kth:
                if ties == 0:
                    continue
                ties -= 1
            ints[0, b, w] = cand_pos[j]
            ints[1, b, w] = cand_label[j]
            out_score[b, w] = cand_score[j]
            w += 1
        info[b] = w
    return OK


@numba.njit(cache=True, nogil=True)
def _weighted_frame(pos, score, lo, hi):  # pragma: no cover - compiled
    """Confidence-weighted mean of ``pos[lo:hi]`` (plain mean if the weights sum to 0), rounded half up
    and kept in ``[min, max]`` of those integer positions."""
    # weights relative to the largest: equal confidences weigh exactly 1 (0.3 · 3 + 0.3 · 4 over 0.6 is
    # 3.4999999999999996, which would round down) and huge finite ones do not overflow the sums
    top = 0.0
    for i in range(lo, hi):
        top = max(top, score[i])
    total = 0.0
    acc = 0.0
    low = pos[lo]
    high = pos[lo]
    for i in range(lo, hi):
        w = score[i] / top if top > 0.0 else 0.0
        total += w
        acc += w * pos[i]
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
    """Whether ``(first, second)`` is in lexicographic non-decreasing order (branch-free)."""
    ok = np.uint8(1)
    for i in range(1, first.shape[0]):
        ok &= np.uint8((first[i] > first[i - 1]) | ((first[i] == first[i - 1]) & (second[i] >= second[i - 1])))
    return ok != 0


@numba.njit(cache=True, nogil=True)
def _sorted(first):  # pragma: no cover - compiled
    """Whether ``first`` is non-decreasing (branch-free)."""
    ok = np.uint8(1)
    for i in range(1, first.shape[0]):
        ok &= np.uint8(first[i] >= first[i - 1])
    return ok != 0


@numba.njit(cache=True, nogil=True)
def _inside(pos, low, high):  # pragma: no cover - compiled
    """The ``[lo, hi)`` of a sorted ``pos`` whose values lie in ``[low, high)``."""
    lo = 0
    while lo < pos.shape[0] and pos[lo] < low:
        lo += 1
    hi = pos.shape[0]
    while hi > lo and pos[hi - 1] >= high:
        hi -= 1
    return lo, hi


@numba.njit(cache=True, nogil=True)
def reassemble_video(a_pos, a_score, a_label, b_pos, b_score, length, starts, ends, labels, scores):  # pragma: no cover
    """RTK §3.3 rule-based re-assembly of one video; returns the number of segments written.

    Action points outside ``[0, length)`` and boundary points outside ``(0, length)`` are dropped (the
    implicit boundaries 0 and ``length`` are Eq. (6b)). Sorted input (the output of ``watershed_peaks``)
    is used in place, without copies.
    """
    # actions by (position, label), boundaries by position (stable: ties keep input order)
    if _sorted_pairs(a_pos, a_label):
        lo, hi = _inside(a_pos, 0, length)
        ap = a_pos[lo:hi]
        asc = a_score[lo:hi]
        al = a_label[lo:hi]
    else:
        keep = (a_pos >= 0) & (a_pos < length)
        ap = a_pos[keep]
        asc = a_score[keep]
        al = a_label[keep]
        o = np.argsort(al, kind="mergesort")
        o = o[np.argsort(ap[o], kind="mergesort")]
        ap = ap[o]
        asc = asc[o]
        al = al[o]
    if ap.shape[0] == 0:
        return 0
    if _sorted(b_pos):
        lo, hi = _inside(b_pos, 1, length)
        bp = b_pos[lo:hi]
        bsc = b_score[lo:hi]
    else:
        keep_b = (b_pos > 0) & (b_pos < length)
        bp = b_pos[keep_b]
        bsc = b_score[keep_b]
        ob = np.argsort(bp, kind="mergesort")
        bp = bp[ob]
        bsc = bsc[ob]
    na = ap.shape[0]
    nb = bp.shape[0]
    # one pass over both sorted lists. g: number of boundaries <= d_k, the segment (between two
    # boundaries) that holds action k; step (i): one action group per run of equal g, with the label
    # and score of its most confident point; steps (ii)-(iv): boundaries [g_prev, g) between two
    # consecutive groups merge into one; groups with equal labels merge (no boundary between them,
    # the higher confidence kept); cast to segments
    n_seg = -1  # the current (last) segment
    g_prev = 0
    j = 0
    k = 0
    while k < na:
        while j < nb and bp[j] <= ap[k]:
            j += 1
        best = k
        k += 1
        while k < na and (j == nb or ap[k] < bp[j]):
            if asc[k] > asc[best]:
                best = k
            k += 1
        label = al[best]
        score = asc[best]
        if n_seg < 0:
            n_seg = 0
            starts[0] = 0
            labels[0] = label
            scores[0] = score
        elif label == labels[n_seg]:
            if score > scores[n_seg]:
                scores[n_seg] = score
        else:
            cut = _weighted_frame(bp, bsc, g_prev, j)
            ends[n_seg] = cut
            n_seg += 1
            starts[n_seg] = cut
            labels[n_seg] = label
            scores[n_seg] = score
        g_prev = j
    ends[n_seg] = length
    return n_seg + 1


@numba.njit(cache=True, nogil=True)
def _valid_points(score, label):  # pragma: no cover - compiled
    """Whether every score is finite and ``>= 0`` and every label ``>= 0`` (``label`` may be empty)."""
    bad = np.uint8(0)
    for i in range(score.shape[0]):
        s = score[i]
        bad |= np.uint8(not ((s >= 0.0) & (s < np.inf)))
    for i in range(label.shape[0]):
        bad |= np.uint8(label[i] < 0)
    return bad == 0


@numba.njit(cache=True, nogil=True)
def reassemble_batch(a_pos, a_score, a_label, a_off, b_pos, b_score, b_off, lengths, ints, scores):  # pragma: no cover
    """:func:`reassemble_video` of every video of a flat batch of checked point sets (``*_off``: ``(B + 1,)``
    offsets).

    Video ``v`` writes its segments (at most one per action point) from ``a_off[v]`` on: starts, ends and
    labels to ``ints[0]``, ``ints[1]``, ``ints[2]``, scores to ``scores``; returns the ``(B,)`` counts.
    """
    counts = np.zeros(lengths.shape[0], dtype=np.int64)
    for v in range(lengths.shape[0]):
        lo = a_off[v]
        hi = a_off[v + 1]
        counts[v] = reassemble_video(a_pos[lo:hi], a_score[lo:hi], a_label[lo:hi],
                                     b_pos[b_off[v]:b_off[v + 1]], b_score[b_off[v]:b_off[v + 1]], lengths[v],
                                     ints[0, lo:], ints[1, lo:], ints[2, lo:], scores[lo:])
    return counts


@numba.njit(cache=True, nogil=True)
def reassemble_one(a_pos, a_score, a_label, b_pos, b_score, length, ints, scores):  # pragma: no cover - compiled
    """:func:`reassemble_video` of one video, after checking its values in the same call (every score
    finite and ``>= 0``, every label ``>= 0``: the checks of ``_points`` in ``_keypoints.py``).

    Writes starts, ends and labels to ``ints[0]``, ``ints[1]``, ``ints[2]`` and the scores to ``scores``;
    returns the number of segments, or -1 (nothing written) if a value is bad.
    """
    if not (_valid_points(a_score, a_label) and _valid_points(b_score, a_label[:0])):
        return -1
    return reassemble_video(a_pos, a_score, a_label, b_pos, b_score, length, ints[0], ints[1], ints[2], scores)
