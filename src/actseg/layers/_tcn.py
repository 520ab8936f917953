"""Dilated temporal convolution stages: MS-TCN, MS-TCN++ and the two-stream fusion of the 2D-skeleton paper.

References:
    Farha & Gall, "MS-TCN: Multi-Stage Temporal Convolutional Network for Action Segmentation", CVPR 2019
    (official code yabufarha/ms-tcn@33ed91c, ``model.py``).
    Li, Farha, Liu, Cheng & Gall, "MS-TCN++", TPAMI 2020 (official code sj-li/MS-TCN2@9d31fb3).
    Xu et al., "Action Segmentation Using 2D Skeleton Heatmaps and Multi-Modality Fusion" §III (fusion).

Padding: every block takes ``mask`` ``(B, T)`` bool. Features are multiplied by the mask after every
1×1 convolution and every residual sum, so padded frames hold zeros and a dilated convolution reading
them sees exactly the zero padding it would see at the end of the unpadded video: a padded batch gives
each element exactly what it gives alone. The official code masks less (see ``docs/layers.md``); on
unpadded input both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
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
    model_input,
    stage_count,
    valid_mask,
    zero_padded,
)

__all__ = [
    "MSTCN",
    "DilatedResidualLayer",
    "DualDilatedLayer",
    "FusionMSTCNPlusPlus",
    "MSTCNPlusPlus",
    "PredictionGenerationStage",
    "SingleStageTCN",
]


def _dropout(value: float) -> Dropout:
    return Dropout(_checks.probability(value, "dropout", high_open=True))


def _stage_parameters(in_channels: int, num_classes: int, num_layers: int, num_channels: int, layer: int) -> int:
    """Parameters of a stage: 1×1 in, ``num_layers`` layers of ``layer`` parameters each, 1×1 out."""
    return (conv_parameters(in_channels, num_channels) + num_layers * layer
            + conv_parameters(num_channels, num_classes))


def _drl_parameters(f: int) -> int:
    return conv_parameters(f, f, 3) + conv_parameters(f, f)


def _ddl_parameters(f: int) -> int:
    return 2 * conv_parameters(f, f, 3) + conv_parameters(2 * f, f)


class DilatedResidualLayer(nn.Module):
    r"""Dilated residual layer of MS-TCN (Farha & Gall, CVPR 2019, Eq. (1)–(2)).

    .. math:: \hat H = \mathrm{ReLU}(W_1 * H_{l-1} + b_1),\quad
              H_l = \bigl(H_{l-1} + \mathrm{Dropout}(W_2 * \hat H + b_2)\bigr) \odot m

    ``W_1`` is a kernel-3 convolution with dilation ``d`` (zero padding ``d``), ``W_2`` a 1×1 convolution.

    Args:
        channels: feature channels ``C`` (input = output).
        dilation: dilation ``d`` of the kernel-3 convolution.
        dropout: dropout probability on the residual branch (0.5 in MS-TCN).

    Shape:
        ``x`` ``(B, C, T)``, ``mask`` ``(B, T)`` bool or ``None`` → ``(B, C, T)``, zero at padded frames.
        Padded frames of ``x`` are zeroed first: they neither change the output nor get a gradient.
    """

    def __init__(self, channels: int, dilation: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.channels = channels = channel_count(channels, "channels")
        self.dilation = dilation = dilation_size(dilation, "dilation")
        self.dropout = _dropout(dropout)
        check_parameter_count(_drl_parameters(channels), "channels")
        self.conv_dilated = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        feature_input(x, self, self.channels)
        m = float_mask(valid_mask(mask, x), x)
        return self._forward(zero_padded(x, m), m)  # compositions call _forward on features already zero there

    def _forward(self, x: Tensor, m: Tensor | None) -> Tensor:
        h = self.dropout(self.conv_1x1(F.relu(dilated_conv(self.conv_dilated, x))))
        return apply_mask(x + h, m)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, dilation={self.dilation}, dropout={self.dropout.p}"


class _Stage(nn.Module):
    """1×1 convolution in, ``num_layers`` residual layers (``make_layer(l)``), 1×1 classifier out."""

    def __init__(self, in_channels: int, num_classes: int, num_layers: int, num_channels: int,
                 make_layer: Callable[[int, int, int], nn.Module], layer_parameters: Callable[[int], int]) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        self.num_classes = num_classes = channel_count(num_classes, "num_classes")
        num_layers = layer_count(num_layers, "num_layers")
        num_channels = channel_count(num_channels, "num_channels")
        check_parameter_count(
            _stage_parameters(in_channels, num_classes, num_layers, num_channels, layer_parameters(num_channels)),
            "in_channels, num_classes, num_layers, num_channels",
        )
        self.conv_in = nn.Conv1d(in_channels, num_channels, 1)
        self.layers = nn.ModuleList(make_layer(num_channels, num_layers, i) for i in range(num_layers))
        self.conv_out = nn.Conv1d(num_channels, num_classes, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        feature_input(x, self, self.in_channels)
        return self.forward_features(x, float_mask(valid_mask(mask, x), x))[0]

    def forward_features(self, x: Tensor, m: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(logits, features)`` with an already converted ``(B, 1, T)`` float mask ``m``."""
        h = zero_padded(self.conv_in(x), m)
        for layer in self.layers:
            h = layer._forward(h, m)
        return apply_mask(self.conv_out(h), m), h


