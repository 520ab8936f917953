"""GSMT / TAGS global-mask decoding: class scores + global segmentation masks -> scored proposals.

Nag et al., "Proposal-Free Temporal Action Detection via Global Segmentation Mask Learning" (TAGS,
ECCV 2022; GSMT in its earlier version), Sec. 3.3 "Inference": select the top ``M1`` snippets by
classification score, threshold each one's global mask at several ``θ``, turn the activated
snippets into candidates, score them by ``class score × maximal mask score``, drop candidates
below ``θ_c``, keep the top ``M2`` and apply Soft-NMS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import (
    choice,
    elements,
    flag,
    instance_of,
    integer,
    mask_array,
    real,
    real_array,
    renamed,
    shape_str,
    size,
    values_in_range,
)
from ..segments import Segments
from ._nms import batched_nms

__all__ = ["decode_global_masks"]

_PAPER_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_NMS_DEFAULTS = {
    "iou_threshold": 0.5,
    "min_score": 0.001,
    "max_num": None,
    "class_agnostic": True,
    "sigma": 0.6,
    "voting_threshold": 0.0,
}


def decode_global_masks(
    class_scores: Any,
    masks: Any,
    *,
    mask: Any = None,
    num_anchors: int | None = None,
    thresholds: Sequence[float] = _PAPER_THRESHOLDS,
    mode: str = "span",
    min_score: float = 0.1,
    max_candidates: int | None = 200,
    min_length: int = 1,
    background_index: int = -1,
    from_logits: bool = False,
    anchor_axis: int = 1,
    deduplicate: bool = True,
    nms: str = "soft",
    nms_kwargs: Mapping[str, Any] | None = None,
    top_k: int | None = None,
) -> list[Segments]:
    """Decode GSMT/TAGS outputs into scored, labelled proposals per video (snippet units), then Soft-NMS.

    TAGS/GSMT Sec. 3.3 (inference). For every video ``b``:

    1. snippet score ``p_t = max_{c ≠ bg} P[b, c, t]`` and label ``argmax`` (first maximum);
       the ``num_anchors`` (``M1``) valid snippets by ``p_t`` are the anchors (ties: lower ``t`` first);
    2. for each anchor ``t`` and threshold ``θ``, the anchor's mask ``m = masks[b, t, :]``
       (``anchor_axis=1``) is activated where ``m > θ``;
       ``mode="span"`` (long actions, ActivityNet): one candidate from the first to the last
       activated snippet; ``mode="runs"`` (short actions, THUMOS): one candidate per maximal run of
       activated snippets;
    3. candidate score ``s = p_t · max(m[start:end])`` (class score × maximal mask score);
       candidates with ``s < min_score`` (``θ_c``) or shorter than ``min_length`` snippets are
       dropped, duplicates (same ``start, end, label``) keep their best score, and the
       ``max_candidates`` (``M2``) best remain;
    4. :func:`~actseg.postprocess.batched_nms` (``nms="soft"`` Gaussian Soft-NMS, ``"hard"``, or
       ``"none"``) with ``nms_kwargs``.

    Everything up to step 4 is vectorised over videos, anchors, thresholds and snippets.

    Convention:
        * layout: with ``anchor_axis=1`` (default, ``docs/conventions.md``) row ``masks[b, t, :]`` is
          the mask predicted by anchor snippet ``t``, as the TAGS code reads ``props[t, :]`` (channel
          ``t`` of a ``Conv1d(·, T, 1)`` head) and as :func:`~actseg.targets.global_mask_targets`
          lays out its targets. GSMT Eq. (4) puts snippet ``t``'s mask in **column** ``t`` of
          ``M = sigmoid(H_b(E))`` (the time axis of the conv output): for that layout pass
          ``anchor_axis=2``, which reads ``masks[b, :, t]``. The two differ unless ``masks`` is
          symmetric (targets are; predictions are not).
        * segments are half-open in snippet units: ``[first, last + 1)`` (TAGS writes
          ``first / T`` and ``last / T``); labels are channel indices of ``class_scores`` (the
          background channel is never a label).
        * ``class_scores`` are probabilities (softmax over the ``K + 1`` channels, as TAGS); pass
          ``from_logits=True`` to apply that softmax here (without it, values outside [0, 1] are an
          error). Mask values must be probabilities in [0, 1] (apply a sigmoid to mask logits).
        * padded snippets (``mask`` False) are never anchors and never activated.
        * Soft-NMS defaults: class-agnostic, Gaussian ``exp(-IoU²/σ)`` with ``σ = 0.6`` (the
          paper's "SoftNMS threshold" 0.6 for ActivityNet; 0.4 for THUMOS), ``min_score=0.001``,
          no cap (``nms_kwargs`` overrides any of ``iou_threshold, min_score, max_num,
          class_agnostic, sigma, voting_threshold``).
        * Defaults follow the paper (``M1 = 50``, ``Θ = {0.1, …, 0.9}``, ``θ_c = 0.1``,
          ``M2 = 200``); the public TAGS code differs (10 anchors, ``Θ = {0, 0.2, …, 0.8}``,
          mean-mask scores, video-level labels and an extra class-activation branch) and is not
          reproduced.

    Args:
        class_scores: ``(B, K + 1, T)`` per-snippet class probabilities (or logits).
        masks: ``(B, T, T)`` global masks in [0, 1].
        mask: ``(B, T)`` bool, ``True`` = valid snippet; ``None`` = all valid.
        num_anchors: anchors per video (``M1``; 50 when ``None``).
        thresholds: mask thresholds ``Θ`` (each in [0, 1)).
        mode: ``"span"`` or ``"runs"``.
        min_score: candidate confidence threshold ``θ_c`` (a finite real).
        max_candidates: candidates per video passed to NMS (``M2``); ``None`` keeps all.
        min_length: minimal candidate length in snippets.
        background_index: the background channel of ``class_scores`` (default the last one).
        from_logits: apply a softmax over the class axis first.
        anchor_axis: axis of ``masks`` that indexes the anchor snippet (1 or 2).
        deduplicate: merge candidates with the same ``(start, end, label)``.
        nms: ``"soft"``, ``"hard"`` or ``"none"``.
        nms_kwargs: overrides of the NMS parameters listed above.
        top_k: deprecated spelling of ``num_anchors`` (0.1; ``DeprecationWarning``).

    Returns:
        A list of ``B`` :class:`~actseg.segments.Segments` with float64 ``starts``/``ends`` in
        snippet units, int64 ``labels`` and float64 ``scores``, by descending score.

    Raises:
        ValueError: shapes disagree, values are NaN/inf, probabilities outside [0, 1], parameters
            out of range (``min_score`` NaN included).
        TypeError: non-numeric inputs, non-bool ``mask``, a meta tensor.

    Example:
        >>> P = np.zeros((1, 3, 8)); P[0, 2] = 1.0; P[0, 0, 2:5] = 0.9; P[0, 2, 2:5] = 0.1
        >>> M = np.zeros((1, 8, 8)); M[0, 2:5, 2:5] = 0.95
        >>> out = decode_global_masks(P, M, num_anchors=3)  # three anchors, one (deduplicated) proposal
        >>> out[0].starts.tolist(), out[0].ends.tolist(), out[0].labels.tolist(), out[0].scores.round(3).tolist()
        ([2.0], [5.0], [0], [0.855])

    .. versionchanged:: 0.2.0
        ``top_k=`` renamed ``num_anchors=`` (the old spelling warns until the next minor release);
        masks outside ``[0, 1]``, class scores outside ``[0, 1]`` without ``from_logits`` and a NaN
        ``min_score`` are errors.
    """
    choice(mode, ("span", "runs"), "mode")
    choice(nms, ("soft", "hard", "none"), "nms")
    anchor_axis = integer(anchor_axis, "anchor_axis", low=1, high=2)
    num_anchors = size(renamed(num_anchors, top_k, new="num_anchors", old="top_k", default=50), "num_anchors")
    max_candidates = size(max_candidates, "max_candidates", none=True)
    min_length = size(min_length, "min_length")
    min_score = real(min_score, "min_score", low=0.0, high=1.0)  # scores are probabilities
    from_logits = flag(from_logits, "from_logits")
    deduplicate = flag(deduplicate, "deduplicate")
    theta = real_array(thresholds, "thresholds", (0, 1), dtype=np.float64).reshape(-1)
    if theta.size == 0 or not np.all((theta >= 0) & (theta < 1)):
        raise ValueError(f"thresholds: expected a non-empty sequence of values in [0, 1), got {theta.tolist()!r}")
    options = dict(_NMS_DEFAULTS)
    if nms_kwargs is not None:
        instance_of(nms_kwargs, Mapping, "nms_kwargs", "a mapping of NMS parameters")
        unknown = sorted(set(nms_kwargs) - set(options))
        if unknown:
            raise TypeError(f"nms_kwargs: expected keys among {sorted(options)}, got unexpected {unknown}")
        options.update(nms_kwargs)

    probs = real_array(class_scores, "class_scores", 3, dtype=np.float64)
    bsz, n_cls, t_len = probs.shape
    if n_cls < 2:
        raise ValueError(f"class_scores: expected shape (B, K + 1, T) with K >= 1, got {shape_str(probs.shape)}")
    gm = real_array(masks, "masks", 3, dtype=np.float64)
    if gm.shape != (bsz, t_len, t_len):
        raise ValueError(f"masks: expected shape ({bsz}, {t_len}, {t_len}) (B, T, T), got {shape_str(gm.shape)}")
    background_index = integer(background_index, "background_index", low=-n_cls, high=n_cls - 1)
    valid = mask_array(mask, (bsz, t_len))
    valid = np.ones((bsz, t_len), dtype=np.bool_) if valid is None else valid
    values_in_range(gm, "masks", low=0, high=1)
    if not from_logits:
        values_in_range(probs, "class_scores", low=0, high=1)
    if from_logits:
        probs = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)

    # 1. anchors: top-k valid snippets by their best foreground class
    fg_ids = np.delete(np.arange(n_cls), background_index % n_cls)
    fg = probs[:, fg_ids, :]
    snippet_score = np.where(valid, fg.max(axis=1), -np.inf)  # (B, T)
    snippet_label = fg_ids[fg.argmax(axis=1)]  # (B, T)
    k = min(num_anchors, t_len)
    anchors = np.argsort(-snippet_score, axis=1, kind="stable")[:, :k]  # (B, k)
    anchor_score = np.take_along_axis(snippet_score, anchors, axis=1)
    anchor_label = np.take_along_axis(snippet_label, anchors, axis=1)
    anchor_ok = np.isfinite(anchor_score)

    # 2. the anchors' masks, padded positions never active
    if anchor_axis == 1:
        rows = np.take_along_axis(gm, anchors[:, :, None], axis=1)  # (B, k, T)
    else:
        rows = np.take_along_axis(gm, anchors[:, None, :], axis=2).transpose(0, 2, 1)
    rows = np.where(valid[:, None, :], rows, -np.inf)
    elements(bsz * k * theta.shape[0] * t_len, "thresholds", "B·num_anchors·len(thresholds)·T")
    active = rows[:, :, None, :] > theta[None, None, :, None]  # (B, k, n_theta, T)
    active &= anchor_ok[:, :, None, None]

    if mode == "span":
        has = active.any(axis=-1)
        spans = active if t_len else np.zeros((*active.shape[:-1], 1), dtype=bool)  # argmax needs a frame
        first = spans.argmax(axis=-1)
        last = t_len - 1 - spans[..., ::-1].argmax(axis=-1)
        b_idx, a_idx, _ = np.nonzero(has)
        starts, ends = first[has], last[has] + 1
        peak = rows.max(axis=-1, initial=-np.inf)[b_idx, a_idx]  # the row maximum lies inside the span
    else:
        n_rows = bsz * k * theta.shape[0]
        flat = active.reshape(n_rows, t_len)
        edges = np.diff(np.pad(flat, ((0, 0), (1, 1))).astype(np.int8), axis=1)
        r_start, starts = np.nonzero(edges == 1)
        _, ends = np.nonzero(edges == -1)
        b_idx, a_idx, _ = np.unravel_index(r_start, (bsz, k, theta.shape[0]))
        if starts.size:
            values = np.broadcast_to(rows[:, :, None, :], active.shape).reshape(-1)
            bounds = np.stack([r_start * t_len + starts, r_start * t_len + ends], axis=1).reshape(-1)
            peak = np.maximum.reduceat(np.append(values, -np.inf), bounds)[::2]
        else:
            peak = np.zeros(0)

    # 3. scores, filters, duplicates, top M2 per video
    scores = anchor_score[b_idx, a_idx] * peak
    labels = anchor_label[b_idx, a_idx]
    keep = (scores >= min_score) & (ends - starts >= min_length)
    b_idx, starts, ends, labels, scores = b_idx[keep], starts[keep], ends[keep], labels[keep], scores[keep]
    order = np.lexsort((labels, ends, starts, -scores, b_idx))
    b_idx, starts, ends, labels, scores = b_idx[order], starts[order], ends[order], labels[order], scores[order]
    if deduplicate and b_idx.size:
        key = np.stack([b_idx, starts, ends, labels], axis=1)
        _, first_seen = np.unique(key, axis=0, return_index=True)
        first_seen.sort()
        b_idx, starts, ends, labels, scores = (x[first_seen] for x in (b_idx, starts, ends, labels, scores))
    video_bounds = np.searchsorted(b_idx, np.arange(bsz + 1))

    # 4. NMS per video
    out = []
    for b in range(bsz):
        lo, hi = video_bounds[b], video_bounds[b + 1]
        if max_candidates is not None:
            hi = min(hi, lo + max_candidates)
        seg = np.stack([starts[lo:hi], ends[lo:hi]], axis=1).astype(np.float64)
        sc, lab = scores[lo:hi], labels[lo:hi]
        if nms != "none" and seg.shape[0]:
            seg, sc, lab = batched_nms(seg, sc, lab, soft=nms == "soft", **options)
        if seg.shape[0] == 0:
            empty = Segments.empty(scores=True, dtype=np.float64)
            empty.starts, empty.ends = empty.starts.astype(np.float64), empty.ends.astype(np.float64)
            out.append(empty)
        else:
            out.append(Segments(seg[:, 0].astype(np.float64), seg[:, 1].astype(np.float64), lab, sc.astype(np.float64)))
    return out
