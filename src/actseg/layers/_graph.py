r"""Skeleton graphs and the multi-scale graph convolution of MS-G3D / DeST / InterAct.

References:
    Liu, Zhang, Chen, Wang & Ouyang, "Disentangling and Unifying Graph Convolutions for Skeleton-Based
    Action Recognition" (MS-G3D), CVPR 2020, Eq. (3)-(4) (official code kenziyuliu/MS-G3D@2f927f4,
    ``graph/tools.py``, ``model/ms_gcn.py``).
    Li et al., "Decoupled Spatial-Temporal ... (DeST)" (official code lyhisme/DeST@319e1f1,
    ``libs/models/SP.py``, ``libs/models/graph/``).
    InterAct, "frame-action interaction" §3.2, Eq. (1)-(2): the per-scale aggregation
    :math:`\sum_k (\hat A^{(k)} + B^{(k)}) X W^{(k)}` with learnable :math:`B^{(k)}`.

Skeletons are ``(B, C, T, V)`` (``V`` joints); the padding ``mask`` is ``(B, T)`` bool, ``True`` = valid.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import Dropout, channel_count, check_parameter_count, float_mask, valid_mask, zero_padded

__all__ = ["DSMI", "SKELETON_LAYOUTS", "MultiScaleGraphConv", "multiscale_adjacency",
           "skeleton_edges"]

# Joints and scales of one graph: V <= 2**10, S <= 2**10, and an adjacency stack of S * V * V <= 2**24 values
# (64 MiB; building it costs S products of V x V matrices).
MAX_JOINTS = 2**10
MAX_SCALES = 2**10
MAX_ADJACENCY = 2**24
MAX_CHANNELS_HEADS = 2**10  # attention heads of DSMI

# Bones (child, parent), 0-based. Sources (DeST libs/models/graph/graph.py@319e1f1, ``Graph.get_edge``):
#   "ntu-25": layout "PKU-subject"/"PKU-view" (Kinect v2 joints of NTU RGB+D / PKU-MMD, the SDK's bones:
#             hand tip -> hand, thumb -> wrist). MS-G3D graph/ntu_rgb_d.py (from ST-GCN) chains the hand
#             joints differently: (21, 22), (22, 7), (23, 24), (24, 11) instead of (21, 7), (22, 6),
#             (24, 10), (23, 11); pass that list to ``multiscale_adjacency`` to reproduce MS-G3D's NTU graph.
#   "openpose-25": layout "MCFS-22"/"MCFS-130" (OpenPose BODY_25, MCFS), converted from 1-based.
#   "lara-19": layout "LARA" (LARa motion-capture skeleton, 19 joints).
SKELETON_LAYOUTS: dict[str, tuple[int, tuple[tuple[int, int], ...]]] = {
    "ntu-25": (25, ((12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18), (1, 0),
                    (20, 1), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (21, 7), (22, 6), (8, 20),
                    (9, 8), (10, 9), (11, 10), (24, 10), (23, 11))),
    "openpose-25": (25, tuple((i - 1, j - 1) for i, j in (
        (2, 9), (1, 2), (16, 1), (18, 16), (17, 1), (19, 17), (6, 2), (7, 6), (8, 7), (3, 2), (4, 3), (5, 4),
        (10, 9), (11, 10), (12, 11), (25, 12), (23, 12), (24, 23), (13, 9), (14, 13), (15, 14), (22, 15),
        (20, 15), (21, 20)))),
    "lara-19": (19, ((1, 0), (2, 1), (3, 2), (4, 3), (5, 0), (6, 5), (7, 6), (8, 7), (9, 0), (10, 9), (11, 9),
                     (12, 10), (13, 12), (14, 13), (15, 9), (16, 15), (17, 16), (18, 17))),
}


def skeleton_edges(layout: str) -> list[tuple[int, int]]:
    """The bones of a skeleton layout as 0-based ``(child, parent)`` joint pairs (one direction per bone).

    Layouts (edge lists of DeST ``libs/models/graph/graph.py``@319e1f1):

    ==================  ======  ===================================================================
    ``layout``          joints  skeleton (DeST layout name)
    ==================  ======  ===================================================================
    ``"ntu-25"``        25      Kinect v2 of NTU RGB+D and PKU-MMD (``"PKU-subject"``)
    ``"openpose-25"``   25      OpenPose BODY_25 of MCFS-22 / MCFS-130 (``"MCFS-22"``)
    ``"lara-19"``       19      LARa motion capture (``"LARA"``)
    ==================  ======  ===================================================================

    MS-G3D's NTU graph (``graph/ntu_rgb_d.py``, from ST-GCN) differs from ``"ntu-25"`` in the four hand
    bones: it chains hand tip -> thumb -> hand, where DeST follows the Kinect SDK (tip -> hand, thumb -> wrist).

    Args:
        layout: one of ``"ntu-25"``, ``"openpose-25"``, ``"lara-19"`` (``SKELETON_LAYOUTS``).

    Returns:
        A new list of ``(i, j)`` int pairs; the joint count is ``SKELETON_LAYOUTS[layout][0]``.

    Example:
        >>> len(skeleton_edges("ntu-25")), skeleton_edges("lara-19")[:2]
        (24, [(1, 0), (2, 1)])
    """
    if not isinstance(layout, str):
        raise TypeError(f"layout: expected one of {', '.join(map(repr, SKELETON_LAYOUTS))}, "
                        f"got {_checks.type_name(layout)}")
    _checks.choice(layout, SKELETON_LAYOUTS, "layout")
    return list(SKELETON_LAYOUTS[layout][1])


def _normalised(a: np.ndarray, degree_dtype: type) -> np.ndarray:
    """``D^{-1/2} A D^{-1/2}`` with ``D`` the row sums (every row has its self loop, so ``D > 0``), in float64
    from a ``D^{-1/2}`` in ``degree_dtype``, as the official ``normalize_adjacency_matrix`` computes it on the
    float32 k-hop matrices and on the float64 ``A + I`` (so the values agree bit for bit)."""
    d = (a.sum(-1).astype(degree_dtype) ** degree_dtype(-0.5)).astype(np.float64)
    return d[:, None] * a * d[None, :]


def multiscale_adjacency(edges, num_joints: int, num_scales: int = 13, disentangled: bool = True) -> Tensor:
    r"""The ``(S, V, V)`` stack of normalised k-hop adjacencies of MS-G3D (Eq. 4) / DeST / InterAct Eq. (1).

    With :math:`\bar A` the symmetric binary adjacency of ``edges`` (no self loops):

    .. math:: \tilde A_0 = I,\qquad
              \tilde A_k = \min\bigl((\bar A + I)^k, 1\bigr) - \min\bigl((\bar A + I)^{k-1}, 1\bigr) + I
              \quad (k \ge 1),\qquad \hat A_k = D_k^{-1/2}\tilde A_k D_k^{-1/2}

    (``D_k`` the row sums of :math:`\tilde A_k`): scale ``k`` joins joints at hop distance exactly ``k``,
    plus self loops; scales beyond the graph's diameter are the identity. ``disentangled=False`` gives the
    powers :math:`\hat A_k = \bigl(D^{-1/2}(\bar A + I)D^{-1/2}\bigr)^k` (normalise first, then power, as
    MS-G3D's code; MS-G3D issue #23). Float32, with the official ``graph/tools.py`` arithmetic
    (``k_adjacency`` + ``normalize_adjacency_matrix``; powers of the float32 matrix), so the values agree
    with the official ``A_powers`` bit for bit.

    Scale numbering: InterAct Eq. (1)-(2) writes scales ``k = 1..K`` with ``K = 13`` "following DeST";
    the code it follows (DeST ``SP.py``, ``num_scales=13``) uses ``k = 0..12``, scale 0 the identity.
    Here ``num_scales = S`` means ``k = 0..S-1``, as the code.

    Args:
        edges (Sequence[tuple[int, int]] | numpy.ndarray): ``(i, j)`` joint pairs (either direction,
            duplicates allowed; no self loops), e.g. :func:`skeleton_edges`; a sequence of pairs or an
            ``(L, 2)`` integer array.
        num_joints: ``V``, at most ``2**10`` (and ``S·V² <= 2**24``).
        num_scales: ``S >= 1`` (13 in DeST and InterAct), at most ``2**10``.
        disentangled: ``True`` for k-hop adjacencies, ``False`` for powers of the normalised graph.

    Returns:
        ``(S, V, V)`` float32 tensor, row ``v`` of scale ``k`` the weights joint ``v`` gathers from each joint.

    Example:
        >>> a = multiscale_adjacency([(0, 1), (1, 2)], 3, num_scales=3)
        >>> a[1]  # hop 1 of a path 0-1-2: degrees 2, 3, 2
        tensor([[0.5000, 0.4082, 0.0000],
                [0.4082, 0.3333, 0.4082],
                [0.0000, 0.4082, 0.5000]])
        >>> bool((a[2] > 0).sum() == 5)  # hop 2 joins 0 and 2, plus the three self loops
        True
    """
    num_joints = _checks.size(num_joints, "num_joints", high=MAX_JOINTS)
    num_scales = _checks.size(num_scales, "num_scales", high=MAX_SCALES)
    disentangled = _checks.flag(disentangled, "disentangled")
    if num_scales * num_joints * num_joints > MAX_ADJACENCY:
        raise ValueError(f"num_scales: expected num_scales * num_joints**2 <= 2**24, "
                         f"got {num_scales} * {num_joints}**2")
    pairs = _checks.index_pairs(edges, "edges", num_joints)
    loops = pairs[:, 0] == pairs[:, 1]
    if loops.any():
        raise ValueError(f"edges: expected pairs of two different joints (self loops are added per scale), "
                         f"got ({int(pairs[loops][0, 0])}, {int(pairs[loops][0, 1])})")
    eye = np.eye(num_joints)
    a = np.zeros((num_joints, num_joints))
    a[pairs[:, 0], pairs[:, 1]] = 1.0
    a[pairs[:, 1], pairs[:, 0]] = 1.0
    if disentangled:
        scales = [eye]
        # reach[k] = (hop distance <= k), by boolean products (exact, no overflow of integer powers)
        step = (a + eye) > 0
        reach = eye > 0
        for _ in range(1, num_scales):
            nxt = (reach.astype(np.float64) @ step) > 0
            scales.append(_normalised((nxt & ~reach) + eye, np.float32))
            reach = nxt
        return torch.from_numpy(np.stack(scales).astype(np.float32))
    # powers of the float32 normalised graph, by numpy's repeated squaring as the official code
    base = _normalised(a + eye, np.float64).astype(np.float32)
    powers = [np.linalg.matrix_power(base, k) for k in range(num_scales)]
    return torch.from_numpy(np.stack(powers).astype(np.float32))


def _adjacency_sizes(adjacency: Tensor) -> tuple[int, int]:
    """``(S, V)`` of a checked ``(S, V, V)`` adjacency stack with finite values."""
    _checks.tensor(adjacency, "adjacency", "(S, V, V)")
    s, v, v2 = adjacency.shape
    if v != v2 or not 1 <= s <= MAX_SCALES or not 1 <= v <= MAX_JOINTS:
        raise ValueError(f"adjacency: expected shape (S, V, V) with 1 <= S <= {MAX_SCALES} and "
                         f"1 <= V <= {MAX_JOINTS}, got {_checks.shape_str(adjacency.shape)}")
    if _checks.has_values(adjacency):
        _checks.finite_values(adjacency, "adjacency")
    return s, v


def _gcn_parameters(scales: int, joints: int, in_channels: int, out_channels: int) -> int:
    """Parameters of :class:`MultiScaleGraphConv`: ``B_k``, the 1×1 convolution, BatchNorm's affine pair."""
    return scales * joints * joints + scales * in_channels * out_channels + 3 * out_channels


class MultiScaleGraphConv(nn.Module):
    r"""Multi-scale graph convolution of MS-G3D / DeST (``MultiScale_GraphConv``), InterAct Eq. (2).

    .. math:: Y = \mathrm{ReLU}\Bigl(\mathrm{BN}\Bigl(\sum_{k=0}^{S-1} W_k\,X\,(\hat A_k + B_k)^\top
              + b\Bigr)\Bigr)\odot m

    per frame, where ``X`` is ``(C, V)``, ``W_k`` the ``(C_out, C)`` block of the 1×1 convolution that
    reads scale ``k`` (channels scale-major: input channel ``k·C + c``, as the official
    ``view(N, C, T, S, V).permute(0, 3, 1, 2, 4)``), :math:`B_k` the learnable residual adjacency
    (``residual``, initialised ``U(-1e-6, 1e-6)`` as MS-G3D's ``A_res``) and ``m`` the padding mask.
    InterAct's ``W`` and ``MLP`` collapse to this one 1×1 convolution + BatchNorm + ReLU (DeST's code).

    Order of computation: the official code materialises the ``(B, S·C, T, V)`` support tensor. Here the
    1×1 weights are folded into the adjacencies, ``K[o, v, c, u] = Σ_k W_k[o, c] (Â_k + B_k)[v, u]``, and
    the output is one matrix product of ``(B·T, C·V)`` with ``K`` (no support tensor; ``docs/benchmarks.md``
    has both orders measured). With ``dropout > 0`` in training, dropout acts on the support tensor as in
    the official code, so that path materialises it.

    Padding: padded frames give 0 and, in training, do not enter the BatchNorm batch statistics (nor the
    running statistics); with ``mask=None`` (or an all-valid mask) the statistics are ``nn.BatchNorm2d``'s.
    The graph convolution acts frame by frame, so in eval mode a padded batch gives each video what it
    gives alone; in training a padded batch gives what the valid frames of all videos give concatenated.

    Official checkpoints: ``actseg.io.convert_state_dict(sd, source="ms-g3d")``.

    Args:
        in_channels: ``C``.
        out_channels: ``C_out``.
        adjacency: ``(S, V, V)`` floating stack, e.g. :func:`multiscale_adjacency`; kept as a float32
            buffer (not in the state dict, as the official ``A_powers``).
        dropout: dropout probability on the support tensor (MS-G3D's ``MLP`` dropout; 0 in DeST).

    Shapes:
        ``forward(x (B, C, T, V), mask (B, T) bool or None) -> (B, C_out, T, V)``.

    Example:
        >>> layer = MultiScaleGraphConv(3, 8, multiscale_adjacency(skeleton_edges("lara-19"), 19))
        >>> layer(torch.randn(2, 3, 10, 19)).shape
        torch.Size([2, 8, 10, 19])
    """

    adjacency: Tensor

    def __init__(self, in_channels: int, out_channels: int, adjacency: Tensor, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = channel_count(in_channels, "in_channels")
        self.out_channels = channel_count(out_channels, "out_channels")
        s, v = _adjacency_sizes(adjacency)
        check_parameter_count(_gcn_parameters(s, v, self.in_channels, self.out_channels),
                              "in_channels, out_channels, adjacency")
        self.num_scales, self.num_joints = s, v
        self.register_buffer("adjacency", adjacency.detach().to(torch.float32).clone(), persistent=False)
        self.residual = nn.Parameter(torch.empty(s, v, v).uniform_(-1e-6, 1e-6))
        self.conv = nn.Conv2d(s * self.in_channels, self.out_channels, 1)
        self.norm = nn.BatchNorm2d(self.out_channels)
        self.dropout = Dropout(_checks.probability(dropout, "dropout", high_open=True))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, scales={self.num_scales}, "
                f"joints={self.num_joints}, dropout={self.dropout.p}")

    def _scales(self, x: Tensor) -> Tensor:
        """``Â_k + B_k`` ``(S, V, V)`` in ``x``'s dtype."""
        return self.adjacency.to(x.dtype) + self.residual.to(x.dtype)

    def aggregate(self, x: Tensor) -> Tensor:
        """The pre-BatchNorm output ``Σ_k W_k X (Â_k + B_k)^T + b`` ``(B, C_out, T, V)``, folded order."""
        b, c, t, v = x.shape
        o, s = self.out_channels, self.num_scales
        w = self.conv.weight.to(x.dtype).view(o, s, c)
        kernel = torch.einsum("osc,svu->ovcu", w, self._scales(x)).reshape(o * v, c * v)
        rows = x.permute(0, 2, 1, 3).reshape(b * t, c * v)
        y = torch.addmm(self.conv.bias.to(x.dtype).repeat_interleave(v), rows, kernel.t())
        return y.view(b, t, o, v).permute(0, 2, 1, 3)

    def aggregate_support(self, x: Tensor) -> Tensor:
        """The same as :meth:`aggregate` in the official order: the ``(B, S·C, T, V)`` support tensor
        (dropout applied to it), then the 1×1 convolution."""
        b, c, t, v = x.shape
        support = torch.einsum("svu,bctu->bsctv", self._scales(x), x).reshape(b, self.num_scales * c, t, v)
        return self.conv(self.dropout(support))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        _checks.tensor(x, "x", "(B, C, T, V)", sizes={"C": self.in_channels, "V": self.num_joints},
                       min_sizes={"T": 1})
        _checks.module_tensor(x, "x", self)
        m = float_mask(valid_mask(mask, x[..., 0]), x)  # (B, 1, T)
        if m is not None:  # NaN in padding (missing skeletons) must not reach the batch statistics
            x = zero_padded(x, m.unsqueeze(-1))
        if self.training and self.dropout.p > 0:
            y = self.aggregate_support(x)
        else:
            y = self.aggregate(x)
        if m is None:
            return F.relu(self.norm(y))
        m4 = m.unsqueeze(-1)  # (B, 1, T, 1)
        if self.training or self.norm.running_mean is None:
            y = _masked_batch_norm(y, m4, self.norm)
        else:
            y = self.norm(y)
        return F.relu(y) * m4


def _masked_batch_norm(y: Tensor, m: Tensor, norm: nn.BatchNorm2d) -> Tensor:
    """``norm`` in training mode with batch statistics over the valid frames only (``m`` ``(B, 1, T, 1)``);
    the running statistics are updated as ``nn.BatchNorm2d`` updates them (unbiased variance), except by a
    batch without any valid frame, which leaves them (and ``num_batches_tracked``) unchanged."""
    count = (m.sum() * y.shape[-1]).clamp(min=1)
    mean = (y * m).sum(dim=(0, 2, 3)) / count
    centred = (y - mean.view(1, -1, 1, 1)) * m
    var = centred.pow(2).sum(dim=(0, 2, 3)) / count
    if norm.training and norm.track_running_stats and norm.running_mean is not None:
        with torch.no_grad():
            # a batch without a valid frame has no statistics: it leaves the running ones as they are
            # (a tensor weight of 0, not a branch: no host synchronisation)
            seen = m.sum() > 0
            norm.num_batches_tracked.add_(seen.to(norm.num_batches_tracked.dtype))
            momentum = norm.momentum
            if momentum is None:  # cumulative average
                momentum = 1.0 / float(norm.num_batches_tracked.clamp(min=1))
            weight = seen.to(norm.running_mean.dtype) * momentum
            unbiased = var * (count / (count - 1).clamp(min=1))
            norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), weight)
            norm.running_var.lerp_(unbiased.to(norm.running_var.dtype), weight)
    out = centred * torch.rsqrt(var + norm.eps).view(1, -1, 1, 1)
    if norm.affine:
        out = out * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    return out


