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

from .. import _checks
from ._common import binary_inputs, check_reduction, check_reference, frame_mask, reduce_loss, where_kept

__all__ = ["BIoULoss", "DiceLoss", "GlobalMaskLoss", "RedundancyLoss", "biou_loss", "dice_loss", "redundancy_loss"]

def _mask_inputs(input: Tensor, target: Tensor, mask: Tensor | None, name: str) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(B, T)`` / ``(B, N, T)`` inputs as ``(B, N, T)``, padded frames zeroed before any arithmetic."""
    x, y, keep = binary_inputs(input, target, mask, name, min_ndim=2, max_ndim=3)
    if x.ndim == 2:
        x, y, keep = x.unsqueeze(1), y.unsqueeze(1), None if keep is None else keep.unsqueeze(1)
    return x, y, keep


def _global_masks(x: Tensor, name: str) -> Tensor:
    """A floating ``(B, T, T)`` tensor (GSMT global masks)."""
    _checks.tensor(x, name, "(B, T, T)")
    return _checks.tensor(x, name, "(B, T, T)", sizes={"T": x.shape[-1]})


def _reduce_rows(values: Tensor, counted: Tensor, reduction: str, squeeze: bool) -> Tensor:
    """Per-row losses ``(B, C)``: mean/sum over counted rows, or the rows (zero where not counted)."""
    values = reduce_loss(values, reduction, counted)
    return values.squeeze(1) if squeeze and reduction == "none" else values


def _dice_options(factor: float, squared: bool, smooth: float, present_only: bool) -> tuple[float, bool, float, bool]:
    return (_checks.real(factor, "factor", low=0.0, high=2.0, low_open=True), _checks.flag(squared, "squared"),
            _checks.real(smooth, "smooth", low=0.0), _checks.flag(present_only, "present_only"))


def dice_loss(probs: Tensor, target: Tensor, mask: Tensor | None = None, *, factor: float = 2.0,
              squared: bool = True, smooth: float = 1.0, present_only: bool = False, reduction: str = "mean",
              reference: str | None = None) -> Tensor:
    r"""Soft dice loss along time, one value per (video, channel) row.

    .. math:: L = 1 - \frac{f \sum_t p_t g_t + s}{\sum_t p_t^2 + \sum_t g_t^2 + s}

    (``squared=False``: ``Σ p + Σ g`` in the denominator). ``f = 2`` is the V-Net dice; GSMT Eq. (6)
    and the TAGS code use ``f = 1``. With ``f`` in ``(0, 2]`` the loss lies in ``[0, 1]``.

    Convention:
        - Rows are the channels of ``(B, C, T)``; the sums run along the **last** axis (time). For
          InterAct Eq. (7) they are per-class temporal masks (pass ``actseg.targets.class_mask_targets``
          and ``present_only=True`` to keep the classes that occur in the video, as ``P_a(M)`` does).
          For a GSMT global mask ``(B, T, T)`` row ``i`` is the mask predicted from snippet ``i``
          (``docs/conventions.md``). GSMT Eq. (4) writes snippet ``t``'s mask as **column** ``t`` of
          ``M``: pass ``M.transpose(-1, -2)`` for a model that outputs that layout.
        - ``present_only``: rows whose target is empty are left out of the mean.
        - ``mask`` ``(B, T)`` zeroes padded frames along the last dimension (before any arithmetic).
        - ``reference="tags"``: TAGS ``loss_tags.py``: one dice per video over all elements,
          ``f = 1``, squared denominator, ``s = 1`` (``factor``/``squared``/``smooth`` ignored).

    Args:
        probs: ``(B, T)`` or ``(B, C, T)`` probabilities in [0, 1] (after softmax or sigmoid).
        target: same shape, in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        factor: numerator factor ``f`` in ``(0, 2]``.
        squared: squared (V-Net) or linear denominator.
        smooth: ``s >= 0``, added to numerator and denominator.
        present_only: mean over rows whose target has a positive only.
        reduction: ``"mean"`` (over counted rows), ``"sum"`` or ``"none"`` (``(B, C)``; ``(B,)`` for 2-D input
            or ``reference="tags"``).
        reference: ``None`` or ``"tags"``.

    Example:
        >>> probs = torch.tensor([[0.5, 0.5, 0.5, 0.5]])
        >>> round(float(dice_loss(probs, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), smooth=0.0)), 4)
        0.3333
    """
    check_reduction(reduction)
    reference = check_reference(reference, "tags")
    factor, squared, smooth, present_only = _dice_options(factor, squared, smooth, present_only)
    squeeze = probs.ndim == 2 if _checks.is_tensor(probs) else False
    p, g, _ = _mask_inputs(probs, target, mask, "probs")
    _checks.values_in_range(p.squeeze(1) if squeeze else p, "probs", low=0.0, high=1.0, finite=True,
                            what="probabilities")  # valid frames
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
        self.factor, self.squared, self.smooth, self.present_only = _dice_options(factor, squared, smooth,
                                                                                  present_only)
        self.reduction = check_reduction(reduction)
        self.reference = check_reference(reference, "tags")

    def forward(self, probs: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return dice_loss(probs, target, mask, factor=self.factor, squared=self.squared, smooth=self.smooth,
                         present_only=self.present_only, reduction=self.reduction, reference=self.reference)

    def extra_repr(self) -> str:
        return (f"factor={self.factor}, squared={self.squared}, smooth={self.smooth}, "
                f"present_only={self.present_only}, reduction={self.reduction!r}")


def _erode(x: Tensor, kernel_size: int) -> Tensor:
    """Soft morphological erosion along the last axis: a min-pool with zero padding (outside = background)."""
    if x.numel() == 0:  # nothing to erode (T = 0 or an empty batch); max_pool1d refuses empty input
        return x
    half = kernel_size // 2
    if half >= x.shape[-1]:  # every window reaches the zero padding (x >= 0): all eroded, no padded copy
        return torch.zeros_like(x)
    padded = F.pad(x, (half, half))
    return -F.max_pool1d(-padded.flatten(0, 1).unsqueeze(1), kernel_size, stride=1).squeeze(1).view_as(x)


def _biou_options(kernel_size: int, epsilon: float, min_overlap: float) -> tuple[int, float, float]:
    kernel_size = _checks.size(kernel_size, "kernel_size", high=2**20)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size: expected an odd positive integer, got {kernel_size}")
    return (kernel_size, _checks.real(epsilon, "epsilon", low=0.0, low_open=True),
            _checks.real(min_overlap, "min_overlap", low=0.0))


def biou_loss(logits: Tensor, target: Tensor, mask: Tensor | None = None, *, kernel_size: int = 7,
              epsilon: float = math.exp(-8), min_overlap: float = 1.0, reduction: str = "mean") -> Tensor:
    r"""Boundary-IoU loss of GSMT (Eq. (6), first two terms) on segmentation masks along time.

    .. math::
        L = 1 - \frac{|\Phi(m) \cap \Phi(g)|}{|\Phi(m) \cup \Phi(g)|}
            + \frac{1}{\max(|\Phi(m) \cap \Phi(g)|, o) + \epsilon}\,\frac{\lVert m - g \rVert_2}{c}

    for each mask row ``m = sigmoid(logits)`` (the mask predicted from one snippet, over time) with
    ground truth ``g`` of length ``c = Σ_t g_t``; ``o`` is ``min_overlap``.

    How ``Φ`` is read from the text: the paper calls ``Φ`` "a kernel of size k used as a differentiable
    morphological erosion" and the loss a *boundary* IoU "inspired by the boundary IoU metric (Cheng et
    al., 2021)"; that metric compares the boundary bands ``mask − erode(mask)``. So here
    ``Φ(x) = x − erode_k(x)`` with ``erode_k`` a min-pool of width ``k`` along time (soft, hence
    differentiable), zero padding outside the video (an instance touching the first or last snippet
    has a boundary there), and the soft set operations ``|a ∩ b| = Σ a·b``,
    ``|a ∪ b| = Σ (a + b − a·b)``. The second term is the paper's "normalised L2" fallback: it
    dominates when the boundary bands do not overlap. The ``λ2 · dice`` term of Eq. (6) is
    :func:`dice_loss` (``factor=1``, ``smooth=0``); :class:`GlobalMaskLoss` composes the whole Eq. (6).

    The bound (``min_overlap``): with the paper's literal weight ``1 / (|∩| + ε)``, ``ε = e⁻⁸``, a row
    whose boundary bands do not overlap weighs its L2 term ``e⁸ ≈ 2981×``: a one-snippet instance
    with zero logits gives a loss of about 5,164 and gradients of about 4e6, which overflow float16
    (inf in the loss's gradient, NaN parameter gradients under fp16 autocast). The text says that "in
    case of no boundary overlap ... we use the normalized L2 loss", and ``ε`` is "for numerical
    stability"; so the overlap in the weight is floored at ``o`` boundary frames: with ``o = 1`` (the
    default) the weight is ``1/(|∩| + ε)`` (the paper's) once the bands overlap by at least one frame,
    and ``1/(1 + ε)``, i.e. the plain normalised L2 ``‖m − g‖₂ / c``, when they do not. The loss is
    then at most ``2 + √T / c`` and every gradient entry at most about ``(2 + √T) / c`` in magnitude,
    finite in float16. ``min_overlap=0`` gives the literal weight (bounded only by ``1/ε``).

    Layout: the erosion and the sums run along the **last** axis; a row is one snippet's mask over
    time (``docs/conventions.md``: a global mask ``(B, T, T)`` has snippet ``t``'s mask in **row**
    ``t``). GSMT Eq. (4) puts it in **column** ``t`` of ``M``: pass ``M.transpose(-1, -2)`` for a
    model that outputs that layout (a wrong orientation gives a different loss as soon as the
    prediction is not symmetric).

    Convention:
        - Rows with an empty ground truth (background snippets) are left out (``c = 0``); the mean is
          over the remaining rows of the batch.
        - ``mask`` ``(B, T)`` zeroes padded frames of both masks along time (before any arithmetic), so
          padding reads as background.

    Args:
        logits: ``(B, T)`` or ``(B, N, T)`` mask logits (a GSMT global mask is ``(B, T, T)``, row = snippet).
        target: same shape, ground-truth mask in [0, 1].
        mask: ``(B, T)`` bool or ``None``.
        kernel_size: erosion width ``k`` (odd; 7 in GSMT).
        epsilon: ``ε > 0`` (``e⁻⁸``).
        min_overlap: ``o >= 0``, the floor of the overlap in the L2 term's weight (1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per row, zero for empty rows).

    Example:
        >>> target = torch.zeros(1, 12)
        >>> target[0, 5] = 1.0  # a one-snippet instance; zero logits: no boundary overlap
        >>> round(float(biou_loss(torch.zeros(1, 12), target)), 4)  # 1 − 0 + ‖m − g‖₂ / (1 + ε)
        2.7315
        >>> round(float(biou_loss(torch.zeros(1, 12), target, min_overlap=0.0)))  # the literal weight 1/ε
        5164
    """
    check_reduction(reduction)
    kernel_size, epsilon, min_overlap = _biou_options(kernel_size, epsilon, min_overlap)
    squeeze = logits.ndim == 2 if _checks.is_tensor(logits) else False
    x, g, keep = _mask_inputs(logits, target, mask, "logits")
    m = where_kept(torch.sigmoid(x), keep)
    band_m = m - _erode(m, kernel_size)
    band_g = g - _erode(g, kernel_size)
    inter = (band_m * band_g).sum(-1)
    union = (band_m + band_g - band_m * band_g).sum(-1)
    length = g.sum(-1)
    counted = length > 0
    safe_union = torch.where(counted, union, torch.ones_like(union)).clamp(min=torch.finfo(m.dtype).tiny)
    safe_length = torch.where(counted, length, torch.ones_like(length))
    l2 = torch.sqrt((m - g).pow(2).sum(-1) + torch.finfo(m.dtype).tiny)
    values = 1 - inter / safe_union + l2 / (safe_length * (inter.clamp(min=min_overlap) + epsilon))
    return _reduce_rows(values, counted, reduction, squeeze)


class BIoULoss(nn.Module):
    """Module form of :func:`biou_loss`; ``forward(logits, target, mask=None)``."""

    def __init__(self, kernel_size: int = 7, epsilon: float = math.exp(-8), reduction: str = "mean",
                 min_overlap: float = 1.0) -> None:
        super().__init__()
        self.kernel_size, self.epsilon, self.min_overlap = _biou_options(kernel_size, epsilon, min_overlap)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return biou_loss(logits, target, mask, kernel_size=self.kernel_size, epsilon=self.epsilon,
                         min_overlap=self.min_overlap, reduction=self.reduction)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, epsilon={self.epsilon:.3g}, min_overlap={self.min_overlap}, "
                f"reduction={self.reduction!r}")


class GlobalMaskLoss(nn.Module):
    """GSMT segmentation-mask loss, Eq. (6): ``biou_loss + λ2 · dice_loss(factor=1, smooth=0)``.

    Both terms are averaged over the mask rows of foreground snippets (rows with a non-empty target).
    Layout as :func:`biou_loss`: row ``t`` of ``(B, T, T)`` is snippet ``t``'s mask over time (GSMT
    Eq. (4) writes it as column ``t``: transpose such an output first). With ``mask``, padded
    snippets are padding along both axes: their rows are left out and their columns read as
    background (zeroed before any arithmetic).

    Args:
        kernel_size: as :func:`biou_loss` (7).
        epsilon: as :func:`biou_loss` (``e⁻⁸``).
        min_overlap: as :func:`biou_loss` (1).
        dice_weight: ``λ2 >= 0`` (0.4).

    Shape:
        ``forward(logits (B, T, T), target (B, T, T), mask (B, T) | None)`` → scalar.
    """

    def __init__(self, kernel_size: int = 7, dice_weight: float = 0.4, epsilon: float = math.exp(-8),
                 min_overlap: float = 1.0) -> None:
        super().__init__()
        self.biou = BIoULoss(kernel_size, epsilon, min_overlap=min_overlap)
        self.dice_weight = _checks.real(dice_weight, "dice_weight", low=0.0)

    def forward(self, logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        _global_masks(logits, "logits")
        _checks.tensor_like(target, "target", logits, "logits")
        if mask is not None:  # padded snippets: their rows and their columns are padding
            keep = frame_mask(mask, logits, time_dim=1) & frame_mask(mask, logits)
            logits, target = where_kept(logits, keep), where_kept(target, keep)
        boundary = self.biou(logits, target, mask)
        probs = torch.sigmoid(_checks.upcast_half(logits))
        dice = dice_loss(probs, target, mask, factor=1.0, squared=True, smooth=0.0, present_only=True)
        return boundary + self.dice_weight * dice

    def extra_repr(self) -> str:
        return f"dice_weight={self.dice_weight}"


def redundancy_loss(probs: Tensor, target: Tensor, foreground: Tensor, mask: Tensor | None = None, *,
                    reduction: str = "mean") -> Tensor:
    r"""Mask redundancy term of the TAGS code: squared error of the global masks of foreground snippets.

    .. math::
        L = \frac{1}{|\mathcal B|} \sum_{b \in \mathcal B} \frac{1}{|F_b|\, n_b}
            \sum_{t \in F_b} \sum_{s=1}^{n_b} (p_{b,t,s} - g_{b,t,s})^2

    with ``F_b`` the valid foreground snippets of video ``b``, ``n_b`` its valid snippets and
    ``\mathcal B`` the videos with at least one foreground snippet.

    GSMT has no such term; it is ``redundancy_loss`` of the TAGS code (``tags_lib/loss_tags.py``, the
    code behind the paper), whose "mask redundancy" part is ``(1/B) Σ_b mse(pred[b, :, F_b],
    gt[b, :, F_b])``. Its second part, a cosine "consistency" between features pooled where the two
    branches fire, is computed only when ``T == 100`` and multiplied by ``λ3 = 0`` in every released
    config, so it is not provided (it can raise ``IndexError`` there when a single snippet reaches
    the mean score; here that input gives the mask term). Differences from the code: a video without
    a foreground snippet is left out of the mean (TAGS: NaN), and ``mask`` removes padded snippets.

    Layout: row ``t`` of ``(B, T, T)`` is snippet ``t``'s mask over time (``docs/conventions.md``).
    TAGS, like GSMT Eq. (4), stores it in **column** ``t`` and selects columns: pass
    ``pred_action.transpose(-1, -2)`` and ``gt_action.transpose(-1, -2)`` to reproduce its numbers.

    Args:
        probs: ``(B, T, T)`` predicted global masks in [0, 1] (after the sigmoid).
        target: same shape, ground-truth global masks in [0, 1].
        foreground: ``(B, T)`` bool, ``True`` for foreground snippets (TAGS: ``gt_cls != 200``).
        mask: ``(B, T)`` bool, ``True`` = valid snippet, or ``None``; padded snippets are left out
            along both axes.
        reduction: ``"mean"`` (over videos with a foreground snippet), ``"sum"`` or ``"none"``
            (``(B,)``, zero for a video without foreground).

    Example:
        >>> target = torch.zeros(1, 3, 3)
        >>> target[0, :2, :2] = 1.0  # snippets 0 and 1 form one instance
        >>> foreground = torch.tensor([[True, True, False]])
        >>> float(redundancy_loss(torch.full((1, 3, 3), 0.5), target, foreground))  # 6 terms of 0.25
        0.25
    """
    batch, length, _ = _global_masks(probs, "probs").shape
    check_reduction(reduction)
    foreground = _checks.tensor_mask(foreground, batch, length, "foreground", device=probs.device)
    _checks.tensor_like(target, "target", probs, "probs")
    if mask is not None:  # padded snippets: their rows are padding too (the columns: below)
        rows = frame_mask(mask, probs, time_dim=1)
        probs, target = where_kept(probs, rows), where_kept(target, rows)
    p, g, keep = binary_inputs(probs, target, mask, "probs", min_ndim=3, max_ndim=3)
    _checks.values_in_range(p, "probs", low=0.0, high=1.0, finite=True, what="probabilities")
    valid = None if keep is None else frame_mask(mask, foreground)  # (B, T), also when T = 0
    rows = foreground if valid is None else foreground & valid
    frames = torch.full((batch,), length, device=p.device) if valid is None else valid.sum(-1)
    squared = where_kept((p - g).pow(2), rows.unsqueeze(-1)).sum((1, 2))
    per_video = squared / (rows.sum(-1) * frames).clamp(min=1).to(squared.dtype)
    return reduce_loss(per_video, reduction, rows.sum(-1) > 0)


class RedundancyLoss(nn.Module):
    """Module form of :func:`redundancy_loss`; ``forward(probs, target, foreground, mask=None)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, probs: Tensor, target: Tensor, foreground: Tensor, mask: Tensor | None = None) -> Tensor:
        return redundancy_loss(probs, target, foreground, mask, reduction=self.reduction)
