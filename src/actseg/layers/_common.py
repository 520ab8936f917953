"""Size bounds, input and mask helpers shared by the layers (layout (B, C, T), mask (B, T) bool).

All conversion and validation goes through ``actseg._checks``; this module only fixes the layers' bounds
and layouts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks

# Bounds checked by the constructors before anything is allocated (docs/layers.md, "Sizes"):
# channels of any kind (features, classes, attention channels);
MAX_CHANNELS = 2**16
# dilation of a convolution and block size of an attention window: layer ``l`` of a stage uses ``2**l``,
# so a stage has at most 16 layers; a dilated convolution (or an attention window) reads
# ``T + 2 * dilation`` frames, and ASFormer's window of ``2**l`` frames costs ``2**l x 2**(l+1)`` scores.
MAX_DILATION = 2**15
MAX_LAYERS = 16
# stages / refinements / decoders of one model;
MAX_STAGES = 64
# parameters of one model (4 GiB in float32), estimated from the arguments before any is allocated.
MAX_PARAMETERS = 2**30


def check_parameter_count(count: int, names: str) -> None:
    """ValueError naming ``names`` (the public arguments that set the size) if ``count > MAX_PARAMETERS``."""
    if count > MAX_PARAMETERS:
        raise ValueError(f"{names}: expected a model of at most {MAX_PARAMETERS:,} parameters, got {count:,}")


def feature_input(x: Tensor, module: torch.nn.Module, channels: int, name: str = "x", **sizes: int) -> Tensor:
    """``x`` must be a floating ``(B, channels, T)`` tensor with ``T >= 1`` (meta tensors pass), on the
    device of ``module``'s parameters and, outside autocast, of their dtype; ``sizes`` fixes ``B``/``T``."""
    _checks.tensor(x, name, "(B, C, T)", sizes={"C": channels, **sizes}, min_sizes={"T": 1})
    return _checks.module_tensor(x, name, module)


def valid_mask(mask: Tensor | None, x: Tensor) -> Tensor | None:
    """The ``(B, T)`` bool padding ``mask`` of ``x`` on ``x``'s device, or ``None`` (all valid).

    A mask on the meta device has no values, so it only goes with a meta ``x`` (``TypeError`` otherwise).
    """
    mask = _checks.tensor_mask(mask, x.shape[0], x.shape[2])
    if mask is None:
        return None
    if mask.is_meta and not x.is_meta:
        raise TypeError(f"mask: expected a tensor with values for x on {x.device}, got a meta tensor")
    return mask.to(x.device)


def float_mask(mask: Tensor | None, x: Tensor) -> Tensor | None:
    """A checked ``(B, T)`` bool mask -> ``(B, 1, T)`` mask in ``x``'s dtype; ``None`` for no mask or an
    all-valid one (meta masks are kept: their values are unknown).

    An all-valid mask changes nothing, so it is dropped once here rather than multiplied in every layer.
    That test reads the mask's values, so under ``torch.compile`` it steps aside (:func:`compiling`) and
    the mask is kept: multiplying by ones gives the same numbers without a graph break.
    """
    if mask is None:
        return None
    if not compiling() and _checks.has_values(mask) and bool(mask.all()):
        return None
    return mask.to(dtype=x.dtype).unsqueeze(1)


def compiling() -> bool:
    """True while ``torch.compile`` traces: value-dependent checks and fast paths (:func:`float_mask`,
    :func:`ragged_lengths`) step aside then, shape and dtype checks stay."""
    return torch.compiler.is_compiling()


def apply_mask(x: Tensor, m: Tensor | None) -> Tensor:
    """``x * m`` (broadcast over channels), or ``x`` without a mask."""
    return x if m is None else x * m


def zero_padded(x: Tensor, m: Tensor | None) -> Tensor:
    """``x`` with zeros at padded frames (``m`` as in :func:`apply_mask`): ``where``, not a product, for the
    first features of a stage, which may hold NaN/inf from the caller's padding (``NaN · 0`` is NaN and a
    temporal convolution would carry it into valid frames)."""
    return x if m is None else torch.where(m > 0, x, x.new_zeros(()))


def pointwise(conv: torch.nn.Conv1d, x: Tensor, weight: Tensor | None = None, scale: float = 1.0) -> Tensor:
    """``scale ·`` the 1×1 ``conv`` of ``x`` ``(B, C_in, T)`` (channels first or a transposed view) as one product.

    ``baddbmm`` with the weight broadcast over the batch computes what ``conv`` does and, on the CPU, costs
    0.6–0.9× oneDNN's 1×1 convolution (forward + backward) at the sizes of these layers: an ASFormer block
    has three of them. ``weight`` ``(B, C_out, C_in)`` replaces the module's weight per sample (ASFormer's
    input-channel dropout folded into the weights); ``scale`` multiplies inside the product (no extra pass).
    """
    batch = x.shape[0]
    if weight is None:
        weight = conv.weight.squeeze(-1).expand(batch, -1, -1)
    bias = conv.bias.unsqueeze(-1).expand(batch, -1, 1)
    return torch.baddbmm(bias, weight, x, beta=scale, alpha=scale)


