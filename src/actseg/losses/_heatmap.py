"""RTK keypoint losses: the focal heatmap loss (Eq. 1) and the keypoint objective (Eq. 3).

Reference: "Refined Temporal Keypoints for action segmentation" (RTK), §3.1, Eq. (1)–(3), §4.1
(α = 2, β = 4, γ = 0.75 for action points and 0.8 for boundaries, λ1 = λ3 = 100, λ2 = 1); the loss
follows CenterNet's penalty-reduced focal loss with RTK's extra γ balance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import binary_inputs, check_reduction, class_target, reduce_loss

__all__ = ["NORMALIZERS", "FocalHeatmapLoss", "KeypointLoss", "focal_heatmap_loss"]

# K of RTK Eq. (1), "the number of positive keypoints", read two ways (see focal_heatmap_loss)
NORMALIZERS = ("positive_frames", "keypoints")


def _normalizer(counted: Tensor, normalizer: str) -> Tensor:
    """``K``: the number of counted positive frames, or of keypoints (maximal runs of them along time)."""
    if normalizer == "positive_frames":
        return counted.sum()
    starts = counted.clone()
    starts[..., 1:] &= ~counted[..., :-1]
    return starts.sum()


def focal_heatmap_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, alpha: float = 2.0,
                       beta: float = 4.0, gamma: float = 0.75, normalizer: str = "positive_frames",
                       reduction: str = "mean") -> Tensor:
    r"""Penalty-reduced focal loss on a Gaussian keypoint heatmap (RTK Eq. (1)).

    .. math::
        L_f = \frac{1}{K} \sum_t \begin{cases}
            -(1 - \gamma)(1 - \hat y_t)^{\alpha} \log \hat y_t & y_t = 1 \\
            -\gamma (1 - y_t)^{\beta} \hat y_t^{\alpha} \log(1 - \hat y_t) & \text{otherwise}
        \end{cases}

    with ``ŷ = sigmoid(logits)``; the positive branch applies where the target is exactly 1.

    ``K``, "the number of positive keypoints" of the paper, read two ways (``normalizer``):
        - ``"positive_frames"`` (default): the number of valid frames with ``y_t = 1``. RTK marks a
          positive region around each action point (0.32 · l frames of an action of length l, 33 of a
          100-frame action) and Eq. (1) sums one positive term per such frame; dividing by their
          number keeps the positive part an average over positive samples, as CenterNet's ``N``
          (which counts the ``y = 1`` locations) does.
        - ``"keypoints"``: the number of keypoints, i.e. maximal runs of consecutive valid frames with
          ``y_t = 1`` along time in each row (one per action point or boundary). The loss is then
          larger by the mean run length (about 33× for 100-frame actions), which changes the balance
          of RTK Eq. (3) (``λ1 = 100``).
        Both agree when every keypoint is a single frame (boundary heatmaps of separated boundaries).
        The paper's text does not settle it; the default keeps the per-positive-frame average.

    Convention:
        - ``(1 − ŷ)^α`` and ``ŷ^α`` are computed as ``exp(α · logsigmoid(∓logits))`` and the logs as
          ``logsigmoid(±logits)``: value and gradient are finite for every logit and every ``α >= 0``
          (the power form has an infinite derivative at ``ŷ = 1`` when ``α < 1``).
        - ``reduction="mean"`` divides the sum over the batch's valid frames by ``K`` over the batch,
          or by 1 when there is no positive (the sum of the negative terms).
        - Frames with ``mask == False`` are zeroed (logits and target) before any arithmetic: they
          contribute nothing, count for no positive and receive no gradient.

    Args:
        logits: ``(B, T)`` or ``(B, C, T)`` heatmap logits.
        target: same shape, ground-truth heatmap in [0, 1] (``actseg.targets``); 1 marks keypoints.
        mask: ``(B, T)`` bool, ``True`` = valid frame.
        alpha: focusing exponent ``>= 0`` (2).
        beta: focusing exponent ``>= 0`` of the negatives' ``(1 − y)`` (4).
        gamma: weight of the negatives in [0, 1], ``1 − gamma`` of the positives (0.75 action
            points, 0.8 boundaries).
        normalizer: ``"positive_frames"`` or ``"keypoints"`` (``K`` above).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (elementwise, zero at masked frames).

    Example:
        >>> target = torch.tensor([[0.0, 0.6, 1.0, 1.0, 0.0]])
        >>> frames = focal_heatmap_loss(torch.zeros(1, 5), target)
        >>> keypoints = focal_heatmap_loss(torch.zeros(1, 5), target, normalizer="keypoints")
        >>> round(float(keypoints / frames), 4)  # two positive frames, one keypoint
        2.0
    """
    x, y, keep = binary_inputs(logits, target, mask, min_ndim=2, max_ndim=3)
    check_reduction(reduction)
    alpha = _checks.real(alpha, "alpha", low=0.0)
    beta = _checks.real(beta, "beta", low=0.0)
    gamma = _checks.probability(gamma, "gamma")
    normalizer = _checks.choice(normalizer, NORMALIZERS, "normalizer")
    log_p, log_q = F.logsigmoid(x), F.logsigmoid(-x)  # log ŷ, log(1 − ŷ)
    positive = y == 1  # y is zero at padded frames: no padded positive
    pos_term = -(1 - gamma) * torch.exp(alpha * log_q) * log_p
    # (1 − y)^β at positives is not used, but its derivative there is infinite for β < 1 (0 · inf = NaN
    # in the target's gradient): the positives' base is 1
    neg_term = -gamma * torch.where(positive, y.new_ones(()), 1 - y).pow(beta) * torch.exp(alpha * log_p) * log_q
    values = torch.where(positive, pos_term, neg_term)
    return reduce_loss(values, reduction, keep, denominator=_normalizer(positive, normalizer))


class FocalHeatmapLoss(nn.Module):
    """Module form of :func:`focal_heatmap_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, alpha: float = 2.0, beta: float = 4.0, gamma: float = 0.75,
                 normalizer: str = "positive_frames", reduction: str = "mean") -> None:
        super().__init__()
        self.alpha = _checks.real(alpha, "alpha", low=0.0)
        self.beta = _checks.real(beta, "beta", low=0.0)
        self.gamma = _checks.probability(gamma, "gamma")
        self.normalizer = _checks.choice(normalizer, NORMALIZERS, "normalizer")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return focal_heatmap_loss(logits, target, mask, alpha=self.alpha, beta=self.beta, gamma=self.gamma,
                                  normalizer=self.normalizer, reduction=self.reduction)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, normalizer={self.normalizer!r}, "
                f"reduction={self.reduction!r}")


class KeypointLoss(nn.Module):
    """The RTK keypoint objective (Eq. (3)): ``λ1 · L_loc^c + λ2 · L_cat^c + λ3 · L_loc^b``.

    - ``L_loc^c``: :func:`focal_heatmap_loss` on the category-agnostic action-point heatmap ``Ŷ^cl``
      (``gamma_action`` = 0.75);
    - ``L_cat^c``: cross-entropy of the category logits ``Ŷ^cc`` on the frames that carry a category
      target (``actseg.targets.action_point_heatmaps`` marks the others with ``ignore_index``), averaged
      over those frames;
    - ``L_loc^b``: :func:`focal_heatmap_loss` on the boundary heatmap ``Ŷ^b`` (``gamma_boundary`` = 0.8).

    Defaults from RTK §4.1: ``λ1 = λ3 = 100``, ``λ2 = 1``, ``α = 2``, ``β = 4``; ``normalizer`` is
    the ``K`` of Eq. (1) for both heatmap terms (see :func:`focal_heatmap_loss`). Weights are reals
    ``>= 0``, the ``gamma_*`` in [0, 1].

    Shape:
        ``forward(action_logits (B, T), category_logits (B, K, T), boundary_logits (B, T),
        action_heatmap (B, T), categories (B, T) int64, boundary_heatmap (B, T), mask (B, T) | None)``
        → scalar; with ``return_components=True`` also a dict of the three terms.
    """

    def __init__(self, action_weight: float = 100.0, category_weight: float = 1.0, boundary_weight: float = 100.0,
                 alpha: float = 2.0, beta: float = 4.0, gamma_action: float = 0.75, gamma_boundary: float = 0.8,
                 ignore_index: int = -100, normalizer: str = "positive_frames") -> None:
        super().__init__()
        self.action_weight = _checks.real(action_weight, "action_weight", low=0.0)
        self.category_weight = _checks.real(category_weight, "category_weight", low=0.0)
        self.boundary_weight = _checks.real(boundary_weight, "boundary_weight", low=0.0)
        self.action = FocalHeatmapLoss(alpha, beta, _checks.probability(gamma_action, "gamma_action"), normalizer)
        self.boundary = FocalHeatmapLoss(alpha, beta, _checks.probability(gamma_boundary, "gamma_boundary"),
                                         normalizer)
        self.ignore_index = _checks.integer(ignore_index, "ignore_index", low=None, high=None)

    def forward(self, action_logits: Tensor, category_logits: Tensor, boundary_logits: Tensor,
                action_heatmap: Tensor, categories: Tensor, boundary_heatmap: Tensor, mask: Tensor | None = None,
                *, return_components: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        from ._classification import focal_loss

        _checks.tensor(category_logits, "category_logits", "(B, K, T)")
        batch, classes, length = category_logits.shape
        class_target(categories, batch, length, classes, self.ignore_index, "categories")
        return_components = _checks.flag(return_components, "return_components")
        loc_action = self.action(action_logits, action_heatmap, mask)
        loc_boundary = self.boundary(boundary_logits, boundary_heatmap, mask)
        # the cross-entropy over the frames with a category target (focal with γ = 0); 0 without any
        category = focal_loss(category_logits, categories, mask, gamma=0.0, ignore_index=self.ignore_index)
        total = self.action_weight * loc_action + self.category_weight * category + self.boundary_weight * loc_boundary
        if return_components:
            return total, {"action": loc_action, "category": category, "boundary": loc_boundary}
        return total

    def extra_repr(self) -> str:
        return (f"action_weight={self.action_weight}, category_weight={self.category_weight}, "
                f"boundary_weight={self.boundary_weight}")
