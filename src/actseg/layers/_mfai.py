r"""InterAct's multi-scale frame–action interaction (MFAI), batched and masked.

Reference: "InterAct: Interaction-based framework for action segmentation" (paper in
``shared/papers/interact-frame-action-interaction.txt``), §3.3: a multi-scale feature extractor (an
encoder of depthwise-convolution down-sampling + one ASFormer layer per level, a decoder of linear
up-sampling + skip fusion + a convolution block), then ``H`` frame–action interaction stages, each a
Query Update (QBlock, eq. 4) on a coarser decoder output and a Frame Update (FBlock, eq. 5) on the
full-resolution frame features; predictions are dot products of queries and frame features. InterAct
has no public code: every choice the paper leaves open is an argument with a documented default.

The blocks are reused, not rewritten: :class:`~actseg.layers.ASFormerBlock` (one per encoder level),
:class:`~actseg.layers.DilatedResidualLayer` (decoder convolution blocks, action and boundary blocks),
:class:`~actseg.layers.ActionTokenDecoderLayer` (QBlock = SAttn → CAttn → MLP) and
:class:`~actseg.layers.CrossAttentionUpdate` (FBlock's CAttn).

Padding: a down-sampled frame covers two frames (``2j`` and ``2j + 1``) and is valid if either is, so a
video of ``L`` valid frames has ``ceil(L / 2**u)`` valid frames at level ``u`` — the paper's
``T^(u) = ceil(T / 2^u)`` — whatever the padded length. Features are zeroed at invalid frames before
every convolution, the up-sampling weights are renormalised over valid coarse frames, and attention
never reads a padded frame, so a padded batch gives every video what it gives alone.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .. import _checks
from ._asformer import ASFormerBlock, _block_parameters
from ._attention import WINDOWS
from ._common import (
    MAX_CHANNELS,
    apply_mask,
    channel_count,
    check_parameter_count,
    conv_parameters,
    dilation_size,
    feature_input,
    float_mask,
    layer_count,
    valid_mask,
    zero_padded,
)
from ._interaction import ActionTokenDecoderLayer, CrossAttentionUpdate, _heads
from ._tcn import DilatedResidualLayer, _drl_parameters

__all__ = ["ACTION_PROBABILITIES", "FUSIONS", "MFAI", "MFAIOutput", "MultiScaleEncoderDecoder", "MultiScaleFeatures"]

FUSIONS = ("add", "concat")
ACTION_PROBABILITIES = ("softmax", "sigmoid")


class MultiScaleFeatures(NamedTuple):
    """Output of :class:`MultiScaleEncoderDecoder`: one entry per scale, coarse → fine.

    ``features[i]`` is ``(B, D, T_i)`` with ``T_i = ceil(T / 2**(N − i))`` (``N = num_scales``; the last
    entry is at the input length ``T``), zero at invalid frames; ``masks[i]`` is its ``(B, T_i)`` bool mask
    (``None`` when ``forward`` got no mask).

    Example:
        >>> features, masks = MultiScaleEncoderDecoder(8, 4, num_scales=2)(torch.randn(1, 8, 9))
        >>> [tuple(f.shape) for f in features], masks
        ([(1, 4, 3), (1, 4, 5), (1, 4, 9)], [None, None, None])
    """

    features: list[Tensor]
    masks: list[Tensor | None]


def downsample_mask(mask: Tensor) -> Tensor:
    """``(B, T)`` bool → ``(B, ceil(T / 2))``: frame ``j`` covers frames ``2j`` and ``2j + 1``, valid if either is.

    A prefix mask of ``L`` valid frames gives ``ceil(L / 2)`` valid frames, whatever the padded length.

    Example:
        >>> downsample_mask(torch.tensor([[True, True, False, False, True]]))
        tensor([[ True, False,  True]])
    """
    if mask.shape[1] % 2:
        mask = torch.cat([mask, mask.new_zeros(mask.shape[0], 1)], dim=1)
    return mask.view(mask.shape[0], mask.shape[1] // 2, 2).any(dim=2)  # not -1: the batch may be empty


def upsample_linear(x: Tensor, m: Tensor | None, length: int) -> Tensor:
    r"""Linear ×2 up-sampling of ``x`` ``(B, C, T_c)`` to ``length <= 2 T_c`` frames, renormalised over valid frames.

    Without a mask this is ``F.interpolate(x, scale_factor=2, mode="linear", align_corners=False)``
    cut to ``length``: fine frame ``2j`` is ``¾ x_j + ¼ x_{j−1}``, ``2j + 1`` is ``¾ x_j + ¼ x_{j+1}``
    (the edges repeat ``x_0`` / ``x_{T_c − 1}``). With a coarse float mask ``m`` ``(B, 1, T_c)`` the weights of
    invalid coarse frames are dropped and the rest renormalised, so the last valid frame of a padded video
    repeats as it does at the end of the video alone. ``x`` must be zero at invalid frames.

    Example:
        >>> upsample_linear(torch.tensor([[[0.0, 4.0, 8.0]]]), None, 5)
        tensor([[[0., 1., 3., 5., 7.]]])
        >>> upsample_linear(torch.tensor([[[0.0, 4.0, 0.0]]]), torch.tensor([[[1.0, 1.0, 0.0]]]), 5)
        tensor([[[0., 1., 3., 4., 4.]]])
    """

    def up(y: Tensor) -> Tensor:
        left = torch.cat([y[..., :1], y[..., :-1]], dim=-1)
        right = torch.cat([y[..., 1:], y[..., -1:]], dim=-1)
        pairs = torch.stack([0.75 * y + 0.25 * left, 0.75 * y + 0.25 * right], dim=-1)
        return pairs.flatten(-2)[..., :length]

    if m is None:
        return up(x)
    weight = up(m)
    return up(x) / torch.where(weight > 0, weight, torch.ones_like(weight))


class _Level(nn.Module):
    """One encoder level: depthwise stride-2 convolution, then one ASFormer layer."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, window: str, dropout: float) -> None:
        super().__init__()
        self.downsample = nn.Conv1d(channels, channels, kernel_size, stride=2, padding=kernel_size // 2,
                                    groups=channels)
        self.block = ASFormerBlock(channels, dilation, window=window, dropout=dropout)


