"""TransParser losses for temporal action parsing (Shao et al., "Intra- and Inter-Action Understanding
via Temporal Action Parsing", CVPR 2020, §5, Eq. (3)–(6)). No official code exists; every choice the
paper leaves open is stated in the docstrings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import check_reduction, frame_mask, reduce_loss, where_kept

__all__ = ["GlobalParseLoss", "LocalParseLoss", "global_parse_loss", "local_parse_loss"]


def local_parse_loss(attention: Tensor, segment_ids: Tensor, mask: Tensor | None = None, *, margin: float = 1.0,
                     epsilon: float = 1e-6, reduction: str = "mean") -> Tensor:
    r"""Local loss of TransParser (Eq. (3)–(5)): pull SPS attention of one sub-action together, push others apart.

    .. math::
        L_{local} = \frac{L_{sim} + \lambda}{L_{dissim}},\quad
        L_{sim} = \mathrm{avg}_{t_1 \ne t_2,\, s(t_1) = s(t_2)}
            \lVert \alpha'_{t_1} - \alpha'_{t_2} \rVert_2,\quad
        L_{dissim} = \mathrm{avg}_{s(t_1) \ne s(t_2)} \lVert \alpha'_{t_1} - \alpha'_{t_2} \rVert_2

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
        segment_ids: ``(B, T)`` integer sub-action id per frame.
        mask: ``(B, T)`` bool, ``True`` = valid frame (padded frames are zeroed before any arithmetic);
            a video without a valid frame is left out (0 in ``"none"``, not in the mean).
        margin: ``λ >= 0``.
        epsilon: stabiliser ``> 0`` added to ``L_dissim``.
        reduction: ``"mean"`` (over videos), ``"sum"`` or ``"none"`` (``(B,)``).
    """
    _checks.tensor(attention, "attention", "(B, T, M)")
    batch, length, _ = attention.shape
    _checks.tensor(segment_ids, "segment_ids", "(B, T)", dtype="integer", sizes={"B": batch, "T": length})
    check_reduction(reduction)
    margin = _checks.real(margin, "margin", low=0.0)
    epsilon = _checks.real(epsilon, "epsilon", low=0.0, low_open=True)
    _checks.elements(batch * length * length, "attention", "B·T·T (all frame pairs)")
    keep = frame_mask(mask, attention, time_dim=1)
    alpha = where_kept(_checks.upcast_half(attention), keep)  # padded frames: zeros before any arithmetic
    valid = torch.ones(batch, length, dtype=torch.bool, device=alpha.device) if keep is None else keep[..., 0]
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
    # a video without a valid frame has no pair: left out (0 in "none", not in the mean)
    return reduce_loss(per_video, reduction, None if keep is None else valid.any(1))


class LocalParseLoss(nn.Module):
    """Module form of :func:`local_parse_loss`; ``forward(attention, segment_ids, mask=None)``."""

    def __init__(self, margin: float = 1.0, epsilon: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__()
        self.margin = _checks.real(margin, "margin", low=0.0)
        self.epsilon = _checks.real(epsilon, "epsilon", low=0.0, low_open=True)
        self.reduction = check_reduction(reduction)

    def forward(self, attention: Tensor, segment_ids: Tensor, mask: Tensor | None = None) -> Tensor:
        return local_parse_loss(attention, segment_ids, mask, margin=self.margin, epsilon=self.epsilon,
                                reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


def global_parse_loss(frame_logits: Tensor, labels: Tensor, mask: Tensor | None = None, *,
                      reduction: str = "mean") -> Tensor:
    r"""Global loss of TransParser (Eq. (6)): classify the action instance from its averaged frame logits.

    .. math::
        L_{global} = \mathrm{NLL}\Bigl(\mathrm{log\,softmax}\bigl(\tfrac{1}{n}
            \textstyle\sum_t W f''_t\bigr),\ l_A\Bigr)

    ``frame_logits`` are ``W f''_t`` (a linear classifier on the features of the second SPS unit); the
    mean over the ``n`` valid frames of an instance commutes with ``W``, so averaging logits equals
    classifying the averaged feature. "NLL" is read as the negative log-likelihood of the softmax, i.e.
    cross-entropy.

    Args:
        frame_logits: ``(B, K, T)`` per-frame class logits.
        labels: ``(B,)`` int64 instance labels.
        mask: ``(B, T)`` bool, ``True`` = valid frame; padded frames are zeroed before any arithmetic,
            and an instance without a valid frame is left out (0 in ``"none"``, not in the mean).
        reduction: ``"mean"`` (over instances), ``"sum"`` or ``"none"`` (``(B,)``).
    """
    _checks.tensor(frame_logits, "frame_logits", "(B, K, T)")
    batch, classes, _ = frame_logits.shape
    _checks.tensor(labels, "labels", "(B,)", dtype=torch.int64, sizes={"B": batch})
    _checks.values_in_range(labels, "labels", low=0, high=classes - 1, what="class ids")
    check_reduction(reduction)
    keep = frame_mask(mask, frame_logits)
    x = where_kept(_checks.upcast_half(frame_logits), keep)  # padded frames: zeros before any arithmetic
    if keep is None and x.shape[-1] > 0:
        pooled = x.mean(-1)
        counted = None
    else:  # the mean over each instance's valid frames (T = 0: none, every instance is left out)
        frames = keep[:, 0].sum(-1) if keep is not None else torch.zeros(batch, dtype=torch.long, device=x.device)
        pooled = x.sum(-1) / frames.clamp(min=1).unsqueeze(1).to(x.dtype)
        counted = frames > 0  # an instance without a valid frame has no prediction: left out
        labels = torch.where(counted, labels, torch.full_like(labels, -100))
    return reduce_loss(F.cross_entropy(pooled, labels, reduction="none", ignore_index=-100), reduction, counted)


class GlobalParseLoss(nn.Module):
    """Module form of :func:`global_parse_loss`; ``forward(frame_logits, labels, mask=None)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, frame_logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        return global_parse_loss(frame_logits, labels, mask, reduction=self.reduction)
