"""Argument checks and mask helpers shared by the layers (layout (B, C, T), mask (B, T) bool)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_tensor_mask, shape_str


def check_input(x: Tensor, channels: int, name: str = "x") -> None:
    """``x`` must be a floating ``(B, channels, T)`` tensor with ``T >= 1``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{name}: expected shape (B, C, T), got {shape_str(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (B, {channels}, T), got {shape_str(x.shape)}")
    if x.shape[2] < 1:
        raise ValueError(f"{name}: expected at least one frame, got {shape_str(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating dtype, got {x.dtype}")


def float_mask(mask: Tensor | None, x: Tensor) -> Tensor | None:
    """``(B, T)`` bool mask -> ``(B, 1, T)`` mask in ``x``'s dtype; ``None`` for no mask or an all-valid one.

    An all-valid mask changes nothing, so it is dropped once here rather than multiplied in every layer.
    """
    if check_tensor_mask(mask, x.shape[0], x.shape[2]) is None:
        return None
    if bool(mask.all()):
        return None
    return mask.to(dtype=x.dtype, device=x.device).unsqueeze(1)


def apply_mask(x: Tensor, m: Tensor | None) -> Tensor:
    """``x * m`` (broadcast over channels), or ``x`` without a mask."""
    return x if m is None else x * m


def masked_instance_norm(x: Tensor, m: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Instance normalisation over time (no affine), statistics over valid frames only.

    Without a mask this is ``F.instance_norm(x, eps=eps)`` (biased variance, as ``nn.InstanceNorm1d``);
    a single frame normalises to 0 (``nn.InstanceNorm1d`` raises there).
    """
    if m is None:
        if x.shape[-1] > 1:
            return torch.nn.functional.instance_norm(x, eps=eps)
        return torch.zeros_like(x)
    count = m.sum(dim=-1, keepdim=True).clamp(min=1)
    mean = (x * m).sum(dim=-1, keepdim=True) / count
    centred = (x - mean) * m
    var = centred.pow(2).sum(dim=-1, keepdim=True) / count
    return centred * torch.rsqrt(var + eps)


class Dropout(torch.nn.Dropout):
    """``nn.Dropout`` with a faster CPU path (a uniform draw compared with ``p`` instead of ``bernoulli_``;
    one random byte per element when ``p`` is a multiple of 1/256, such as the usual 0.5).

    Same distribution and scaling as ``nn.Dropout`` (each element kept with probability ``1 − p``,
    kept elements scaled by ``1 / (1 − p)``); on CUDA it is ``nn.Dropout`` itself. On CPU
    ``bernoulli_`` costs about 3× a uniform draw, 15 % of an ASFormer training step.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or self.p == 1.0:
            return super().forward(x)
        if (self.p * 256).is_integer():  # p = k/256 (0.5, 0.25, ...): one random byte per element is exact
            keep = torch.empty(x.shape, dtype=torch.uint8, device=x.device).random_() >= int(self.p * 256)
        else:
            keep = torch.rand_like(x) >= self.p
        return (x * keep).mul_(1.0 / (1.0 - self.p))  # in place: the product is not saved for backward


# On CPU a padded batch costs the work of its padding (about 1/3 more on a typical batch) and buys no
# parallelism that one video at a time does not already get, so compositions run each element of a
# prefix-padded CPU batch at its own length; the outputs are the same (a padded batch gives every
# element what it gives alone) and the padding comes back as zeros. Tests turn this off to exercise
# the padded path.
RAGGED_CPU = True


def ragged_lengths(x: Tensor, mask: Tensor | None) -> list[int] | None:
    """Valid lengths when ``x`` is on the CPU, ``mask`` is a prefix mask and lengths differ; else ``None``."""
    if not RAGGED_CPU or mask is None or x.device.type != "cpu" or x.shape[0] < 2:
        return None
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (x.shape[0], x.shape[2]):
        return None  # let float_mask raise the argument error
    lengths = mask.sum(dim=1)
    if bool((lengths == x.shape[2]).all()) or not bool((lengths > 0).all()):
        return None
    prefix = torch.arange(x.shape[2], device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
    if not torch.equal(prefix, mask):
        return None
    return lengths.tolist()


def run_ragged(module: torch.nn.Module, x: Tensor, mask: Tensor | None) -> Tensor | None:
    """``module`` on each element at its own length, outputs ``(..., B, C, T)`` zero-padded; ``None`` if
    :func:`ragged_lengths` does not apply (then the caller runs the padded batch)."""
    lengths = ragged_lengths(x, mask)
    if lengths is None:
        return None
    outputs = [module(x[b:b + 1, :, :n]) for b, n in enumerate(lengths)]
    return torch.cat([F.pad(out, (0, x.shape[-1] - out.shape[-1])) for out in outputs], dim=-3)
