"""2D-skeleton joint and limb heatmaps (2D-skeleton heatmaps paper §III-A, Eq. (1)–(2); PoseC3D).

Reference: "2D skeleton heatmaps for action segmentation" (skeleton-heatmaps-fusion), §III-A, which
follows Duan et al., "Revisiting Skeleton-based Action Recognition" (PoseC3D, CVPR 2022;
``GeneratePoseTarget`` in mmaction2) for the pseudo-heatmaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .._checks import (
    as_tensor,
    choice,
    elements,
    flag,
    index_pairs,
    sizes,
    tensor,
    torch_dtype,
    values_in_range,
)
from .._checks import size as count
from ._common import EXP_FLOOR, flushed_exp, mask_tensor, positive, two_variance

__all__ = ["skeleton_heatmaps"]

KINDS = ("joints", "limbs", "both")
COORDINATES = ("pixels", "normalized", "video_box")
REDUCTIONS = ("sum", "max")
MAX_REPEAT = 64
_CHUNK_ELEMENTS = 2**20  # elements of one (frames × channels × H × W) block of intermediates (CPU; 16× on GPUs)


def skeleton_heatmaps(
    keypoints: Any,
    confidence: Any = None,
    *,
    size: tuple[int, int] = (56, 56),
    sigma: float = 0.6,
    limbs: Sequence[tuple[int, int]] | None = None,
    kind: str | None = None,
    coordinates: str = "pixels",
    mask: Any = None,
    reduce: str | None = None,
    flatten: bool = False,
    repeat: int = 1,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Render 2D poses into joint and limb heatmaps (2D-skeleton heatmaps, §III-A, Eq. (1)–(2)).

    For a frame with joints ``(x_k, y_k)`` and confidences ``c_k``, at pixel ``(x, y)``:

    .. math::
        h^J_k(x, y) = c_k\, e^{-\frac{(x - x_k)^2 + (y - y_k)^2}{2\sigma^2}},\qquad
        h^L_l(x, y) = \min(c_{a_l}, c_{b_l})\, e^{-\frac{d((x, y),\, [a_l, b_l])^2}{2\sigma^2}}

    with ``σ = 0.6`` (the paper) and ``d`` the Euclidean distance to the segment between joints
    ``a_l`` and ``b_l`` of limb ``l``.

    **The paper's input pipeline** (§III-A: crop to the smallest box holding every skeleton of the
    video, sum the joint and limb maps, resize to 56 × 56, replicate to 3 channels for an ImageNet
    CNN) is the argument set ``limbs=<the skeleton's limbs>, coordinates="video_box", reduce="sum",
    repeat=3`` with the defaults ``size=(56, 56), sigma=0.6`` (``kind`` is then ``"both"``): it
    returns ``(B, T, 3, 56, 56)``. The defaults of the other arguments (``coordinates="pixels"``,
    ``reduce=None``, ``repeat=1``) give PoseC3D's per-joint/per-limb maps instead.

    Convention (choices where the paper is silent or differs from PoseC3D):
        - Limb: the paper's Eq. (2) writes ``dist`` without a square; PoseC3D's code, which the
          paper follows, uses the *squared* distance (``exp(−d2_seg / 2σ²)``), as here, so a limb
          through a joint has the joint's profile across it. A zero-length limb is a joint map.
        - Full Gaussians (PoseC3D cuts them to a ``±3σ`` box, values below ``exp(−4.5)``); one
          person per frame (PoseC3D's max over persons is not needed).
        - Missing keypoints render nothing: confidence 0 or NaN, or a NaN/inf coordinate, gives a
          zero joint map and zero maps for every limb that touches the joint (as does a limb so long
          that its squared length overflows, about 1e19 pixels in float32). Frames with ``mask``
          False render nothing (padding). Confidences must lie in ``[0, 1]`` (or be NaN), so every
          value lies in ``[0, 1]`` (``reduce="sum"`` excepted) and equals ``c_k`` exactly at an
          integer keypoint.
        - ``coordinates="pixels"``: ``(x, y)`` in heatmap pixels, the centre of pixel ``[.., i, j]``
          (row ``i``, column ``j``) at ``x = j, y = i`` (PoseC3D). ``"normalized"``: ``x, y ∈ [0, 1]``
          mapped to ``x · (W − 1), y · (H − 1)`` (0 and 1 on the first and last pixel centres).
          ``"video_box"``: the paper's crop — the smallest box holding every visible keypoint of the
          video (valid frames) is stretched onto the whole ``H × W`` grid, per video, x and y
          independently (as the paper resizes the crop to 56 × 56); a box of zero width or height
          puts the keypoints on the middle column or row.
        - ``reduce="sum"`` sums all channels into one map (the paper sums the joint and limb maps
          before its ImageNet CNN; values may exceed 1); ``"max"`` takes their maximum.
        - Vectorised over batch, frames, joints and pixels; frames are processed in blocks of about
          ``2**20`` intermediate elements (``2**24`` on a GPU) to bound memory (not a per-frame
          loop). Tiny values are flushed to 0 (subnormal arithmetic is 50–250× slower on x86): a
          joint map where one of its axis factors falls below ``exp(−43.5) ≈ 1.3e-19``, a limb map
          below ``exp(−87)``.

    Args:
        keypoints: ``(B, T, V, 2)`` floating ``(x, y)`` (tensor or numpy array).
        confidence: ``(B, T, V)`` floating in ``[0, 1]`` or NaN, or ``None`` (all 1).
        size: ``(H, W)`` of the heatmaps (the paper: 56 × 56).
        sigma: standard deviation in heatmap pixels (> 0).
        limbs: ``(i, j)`` joint pairs, e.g. the COCO skeleton; required for limb maps.
        kind: ``"joints"`` (``V`` maps), ``"limbs"`` (``L`` maps), ``"both"`` (joints then limbs);
            ``None``: ``"both"`` when ``limbs`` is given, else ``"joints"``.
        coordinates: ``"pixels"``, ``"normalized"`` or ``"video_box"`` (see above).
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        reduce: ``None``, ``"sum"`` or ``"max"`` over the channels (then ``C = 1``).
        flatten: return ``(B, C·H·W, T)`` (index ``c·H·W + i·W + j``), the ``(B, C, T)`` input of a
            temporal convolutional network, instead of ``(B, T, C, H, W)``.
        repeat: stack this many copies of the ``C`` maps along the channel axis (``1 <= repeat <= 64``;
            the paper replicates its summed map to ``repeat=3`` channels for an ImageNet CNN).
        dtype: output dtype (float32; float64 computes in float64).

    Returns:
        ``(B, T, C, H, W)`` with ``C = V``, ``L``, ``V + L`` (or 1 with ``reduce``), times
        ``repeat``, or ``(B, C·H·W, T)`` with ``flatten=True``, on ``keypoints``' device. Inputs that
        require grad are read through ``detach()``: the maps are targets/inputs, not differentiable.

    Raises:
        ValueError: wrong shapes, a confidence outside ``[0, 1]``, a limb index outside ``[0, V)``,
            limb maps without ``limbs``, a non-positive ``sigma``, an unknown option.
        TypeError: non-floating keypoints/confidence, a mask that is not bool, a meta tensor.

    Example:
        >>> kp = torch.tensor([[[[1.0, 1.0], [3.0, 1.0]]]])  # B = T = 1, two joints
        >>> h = skeleton_heatmaps(kp, size=(3, 5), limbs=[(0, 1)])
        >>> h.shape
        torch.Size([1, 1, 3, 3, 5])
        >>> [round(v, 3) for v in h[0, 0, 2, 1].tolist()]  # the limb map on the row y = 1
        [0.249, 1.0, 1.0, 1.0, 0.249]
        >>> paper = skeleton_heatmaps(kp, limbs=[(0, 1)], coordinates="video_box", reduce="sum", repeat=3)
        >>> paper.shape  # the paper's (B, T, 3, 56, 56) image-like input
        torch.Size([1, 1, 3, 56, 56])

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
        ``repeat=`` (the paper's 3-channel replication); inputs that require grad are accepted.
    """
    kp = as_tensor(keypoints, "keypoints")  # detached: targets carry no gradient
    tensor(kp, "keypoints", "(B, T, V, XY)", sizes={"XY": 2})
    batch, length, joints, _ = kp.shape
    device = kp.device
    height, width = sizes(size, "size")
    sigma = positive(sigma, "sigma")
    coordinates = choice(coordinates, COORDINATES, "coordinates")
    if reduce is not None:
        reduce = choice(reduce, REDUCTIONS, "reduce")
    dtype = torch_dtype(dtype, "dtype", floating=True)
    flatten = flag(flatten, "flatten")
    repeat = count(repeat, "repeat", high=MAX_REPEAT)
    pairs = None if limbs is None else torch.as_tensor(index_pairs(limbs, "limbs", joints), device=device)
    maps = (joints if kind in (None, "joints", "both") else 0) + (0 if pairs is None else pairs.shape[0])
    elements(batch * length * max(maps, 1) * repeat * height * width, "size", "B·T·C·H·W")
    if kind is None:
        kind = "both" if pairs is not None and pairs.shape[0] else "joints"
    kind = choice(kind, KINDS, "kind")
    if kind == "joints":
        pairs = None
    elif pairs is None or pairs.shape[0] == 0:
        raise ValueError(f"limbs: expected at least one (i, j) joint pair for kind={kind!r}, got {limbs!r}")
    work = torch.float64 if dtype == torch.float64 else torch.float32
    x = kp[..., 0].to(work)
    y = kp[..., 1].to(work)
    if confidence is None:
        conf = torch.ones(batch, length, joints, dtype=work, device=device)
    else:
        conf = as_tensor(confidence, "confidence")
        tensor(conf, "confidence", "(B, T, V)", sizes={"B": batch, "T": length, "V": joints})
        conf = conf.to(device=device, dtype=work)
        values_in_range(conf, "confidence", low=0, high=1, allow_nan=True)
    visible = torch.isfinite(x) & torch.isfinite(y) & (conf > 0)  # NaN > 0 is False
    mask = mask_tensor(mask, batch, length, device)
    if mask is not None:
        visible = visible & mask.unsqueeze(2)
    zero = x.new_zeros(())
    conf = torch.where(visible, conf, zero)
    x = torch.where(visible, x, zero)
    y = torch.where(visible, y, zero)
    if coordinates == "normalized":
        x, y = x * (width - 1), y * (height - 1)
    elif coordinates == "video_box":
        x = _stretch(x, visible, width)
        y = _stretch(y, visible, height)

    channels = (joints if kind != "limbs" else 0) + (pairs.shape[0] if pairs is not None else 0)
    out_channels = 1 if reduce is not None else channels
    rows = batch * length
    out = torch.zeros(rows, out_channels, height, width, dtype=dtype, device=device)
    x, y, conf = x.reshape(rows, joints), y.reshape(rows, joints), conf.reshape(rows, joints)
    px = torch.arange(width, dtype=work, device=device)
    py = torch.arange(height, dtype=work, device=device)
    two_var = two_variance(sigma, work)
    budget = _CHUNK_ELEMENTS if device.type == "cpu" else 16 * _CHUNK_ELEMENTS  # GPUs: fewer, larger launches
    step = max(1, budget // max(1, channels * height * width))
    direct = reduce is None and dtype == work
    first_limb = joints if kind != "limbs" else 0
    for r0 in range(0, rows, step):  # blocks of frames, to bound the memory of the intermediates
        r1 = min(rows, r0 + step)
        cx, cy, cc = x[r0:r1], y[r0:r1], conf[r0:r1]
        block = out[r0:r1] if direct else torch.empty(r1 - r0, channels, height, width, dtype=work, device=device)
        if kind != "limbs":
            _joint_maps(cx, cy, cc, px, py, two_var, block[:, :joints])
        if pairs is not None:
            _limb_maps(cx, cy, cc, pairs, px, py, two_var, block[:, first_limb:])
        if reduce == "sum":
            out[r0:r1] = block.sum(dim=1, keepdim=True)
        elif reduce == "max":
            out[r0:r1] = block.amax(dim=1, keepdim=True)
        elif not direct:
            out[r0:r1] = block
    out = out.view(batch, length, out_channels, height, width)
    if repeat > 1:
        out = out.repeat(1, 1, repeat, 1, 1)
        out_channels *= repeat
    if flatten:
        return out.permute(0, 2, 3, 4, 1).reshape(batch, out_channels * height * width, length)
    return out


def _stretch(v: Tensor, visible: Tensor, cells: int) -> Tensor:
    """Map each video's visible range of ``v`` ``(B, T, V)`` onto ``[0, cells − 1]``."""
    inf = torch.tensor(float("inf"), dtype=v.dtype, device=v.device)
    low = torch.where(visible, v, inf).amin(dim=(1, 2), keepdim=True)
    high = torch.where(visible, v, -inf).amax(dim=(1, 2), keepdim=True)
    extent = high - low
    flat = extent > 0
    scaled = (v - low) / torch.where(flat, extent, torch.ones_like(extent)) * (cells - 1)
    scaled = torch.where(flat, scaled, v.new_full((), (cells - 1) / 2))
    return torch.where(visible, scaled, v.new_zeros(()))


def _joint_maps(x: Tensor, y: Tensor, conf: Tensor, px: Tensor, py: Tensor, two_var: float, out: Tensor) -> None:
    """Write ``(r, V, H, W)`` joint maps ``c · exp(−dy²/2σ²) · exp(−dx²/2σ²)`` (an outer product) into ``out``.

    Each factor is flushed to 0 below ``exp(EXP_FLOOR / 2)`` (1.3e-19 in float32), so the product is
    0 or a normal number: no subnormal arithmetic.
    """
    half = EXP_FLOOR[x.dtype] / 2
    gx = flushed_exp(-(px - x.unsqueeze(-1)).square() / two_var, half)  # (r, V, W)
    ay = -(py - y.unsqueeze(-1)).square() / two_var  # (r, V, H)
    positive = conf > 0
    bound = (half - torch.log(torch.where(positive, conf, torch.ones_like(conf)))).unsqueeze(-1)  # c·e^ay > e^half
    gy = torch.where((ay > bound) & positive.unsqueeze(-1), torch.exp(torch.maximum(ay, bound)) * conf.unsqueeze(-1), 0)
    torch.mul(gy.unsqueeze(-1), gx.unsqueeze(-2), out=out)


def _limb_maps(
    x: Tensor, y: Tensor, conf: Tensor, pairs: Tensor, px: Tensor, py: Tensor, two_var: float, out: Tensor
) -> None:
    """Write ``(r, L, H, W)`` limb maps ``min(c_a, c_b) · exp(−d²/2σ²)`` into ``out`` (``d``: distance to ``ab``).

    In-place arithmetic on two full-size buffers (the allocations dominate otherwise); values below
    ``exp(EXP_FLOOR)`` are 0 (no subnormal arithmetic).
    """
    ax, ay = x[:, pairs[:, 0]], y[:, pairs[:, 0]]
    vx, vy = x[:, pairs[:, 1]] - ax, y[:, pairs[:, 1]] - ay
    value = torch.minimum(conf[:, pairs[:, 0]], conf[:, pairs[:, 1]])[..., None, None]
    dx = px.view(1, 1, 1, -1) - ax[..., None, None]  # (r, L, 1, W)
    dy = py.view(1, 1, -1, 1) - ay[..., None, None]  # (r, L, H, 1)
    vx, vy = vx[..., None, None], vy[..., None, None]
    length2 = vx * vx + vy * vy
    # |ab|² overflows for coordinates beyond ~1e19 (float32): such a limb renders nothing (inf / inf would
    # give NaN), drawn as a zero-length limb of confidence 0
    finite = torch.isfinite(length2)
    zero = length2.new_zeros(())
    vx, vy, value = torch.where(finite, vx, zero), torch.where(finite, vy, zero), torch.where(finite, value, zero)
    length2 = torch.where(length2 > 0, length2, torch.ones_like(length2))  # zero length: t = 0 / 1 = 0
    along = dx * vx + dy * vy  # (r, L, H, W): projection of (p − a) on ab, times |ab|²
    along.div_(length2).clamp_(0.0, 1.0)
    ex = torch.mul(along, vx).neg_().add_(dx)  # p − a − t (b − a)
    ey = along.mul_(vy).neg_().add_(dy)
    arg = ex.square_().add_(ey.square_()).mul_(-1.0 / two_var)  # −d² / 2σ²
    # v · e^arg is kept where it is >= e^floor: arg > floor − log v (v = 0: nothing is kept)
    bound = EXP_FLOOR[x.dtype] - torch.log(torch.where(value > 0, value, torch.ones_like(value)))
    keep = torch.gt(arg, bound, out=ey.new_empty(ey.shape, dtype=torch.bool)) & (value > 0)
    arg.clamp_(min=bound).exp_().mul_(value)
    torch.mul(arg, keep, out=out)