# Kernel-3 convolutions with at least this dilation run as three shifted matrix products on the CPU
# (:func:`dilated_conv`). oneDNN 3.12 switches from its direct kernel to im2col + GEMM between dilation 4 and
# 8 (ONEDNN_VERBOSE on an AVX-512 EPYC); below that its direct kernel is as fast or faster.
SHIFTED_PRODUCTS_MIN_DILATION = 8


def dilated_conv(conv: torch.nn.Conv1d, x: Tensor) -> Tensor:
    """``conv(x)`` for a kernel-3 ``conv`` with padding = dilation = ``d`` (MS-TCN's and ASFormer's layers).

    When a gradient will be computed, on the CPU, with ``d >= SHIFTED_PRODUCTS_MIN_DILATION`` (outside autocast
    and ``torch.compile``) it runs as :class:`_ShiftedConv`: oneDNN takes its im2col path for such dilations,
    and three matrix products accumulating into shifted slices of the output cost 0.75–0.95× of it, forward +
    backward (T = 3000, 64 channels, 2 threads; docs/benchmarks.md). Same numbers up to float rounding.
    Inference keeps oneDNN (forward alone, the two are even: MS-TCN 1.07×, MS-TCN++ 1.03× slower measured).
    """
    d = conv.dilation[0]
    shape_fits = (conv.kernel_size == (3,) and conv.padding == (d,) and conv.stride == (1,) and conv.groups == 1
                  and conv.padding_mode == "zeros" and conv.bias is not None)
    if (not shape_fits or d < SHIFTED_PRODUCTS_MIN_DILATION or x.device.type != "cpu" or compiling()
            or torch.is_autocast_enabled("cpu") or not torch.is_grad_enabled()
            or not (x.requires_grad or conv.weight.requires_grad)):
        return conv(x)
    return _ShiftedConv.apply(x, conv.weight, conv.bias, d)


class _ShiftedConv(torch.autograd.Function):
    r"""Kernel-3 convolution with dilation ``d`` and zero padding ``d`` as shifted matrix products.

    .. math:: y_t = b + W_1 x_t + W_0 x_{t-d} + W_2 x_{t+d}

    (terms outside ``[0, T)`` are zero): ``y = W_1 x + b``, then ``W_0 x[:, :T-d]`` is added into ``y[:, d:]``
    and ``W_2 x[:, d:]`` into ``y[:, :T-d]`` by ``baddbmm_`` on the strided slices, so nothing is padded or
    copied. The backward is the same three products transposed for ``∂x`` and
    ``∂W_k = Σ_t g_t x_{t+(k-1)d}ᵀ`` on the matching slices, ``∂b = Σ g``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, d: int) -> Tensor:
        batch, length = x.shape[0], x.shape[-1]
        w0, w1, w2 = (tap.expand(batch, -1, -1) for tap in weight.permute(2, 0, 1))  # W_k, (B, C_out, C_in)
        y = torch.baddbmm(bias.view(1, -1, 1).expand(batch, -1, 1), w1, x)
        if d < length:
            y[..., d:].baddbmm_(w0, x[..., :length - d])
            y[..., :length - d].baddbmm_(w2, x[..., d:])
        ctx.save_for_backward(x, weight)
        ctx.d = d
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        d, batch, length = ctx.d, x.shape[0], x.shape[-1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            w0, w1, w2 = (tap.expand(batch, -1, -1) for tap in weight.permute(2, 1, 0))  # W_kᵀ, (B, C_in, C_out)
            grad_x = torch.bmm(w1, grad)
            if d < length:
                grad_x[..., :length - d].baddbmm_(w0, grad[..., d:])
                grad_x[..., d:].baddbmm_(w2, grad[..., :length - d])
        if ctx.needs_input_grad[1]:
            centre = torch.bmm(grad, x.transpose(1, 2)).sum(0)
            if d < length:
                left = torch.bmm(grad[..., d:], x[..., :length - d].transpose(1, 2)).sum(0)
                right = torch.bmm(grad[..., :length - d], x[..., d:].transpose(1, 2)).sum(0)
            else:
                left = right = torch.zeros_like(centre)
            grad_w = torch.stack([left, centre, right], dim=-1)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=(0, 2))
        return grad_x, grad_w, grad_b, None


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
    """``nn.Dropout`` with a faster CPU path: the keep mask comes from random bytes instead of ``bernoulli_``.

    Same distribution and scaling as ``nn.Dropout`` (each element kept with probability ``1 − p``,
    kept elements scaled by ``1 / (1 − p)``); on CUDA it is ``nn.Dropout`` itself. On CPU
    ``bernoulli_`` costs about 3× a uniform draw, 15 % of an ASFormer training step. While compiling it
    is ``nn.Dropout`` too (Dynamo does not trace ``random_``; Inductor generates its own draw).
    See :func:`keep_scale` for the draw.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or self.p == 1.0 or compiling():  # Inductor fuses its own draw
            return super().forward(x)
        scale = keep_scale(x, self.p)
        return x.mul_(scale) if self.inplace else x * scale