def _joint_modalities(x: Tensor, center_joint: int, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The three spatial modalities of InterAct §3.2 from absolute joint coordinates ``x`` ``(B, C, T, V)``.

    ``absolute = x``; ``relative = x - x[..., center_joint]`` (relative to the body centre);
    ``motion[t] = x[t + 1] - x[t]`` where frames ``t`` and ``t + 1`` are both valid, else 0 (so the last
    valid frame gets 0, as DeST's ``dataset.py`` displacement, and a padded batch gives each video its own
    motion; a hole in the mask breaks the difference on both sides). Padded frames are 0 in all three.
    ``mask`` is the checked ``(B, 1, T)`` float mask or ``None``.
    """
    if mask is not None:  # NaN in padded frames (missing skeletons) must not leak
        x = zero_padded(x, mask.unsqueeze(-1))
    relative = x - x[..., center_joint:center_joint + 1]
    motion = torch.zeros_like(x)
    both = None if mask is None else (mask[..., 1:] * mask[..., :-1]).unsqueeze(-1)
    diff = x[:, :, 1:] - x[:, :, :-1]
    motion[:, :, :-1] = diff if both is None else diff * both
    return x, relative, motion


class DSMI(nn.Module):
    r"""Decoupled spatial modality interaction (InterAct §3.2, Eq. (1)–(3)): skeleton ``(B, C_in, T, V)`` ->
    frame features ``(B, C, T)``.

    .. math:: S_m = \mathrm{MSGC}_m(\mathcal V_m),\ m \in \{\mathrm{abs}, \mathrm{rel}, \mathrm{motion}\}
              \quad\text{(Eq. 2, one } :class:`MultiScaleGraphConv` \text{ each)}

    .. math:: \hat X = \mathrm{MLP}_1(\mathrm{SAttn}_1([S_\mathrm{abs} \parallel S_\mathrm{rel}])),\qquad
              X = \mathrm{MLP}_2(\mathrm{SAttn}_2([\hat X \parallel S_\mathrm{motion}]))\quad\text{(Eq. 3)}

    then pooled over joints. The modalities come from :func:`_joint_modalities` (absolute; relative to
    ``center_joint``; motion = frame difference on the valid span). Choices where the paper is silent
    (each an argument):

    * ``attention="joints"`` (default): SAttn attends over the ``V`` joints of each frame (tokens = joints,
      ``2C`` channels), which keeps the module spatial as the paper describes it (features of single
      frames, "limited number of local frames"); ``"frames"`` attends over the valid frames of each joint
      (padded frames are masked keys; cost ``O(T²)`` per joint).
    * SAttn is ``z + MultiheadAttention(z, z, z)`` with ``num_heads`` heads (1 by default), no positions.
    * MLP is ``Linear(2C -> C)`` + ReLU, applied per joint and frame.
    * ``pooling="mean"`` (default) or ``"max"`` over joints.

    Padded frames give 0 and have no influence; in eval mode a padded batch gives each video what it
    gives alone (the graph convolutions' BatchNorm uses batch statistics of the valid frames in training).

    Args:
        in_channels: ``C_in`` (coordinates per joint, e.g. 3).
        channels: ``C``, output channels of every graph convolution and of the module.
        adjacency: ``(S, V, V)`` stack of :func:`multiscale_adjacency`, shared by the three modalities.
        center_joint: index of the body-centre joint (e.g. 0 = spine base in ``"ntu-25"``, 8 = mid hip in
            ``"openpose-25"`` as DeST's MCFS preprocessing).
        num_heads: attention heads (must divide ``2 * channels``).
        attention: ``"joints"`` or ``"frames"``.
        pooling: ``"mean"`` or ``"max"``.
        dropout: dropout of the graph convolutions (on their support tensor) and of the attention weights.

    Shapes:
        ``forward(x (B, C_in, T, V), mask (B, T) bool or None) -> (B, C, T)``.

    Example:
        >>> a = multiscale_adjacency(skeleton_edges("lara-19"), 19, num_scales=4)
        >>> DSMI(3, 8, a, center_joint=0)(torch.randn(2, 3, 6, 19)).shape
        torch.Size([2, 8, 6])
    """

    def __init__(self, in_channels: int, channels: int, adjacency: Tensor, center_joint: int, num_heads: int = 1,
                 attention: str = "joints", pooling: str = "mean", dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels = channel_count(in_channels, "in_channels")
        self.channels = channel_count(channels, "channels")
        self.num_heads = _checks.size(num_heads, "num_heads", high=MAX_CHANNELS_HEADS)
        if (2 * self.channels) % self.num_heads:
            raise ValueError(f"num_heads: expected a divisor of 2 * channels = {2 * self.channels}, "
                             f"got {self.num_heads}")
        self.attention = _checks.choice(attention, ("joints", "frames"), "attention")
        self.pooling = _checks.choice(pooling, ("mean", "max"), "pooling")
        p = _checks.probability(dropout, "dropout", high_open=True)
        s, v = _adjacency_sizes(adjacency)
        width = 2 * self.channels
        # three graph convolutions, two attentions (packed q/k/v + output projection), two MLPs
        count = (3 * _gcn_parameters(s, v, self.in_channels, self.channels) + 2 * (4 * width * width + 4 * width)
                 + 2 * (width * self.channels + self.channels))
        check_parameter_count(count, "in_channels, channels, adjacency")
        self.abs_gcn = MultiScaleGraphConv(in_channels, channels, adjacency, dropout=p)
        self.num_joints = self.abs_gcn.num_joints
        self.center_joint = _checks.integer(center_joint, "center_joint", low=0, high=self.num_joints - 1)
        self.rel_gcn = MultiScaleGraphConv(in_channels, channels, adjacency, dropout=p)
        self.motion_gcn = MultiScaleGraphConv(in_channels, channels, adjacency, dropout=p)
        self.attn1 = nn.MultiheadAttention(width, self.num_heads, dropout=p, batch_first=True)
        self.attn2 = nn.MultiheadAttention(width, self.num_heads, dropout=p, batch_first=True)
        self.mlp1 = nn.Linear(width, self.channels)
        self.mlp2 = nn.Linear(width, self.channels)

    def _fuse(self, a: Tensor, b: Tensor, attn: nn.MultiheadAttention, mlp: nn.Linear,
              valid: Tensor | None) -> Tensor:
        """``ReLU(mlp(z + attn(z)))`` of ``z = [a ‖ b]`` (channels-last ``(B, T, V, C)`` each)."""
        z = torch.cat([a, b], dim=-1)
        bsz, t, v, c = z.shape
        if self.attention == "joints":
            tokens = z.reshape(bsz * t, v, c)
            z = z + attn(tokens, tokens, tokens, need_weights=False)[0].view(bsz, t, v, c)
        else:
            tokens = z.transpose(1, 2).reshape(bsz * v, t, c)
            # a video without valid frames masks no key (its output is zeroed anyway; all -inf would give NaN)
            pad = None if valid is None else (~valid & valid.any(1, keepdim=True)).repeat_interleave(v, dim=0)
            out = attn(tokens, tokens, tokens, key_padding_mask=pad, need_weights=False)[0]
            z = z + out.view(bsz, v, t, c).transpose(1, 2)
        return F.relu(mlp(z))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        _checks.tensor(x, "x", "(B, C, T, V)", sizes={"C": self.in_channels, "V": self.num_joints},
                       min_sizes={"T": 1})
        _checks.module_tensor(x, "x", self)
        valid = valid_mask(mask, x[..., 0])
        m = float_mask(valid, x)
        absolute, relative, motion = _joint_modalities(x, self.center_joint, m)
        s_abs, s_rel, s_motion = (gcn(v, valid).permute(0, 2, 3, 1) for gcn, v in  # (B, T, V, C)
                                  ((self.abs_gcn, absolute), (self.rel_gcn, relative), (self.motion_gcn, motion)))
        keys = None if m is None else valid
        fused = self._fuse(s_abs, s_rel, self.attn1, self.mlp1, keys)
        fused = self._fuse(fused, s_motion, self.attn2, self.mlp2, keys)
        pooled = fused.mean(dim=2) if self.pooling == "mean" else fused.amax(dim=2)
        out = pooled.transpose(1, 2)  # (B, C, T)
        return out if m is None else out * m
