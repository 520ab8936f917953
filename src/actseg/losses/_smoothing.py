"""The MS-TCN training objective: truncated temporal MSE smoothing and the multi-stage loss.

Reference: Farha & Gall, "MS-TCN", CVPR 2019, Eq. (7)–(9) (official code yabufarha/ms-tcn@33ed91c
``Trainer.train``; MS-TCN2, ASFormer and the 2D-skeleton paper use the same code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import check_reduction, check_reference, class_target, frame_mask, reduce_loss, where_kept

__all__ = [
    "DENOMINATORS",
    "MultiStageLoss",
    "SimilaritySmoothingLoss",
    "SmoothingLoss",
    "similarity_smoothing_loss",
    "smoothing_loss",
]

# Deprecated spellings of ``denominator=`` (until the next minor release): "valid" is ``reference=None``,
# "reference" is ``reference="ms-tcn"``.
DENOMINATORS = ("valid", "reference")
_DENOMINATOR_TO_REFERENCE = {"valid": None, "reference": "ms-tcn"}


def _reference(reference: str | None, denominator: str | None, stacklevel: int = 4) -> str | None:
    """``reference`` (``None`` or ``"ms-tcn"``), resolving the deprecated ``denominator=`` spelling."""
    if denominator is not None:
        denominator = _checks.choice(denominator, DENOMINATORS, "denominator")
    reference = _checks.renamed(reference, denominator, new="reference", old="denominator", default=None,
                                convert=_DENOMINATOR_TO_REFERENCE.__getitem__, stacklevel=stacklevel)
    return check_reference(reference, "ms-tcn")


def _clamp(clamp: float) -> float:
    return _checks.real(clamp, "clamp", low=0.0, low_open=True)


def smoothing_loss(logits: Tensor, mask: Tensor | None = None, *, clamp: float = 16.0, reference: str | None = None,
                   reduction: str = "mean", denominator: str | None = None) -> Tensor:
    r"""Truncated temporal MSE on frame log-probabilities (MS-TCN, Eq. (8)–(9)).

    .. math::
        \Delta_{t,k} = \log \hat y_{t,k} - \log \hat y_{t-1,k},\qquad
        \tilde\Delta^2_{t,k} = \min(\Delta_{t,k}^2,\ \tau^2),\qquad
        L_{T\text{-}MSE} = \frac{1}{N}\sum_{t,k} \tilde\Delta^2_{t,k}

    Convention (as the official code):
        - ``log ŷ`` is ``log_softmax`` over classes; the previous frame ``t − 1`` is detached, so
          gradient flows through frame ``t`` only.
        - ``clamp`` bounds the **squared** difference (``τ² = 16``, i.e. ``τ = 4``; the 2D-skeleton
          paper's text writes τ = 16, the code clamps ``Δ²`` at 16).
        - ``reference=None`` (default): pairs ``(t − 1, t)`` with both frames valid count; the mean
          divides by ``K ·`` their number (a padded batch gives the mean over its videos' pairs).
        - ``reference="ms-tcn"``: the official ``torch.mean(clamp(Δ²) · mask[:, :, 1:])``: the mean
          divides by ``B · K · (T − 1)`` including padding, so padding dilutes the term. The official
          code counts the pairs whose frame ``t`` is valid; for the masks it builds (a valid prefix
          per video) those are the pairs with both frames valid, which is what is counted here, so
          that a mask with holes gives padded frames no influence in both forms. Equal to the
          default without padding.
        - Padded frames are zeroed before any arithmetic (NaN or ±inf there reach neither the value
          nor the gradient).
        - Computed in float32 at least (half inputs are upcast); a sequence of one frame gives 0
          (the official code gives NaN).

    Args:
        logits: ``(B, K, T)`` frame logits.
        mask: ``(B, T)`` bool, ``True`` = valid frame, or ``None``.
        clamp: threshold ``> 0`` on ``Δ²``.
        reference: ``None`` or ``"ms-tcn"``.
        reduction: ``"mean"`` (the denominators above), ``"sum"`` or ``"none"`` (``(B, K, T − 1)``,
            zero where a pair does not count).
        denominator: deprecated spelling (until the next minor release): ``"valid"`` is
            ``reference=None``, ``"reference"`` is ``reference="ms-tcn"``.

    Example:
        >>> logits = torch.tensor([[[0.0, 2.0], [0.0, 0.0]]])
        >>> round(float(smoothing_loss(logits)), 4)  # (Δ0² + Δ1²) / 2 = (0.5662² + 1.4338²) / 2
        1.1882
    """
    _checks.tensor(logits, "logits", "(B, K, T)")
    reference = _reference(reference, denominator)
    check_reduction(reduction)
    clamp = _clamp(clamp)
    classes = logits.shape[1]
    keep = frame_mask(mask, logits)
    mask = None if keep is None else keep[:, 0]
    logp = F.log_softmax(where_kept(_checks.upcast_half(logits), keep), dim=1)
    squared = (logp[:, :, 1:] - logp.detach()[:, :, :-1]).pow(2).clamp(min=0, max=clamp)
    counted = None if mask is None else mask[:, 1:] & mask[:, :-1]
    if counted is not None:
        squared = torch.where(counted.unsqueeze(1), squared, squared.new_zeros(()))
    if reduction == "none":
        return squared
    if reduction == "sum" or squared.numel() == 0:
        return squared.sum()
    if reference == "ms-tcn" or counted is None:
        return squared.mean()
    return squared.sum() / (classes * counted.sum()).clamp(min=1)


class SmoothingLoss(nn.Module):
    """Module form of :func:`smoothing_loss`; ``forward(logits (B, K, T), mask (B, T) | None)``.

    ``denominator`` is the deprecated spelling of ``reference`` (see :func:`smoothing_loss`).
    """

    def __init__(self, clamp: float = 16.0, denominator: str | None = None, reduction: str = "mean", *,
                 reference: str | None = None) -> None:
        super().__init__()
        self.clamp = _clamp(clamp)
        self.reference = _reference(reference, denominator)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        return smoothing_loss(logits, mask, clamp=self.clamp, reference=self.reference, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"clamp={self.clamp}, reference={self.reference!r}, reduction={self.reduction!r}"


class MultiStageLoss(nn.Module):
    """The MS-TCN training objective over all stages (MS-TCN Eq. (7), (10)): ``Σ_s CE_s + λ · T-MSE_s``.

    ``CE_s`` is the cross-entropy of stage ``s`` averaged over the valid frames of the batch
    (frames with ``mask == False`` or ``target == ignore_index`` are left out; 0 when there is none);
    ``T-MSE_s`` is :func:`smoothing_loss`. With ``reference="ms-tcn"`` the value and the gradients are
    those of the official ``Trainer.train`` (ms-tcn, MS-TCN2, ASFormer) on the same padded batch.
    Padded frames are zeroed before any arithmetic.

    Args:
        smoothing_weight: ``λ >= 0`` (0.15).
        ignore_index: target value of frames without a label.
        clamp: threshold ``> 0`` on ``Δ²`` (16).
        denominator: deprecated spelling of ``reference`` (``"valid"`` → ``None``, ``"reference"`` →
            ``"ms-tcn"``), until the next minor release.
        reference: ``None`` or ``"ms-tcn"`` (see :func:`smoothing_loss`).

    Shape:
        ``forward(stage_logits (S, B, K, T), target (B, T) int64, mask (B, T) bool | None)`` → scalar.

    Example:
        >>> loss = MultiStageLoss()(torch.zeros(4, 2, 5, 10), torch.zeros(2, 10, dtype=torch.long))
        >>> round(float(loss), 4)  # 4 stages × log(5)
        6.4378
    """

    def __init__(self, smoothing_weight: float = 0.15, ignore_index: int = -100, clamp: float = 16.0,
                 denominator: str | None = None, *, reference: str | None = None) -> None:
        super().__init__()
        self.smoothing_weight = _checks.real(smoothing_weight, "smoothing_weight", low=0.0)
        self.ignore_index = _checks.integer(ignore_index, "ignore_index", low=None, high=None)
        self.clamp = _clamp(clamp)
        self.reference = _reference(reference, denominator)

    def forward(self, stage_logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _checks.tensor(stage_logits, "stage_logits", "(S, B, K, T)")
        _, batch, classes, length = stage_logits.shape
        class_target(target, batch, length, classes, self.ignore_index)
        mask = _checks.tensor_mask(mask, batch, length, device=stage_logits.device)
        labelled = target != self.ignore_index
        if mask is not None:
            labelled = labelled & mask
        safe_target = torch.where(labelled, target, torch.zeros_like(target))
        count = labelled.sum().clamp(min=1)  # no labelled frame: no classification term (not 0/0)
        total = stage_logits.new_zeros((), dtype=torch.promote_types(stage_logits.dtype, torch.float32))
        for logits in stage_logits:
            x = where_kept(_checks.upcast_half(logits), labelled.unsqueeze(1))
            ce = F.cross_entropy(x, safe_target, reduction="none")
            ce = torch.where(labelled, ce, ce.new_zeros(())).sum() / count.to(ce.dtype)
            smooth = smoothing_loss(logits, mask, clamp=self.clamp, reference=self.reference)
            total = total + ce + self.smoothing_weight * smooth
        return total

    def extra_repr(self) -> str:
        return (f"smoothing_weight={self.smoothing_weight}, ignore_index={self.ignore_index}, clamp={self.clamp}, "
                f"reference={self.reference!r}")


def similarity_smoothing_loss(logits: Tensor, features: Tensor, mask: Tensor | None = None, *, clamp: float = 16.0,
                              sigma: float = 1.0, squared_distance: bool = False, reduction: str = "mean",
                              reference: str | None = None) -> Tensor:
    r"""Gaussian-similarity weighted T-MSE of ASRF (Ishikawa et al., WACV 2021): smooth less across feature changes.

    .. math::
        L = \frac{1}{B} \sum_b \frac{1}{K (n_b - 1)} \sum_{t, k}
            \min(\Delta_{t,k}^2, \tau^2)\; \exp\Bigl(-\frac{\lVert f_t - f_{t-1} \rVert_2}{2\sigma^2}\Bigr)

    with ``Δ`` as in :func:`smoothing_loss` (class log-probabilities, previous frame detached) over the
    ``n_b`` valid frames of video ``b``.

    Convention:
        - The exponent uses the L2 **norm** of the feature difference, as the ASRF code does
          (``torch.norm``); ``squared_distance=True`` uses the squared norm of the usual Gaussian kernel.
        - Per-video mean over ``K ×`` its valid frame pairs, then mean over videos (ASRF's averaging); a
          video with fewer than two valid frames has no pair and is left out (0 in ``"none"``, not in the
          mean).
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
        clamp: ``τ² > 0`` (16).
        sigma: ``σ > 0`` (1).
        squared_distance: use ``‖·‖²`` in the exponent.
        reduction: ``"mean"`` (over videos), ``"sum"`` or ``"none"`` (``(B,)``).
        reference: ``None`` or ``"asrf"``.
    """
    _checks.tensor(logits, "logits", "(B, K, T)")
    batch, _, length = logits.shape
    _checks.tensor(features, "features", "(B, D, T)", sizes={"B": batch, "T": length})
    check_reduction(reduction)
    clamp = _clamp(clamp)
    sigma = _checks.real(sigma, "sigma", low=0.0, low_open=True)
    squared_distance = _checks.flag(squared_distance, "squared_distance")
    reference = check_reference(reference, "asrf")
    keep = frame_mask(mask, logits)
    # meta tensors: the valid frames cannot be read; the result's shape does not depend on them
    mask = None if keep is None or not _checks.has_values(keep) else keep[:, 0]
    per_video = []
    for b in range(batch):  # videos of a batch have different valid lengths; no loop over frames
        valid = slice(None) if mask is None else mask[b]
        x = _checks.upcast_half(logits[b][:, valid])
        f = features[b][:, valid].to(x.dtype)
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
            per_video.append(x.sum() * 0)  # fewer than two valid frames: no pair, no term
    values = torch.stack(per_video) if per_video else _checks.upcast_half(logits).new_zeros(0)  # B = 0
    if reference == "asrf" or mask is None:
        return reduce_loss(values, reduction)
    # a video without a pair of valid frames is left out (0 in "none", not in the mean)
    return reduce_loss(values, reduction, mask.sum(1) > 1)


class SimilaritySmoothingLoss(nn.Module):
    """Module form of :func:`similarity_smoothing_loss`; ``forward(logits, features, mask=None)``."""

    def __init__(self, clamp: float = 16.0, sigma: float = 1.0, squared_distance: bool = False,
                 reduction: str = "mean", reference: str | None = None) -> None:
        super().__init__()
        self.clamp = _clamp(clamp)
        self.sigma = _checks.real(sigma, "sigma", low=0.0, low_open=True)
        self.squared_distance = _checks.flag(squared_distance, "squared_distance")
        self.reduction = check_reduction(reduction)
        self.reference = check_reference(reference, "asrf")

    def forward(self, logits: Tensor, features: Tensor, mask: Tensor | None = None) -> Tensor:
        return similarity_smoothing_loss(logits, features, mask, clamp=self.clamp, sigma=self.sigma,
                                         squared_distance=self.squared_distance, reduction=self.reduction,
                                         reference=self.reference)

    def extra_repr(self) -> str:
        return f"clamp={self.clamp}, sigma={self.sigma}, squared_distance={self.squared_distance}"
