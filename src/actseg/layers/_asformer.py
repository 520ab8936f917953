"""ASFormer: an encoder and decoders of windowed-attention blocks (Yi, Wen & Jiang, BMVC 2021).

Official code: ChinaYi/ASFormer@e1bbe4f ``model.py`` (``MyTransformer``, ``Encoder``, ``Decoder``,
``AttModule``). Load its checkpoints with ``actseg.io.convert_state_dict(sd, "asformer")``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._attention import WINDOWS, WindowedAttention, attention_parameters
from ._common import (
    Dropout,
    apply_mask,
    channel_count,
    check_parameter_count,
    conv_parameters,
    dilated_conv,
    dilation_size,
    feature_input,
    float_mask,
    layer_count,
    masked_instance_norm,
    model_input,
    pointwise,
    stage_count,
    valid_mask,
    zero_padded,
)

__all__ = ["ASFormer", "ASFormerBlock"]


def _block_parameters(channels: int, qk_reduction: int, v_reduction: int) -> int:
    return (conv_parameters(channels, channels, 3) + attention_parameters(channels, channels, qk_reduction, v_reduction)
            + conv_parameters(channels, channels))


class ASFormerBlock(nn.Module):
    r"""One ASFormer layer (``AttModule``; Yi et al., BMVC 2021, §3.1–3.2, Fig. 2).

    .. math::
        h = \mathrm{ReLU}(W_{ff} *_d x),\quad
        h \leftarrow \alpha\,\mathrm{Att}(\mathrm{IN}(h), v) + h,\quad
        y = \bigl(x + \mathrm{Dropout}(W_{1\times1} * h)\bigr) \odot m

    ``W_ff`` is a kernel-3 convolution with dilation ``d = block_size``; ``IN`` instance normalisation
    over valid frames (no affine); ``Att`` a :class:`WindowedAttention` with block size ``d`` whose
    values come from ``IN(h)`` in the encoder and from the given ``value`` features in a decoder.

    Shape:
        ``x`` ``(B, C, T)``, ``mask`` ``(B, T)`` bool or ``None``, ``value`` ``(B, C, T)`` or ``None`` →
        ``(B, C, T)``, zero at padded frames. What padded frames of ``x`` and ``value`` hold neither
        changes the output nor gets a gradient.
    """

    def __init__(self, channels: int, dilation: int, qk_reduction: int = 2, v_reduction: int = 2,
                 window: str = "block_halo", alpha: float = 1.0, dropout: float = 0.5) -> None:
        super().__init__()
        self.channels = channels = channel_count(channels, "channels")
        dilation = dilation_size(dilation, "dilation")
        qk_reduction = _checks.size(qk_reduction, "qk_reduction", high=channels)
        v_reduction = _checks.size(v_reduction, "v_reduction", high=channels)
        window = _checks.choice(window, WINDOWS, "window")
        self.alpha = _checks.real(alpha, "alpha")
        self.dropout = Dropout(_checks.probability(dropout, "dropout", high_open=True))
        check_parameter_count(_block_parameters(channels, qk_reduction, v_reduction), "channels")
        self.feed_forward = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.attention = WindowedAttention(channels, channels, qk_reduction, v_reduction, dilation, window)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None, value: Tensor | None = None) -> Tensor:
        feature_input(x, self, self.channels)
        if value is not None:
            feature_input(value, self, self.channels, "value", B=x.shape[0], T=x.shape[2])
        m = float_mask(valid_mask(mask, x), x)
        # compositions call _forward on features already zero at padded frames (values: the attention masks them)
        return self._forward(zero_padded(x, m), m, value)

    def _forward(self, x: Tensor, m: Tensor | None, value: Tensor | None) -> Tensor:
        # in place: the convolution's backward does not need its output
        h = F.relu(dilated_conv(self.feed_forward, x), inplace=True)
        normed = masked_instance_norm(h, m)
        # α·Att (α inside the output product) + h, in place into the product's output (no backward needs it;
        # both come from the same kind of op, so they share a dtype under autocast too)
        h = self.attention._forward(normed, m, normed if value is None else value, self.alpha).add_(h)
        return apply_mask(x + self.dropout(pointwise(self.conv_1x1, h)), m)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:.6g}"


class _ASFormerStage(nn.Module):
    """Encoder (``value_from_input=True``) or decoder: 1×1 in, ``L`` blocks with dilation ``2^l``, 1×1 out."""

    def __init__(self, in_channels: int, num_classes: int, num_layers: int, num_channels: int, qk_reduction: int,
                 v_reduction: int, window: str, alpha: float) -> None:
        super().__init__()
        self.conv_in = nn.Conv1d(in_channels, num_channels, 1)
        self.layers = nn.ModuleList(
            ASFormerBlock(num_channels, 2**i, qk_reduction, v_reduction, window, alpha) for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_channels, num_classes, 1)

    def forward(self, x: Tensor, m: Tensor | None, value: Tensor | None,
                channel_scale: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # input-channel dropout folded into the weights: (B, F, D) @ (B, D, T), x is never copied
        weight = None if channel_scale is None else self.conv_in.weight.squeeze(-1) * channel_scale.unsqueeze(1)
        h = zero_padded(pointwise(self.conv_in, x, weight), m)
        for layer in self.layers:
            h = layer._forward(h, m, value)
        return apply_mask(pointwise(self.conv_out, h), m), h


class ASFormer(nn.Module):
    """ASFormer (Yi, Wen & Jiang, BMVC 2021): an encoder and ``D`` decoders of :class:`ASFormerBlock` layers.

    The encoder maps features to logits ``y_0``; decoder ``s`` refines ``softmax(y_s) ⊙ m`` with its own
    queries/keys and values taken from the previous stage's features (cross-attention), with attention
    weight ``α_s = exp(−3s)`` (§3.2). Layer ``l`` of every stage uses windows of ``2^l`` frames.
    ``channel_dropout`` zeroes whole input channels during training (the reference's ``Dropout2d``).

    Checkpoint keys: ``encoder.{conv_in,layers.{l}.*,conv_out}``, ``decoders.{s}.*``; every block has
    ``feed_forward``, ``attention.{query_conv,key_conv,value_conv,conv_out}``, ``conv_1x1``.

    Args:
        in_channels: input feature channels ``D`` (2048 for I3D).
        num_classes: ``K``.
        num_layers: blocks per stage (10).
        num_channels: feature channels ``F`` (64).
        num_decoders: ``D`` decoders (3).
        qk_reduction: channel reduction ``r1`` of the attention's queries and keys (2).
        v_reduction: channel reduction ``r2`` of the attention's values (2).
        window: attention window, see :class:`WindowedAttention` (``"block_halo"`` = the released checkpoints).
        channel_dropout: probability of dropping an input channel (0.3; 0.5 for GTEA in the paper).

    Shape:
        ``x`` ``(B, D, T)``, ``mask`` ``(B, T)`` bool → logits of every stage ``(1 + num_decoders, B, K, T)``,
        zero at padded frames; a padded batch gives every element what it gives alone.

    Example:
        >>> model = ASFormer(2048, 19).eval()
        >>> model(torch.randn(2, 2048, 300), torch.ones(2, 300, dtype=torch.bool)).shape
        torch.Size([4, 2, 19, 300])
    """

    def __init__(self, in_channels: int, num_classes: int, num_layers: int = 10, num_channels: int = 64,
                 num_decoders: int = 3, qk_reduction: int = 2, v_reduction: int = 2, window: str = "block_halo",
                 channel_dropout: float = 0.3) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        num_classes = channel_count(num_classes, "num_classes")
        num_layers = layer_count(num_layers, "num_layers")
        num_channels = channel_count(num_channels, "num_channels")
        num_decoders = stage_count(num_decoders, "num_decoders", low=0)
        qk_reduction = _checks.size(qk_reduction, "qk_reduction", high=num_channels)
        v_reduction = _checks.size(v_reduction, "v_reduction", high=num_channels)
        window = _checks.choice(window, WINDOWS, "window")
        self.channel_dropout = nn.Dropout1d(_checks.probability(channel_dropout, "channel_dropout", high_open=True))
        block = _block_parameters(num_channels, qk_reduction, v_reduction)
        head = conv_parameters(num_channels, num_classes) + num_layers * block  # a stage less its 1×1 input
        check_parameter_count(conv_parameters(in_channels, num_channels) + head
                              + num_decoders * (conv_parameters(num_classes, num_channels) + head),
                              "in_channels, num_classes, num_layers, num_channels, num_decoders")
        common = (num_layers, num_channels, qk_reduction, v_reduction, window)
        self.encoder = _ASFormerStage(in_channels, num_classes, *common, alpha=1.0)
        self.decoders = nn.ModuleList(
            _ASFormerStage(num_classes, num_classes, *common, alpha=math.exp(-3 * s)) for s in range(num_decoders)
        )

    def _channel_scale(self, x: Tensor) -> Tensor | None:
        """``(B, D)`` per-sample input-channel dropout scale (0 or ``1 / (1 − p)``), or ``None`` when inactive.

        Same distribution as ``nn.Dropout1d`` / the official ``Dropout2d`` on the input, applied to the
        first 1×1 convolution's weights instead of the ``(B, D, T)`` features.
        """
        p = self.channel_dropout.p
        if not self.training or p == 0.0:
            return None
        keep = torch.rand(x.shape[0], x.shape[1], device=x.device) >= p
        return keep.to(x.dtype) / (1.0 - p)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        ragged, m = model_input(self, x, mask, self.in_channels)
        if ragged is not None:
            return ragged
        logits, features = self.encoder(x, m, None, self._channel_scale(x))
        outputs = [logits]
        for decoder in self.decoders:
            logits, features = decoder(apply_mask(F.softmax(logits, dim=1), m), m, features)
            outputs.append(logits)
        return torch.stack(outputs)
