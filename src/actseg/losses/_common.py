"""Argument checks shared by the losses."""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_choice, check_tensor_mask, shape_str

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    """``reduction`` if it is ``"mean"``, ``"sum"`` or ``"none"``."""
    return check_choice(reduction, REDUCTIONS, "reduction")


def check_logits(logits: Tensor, name: str = "logits") -> None:
    """``logits`` must be a floating ``(B, K, T)`` tensor."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim != 3:
        raise ValueError(f"{name}: expected shape (B, K, T), got {shape_str(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"{name}: expected a floating dtype, got {logits.dtype}")


check_mask = check_tensor_mask


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


def check_same_shape(input: Tensor, target: Tensor, input_name: str = "input", target_name: str = "target") -> None:
    """``target`` must be a tensor of the shape of ``input``."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{target_name}: expected a torch.Tensor, got {type(target).__name__}")
    if target.shape != input.shape:
        raise ValueError(
            f"{target_name}: expected the shape of {input_name} {shape_str(input.shape)}, got {shape_str(target.shape)}"
        )


def check_float(x: Tensor, name: str) -> None:
    """``x`` must be a floating tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating dtype, got {x.dtype}")


def frame_mask(mask: Tensor | None, like: Tensor, time_dim: int = -1) -> Tensor | None:
    """A ``(B, T)`` bool mask broadcast to ``like`` ``(B, ..., T)`` (``None`` stays ``None``).

    ``time_dim`` is the dimension of ``like`` that holds the frames (the last one by default).
    """
    if mask is None:
        return None
    check_mask(mask, like.shape[0], like.shape[time_dim])
    shape = [1] * like.ndim
    shape[0] = like.shape[0]
    shape[time_dim] = like.shape[time_dim]
    return mask.reshape(shape).expand_as(like)


def upcast(x: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 (losses compute and reduce in float32 at least)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def reduce_loss(values: Tensor, reduction: str, keep: Tensor | None = None,
                denominator: Tensor | None = None) -> Tensor:
    """``"none"``: ``values`` with zeros where ``keep`` is False; ``"sum"``: their sum; ``"mean"``:
    the sum divided by ``denominator`` (default: the number of kept elements, at least 1)."""
    if keep is not None:
        values = torch.where(keep, values, values.new_zeros(()))
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if denominator is None:
        denominator = keep.sum() if keep is not None else torch.tensor(values.numel(), device=values.device)
    return total / denominator.clamp(min=1).to(total.dtype)
