"""Frame classification losses: multi-class focal loss, class-balanced BCE, boundary BCE.

References: Lin et al., "Focal Loss for Dense Object Detection" (used by InterAct Eq. (7) and GSMT
Eq. (5)); GSMT Eq. (5) and the TAGS code for the positive/negative re-weighted logistic loss; InterAct
Eq. (8) and ASRF (Ishikawa et al., WACV 2021) for the boundary loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import (
    binary_inputs,
    check_reduction,
    check_reference,
    class_target,
    frame_mask,
    reduce_loss,
    reference_mean_only,
    where_kept,
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


def _focal_factor(log_rest: Tensor, gamma: float) -> Tensor:
    """``(1 − p)^γ`` from ``log(1 − p)`` as ``exp(γ · log(1 − p))``: finite value and gradient for
    every ``γ >= 0`` even where ``p`` rounds to 1 (the power form has an infinite derivative there
    when ``γ < 1``)."""
    if gamma == 0:
        return torch.ones_like(log_rest)
    return torch.exp(gamma * log_rest)


def focal_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, gamma: float = 2.0,
               weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
               reference: str | None = None) -> Tensor:
    r"""Multi-class focal loss over frames (Lin et al.; InterAct Eq. (7) ``L_focal``; GSMT Eq. (5)).

    .. math:: L = -\,w_{y_t}\,(1 - p_{t, y_t})^{\gamma} \log p_{t, y_t},\qquad p_t = \mathrm{softmax}(x_t)

    Convention:
        - ``reduction="mean"``: average over the batch's labelled frames (``mask`` True and target
          ``!= ignore_index``), pooled over videos (one video of 10,000 frames weighs 10× one of 1,000).
        - ``weight``: optional per-class weights ``(K,)`` (finite, ``>= 0``), multiplied in (not
          renormalised).
        - ``(1 − p)^γ`` is computed as ``exp(γ · log(1 − p))`` with ``log(1 − p_y) =
          logsumexp_{k≠y} x_k − logsumexp_k x_k``, so a confidently correct frame (``p`` rounding to 1)
          has a finite gradient for every ``γ >= 0``.
        - Unlabelled and padded frames are replaced by zeros before any arithmetic: whatever they hold
          (NaN, ±inf) reaches neither the value nor the gradient.
        - ``reference="tags"``: the TAGS code's form, the focal factor applied to the batch-mean
          cross-entropy ``CE``: ``(1 − e^{−CE})^γ · CE`` (a scalar; ``reduction`` must be ``"mean"`` and
          ``weight`` ``None``).

    Args:
        logits: ``(B, K, T)`` class logits.
        target: ``(B, T)`` int64 class ids, ``ignore_index`` for unlabelled frames.
        mask: ``(B, T)`` bool, ``True`` = valid frame.
        gamma: focusing exponent ``γ >= 0`` (2).
        weight: ``(K,)`` class weights or ``None``.
        ignore_index: target value of unlabelled frames.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B, T)``, zero where not counted).
        reference: ``None`` or ``"tags"``.

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
        >>> round(float(focal_loss(logits, torch.tensor([[0, 1]]), gamma=0.0)), 4)  # = cross-entropy
        0.1269
    """
    _checks.tensor(logits, "logits", "(B, K, T)")
    batch, classes, length = logits.shape
    ignore_index = _checks.integer(ignore_index, "ignore_index", low=None, high=None)
    class_target(target, batch, length, classes, ignore_index)
    check_reduction(reduction)
    reference = check_reference(reference, "tags")
    reference_mean_only(reference, reduction)
    gamma = _checks.real(gamma, "gamma", low=0.0)
    if weight is not None:
        _checks.tensor(weight, "weight", "(K,)", sizes={"K": classes})
        _checks.values_in_range(weight, "weight", low=0.0, finite=True, what="class weights")
    keep = target != ignore_index
    if mask is not None:
        keep = keep & frame_mask(mask, target)
    safe_target = torch.where(keep, target, torch.zeros_like(target)).unsqueeze(1)
    x = where_kept(_checks.upcast_half(logits), keep.unsqueeze(1))
    log_z = torch.logsumexp(x, dim=1)
    log_p = x.gather(1, safe_target).squeeze(1) - log_z  # (B, T)
    if reference == "tags":
        if weight is not None:
            raise ValueError("weight: expected None with reference='tags' (TAGS' focal loss has no class weights), "
                             "got a tensor")
        ce = reduce_loss(-log_p, "mean", keep)
        positive = ce > 0  # a perfect batch: CE = 0, factor 0 (γ > 0), no 0^γ in the gradient
        factor = _focal_factor(torch.log(-torch.expm1(-torch.where(positive, ce, ce.new_ones(())))), gamma)
        return torch.where(positive | (gamma == 0), factor, factor.new_zeros(())) * ce
    if classes > 1:
        rest = x.scatter(1, safe_target, float("-inf"))
        # every other class at -inf (masked classes): p = 1 exactly; logsumexp of an all -inf row has a NaN
        # gradient, so that row is summed as zeros and set to -inf after
        certain = torch.isneginf(rest).all(dim=1)
        log_rest = torch.logsumexp(torch.where(certain.unsqueeze(1), rest.new_zeros(()), rest), dim=1)
        log_rest = torch.where(certain, log_rest.new_tensor(float("-inf")), log_rest)
        factor = _focal_factor(log_rest - log_z, gamma)
    else:  # one class: p = 1 always, (1 − p)^γ = 0^γ
        factor = torch.full_like(log_p, 1.0 if gamma == 0 else 0.0)
    values = -factor * log_p
    if weight is not None:
        values = values * weight.to(values)[safe_target.squeeze(1)]
    return reduce_loss(values, reduction, keep)


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss`; ``forward(logits (B, K, T), target (B, T), mask=None)``."""

    def __init__(self, gamma: float = 2.0, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.gamma = _checks.real(gamma, "gamma", low=0.0)
        if weight is not None:
            _checks.tensor(weight, "weight", "(K,)")
            _checks.values_in_range(weight, "weight", low=0.0, finite=True, what="class weights")
        self.register_buffer("weight", weight, persistent=False)
        self.ignore_index = _checks.integer(ignore_index, "ignore_index", low=None, high=None)
        self.reduction = check_reduction(reduction)
        self.reference = check_reference(reference, "tags")
        reference_mean_only(self.reference, self.reduction)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return focal_loss(logits, target, mask, gamma=self.gamma, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction, reference=self.reference)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


def hard_negative_bce_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *,
                           num_negatives: int | None = None, alpha: float = 10.0, reduction: str = "mean",
                           reference: str | None = None, epsilon: float = 1e-6) -> Tensor:
    r"""Per-class logistic loss with the hardest negative classes up-weighted (GSMT Eq. (5), second term).

    .. math::
        L_t = -\sum_{k} y_{t,k} \log r_{t,k} \;-\; \frac{\alpha}{|\mathcal N_t|}
              \sum_{k \in \mathcal N_t} \log(1 - r_{t,k})

    with ``r = sigmoid(logits)`` the per-class regression output and ``N_t`` the ``num_negatives`` negative
    classes of snippet ``t`` with the largest ``−log(1 − r)`` (GSMT: ``|N| = K/10``, ``α = 10``), or all
    its negative classes (``target == 0``) where it has fewer; a snippet without one has no second term.

    Convention:
        - ``reduction="mean"``: average of ``L_t`` over valid snippets.
        - ``reference="tags"``: the TAGS ``top_lr_loss`` (``num_negatives`` = 120 there, ``⌊0.6 · 200⌋``):
          ``−Σ y log(r + ε) / (10 + #positives) + α · mean(topk(−(1 − y) log(1 − r + ε)))``, the top-k taken
          over the class axis and the mean over all ``B · k · T`` selected values (``reduction="mean"`` only).

    Args:
        logits: ``(B, C, T)`` per-class logits (GSMT: ``K + 1`` classes with background).
        target: same shape, multi-hot class target in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        num_negatives: size of ``N_t``, an integer in ``[1, C]`` (default ``C // 10``, at least 1).
        alpha: weight ``α >= 0`` of the negatives.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(B, T)``).
        reference: ``None`` or ``"tags"``.
        epsilon: the ``ε`` of ``reference="tags"``, in ``(0, 1)``.
    """
    _checks.tensor(logits, "logits", "(B, C, T)")
    x, y, keep = binary_inputs(logits, target, mask)
    check_reduction(reduction)
    reference = check_reference(reference, "tags")
    reference_mean_only(reference, reduction)
    classes = logits.shape[1]
    k = _checks.size(max(classes // 10, 1) if num_negatives is None else num_negatives, "num_negatives",
                     high=classes)
    alpha = _checks.real(alpha, "alpha", low=0.0)
    epsilon = _checks.real(epsilon, "epsilon", low=0.0, high=1.0, low_open=True, high_open=True)
    keep = None if keep is None else keep[:, 0]
    if reference == "tags":
        r = torch.sigmoid(x)
        weights = None if keep is None else keep.unsqueeze(1).to(x.dtype)
        pos = -(y * torch.log(r + epsilon))
        neg = -(1 - y) * torch.log(1 - r + epsilon)
        if weights is not None:
            pos, neg = pos * weights, neg * weights
        hardest = neg.topk(k, dim=1).values
        count = hardest.new_tensor(hardest.numel()) if keep is None else k * keep.sum()
        return pos.sum() / (10 + y.sum()) + alpha * hardest.sum() / count.clamp(min=1)
    pos = -(y * F.logsigmoid(x)).sum(1)
    neg = -(1 - y) * F.logsigmoid(-x)
    hardest = torch.where(y > 0, neg.new_zeros(()), neg).topk(k, dim=1).values
    # |N_t| = min(k, negatives of the snippet): where fewer than k classes are negative, the top k also
    # picks positives' zeros, which add nothing but must not count in the average
    chosen = (y <= 0).sum(1).clamp(min=1, max=k).to(hardest.dtype)
    values = pos + alpha * hardest.sum(1) / chosen
    return reduce_loss(values, reduction, keep)


class HardNegativeBCELoss(nn.Module):
    """Module form of :func:`hard_negative_bce_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, num_negatives: int | None = None, alpha: float = 10.0, reduction: str = "mean",
                 reference: str | None = None, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.num_negatives = _checks.size(num_negatives, "num_negatives", none=True)
        self.alpha = _checks.real(alpha, "alpha", low=0.0)
        self.reduction = check_reduction(reduction)
        self.reference = check_reference(reference, "tags")
        reference_mean_only(self.reference, self.reduction)
        self.epsilon = _checks.real(epsilon, "epsilon", low=0.0, high=1.0, low_open=True, high_open=True)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return hard_negative_bce_loss(logits, target, mask, num_negatives=self.num_negatives, alpha=self.alpha,
                                      reduction=self.reduction, reference=self.reference, epsilon=self.epsilon)


def balanced_bce_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, reduction: str = "mean",
                      reference: str | None = None, epsilon: float = 1e-6) -> Tensor:
    r"""Positive/negative re-weighted binary cross-entropy (GSMT/TAGS mask loss, BMN-style balance).

    .. math::
        r = \frac{N}{N_+},\quad w_+ = \tfrac12 r,\quad w_- = \tfrac12 \frac{r}{r - 1},\quad
        L = -\frac{1}{N} \sum_i \bigl(w_+ y_i \log p_i + w_- (1 - y_i) \log(1 - p_i)\bigr)

    with ``p = sigmoid(logits)``, ``N`` the number of valid elements and ``N_+ = Σ y`` over the batch
    (so positives and negatives each carry half of the loss mass).

    Convention:
        - ``log p`` as ``logsigmoid`` (finite for any logit); without positives ``w_- = 1/2`` and without
          negatives ``w_+ = 1/2``.
        - ``reference="tags"``: the TAGS ``loss_tags.py`` weighting, on ``p = sigmoid(logits)`` with
          ``log(p + ε)``: ``P = 10 + N_+``, ``N_all = 10 + P + N_−`` (as coded), ``r = N_all / P``,
          same ``w_±``, sum divided by ``N_all``; ``r`` and ``w_±`` in float32 as there (integer counts).
        - ``mask`` ``(B, T)`` applies to the last dimension (frames or snippets); padded elements are
          zeroed before any arithmetic and left out. A batch with every element padded gives 0.

    Args:
        logits: ``(B, ..., T)`` logits (for example ``(B, T, T)`` global masks).
        target: same shape, in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (elementwise weighted terms).
        reference: ``None`` or ``"tags"``.
        epsilon: the ``ε`` of ``reference="tags"``, in ``(0, 1)``.
    """
    x, y, keep = binary_inputs(logits, target, mask)
    check_reduction(reduction)
    reference = check_reference(reference, "tags")
    epsilon = _checks.real(epsilon, "epsilon", low=0.0, high=1.0, low_open=True, high_open=True)
    count = torch.tensor(y.numel(), device=y.device, dtype=y.dtype) if keep is None else keep.sum().to(y.dtype)
    positives = y.sum()
    if reference == "tags":
        prob = torch.sigmoid(x)
        # integer counts as in the TAGS code, so that ratio and weights are float32 there as here
        hard_pos, hard_neg = (y == 1), (y == 0) if keep is None else (y == 0) & keep
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
    if reduction == "mean":  # every element padded: 0 (as the other losses), not 0/0
        return reduce_loss(values, "sum", keep) / denominator.clamp(min=1)
    return reduce_loss(values, reduction, keep)


class BalancedBCELoss(nn.Module):
    """Module form of :func:`balanced_bce_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, reduction: str = "mean", reference: str | None = None, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.reference = check_reference(reference, "tags")
        self.epsilon = _checks.real(epsilon, "epsilon", low=0.0, high=1.0, low_open=True, high_open=True)

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
          video's valid frames, then the mean over videos (``reduction="mean"`` only; a video without
          a valid frame gives NaN there, kept as is).
        - Padded entries are zeroed before any arithmetic (no NaN from them, no gradient to them).

    Args:
        logits: ``(B, T)`` or ``(B, 1, T)`` boundary logits.
        target: same shape, in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        pos_weight: weight ``>= 0`` of the positive term, or ``None``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        reference: ``None`` or ``"asrf"``.
    """
    x, y, keep = binary_inputs(logits, target, mask)
    check_reduction(reduction)
    reference = check_reference(reference, "asrf")
    reference_mean_only(reference, reduction)
    pos_weight = _checks.real(pos_weight, "pos_weight", low=0.0, none=True)
    weight = None if pos_weight is None else x.new_tensor(pos_weight)
    values = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=weight)
    if reference == "asrf":
        counted = torch.ones_like(values, dtype=torch.bool) if keep is None else keep
        per_video = reduce_loss(values, "none", counted).flatten(1).sum(1) / counted.flatten(1).sum(1)
        return per_video.mean()
    return reduce_loss(values, reduction, keep)


class BoundaryLoss(nn.Module):
    """Module form of :func:`boundary_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, pos_weight: float | None = None, reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.pos_weight = _checks.real(pos_weight, "pos_weight", low=0.0, none=True)
        self.reduction = check_reduction(reduction)
        self.reference = check_reference(reference, "asrf")
        reference_mean_only(self.reference, self.reduction)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return boundary_loss(logits, target, mask, pos_weight=self.pos_weight, reduction=self.reduction,
                             reference=self.reference)

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight}, reduction={self.reduction!r}"
