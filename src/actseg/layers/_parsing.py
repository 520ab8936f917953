"""TransParser's Soft-Pattern-Strengthen (SPS) unit, batched and masked.

Reference: Shao, Zhao, Dai & Lin, "Intra- and Inter-Action Understanding via Temporal Action Parsing",
CVPR 2020, §5.2, Eq. (1)–(2), Fig. 6. No official code exists (``shared/reference/layers.md`` §7): every
choice the paper leaves open is an argument with a documented default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import Dropout, channel_count, check_parameter_count, feature_input, valid_mask

__all__ = ["SPS_NORMS", "SoftPatternStrengthening"]

SPS_NORMS = ("post", "pre", "none")


class SoftPatternStrengthening(nn.Module):
    r"""TransParser's SPS unit: frames attend over a learnable pattern bank ``φ``, the result amplifies them.

    For every valid frame ``f_t`` (a ``C``-vector) and head ``h = 1..H`` (TAPOS §5.2, Eq. (1)–(2)):

    .. math::
        \alpha^{(h)}_t = \mathrm{softmax}_m\bigl(s\,(f_t W^{(h)}_Q)(\phi W^{(h)}_K)^\top\bigr),\qquad
        r^{(h)}_t = \alpha^{(h)}_t\,(\phi W^{(h)}_V),\qquad
        \tilde r_t = \mathrm{FC}\bigl([r^{(1)}_t \,\|\, \dots \,\|\, r^{(H)}_t]\bigr)

    then the "amplification" ``f'_t = FFN(f_t + r̃_t)`` with the FFN of Transformer [50], read with its
    residual so that ``f'_t = f_t + SPS(f_t, φ)`` (both statements of §5.2 hold):

    - ``norm="post"`` (default, Transformer [50]): ``y = LN(f + r̃(f))``, ``f' = LN(y + FFN(y))``;
    - ``norm="pre"``: ``y = f + r̃(LN(f))``, ``f' = y + FFN(LN(y))``;
    - ``norm="none"``: ``y = f + r̃(f)``, ``f' = y + FFN(y)`` (the paper's formulas without a norm).

    ``FFN(y) = W_2 ReLU(W_1 y + b_1) + b_2`` (``ff_channels`` hidden units); ``LN`` is a ``LayerNorm`` over
    the channels of each frame; dropout (``dropout``) acts on ``r̃`` and on the FFN output, as in [50].
    ``W_Q, W_K, W_V`` have no bias (the equations are plain products); ``FC`` has one.

    Choices the paper leaves open (defaults are ours, not from any code):

    ====================  ==========================  ===============================================
    paper                 argument                    default
    ====================  ==========================  ===============================================
    ``m`` (rows of φ)     ``num_patterns``            32 (Fig. 8 shows a row ``φ_16``, so ``m >= 16``)
    ``d_φ``               ``pattern_channels``        ``channels``
    two heads             ``num_heads``               2
    width of each head    ``head_channels``           ``channels // num_heads`` (as [50])
    score scaling         ``scale``                   ``1/sqrt(head_channels)`` (as [50]; Eq. (1) has none:
                                                      ``scale=1.0`` is the literal equation)
    FFN shape             ``ff_channels``             ``channels`` ("a small feed-forward net")
    norm placement        ``norm``                    ``"post"`` (as [50])
    ====================  ==========================  ===============================================

    ``φ`` is initialised from ``N(0, 1)`` (as ``nn.Embedding``); two units can share one bank by assigning
    the parameter (``unit2.patterns = unit1.patterns``). TransParser stacks two units; the attention of
    the second, ``α'``, feeds the local loss (Eq. (3)–(5)) and the parsing at inference, and its features
    ``f''`` the global loss (Eq. (6)).

    With several heads we read "the response ``α_t``" of Eq. (3)–(5) and of the parsing rule as the
    per-pattern mean over heads, ``α_t = mean_h α^{(h)}_t`` (a distribution over the ``m`` rows of ``φ``,
    one score ``α_{t,k}`` per row as in Fig. 8; the paper does not say how the heads combine):
    ``actseg.losses.local_parse_loss(alpha.mean(1), segment_ids, mask)`` and
    ``actseg.postprocess.pattern_boundaries(alpha.mean(1), mask)``. One head (``alpha[:, h]``) or the
    concatenation (``alpha.transpose(1, 2).flatten(2)``) fit the same ``(B, T, M)`` layout.

    Every frame attends only to ``φ`` (no attention over time), so a padded batch gives every element
    what it gives alone; padded frames are zeroed on input and give zeros in both outputs (and no
    gradient). Implementation: when it is cheaper (``m`` small against the head width), the products
    are folded into the weights, ``s·W_Q^{(h)} (φW_K^{(h)})ᵀ`` ``(C, H·m)`` and ``(φW_V^{(h)}) FC^{(h)}``
    ``(H·m, C)``, so a frame costs two ``C × H·m`` products instead of four ``C × C`` ones; both orders
    give the same numbers (a test).

    Args:
        channels: ``C``, channels of the input and output features.
        num_patterns: ``m``, rows of the pattern bank ``φ``.
        pattern_channels: ``d_φ``, columns of ``φ`` (``None``: ``channels``).
        num_heads: ``H``, attention heads (groups of ``W_Q, W_K, W_V``; 2 in the paper).
        head_channels: query/key/value channels of one head (``None``: ``channels // num_heads``).
        ff_channels: hidden units of the FFN (``None``: ``channels``).
        scale: ``s``, factor of the scores (``None``: ``1/sqrt(head_channels)``; ``1.0``: Eq. (1) as printed).
        norm: ``"post"``, ``"pre"`` or ``"none"`` (one of ``SPS_NORMS``), see above.
        dropout: dropout probability on ``r̃`` and on the FFN output (``[0, 1)``).

    Shape:
        ``x`` ``(B, C, T)`` floating; ``mask`` ``(B, T)`` bool or ``None`` →
        ``(features (B, C, T), attention (B, H, T, m))``; ``attention`` sums to 1 over ``m`` at valid
        frames and is 0 at padded ones, as are the features.

    Example:
        >>> sps = SoftPatternStrengthening(64, num_patterns=16)
        >>> out, alpha = sps(torch.randn(2, 64, 50), torch.ones(2, 50, dtype=torch.bool))
        >>> out.shape, alpha.shape
        (torch.Size([2, 64, 50]), torch.Size([2, 2, 50, 16]))
        >>> bool(torch.allclose(alpha.sum(-1), torch.ones(2, 2, 50)))
        True
    """

    def __init__(self, channels: int, num_patterns: int = 32, pattern_channels: int | None = None,
                 num_heads: int = 2, head_channels: int | None = None, ff_channels: int | None = None,
                 scale: float | None = None, norm: str = "post", dropout: float = 0.0) -> None:
        super().__init__()
        self.channels = c = channel_count(channels, "channels")
        self.num_patterns = m = channel_count(num_patterns, "num_patterns")
        self.pattern_channels = d_phi = c if pattern_channels is None else channel_count(pattern_channels,
                                                                                         "pattern_channels")
        self.num_heads = h = channel_count(num_heads, "num_heads")
        if head_channels is None:
            if h > c:
                raise ValueError(f"num_heads: expected at most channels = {c} heads when head_channels is None, "
                                 f"got {h}")
            head_channels = c // h
        self.head_channels = d = channel_count(head_channels, "head_channels")
        self.ff_channels = ff = c if ff_channels is None else channel_count(ff_channels, "ff_channels")
        self.scale = 1.0 / math.sqrt(d) if scale is None else _checks.real(scale, "scale", low=0.0, low_open=True)
        self.norm = _checks.choice(norm, SPS_NORMS, "norm")
        p = _checks.probability(dropout, "dropout", high_open=True)
        check_parameter_count(sps_parameters(c, m, d_phi, h, d, ff, self.norm),
                              "channels, num_patterns, pattern_channels, num_heads, head_channels, ff_channels")
        self.patterns = nn.Parameter(torch.empty(m, d_phi))
        self.query = nn.Linear(c, h * d, bias=False)       # W_Q of all heads, head-major rows
        self.key = nn.Linear(d_phi, h * d, bias=False)     # W_K
        self.value = nn.Linear(d_phi, h * d, bias=False)   # W_V
        self.fc = nn.Linear(h * d, c)                      # FC over the concatenated heads
        self.ff1 = nn.Linear(c, ff)
        self.ff2 = nn.Linear(ff, c)
        if self.norm != "none":
            self.norm1 = nn.LayerNorm(c)
            self.norm2 = nn.LayerNorm(c)
        self.dropout = Dropout(p)
        nn.init.normal_(self.patterns)
        # multiply-adds per frame of the attention: unfolded (W_Q, scores, α·V, FC) vs folded (two C × H·m)
        self._fold = 2 * c * h * m < c * h * d + h * d * m + h * m * d + h * d * c

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        feature_input(x, self, self.channels)
        mask = valid_mask(mask, x)
        f = x.transpose(1, 2)                                            # (B, T, C)
        keep = None if mask is None else mask.unsqueeze(-1)
        if keep is not None:
            f = torch.where(keep, f, f.new_zeros(()))                     # padded frames: no value enters
        if self.norm == "pre":
            r, alpha = self._attend(self.norm1(f))
            y = f + self.dropout(r)
            out = y + self.dropout(self._ffn(self.norm2(y)))
        else:
            r, alpha = self._attend(f)
            y = f + self.dropout(r)
            if self.norm == "post":
                y = self.norm1(y)
            out = y + self.dropout(self._ffn(y))
            if self.norm == "post":
                out = self.norm2(out)
        if keep is not None:
            out = torch.where(keep, out, out.new_zeros(()))
            alpha = torch.where(keep.unsqueeze(-1), alpha, alpha.new_zeros(()))
        return out.transpose(1, 2), alpha.permute(0, 2, 1, 3)

    def _attend(self, f: Tensor) -> tuple[Tensor, Tensor]:
        """``r̃`` ``(B, T, C)`` and ``α`` ``(B, T, H, m)`` of frames ``f`` ``(B, T, C)`` (Eq. (1)–(2) and the FC)."""
        batch, length, _ = f.shape
        h, d, m, c = self.num_heads, self.head_channels, self.num_patterns, self.channels
        keys = self.key(self.patterns).view(m, h, d)                     # φ W_K  (m, H, d)
        values = self.value(self.patterns).view(m, h, d)                 # φ W_V  (m, H, d)
        if self._fold:
            w_q = self.query.weight.view(h, d, c)
            scores_weight = torch.einsum("hdc,mhd->chm", w_q, keys).reshape(c, h * m) * self.scale
            scores = torch.matmul(f, scores_weight).view(batch, length, h, m)
        else:
            q = self.query(f).view(batch, length, h, d)
            scores = torch.einsum("bthd,mhd->bthm", q, keys) * self.scale
        alpha = torch.softmax(scores, dim=-1)                            # (B, T, H, m)
        if self._fold:
            out_weight = torch.einsum("mhd,chd->hmc", values, self.fc.weight.view(c, h, d)).reshape(h * m, c)
            r = torch.matmul(alpha.reshape(batch, length, h * m), out_weight) + self.fc.bias
        else:
            r = self.fc(torch.einsum("bthm,mhd->bthd", alpha, values).reshape(batch, length, h * d))
        return r, alpha

    def _ffn(self, y: Tensor) -> Tensor:
        return self.ff2(F.relu(self.ff1(y)))

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, num_patterns={self.num_patterns}, "
                f"pattern_channels={self.pattern_channels}, num_heads={self.num_heads}, "
                f"head_channels={self.head_channels}, ff_channels={self.ff_channels}, scale={self.scale:g}, "
                f"norm={self.norm!r}, dropout={self.dropout.p}")


def sps_parameters(c: int, m: int, d_phi: int, h: int, d: int, ff: int, norm: str) -> int:
    """Parameters of :class:`SoftPatternStrengthening` (computed before anything is allocated)."""
    count = m * d_phi + c * h * d + 2 * d_phi * h * d + (h * d * c + c) + (c * ff + ff) + (ff * c + c)
    return count + (4 * c if norm != "none" else 0)
