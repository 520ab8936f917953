"""Helpers shared by the losses: reductions, padding masks, the loss-specific input forms.

Every public input is validated through :mod:`actseg._checks`; what is here only composes those
checks into the forms the losses share (class targets, binary targets, the reduction) and applies
the padding mask (``torch.where`` before any arithmetic, so that NaN or infinities held by padded
entries never reach a value or a gradient).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import _checks

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: Any) -> str:
    """``reduction`` if it is ``"mean"``, ``"sum"`` or ``"none"``."""
    return _checks.choice(reduction, REDUCTIONS, "reduction")


def check_reference(reference: Any, *choices: str) -> str | None:
    """``reference``: ``None`` (follow the paper) or one of the codebases in ``choices``."""
    return _checks.choice(reference, (None, *choices), "reference")


def reference_mean_only(reference: str | None, reduction: str) -> None:
    """The codebases' forms are defined for ``reduction="mean"`` only."""
    if reference is not None and reduction != "mean":
        raise ValueError(f"reduction: reference={reference!r} is defined for 'mean' only, got {reduction!r}")


def class_target(target: Any, batch: int, length: int, num_classes: int, ignore_index: int,
                 name: str = "target") -> Tensor:
    """``(B, T)`` int64 class ids in ``[0, K)`` or ``ignore_index`` (values checked unless meta)."""
    _checks.tensor(target, name, "(B, T)", dtype=torch.int64, sizes={"B": batch, "T": length})
    if _checks.has_values(target) and target.numel():
        bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
        if bool(bad.any()):
            raise ValueError(f"{name}: expected class ids in [0, {num_classes}) or ignore_index={ignore_index}, "
                             f"got {int(target[bad][0])}")
    return target


def binary_inputs(logits: Any, target: Any, mask: Any, name: str = "logits", *, min_ndim: int = 2,
                  max_ndim: int | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """A floating ``(B, ..., T)`` input, a target of its shape with values in ``[0, 1]`` at valid frames
    and the padding mask broadcast to them (``None`` without one). Both are upcast by the
    half-precision rule (the target to the input's dtype) and zeroed at padded frames."""
    _checks.tensor(logits, name)
    if not min_ndim <= logits.ndim <= (max_ndim or logits.ndim):
        expected = "(B, T) or (B, C, T)" if max_ndim == 3 else "(B, ..., T)"
        raise ValueError(f"{name}: expected shape {expected}, got {_checks.shape_str(logits.shape)}")
    _checks.tensor_like(target, "target", logits, name)
    x = _checks.upcast_half(logits)
    keep = frame_mask(mask, x)
    y = where_kept(_checks.upcast_half(target).to(x.dtype), keep)
    _checks.values_in_range(y, "target", low=0.0, high=1.0, finite=True)
    return where_kept(x, keep), y, keep


def frame_mask(mask: Any, like: Tensor, time_dim: int = -1) -> Tensor | None:
    """A ``(B, T)`` bool mask broadcast to ``like`` ``(B, ..., T)`` (``None`` stays ``None``).

    ``time_dim`` is the dimension of ``like`` that holds the frames (the last one by default).
    """
    if mask is None:
        return None
    mask = _checks.tensor_mask(mask, like.shape[0], like.shape[time_dim], device=like.device)
    shape = [1] * like.ndim
    shape[0] = like.shape[0]
    shape[time_dim] = like.shape[time_dim]
    return mask.reshape(shape).expand_as(like)


def where_kept(x: Tensor, keep: Tensor | None) -> Tensor:
    """``x`` with zeros where ``keep`` is False: applied to inputs *before* any arithmetic, so that
    whatever padded entries hold (NaN, ±inf) reaches neither the value nor the gradient."""
    return x if keep is None else torch.where(keep, x, x.new_zeros(()))


def reduce_loss(values: Tensor, reduction: str, keep: Tensor | None = None,
                denominator: Tensor | None = None) -> Tensor:
    """``"none"``: ``values`` with zeros where ``keep`` is False; ``"sum"``: their sum; ``"mean"``:
    the sum divided by ``denominator`` (default: the number of kept elements), at least 1."""
    values = where_kept(values, keep)
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if denominator is None:
        denominator = keep.sum() if keep is not None else torch.tensor(values.numel(), device=values.device)
    return total / denominator.clamp(min=1).to(total.dtype)
