"""Permutation loss for graph matching (RTK §3.2 refinement with PCA-GM).

Reference: Wang et al., "Learning Combinatorial Embedding Networks for Deep Graph Matching", ICCV 2019
(the permutation loss); pygmtools 0.6 ``pygmtools.utils.permutation_loss`` (PyTorch backend), whose
numbers this reproduces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import check_reduction, reduce_loss

__all__ = ["PermutationLoss", "permutation_loss"]

# Sinkhorn outputs may leave [0, 1] by round-off (an ulp in float32, about 1e-3 in float16): entries
# within this distance are clamped, anything further is an error.
ROUND_OFF = 1e-3


def _counts(n: object, batch: int, size: int, name: str, device: torch.device) -> Tensor:
    if n is None:
        return torch.full((batch,), size, dtype=torch.long, device=device)
    counts = _checks.integer_array(n, name, 1)
    if counts.shape != (batch,):
        raise ValueError(f"{name}: expected {batch} node counts, got shape {_checks.shape_str(counts.shape)}")
    if counts.size and (counts.min() < 0 or counts.max() > size):
        raise ValueError(f"{name}: expected node counts in [0, {size}], got {counts.tolist()}")
    return torch.as_tensor(counts, device=device)


def permutation_loss(pred: Tensor, target: Tensor, n1: Tensor | None = None, n2: Tensor | None = None, *,
                     reduction: str = "mean") -> Tensor:
    r"""Binary cross-entropy between a soft matching matrix and the ground-truth permutation.

    .. math:: L = -\frac{1}{\sum_b n_{1,b}} \sum_b \sum_{i < n_{1,b},\, j < n_{2,b}}
              X_{bij} \log S_{bij} + (1 - X_{bij}) \log(1 - S_{bij})

    The semantics of pygmtools' ``permutation_loss`` (the normaliser is the number of first-graph
    nodes, rows and columns beyond ``n1``/``n2`` are padding), with three differences: ``pred``
    entries within ``1e-3`` outside [0, 1] are clamped instead of raising (Sinkhorn round-off; further
    out is a ``ValueError``, as there), float64 stays float64 (pygmtools casts to float32, and raises
    on a float64 ``target``), and a batch without any node gives 0 (pygmtools: 0/0 = NaN). Logs are
    clamped at −100 as ``binary_cross_entropy`` does. Padded entries (beyond ``n1``/``n2``) are
    zeroed before any arithmetic.

    Args:
        pred: ``(b, N1, N2)`` (or ``(N1, N2)``) predicted (doubly stochastic) matrix ``S``.
        target: same shape, 0/1 permutation ``X``.
        n1: ``(b,)`` node counts of the first graph of each pair (an integer tensor, array or
            sequence), or ``None`` (all rows).
        n2: ``(b,)`` node counts of the second graph of each pair, likewise, or ``None`` (all columns).
        reduction: ``"mean"`` (the normaliser above), ``"sum"`` or ``"none"`` (``(b,)`` per-pair sums).
    """
    _checks.tensor(pred, "pred")
    check_reduction(reduction)
    if pred.ndim == 2:
        _checks.tensor_like(target, "target", pred, "pred")
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    _checks.tensor(pred, "pred", "(b, N1, N2)")
    _checks.tensor_like(target, "target", pred, "pred")
    batch, rows, cols = pred.shape
    n1 = _counts(n1, batch, rows, "n1", pred.device)
    n2 = _counts(n2, batch, cols, "n2", pred.device)
    valid = (torch.arange(rows, device=pred.device)[None, :, None] < n1[:, None, None]) & (
        torch.arange(cols, device=pred.device)[None, None, :] < n2[:, None, None]
    )
    s, y = torch.where(valid, _checks.upcast_half(pred), 0.0), torch.where(valid, _checks.upcast_half(target), 0.0)
    _checks.values_in_range(y, "target", low=0.0, high=1.0, finite=True, what="permutation entries")
    _checks.values_in_range(s, "pred", low=-ROUND_OFF, high=1.0 + ROUND_OFF, finite=True,
                            what="matching scores")
    s, y = s.clamp(0, 1), y.to(s.dtype)
    values = F.binary_cross_entropy(s, y, reduction="none")
    per_pair = torch.where(valid, values, values.new_zeros(())).sum(dim=(1, 2))
    return reduce_loss(per_pair, reduction, denominator=n1.sum())


class PermutationLoss(nn.Module):
    """Module form of :func:`permutation_loss`; ``forward(pred, target, n1=None, n2=None)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, pred: Tensor, target: Tensor, n1: Tensor | None = None, n2: Tensor | None = None) -> Tensor:
        return permutation_loss(pred, target, n1, n2, reduction=self.reduction)
