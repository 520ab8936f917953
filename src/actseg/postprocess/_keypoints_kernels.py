"""numba kernels of RTK's keypoint post-processing: watershed peaks and rule-based re-assembly.

``watershed_batch`` returns a status code (``OK`` or an error) and writes the offending
(video, channel, frame) to ``info``; the typed wrappers in ``_keypoints.py`` turn it into a
``ValueError``. Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

from ._refine_kernels import _plateau_peaks, _valid_positions

OK = 0
ERR_NAN = 1
ERR_RANGE = 2


@numba.njit(cache=True, nogil=True)
def watershed_batch(h, mask, thr, cap, out_pos, out_score, out_label, counts, info):  # pragma: no cover
    """Regional maxima ``>= thr`` of every channel of ``h`` (B, C, T) over the valid frames of ``mask`` (B, T).

    Per video: candidates of all channels, capped to the ``cap`` best (score descending, then position,
    then channel ascending; ``cap < 0``: no cap), written in (position, channel) order.
    """
    n_videos, n_channels, length = h.shape
    pos = np.empty(length, dtype=np.int64)
    buf = np.empty(length, dtype=np.int64)
    cand_pos = np.empty(n_channels * ((length + 1) // 2), dtype=np.int64)
    cand_label = np.empty(cand_pos.shape[0], dtype=np.int64)
    cand_score = np.empty(cand_pos.shape[0], dtype=np.float64)
    for b in range(n_videos):
        n = _valid_positions(mask[b], pos)
        m = 0
        for c in range(n_channels):
            row = h[b, c]
            for i in range(n):
                v = row[pos[i]]
                if not (v >= 0.0 and v <= 1.0):
                    info[0] = b
                    info[1] = c
                    info[2] = pos[i]
                    return ERR_NAN if v != v else ERR_RANGE
            k = _plateau_peaks(row, pos, n, thr, buf)
            for i in range(k):
                cand_pos[m] = pos[buf[i]]
                cand_label[m] = c
                cand_score[m] = row[pos[buf[i]]]
                m += 1
        # (position, channel) order: a stable sort by position of the channel-major list
        order = np.argsort(cand_pos[:m], kind="mergesort")
        if 0 <= cap < m:
            # the cap best by score; ties keep the (position, channel) order (stable sort)
            by_score = np.argsort(-cand_score[:m][order], kind="mergesort")[:cap]
            order = order[np.sort(by_score)]
        for i in range(order.shape[0]):
            j = order[i]
            out_pos[b, i] = cand_pos[j]
            out_score[b, i] = cand_score[j]
            out_label[b, i] = cand_label[j]
        counts[b] = order.shape[0]
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
    # sort: actions by (position, label), boundaries by position (stable: ties keep input order)
    o = np.argsort(al, kind="mergesort")
    o = o[np.argsort(ap[o], kind="mergesort")]
    ap = ap[o]
    asc = asc[o]
    al = al[o]
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
