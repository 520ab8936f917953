"""numba kernels for 1-D NMS / Soft-NMS (ActionFormer ``nms_1d_cpu`` semantics, BMN / G-TAD / TAGS loops).

Every kernel works in place on working copies made by the typed wrappers in ``_nms.py``; arrays are
float32 for the ActionFormer kernels (the C++ op computes in float32) and float64 for the pandas
variants. Kernels are compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

METHOD_HARD = 0
METHOD_LINEAR = 1
METHOD_GAUSSIAN = 2

_INT32_MIN = np.int32(-(2**31))
_INT32_MAX = np.int32(2**31 - 1)

PRESET_BMN = 0
PRESET_GTAD = 1
PRESET_TAGS = 2


@numba.njit(cache=True, nogil=True)
def _below_and_top(sc, bits, lo, hi, min_score):  # pragma: no cover - compiled
    """How many of ``sc[lo:hi]`` are ``< min_score``, and the int32 key of their maximum.

    ``bits`` is ``sc`` viewed as int32; the key ``v ^ ((v >> 31) & INT32_MAX)`` orders like the
    floats (it is its own inverse). Integer max reductions vectorise, float ones do not.
    """
    ss = sc[lo:hi]
    sb = bits[lo:hi]
    below = 0
    top = _INT32_MIN
    for pos in range(ss.shape[0]):
        below += ss[pos] < min_score
        v = sb[pos]
        key = v ^ ((v >> 31) & _INT32_MAX)
        top = key if key > top else top
    return below, top


@numba.njit(cache=True, nogil=True)
def _find_below(sc, lo, hi, threshold):  # pragma: no cover - compiled
    """First position in ``[lo, hi)`` with ``sc < threshold`` (``hi`` if none); whole blocks of 32 are
    skipped with a vectorised count."""
    q = lo
    while q + 32 <= hi:
        blk = sc[q : q + 32]
        c = 0
        for j in range(blk.shape[0]):
            c += blk[j] < threshold
        if c:
            break
        q += 32
    while q < hi and not sc[q] < threshold:
        q += 1
    return q


@numba.njit(cache=True, nogil=True)
def _find_equal(sc, lo, hi, value):  # pragma: no cover - compiled
    """First position in ``[lo, hi)`` with ``sc == value`` (``hi`` if none), blocks of 32 as above."""
    q = lo
    while q + 32 <= hi:
        blk = sc[q : q + 32]
        c = 0
        for j in range(blk.shape[0]):
            c += blk[j] == value
        if c:
            break
        q += 32
    while q < hi and sc[q] != value:
        q += 1
    return q


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _decay_linear_or_hard(x1, x2, sc, areas, lo, hi, ix1, ix2, iarea, iou_threshold, linear):  # pragma: no cover
    """Decay ``sc[lo:hi]`` by the selected segment ``(ix1, ix2)``: ``1 - IoU`` (linear) or 0 (hard)
    where ``IoU >= iou_threshold``, else 1 (exact: the score is unchanged). Branch-free (selects), its
    own function so that LLVM vectorises the loop, division included (``error_model="numpy"``
    drops numba's zero-division check; the denominator is ``>= 1e-6``). ``std::max``/``std::min``
    of the C++ op and these selects give the same value for finite inputs (a signed zero never
    reaches a weight)."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    # slices and a loop from 0: numba then knows the index is not negative (no wrap-around test)
    s1 = x1[lo:hi]
    s2 = x2[lo:hi]
    sa = areas[lo:hi]
    ss = sc[lo:hi]
    for pos in range(ss.shape[0]):  # ``linear`` is loop-invariant: LLVM unswitches the loop
        b = s2[pos]
        a = s1[pos]
        d = (b if b < ix2 else ix2) - (a if a > ix1 else ix1)
        inter = d if d > zero else zero
        ovr = inter / (iarea + sa[pos] - inter)
        weight = (one - ovr) if linear else zero
        ss[pos] *= weight if ovr >= iou_threshold else one


@numba.njit(cache=True, nogil=True, error_model="numpy")
def softnms_inplace(x1, x2, sc, areas, inds, iou_threshold, sigma, min_score, method, limit):  # pragma: no cover
    """ActionFormer ``softnms_1d_cpu`` on the working arrays; returns the number of kept segments.

    ``x1, x2, sc, areas``: float32 (n,) working copies (``areas = x2 - x1 + 1e-6`` in float32);
    ``inds``: int64 (n,) original indices. ``iou_threshold, sigma, min_score``: float32 scalars.
    ``method``: 0 hard, 1 linear, 2 gaussian. ``limit``: stop after this many selections (the
    first ``limit`` selections do not depend on the later ones).

    On return ``inds[:k]`` are the kept original indices in selection order and ``sc[:k]`` their
    (decayed) scores, ``x1[:k], x2[:k]`` their boundaries.

    Same arithmetic and the same working-order permutations as the C++ loop: select the first
    maximum of the remaining scores (a strict ``<`` scan in the op: the first position holding the
    largest value), swap it to position ``i``, decay every later segment, and
    remove a segment whose score drops below ``min_score`` by copying the last working segment
    into its place. The C++ loop does the three in one pass; here they are three passes that give
    the same array (each segment is decayed exactly once per selection, removals happen in the same
    positions and order, and the first maximum is taken over the final working order):

    1. decay: for ``"hard"``/``"linear"`` branch-free, so that LLVM vectorises it (the division
       included: ``error_model="numpy"`` drops numba's zero-division check; the denominator is
       ``>= 1e-6``); a weight of exactly 1 leaves a score unchanged, as in the C++ op. Gaussian
       weights of disjoint pairs are exactly 1 (``exp(-0) = 1``), so their ``exp`` is skipped;
    2. a vectorised count of the scores below ``min_score`` and the largest score (on int32 keys
       that order like the floats);
    3. removal, only when something fell below: a scan for the next score ``< min_score``, the
       last segment that is not below copied into its place (the op copies the last one and looks
       at it again: the same array);
    4. the first position holding that largest score: the survivors hold it (every removed score
       is below ``min_score``, hence below it) unless nothing survives.
    """
    n = sc.shape[0]
    if n == 0:
        return 0
    zero = np.float32(0.0)
    bits = sc.view(np.int32)
    key_buf = np.empty(1, dtype=np.int32)
    key_float = key_buf.view(np.float32)
    _, top = _below_and_top(sc, bits, 0, n, zero)
    key_buf[0] = top ^ ((top >> 31) & _INT32_MAX)  # the key map is its own inverse
    max_pos = _find_equal(sc, 0, n, key_float[0])
    i = 0
    while i < n and i < limit:
        # swap the segment with the maximal score to position i
        ix1 = x1[max_pos]
        ix2 = x2[max_pos]
        iscore = sc[max_pos]
        iarea = areas[max_pos]
        iind = inds[max_pos]
        x1[max_pos] = x1[i]
        x2[max_pos] = x2[i]
        sc[max_pos] = sc[i]
        areas[max_pos] = areas[i]
        inds[max_pos] = inds[i]
        x1[i] = ix1
        x2[i] = ix2
        sc[i] = iscore
        areas[i] = iarea
        inds[i] = iind

        # pass 1: decay every later segment once (min/max as selects: std::max/std::min give the
        # same value for finite inputs; a signed zero never reaches a weight)
        if method == 2:
            for pos in range(i + 1, n):
                b = x2[pos]
                a = x1[pos]
                inter = (b if b < ix2 else ix2) - (a if a > ix1 else ix1)
                if inter > zero:
                    ovr = inter / (iarea + areas[pos] - inter)
                    sc[pos] *= np.exp(-(ovr * ovr) / sigma)
        else:
            _decay_linear_or_hard(x1, x2, sc, areas, i + 1, n, ix1, ix2, iarea, iou_threshold, method == 1)

        # pass 2 (vectorised): how many scores fell below min_score, and the largest score
        below, top = _below_and_top(sc, bits, i + 1, n, min_score)
        # pass 3: remove segments below min_score. The op copies the last segment into the hole and
        # looks at it again, so a hole ends up holding the last segment that is not below (the ones
        # after it are removed on the way): two pointers give the same array without the copies.
        lo = i + 1
        hi = n - 1
        while below > 0:
            if not sc[lo] < min_score:  # dense removals (clustered input): usually the next one
                lo = _find_below(sc, lo + 1, hi + 1, min_score)
            below -= 1
            while hi > lo and sc[hi] < min_score:
                hi -= 1
                below -= 1
            if hi == lo:
                hi = lo - 1
                break
            x1[lo] = x1[hi]
            x2[lo] = x2[hi]
            sc[lo] = sc[hi]
            areas[lo] = areas[hi]
            inds[lo] = inds[hi]
            hi -= 1
            lo += 1
        n = hi + 1
        # pass 4: the first position (in working order) holding the maximum
        if i + 1 < n:
            key_buf[0] = top ^ ((top >> 31) & _INT32_MAX)  # the key map is its own inverse
            max_pos = _find_equal(sc, i + 1, n, key_float[0])
        i += 1
    return min(n, limit)


@numba.njit(cache=True, nogil=True)
def float32_work(seg, scores, check):  # pragma: no cover - compiled
    """Working copies ``x1, x2, sc, areas, inds`` from ``(n, 2)`` float32 rows and float32 scores.

    ``areas = x2 - x1 + 1e-6`` in float32, as the C++ op. With ``check``, returns ``bad >= 0``, the
    first row whose boundaries are not finite with ``end > start`` or whose score is not finite
    (``-1`` when every row is fine); a vectorised count first (``v - v == 0`` is false for inf
    and NaN), the row only when the count is not 0.
    """
    n = seg.shape[0]
    x1 = np.empty(n, dtype=np.float32)
    x2 = np.empty(n, dtype=np.float32)
    sc = np.empty(n, dtype=np.float32)
    areas = np.empty(n, dtype=np.float32)
    inds = np.arange(n)
    eps = np.float32(1e-6)
    zero = np.float32(0.0)
    for j in range(n):
        x1[j] = seg[j, 0]
        x2[j] = seg[j, 1]
        sc[j] = scores[j]
    for j in range(n):
        areas[j] = (x2[j] - x1[j]) + eps
    bad = -1
    if check:
        n_bad = 0
        for j in range(n):
            a = x1[j]
            b = x2[j]
            v = sc[j]
            fine = (b > a) & (a - a == zero) & (b - b == zero) & (v - v == zero)
            n_bad += 0 if fine else 1
        if n_bad:
            for j in range(n):
                a = x1[j]
                b = x2[j]
                if not (b > a and np.isfinite(a) and np.isfinite(b) and np.isfinite(sc[j])):
                    bad = j
                    break
    return x1, x2, sc, areas, inds, bad


@numba.njit(cache=True, nogil=True)
def softnms_run(seg, scores, check, iou_threshold, sigma, min_score, method, limit):  # pragma: no cover
    """Validate (optionally), copy and run :func:`softnms_inplace`; returns ``(bad, keep, scores)``."""
    x1, x2, sc, areas, inds, bad = float32_work(seg, scores, check)
    if bad >= 0:
        return bad, inds[:0], sc[:0]
    k = softnms_inplace(x1, x2, sc, areas, inds, iou_threshold, sigma, min_score, method, limit)
    return bad, inds[:k], sc[:k]


@numba.njit(cache=True, nogil=True)
def hardnms_run(seg, scores, check, iou_threshold):  # pragma: no cover - compiled
    """Validate (optionally) and run the ``nms_1d_cpu.nms`` loop; returns ``(bad, keep)``.

    Visiting order: descending score, ties by ascending index (stable sort).
    """
    x1, x2, sc, areas, inds, bad = float32_work(seg, scores, check)
    if bad >= 0:
        return bad, inds[:0]
    order = np.argsort(-sc, kind="mergesort")
    keep = np.ones(order.shape[0], dtype=np.bool_)
    hardnms_sorted(x1[order], x2[order], areas[order], iou_threshold, keep)
    return bad, order[keep]


@numba.njit(cache=True, nogil=True)
def softnms_groups(x1, x2, sc, areas, inds, bounds, iou_threshold, sigma, min_score, method, limit, counts):
    """:func:`softnms_inplace` on each group ``[bounds[g], bounds[g + 1])``; kept counts in ``counts``."""
    for g in range(bounds.shape[0] - 1):  # pragma: no cover - compiled
        lo = bounds[g]
        hi = bounds[g + 1]
        counts[g] = softnms_inplace(
            x1[lo:hi], x2[lo:hi], sc[lo:hi], areas[lo:hi], inds[lo:hi], iou_threshold, sigma, min_score, method, limit
        )


@numba.njit(cache=True, nogil=True)
def hardnms_sorted(x1, x2, areas, iou_threshold, keep):  # pragma: no cover - compiled
    """ActionFormer ``nms_1d_cpu`` greedy loop on segments already sorted by descending score.

    ``x1, x2, areas``: float32 (n,) in score order; ``keep``: bool (n,) set to ``True`` on entry,
    cleared for suppressed positions (``IoU >= iou_threshold`` with a kept, higher-ranked segment).
    Returns the number of kept segments.
    """
    n = x1.shape[0]
    zero = np.float32(0.0)
    count = 0
    for a in range(n):
        if not keep[a]:
            continue
        count += 1
        ix1 = x1[a]
        ix2 = x2[a]
        iarea = areas[a]
        for b in range(a + 1, n):
            if not keep[b]:
                continue
            inter = max(zero, min(ix2, x2[b]) - max(ix1, x1[b]))
            ovr = inter / (iarea + areas[b] - inter)
            if ovr >= iou_threshold:
                keep[b] = False
    return count


@numba.njit(cache=True, nogil=True)
def hardnms_groups(x1, x2, sc, areas, bounds, iou_threshold, min_score, filter_scores, limit, out, counts):
    """ActionFormer ``NMSop`` on each contiguous group: optional ``score > min_score`` filter, hard NMS, cap.

    ``out`` receives, per group from ``bounds[g]``, the kept positions (into the grouped arrays) in
    descending score order (ties: lower position first); ``counts[g]`` their number.
    """
    for g in range(bounds.shape[0] - 1):  # pragma: no cover - compiled
        lo = bounds[g]
        hi = bounds[g + 1]
        m = 0
        cand = np.empty(hi - lo, dtype=np.int64)
        for p in range(lo, hi):
            if (not filter_scores) or sc[p] > min_score:
                cand[m] = p
                m += 1
        cand = cand[:m]
        order = cand[np.argsort(-sc[cand], kind="mergesort")]
        keep = np.ones(m, dtype=np.bool_)
        hardnms_sorted(x1[order], x2[order], areas[order], iou_threshold, keep)
        c = 0
        for a in range(m):
            if keep[a]:
                if c >= limit:
                    break
                out[lo + c] = order[a]
                c += 1
        counts[g] = c


@numba.njit(cache=True, nogil=True)
def segment_voting(kx1, kx2, ax1, ax2, ascore, threshold, out):  # pragma: no cover - compiled
    """ActionFormer ``seg_voting``: each kept segment becomes the average of all input segments.

    Weights ``[IoU >= threshold] * score * IoU`` (float32 IoU without the 1e-6 of the NMS op, float32
    weights, ``threshold > 0`` so disjoint pairs never vote); the normalisation and the weighted sum
    are accumulated in float64 and rounded to float32. A kept segment whose weights sum to 0 is left
    unchanged (the reference returns NaN there).
    """
    zero = np.float32(0.0)
    n_all = ax1.shape[0]
    idx = np.empty(n_all, dtype=np.int64)
    weight = np.empty(n_all, dtype=np.float32)
    for k in range(kx1.shape[0]):
        s1 = kx1[k]
        s2 = kx2[k]
        len_k = s2 - s1
        total = 0.0
        m = 0
        for j in range(n_all):
            inter = min(s2, ax2[j]) - max(s1, ax1[j])
            if inter <= zero:
                continue
            iou = inter / (len_k + (ax2[j] - ax1[j]) - inter)
            if iou >= threshold:
                w = ascore[j] * iou
                idx[m] = j
                weight[m] = w
                total += w
                m += 1
        if total == 0.0:
            out[k, 0] = s1
            out[k, 1] = s2
            continue
        norm = np.float32(total)
        acc1 = 0.0
        acc2 = 0.0
        for a in range(m):
            w = weight[a] / norm
            acc1 += w * np.float64(ax1[idx[a]])
            acc2 += w * np.float64(ax2[idx[a]])
        out[k, 0] = np.float32(acc1)
        out[k, 1] = np.float32(acc2)


@numba.njit(cache=True, nogil=True)
def _iou_preset(preset, s1, e1, s2, e2):  # pragma: no cover - compiled
    """The IoU of each pandas variant between the selected ``(s1, e1)`` and another ``(s2, e2)``."""
    if preset == 0:  # BMN utils.iou_with_anchors(anchors=(s2, e2), box=(s1, e1))
        inter = max(min(e2, e1) - max(s2, s1), 0.0)
        union = (e2 - s2) - inter + e1 - s1
        return inter / union
    if s2 > e1 or s1 > e2:
        return 0.0
    a_or = max(e1, e2) - min(s1, s2)
    if preset == 1:  # G-TAD / BSN IOU
        a_and = min(e1, e2) - max(s1, s2)
        return a_and / a_or
    a_and = min(e1, e2) - min(s1, s2)  # TAGS IOU (min where the intersection needs max)
    return a_and / (a_or - a_and + (e2 - s2))


@numba.njit(cache=True, nogil=True)
def softnms_preset(starts, ends, scores, preset, p0, p1, p2, limit, keep, out_scores):  # pragma: no cover
    """The BMN / G-TAD / TAGS pandas Soft-NMS loop on float64 inputs already in pandas sort order.

    ``preset`` 0 (BMN: ``p0`` alpha, ``p1`` t1, ``p2`` t2), 1 (G-TAD: ``p0`` nms_threshold, ``p1``
    max length; scores of longer-or-equal segments are zeroed first), 2 (TAGS: ``p0``
    nms_threshold). Loop: while more than one candidate remains and fewer than ``limit`` were
    emitted (G-TAD/TAGS: and the maximal score is > 0), emit the first maximum of the remaining
    list (list order = sort order with removals), after decaying every other remaining candidate.
    ``keep`` receives positions into the inputs, ``out_scores`` the emitted scores; returns the count.
    """
    n = scores.shape[0]
    sc = scores.copy()
    if preset == 1:
        for j in range(n):
            if ends[j] - starts[j] >= p1:
                sc[j] = 0.0
    alive = np.arange(n)
    m = n
    count = 0
    while m > 1 and count < limit:
        best = 0
        best_score = sc[alive[0]]
        for a in range(1, m):
            if best_score < sc[alive[a]]:
                best_score = sc[alive[a]]
                best = a
        if preset != 0 and not best_score > 0.0:
            break
        sel = alive[best]
        s1 = starts[sel]
        e1 = ends[sel]
        width = e1 - s1
        for a in range(m):
            if a == best:
                continue
            j = alive[a]
            iou = _iou_preset(preset, s1, e1, starts[j], ends[j])
            if preset == 0:
                if iou > p1 + (p2 - p1) * width:
                    sc[j] = sc[j] * np.exp(-(iou * iou) / p0)
            elif iou > 0.0:
                if preset == 1:
                    sc[j] = sc[j] * np.exp(-(iou * iou) / p0)
                else:
                    sc[j] = sc[j] * (np.exp(-(iou * iou) * 10.0) / p0)
        keep[count] = sel
        out_scores[count] = sc[sel]
        count += 1
        for a in range(best, m - 1):
            alive[a] = alive[a + 1]
        m -= 1
    return count