class _DecoderLevel(nn.Module):
    """One decoder level: ×2 linear up-sampling, skip fusion, one convolution block."""

    def __init__(self, channels: int, fusion: str, dropout: float) -> None:
        super().__init__()
        self.fuse = nn.Conv1d(2 * channels, channels, 1) if fusion == "concat" else None
        self.block = DilatedResidualLayer(channels, 1, dropout)


def _extractor_parameters(in_channels: int, channels: int, num_scales: int, kernel_size: int, fusion: str) -> int:
    level = channels * kernel_size + channels + _block_parameters(channels, 2, 2)
    decoder = _drl_parameters(channels) + (conv_parameters(2 * channels, channels) if fusion == "concat" else 0)
    return conv_parameters(in_channels, channels) + num_scales * (level + decoder)


def _kernel(value: object) -> int:
    k = dilation_size(value, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"kernel_size: expected an odd integer >= 1, got {k}")
    return k


class MultiScaleEncoderDecoder(nn.Module):
    r"""InterAct's multi-scale feature extractor (§3.3, "Multi-scale Feature Extractor"), masked.

    .. math::
        E_0 = W_{in} * X,\qquad
        E_u = \Phi_{en}^{(u)}(E_{u-1}) = \mathrm{ASFormer}_u\bigl(\mathrm{DW}_u *_{2} E_{u-1}\bigr),
        \quad T^{(u)} = \lceil T / 2^u \rceil

    .. math::
        \hat X^{(N)} = E_N,\qquad
        \hat X^{(u)} = \Phi_{de}^{(u)} = \mathrm{Conv}_u\bigl(\mathrm{fuse}(\mathrm{Up}_2(\hat X^{(u+1)}), E_u)\bigr)

    ``W_in`` a 1×1 convolution (``C → D``; a depthwise convolution keeps the channels, so the paper's
    ``C → D`` change needs one), ``DW_u`` a depthwise convolution with stride 2 (``kernel_size``, zero
    padding ``kernel_size // 2``), ``ASFormer_u`` one :class:`~actseg.layers.ASFormerBlock` (encoder form,
    values from its own input), ``Up_2`` :func:`upsample_linear`, ``fuse`` the skip fusion, ``Conv_u`` one
    :class:`~actseg.layers.DilatedResidualLayer` (dilation 1). The output lists the bottleneck ``E_N`` and
    the ``N`` decoder levels, coarse → fine, so that ``H = num_scales`` interaction stages are possible
    (the paper's Table 6 goes to ``H = 6`` with six levels).

    Choices the paper leaves open (arguments): ``kernel_size`` (3), the ASFormer layer's dilation and window
    (``block_size=None``: level ``u`` uses ``2**u``, the window growing with the level as across an ASFormer
    encoder; level 1 gets 2 rather than ASFormer's first-layer 1, whose window holds the frame alone),
    ``window`` (:class:`~actseg.layers.WindowedAttention`), ``fusion`` (``"add"``: ``Up + E_u``; ``"concat"``:
    a 1×1 convolution of ``[Up ‖ E_u]``) and ``dropout`` (ASFormer and convolution blocks).

    Args:
        in_channels: ``C``, input feature channels.
        channels: ``D``, feature channels of every level (``>= 2``: the ASFormer layers halve them).
        num_scales: ``N``, down-sampling levels (6 in the paper).
        kernel_size: odd kernel of the depthwise down-sampling convolutions.
        block_size: ``None`` or one dilation/window size for every level's ASFormer layer.
        window: attention window of the ASFormer layers (one of ``WINDOWS``).
        fusion: skip fusion, one of ``FUSIONS``.
        dropout: dropout of the ASFormer and convolution blocks (training only).

    Shape:
        ``x`` ``(B, C, T)``, ``mask`` ``(B, T)`` bool or ``None`` → :class:`MultiScaleFeatures` of
        ``N + 1`` features ``(B, D, ceil(T / 2**u))`` for ``u = N, ..., 0`` and their masks.

    Example:
        >>> extractor = MultiScaleEncoderDecoder(32, 16, num_scales=3).eval()
        >>> out = extractor(torch.randn(2, 32, 50), torch.ones(2, 50, dtype=torch.bool))
        >>> [f.shape[-1] for f in out.features], out.masks[0].shape
        ([7, 13, 25, 50], torch.Size([2, 7]))
    """

    def __init__(self, in_channels: int, channels: int = 64, num_scales: int = 6, kernel_size: int = 3,
                 block_size: int | None = None, window: str = "block_halo", fusion: str = "add",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        # the ASFormer layers halve the channels for their queries, keys and values
        self.channels = channels = _checks.size(channels, "channels", low=2, high=MAX_CHANNELS)
        self.num_scales = num_scales = layer_count(num_scales, "num_scales")
        self.kernel_size = kernel_size = _kernel(kernel_size)
        self.block_size = None if block_size is None else dilation_size(block_size, "block_size")
        self.window = window = _checks.choice(window, WINDOWS, "window")
        self.fusion = fusion = _checks.choice(fusion, FUSIONS, "fusion")
        dropout = _checks.probability(dropout, "dropout", high_open=True)
        check_parameter_count(_extractor_parameters(in_channels, channels, num_scales, kernel_size, fusion),
                              "in_channels, channels, num_scales")
        self.conv_in = nn.Conv1d(in_channels, channels, 1)
        self.encoder = nn.ModuleList(
            _Level(channels, kernel_size, 2**u if self.block_size is None else self.block_size, window, dropout)
            for u in range(1, num_scales + 1))
        self.decoder = nn.ModuleList(_DecoderLevel(channels, fusion, dropout) for _ in range(num_scales))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> MultiScaleFeatures:
        feature_input(x, self, self.in_channels)
        return self._forward(x, valid_mask(mask, x))

    def _forward(self, x: Tensor, mask: Tensor | None) -> MultiScaleFeatures:
        masks = [mask]
        for _ in range(self.num_scales):
            masks.append(None if mask is None else downsample_mask(masks[-1]))
        floats = [None if b is None else float_mask(b, x) for b in masks]
        skips = [zero_padded(self.conv_in(x), floats[0])]
        for u, level in enumerate(self.encoder, start=1):
            h = apply_mask(level.downsample(skips[-1]), floats[u])
            skips.append(level.block._forward(h, floats[u], None))
        features = [skips[-1]]
        for u in range(self.num_scales - 1, -1, -1):  # decoder level u: T^(u+1) -> T^(u)
            level = self.decoder[u]
            up = apply_mask(upsample_linear(features[-1], floats[u + 1], skips[u].shape[-1]), floats[u])
            fused = up + skips[u] if level.fuse is None else apply_mask(level.fuse(torch.cat([up, skips[u]], 1)),
                                                                          floats[u])
            features.append(level.block._forward(fused, floats[u]))
        return MultiScaleFeatures(features, masks[::-1])

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, channels={self.channels}, num_scales={self.num_scales}, "
                f"kernel_size={self.kernel_size}, block_size={self.block_size}, window={self.window!r}, "
                f"fusion={self.fusion!r}")


