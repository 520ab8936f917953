"""Temporal keypoint heatmaps of RTK (Refined Temporal Keypoints, §3.1, Eq. (1)–(2), §4.1).

Boundary points (category-agnostic starts and ends of actions) and action points (segment midpoints
with a positive neighbourhood and a category map), splatted with 1-D Gaussians and merged with an
element-wise maximum (CenterNet/OpenPose style, RTK refs. [2, 6]).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._checks import choice, index_value, real
from ._common import (
    FLOAT32_GAUSSIAN_RADIUS,
    background_tensor,
    find_segments,
    flushed_exp,
    labels_and_mask,
    last_valid_frame,
    nearest_distance,
    positive,
    two_variance,
    valid_frames,
    windows,
)

__all__ = ["action_point_heatmaps", "boundary_heatmap"]

END_KEYPOINTS = ("last", "exclusive")
CATEGORY_REGIONS = ("positive", "segment")
CENTRES = ("positive", "midpoint")


def boundary_heatmap(
    labels: Any,
    *,
    mask: Any = None,
    background: Any = (),
    region: float = 33.0,
    sigma_ratio: float = 0.5,
    end: str = "last",
    ignore_index: int = -100,
) -> Tensor:
    r"""Category-agnostic boundary heatmap ``Y^b`` of RTK (§3.1, "Boundary points"; §4.1 defaults).

    Every segment contributes two keypoints, its start and its end; each is splatted with the
    un-normalised 1-D Gaussian of RTK §3.1 and overlapping Gaussians merge by element-wise maximum:

    .. math::
        Y^b_t = \max_{p \in P} \exp\Big(-\frac{(t - p)^2}{2\sigma_b^2}\Big),
        \qquad \sigma_b = \text{sigma\_ratio} \cdot r_b

    with ``r_b = region = 33`` frames and ``σ_b = 0.5 · r_b`` (RTK §4.1). Since all Gaussians share
    ``σ_b``, the maximum is the Gaussian of the distance to the nearest keypoint, which is how it is
    computed (two cumulative max/min passes, ``O(B·T)``, no loop over frames or segments).

    Convention:
        - Segments are the maximal runs of one class not in ``background`` within the valid frames
          (a run also ends at padding / ``mask`` False). Every segment has a start and an end
          keypoint, including segments touching the first or last frame of the video.
        - Start keypoint: the first frame ``s``. End keypoint (``end="last"``, default): the last
          frame ``e − 1`` of the half-open segment ``[s, e)``, so two adjacent segments give two
          neighbouring keypoints ``e − 1`` and ``e``; ``end="exclusive"``: the frame ``e`` (the next
          segment's start), clipped to the last valid frame of the row.
        - Exactly 1.0 at every keypoint (``exp(0)``), values in ``[0, 1]``; 0 at padded frames.
          Gaussians extend over neighbouring segments and background (the map is category-agnostic);
          values below ``exp(−87) ≈ 1.6e-38`` are 0 (no subnormal floats, which are slow on x86).

    Args:
        labels: ``(B, T)`` int64 frame labels (tensor or numpy array), ``ignore_index`` at padding.
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        background: class ids that are not actions (their runs are not segments).
        region: the hand-designed region length ``r_b`` in frames (RTK §4.1: 33).
        sigma_ratio: ``σ_b / r_b`` (RTK §4.1: 0.5).
        end: ``"last"`` or ``"exclusive"`` (see above).
        ignore_index: label of padded frames.

    Returns:
        ``(B, T)`` float32 heatmap on ``labels``' device.

    Raises:
        ValueError: wrong shape, a label ``< 0`` other than ``ignore_index``, a non-positive
            ``region``/``sigma_ratio``, an unknown ``end``, a mask of the wrong shape.
        TypeError: non-integer labels, a mask that is not bool.

    Example:
        >>> y = boundary_heatmap(torch.tensor([[0, 0, 1, 1, 1, 1, 0, 0]]), background=[0], region=2.0)
        >>> [round(v, 3) for v in y[0].tolist()]
        [0.135, 0.607, 1.0, 0.607, 0.607, 1.0, 0.607, 0.135]

    .. versionadded:: 0.1.0
    """
    labels, mask = labels_and_mask(labels, mask)
    region = positive(region, "region")
    sigma_ratio = positive(sigma_ratio, "sigma_ratio")
    end = choice(end, END_KEYPOINTS, "end")
    batch, length = labels.shape
    valid = valid_frames(labels, mask, ignore_index)
    out = torch.zeros(batch, length, dtype=torch.float32, device=labels.device)
    if length == 0:
        return out
    runs = find_segments(labels, valid, background_tensor(background, labels.device))
    points = runs.first.clone()
    if end == "last":
        end_points = runs.ends - 1
    else:
        end_points = torch.minimum(runs.ends, last_valid_frame(valid)[runs.batch])
    points[runs.batch, end_points] = True
    sigma = sigma_ratio * region
    distance = nearest_distance(points).to(torch.float32)
    out = flushed_exp(-(distance * distance) / two_variance(sigma, torch.float32))
    return torch.where(valid, out, out.new_zeros(()))


def action_point_heatmaps(
    labels: Any,
    *,
    mask: Any = None,
    background: Any = (),
    length_ratio: float = 0.8,
    sigma_ratio: float = 0.25,
    positive_ratio: float = 0.32,
    category_region: str = "positive",
    centres: str = "positive",
    ignore_index: int = -100,
) -> tuple[Tensor, Tensor]:
    r"""Action-point localisation heatmap ``Y^cl`` and category target ``Y^cc`` of RTK (§3.1, Eq. (2)).

    Every segment ``[s, e)`` of length ``l = e − s`` has one action point, its midpoint ``p``; the
    frames of its positive neighbourhood ``N`` (``positive_ratio · l`` frames around ``p``) have
    ``Y^cl = 1``, and RTK §3.1 splats the Gaussian ``exp(−(x − p')² / 2σ_c²)`` "for each ``p'`` that
    ``Y^cl_{p'} = 1``". With ``centres="positive"`` (default, the paper) the heatmap is the maximum
    over those Gaussians, i.e. a plateau of 1 on ``N`` with Gaussian flanks from its ends; segments
    merge by element-wise maximum:

    .. math::
        Y^{cl}_t = \max_i \max_{q \in N_i} \exp\Big(-\frac{(t - q)^2}{2\sigma_{c,i}^2}\Big)
        = \max_i \exp\Big(-\frac{d(t, N_i)^2}{2\sigma_{c,i}^2}\Big),
        \qquad \sigma_{c,i} = \text{sigma\_ratio} \cdot r_{c,i},\ r_{c,i} = \text{length\_ratio}
        \cdot l_i

    with ``d(t, N_i)`` the distance from ``t`` to the nearest frame of ``N_i`` (0 on it).
    ``centres="midpoint"`` centres one Gaussian on the midpoint ``p_i`` and sets ``N_i`` to 1 (the
    CenterNet form; the release 0.1 default): a frame just outside ``N_i`` of a 100-frame segment
    gets ``exp(−17² / 800) = 0.70`` there instead of ``exp(−1 / 800) ≈ 1.0``:

    .. math::
        Y^{cl}_t = \max_i \begin{cases} 1 & t \in N_i \\
        \exp\big(-\frac{(t - p_i)^2}{2\sigma_{c,i}^2}\big) & \text{otherwise} \end{cases}

    Defaults are RTK §4.1: ``r_c = 0.8 l``, ``σ_c = 0.25 r_c`` (= ``0.2 l``) and a positive region
    of length ``0.32 l`` ("say 30 %" in §3.1).

    Convention (choices where the paper is silent):
        - Midpoint ``p = (s + e − 1) // 2`` (the middle frame; the left one of the two middle frames
          for an even length).
        - Positive neighbourhood ``N``: the frames ``t`` of the segment with ``|t − p| ≤ ⌊positive_ratio ·
          l / 2⌋`` (the closed interval of length ``positive_ratio · l`` centred on ``p``, cut to the
          segment); it always contains ``p`` (``positive_ratio = 0`` gives ``p`` alone, and then both
          ``centres`` agree).
        - Category target ``Y^cc`` (the cross-entropy target of ``L^c_cat``, Eq. (3)): the segment's
          class on its positive neighbourhood (``category_region="positive"``, default) or on the
          whole segment (``"segment"``); ``ignore_index`` everywhere else (background, padding).
        - Exactly 1.0 on every positive neighbourhood, values in ``[0, 1]``, 0 at padded frames.
          Values below float32's smallest normal number (``exp(−87) ≈ 1.6e-38``) are 0 (subnormal
          arithmetic is 50–250× slower on x86), so each segment's Gaussians are evaluated on a window
          of ``±(13.2 σ + 1)`` frames around ``N`` only: ``O(T)`` per video, no loop over segments or
          frames.

    Args:
        labels: ``(B, T)`` int64 frame labels (tensor, numpy array or sequence), ``ignore_index`` at
            padding.
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        background: class ids that are not actions.
        length_ratio: ``r_c / l`` (0.8).
        sigma_ratio: ``σ_c / r_c`` (0.25).
        positive_ratio: length of the positive neighbourhood over ``l`` (0.32), ``>= 0``.
        category_region: ``"positive"`` or ``"segment"``.
        centres: ``"positive"`` (the paper: a Gaussian at every positive frame) or ``"midpoint"``
            (one Gaussian at the midpoint).
        ignore_index: label of padded frames, and the category target outside the region.

    Returns:
        ``(heatmap, category)``: ``(B, T)`` float32 and ``(B, T)`` int64, on ``labels``' device.

    Raises:
        ValueError: wrong shape, a bad label, a non-positive ratio, an unknown ``category_region``
            or ``centres``.
        TypeError: non-integer labels, a mask that is not bool, a meta tensor.

    Example:
        >>> heat, cat = action_point_heatmaps(torch.tensor([[0] + [3] * 10 + [0]]), background=[0])
        >>> [round(v, 2) for v in heat[0].tolist()]
        [0.14, 0.32, 0.61, 0.88, 1.0, 1.0, 1.0, 0.88, 0.61, 0.32, 0.14, 0.04]
        >>> cat[0].tolist()
        [-100, -100, -100, -100, 3, 3, 3, -100, -100, -100, -100, -100]
        >>> heat, _ = action_point_heatmaps(torch.tensor([[0] + [3] * 10 + [0]]), background=[0], centres="midpoint")
        >>> [round(v, 2) for v in heat[0].tolist()]
        [0.04, 0.14, 0.32, 0.61, 1.0, 1.0, 1.0, 0.61, 0.32, 0.14, 0.04, 0.01]

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
        ``centres="positive"`` (the paper's Gaussians at every positive frame) is the default;
        ``centres="midpoint"`` gives the 0.1 heatmaps.
    """
    labels, mask = labels_and_mask(labels, mask)
    length_ratio = positive(length_ratio, "length_ratio")
    sigma_ratio = positive(sigma_ratio, "sigma_ratio")
    positive_ratio = real(positive_ratio, "positive_ratio", low=0.0)
    category_region = choice(category_region, CATEGORY_REGIONS, "category_region")
    centres = choice(centres, CENTRES, "centres")
    index_value(ignore_index, "ignore_index")
    batch, length = labels.shape
    device = labels.device
    valid = valid_frames(labels, mask, ignore_index)
    heat = torch.zeros(batch * length, dtype=torch.float32, device=device)
    category = torch.full((batch * length,), ignore_index, dtype=torch.int64, device=device)
    if length == 0:
        return heat.view(batch, length), category.view(batch, length)
    runs = find_segments(labels, valid, background_tensor(background, device))
    seg_len = runs.ends - runs.starts
    centre = (runs.starts + runs.ends - 1) // 2
    sigma = (sigma_ratio * length_ratio) * seg_len.to(torch.float64)
    # windows never need to reach farther than the row: clamp before the cast (huge ratios stay finite)
    radius = torch.ceil((FLOAT32_GAUSSIAN_RADIUS * sigma).clamp(max=length)).long() + 1
    half = torch.floor((positive_ratio * seg_len.to(torch.float64) / 2 + 1e-9).clamp(max=length)).long()
    # per segment: centre, its positive frames as offsets [low, high] from the centre, row offset, class
    low = torch.maximum(-half, runs.starts - centre)
    high = torch.minimum(half, runs.ends - 1 - centre)
    if centres == "positive":
        radius = radius + torch.maximum(-low, high)  # the window covers N and the flanks of its ends
    columns = torch.stack([centre, low, high, runs.batch * length, runs.classes], dim=1)
    frame, per, widths = windows(centre, radius, length, columns)
    offset = frame - per[:, 0]
    tiny = torch.finfo(torch.float32).tiny  # as two_variance: 2σ² never underflows to 0
    two_var = torch.repeat_interleave((2.0 * sigma * sigma).to(torch.float32).clamp(min=tiny), widths)
    if centres == "positive":  # the distance to the nearest positive frame: 0 on N, so exp(0) = 1 there
        distance = (offset - torch.clamp(offset, per[:, 1], per[:, 2])).to(torch.float32)
        in_positive = distance == 0
        value = flushed_exp(distance.square_().neg_().div_(two_var))
    else:
        in_positive = (offset >= per[:, 1]) & (offset <= per[:, 2])
        value = flushed_exp(-(offset * offset).to(torch.float32) / two_var)
        value = torch.where(in_positive, value.new_ones(()), value)
    flat = per[:, 3] + frame
    heat.scatter_reduce_(0, flat, value, reduce="amax")
    heat = torch.where(valid, heat.view(batch, length), heat.new_zeros(()))
    if category_region == "positive":
        category[flat[in_positive]] = per[in_positive, 4]
        category = category.view(batch, length)
    else:
        category = torch.where(runs.foreground, labels, category.view(batch, length))
    return heat, category
