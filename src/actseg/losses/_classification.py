"""Frame classification losses: multi-class focal loss, class-balanced BCE, boundary BCE.

References: Lin et al., "Focal Loss for Dense Object Detection" (used by InterAct Eq. (7) and GSMT
Eq. (5)); GSMT Eq. (5) and the TAGS code for the positive/negative re-weighted logistic loss; InterAct
Eq. (8) and ASRF (Ishikawa et al., WACV 2021) for the boundary loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, shape_str
from ._common import (
    check_float,
    check_logits,
    check_mask,
    check_reduction,
    check_same_shape,
    check_target,
    frame_mask,
    reduce_loss,
    upcast,
)

__all__ = [
    "BalancedBCELoss",
    "BoundaryLoss",
    "FocalLoss",
    "HardNegativeBCELoss",
    "balanced_bce_loss",
    "boundary_loss",
    "focal_loss",
    "hard_negative_bce_loss",
]


def focal_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, gamma: float = 2.0,
               weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
               reference: str | None = None) -> Tensor:
    """Multi-class focal loss over frames (Lin et al.; InterAct Eq. (7) ``L_focal``; GSMT Eq. (5)).

    .. math:: L = -\\,w_{y_t}\\,(1 - p_{t, y_t})^{\\gamma} \\log p_{t, y_t},\\qquad p_t = \\mathrm{softmax}(x_t)

    Convention:
        - ``reduction="mean"``: average over the batch's labelled frames (``mask`` True and target
          ``!= ignore_index``), pooled over videos (one video of 10,000 frames weighs 10× one of 1,000).
        - ``weight``: optional per-class weights ``(K,)``, multiplied in (not renormalised).
        - ``reference="tags"``: the TAGS code's form, the focal factor applied to the batch-mean
          cross-entropy ``CE``: ``(1 − e^{−CE})^γ · CE`` (a scalar; ``reduction`` must be ``"mean"``).

    Args:
        logits: ``(B, K, T)`` class logits.
        target: ``(B, T)`` int64 class ids, ``ignore_index`` for unlabelled frames.
        mask: ``(B, T)`` bool, ``True`` = valid frame.
        gamma: focusing exponent (2).
        weight: ``(K,)`` class weights or ``None``.
        ignore_index: target value of unlabelled frames.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B, T)``, zero where not counted).
        reference: ``None`` or ``"tags"``.

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
        >>> round(float(focal_loss(logits, torch.tensor([[0, 1]]), gamma=0.0)), 4)  # = cross-entropy
        0.1269
    """
    check_logits(logits)
    batch, classes, length = logits.shape
    check_target(target, batch, length, classes, ignore_index)
    check_reduction(reduction)
    if reference is not None:
        check_choice(reference, ("tags",), "reference")
    if not float(gamma) >= 0:
        raise ValueError(f"gamma: expected a non-negative exponent, got {gamma!r}")
    if weight is not None and (not isinstance(weight, Tensor) or weight.shape != (classes,)):
        shape = shape_str(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"weight: expected a tensor of shape ({classes},), got {shape}")
    keep = target != ignore_index
    if mask is not None:
        keep = keep & check_mask(mask, batch, length)
    safe_target = torch.where(keep, target, torch.zeros_like(target))
    log_p = F.log_softmax(upcast(logits), dim=1).gather(1, safe_target.unsqueeze(1)).squeeze(1)  # (B, T)
    if reference == "tags":
        if reduction != "mean":
            raise ValueError(f"reduction: reference='tags' is defined for 'mean' only, got {reduction!r}")
        ce = reduce_loss(-log_p, "mean", keep)
        return (1 - torch.exp(-ce)).pow(gamma) * ce
    values = -(1 - log_p.exp()).pow(gamma) * log_p
    if weight is not None:
        values = values * weight.to(values)[safe_target]
    return reduce_loss(values, reduction, keep)


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss`; ``forward(logits (B, K, T), target (B, T), mask=None)``."""

    def __init__(self, gamma: float = 2.0, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.register_buffer("weight", weight, persistent=False)
        self.ignore_index = int(ignore_index)
        self.reduction = check_reduction(reduction)
        self.reference = reference

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return focal_loss(logits, target, mask, gamma=self.gamma, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction, reference=self.reference)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


def hard_negative_bce_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *,
                           num_negatives: int | None = None, alpha: float = 10.0, reduction: str = "mean",
                           reference: str | None = None, epsilon: float = 1e-6) -> Tensor:
    """Per-class logistic loss with the hardest negative classes up-weighted (GSMT Eq. (5), second term).

    .. math::
        L_t = -\\sum_{k} y_{t,k} \\log r_{t,k} \\;-\\; \frac{\alpha}{|\\mathcal N_t|}
              \\sum_{k \\in \\mathcal N_t} \\log(1 - r_{t,k})

    with ``r = sigmoid(logits)`` the per-class regression output and ``N_t`` the ``num_negatives`` negative
    classes of snippet ``t`` with the largest ``−log(1 − r)`` (GSMT: ``|N| = K/10``, ``α = 10``).

    Convention:
        - ``reduction="mean"``: average of ``L_t`` over valid snippets.
        - ``reference="tags"``: the TAGS ``top_lr_loss`` (``num_negatives`` = 120 there, ``⌊0.6 · 200⌋``):
          ``−Σ y log(r + ε) / (10 + #positives) + α · mean(topk(−(1 − y) log(1 − r + ε)))``, the top-k taken
          over the class axis and the mean over all ``B · k · T`` selected values (``reduction="mean"`` only).

    Args:
        logits: ``(B, C, T)`` per-class logits (GSMT: ``K + 1`` classes with background).
        target: same shape, multi-hot 0/1 class target.
        mask: ``(B, T)`` bool or ``None``.
        num_negatives: size of ``N_t`` (default ``C // 10``, at least 1).
        alpha: weight ``α`` of the negatives.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B, T)``).
        reference: ``None`` or ``"tags"``.
        epsilon: the ``ε`` of ``reference="tags"``.
    """
    check_logits(logits)
    check_same_shape(logits, target, "logits", "target")
    check_reduction(reduction)
    if reference is not None:
        check_choice(reference, ("tags",), "reference")
    classes = logits.shape[1]
    k = max(classes // 10, 1) if num_negatives is None else num_negatives
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= classes:
        raise ValueError(f"num_negatives: expected an integer in [1, {classes}], got {num_negatives!r}")
    x, y = upcast(logits), upcast(target).to(upcast(logits).dtype)
    keep = None if mask is None else check_mask(mask, x.shape[0], x.shape[2])
    if reference == "tags":
        if reduction != "mean":
            raise ValueError(f"reduction: reference='tags' is defined for 'mean' only, got {reduction!r}")
        r = torch.sigmoid(x)
        weights = None if keep is None else keep.unsqueeze(1).to(x.dtype)
        pos = -(y * torch.log(r + epsilon))
        neg = -(1 - y) * torch.log(1 - r + epsilon)
        if weights is not None:
            pos, neg = pos * weights, neg * weights
        hardest = neg.topk(k, dim=1).values
        count = hardest.numel() if keep is None else k * keep.sum()
        return pos.sum() / (10 + (y if weights is None else y * weights).sum()) + alpha * hardest.sum() / count
    pos = -(y * F.logsigmoid(x)).sum(1)
    neg = -(1 - y) * F.logsigmoid(-x)
    hardest = torch.where(y > 0, neg.new_zeros(()), neg).topk(k, dim=1).values
    values = pos + alpha * hardest.mean(1)
    return reduce_loss(values, reduction, keep)


class HardNegativeBCELoss(nn.Module):
    """Module form of :func:`hard_negative_bce_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, num_negatives: int | None = None, alpha: float = 10.0, reduction: str = "mean",
                 reference: str | None = None, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.num_negatives, self.alpha = num_negatives, float(alpha)
        self.reduction = check_reduction(reduction)
        self.reference, self.epsilon = reference, float(epsilon)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return hard_negative_bce_loss(logits, target, mask, num_negatives=self.num_negatives, alpha=self.alpha,
                                      reduction=self.reduction, reference=self.reference, epsilon=self.epsilon)


def _binary_inputs(logits: Tensor, target: Tensor, mask: Tensor | None, time_dim: int = -1):
    check_float(logits, "logits")
    if logits.ndim < 2:
        raise ValueError(f"logits: expected shape (B, ..., T), got {shape_str(logits.shape)}")
    check_same_shape(logits, target, "logits", "target")
    check_float(target, "target")
    if bool(((target < 0) | (target > 1)).any()):
        raise ValueError("target: expected values in [0, 1]")
    return upcast(logits), upcast(target), frame_mask(mask, logits, time_dim)


def balanced_bce_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, reduction: str = "mean",
                      reference: str | None = None, epsilon: float = 1e-6) -> Tensor:
    """Positive/negative re-weighted binary cross-entropy (GSMT/TAGS mask loss, BMN-style balance).

    .. math::
        r = \\frac{N}{N_+},\\quad w_+ = \\tfrac12 r,\\quad w_- = \\tfrac12 \\frac{r}{r - 1},\\quad
        L = -\\frac{1}{N} \\sum_i \\bigl(w_+ y_i \\log p_i + w_- (1 - y_i) \\log(1 - p_i)\\bigr)

    with ``p = sigmoid(logits)``, ``N`` the number of valid elements and ``N_+ = Σ y`` over the batch
    (so positives and negatives each carry half of the loss mass).

    Convention:
        - ``log p`` as ``logsigmoid`` (finite for any logit); without positives ``w_- = 1/2`` and without
          negatives ``w_+ = 1/2``.
        - ``reference="tags"``: the TAGS ``loss_tags.py`` weighting, on ``p = sigmoid(logits)`` with
          ``log(p + ε)``: ``P = 10 + N_+``, ``N_all = 10 + P + N_−`` (as coded), ``r = N_all / P``,
          same ``w_±``, sum divided by ``N_all``; ``r`` and ``w_±`` in float32 as there (integer counts).
        - ``mask`` ``(B, T)`` applies to the last dimension (frames or snippets).

    Args:
        logits: ``(B, ..., T)`` logits (for example ``(B, T, T)`` global masks).
        target: same shape, in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (elementwise weighted terms).
        reference: ``None`` or ``"tags"``.
        epsilon: the ``ε`` of ``reference="tags"``.
    """
    x, y, keep = _binary_inputs(logits, target, mask)
    check_reduction(reduction)
    if reference is not None:
        check_choice(reference, ("tags",), "reference")
    y_kept = y if keep is None else y * keep
    count = torch.tensor(y.numel(), device=y.device, dtype=y.dtype) if keep is None else keep.sum().to(y.dtype)
    positives = y_kept.sum()
    if reference == "tags":
        prob = torch.sigmoid(x)
        # integer counts as in the TAGS code, so that ratio and weights are float32 there as here
        hard_pos, hard_neg = (y_kept == 1), (y == 0) if keep is None else (y == 0) & keep
        num_pos = 10 + hard_pos.sum()
        total = 10 + num_pos + hard_neg.sum()
        ratio = (total / num_pos).to(torch.get_default_dtype())
        log_pos, log_neg = torch.log(prob + epsilon), torch.log(1 - prob + epsilon)
        denominator = total
    else:
        ratio = count / positives.clamp(min=1e-12)
        log_pos, log_neg = F.logsigmoid(x), F.logsigmoid(-x)
        denominator = count
    w_pos = 0.5 * ratio
    w_neg = torch.where(ratio > 1, 0.5 * ratio / (ratio - 1).clamp(min=1e-12), ratio.new_tensor(0.5))
    if reference is None:
        w_pos = torch.where(positives > 0, w_pos, w_pos.new_tensor(0.5))
    values = -(w_pos * y * log_pos + w_neg * (1 - y) * log_neg)
    if reduction == "mean":
        return reduce_loss(values, "sum", keep) / denominator
    return reduce_loss(values, reduction, keep)


class BalancedBCELoss(nn.Module):
    """Module form of :func:`balanced_bce_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, reduction: str = "mean", reference: str | None = None, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.reference = reference
        self.epsilon = float(epsilon)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return balanced_bce_loss(logits, target, mask, reduction=self.reduction, reference=self.reference,
                                 epsilon=self.epsilon)


def boundary_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, pos_weight: float | None = None,
                  reduction: str = "mean", reference: str | None = None) -> Tensor:
    """Binary cross-entropy of boundary logits against a (Gaussian-smoothed) boundary target.

    InterAct Eq. (8) (per stage): ``−(1/T) Σ_t [g(Y_b)(t) log P_b(t) + (1 − g(Y_b)(t)) log(1 − P_b(t))]``
    with ``g(Y_b)`` from ``actseg.targets.gaussian_boundary_targets``; with hard 0/1 targets
    (``actseg.targets.boundary_labels``) and ``pos_weight`` it is ASRF's boundary regression loss
    (``BCEWithLogitsLoss(pos_weight=#neg/#pos)`` on valid frames).

    Convention:
        - ``reduction="mean"``: average over the batch's valid frames (pooled over videos; ``1/T`` for
          one video).
        - ``pos_weight`` multiplies the positive term (``torch.nn.BCEWithLogitsLoss`` semantics); ASRF
          sets it to ``#frames / #boundary frames`` of the training set.
        - ``reference="asrf"``: ASRF's ``BoundaryRegressionLoss`` averaging, the mean over each
          video's valid frames, then the mean over videos (``reduction="mean"`` only).

    Args:
        logits: ``(B, T)`` or ``(B, 1, T)`` boundary logits.
        target: same shape, in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        pos_weight: weight of the positive term or ``None``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        reference: ``None`` or ``"asrf"``.
    """
    x, y, keep = _binary_inputs(logits, target, mask)
    check_reduction(reduction)
    if reference is not None:
        check_choice(reference, ("asrf",), "reference")
    weight = None if pos_weight is None else x.new_tensor(float(pos_weight))
    values = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=weight)
    if reference == "asrf":
        if reduction != "mean":
            raise ValueError(f"reduction: reference='asrf' is defined for 'mean' only, got {reduction!r}")
        counted = torch.ones_like(values, dtype=torch.bool) if keep is None else keep
        per_video = reduce_loss(values, "none", counted).flatten(1).sum(1) / counted.flatten(1).sum(1)
        return per_video.mean()
    return reduce_loss(values, reduction, keep)


class BoundaryLoss(nn.Module):
    """Module form of :func:`boundary_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, pos_weight: float | None = None, reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.pos_weight = None if pos_weight is None else float(pos_weight)
        self.reduction = check_reduction(reduction)
        self.reference = reference

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return boundary_loss(logits, target, mask, pos_weight=self.pos_weight, reduction=self.reduction,
                             reference=self.reference)

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight}, reduction={self.reduction!r}"
