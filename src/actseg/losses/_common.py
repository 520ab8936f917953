"""Argument checks shared by the losses."""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_choice, shape_str

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    return check_choice(reduction, REDUCTIONS, "reduction")


def check_logits(logits: Tensor, name: str = "logits") -> None:
    """``logits`` must be a floating ``(B, K, T)`` tensor."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim != 3:
        raise ValueError(f"{name}: expected shape (B, K, T), got {shape_str(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name}: expected a floating dtype, got {logits.dtype}")


def check_mask(mask: Tensor | None, batch: int, length: int) -> Tensor | None:
    """``(B, T)`` bool mask or ``None``."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask: expected a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask: expected dtype torch.bool, got {mask.dtype}")
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"mask: expected shape (B, T) = {(batch, length)}, got {shape_str(mask.shape)}")
    return mask


def check_target(target: Tensor, batch: int, length: int, num_classes: int, ignore_index: int) -> None:
    """``(B, T)`` int64 class ids in ``[0, K)`` or ``ignore_index``."""
    if not isinstance(target, Tensor):
        raise TypeError(f"target: expected a torch.Tensor, got {type(target).__name__}")
    if target.dtype != torch.int64:
        raise TypeError(f"target: expected dtype torch.int64, got {target.dtype}")
    if tuple(target.shape) != (batch, length):
        raise ValueError(f"target: expected shape (B, T) = {(batch, length)}, got {shape_str(target.shape)}")
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bool(bad.any()):
        value = int(target[bad][0])
        expected = f"class ids in [0, {num_classes}) or ignore_index={ignore_index}"
        raise ValueError(f"target: expected {expected}, got {value}")
