"""numba kernels for the localization metrics: greedy tIoU matching, interpolated AP, top-k recall,
ground-truth de-duplication and the MTL-ERA (THUMOS14-style) segment matching.

Every kernel repeats the floating-point operations of the reference scripts in their order (the same
tIoU expression, the same cumulative counts, NumPy's pairwise summation) so that results agree with
them bit for bit, not only to a tolerance. Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

_PW_BLOCKSIZE = 128


@numba.njit(cache=True, nogil=True)
def pairwise_sum(a, n):  # pragma: no cover - compiled
    """``np.sum(a[:n])`` for a contiguous float64 array, with NumPy's exact pairwise summation order."""
    return _pairwise(a, 0, n)


@numba.njit(cache=True, nogil=True)
def _block_sum(a, lo, n):  # pragma: no cover - compiled
    """NumPy ``pairwise_sum`` of ``a[lo:lo + n]`` for ``n <= 128`` (8 accumulators, then the rest)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True)
def _pairwise(a, lo, n):  # pragma: no cover - compiled
    """NumPy's recursive pairwise summation, unrolled with an explicit stack (numba's on-disk cache
    cannot hold self-recursive functions): blocks of <= 128 elements, split at ``n // 2`` rounded
    down to a multiple of 8, left sum + right sum."""
    if n <= _PW_BLOCKSIZE:
        return _block_sum(a, lo, n)
    s_lo = np.empty(128, dtype=np.int64)
    s_n = np.empty(128, dtype=np.int64)
    s_stage = np.empty(128, dtype=np.int64)
    vals = np.empty(128, dtype=np.float64)
    sp = 1
    nv = 0
    s_lo[0] = lo
    s_n[0] = n
    s_stage[0] = 0
    while sp > 0:
        top = sp - 1
        m = s_n[top]
        if m <= _PW_BLOCKSIZE:
            vals[nv] = _block_sum(a, s_lo[top], m)
            nv += 1
            sp -= 1
            continue
        m2 = m // 2
        m2 -= m2 % 8
        stage = s_stage[top]
        if stage == 0:
            s_stage[top] = 1
            s_lo[sp] = s_lo[top]
            s_n[sp] = m2
            s_stage[sp] = 0
            sp += 1
        elif stage == 1:
            s_stage[top] = 2
            s_lo[sp] = s_lo[top] + m2
            s_n[sp] = m - m2
            s_stage[sp] = 0
            sp += 1
        else:
            right = vals[nv - 1]
            left = vals[nv - 2]
            nv -= 2
            vals[nv] = left + right
            nv += 1
            sp -= 1
    return vals[0]


@numba.njit(cache=True, nogil=True)
def _tiou(ps, pe, gs, ge):  # pragma: no cover - compiled
    """tIoU exactly as ActivityNet ``segment_iou`` (intersection clipped at 0 over the union)."""
    tt1 = ps if ps > gs else gs
    tt2 = pe if pe < ge else ge
    inter = tt2 - tt1
    if inter < 0.0:
        inter = 0.0
    union = (ge - gs) + (pe - ps) - inter
    # two zero-length segments (bounds beyond 2**53 collapse in float64): ActivityNet's 0/0 is NaN, which
    # matches nothing; 0 does the same without a ZeroDivisionError
    return inter / union if union > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def match_detections(ps, pe, lo, hi, gs, ge, thresholds, max_group, float32_tiou):  # pragma: no cover
    """Greedy ActivityNet matching of score-sorted predictions, every threshold at once.

    Predictions ``ps/pe`` are in evaluation order (class, then descending score); the candidate
    ground truths of prediction ``r`` are ``gs/ge[lo[r]:hi[r]]`` (same class and video, input order).
    A prediction takes the free candidate of highest tIoU with ``tIoU >= t`` (equal tIoU: the later
    candidate, which is the order of a stable reversed argsort). ``float32_tiou``: the tIoU is
    rounded to float32 before it is ranked and compared (mmaction2's ``pairwise_temporal_iou``).

    Returns ``tp`` (n_thr, n_pred) uint8 and the number of (prediction, threshold) selections in
    which the highest tIoU among the free candidates was shared by two or more of them with
    different boundaries (the choice then depends on the order of equal values).
    """
    n_p = ps.shape[0]
    n_t = thresholds.shape[0]
    tp = np.zeros((n_t, n_p), dtype=np.uint8)
    locked = np.zeros((n_t, gs.shape[0]), dtype=np.bool_)
    iou = np.empty(max(max_group, 1), dtype=np.float64)
    ties = 0
    for r in range(n_p):
        a = lo[r]
        b = hi[r]
        if a == b:
            continue
        for j in range(a, b):
            v = _tiou(ps[r], pe[r], gs[j], ge[j])
            iou[j - a] = np.float64(np.float32(v)) if float32_tiou else v
        for t in range(n_t):
            thr = thresholds[t]
            best = -1
            best_iou = 0.0
            shared = False
            for j in range(a, b):
                v = iou[j - a]
                if v >= thr and not locked[t, j]:
                    if best < 0 or v > best_iou:
                        best = j
                        best_iou = v
                        shared = False
                    elif v == best_iou:
                        if gs[j] != gs[best] or ge[j] != ge[best]:  # identical duplicates: no choice
                            shared = True
                        best = j
            if best >= 0:
                tp[t, r] = 1
                locked[t, best] = True
                if shared:
                    ties += 1
    return tp, ties


@numba.njit(cache=True, nogil=True)
def interpolated_ap(tp, class_start, npos):  # pragma: no cover - compiled
    """VOC2011 all-point interpolated AP per class and threshold (ActivityNet ``interpolated_prec_rec``).

    ``tp`` (n_thr, n_pred) in evaluation order; the predictions of class ``c`` are
    ``class_start[c]:class_start[c + 1]``; ``npos[c]`` ground-truth instances. A class without
    prediction gets 0. Returns (n_thr, n_classes) float64.
    """
    n_t = tp.shape[0]
    n_c = npos.shape[0]
    ap = np.zeros((n_t, n_c), dtype=np.float64)
    longest = 0
    for c in range(n_c):
        longest = max(longest, class_start[c + 1] - class_start[c])
    mprec = np.empty(longest + 2, dtype=np.float64)
    mrec = np.empty(longest + 2, dtype=np.float64)
    terms = np.empty(longest + 1, dtype=np.float64)
    for c in range(n_c):
        lo = class_start[c]
        n = class_start[c + 1] - lo
        if n == 0:
            continue
        npos_c = float(npos[c])
        for t in range(n_t):
            tpc = 0.0
            fpc = 0.0
            mprec[0] = 0.0
            mrec[0] = 0.0
            for i in range(n):
                if tp[t, lo + i]:
                    tpc += 1.0
                else:
                    fpc += 1.0
                mrec[i + 1] = tpc / npos_c
                mprec[i + 1] = tpc / (tpc + fpc)
            mprec[n + 1] = 0.0
            mrec[n + 1] = 1.0
            for i in range(n, -1, -1):
                if mprec[i + 1] > mprec[i]:
                    mprec[i] = mprec[i + 1]
            m = 0
            for i in range(1, n + 2):
                if mrec[i] != mrec[i - 1]:
                    terms[m] = (mrec[i] - mrec[i - 1]) * mprec[i]
                    m += 1
            ap[t, c] = _pairwise(terms, 0, m)
    return ap


@numba.njit(cache=True, nogil=True)
def topk_recall_hits(gs, ge, group_start, group_class, plo, phi, ps, pe, thresholds, ks, n_classes):  # pragma: no cover
    """ActionFormer Recall@kx numerators: hits (n_thr, n_k, n_classes) float64.

    Ground-truth group ``g`` (one class in one video) is ``gs/ge[group_start[g]:group_start[g + 1]]``;
    its predictions, by descending score, are ``ps/pe[plo[g]:phi[g]]``. A ground truth counts for
    ``k`` when one of the first ``k * n_gt`` predictions has ``tIoU >= t``.
    """
    n_t = thresholds.shape[0]
    n_k = ks.shape[0]
    hits = np.zeros((n_t, n_k, n_classes), dtype=np.float64)
    kmax = 0
    for i in range(n_k):
        kmax = max(kmax, ks[i])
    n_groups = group_class.shape[0]
    for g in range(n_groups):
        a = group_start[g]
        b = group_start[g + 1]
        n_g = b - a
        pa = plo[g]
        n_p = phi[g] - pa
        if n_p == 0:
            continue
        c = group_class[g]
        n_top = min(kmax * n_g, n_p)
        for j in range(a, b):
            for kk in range(n_k):
                limit = min(ks[kk] * n_g, n_p, n_top)
                best = -1.0
                for i in range(limit):
                    v = _tiou(ps[pa + i], pe[pa + i], gs[j], ge[j])
                    if v > best:
                        best = v
                for t in range(n_t):
                    if best >= thresholds[t]:
                        hits[t, kk, c] += 1.0
    return hits


@numba.njit(cache=True, nogil=True)
def dedupe_ground_truth(video_start, starts, ends, labels, tol, drop_short):  # pragma: no cover - compiled
    """``remove_duplicate_annotations`` per video: keep mask (bool) of the instances.

    An instance is dropped when an earlier kept instance of the same video and label has start and
    end within ``tol``, and also, with ``drop_short`` (ActionFormer), when ``end - start < tol``.
    Without ``drop_short`` (OpenTAD) only ``end - start <= 0`` is dropped.
    """
    n = starts.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    kept = np.empty(n, dtype=np.int64)
    for v in range(video_start.shape[0] - 1):
        m = 0
        for i in range(video_start[v], video_start[v + 1]):
            valid = (ends[i] - starts[i]) >= tol if drop_short else (ends[i] - starts[i]) > 0.0
            for q in range(m):
                k = kept[q]
                if abs(starts[i] - starts[k]) <= tol and abs(ends[i] - ends[k]) <= tol and labels[i] == labels[k]:
                    valid = False
                    break
            if valid:
                keep[i] = True
                kept[m] = i
                m += 1
    return keep


@numba.njit(cache=True, nogil=True)
def thumos_match(ds, de, d_group, gs, ge, g_group_start, threshold, midpoint):  # pragma: no cover - compiled
    """MTL-ERA ``TH14eventdetpr`` matching: GT-major greedy inside each (class, video) group.

    Detections ``ds/de`` are sorted by (class, video, descending confidence, input order) and
    ``d_group[i]`` is the ground-truth group of detection ``i`` (-1: none). For each ground truth in
    input order, the free detection of maximal overlap (the first one on ties) is taken when the
    overlap is ``> threshold``. Overlap: intersection clipped at 0 over the hull ``max(e) - min(s)``,
    or, with ``midpoint``, 1 when the detection midpoint lies in ``[s_g, e_g)``. Returns tp (bool).
    """
    n = ds.shape[0]
    tp = np.zeros(n, dtype=np.bool_)
    i = 0
    while i < n:
        g = d_group[i]
        j = i
        while j < n and d_group[j] == g:
            j += 1
        if g >= 0:
            for k in range(g_group_start[g], g_group_start[g + 1]):
                best = -1
                best_ov = 0.0
                for d in range(i, j):
                    if tp[d]:
                        continue
                    if midpoint:
                        mid = (ds[d] + de[d]) / 2.0
                        ov = 1.0 if (mid >= gs[k] and mid < ge[k]) else 0.0
                    else:
                        union = max(ge[k], de[d]) - min(gs[k], ds[d])
                        inter = min(ge[k], de[d]) - max(gs[k], ds[d])
                        if inter < 0.0:
                            inter = 0.0
                        ov = inter / union if union > 0.0 else 0.0  # as in _tiou
                    if best < 0 or ov > best_ov:
                        best = d
                        best_ov = ov
                if best >= 0 and best_ov > threshold:
                    tp[best] = True
        i = j
    return tp


@numba.njit(cache=True, nogil=True)
def thumos_ap(tp, class_start, npos):  # pragma: no cover - compiled
    """Non-interpolated AP per class: sum of the precision at each true positive over ``npos``.

    ``tp`` in evaluation order (class, then descending confidence); a class without detection gets 0.
    """
    n_c = npos.shape[0]
    ap = np.zeros(n_c, dtype=np.float64)
    buf = np.empty(tp.shape[0], dtype=np.float64)
    for c in range(n_c):
        lo = class_start[c]
        n = class_start[c + 1] - lo
        if n == 0:
            continue
        tpc = 0.0
        fpc = 0.0
        m = 0
        for i in range(n):
            if tp[lo + i]:
                tpc += 1.0
                buf[m] = tpc / (fpc + tpc)
                m += 1
            else:
                fpc += 1.0
        ap[c] = _pairwise(buf, 0, m) / float(npos[c])
    return ap
