"""numba kernels for boundary peaks, boundary refinement and short-run relabelling (ASRF post-processing).

Every kernel works on one padded batch at once: ``mask`` selects the valid frames of each row, which
are processed as one contiguous sequence (positions ``pos[0..n)``) and written back to their own
positions. Kernels return a status code (0 = success) and fill ``info`` with the batch element and
frame of the first offending value; the typed wrappers in ``_peaks.py`` / ``_refine.py`` turn it
into a ``ValueError``. Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

PEAKS_ARGRELMAX = 0
PEAKS_PLATEAU = 1

TIE_PROBABILITY = 0
TIE_REFERENCE = 1

OK = 0
ERR_SCORE_NAN = 1
ERR_PROB_RANGE = 2
ERR_TIE_UNRESOLVED = 3
ERR_LABEL_NEGATIVE = 4
ERR_VALUE_NAN = 5


@numba.njit(cache=True, nogil=True)
def _valid_positions(mask_row, pos):  # pragma: no cover - compiled
    n = 0
    for t in range(mask_row.shape[0]):
        if mask_row[t]:
            pos[n] = t
            n += 1
    return n


@numba.njit(cache=True, nogil=True)
def _argrelmax(x, pos, n, thr, out):  # pragma: no cover - compiled
    """ASRF ``argrelmax``: values below ``thr`` count as 0, frame 0 always, strict interior maxima, never the last."""
    if n == 0:
        return 0
    out[0] = 0
    count = 1
    for i in range(1, n - 1):
        # comparisons of two values of x's dtype are exact in float64, so promoting to 0.0 changes nothing
        prev = x[pos[i - 1]]
        cur = x[pos[i]]
        nxt = x[pos[i + 1]]
        if prev < thr:
            prev = 0.0
        if cur < thr:
            cur = 0.0
        if nxt < thr:
            nxt = 0.0
        if prev < cur and nxt < cur:
            out[count] = i
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _plateau_peaks(x, pos, n, thr, out):  # pragma: no cover - compiled
    """Local maxima ``>= thr``; a run of equal values is one peak at its centre ``(first + last) // 2``.

    Outside the track counts as -inf: a run touching the border needs a lower neighbour on its inner side only.
    """
    count = 0
    i = 0
    while i < n:
        v = x[pos[i]]
        j = i
        while j + 1 < n and x[pos[j + 1]] == v:
            j += 1
        if v >= thr:
            left_ok = i == 0 or x[pos[i - 1]] < v
            right_ok = j == n - 1 or x[pos[j + 1]] < v
            if left_ok and right_ok:
                out[count] = (i + j) // 2
                count += 1
        i = j + 1
    return count


@numba.njit(cache=True, nogil=True)
def _peaks(x, pos, n, thr, mode, out):  # pragma: no cover - compiled
    if mode == PEAKS_ARGRELMAX:
        return _argrelmax(x, pos, n, thr, out)
    return _plateau_peaks(x, pos, n, thr, out)


@numba.njit(cache=True, nogil=True)
def find_peaks_batch(x, mask, thr, mode, out, counts, info):  # pragma: no cover - compiled
    """Peaks of every row of ``x`` (B, T) over its valid frames; positions (in the row) go to ``out`` (B, T)."""
    n_rows, length = x.shape
    pos = np.empty(length, dtype=np.int64)
    buf = np.empty(length, dtype=np.int64)
    for b in range(n_rows):
        n = _valid_positions(mask[b], pos)
        for i in range(n):
            v = x[b, pos[i]]
            if v != v:
                info[0] = b
                info[1] = pos[i]
                return ERR_VALUE_NAN
        c = _peaks(x[b], pos, n, thr, mode, buf)
        for i in range(c):
            out[b, i] = pos[buf[i]]
        counts[b] = c
    return OK


@numba.njit(cache=True, nogil=True)
def _span_starts(bprob_row, pos, n, thr, mode, buf):  # pragma: no cover - compiled
    """Span starts in valid-frame coordinates: the peaks, with frame 0 prepended if it is not one."""
    c = _peaks(bprob_row, pos, n, thr, mode, buf[1:])
    if c > 0 and buf[1] == 0:
        for i in range(c):
            buf[i] = buf[i + 1]
        return c
    buf[0] = 0
    return c + 1 if n > 0 else 0


@numba.njit(cache=True, nogil=True)
def _check_prob(bprob, mask, info):  # pragma: no cover - compiled
    for b in range(bprob.shape[0]):
        for t in range(bprob.shape[1]):
            if mask[b, t]:
                v = bprob[b, t]
                if not (v >= 0 and v <= 1):
                    info[0] = b
                    info[1] = t
                    return ERR_PROB_RANGE
    return OK


@numba.njit(cache=True, nogil=True)
def _is_distribution(scores, b, pos, n):  # pragma: no cover - compiled
    """True if every valid frame holds values in [0, 1] that sum to 1 (numpy.allclose tolerances)."""
    n_classes = scores.shape[1]
    for i in range(n):
        t = pos[i]
        total = 0.0
        for k in range(n_classes):
            v = scores[b, k, t]
            if v < 0 or v > 1:
                return False
            total += v
        if abs(total - 1.0) > 1e-8 + 1e-5:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _argmax_classes(scores, b, pos, n, best, labels):  # pragma: no cover - compiled
    """``labels[i] = argmax_k scores[b, k, pos[i]]`` (first maximum, as numpy); False if a NaN is present.

    Class-major loops over contiguous rows (valid frames first in the row: no indirection); the
    NaN test is an integer reduction, so the loops stay vectorisable.
    """
    n_classes = scores.shape[1]
    prefix = pos[n - 1] == n - 1
    n_nan = 0
    for i in range(n):
        v = scores[b, 0, i] if prefix else scores[b, 0, pos[i]]
        best[i] = v
        labels[i] = 0
        n_nan += v != v
    for k in range(1, n_classes):
        if prefix:
            row = scores[b, k]
            for i in range(n):
                v = row[i]
                n_nan += v != v
                if v > best[i]:
                    best[i] = v
                    labels[i] = k
        else:
            for i in range(n):
                v = scores[b, k, pos[i]]
                n_nan += v != v
                if v > best[i]:
                    best[i] = v
                    labels[i] = k
    return n_nan == 0


@numba.njit(cache=True, nogil=True)
def refine_scores(scores, bprob, mask, thr, peak_mode, tie_mode, from_logits, out, info):  # pragma: no cover
    """Boundary refinement (ASRF ``refinement_with_boundary``) from class scores.

    scores: (B, K, T) float; bprob: (B, T) float in [0, 1]; mask: (B, T) bool; out: (B, T) int64,
    pre-filled with the padding value. ``from_logits``: 1 logits, 0 probabilities, -1 decide per video
    (probabilities when every valid frame is a distribution). ``tie_mode``: TIE_PROBABILITY (largest
    summed class probability, first class on equal sums) or TIE_REFERENCE (largest raw sum if > 0,
    else the previous span's label, carried across spans and videos as the reference's variable).
    """
    n_rows, n_classes, length = scores.shape
    pos = np.empty(length, dtype=np.int64)
    labels = np.empty(length, dtype=np.int64)
    best = np.empty(length, dtype=scores.dtype)
    starts = np.empty(length + 1, dtype=np.int64)
    counts = np.zeros(n_classes, dtype=np.int64)
    touched = np.empty(n_classes, dtype=np.int64)
    modes = np.empty(n_classes, dtype=np.int64)
    status = _check_prob(bprob, mask, info)
    if status != OK:
        return status
    stale = -1
    for b in range(n_rows):
        n = _valid_positions(mask[b], pos)
        if n == 0:
            continue
        # frame labels: first maximum over classes (numpy.argmax), class-major loops over contiguous rows
        if not _argmax_classes(scores, b, pos, n, best, labels):
            for i in range(n):
                for k in range(n_classes):
                    if scores[b, k, pos[i]] != scores[b, k, pos[i]]:
                        info[0] = b
                        info[1] = pos[i]
                        return ERR_SCORE_NAN
        n_starts = _span_starts(bprob[b], pos, n, thr, peak_mode, starts)
        starts[n_starts] = n
        logits = from_logits
        for s in range(n_starts):
            lo = starts[s]
            hi = starts[s + 1]
            n_touched = 0
            top = 0
            for i in range(lo, hi):
                c = labels[i]
                if counts[c] == 0:
                    touched[n_touched] = c
                    n_touched += 1
                counts[c] += 1
                if counts[c] > top:
                    top = counts[c]
            n_modes = 0
            for j in range(n_touched):
                c = touched[j]
                if counts[c] == top:
                    modes[n_modes] = c
                    n_modes += 1
                counts[c] = 0
            if n_modes == 1:
                mode = modes[0]
            else:
                if tie_mode == TIE_PROBABILITY and logits == -1:
                    logits = 0 if _is_distribution(scores, b, pos, n) else 1
                mode = -1
                best_sum = 0.0
                for j in range(n_modes):
                    c = modes[j]
                    total = 0.0
                    for i in range(lo, hi):
                        t = pos[i]
                        if tie_mode == TIE_PROBABILITY and logits == 1:
                            m = scores[b, 0, t]
                            for k in range(1, n_classes):
                                if scores[b, k, t] > m:
                                    m = scores[b, k, t]
                            z = 0.0
                            for k in range(n_classes):
                                z += np.exp(np.float64(scores[b, k, t]) - m)
                            total += np.exp(np.float64(scores[b, c, t]) - m) / z
                        else:
                            total += scores[b, c, t]
                    if tie_mode == TIE_PROBABILITY:
                        if mode == -1 or total > best_sum or (total == best_sum and c < mode):
                            mode = c
                            best_sum = total
                    elif total > best_sum or (total == best_sum and mode != -1 and c < mode):
                        mode = c
                        best_sum = total
                if mode == -1:
                    if stale == -1:
                        info[0] = b
                        info[1] = pos[lo]
                        return ERR_TIE_UNRESOLVED
                    mode = stale
            stale = mode
            for i in range(lo, hi):
                out[b, pos[i]] = mode
    return OK


@numba.njit(cache=True, nogil=True)
def refine_labels(labels, bprob, mask, thr, peak_mode, n_classes, out, info):  # pragma: no cover - compiled
    """Boundary refinement from frame labels (B, T): majority vote per span, smallest class id on ties."""
    n_rows, length = labels.shape
    pos = np.empty(length, dtype=np.int64)
    starts = np.empty(length + 1, dtype=np.int64)
    counts = np.zeros(n_classes, dtype=np.int64)
    touched = np.empty(n_classes, dtype=np.int64)
    status = _check_prob(bprob, mask, info)
    if status != OK:
        return status
    for b in range(n_rows):
        n = _valid_positions(mask[b], pos)
        for i in range(n):
            if labels[b, pos[i]] < 0:
                info[0] = b
                info[1] = pos[i]
                return ERR_LABEL_NEGATIVE
        if n == 0:
            continue
        n_starts = _span_starts(bprob[b], pos, n, thr, peak_mode, starts)
        starts[n_starts] = n
        for s in range(n_starts):
            lo = starts[s]
            hi = starts[s + 1]
            n_touched = 0
            top = 0
            for i in range(lo, hi):
                c = labels[b, pos[i]]
                if counts[c] == 0:
                    touched[n_touched] = c
                    n_touched += 1
                counts[c] += 1
                if counts[c] > top:
                    top = counts[c]
            mode = -1
            for j in range(n_touched):
                c = touched[j]
                if counts[c] == top and (mode == -1 or c < mode):
                    mode = c
                counts[c] = 0
            for i in range(lo, hi):
                out[b, pos[i]] = mode
    return OK


@numba.njit(cache=True, nogil=True)
def _relabel_runs(p, n, max_len):  # pragma: no cover - compiled
    """Runs of at most ``max_len`` frames take the label of the nearest preceding longer run.

    Leading short runs take the label of the first longer run; without any longer run nothing changes.
    """
    first_long = -1
    i = 0
    while i < n:
        j = i
        while j + 1 < n and p[j + 1] == p[i]:
            j += 1
        if j - i + 1 > max_len:
            first_long = p[i]
            break
        i = j + 1
    if first_long == -1:
        return
    fill = first_long
    i = 0
    while i < n:
        lab = p[i]
        j = i
        while j + 1 < n and p[j + 1] == lab:
            j += 1
        if j - i + 1 > max_len:
            fill = lab
        else:
            for t in range(i, j + 1):
                p[t] = fill
        i = j + 1


@numba.njit(cache=True, nogil=True)
def _copy_preceding(p, n, j, cnt):  # pragma: no cover - compiled
    """ASRF: ``preds[j - cnt : j] = preds[j - cnt - 1]`` with Python's negative-index wrap-around."""
    src = j - cnt - 1
    if src < 0:
        src += n
    v = p[src]
    lo = j - cnt
    if lo < 0:
        lo += n
    for t in range(lo, j):
        p[t] = v


