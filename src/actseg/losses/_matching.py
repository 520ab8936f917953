"""Permutation loss for graph matching (RTK §3.2 refinement with PCA-GM).

Reference: Wang et al., "Learning Combinatorial Embedding Networks for Deep Graph Matching", ICCV 2019
(the permutation loss); pygmtools 0.6 ``pygmtools.utils.permutation_loss`` (PyTorch backend), whose
numbers this reproduces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import shape_str
from ._common import check_float, check_reduction, check_same_shape, upcast

__all__ = ["PermutationLoss", "permutation_loss"]


def _counts(n: Tensor | None, batch: int, size: int, name: str, device: torch.device) -> Tensor:
    if n is None:
        return torch.full((batch,), size, dtype=torch.long, device=device)
    n = torch.as_tensor(n, device=device)
    if n.shape != (batch,) or n.dtype.is_floating_point:
        raise ValueError(f"{name}: expected {batch} integer node counts, got {shape_str(n.shape)} {n.dtype}")
    if bool(((n < 0) | (n > size)).any()):
        raise ValueError(f"{name}: expected node counts in [0, {size}], got {n.tolist()}")
    return n.long()


def permutation_loss(pred: Tensor, target: Tensor, n1: Tensor | None = None, n2: Tensor | None = None, *,
                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between a soft matching matrix and the ground-truth permutation.

    .. math:: L = -\\frac{1}{\\sum_b n_{1,b}} \\sum_b \\sum_{i < n_{1,b},\\, j < n_{2,b}}
              X_{bij} \\log S_{bij} + (1 - X_{bij}) \\log(1 - S_{bij})

    The semantics of pygmtools' ``permutation_loss`` (the normaliser is the number of first-graph
    nodes, rows and columns beyond ``n1``/``n2`` are padding), with two differences: ``pred`` is
    clamped to [0, 1] instead of raising on round-off (Sinkhorn outputs can exceed 1 by an ulp), and
    float64 stays float64 (pygmtools casts to float32). Logs are clamped at −100 as
    ``binary_cross_entropy`` does.

    Args:
        pred: ``(b, N1, N2)`` (or ``(N1, N2)``) predicted (doubly stochastic) matrix ``S``.
        target: same shape, 0/1 permutation ``X``.
        n1, n2: ``(b,)`` node counts of each pair of graphs, or ``None`` (all rows / columns).
        reduction: ``"mean"`` (the normaliser above), ``"sum"`` or ``"none"`` (``(b,)`` per-pair sums).
    """
    check_float(pred, "pred")
    check_reduction(reduction)
    if pred.ndim == 2:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0) if isinstance(target, Tensor) else target
    if pred.ndim != 3:
        raise ValueError(f"pred: expected shape (b, N1, N2), got {shape_str(pred.shape)}")
    check_same_shape(pred, target, "pred", "target")
    if bool(((target < 0) | (target > 1)).any()):
        raise ValueError("target: expected a 0/1 permutation matrix (values in [0, 1])")
    batch, rows, cols = pred.shape
    n1 = _counts(n1, batch, rows, "n1", pred.device)
    n2 = _counts(n2, batch, cols, "n2", pred.device)
    valid = (torch.arange(rows, device=pred.device)[None, :, None] < n1[:, None, None]) & (
        torch.arange(cols, device=pred.device)[None, None, :] < n2[:, None, None]
    )
    s = upcast(pred).clamp(0, 1)
    values = F.binary_cross_entropy(s, upcast(target).to(s.dtype), reduction="none")
    per_pair = torch.where(valid, values, values.new_zeros(())).sum(dim=(1, 2))
    if reduction == "none":
        return per_pair
    if reduction == "sum":
        return per_pair.sum()
    return per_pair.sum() / n1.sum().clamp(min=1).to(per_pair.dtype)


class PermutationLoss(nn.Module):
    """Module form of :func:`permutation_loss`; ``forward(pred, target, n1=None, n2=None)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, pred: Tensor, target: Tensor, n1: Tensor | None = None, n2: Tensor | None = None) -> Tensor:
        return permutation_loss(pred, target, n1, n2, reduction=self.reduction)