class SingleStageTCN(_Stage):
    """One MS-TCN stage: 1×1 convolution, ``L`` dilated residual layers (dilation ``2^l``), 1×1 classifier.

    Farha & Gall, CVPR 2019, §3.1 (single-stage TCN). Checkpoint keys: ``conv_in`` (the official
    ``conv_1x1``), ``layers.{l}.{conv_dilated,conv_1x1}``, ``conv_out``.

    Args:
        in_channels: input channels ``D`` (features, or ``K`` class probabilities for a refinement stage).
        num_classes: output channels ``K``.
        num_layers: number of dilated residual layers ``L``.
        num_channels: feature channels ``F``.

    Shape:
        ``(B, D, T)`` and ``(B, T)`` mask → ``(B, K, T)`` logits, zero at padded frames.
    """

    def __init__(self, in_channels: int, num_classes: int, num_layers: int = 10, num_channels: int = 64) -> None:
        super().__init__(in_channels, num_classes, num_layers, num_channels,
                         lambda f, n, i: DilatedResidualLayer(f, 2**i), _drl_parameters)


def _next_stage_input(logits: Tensor, m: Tensor | None) -> Tensor:
    return apply_mask(F.softmax(logits, dim=1), m)


class MSTCN(nn.Module):
    """Multi-stage TCN (Farha & Gall, CVPR 2019, §3.2): stage ``s > 1`` refines ``softmax(y_{s-1})``.

    Checkpoint keys: ``stage1.*``, ``stages.{s}.*`` (as the official ones). Load official weights with
    ``actseg.io.convert_state_dict(sd, "ms-tcn")``.

    Args:
        in_channels: input feature channels ``D`` (2048 for I3D).
        num_classes: ``K``.
        num_stages: ``S`` (4 in the paper).
        num_layers: dilated residual layers per stage (10).
        num_channels: feature channels (64).

    Shape:
        ``x`` ``(B, D, T)``, ``mask`` ``(B, T)`` bool → logits of every stage ``(S, B, K, T)``.

    Example:
        >>> model = MSTCN(2048, 19).eval()
        >>> model(torch.randn(2, 2048, 100), torch.ones(2, 100, dtype=torch.bool)).shape
        torch.Size([4, 2, 19, 100])
    """

    def __init__(self, in_channels: int, num_classes: int, num_stages: int = 4, num_layers: int = 10,
                 num_channels: int = 64) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        num_classes = channel_count(num_classes, "num_classes")
        num_stages = stage_count(num_stages, "num_stages")
        num_layers = layer_count(num_layers, "num_layers")
        num_channels = channel_count(num_channels, "num_channels")
        layer = _drl_parameters(num_channels)
        check_parameter_count(
            _stage_parameters(in_channels, num_classes, num_layers, num_channels, layer)
            + (num_stages - 1) * _stage_parameters(num_classes, num_classes, num_layers, num_channels, layer),
            "in_channels, num_classes, num_stages, num_layers, num_channels",
        )
        self.stage1 = SingleStageTCN(in_channels, num_classes, num_layers, num_channels)
        self.stages = nn.ModuleList(
            SingleStageTCN(num_classes, num_classes, num_layers, num_channels) for _ in range(num_stages - 1)
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        ragged, m = model_input(self, x, mask, self.in_channels)
        if ragged is not None:
            return ragged
        out = self.stage1.forward_features(x, m)[0]
        outputs = [out]
        for stage in self.stages:
            out = stage.forward_features(_next_stage_input(out, m), m)[0]
            outputs.append(out)
        return torch.stack(outputs)


class DualDilatedLayer(nn.Module):
    r"""Dual dilated layer of MS-TCN++ (Li et al., TPAMI 2020, Eq. (1)–(3)).

    .. math:: \hat H = W_f * [W_{d_{large}} * H_{l-1},\; W_{d_{small}} * H_{l-1}] + b_f,\quad
              H_l = \bigl(H_{l-1} + \mathrm{Dropout}(\mathrm{ReLU}(\hat H))\bigr) \odot m

    In layer ``l`` of a prediction-generation stage with ``L`` layers, ``dilation_small = 2^l`` (the
    branch whose dilation grows with depth) and ``dilation_large = 2^{L-1-l}`` (the branch whose
    dilation shrinks); the large-dilation branch comes first in the concatenation, as in the official
    code (``conv_dilated_1`` then ``conv_dilated_2``).

    Args:
        channels: feature channels ``C``.
        dilation_small: dilation of the growing branch.
        dilation_large: dilation of the shrinking branch.
        dropout: dropout probability (0.5).

    Shape:
        ``(B, C, T)``, mask ``(B, T)`` → ``(B, C, T)``, zero at padded frames. Padded frames of ``x`` are
        zeroed first: they neither change the output nor get a gradient.
    """

    def __init__(self, channels: int, dilation_small: int, dilation_large: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.channels = channels = channel_count(channels, "channels")
        self.dilation_small = dilation_small = dilation_size(dilation_small, "dilation_small")
        self.dilation_large = dilation_large = dilation_size(dilation_large, "dilation_large")
        self.dropout = _dropout(dropout)
        check_parameter_count(_ddl_parameters(channels), "channels")
        self.conv_large = nn.Conv1d(channels, channels, 3, padding=dilation_large, dilation=dilation_large)
        self.conv_small = nn.Conv1d(channels, channels, 3, padding=dilation_small, dilation=dilation_small)
        self.conv_fusion = nn.Conv1d(2 * channels, channels, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        feature_input(x, self, self.channels)
        m = float_mask(valid_mask(mask, x), x)
        return self._forward(zero_padded(x, m), m)  # compositions call _forward on features already zero there

    def _forward(self, x: Tensor, m: Tensor | None) -> Tensor:
        h = self.conv_fusion(torch.cat([dilated_conv(self.conv_large, x), dilated_conv(self.conv_small, x)], dim=1))
        return apply_mask(x + self.dropout(F.relu(h)), m)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, dilation_small={self.dilation_small}, "
                f"dilation_large={self.dilation_large}, dropout={self.dropout.p}")


class PredictionGenerationStage(_Stage):
    """Prediction generation stage of MS-TCN++ (Li et al., TPAMI 2020, §4.1): ``L`` dual dilated layers.

    Checkpoint keys: ``conv_in``, ``layers.{l}.{conv_large,conv_small,conv_fusion}``, ``conv_out``
    (official ``PG.conv_1x1_in`` → ``conv_in``, ``PG.conv_dilated_1.{l}`` → ``layers.{l}.conv_large``,
    ``conv_dilated_2`` → ``conv_small``, ``conv_fusion.{l}`` → ``layers.{l}.conv_fusion``).

    Shape:
        ``(B, D, T)``, mask ``(B, T)`` → ``(B, K, T)`` logits.
    """

    def __init__(self, in_channels: int, num_classes: int, num_layers: int = 11, num_channels: int = 64) -> None:
        super().__init__(in_channels, num_classes, num_layers, num_channels,
                         lambda f, n, i: DualDilatedLayer(f, 2**i, 2 ** (n - 1 - i)), _ddl_parameters)


def _mstcnpp_parameters(in_channels: int, num_classes: int, num_layers_pg: int, num_layers_r: int,
                        num_refinement: int, num_channels: int, share_refinement: bool = False) -> int:
    n_modules = min(num_refinement, 1) if share_refinement else num_refinement
    return (_stage_parameters(in_channels, num_classes, num_layers_pg, num_channels, _ddl_parameters(num_channels))
            + n_modules * _stage_parameters(num_classes, num_classes, num_layers_r, num_channels,
                                            _drl_parameters(num_channels)))


class MSTCNPlusPlus(nn.Module):
    """MS-TCN++ (Li et al., TPAMI 2020): a prediction generation stage and ``R`` refinement stages.

    Refinement stage ``r`` is a :class:`SingleStageTCN` on ``softmax(y_{r-1})``. With
    ``share_refinement=True`` one refinement stage is applied ``R`` times (the paper's shared variant;
    the official code, and the default here, uses independent weights).
    Checkpoint keys: ``generation.*``, ``refinements.{r}.*``; load official weights with
    ``actseg.io.convert_state_dict(sd, "ms-tcn2")``.

    Shape:
        ``x`` ``(B, D, T)``, ``mask`` ``(B, T)`` → logits of every stage ``(1 + R, B, K, T)``.

    Example:
        >>> model = MSTCNPlusPlus(2048, 19).eval()
        >>> model(torch.randn(1, 2048, 50)).shape
        torch.Size([4, 1, 19, 50])
    """

    def __init__(self, in_channels: int, num_classes: int, num_layers_pg: int = 11, num_layers_r: int = 10,
                 num_refinement: int = 3, num_channels: int = 64, share_refinement: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        num_classes = channel_count(num_classes, "num_classes")
        num_layers_pg = layer_count(num_layers_pg, "num_layers_pg")
        num_layers_r = layer_count(num_layers_r, "num_layers_r")
        self.num_refinement = num_refinement = stage_count(num_refinement, "num_refinement", low=0)
        num_channels = channel_count(num_channels, "num_channels")
        self.share_refinement = share_refinement = _checks.flag(share_refinement, "share_refinement")
        check_parameter_count(
            _mstcnpp_parameters(in_channels, num_classes, num_layers_pg, num_layers_r, num_refinement, num_channels,
                                share_refinement),
            "in_channels, num_classes, num_layers_pg, num_layers_r, num_refinement, num_channels",
        )
        self.generation = PredictionGenerationStage(in_channels, num_classes, num_layers_pg, num_channels)
        n_modules = min(num_refinement, 1) if share_refinement else num_refinement
        self.refinements = nn.ModuleList(
            SingleStageTCN(num_classes, num_classes, num_layers_r, num_channels) for _ in range(n_modules)
        )

    def _refinement(self, r: int) -> SingleStageTCN:
        return self.refinements[0 if self.share_refinement else r]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        ragged, m = model_input(self, x, mask, self.in_channels)
        if ragged is not None:
            return ragged
        logits = self.generation.forward_features(x, m)[0]
        outputs = [logits]
        for r in range(self.num_refinement):  # features are not kept (stage_outputs keeps them, for fusion)
            logits = self._refinement(r).forward_features(_next_stage_input(logits, m), m)[0]
            outputs.append(logits)
        return torch.stack(outputs)

    def stage_outputs(self, x: Tensor, m: Tensor | None) -> list[tuple[Tensor, Tensor]]:
        """``[(logits, features)]`` of every stage, with a ``(B, 1, T)`` float mask ``m``."""
        out = [self.generation.forward_features(x, m)]
        for r in range(self.num_refinement):
            out.append(self._refinement(r).forward_features(_next_stage_input(out[-1][0], m), m))
        return out


class FusionMSTCNPlusPlus(nn.Module):
    """Two MS-TCN++ branches fused at every stage (2D-skeleton heatmaps + RGB, Xu et al., §III, Fig. 3).

    Each branch (``branch_a`` on the heatmap features, ``branch_b`` on the RGB features) is a full
    :class:`MSTCNPlusPlus` whose refinement stages refine the branch's own predictions. At every stage
    ``s`` (prediction generation and each refinement) a fusion module concatenates the two branches'
    ``F``-channel stage features, reduces them back to ``F`` channels with a 1×1 convolution and
    classifies them with a 1×1 convolution; all ``1 + R`` fused predictions are supervised (deep
    supervision, the MS-TCN loss on each), and the last one is the output at test time.

    The paper leaves open whether the fused features feed the next stage; here they do not (the branches
    stay independent, so each can be pre-trained alone first, as the paper's two-step training does).

    A loss on :meth:`forward`'s fused predictions alone does not reach each branch's last stage
    classifier (``branch_a/b.refinements[-1].conv_out``, or ``generation.conv_out`` when
    ``num_refinement = 0``): fused predictions come from stage features, and the last stage's logits
    feed nothing. Supervise the branch logits of :meth:`forward_all` as well (every parameter then has
    a gradient), or wrap the model in ``DistributedDataParallel(..., find_unused_parameters=True)``.

    Args:
        in_channels_a: input channels of branch A (e.g. flattened heatmap features).
        in_channels_b: input channels of branch B (e.g. 2048 for I3D RGB features).
        num_classes: as :class:`MSTCNPlusPlus`.
        num_layers_pg: as :class:`MSTCNPlusPlus`.
        num_layers_r: as :class:`MSTCNPlusPlus`.
        num_refinement: as :class:`MSTCNPlusPlus`.
        num_channels: as :class:`MSTCNPlusPlus`.

    Shape:
        ``forward(x_a (B, D_a, T), x_b (B, D_b, T), mask (B, T))`` → fused logits ``(1 + R, B, K, T)``;
        :meth:`forward_all` also returns the branch logits ``(1 + R, B, K, T)`` each (for pre-training).
    """

    def __init__(self, in_channels_a: int, in_channels_b: int, num_classes: int, num_layers_pg: int = 11,
                 num_layers_r: int = 10, num_refinement: int = 3, num_channels: int = 64) -> None:
        super().__init__()
        in_channels_a = channel_count(in_channels_a, "in_channels_a")
        in_channels_b = channel_count(in_channels_b, "in_channels_b")
        num_classes = channel_count(num_classes, "num_classes")
        num_layers_pg = layer_count(num_layers_pg, "num_layers_pg")
        num_layers_r = layer_count(num_layers_r, "num_layers_r")
        num_refinement = stage_count(num_refinement, "num_refinement", low=0)
        num_channels = channel_count(num_channels, "num_channels")
        args = (num_classes, num_layers_pg, num_layers_r, num_refinement, num_channels)
        check_parameter_count(
            _mstcnpp_parameters(in_channels_a, *args) + _mstcnpp_parameters(in_channels_b, *args)
            + (1 + num_refinement) * (conv_parameters(2 * num_channels, num_channels)
                                      + conv_parameters(num_channels, num_classes)),
            "in_channels_a, in_channels_b, num_classes, num_layers_pg, num_layers_r, num_refinement, num_channels",
        )
        self.branch_a = MSTCNPlusPlus(in_channels_a, *args)
        self.branch_b = MSTCNPlusPlus(in_channels_b, *args)
        self.fusion = nn.ModuleList(nn.Conv1d(2 * num_channels, num_channels, 1) for _ in range(1 + num_refinement))
        self.classifiers = nn.ModuleList(nn.Conv1d(num_channels, num_classes, 1) for _ in range(1 + num_refinement))

    def forward(self, x_a: Tensor, x_b: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.forward_all(x_a, x_b, mask)[0]

    def forward_all(self, x_a: Tensor, x_b: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(fused, branch_a, branch_b)`` logits, each ``(1 + R, B, K, T)``."""
        feature_input(x_a, self, self.branch_a.in_channels, "x_a")
        feature_input(x_b, self, self.branch_b.in_channels, "x_b", B=x_a.shape[0], T=x_a.shape[2])
        m = float_mask(valid_mask(mask, x_a), x_a)
        stages_a = self.branch_a.stage_outputs(x_a, m)
        stages_b = self.branch_b.stage_outputs(x_b, m)
        fused = []
        for (_, feat_a), (_, feat_b), fuse, classify in zip(stages_a, stages_b, self.fusion, self.classifiers):
            h = apply_mask(fuse(torch.cat([feat_a, feat_b], dim=1)), m)
            fused.append(apply_mask(classify(h), m))
        return (torch.stack(fused), torch.stack([y for y, _ in stages_a]), torch.stack([y for y, _ in stages_b]))
