"""The MS-TCN training objective: truncated temporal MSE smoothing and the multi-stage loss.

Reference: Farha & Gall, "MS-TCN", CVPR 2019, Eq. (7)–(9) (official code yabufarha/ms-tcn@33ed91c
``Trainer.train``; MS-TCN2, ASFormer and the 2D-skeleton paper use the same code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice
from ._common import check_logits, check_mask, check_reduction, check_target

__all__ = ["DENOMINATORS", "MultiStageLoss", "SmoothingLoss", "smoothing_loss"]

DENOMINATORS = ("valid", "reference")


def _check_clamp(clamp: float) -> float:
    if not float(clamp) > 0:
        raise ValueError(f"clamp: expected a positive threshold on the squared difference, got {clamp!r}")
    return float(clamp)


def smoothing_loss(logits: Tensor, mask: Tensor | None = None, *, clamp: float = 16.0, denominator: str = "valid",
                   reduction: str = "mean") -> Tensor:
    """Truncated temporal MSE on frame log-probabilities (MS-TCN, Eq. (8)–(9)).

    .. math::
        \\Delta_{t,k} = \\log \\hat y_{t,k} - \\log \\hat y_{t-1,k},\\qquad
        \\tilde\\Delta^2_{t,k} = \\min(\\Delta_{t,k}^2,\\ \\tau^2),\\qquad
        L_{T\\text{-}MSE} = \\frac{1}{N}\\sum_{t,k} \\tilde\\Delta^2_{t,k}

    Convention (as the official code):
        - ``log ŷ`` is ``log_softmax`` over classes; the previous frame ``t − 1`` is detached, so
          gradient flows through frame ``t`` only.
        - ``clamp`` bounds the **squared** difference (``τ² = 16``, i.e. ``τ = 4``; the 2D-skeleton
          paper's text writes τ = 16, the code clamps ``Δ²`` at 16).
        - ``denominator="valid"``: pairs ``(t − 1, t)`` with both frames valid count; the mean divides
          by ``K ·`` their number (a padded batch gives the mean over its videos' pairs).
        - ``denominator="reference"``: the official ``torch.mean(clamp(Δ²) · mask[:, :, 1:])`` — pairs
          whose frame ``t`` is valid count, but the mean divides by ``B · K · (T − 1)`` including
          padding, so padding dilutes the term. Equal to ``"valid"`` without padding.
        - Computed in float32 at least (half inputs are upcast); a sequence of one frame gives 0
          (the official code gives NaN).

    Args:
        logits: ``(B, K, T)`` frame logits.
        mask: ``(B, T)`` bool, ``True`` = valid frame, or ``None``.
        clamp: threshold on ``Δ²``.
        denominator: ``"valid"`` or ``"reference"``.
        reduction: ``"mean"`` (the denominators above), ``"sum"`` or ``"none"`` (``(B, K, T − 1)``,
            zero where a pair does not count).

    Example:
        >>> logits = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])
        >>> round(float(smoothing_loss(logits)), 4)
        2.0
    """
    check_logits(logits)
    denominator = check_choice(denominator, DENOMINATORS, "denominator")
    check_reduction(reduction)
    clamp = _check_clamp(clamp)
    batch, classes, length = logits.shape
    mask = check_mask(mask, batch, length)
    logp = F.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=1)
    squared = (logp[:, :, 1:] - logp.detach()[:, :, :-1]).pow(2).clamp(min=0, max=clamp)
    if mask is None:
        counted = None
    elif denominator == "reference":
        counted = mask[:, 1:]
    else:
        counted = mask[:, 1:] & mask[:, :-1]
    if counted is not None:
        squared = torch.where(counted.unsqueeze(1), squared, squared.new_zeros(()))
    if reduction == "none":
        return squared
    if reduction == "sum" or squared.numel() == 0:
        return squared.sum()
    if denominator == "reference" or counted is None:
        return squared.mean()
    return squared.sum() / (classes * counted.sum()).clamp(min=1)


class SmoothingLoss(nn.Module):
    """Module form of :func:`smoothing_loss`; ``forward(logits (B, K, T), mask (B, T) | None)``."""

    def __init__(self, clamp: float = 16.0, denominator: str = "valid", reduction: str = "mean") -> None:
        super().__init__()
        self.clamp = _check_clamp(clamp)
        self.denominator = check_choice(denominator, DENOMINATORS, "denominator")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        return smoothing_loss(logits, mask, clamp=self.clamp, denominator=self.denominator, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"clamp={self.clamp}, denominator={self.denominator!r}, reduction={self.reduction!r}"


class MultiStageLoss(nn.Module):
    """The MS-TCN training objective over all stages (MS-TCN Eq. (7), (10)): ``Σ_s CE_s + λ · T-MSE_s``.

    ``CE_s`` is the cross-entropy of stage ``s`` averaged over the valid frames of the batch
    (frames with ``mask == False`` or ``target == ignore_index`` are left out); ``T-MSE_s`` is
    :func:`smoothing_loss`. With ``denominator="reference"`` the value and the gradients are those of
    the official ``Trainer.train`` (ms-tcn, MS-TCN2, ASFormer) on the same padded batch.

    Args:
        smoothing_weight: ``λ`` (0.15).
        ignore_index: target value of frames without a label.
        clamp: threshold on ``Δ²`` (16).
        denominator: ``"valid"`` or ``"reference"`` (see :func:`smoothing_loss`).

    Shape:
        ``forward(stage_logits (S, B, K, T), target (B, T) int64, mask (B, T) bool | None)`` → scalar.

    Example:
        >>> loss = MultiStageLoss()(torch.zeros(4, 2, 5, 10), torch.zeros(2, 10, dtype=torch.long))
        >>> round(float(loss), 4)  # 4 stages × log(5)
        6.4378
    """

    def __init__(self, smoothing_weight: float = 0.15, ignore_index: int = -100, clamp: float = 16.0,
                 denominator: str = "valid") -> None:
        super().__init__()
        if not float(smoothing_weight) >= 0:
            raise ValueError(f"smoothing_weight: expected a non-negative weight, got {smoothing_weight!r}")
        self.smoothing_weight = float(smoothing_weight)
        self.ignore_index = int(ignore_index)
        self.clamp = _check_clamp(clamp)
        self.denominator = check_choice(denominator, DENOMINATORS, "denominator")

    def forward(self, stage_logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        if not isinstance(stage_logits, Tensor) or stage_logits.ndim != 4:
            shape = tuple(stage_logits.shape) if isinstance(stage_logits, Tensor) else type(stage_logits).__name__
            raise ValueError(f"stage_logits: expected shape (S, B, K, T), got {shape}")
        _, batch, classes, length = stage_logits.shape
        check_target(target, batch, length, classes, self.ignore_index)
        mask = check_mask(mask, batch, length)
        if mask is not None:
            target = target.masked_fill(~mask, self.ignore_index)
        any_labelled = bool((target != self.ignore_index).any())  # one host sync, not one per stage
        total = stage_logits.new_zeros((), dtype=torch.promote_types(stage_logits.dtype, torch.float32))
        for logits in stage_logits:
            if any_labelled:
                ce = F.cross_entropy(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits,
                                     target, ignore_index=self.ignore_index)
            else:  # no labelled frame: no classification term (cross_entropy would give 0/0)
                ce = logits.sum() * 0
            smooth = smoothing_loss(logits, mask, clamp=self.clamp, denominator=self.denominator)
            total = total + ce + self.smoothing_weight * smooth
        return total

    def extra_repr(self) -> str:
        return (f"smoothing_weight={self.smoothing_weight}, ignore_index={self.ignore_index}, clamp={self.clamp}, "
                f"denominator={self.denominator!r}")
