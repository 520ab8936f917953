"""Slow, readable statements of the TAS metric building blocks, the oracles the kernels are tested
against (``tests/test_metrics.py``, ``tests/test_metrics_reference.py``)."""

from __future__ import annotations


def runs(labels, background, short_last):
    """``[start, end, label]`` of every run of equal labels not in ``background``; with ``short_last``
    the last run ends at ``T - 1`` when it reaches ``T`` (ASFormer's rule)."""
    segs, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[t - 1]:
            if labels[t - 1] not in background:
                segs.append([start, t, labels[t - 1]])
            start = t
    if short_last and segs and segs[-1][1] == len(labels):
        segs[-1][1] = len(labels) - 1
    return segs


def edit_distance(a, b):
    """The scripts' edit (Levenshtein) distance of two label sequences, as a dynamic programme."""
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d = d, [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            d[j] = prev[j - 1] if x == y else 1 + min(prev[j - 1], prev[j], d[j - 1])
    return d[-1]
