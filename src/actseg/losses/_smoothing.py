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

__all__ = [
    "DENOMINATORS",
    "MultiStageLoss",
    "SimilaritySmoothingLoss",
    "SmoothingLoss",
    "similarity_smoothing_loss",
    "smoothing_loss",
]

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


def similarity_smoothing_loss(logits: Tensor, features: Tensor, mask: Tensor | None = None, *, clamp: float = 16.0,
                              sigma: float = 1.0, squared_distance: bool = False, reduction: str = "mean",
                              reference: str | None = None) -> Tensor:
    """Gaussian-similarity weighted T-MSE of ASRF (Ishikawa et al., WACV 2021): smooth less across feature changes.

    .. math::
        L = \\frac{1}{B} \\sum_b \\frac{1}{K (n_b - 1)} \\sum_{t, k}
            \\min(\\Delta_{t,k}^2, \\tau^2)\\; \\exp\\Bigl(-\\frac{\\lVert f_t - f_{t-1} \\rVert_2}{2\\sigma^2}\\Bigr)

    with ``Δ`` as in :func:`smoothing_loss` (class log-probabilities, previous frame detached) over the
    ``n_b`` valid frames of video ``b``.

    Convention:
        - The exponent uses the L2 **norm** of the feature difference, as the ASRF code does
          (``torch.norm``); ``squared_distance=True`` uses the squared norm of the usual Gaussian kernel.
        - Per-video mean over ``K ×`` its valid frame pairs, then mean over videos (ASRF's averaging).
          Frames with ``mask == False`` are removed first, so their neighbours become adjacent (ASRF drops
          ignored frames the same way).
        - ``reference="asrf"``: the ASRF ``GaussianSimilarityTMSE`` numbers exactly. Its
          ``log_softmax`` runs over the **time** axis (``pred`` is ``(C, T)`` inside its loop and it
          normalises ``dim=1``), each of the two shifted slices separately, and nothing is detached; a
          video with two valid frames then gives exactly 0, one with fewer gives NaN (kept as is).

    Args:
        logits: ``(B, K, T)`` frame logits.
        features: ``(B, D, T)`` the features the similarity is computed on (ASRF: the input features).
        mask: ``(B, T)`` bool or ``None``.
        clamp: ``τ²`` (16).
        sigma: ``σ`` (1).
        squared_distance: use ``‖·‖²`` in the exponent.
        reduction: ``"mean"`` (over videos), ``"sum"`` or ``"none"`` (``(B,)``).
        reference: ``None`` or ``"asrf"``.
    """
    check_logits(logits)
    check_logits(features, "features")
    batch, _, length = logits.shape
    if features.shape[0] != batch or features.shape[2] != length:
        raise ValueError(f"features: expected shape ({batch}, D, {length}), got {tuple(features.shape)}")
    mask = check_mask(mask, batch, length)
    check_reduction(reduction)
    clamp = _check_clamp(clamp)
    if not float(sigma) > 0:
        raise ValueError(f"sigma: expected a positive bandwidth, got {sigma!r}")
    if reference is not None:
        check_choice(reference, ("asrf",), "reference")
    per_video = []
    for b in range(batch):  # videos of a batch have different valid lengths; no loop over frames
        keep = slice(None) if mask is None else mask[b]
        x = logits[b][:, keep]
        x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        f = features[b][:, keep].to(x.dtype)
        distance = torch.linalg.vector_norm(f[:, 1:] - f[:, :-1], dim=0)
        weight = torch.exp(-(distance.pow(2) if squared_distance else distance) / (2 * sigma**2))
        if reference == "asrf":
            diff = F.log_softmax(x[:, 1:], dim=1) - F.log_softmax(x[:, :-1], dim=1)
        else:
            logp = F.log_softmax(x, dim=0)
            diff = logp[:, 1:] - logp.detach()[:, :-1]
        terms = diff.pow(2).clamp(min=0, max=clamp) * weight
        if reference == "asrf" or terms.numel():
            per_video.append(terms.mean())
        else:
            per_video.append(x.sum() * 0)  # one valid frame: no pair, no term
    values = torch.stack(per_video)
    if reduction == "none":
        return values
    return values.sum() if reduction == "sum" else values.mean()


class SimilaritySmoothingLoss(nn.Module):
    """Module form of :func:`similarity_smoothing_loss`; ``forward(logits, features, mask=None)``."""

    def __init__(self, clamp: float = 16.0, sigma: float = 1.0, squared_distance: bool = False,
                 reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.clamp, self.sigma = _check_clamp(clamp), float(sigma)
        self.squared_distance = bool(squared_distance)
        self.reduction = check_reduction(reduction)
        self.reference = reference

    def forward(self, logits: Tensor, features: Tensor, mask: Tensor | None = None) -> Tensor:
        return similarity_smoothing_loss(logits, features, mask, clamp=self.clamp, sigma=self.sigma,
                                         squared_distance=self.squared_distance, reduction=self.reduction,
                                         reference=self.reference)

    def extra_repr(self) -> str:
        return f"clamp={self.clamp}, sigma={self.sigma}, squared_distance={self.squared_distance}"