class MFAIOutput(NamedTuple):
    """Output of :class:`MFAI` (``R = H + 1`` stages ``r = 0..H``; stage 0 is before any interaction).

    Attributes:
        logits: ``(B, A, T)`` the final action logits ``Q_a^H · F_a^H`` (``action_logits[-1]``).
        action_logits: ``(R, B, A, T)`` ``P_a^r`` before the activation: the dot products ``Q_a^r · F_a^r``.
        boundary_logits: ``(R, B, 1, T)`` ``Q_b^r · F_b^r``.
        action_probs: ``(R, B, A, T)`` softmax over the classes (or sigmoid, ``action_probability``).
        boundary_probs: ``(R, B, 1, T)`` sigmoid of the boundary logits.
        attention_logits: ``(H, B, T, A + 1)`` scaled scores of the action frames over the ``A + 1`` queries
            in each FBlock (eq. 5; FACT's ``a2f`` attention, for a cross-attention loss).

    Every field is 0 at padded frames. InterAct's losses (eq. 7–8) sum over ``r = 1..H``
    (``action_logits[1:]``); inference uses the last stage.

    Example:
        >>> out = MFAI(8, num_classes=3, channels=4, num_scales=2, num_interaction_scales=1, num_heads=1)(
        ...     torch.randn(1, 8, 10))
        >>> out._fields[:3], tuple(out.logits.shape), tuple(out.attention_logits.shape)
        (('logits', 'action_logits', 'boundary_logits'), (1, 3, 10), (1, 1, 10, 4))
    """

    logits: Tensor
    action_logits: Tensor
    boundary_logits: Tensor
    action_probs: Tensor
    boundary_probs: Tensor
    attention_logits: Tensor


