"""Windowed (local) self-attention of ASFormer, batched and masked, without a per-block Python loop.

Reference: Yi, Wen & Jiang, "ASFormer: Transformer for Action Segmentation", BMVC 2021, §3.1 (local
connectivity inductive bias: hierarchical representation pattern with windows of size 2^i); official
code ChinaYi/ASFormer@e1bbe4f ``model.py`` (``AttLayer``, ``AttentionHelper.scalar_dot_att``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import (
    apply_mask,
    channel_count,
    check_parameter_count,
    conv_parameters,
    dilation_size,
    feature_input,
    float_mask,
    pointwise,
    valid_mask,
    zero_padded,
)

__all__ = ["WINDOWS", "WindowedAttention"]

WINDOWS = ("block_halo", "sliding", "block", "full")


class WindowedAttention(nn.Module):
    r"""ASFormer's attention layer: 1×1 projections, scaled dot-product attention inside windows, 1×1 output.

    .. math::
        A = \mathrm{softmax}_k\Bigl(\frac{q^\top k}{\sqrt{c}} + \log(P + 10^{-6})\Bigr) \odot P,\qquad
        \mathrm{out} = W_o * \mathrm{ReLU}(v A^\top),\qquad y = \mathrm{out} \odot m

    with ``q = W_q * x``, ``k = W_k * x`` (``c = channels / qk_reduction`` channels) and
    ``v = W_v * value`` (``value_channels / v_reduction`` channels); ``P`` is 1 for a key that is
    inside the query's window and valid, 0 otherwise. As in the official code the masked keys keep a
    ``10^{-6}`` weight in the softmax denominator and the weights are not renormalised after ``⊙ P``
    (matching the released checkpoints to 1e-5 needs this; ``-inf`` differs by up to 3.7e-4).

    Windows (``bl = block_size``; ``block_size`` is the dilation ``2^i`` of the layer in ASFormer):

    - ``"block_halo"`` — the official ``sliding_att`` that every released checkpoint was trained with:
      queries in blocks of ``bl`` frames; every query of block ``j`` sees the keys
      ``[j·bl − bl//2, j·bl − bl//2 + 2·bl − 1)`` (the block plus ``bl//2`` frames each side, one fewer
      on the right for even ``bl``). The remaining key of the gathered window (even ``bl``) and keys
      outside the video stay in the denominator with the ``10^{-6}`` weight, as in the reference.
    - ``"sliding"`` — the correction in the ASFormer README: query ``p`` sees ``[p − bl//2, p − bl//2 + bl)``
      (the other keys of its block's gathered window keep the ``10^{-6}`` weight, as in the corrected code).
    - ``"block"`` — non-overlapping blocks of ``bl`` frames (the reference's ``block_att``, which
      only runs with ``v_reduction=1`` there).
    - ``"full"`` — every valid frame (the reference's ``normal_att``). Here padded keys are left out
      entirely (the reference keeps them at weight ``10^{-6}``, so its padded batches differ from its
      per-video runs; with the fixed-size windows above that weight is the same in both, and kept).

    Implementation: key and value windows are strided views (``unfold``) of the projected sequence,
    all blocks of all batch elements go through one fused ``scaled_dot_product_attention`` call with
    an additive per-key bias, and the constant window mask is never repeated per block. On the CPU
    (outside autocast) ``"block_halo"``/``"block"`` windows of up to 128 frames use batched products
    with explicit weights and a hand-written backward instead (same numbers, faster to train there). The
    ``"sliding"`` window needs a per-query mask and computes the scores explicitly. Only ``"sliding"``
    has a double backward (``create_graph=True``, e.g. gradient penalties); the other windows raise there.

    Args:
        channels: channels of ``x`` (queries and keys).
        value_channels: channels of ``value`` and of the output (default ``channels``).
        qk_reduction: ``r1``; query/key channels are ``channels // qk_reduction``.
        v_reduction: ``r2``; value channels are ``value_channels // v_reduction``.
        block_size: ``bl`` (ignored by ``"full"``).
        window: one of ``WINDOWS``.

    Shape:
        ``x`` ``(B, C, T)``; ``mask`` ``(B, T)`` bool or ``None``; ``value`` ``(B, C_v, T)`` or ``None``
        (= ``x``, the encoder case) → ``(B, C_v, T)``, zero at padded frames. Padded keys get no
        weight at all, so a padded batch gives every element what it gives alone.

    Example:
        >>> att = WindowedAttention(64, block_size=8)
        >>> att(torch.randn(2, 64, 100), torch.ones(2, 100, dtype=torch.bool)).shape
        torch.Size([2, 64, 100])
    """

    def __init__(self, channels: int, value_channels: int | None = None, qk_reduction: int = 2, v_reduction: int = 2,
                 block_size: int = 1, window: str = "block_halo") -> None:
        super().__init__()
        self.channels = channels = channel_count(channels, "channels")
        value_channels = channels if value_channels is None else value_channels
        self.value_channels = value_channels = channel_count(value_channels, "value_channels")
        qk_reduction = _checks.size(qk_reduction, "qk_reduction", high=channels)
        v_reduction = _checks.size(v_reduction, "v_reduction", high=value_channels)
        self.block_size = dilation_size(block_size, "block_size")
        self.window = _checks.choice(window, WINDOWS, "window")
        check_parameter_count(attention_parameters(channels, value_channels, qk_reduction, v_reduction),
                              "channels, value_channels")
        self.query_conv = nn.Conv1d(channels, channels // qk_reduction, 1)
        self.key_conv = nn.Conv1d(channels, channels // qk_reduction, 1)
        self.value_conv = nn.Conv1d(value_channels, value_channels // v_reduction, 1)
        self.conv_out = nn.Conv1d(value_channels // v_reduction, value_channels, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None, value: Tensor | None = None) -> Tensor:
        feature_input(x, self, self.channels)
        if value is None:
            if self.value_channels != self.channels:
                raise ValueError(f"value: expected a (B, {self.value_channels}, T) tensor (required when "
                                 f"value_channels != channels = {self.channels}), got None")
            value = x
        else:
            feature_input(value, self, self.value_channels, "value", B=x.shape[0], T=x.shape[2])
        m = float_mask(valid_mask(mask, x), x)
        # compositions call _forward on features already zero at padded frames; here they may hold NaN
        padded_x = zero_padded(x, m)
        return self._forward(padded_x, m, padded_x if value is x else zero_padded(value, m))

    def _forward(self, x: Tensor, m: Tensor | None, value: Tensor, scale: float = 1.0) -> Tensor:
        """The layer times ``scale`` (ASFormer's ``α``, applied inside the output product)."""
        q, k, v = self._project(x, value)
        valid = None if m is None else m.transpose(1, 2)                   # (B, T, 1)
        if valid is not None:
            # Zero keys at padded frames: a video alone sees zeros there (the window padding), so the
            # 1e-6 weight that masked keys keep in the denominator is the same in a padded batch.
            k = k * valid
        out = windowed_attention(q, k, v, valid, self.block_size, self.window)
        # A channels-first copy (always a new tensor, so the in-place ReLU cannot touch a saved output):
        # the ReLU's backward is then a contiguous pass too.
        out = out.transpose(1, 2).clone(memory_format=torch.contiguous_format)
        return apply_mask(pointwise(self.conv_out, F.relu(out, inplace=True), scale=scale), m)

    def _project(self, x: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys, values ``(B, T, c)`` from one matrix product where they share an input."""
        convs = [self.query_conv, self.key_conv] + ([self.value_conv] if value is x else [])
        weight = torch.cat([conv.weight.squeeze(-1) for conv in convs])
        bias = torch.cat([conv.bias for conv in convs])
        # split, not slicing: the gradients of the parts come back as one concatenation
        parts = F.linear(x.transpose(1, 2), weight, bias).split([conv.out_channels for conv in convs], dim=-1)
        if value is x:
            return parts
        q, k = parts
        return q, k, F.linear(value.transpose(1, 2), self.value_conv.weight.squeeze(-1), self.value_conv.bias)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, value_channels={self.value_channels}, "
                f"block_size={self.block_size}, window={self.window!r}")


def attention_parameters(channels: int, value_channels: int, qk_reduction: int, v_reduction: int) -> int:
    """Parameters of :class:`WindowedAttention` (four 1×1 convolutions)."""
    c, c_v = channels // qk_reduction, value_channels // v_reduction
    return (2 * conv_parameters(channels, c) + conv_parameters(value_channels, c_v)
            + conv_parameters(c_v, value_channels))


def _log_bias(keep: Tensor) -> Tensor:
    """``log(keep + 1e-6)`` for a 0/1 float tensor, the additive mask of the reference."""
    return torch.log(keep + 1e-6)


def windowed_attention(q: Tensor, k: Tensor, v: Tensor, valid: Tensor | None, block_size: int,
                       window: str) -> Tensor:
    """The attention core on projected ``q``, ``k`` ``(B, T, c)``, ``v`` ``(B, T, c_v)`` (channels last).

    ``valid``: ``(B, T, 1)`` 0/1 float mask or ``None`` (all valid); keys must already be zero where
    it is 0. Returns ``(B, T, c_v)`` (before the output projection).
    """
    batch, length, c = q.shape
    scale = 1.0 / math.sqrt(c)
    masked = valid
    if valid is None:
        valid = q.new_ones(batch, length, 1)
    if window == "full":
        keep = valid.transpose(1, 2).unsqueeze(1)                         # (B, 1, 1, T)
        return _fused(q.unsqueeze(1), k.unsqueeze(1), (v * valid).unsqueeze(1), keep, scale, True).squeeze(1)
    bl = block_size
    nb = -(-length // bl)
    pad_q = nb * bl - length
    halo = 0 if window == "block" else bl // 2
    width = bl + 2 * halo
    q_blocks = F.pad(q, (0, 0, 0, pad_q)).view(batch, nb, bl, c)
    keep = _windows(F.pad(valid, (0, 0, halo, pad_q + halo)), width, bl).transpose(-1, -2)  # (B, nb, 1, W)
    if window == "block_halo" and bl % 2 == 0:
        keep = keep.clone()
        keep[..., -1] = 0  # the official window mask covers columns 0 .. 2·bl − 2 only
    if window != "sliding" and bl <= SAVED_WEIGHTS_MAX_BLOCK and _explicit_weights(q):
        # the official mask drops the last key of an even block's window: it only enters the denominator
        used = width - 1 if window == "block_halo" and bl % 2 == 0 else width
        out = _BlockAttention.apply(q_blocks, k, v if masked is None else v * masked, keep, halo, used, scale)
        return out.reshape(batch, nb * bl, v.shape[-1])[:, :length]  # not -1: batch may be 0
    k_win = _windows(F.pad(k, (0, 0, halo, pad_q + halo)), width, bl)    # (B, nb, W, c), strided view
    v_win = _windows(F.pad(v, (0, 0, halo, pad_q + halo)), width, bl)    # (B, nb, W, c_v)
    if window == "sliding":
        _checks.elements(batch * nb * bl * width, "block_size", "B·blocks·block_size·2·block_size (sliding scores)")
        out = _explicit_band(q_blocks, k_win, v_win, keep, bl, scale)
    else:
        out = _fused(q_blocks, k_win, v_win * keep.transpose(-1, -2), keep, scale)
    return out.reshape(batch, nb * bl, v.shape[-1])[:, :length]


def _explicit_weights(q: Tensor) -> bool:
    """Whether :class:`_BlockAttention` serves ``q``: on the CPU outside autocast (on CUDA the fused kernel wins at
    every window size, and the hand-written backward assumes one dtype throughout)."""
    return q.device.type == "cpu" and not torch.is_autocast_enabled("cpu")


# CPU windows of up to this block size (``2·bl`` keys) go through :class:`_BlockAttention`, which keeps the
# attention weights for its backward (``T · 2·bl`` floats: 3 MiB at T = 3000, bl = 128; 6 MiB for all ten
# layers of an ASFormer stage); larger ones through the fused kernel, whose backward recomputes them and is
# about as fast there (docs/benchmarks.md, ASFormer training step).
SAVED_WEIGHTS_MAX_BLOCK = 128


class _BlockAttention(torch.autograd.Function):
    """Block-window attention with explicit weights and a hand-written backward (``"block_halo"``/``"block"``).

    With ``S = s · Q_j K_jᵀ + log(keep_j + 1e-6)`` and ``P = softmax(S)`` for every block ``j`` at once
    (batched products over strided key/value windows, never copied), ``O_j = P[:, :u] V_j[:u]``: the values
    come in zero at padded frames and the ``W − u`` last keys of a window (the official mask's unused
    column) are left out of the product, which is ``P ⊙ keep`` applied to the values without a masked copy
    of either. Backward from the saved ``P``: ``dV_j = P[:, :u]ᵀ dO_j``, ``dS = P ⊙ (dP − rowsum(dO_j ⊙ O_j))``
    with ``dP = dO_j V_jᵀ`` (0 on the unused columns), ``dQ_j = s · dS K_j``, ``dK_j = s · dSᵀ Q_j``; the
    overlapping window gradients go back into the sequence with two block-aligned slices (:func:`_fold`)
    instead of ``unfold``'s generic backward. Same numbers as the fused kernel (float64 to 1e-12).

    Inputs: ``q_blocks`` ``(B, nb, bl, c)`` (zero-padded queries), ``k`` ``(B, T, c)``, ``v`` ``(B, T, c_v)``
    (unpadded, channels last, ``v`` already zero at padded frames), ``keep`` ``(B, nb, 1, W)`` 0/1 float with
    ``W = bl + 2·halo``, ``used`` = ``u``. Output ``(B, nb, bl, c_v)``.
    """

    @staticmethod
    def forward(ctx, q_blocks: Tensor, k: Tensor, v: Tensor, keep: Tensor, halo: int, used: int,
                scale: float) -> Tensor:
        batch, nb, bl, c = q_blocks.shape
        length = k.shape[1]
        width = keep.shape[-1]
        pad = (0, 0, halo, nb * bl - length + halo)
        k_win = F.pad(k, pad).unfold(1, width, bl)                              # (B, nb, c, W), a view
        v_win = F.pad(v, pad).unfold(1, width, bl).transpose(-1, -2)            # (B, nb, W, c_v), a view
        bias = _log_bias(keep).reshape(batch * nb, 1, width)                    # broadcast over the queries
        scores = torch.baddbmm(bias, q_blocks.reshape(batch * nb, bl, c), k_win.reshape(batch * nb, c, width),
                               alpha=scale)
        weights = torch.softmax(scores, dim=-1).view(batch, nb, bl, width)
        del scores
        out = torch.matmul(weights[..., :used], v_win[:, :, :used])            # (B, nb, bl, c_v)
        ctx.halo, ctx.scale, ctx.length, ctx.used = halo, scale, length, used
        ctx.save_for_backward(q_blocks, k_win, v_win, weights, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph=True; once_differentiable would drop these terms silently
            raise RuntimeError(
                "WindowedAttention: no double backward (create_graph=True) through the CPU block-window "
                "attention (block_size <= 128; its saved weights carry no graph), as through PyTorch's fused "
                "attention for larger blocks; window='sliding' has one")
        q_blocks, k_win, v_win, weights, out = ctx.saved_tensors
        halo, scale, length, used = ctx.halo, ctx.scale, ctx.length, ctx.used
        bl, width = q_blocks.shape[2], weights.shape[-1]
        grad = grad.contiguous()
        grad_q = grad_k = grad_v = None
        if ctx.needs_input_grad[2]:
            # dV = Pᵀ dO: for windows of 1–2 queries a sum of outer products beats a batched product of K ≤ 2
            kept = weights[..., :used]
            grad_v_win = (_outer_sum(kept, grad) if bl <= 2
                          else torch.matmul(_small_contiguous(kept.transpose(-1, -2), bl), grad))
            grad_v = _fold(grad_v_win, bl, halo, length)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            grad_s = torch.matmul(grad, v_win.transpose(-1, -2))                # dP over the whole window
            if used < width:
                grad_s[..., used:] = 0                                          # columns without a value
            grad_s.sub_((grad * out).sum(dim=-1, keepdim=True)).mul_(weights)  # dS = P ⊙ (dP − rowsum(P ⊙ dP))
            if ctx.needs_input_grad[0]:
                grad_q = torch.matmul(grad_s, k_win.transpose(-1, -2)).mul_(scale)
            if ctx.needs_input_grad[1]:
                grad_k_win = (_outer_sum(grad_s, q_blocks) if bl <= 2
                              else torch.matmul(_small_contiguous(grad_s.transpose(-1, -2), bl), q_blocks))
                grad_k = _fold(grad_k_win.mul_(scale), bl, halo, length)
        return grad_q, grad_k, grad_v, None, None, None, None


def _small_contiguous(x: Tensor, bl: int) -> Tensor:
    """A transposed operand of tiny blocks made contiguous (batched products of small transposed blocks are slow)."""
    return x.contiguous() if bl <= 8 else x


def _outer_sum(a: Tensor, b: Tensor) -> Tensor:
    """``aᵀ b`` over the block axis for ``a`` ``(B, nb, bl, W)``, ``b`` ``(B, nb, bl, c)`` as ``bl`` outer products."""
    total = a[:, :, 0, :, None] * b[:, :, 0, None, :]
    for i in range(1, a.shape[2]):
        total.addcmul_(a[:, :, i, :, None], b[:, :, i, None, :])
    return total


def _fold(grad_win: Tensor, bl: int, halo: int, length: int) -> Tensor:
    """Gradients of the windows ``(B, nb, W, c)`` (window ``j`` starts at padded frame ``j·bl``, ``W ≤ 2·bl``)
    -> gradient ``(B, length, c)`` of the unpadded sequence (the adjoint of padding by ``halo`` and ``unfold``)."""
    batch, nb, width, c = grad_win.shape
    full = grad_win.new_empty(batch, nb + 1, bl, c)
    full[:, :nb] = grad_win[:, :, :bl]
    full[:, nb].zero_()
    if width > bl:
        full[:, 1:, :width - bl] += grad_win[:, :, bl:]
    return full.view(batch, (nb + 1) * bl, c)[:, halo:halo + length]


def _windows(x: Tensor, width: int, step: int) -> Tensor:
    """``(B, L, c)`` -> ``(B, n, width, c)`` windows starting every ``step`` frames (a view)."""
    return x.unfold(1, width, step).transpose(-1, -2)


def _fused(q: Tensor, k: Tensor, v: Tensor, keep: Tensor, scale: float, exclude_masked: bool = False) -> Tensor:
    """Attention of ``q`` ``(B, N, L, c)`` over ``k``/``v`` ``(B, N, S, c*)`` with a 0/1 ``keep`` ``(B, N, 1, S)``.

    ``softmax(s + log(keep + 1e-6)) ⊙ keep`` applied to ``v`` equals the softmax (with the bias) applied
    to ``v ⊙ keep`` (the caller passes ``v`` already multiplied), so one fused
    ``scaled_dot_product_attention`` call does it exactly. With ``exclude_masked`` masked keys get the
    lowest finite bias instead (weight exactly 0).
    """
    if exclude_masked:
        bias = torch.where(keep > 0, _log_bias(torch.ones_like(keep)), torch.finfo(keep.dtype).min)
    else:
        bias = _log_bias(keep)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)


def _explicit_band(q: Tensor, k: Tensor, v: Tensor, keep: Tensor, bl: int, scale: float) -> Tensor:
    """``"sliding"``: row ``i`` of a block keeps columns ``i .. i + bl − 1`` of its window (a per-query mask)."""
    width = k.shape[-2]
    rows = torch.arange(bl, device=q.device).unsqueeze(1)
    cols = torch.arange(width, device=q.device).unsqueeze(0)
    band = ((cols >= rows) & (cols < rows + bl)).to(q.dtype)              # (bl, W), constant
    final = band * keep                                                   # (B, N, bl, W)
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale + _log_bias(final)
    weights = torch.softmax(scores, dim=-1) * final
    return torch.matmul(weights, v)
