"""RTK keypoint losses: the focal heatmap loss (Eq. 1) and the keypoint objective (Eq. 3).

Reference: "Refined Temporal Keypoints for action segmentation" (RTK), §3.1, Eq. (1)–(3), §4.1
(α = 2, β = 4, γ = 0.75 for action points and 0.8 for boundaries, λ1 = λ3 = 100, λ2 = 1); the loss
follows CenterNet's penalty-reduced focal loss with RTK's extra γ balance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import shape_str
from ._common import check_float, check_reduction, check_same_shape, frame_mask, reduce_loss, upcast

__all__ = ["FocalHeatmapLoss", "KeypointLoss", "focal_heatmap_loss"]


def focal_heatmap_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, alpha: float = 2.0,
                       beta: float = 4.0, gamma: float = 0.75, reduction: str = "mean") -> Tensor:
    """Penalty-reduced focal loss on a Gaussian keypoint heatmap (RTK Eq. (1)).

    .. math::
        L_f = \\frac{1}{K} \\sum_t \\begin{cases}
            -(1 - \\gamma)(1 - \\hat y_t)^{\\alpha} \\log \\hat y_t & y_t = 1 \\\\
            -\\gamma (1 - y_t)^{\\beta} \\hat y_t^{\\alpha} \\log(1 - \\hat y_t) & \\text{otherwise}
        \\end{cases}

    with ``ŷ = sigmoid(logits)`` and ``K`` the number of positive keypoints (``y_t = 1`` exactly).

    Convention:
        - ``log ŷ`` and ``log(1 − ŷ)`` are computed as ``logsigmoid(±logits)`` (finite for any logit).
        - ``reduction="mean"`` divides the sum over the batch's valid frames by the number of
          positives in the batch (CenterNet's normalisation), or by 1 when there is none (the sum
          of the negative terms).
        - Frames with ``mask == False`` contribute nothing.

    Args:
        logits: ``(B, T)`` or ``(B, C, T)`` heatmap logits.
        target: same shape, ground-truth heatmap in [0, 1] (``actseg.targets``); 1 marks keypoints.
        mask: ``(B, T)`` bool, ``True`` = valid frame.
        alpha, beta: focusing exponents (2, 4).
        gamma: weight of the negatives, ``1 − gamma`` of the positives (0.75 action points, 0.8 boundaries).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (elementwise, zero at masked frames).

    Example:
        >>> target = torch.tensor([[0.0, 0.6, 1.0, 0.6, 0.0]])
        >>> float(focal_heatmap_loss(torch.zeros(1, 5), target)) > 0
        True
    """
    check_float(logits, "logits")
    if logits.ndim not in (2, 3):
        raise ValueError(f"logits: expected shape (B, T) or (B, C, T), got {shape_str(logits.shape)}")
    check_same_shape(logits, target, "logits", "target")
    check_float(target, "target")
    check_reduction(reduction)
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not float(value) >= 0:
            raise ValueError(f"{name}: expected a non-negative exponent, got {value!r}")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"gamma: expected a weight in [0, 1], got {gamma!r}")
    if bool(((target < 0) | (target > 1)).any()):
        raise ValueError("target: expected heatmap values in [0, 1]")
    keep = frame_mask(mask, logits)
    x, y = upcast(logits), upcast(target)
    prob = torch.sigmoid(x)
    positive = y == 1
    pos_term = -(1 - gamma) * (1 - prob).pow(alpha) * F.logsigmoid(x)
    neg_term = -gamma * (1 - y).pow(beta) * prob.pow(alpha) * F.logsigmoid(-x)
    values = torch.where(positive, pos_term, neg_term)
    counted = positive if keep is None else positive & keep
    return reduce_loss(values, reduction, keep, denominator=counted.sum())


class FocalHeatmapLoss(nn.Module):
    """Module form of :func:`focal_heatmap_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, alpha: float = 2.0, beta: float = 4.0, gamma: float = 0.75, reduction: str = "mean") -> None:
        super().__init__()
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return focal_heatmap_loss(logits, target, mask, alpha=self.alpha, beta=self.beta, gamma=self.gamma,
                                  reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, reduction={self.reduction!r}"


class KeypointLoss(nn.Module):
    """The RTK keypoint objective (Eq. (3)): ``λ1 · L_loc^c + λ2 · L_cat^c + λ3 · L_loc^b``.

    - ``L_loc^c``: :func:`focal_heatmap_loss` on the category-agnostic action-point heatmap ``Ŷ^cl``
      (``gamma_action`` = 0.75);
    - ``L_cat^c``: cross-entropy of the category logits ``Ŷ^cc`` on the frames that carry a category
      target (``actseg.targets.action_point_heatmaps`` marks the others with ``ignore_index``), averaged
      over those frames;
    - ``L_loc^b``: :func:`focal_heatmap_loss` on the boundary heatmap ``Ŷ^b`` (``gamma_boundary`` = 0.8).

    Defaults from RTK §4.1: ``λ1 = λ3 = 100``, ``λ2 = 1``, ``α = 2``, ``β = 4``.

    Shape:
        ``forward(action_logits (B, T), category_logits (B, K, T), boundary_logits (B, T),
        action_heatmap (B, T), categories (B, T) int64, boundary_heatmap (B, T), mask (B, T) | None)``
        → scalar; with ``return_components=True`` also a dict of the three terms.
    """

    def __init__(self, action_weight: float = 100.0, category_weight: float = 1.0, boundary_weight: float = 100.0,
                 alpha: float = 2.0, beta: float = 4.0, gamma_action: float = 0.75, gamma_boundary: float = 0.8,
                 ignore_index: int = -100) -> None:
        super().__init__()
        self.action_weight, self.category_weight = float(action_weight), float(category_weight)
        self.boundary_weight = float(boundary_weight)
        self.action = FocalHeatmapLoss(alpha, beta, gamma_action)
        self.boundary = FocalHeatmapLoss(alpha, beta, gamma_boundary)
        self.ignore_index = int(ignore_index)

    def forward(self, action_logits: Tensor, category_logits: Tensor, boundary_logits: Tensor,
                action_heatmap: Tensor, categories: Tensor, boundary_heatmap: Tensor, mask: Tensor | None = None,
                *, return_components: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        from ._common import check_target

        check_float(category_logits, "category_logits")
        if category_logits.ndim != 3:
            raise ValueError(f"category_logits: expected shape (B, K, T), got {shape_str(category_logits.shape)}")
        batch, classes, length = category_logits.shape
        check_target(categories, batch, length, classes, self.ignore_index)
        if mask is not None:
            categories = categories.masked_fill(~frame_mask(mask, categories), self.ignore_index)
        loc_action = self.action(action_logits, action_heatmap, mask)
        loc_boundary = self.boundary(boundary_logits, boundary_heatmap, mask)
        labelled = categories != self.ignore_index
        if bool(labelled.any()):
            category = F.cross_entropy(upcast(category_logits), categories, ignore_index=self.ignore_index)
        else:
            category = category_logits.sum() * 0
        total = self.action_weight * loc_action + self.category_weight * category + self.boundary_weight * loc_boundary
        if return_components:
            return total, {"action": loc_action, "category": category, "boundary": loc_boundary}
        return total

    def extra_repr(self) -> str:
        return (f"action_weight={self.action_weight}, category_weight={self.category_weight}, "
                f"boundary_weight={self.boundary_weight}")
