"""Mask losses: dice (InterAct Eq. (7), GSMT Eq. (6)) and the boundary-IoU loss of GSMT (Eq. (6)).

References: Milletari et al., "V-Net" (dice); InterAct §3.4 Eq. (6)–(7) (dice on per-class temporal
masks of the classes present in the video); GSMT §3, Eq. (6) (bIoU + normalised L2 + λ2 · dice on the
global segmentation mask of each snippet, erosion kernel k = 7, ε = e⁻⁸, λ2 = 0.4).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, shape_str
from ._common import check_float, check_reduction, check_same_shape, frame_mask, upcast

__all__ = ["BIoULoss", "DiceLoss", "GlobalMaskLoss", "biou_loss", "dice_loss"]


def _mask_inputs(input: Tensor, target: Tensor, mask: Tensor | None, name: str) -> tuple[Tensor, Tensor]:
    check_float(input, name)
    if input.ndim not in (2, 3):
        raise ValueError(f"{name}: expected shape (B, T) or (B, C, T), got {shape_str(input.shape)}")
    check_same_shape(input, target, name, "target")
    check_float(target, "target")
    if bool(((target < 0) | (target > 1)).any()):
        raise ValueError("target: expected mask values in [0, 1]")
    x, y = upcast(input), upcast(target)
    if x.ndim == 2:
        x, y = x.unsqueeze(1), y.unsqueeze(1)
    keep = frame_mask(mask, x)
    if keep is not None:
        x, y = x * keep, y * keep
    return x, y


def _reduce_rows(values: Tensor, counted: Tensor, reduction: str, squeeze: bool) -> Tensor:
    """Per-row losses ``(B, C)``: mean/sum over counted rows, or the rows (zero where not counted)."""
    values = torch.where(counted, values, values.new_zeros(()))
    if reduction == "none":
        return values.squeeze(1) if squeeze else values
    if reduction == "sum":
        return values.sum()
    return values.sum() / counted.sum().clamp(min=1)


def dice_loss(probs: Tensor, target: Tensor, mask: Tensor | None = None, *, factor: float = 2.0,
              squared: bool = True, smooth: float = 1.0, present_only: bool = False, reduction: str = "mean",
              reference: str | None = None) -> Tensor:
    """Soft dice loss along time, one value per (video, channel) row.

    .. math:: L = 1 - \\frac{f \\sum_t p_t g_t + s}{\\sum_t p_t^2 + \\sum_t g_t^2 + s}

    (``squared=False``: ``Σ p + Σ g`` in the denominator). ``f = 2`` is the V-Net dice; GSMT Eq. (6)
    and the TAGS code use ``f = 1``.

    Convention:
        - Rows are the channels of ``(B, C, T)``: per-class temporal masks for InterAct Eq. (7) (pass
          ``actseg.targets.class_mask_targets`` and ``present_only=True`` to keep the classes that
          occur in the video, as ``P_a(M)`` does), or the per-snippet mask rows of a GSMT global mask
          ``(B, T, T)`` (row ``i`` = the mask predicted from snippet ``i``).
        - ``present_only``: rows whose target is empty are left out of the mean.
        - ``mask`` ``(B, T)`` removes padded frames along the last dimension.
        - ``reference="tags"``: TAGS ``loss_tags.py``: one dice per video over all elements,
          ``f = 1``, squared denominator, ``s = 1`` (``factor``/``squared``/``smooth`` ignored).

    Args:
        probs: ``(B, T)`` or ``(B, C, T)`` probabilities in [0, 1] (after softmax or sigmoid).
        target: same shape, in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        factor: numerator factor ``f``.
        squared: squared (V-Net) or linear denominator.
        smooth: ``s``, added to numerator and denominator.
        present_only: mean over rows whose target has a positive only.
        reduction: ``"mean"`` (over counted rows), ``"sum"`` or ``"none"`` (``(B, C)``; ``(B,)`` for 2-D input
            or ``reference="tags"``).
        reference: ``None`` or ``"tags"``.
    """
    check_reduction(reduction)
    if reference is not None:
        check_choice(reference, ("tags",), "reference")
    if float(smooth) < 0:
        raise ValueError(f"smooth: expected a non-negative constant, got {smooth!r}")
    squeeze = probs.ndim == 2
    p, g = _mask_inputs(probs, target, mask, "probs")
    if reference == "tags":
        p, g = p.flatten(1).unsqueeze(1), g.flatten(1).unsqueeze(1)
        factor, squared, smooth, squeeze = 1.0, True, 1.0, True
    numerator = factor * (p * g).sum(-1) + smooth
    denominator = (p.pow(2).sum(-1) + g.pow(2).sum(-1)) if squared else (p.sum(-1) + g.sum(-1))
    values = 1 - numerator / (denominator + smooth).clamp(min=torch.finfo(p.dtype).tiny)
    counted = g.sum(-1) > 0 if present_only else torch.ones_like(values, dtype=torch.bool)
    return _reduce_rows(values, counted, reduction, squeeze)


class DiceLoss(nn.Module):
    """Module form of :func:`dice_loss`; ``forward(probs, target, mask=None)``."""

    def __init__(self, factor: float = 2.0, squared: bool = True, smooth: float = 1.0, present_only: bool = False,
                 reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.factor, self.squared, self.smooth = float(factor), bool(squared), float(smooth)
        self.present_only = bool(present_only)
        self.reduction = check_reduction(reduction)
        self.reference = reference

    def forward(self, probs: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return dice_loss(probs, target, mask, factor=self.factor, squared=self.squared, smooth=self.smooth,
                         present_only=self.present_only, reduction=self.reduction, reference=self.reference)

    def extra_repr(self) -> str:
        return (f"factor={self.factor}, squared={self.squared}, smooth={self.smooth}, "
                f"present_only={self.present_only}, reduction={self.reduction!r}")


def _erode(x: Tensor, kernel_size: int) -> Tensor:
    """Soft morphological erosion along the last axis: a min-pool with zero padding (outside = background)."""
    half = kernel_size // 2
    padded = F.pad(x, (half, half))
    return -F.max_pool1d(-padded.flatten(0, 1).unsqueeze(1), kernel_size, stride=1).squeeze(1).view_as(x)


def biou_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, kernel_size: int = 7,
              epsilon: float = math.exp(-8), reduction: str = "mean") -> Tensor:
    """Boundary-IoU loss of GSMT (Eq. (6), first two terms) on segmentation masks along time.

    .. math::
        L = 1 - \\frac{|\\Phi(m) \\cap \\Phi(g)|}{|\\Phi(m) \\cup \\Phi(g)|}
            + \\frac{1}{|\\Phi(m) \\cap \\Phi(g)| + \\epsilon}\\,\\frac{\\lVert m - g \\rVert_2}{c}

    for each mask row ``m = sigmoid(logits)`` (the mask predicted from one snippet, over time) with
    ground truth ``g`` of length ``c = Σ_t g_t``.

    How ``Φ`` is read from the text: the paper calls ``Φ`` "a kernel of size k used as a differentiable
    morphological erosion" and the loss a *boundary* IoU "inspired by the boundary IoU metric (Cheng et
    al., 2021)"; that metric compares the boundary bands ``mask − erode(mask)``. So here
    ``Φ(x) = x − erode_k(x)`` with ``erode_k`` a min-pool of width ``k`` along time (soft, hence
    differentiable), zero padding outside the video (an instance touching the first or last snippet
    has a boundary there), and the soft set operations ``|a ∩ b| = Σ a·b``,
    ``|a ∪ b| = Σ (a + b − a·b)``. The second term is the paper's "normalised L2" fallback: it
    dominates when the boundary bands do not overlap. The ``λ2 · dice`` term of Eq. (6) is
    :func:`dice_loss` (``factor=1``, ``smooth=0``); :class:`GlobalMaskLoss` composes the whole Eq. (6).

    Convention:
        - Rows with an empty ground truth (background snippets) are left out (``c = 0``); the mean is
          over the remaining rows of the batch.
        - ``mask`` ``(B, T)`` zeroes padded frames of both masks along time, so padding reads as background.

    Args:
        logits: ``(B, T)`` or ``(B, N, T)`` mask logits (a GSMT global mask is ``(B, T, T)``, row = snippet).
        target: same shape, ground-truth mask in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        kernel_size: erosion width ``k`` (odd; 7 in GSMT).
        epsilon: ``ε`` (``e⁻⁸``).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per row, zero for empty rows).
    """
    check_reduction(reduction)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size: expected an odd positive integer, got {kernel_size!r}")
    if not float(epsilon) > 0:
        raise ValueError(f"epsilon: expected a positive constant, got {epsilon!r}")
    squeeze = logits.ndim == 2
    x, g = _mask_inputs(logits, target, None, "logits")
    m = torch.sigmoid(x)
    keep = frame_mask(mask, m)
    if keep is not None:
        m, g = m * keep, g * keep
    band_m = m - _erode(m, kernel_size)
    band_g = g - _erode(g, kernel_size)
    inter = (band_m * band_g).sum(-1)
    union = (band_m + band_g - band_m * band_g).sum(-1)
    length = g.sum(-1)
    counted = length > 0
    safe_union = torch.where(counted, union, torch.ones_like(union)).clamp(min=torch.finfo(m.dtype).tiny)
    safe_length = torch.where(counted, length, torch.ones_like(length))
    l2 = torch.sqrt((m - g).pow(2).sum(-1) + torch.finfo(m.dtype).tiny)
    values = 1 - inter / safe_union + l2 / (safe_length * (inter + epsilon))
    return _reduce_rows(values, counted, reduction, squeeze)


class BIoULoss(nn.Module):
    """Module form of :func:`biou_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, kernel_size: int = 7, epsilon: float = math.exp(-8), reduction: str = "mean") -> None:
        super().__init__()
        self.kernel_size, self.epsilon = kernel_size, float(epsilon)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return biou_loss(logits, target, mask, kernel_size=self.kernel_size, epsilon=self.epsilon,
                         reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, epsilon={self.epsilon:.3g}, reduction={self.reduction!r}"


class GlobalMaskLoss(nn.Module):
    """GSMT segmentation-mask loss, Eq. (6): ``biou_loss + λ2 · dice_loss(factor=1, smooth=0)``.

    Both terms are averaged over the mask rows of foreground snippets (rows with a non-empty target).

    Shape:
        ``forward(logits (B, T, T), target (B, T, T), mask (B, T) | None)`` → scalar.
    """

    def __init__(self, kernel_size: int = 7, dice_weight: float = 0.4, epsilon: float = math.exp(-8)) -> None:
        super().__init__()
        self.biou = BIoULoss(kernel_size, epsilon)
        self.dice_weight = float(dice_weight)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        boundary = self.biou(logits, target, mask)
        dice = dice_loss(torch.sigmoid(upcast(logits)), target, mask, factor=1.0, squared=True, smooth=0.0,
                         present_only=True)
        return boundary + self.dice_weight * dice

    def extra_repr(self) -> str:
        return f"dice_weight={self.dice_weight}"