@numba.njit(cache=True, nogil=True)
def _relabel_reference(p, n, theta):  # pragma: no cover - compiled
    """ASRF ``_relabeling`` loop, statement for statement (Python slice and negative-index semantics)."""
    if n < 2:
        return  # the reference raises (``j`` is never bound) for a single frame
    last = p[0]
    cnt = 1
    j = 1
    for j in range(1, n):
        if last == p[j]:
            cnt += 1
        else:
            if cnt > theta:
                cnt = 1
                last = p[j]
            else:
                _copy_preceding(p, n, j, cnt)
                cnt = 1
                last = p[j]
    if cnt <= theta:
        _copy_preceding(p, n, j, cnt)


@numba.njit(cache=True, nogil=True)
def relabel_batch(labels, mask, max_len, reference, out, info):  # pragma: no cover - compiled
    """Short-run relabelling of every row of ``labels`` (B, T) over its valid frames; ``out`` pre-filled."""
    n_rows, length = labels.shape
    pos = np.empty(length, dtype=np.int64)
    p = np.empty(length, dtype=np.int64)
    for b in range(n_rows):
        n = _valid_positions(mask[b], pos)
        for i in range(n):
            p[i] = labels[b, pos[i]]
            if p[i] < 0:
                info[0] = b
                info[1] = pos[i]
                return ERR_LABEL_NEGATIVE
        if reference:
            _relabel_reference(p, n, max_len)
        else:
            _relabel_runs(p, n, max_len)
        for i in range(n):
            out[b, pos[i]] = p[i]
    return OK
