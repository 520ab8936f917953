"""Input checks and vectorised run extraction shared by the target builders.

Conventions (DESIGN.md): frame labels ``(B, T)`` int64 with ``ignore_index`` at padded frames, an
optional ``(B, T)`` bool ``mask`` (``True`` = valid), half-open segments ``[start, end)``, messages
naming the argument, the expected and the actual value.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from .._checks import as_tensor, detached, id_set, index_value, is_tensor, real, tensor_mask

# Gaussians are flushed to 0 below the smallest normal number (float32: 1.18e-38 = exp(-87.3)):
# subnormal and underflowing results take a slow path on x86 CPUs (an exp or a multiplication that
# produces one is 50-250x slower), and values this small change nothing in a training target.
EXP_FLOOR = {torch.float32: -87.0, torch.float64: -708.0}
# a Gaussian of standard deviation σ is then exactly 0 farther than sqrt(2 · 87) σ ≈ 13.19 σ
FLOAT32_GAUSSIAN_RADIUS = 13.2


def flushed_exp(arg: Tensor, floor: float | None = None) -> Tensor:
    """``exp(arg)`` for ``arg <= 0``, exactly 0 where ``arg <= floor`` (default ``EXP_FLOOR``: no subnormals)."""
    floor = EXP_FLOOR[arg.dtype] if floor is None else floor
    return torch.where(arg > floor, torch.exp(arg.clamp(min=floor)), arg.new_zeros(()))


def two_variance(sigma: float, dtype: torch.dtype) -> float:
    """``2σ²``, at least the smallest normal number of ``dtype``: a ``σ`` so small that ``2σ²`` underflows
    still gives ``exp(0) = 1`` at the centre (not ``0 / 0``) and 0 elsewhere."""
    return max(2.0 * sigma * sigma, torch.finfo(dtype).tiny)


class Runs(NamedTuple):
    """The segments of a batch, flattened in row-major (batch, time) order."""

    batch: Tensor  # (N,) int64 row of each segment
    starts: Tensor  # (N,) int64 first frame
    ends: Tensor  # (N,) int64 one past the last frame
    classes: Tensor  # (N,) int64 class id
    first: Tensor  # (B, T) bool, True at the first frame of every segment
    foreground: Tensor  # (B, T) bool, True on every frame of a segment


def labels_and_mask(labels: Any, mask: Any) -> tuple[Tensor, Tensor | None]:
    """``labels`` as a ``(B, T)`` int64 tensor (numpy arrays and sequences on the CPU; meta tensors are a
    TypeError: targets read values) and ``mask`` as a ``(B, T)`` bool tensor on its device, or ``None``."""
    labels = as_tensor(labels, "labels", "(B, T)", dtype="integer")
    batch, length = labels.shape
    return labels, mask_tensor(mask, batch, length, labels.device)


def mask_tensor(mask: Any, batch: int, length: int, device: torch.device) -> Tensor | None:
    """``mask`` (tensor or numpy) as a ``(B, T)`` bool tensor on ``device``, or ``None``; values are read."""
    return tensor_mask(detached(mask, "mask") if is_tensor(mask) else mask, batch, length, device=device)


def positive(value: Any, name: str) -> float:
    """A finite real number > 0 (a ratio, a standard deviation, a length)."""
    return real(value, name, low=0.0, low_open=True)


def background_tensor(background: Any, device: torch.device) -> Tensor:
    """The ``background`` class ids as a sorted int64 tensor on ``device``."""
    return torch.as_tensor(id_set(background, "background"), dtype=torch.int64, device=device)


def valid_frames(
    labels: Tensor,
    mask: Tensor | None,
    ignore_index: int,
    *,
    num_classes: int | None = None,
    also_allowed: Tensor | None = None,
) -> Tensor:
    """``(B, T)`` bool: frames that are not ``ignore_index`` and valid under ``mask``; checks their labels.

    Labels of valid frames must be ``>= 0`` (and ``< num_classes`` when given, unless they are in
    ``also_allowed``); labels of frames the mask marks as padding are not read.
    """
    index_value(ignore_index, "ignore_index")
    valid = labels != ignore_index
    if mask is not None:
        valid = valid & mask
    bad = valid & (labels < 0)
    if num_classes is not None:
        high = labels >= num_classes
        if also_allowed is not None and also_allowed.numel():
            high = high & ~torch.isin(labels, also_allowed)
        bad = bad | (valid & high)
    if bool(bad.any()):
        b, t = (int(i) for i in bad.nonzero()[0])
        value = int(labels[b, t])
        if num_classes is None:
            expected = f"class ids >= 0 or ignore_index={ignore_index}"
        else:
            extra = "" if also_allowed is None or not also_allowed.numel() else " or a background id"
            expected = f"class ids in [0, {num_classes}){extra} or ignore_index={ignore_index}"
        raise ValueError(f"labels: expected {expected}, got {value} at (b, t) = ({b}, {t})")
    return valid


def find_segments(labels: Tensor, valid: Tensor, background: Tensor) -> Runs:
    """Maximal runs of one non-background class within the valid frames, without a per-frame loop.

    A run ends at a label change, at an invalid frame (padding or ``mask`` False) and at the end of
    the row. Runs are listed in row-major order: by batch row, then by start.
    """
    lab = torch.where(valid, labels, labels.new_full((), -1))  # -1: no class id is negative
    foreground = valid if background.numel() == 0 else valid & ~torch.isin(lab, background)
    change = torch.ones_like(foreground)  # frame t starts a new run of equal values (t = 0 does)
    change[:, 1:] = lab[:, 1:] != lab[:, :-1]
    first = foreground & change
    last = torch.ones_like(foreground)
    last[:, :-1] = change[:, 1:]
    last = last & foreground
    batch, starts = first.nonzero(as_tuple=True)
    _, last_frames = last.nonzero(as_tuple=True)
    return Runs(batch, starts, last_frames + 1, labels[batch, starts], first, foreground)


def last_valid_frame(valid: Tensor) -> Tensor:
    """``(B,)`` index of the last valid frame of each row (-1 for a row without one)."""
    index = torch.arange(valid.shape[1], device=valid.device)
    return torch.where(valid, index, index.new_full((), -1)).amax(dim=1)


def nearest_distance(points: Tensor) -> Tensor:
    """``(B, T)`` int64 distance in frames from every frame to the nearest ``True`` of its row.

    Rows without a point get a distance of at least ``2**40`` (a Gaussian of it is 0).
    """
    big = 2**41
    batch, length = points.shape
    index = torch.arange(length, device=points.device).expand(batch, length)
    previous = torch.where(points, index, index.new_full((), -big)).cummax(dim=1).values
    following = torch.where(points, index, index.new_full((), big)).flip(1).cummin(dim=1).values.flip(1)
    return torch.minimum(index - previous, following - index)


def windows(centres: Tensor, radii: Tensor, length: int, columns: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Flattened frame windows ``[centre − radius, centre + radius] ∩ [0, length)`` of N keypoints.

    ``columns`` ``(N, k)`` int64 holds per-keypoint values; returns ``(frame, expanded, widths)``: the
    frame index of every element of every window ``(M,)``, ``columns`` repeated over each keypoint's
    window ``(M, k)`` (``repeat_interleave`` over the window widths: no Python loop), and the widths
    ``(N,)`` (to repeat other per-keypoint values the same way).
    """
    low = (centres - radii).clamp(min=0)
    high = (centres + radii).clamp(max=length - 1)
    widths = (high - low + 1).clamp(min=0)
    shift = low - (torch.cumsum(widths, 0) - widths)  # frame = position in the flat list + shift
    expanded = torch.repeat_interleave(torch.cat([shift.unsqueeze(1), columns], dim=1), widths, dim=0)
    frame = torch.arange(expanded.shape[0], device=centres.device) + expanded[:, 0]
    return frame, expanded[:, 1:], widths
