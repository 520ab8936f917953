"""Frame boundary labels (ASRF), Gaussian-smoothed boundary targets and class masks (InterAct).

References: Ishikawa et al., "Alleviating Over-segmentation Errors by Detecting Action Boundaries"
(ASRF, WACV 2021; yiskw713/asrf@9623f1e ``get_boundary``); InterAct §3.4, Eq. (6) (class masks
``M``) and Eq. (8) (boundary target ``g(Y_b)``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import elements, flag, size
from ._common import labels_and_mask, positive, two_variance, valid_frames

__all__ = ["boundary_labels", "class_mask_targets", "gaussian_boundary_targets"]


def _boundaries(labels: Tensor, valid: Tensor, include_first: bool) -> Tensor:
    previous_valid = torch.zeros_like(valid)
    previous_valid[:, 1:] = valid[:, :-1]
    change = torch.zeros_like(valid)
    change[:, 1:] = labels[:, 1:] != labels[:, :-1]
    boundary = valid & previous_valid & change
    if include_first:
        boundary = boundary | (valid & ~previous_valid)
    return boundary


def boundary_labels(
    labels: Any, *, mask: Any = None, include_first: bool = True, ignore_index: int = -100
) -> Tensor:
    r"""Hard action-boundary targets of ASRF: 1 at the first frame and at every start frame.

    The target of the boundary-regression branch of ASRF (Ishikawa et al., WACV 2021; official
    ``utils/generate_boundary_array.py``: ``boundary[0] = 1`` and ``boundary[t] = 1`` where
    ``gt[t] != gt[t − 1]``), used as ``Y_b`` by InterAct Eq. (8):

    .. math:: Y_b(t) = [t = 0] \lor [y_t \ne y_{t-1}]

    Convention:
        - A boundary is the *start* frame of the new action (the frame after the change).
        - Every label change counts, background classes included (ASRF has no background notion).
        - Padding: 0 at invalid frames; the first valid frame after padding / ``mask`` False counts
          as a first frame, so a padded batch gives each video the targets it gets alone.
        - ``include_first=False`` drops the first-frame boundaries (only label changes between two
          valid frames remain).

    Args:
        labels: ``(B, T)`` int64 frame labels (tensor or numpy array), ``ignore_index`` at padding.
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        include_first: mark the first valid frame (ASRF: yes).
        ignore_index: label of padded frames.

    Returns:
        ``(B, T)`` float32 of 0/1 on ``labels``' device.

    Example:
        >>> boundary_labels(torch.tensor([[4, 4, 1, 1, 1, 2, -100]]))[0].tolist()
        [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]

    .. versionadded:: 0.1.0
    """
    labels, mask = labels_and_mask(labels, mask)
    include_first = flag(include_first, "include_first")
    valid = valid_frames(labels, mask, ignore_index)
    return _boundaries(labels, valid, include_first).to(torch.float32)


def gaussian_boundary_targets(
    labels: Any,
    *,
    sigma: float = 1.0,
    truncate: float = 4.0,
    mask: Any = None,
    include_first: bool = True,
    ignore_index: int = -100,
) -> Tensor:
    r"""Gaussian-smoothed boundary target ``g(Y_b)`` of InterAct (§3.4, Eq. (8)).

    InterAct: "``Y_b(t)`` is the ground truth that takes the value of 1 at action boundaries, and
    ``g(·)`` denotes a Gaussian filter used to smooth boundaries". Read here as a convolution of the
    hard boundary labels (:func:`boundary_labels`, the ASRF start frames) with an un-normalised
    Gaussian kernel, clipped to 1 so that it stays a binary cross-entropy target:

    .. math::
        g(Y_b)(t) = \min\Big(1,\ \sum_{|k| \le \lceil \text{truncate}\cdot\sigma\rceil}
        Y_b(t - k)\, e^{-k^2 / 2\sigma^2}\Big)

    Convention (InterAct gives neither σ nor the normalisation):
        - The kernel peak is 1, so an isolated boundary keeps the value 1 (a sum-normalised filter
          would give ``1/(σ√(2π))``); boundaries closer than a few σ add up and are clipped at 1.
        - ``sigma = 1`` frame by default, the ``boundary_smooth`` of DiffAct (Liu et al., 2023),
          the diffusion segmenter InterAct compares with; ``truncate = 4`` is scipy's
          ``gaussian_filter1d`` default.
        - Outside the video and at padded frames ``Y_b`` is 0 (scipy's ``mode="constant"``, not its
          default ``"reflect"``), so a padded batch gives each video what it gets alone. The output is
          0 at padded frames.
        - Computed in float64 (a ``conv1d``, no Python loop), returned as float32.

    Args:
        labels: ``(B, T)`` int64 frame labels (tensor or numpy array), ``ignore_index`` at padding.
        sigma: standard deviation of the Gaussian filter, in frames (> 0).
        truncate: the kernel is cut at ``ceil(truncate · sigma)`` frames (> 0).
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        include_first: count the first frame as a boundary (see :func:`boundary_labels`).
        ignore_index: label of padded frames.

    Returns:
        ``(B, T)`` float32 in ``[0, 1]`` on ``labels``' device.

    Example:
        >>> y = gaussian_boundary_targets(torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]]), include_first=False)
        >>> [round(v, 3) for v in y[0].tolist()]
        [0.0, 0.011, 0.135, 0.607, 1.0, 0.607, 0.135, 0.011]

    .. versionadded:: 0.1.0
    """
    labels, mask = labels_and_mask(labels, mask)
    sigma = positive(sigma, "sigma")
    truncate = positive(truncate, "truncate")
    include_first = flag(include_first, "include_first")
    batch, length = labels.shape
    valid = valid_frames(labels, mask, ignore_index)
    if length == 0:
        return torch.zeros(batch, 0, dtype=torch.float32, device=labels.device)
    hard = _boundaries(labels, valid, include_first).to(torch.float64)
    radius = min(math.ceil(min(truncate * sigma, length)), length - 1)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64, device=labels.device)
    kernel = torch.exp(-(k * k) / two_variance(sigma, torch.float64))
    smooth = F.conv1d(hard.unsqueeze(1), kernel.view(1, 1, -1), padding=radius).squeeze(1)
    smooth = smooth.clamp(max=1.0).to(torch.float32)
    return torch.where(valid, smooth, smooth.new_zeros(()))


def class_mask_targets(labels: Any, num_classes: int, *, mask: Any = None, ignore_index: int = -100) -> Tensor:
    r"""Per-class binary temporal masks ``M`` of InterAct (§3.4, Eq. (6)), the dice-loss targets.

    .. math:: M_{b,i,t} = [\,y_{b,t} = i\,], \qquad i = 0 \dots K - 1

    Convention:
        - All ``K = num_classes`` rows are returned (InterAct then keeps the ``N`` classes present in
          the video, ``P_a(M)`` of Eq. (7); they are the rows with ``M.any(-1)``).
        - Padded frames (``ignore_index`` or ``mask`` False) are 0 in every row.

    Args:
        labels: ``(B, T)`` int64 frame labels in ``[0, K)`` or ``ignore_index``.
        num_classes: ``K``.
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        ignore_index: label of padded frames.

    Returns:
        ``(B, K, T)`` float32 of 0/1 on ``labels``' device (the ``(B, C, T)`` layout of logits).

    Raises:
        ValueError: a valid label outside ``[0, K)``, wrong shapes, ``num_classes < 1``.

    Example:
        >>> class_mask_targets(torch.tensor([[2, 2, 0, -100]]), 3)[0].tolist()
        [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]

    .. versionadded:: 0.1.0
    """
    labels, mask = labels_and_mask(labels, mask)
    num_classes = size(num_classes, "num_classes")
    elements(labels.numel() * num_classes, "num_classes", "B·K·T")
    valid = valid_frames(labels, mask, ignore_index, num_classes=num_classes)
    classes = torch.arange(num_classes, device=labels.device).view(1, -1, 1)
    return ((labels.unsqueeze(1) == classes) & valid.unsqueeze(1)).to(torch.float32)