def keep_scale(x: Tensor, p: float) -> Tensor:
    """The scaled keep mask of :class:`Dropout`: ``1 / (1 − p)`` with probability ``1 − p``, else 0, shaped like ``x``
    and in its dtype (so the product and its backward are one multiplication each; a bool mask would be
    converted in both).

    For ``p = k/256`` (0.5, 0.25, ...) one random byte per element decides exactly; otherwise a uniform float
    (float32 for half-precision inputs, whose own grid of uniforms would keep the wrong fraction).
    The byte stream is kept on purpose: drawing 32 bits per word (one bit per element at ``p = 0.5``) makes
    a mask 0.3 ms faster at (1, 64, 3000) but changes every seeded training run, and the documented results
    of the examples and the demo are reproduced from these draws.
    """
    scale = x.new_empty(x.shape)
    if (p * 256).is_integer():
        torch.ge(torch.empty(x.shape, dtype=torch.uint8, device=x.device).random_(), int(p * 256), out=scale)
    else:
        torch.ge(torch.rand(x.shape, dtype=torch.promote_types(x.dtype, torch.float32), device=x.device), p,
                 out=scale)
    return scale.mul_(1.0 / (1.0 - p))


# On CPU a padded batch costs the work of its padding (about 1/3 more on a typical batch) and buys no
# parallelism that one video at a time does not already get, so compositions run each element of a
# prefix-padded CPU batch at its own length; the outputs are the same (a padded batch gives every
# element what it gives alone) and the padding comes back as zeros. Tests turn this off to exercise
# the padded path.
RAGGED_CPU = True


def ragged_lengths(x: Tensor, mask: Tensor | None) -> list[int] | None:
    """Valid lengths when ``x`` is on the CPU, the checked ``mask`` (:func:`valid_mask`) is a prefix mask and
    lengths differ; else ``None`` (always while compiling: the lengths are data, the graph runs padded)."""
    if not RAGGED_CPU or mask is None or compiling() or x.device.type != "cpu" or x.shape[0] < 2:
        return None
    lengths = mask.sum(dim=1)
    if bool((lengths == x.shape[2]).all()) or not bool((lengths > 0).all()):
        return None
    prefix = torch.arange(x.shape[2], device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
    if not torch.equal(prefix, mask):
        return None
    return lengths.tolist()


def run_ragged(module: torch.nn.Module, x: Tensor, mask: Tensor | None) -> Tensor | None:
    """``module`` on each element at its own length, outputs ``(..., B, C, T)`` zero-padded; ``None`` if
    :func:`ragged_lengths` does not apply (then the caller runs the padded batch). ``mask`` is checked."""
    lengths = ragged_lengths(x, mask)
    if lengths is None:
        return None
    outputs = [module(x[b:b + 1, :, :n]) for b, n in enumerate(lengths)]
    return torch.cat([F.pad(out, (0, x.shape[-1] - out.shape[-1])) for out in outputs], dim=-3)


def channel_count(value: object, name: str) -> int:
    """A channel count (features, classes, attention channels): an integer in ``[1, MAX_CHANNELS]``."""
    return _checks.size(value, name, high=MAX_CHANNELS)


def layer_count(value: object, name: str) -> int:
    """Layers of one stage (layer ``l`` has dilation ``2**l``): an integer in ``[1, MAX_LAYERS]``."""
    return _checks.size(value, name, high=MAX_LAYERS)


def stage_count(value: object, name: str, low: int = 1) -> int:
    """Stages, refinements or decoders of one model: an integer in ``[low, MAX_STAGES]``."""
    return _checks.size(value, name, low=low, high=MAX_STAGES)


def dilation_size(value: object, name: str) -> int:
    """A dilation or an attention block size: an integer in ``[1, MAX_DILATION]``."""
    return _checks.size(value, name, high=MAX_DILATION)


def conv_parameters(c_in: int, c_out: int, kernel: int = 1) -> int:
    """Parameters of ``nn.Conv1d(c_in, c_out, kernel)`` (weight and bias)."""
    return c_in * c_out * kernel + c_out


def model_input(module: torch.nn.Module, x: Tensor, mask: Tensor | None,
                channels: int) -> tuple[Tensor | None, Tensor | None]:
    """Check a composition's ``x`` ``(B, channels, T)`` and ``mask``; returns ``(ragged, m)``: the outputs of the
    ragged CPU path (:func:`run_ragged`) or ``None``, and the ``(B, 1, T)`` float mask for the padded path."""
    feature_input(x, module, channels)
    mask = valid_mask(mask, x)
    ragged = run_ragged(module, x, mask)
    return ragged, None if ragged is not None else float_mask(mask, x)
