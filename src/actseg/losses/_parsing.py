"""TransParser losses for temporal action parsing (Shao et al., "Intra- and Inter-Action Understanding
via Temporal Action Parsing", CVPR 2020, §5, Eq. (3)–(6)). No official code exists; every choice the
paper leaves open is stated in the docstrings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import shape_str
from ._common import check_float, check_logits, check_mask, check_reduction, upcast

__all__ = ["GlobalParseLoss", "LocalParseLoss", "global_parse_loss", "local_parse_loss"]


def local_parse_loss(attention: Tensor, segment_ids: Tensor, mask: Tensor | None = None, *, margin: float = 1.0,
                     epsilon: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Local loss of TransParser (Eq. (3)–(5)): pull SPS attention of one sub-action together, push others apart.

    .. math::
        L_{local} = \\frac{L_{sim} + \\lambda}{L_{dissim}},\\quad
        L_{sim} = \\mathrm{avg}_{t_1 \\ne t_2,\\, s(t_1) = s(t_2)}
            \\lVert \\alpha'_{t_1} - \\alpha'_{t_2} \\rVert_2,\\quad
        L_{dissim} = \\mathrm{avg}_{s(t_1) \\ne s(t_2)} \\lVert \\alpha'_{t_1} - \\alpha'_{t_2} \\rVert_2

    Choices where the paper is silent (documented, not from any official code):
        - "avg" is the mean over ordered frame pairs of the video (pairs of a frame with itself are
          left out of ``L_sim``); the loss is computed per video, then reduced over the batch.
        - ``λ`` (``margin``) defaults to 1.0 (the paper gives no value); ``ε`` is added to ``L_dissim``.
        - A video with one sub-action has no dissimilar pair: its loss is ``L_sim + λ`` (``L_dissim := 1``).
        - Sub-actions are given per frame by ``segment_ids`` (frames with equal ids form one sub-action,
          for example run indices ``actseg.targets.boundary_labels(labels).cumsum(-1)``).
        - Memory is ``O(T²)`` per video (all pairwise distances; TAPOS instances are a few hundred frames).

    Args:
        attention: ``(B, T, M)`` attention ``α'`` of the last SPS unit over the ``M`` patterns.
        segment_ids: ``(B, T)`` int64 sub-action id per frame.
        mask: ``(B, T)`` bool, ``True`` = valid frame.
        margin: ``λ``.
        epsilon: stabiliser added to ``L_dissim``.
        reduction: ``"mean"`` (over videos), ``"sum"`` or ``"none"`` (``(B,)``).
    """
    check_float(attention, "attention")
    if attention.ndim != 3:
        raise ValueError(f"attention: expected shape (B, T, M), got {shape_str(attention.shape)}")
    batch, length, _ = attention.shape
    if not isinstance(segment_ids, Tensor) or segment_ids.shape != (batch, length) or segment_ids.is_floating_point():
        shape = shape_str(segment_ids.shape) if isinstance(segment_ids, Tensor) else type(segment_ids).__name__
        raise ValueError(f"segment_ids: expected an integer tensor of shape {(batch, length)}, got {shape}")
    mask = check_mask(mask, batch, length)
    check_reduction(reduction)
    if not float(margin) >= 0:
        raise ValueError(f"margin: expected a non-negative λ, got {margin!r}")
    alpha = upcast(attention)
    valid = torch.ones(batch, length, dtype=torch.bool, device=alpha.device) if mask is None else mask
    pair_valid = valid[:, :, None] & valid[:, None, :]
    same = (segment_ids[:, :, None] == segment_ids[:, None, :]) & pair_valid
    same = same & ~torch.eye(length, dtype=torch.bool, device=alpha.device)
    different = (segment_ids[:, :, None] != segment_ids[:, None, :]) & pair_valid
    distance = torch.cdist(alpha, alpha, compute_mode="donot_use_mm_for_euclid_dist")  # (B, T, T)
    zero = distance.new_zeros(())
    sim = torch.where(same, distance, zero).sum((1, 2)) / same.sum((1, 2)).clamp(min=1)
    n_diff = different.sum((1, 2))
    dissim = torch.where(different, distance, zero).sum((1, 2)) / n_diff.clamp(min=1)
    dissim = torch.where(n_diff > 0, dissim + epsilon, torch.ones_like(dissim))
    per_video = (sim + margin) / dissim
    if reduction == "none":
        return per_video
    return per_video.sum() if reduction == "sum" else per_video.mean()


class LocalParseLoss(nn.Module):
    """Module form of :func:`local_parse_loss`; ``forward(attention, segment_ids, mask=None)``."""

    def __init__(self, margin: float = 1.0, epsilon: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__()
        self.margin, self.epsilon = float(margin), float(epsilon)
        self.reduction = check_reduction(reduction)

    def forward(self, attention: Tensor, segment_ids: Tensor, mask: Tensor | None = None) -> Tensor:
        return local_parse_loss(attention, segment_ids, mask, margin=self.margin, epsilon=self.epsilon,
                                reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


def global_parse_loss(frame_logits: Tensor, labels: Tensor, mask: Tensor | None = None, *,
                      reduction: str = "mean") -> Tensor:
    """Global loss of TransParser (Eq. (6)): classify the action instance from its averaged frame logits.

    .. math::
        L_{global} = \\mathrm{NLL}\\Bigl(\\mathrm{log\\,softmax}\\bigl(\\tfrac{1}{n}
            \\textstyle\\sum_t W f''_t\\bigr),\\ l_A\\Bigr)

    ``frame_logits`` are ``W f''_t`` (a linear classifier on the features of the second SPS unit); the
    mean over the ``n`` valid frames of an instance commutes with ``W``, so averaging logits equals
    classifying the averaged feature. "NLL" is read as the negative log-likelihood of the softmax, i.e.
    cross-entropy.

    Args:
        frame_logits: ``(B, K, T)`` per-frame class logits.
        labels: ``(B,)`` int64 instance labels.
        mask: ``(B, T)`` bool, ``True`` = valid frame.
        reduction: ``"mean"`` (over instances), ``"sum"`` or ``"none"`` (``(B,)``).
    """
    check_logits(frame_logits, "frame_logits")
    batch, classes, length = frame_logits.shape
    if not isinstance(labels, Tensor) or labels.shape != (batch,) or labels.dtype != torch.int64:
        shape = shape_str(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels: expected an int64 tensor of shape ({batch},), got {shape}")
    if bool(((labels < 0) | (labels >= classes)).any()):
        raise ValueError(f"labels: expected class ids in [0, {classes}), got {labels.tolist()}")
    mask = check_mask(mask, batch, length)
    check_reduction(reduction)
    x = upcast(frame_logits)
    if mask is None:
        pooled = x.mean(-1)
    else:
        weights = mask.to(x.dtype).unsqueeze(1)
        pooled = (x * weights).sum(-1) / weights.sum(-1).clamp(min=1)
    return F.cross_entropy(pooled, labels, reduction=reduction)


class GlobalParseLoss(nn.Module):
    """Module form of :func:`global_parse_loss`; ``forward(frame_logits, labels, mask=None)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, frame_logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        return global_parse_loss(frame_logits, labels, mask, reduction=self.reduction)