def _token_layer_parameters(d: int, ff: int) -> int:
    return 4 * d * (d + 1) + 2 * d * (d + 1) + 2 * d * (d + 1) + 2 * ff * d + ff + d + 6 * d


def _cross_update_parameters(d: int) -> int:
    return 3 * (d + 1) * d + (2 * d + 1) * d


class MFAI(nn.Module):
    r"""InterAct's multi-scale frame–action interaction (§3.3, eq. 4–5, "Generating Predictions").

    .. math::
        [\hat X_0, \dots, \hat X_H] &= \text{the last } H + 1 \text{ outputs of }
            \mathrm{MultiScaleEncoderDecoder}(X),\quad \hat X_u \in \mathbb{R}^{T^{(H-u)} \times D}\\
        F^0 = [F_a^0, F_b^0] &= [\mathrm{ActionBlock}(\hat X_H),\ \mathrm{BoundaryBlock}(\hat X_H)],\quad
            Q^0 = [Q_a^0 \in \mathbb{R}^{A \times D},\ Q_b^0 \in \mathbb{R}^{1 \times D}]\\
        Q^r &= \mathrm{QBlock}_r(Q^{r-1}, \hat X_{r-1})
             = \mathrm{MLP}(\mathrm{CAttn}(\mathrm{SAttn}(Q_a^{r-1}, Q_b^{r-1}), \hat X_{r-1}))
             \quad \text{(eq. 4)}\\
        F^r &= \mathrm{FBlock}_r(F^{r-1}, Q^r)
             = [\mathrm{CAttn}(F_a^{r-1}, Q^r),\ \mathrm{CAttn}(F_b^{r-1}, Q^r)] \quad \text{(eq. 5)}\\
        P_a^r &= Q_a^r \cdot F_a^r \in \mathbb{R}^{A \times T},\qquad
        P_b^r = Q_b^r \cdot F_b^r \in \mathbb{R}^{1 \times T}

    for ``r = 1..H``. ``QBlock_r`` is an :class:`~actseg.layers.ActionTokenDecoderLayer` (post-norm token
    self-attention over the ``A + 1`` queries, cross-attention to the frames of ``X̂_{r−1}``, FFN = the
    MLP), the FBlock's CAttn a :class:`~actseg.layers.CrossAttentionUpdate` (frames query the ``A + 1``
    updated queries; ``W_Y[F ‖ A v]``), one for action and one for boundary features. Frame features stay
    at the input length ``T``; the coarse scales enter through the queries, so every stage predicts at ``T``.

    Choices the paper leaves open (arguments and defaults): the extractor's (see
    :class:`MultiScaleEncoderDecoder`); the action and boundary blocks (``num_frame_layers`` dilated
    residual layers each, dilations ``1, 2, 4, ...``; DeST's and ETSN's blocks are not specified in the
    paper); separate parameters for every stage (the paper says "each QBlock"); no positional encodings
    (none are mentioned); ``Q^0`` drawn from ``N(0, 1)`` ("randomly initialised"); the logits are the plain
    dot products (no ``1/sqrt(D)``); ``action_probability`` (``"softmax"`` over the ``A`` classes for the
    focal loss of eq. 7, or per-class ``"sigmoid"``); the boundary probability is a sigmoid (eq. 8's
    logistic loss). ``num_interaction_scales`` (``H``) defaults to 3, the paper's best (Table 6);
    ``H = 0`` predicts from ``(Q^0, F^0)``.

    Args:
        in_channels: ``C``, input feature channels (I3D: 2048; DSMI output for skeletons).
        num_classes: ``A``.
        channels: ``D`` (``>= 2``).
        num_scales: down-sampling levels of the extractor (6 in the paper).
        num_interaction_scales: ``H``, interaction stages, ``0 <= H <= num_scales``.
        num_heads: heads of the QBlock attentions (a divisor of ``channels``).
        ff_channels: hidden channels of the QBlock MLP (``None`` = ``channels``).
        num_frame_layers: dilated residual layers of the action and of the boundary block (``>= 0``).
        kernel_size: kernel of the extractor's down-sampling convolutions (:class:`MultiScaleEncoderDecoder`).
        block_size: the extractor's ASFormer dilation/window size (:class:`MultiScaleEncoderDecoder`).
        window: the extractor's attention window (:class:`MultiScaleEncoderDecoder`).
        fusion: the extractor's skip fusion (:class:`MultiScaleEncoderDecoder`).
        action_probability: ``"softmax"`` or ``"sigmoid"`` (``ACTION_PROBABILITIES``).
        dropout: dropout of every sub-block (training only).

    Shape:
        ``x`` ``(B, C, T)``, ``mask`` ``(B, T)`` bool or ``None`` → :class:`MFAIOutput`, 0 at padded frames;
        a padded batch gives every video what it gives alone.

    Example:
        >>> model = MFAI(64, num_classes=5, channels=16, num_scales=4, num_heads=2).eval()
        >>> mask = torch.ones(2, 100, dtype=torch.bool)
        >>> mask[1, 70:] = False
        >>> out = model(torch.randn(2, 64, 100), mask)
        >>> out.logits.shape, out.action_probs.shape, out.boundary_probs.shape, out.attention_logits.shape
        (torch.Size([2, 5, 100]), torch.Size([4, 2, 5, 100]), torch.Size([4, 2, 1, 100]), torch.Size([3, 2, 100, 6]))
        >>> probs = out.action_probs[-1].detach()
        >>> float(probs[1, :, 70:].abs().sum()), bool(probs[0].sum(0).allclose(torch.ones(100)))
        (0.0, True)
    """

    def __init__(self, in_channels: int, num_classes: int, channels: int = 64, num_scales: int = 6,
                 num_interaction_scales: int = 3, num_heads: int = 8, ff_channels: int | None = None,
                 num_frame_layers: int = 2, kernel_size: int = 3, block_size: int | None = None,
                 window: str = "block_halo", fusion: str = "add", action_probability: str = "softmax",
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        self.num_classes = num_classes = channel_count(num_classes, "num_classes")
        self.channels = d = _checks.size(channels, "channels", low=2, high=MAX_CHANNELS)
        num_scales = layer_count(num_scales, "num_scales")
        self.num_interaction_scales = h = _checks.integer(num_interaction_scales, "num_interaction_scales",
                                                          low=0, high=num_scales)
        num_heads = _heads(num_heads, d, "channels")
        ff = d if ff_channels is None else channel_count(ff_channels, "ff_channels")
        self.num_frame_layers = nf = _checks.size(num_frame_layers, "num_frame_layers", low=0, high=16)
        kernel_size = _kernel(kernel_size)
        fusion = _checks.choice(fusion, FUSIONS, "fusion")
        self.action_probability = _checks.choice(action_probability, ACTION_PROBABILITIES, "action_probability")
        dropout = _checks.probability(dropout, "dropout", high_open=True)
        check_parameter_count(_extractor_parameters(in_channels, d, num_scales, kernel_size, fusion)
                              + 2 * nf * _drl_parameters(d) + (num_classes + 1) * d
                              + h * (_token_layer_parameters(d, ff) + 2 * _cross_update_parameters(d)),
                              "in_channels, num_classes, channels, num_scales, ff_channels")
        self.extractor = MultiScaleEncoderDecoder(in_channels, d, num_scales, kernel_size, block_size, window,
                                                  fusion, dropout)
        self.action_block = nn.ModuleList(DilatedResidualLayer(d, 2**i, dropout) for i in range(nf))
        self.boundary_block = nn.ModuleList(DilatedResidualLayer(d, 2**i, dropout) for i in range(nf))
        self.queries = nn.Parameter(torch.randn(num_classes + 1, d))  # [Q_a^0; Q_b^0], the last row is Q_b
        self.query_updates = nn.ModuleList(ActionTokenDecoderLayer(d, d, num_heads, ff, dropout) for _ in range(h))
        self.action_updates = nn.ModuleList(CrossAttentionUpdate(d, d, d, dropout=dropout) for _ in range(h))
        self.boundary_updates = nn.ModuleList(CrossAttentionUpdate(d, d, d, dropout=dropout) for _ in range(h))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> MFAIOutput:
        feature_input(x, self, self.in_channels)
        mask = valid_mask(mask, x)
        h = self.num_interaction_scales
        scales, scale_masks = self.extractor._forward(x, mask)
        scales, scale_masks = scales[-(h + 1):], scale_masks[-(h + 1):]
        m = float_mask(mask, x)
        fa = fb = scales[-1]
        for layer in self.action_block:
            fa = layer._forward(fa, m)
        for layer in self.boundary_block:
            fb = layer._forward(fb, m)
        fa, fb = fa.transpose(1, 2), fb.transpose(1, 2)                            # (B, T, D)
        q = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1)                   # (B, A + 1, D)
        action, boundary = [self._scores(q[:, :-1], fa)], [self._scores(q[:, -1:], fb)]
        attention = []
        for r in range(h):
            q = self.query_updates[r](q, scales[r].transpose(1, 2), frame_mask=scale_masks[r])   # eq. 4
            fa, logits = self.action_updates[r](q, fa, y_mask=mask)                              # eq. 5
            fb, _ = self.boundary_updates[r](q, fb, y_mask=mask)
            action.append(self._scores(q[:, :-1], fa))
            boundary.append(self._scores(q[:, -1:], fb))
            attention.append(logits)
        action_logits, boundary_logits = torch.stack(action), torch.stack(boundary)
        if self.action_probability == "softmax":
            action_probs = torch.softmax(action_logits, dim=2)
        else:
            action_probs = torch.sigmoid(action_logits)
        attention_logits = (torch.stack(attention) if attention
                            else x.new_zeros(0, x.shape[0], x.shape[2], self.num_classes + 1))
        return MFAIOutput(action_logits[-1], action_logits, boundary_logits, apply_mask(action_probs, m),
                          apply_mask(torch.sigmoid(boundary_logits), m), attention_logits)

    @staticmethod
    def _scores(queries: Tensor, frames: Tensor) -> Tensor:
        """``(B, K, D)`` queries · ``(B, T, D)`` frames → ``(B, K, T)`` (0 where the frames are 0)."""
        return torch.matmul(queries, frames.transpose(1, 2))

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, channels={self.channels}, "
                f"num_interaction_scales={self.num_interaction_scales}, num_frame_layers={self.num_frame_layers}, "
                f"action_probability={self.action_probability!r}")
