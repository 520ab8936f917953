r"""Frame–action cross-attention of FACT, batched and masked: token sets ``(B, M, D)``, frames ``(B, T, C)``.

Reference: Lu & Elhamifar, "FACT: Frame-Action Cross-Attention Temporal Modeling for Efficient Action
Segmentation", CVPR 2024, §3 (frame and action branches, cross-branch updates); official code
ZijiaLewisLu/CVPR2024-FACT@dba2399 ``models/basic.py`` (``X2Y_map``, ``SCALayer``, ``SALayer``). InterAct
(§3.3, eq. 4–5) builds its frame–action interaction on the same blocks.

FACT runs one video at a time, sequence first (frames ``(T, 1, H)``, tokens ``(M, 1, H)``) and without
masks. Here a batch is channels last (``nn.MultiheadAttention(batch_first=True)``) with ``(B, L)`` bool
masks (``True`` = valid): masked keys get no weight, a query without any valid key attends to nothing
(its attention part is 0, never NaN), and outputs are 0 at padded queries, so a padded batch gives every
video what it gives alone. A FACT state dict loads through ``actseg.io.convert_state_dict(sd, "fact")``;
FACT's ``(T, 1, H)`` tensors become ours with ``x.transpose(0, 1)`` (and back the same way).

Speed: the attention is computed in whichever order costs fewer operations for the given lengths. With
few tokens and many frames (FACT: 60 tokens, 512 channels, T in the thousands) the token-side projections
are folded into the frame side (for instance ``q kᵀ = y (k W_Q)ᵀ + k b_Q`` when ``y`` are frames), so no
``(T, C) → (T, head)`` projection of the frames is computed at all. The results are the same up to
rounding (tested against FACT to 1e-5 in float32, 1e-9 in float64).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import Dropout, channel_count, check_parameter_count, compiling, ragged_lengths, zero_padded

__all__ = ["ActionTokenDecoderLayer", "CrossAttentionUpdate", "TokenSelfAttentionLayer"]

MAX_HEADS = 1024


def _sequence(x: Tensor, name: str, module: nn.Module, channels: int, batch: int | None = None) -> Tensor:
    """``x`` must be a floating ``(B, L, channels)`` tensor with ``L >= 1`` on ``module``'s device and dtype."""
    sizes = {"C": channels} if batch is None else {"B": batch, "C": channels}
    _checks.tensor(x, name, "(B, L, C)", sizes=sizes, min_sizes={"L": 1})
    return _checks.module_tensor(x, name, module)


def _sequence_mask(mask: Tensor | None, x: Tensor, name: str) -> Tensor | None:
    """The ``(B, L)`` bool mask of ``x`` on its device; ``None`` for no mask or (with values) an all-valid one."""
    mask = _checks.tensor_mask(mask, x.shape[0], x.shape[1], name)
    if mask is None:
        return None
    if mask.is_meta and not x.is_meta:
        raise TypeError(f"{name}: expected a tensor with values for {x.device}, got a meta tensor")
    mask = mask.to(x.device)
    return None if not compiling() and _checks.has_values(mask) and bool(mask.all()) else mask


def _with_position(x: Tensor, pos: Tensor | None) -> Tensor:
    """``x + pos`` with a checked ``pos`` (:func:`_position`) added to the first ``P`` channels (FACT's
    ``add_positional_encoding``); ``x`` itself when ``pos`` is None."""
    return x if pos is None else x + F.pad(pos, (0, x.shape[2] - pos.shape[2]))


def _position(pos: Tensor | None, x: Tensor, name: str) -> Tensor | None:
    """``pos`` must be ``None`` or a ``(B or 1, L, P)`` tensor of ``x``'s dtype and device, ``P <= C``."""
    if pos is None:
        return None
    _checks.tensor(pos, name, "(B, L, P)", sizes={"L": x.shape[1]}, dtype=x.dtype)
    if pos.shape[0] not in (1, x.shape[0]) or pos.shape[2] > x.shape[2]:
        raise ValueError(f"{name}: expected shape (B, L, P) with B in (1, {x.shape[0]}), L = {x.shape[1]} and "
                         f"P <= {x.shape[2]}, got {_checks.shape_str(pos.shape)}")
    if pos.device != x.device:
        raise TypeError(f"{name}: expected a tensor on {x.device}, got {pos.device}")
    return pos


def _per_head(weight: Tensor, heads: int) -> Tensor:
    """``(H·d, C)`` projection weight -> ``(H, d, C)``."""
    return weight.view(heads, -1, weight.shape[-1])


def attention_orders(lq: int, s: int, cq: int, ck: int, cv: int, dim: int, heads: int, o: int,
                     av_dropout: bool) -> tuple[int, int]:
    """The cheapest order (fewest multiply-adds) for the scores and for the values of :func:`attention`.

    Scores: 0 projects queries and keys, 1 folds ``W_k`` into the queries (few queries), 2 folds ``W_q``
    into the keys (few keys). Values: 0 projects the values, 1 weights the raw values first (few queries),
    2 folds ``W_o`` into the values (few keys; not with dropout on ``A v``, which sits before ``W_o``).
    """
    scores = (lq * cq * dim + s * ck * dim + lq * s * dim,
              lq * cq * dim + lq * dim * ck + heads * lq * s * ck,
              s * ck * dim + s * dim * cq + heads * lq * s * cq)
    values = (s * cv * dim + lq * s * dim + lq * dim * o,
              heads * lq * s * cv + lq * cv * dim + lq * dim * o,
              s * cv * dim + s * dim * o + heads * lq * s * o)
    values = values[:2] if av_dropout else values
    return scores.index(min(scores)), values.index(min(values))


def attention(query: Tensor, key: Tensor, value: Tensor, weights: tuple[Tensor, ...], heads: int,
              key_valid: Tensor | None, attn_dropout: float = 0.0, av_dropout: float = 0.0,
              need_logits: bool = False) -> tuple[Tensor, Tensor | None]:
    r"""Multi-head attention with projections, evaluated in the cheapest order.

    ``query`` ``(B, Lq, Cq)``, ``key`` ``(B, S, Ck)``, ``value`` ``(B, S, Cv)`` (already with positions);
    ``weights`` = ``(W_q, b_q, W_k, b_k, W_v, b_v, W_o)`` with ``W_q`` ``(D, Cq)`` etc. and ``W_o`` ``(O, D)``.
    Returns ``concat_h(A_h v_h) W_oᵀ`` ``(B, Lq, O)`` (no output bias) and, with ``need_logits``, the
    scaled scores ``(B, H, Lq, S)`` with ``-inf`` at masked keys. ``A_h = softmax(q_h k_hᵀ / sqrt(d))``;
    a row without a valid key has ``A = 0``. ``attn_dropout`` drops attention weights
    (``nn.MultiheadAttention``), ``av_dropout`` drops ``A v`` before ``W_o`` (FACT ``X2Y_map``).
    """
    wq, bq, wk, bk, wv, bv, wo = weights
    batch, lq, cq = query.shape
    s, ck, cv = key.shape[1], key.shape[2], value.shape[2]
    dim = wq.shape[0]
    d = dim // heads
    o = wo.shape[0]
    scale = d ** -0.5
    order, value_order = attention_orders(lq, s, cq, ck, cv, dim, heads, o, av_dropout > 0.0)
    if order == 0:
        q = F.linear(query, wq, bq).view(batch, lq, heads, d).transpose(1, 2) * scale
        k = F.linear(key, wk, bk).view(batch, s, heads, d).transpose(1, 2)
        logits = torch.matmul(q, k.transpose(-1, -2))                                    # (B, H, Lq, S)
    elif order == 1:
        q = F.linear(query, wq, bq).view(batch, lq, heads, d).transpose(1, 2) * scale    # (B, H, Lq, d)
        qk = torch.matmul(q, _per_head(wk, heads))                                        # (B, H, Lq, Ck)
        logits = torch.matmul(qk.reshape(batch, heads * lq, ck), key.transpose(1, 2)).view(batch, heads, lq, s)
        logits = logits + torch.matmul(q, bk.view(heads, d, 1))
    else:
        k = F.linear(key, wk, bk).view(batch, s, heads, d).transpose(1, 2) * scale       # (B, H, S, d)
        kq = torch.matmul(k, _per_head(wq, heads))                                        # (B, H, S, Cq)
        logits = torch.matmul(query, kq.reshape(batch, heads * s, cq).transpose(1, 2))    # (B, Lq, H·S)
        logits = logits.view(batch, lq, heads, s).transpose(1, 2)
        logits = logits + torch.matmul(k, bq.view(heads, d, 1)).transpose(-1, -2)
    valid = None if key_valid is None else key_valid[:, None, None, :]
    scores = logits if valid is None else logits.masked_fill(~valid, torch.finfo(logits.dtype).min)
    attn = torch.softmax(scores, dim=-1)
    if valid is not None:
        attn = attn.masked_fill(~valid, 0.0)  # only changes rows without any valid key (uniform -> 0)
    if attn_dropout > 0.0:
        attn = F.dropout(attn, attn_dropout, True)
    if value_order == 2:
        v = F.linear(value, wv, bv).view(batch, s, heads, d).transpose(1, 2)             # (B, H, S, d)
        vo = torch.matmul(v, wo.view(o, heads, d).permute(1, 2, 0))                       # (B, H, S, O)
        out = torch.matmul(attn.transpose(1, 2).reshape(batch, lq, heads * s), vo.reshape(batch, heads * s, o))
    else:
        if value_order == 0:
            v = F.linear(value, wv, bv).view(batch, s, heads, d).transpose(1, 2)
            av = torch.matmul(attn, v)                                                    # (B, H, Lq, d)
        else:
            ax = torch.matmul(attn.reshape(batch, heads * lq, s), value).view(batch, heads, lq, cv)
            av = torch.matmul(ax, _per_head(wv, heads).transpose(-1, -2))
            av = av + bv.view(heads, 1, d) * attn.sum(dim=-1, keepdim=True)
        av = av.transpose(1, 2).reshape(batch, lq, dim)
        if av_dropout > 0.0:
            av = F.dropout(av, av_dropout, True)
        out = F.linear(av, wo)
    if not need_logits:
        return out, None
    return out, logits if valid is None else logits.masked_fill(~valid, float("-inf"))


def _zero_padded(x: Tensor, mask: Tensor | None) -> Tensor:
    """Channels-last ``x`` ``(B, L, C)``, zeros where the ``(B, L)`` bool ``mask`` is False (:func:`zero_padded`)."""
    return x if mask is None else zero_padded(x, mask.unsqueeze(-1))


def per_video_inputs(tensors: dict[str, tuple[Tensor | None, str]],
                     masks: dict[str, Tensor | None]) -> list[dict[str, Tensor | None]] | None:
    """The keyword arguments of one call per video, each sequence cut to its valid prefix; ``None`` when
    :func:`ragged_lengths` applies to no mask (not on the CPU, no prefix mask, one video, ...).

    ``tensors`` maps an argument to ``(tensor, mask name)`` (positions may have batch 1); ``masks`` maps a
    mask name to the checked mask. A prefix mask is dropped (its sequences are cut), another one is kept
    for its video. On the CPU a padded batch costs the work of its padding and buys no parallelism (see
    ``layers._common.RAGGED_CPU``); the results are the same (padded batch = per-video runs).
    """
    if torch.compiler.is_compiling():
        return None
    # ragged_lengths reads the batch size, length and device of its x: the mask itself as (B, 1, L)
    lengths = {name: None if mask is None else ragged_lengths(mask.unsqueeze(1), mask) for name, mask in masks.items()}
    if all(v is None for v in lengths.values()):
        return None
    calls = []
    for b in range(next(m for m in masks.values() if m is not None).shape[0]):
        kwargs: dict[str, Tensor | None] = {}
        for arg, (t, name) in tensors.items():
            n = None if lengths[name] is None else lengths[name][b]
            kwargs[arg] = None if t is None else (t[b:b + 1] if t.shape[0] > 1 else t)[:, :n]
        for name, mask in masks.items():
            kwargs[name] = None if mask is None or lengths[name] is not None else mask[b:b + 1]
        calls.append(kwargs)
    return calls


def _padded(results: Iterator[Tensor], batch: int, sizes: tuple[int, ...], fill: float = 0.0) -> Tensor:
    """Per-video ``(1, n_b, ...)`` results written into a ``(batch, *sizes)`` tensor filled with ``fill``, one at
    a time (a video's result is freed before the next one is computed)."""
    out = None
    for b, part in enumerate(results):
        if out is None:
            out = part.new_full((batch, *sizes), fill)
        out[(b, *(slice(0, n) for n in part.shape[1:]))] = part[0]
    return out


class CrossAttentionUpdate(nn.Module):
    r"""FACT's cross-branch update ``X2Y_map``: ``y`` attends over ``x`` and is updated with what it reads.

    .. math::
        q = W_Q(y + p_y),\quad k = W_K(x + p_x),\quad v = W_V x,\qquad
        A = \mathrm{softmax}_x\Bigl(\frac{q k^\top}{\sqrt{d}}\Bigr),\qquad
        y' = W_Y\,\mathrm{Dropout}([\,y \,\Vert\, A v\,])

    (FACT §3.2, "action-to-frame" and "frame-to-action" updates; one head of ``d = head_channels``
    channels; positions only with ``positional=True``). The concatenation uses ``y`` without positions
    and values never get positions, as in ``X2Y_map``. Masked keys get no weight; a ``y`` row without any
    valid ``x`` reads nothing (``A v = 0``); outputs are 0 at padded ``y``.

    Args:
        x_channels: ``Cx``, channels of ``x`` (the keys and values).
        y_channels: ``Cy``, channels of ``y`` (the queries, also concatenated into the output).
        out_channels: channels of the output.
        head_channels: ``d`` (FACT ``head_dim``); ``None`` means ``x_channels``.
        positional: add ``x_pos``/``y_pos`` to the keys/queries (FACT ``kq_pos``, True in its blocks); with
            ``False`` positions passed to ``forward`` are ignored.
        dropout: dropout on the concatenation ``[y ‖ A v]`` (training only).

    Shape:
        ``x`` ``(B, Lx, Cx)``, ``y`` ``(B, Ly, Cy)``; ``x_pos`` ``(B or 1, Lx, P)`` and ``y_pos``
        ``(B or 1, Ly, P)`` with ``P`` at most the channels (added to the first ``P`` channels);
        ``x_mask`` ``(B, Lx)``, ``y_mask`` ``(B, Ly)`` bool or ``None`` → ``(out (B, Ly, out_channels),
        logits (B, Ly, Lx))``: ``logits`` are the scaled scores before the softmax (FACT ``attn_logit``,
        the input of its cross-attention loss), ``-inf`` at masked keys and 0 in the rows of padded ``y``.

    Example:
        >>> f2a = CrossAttentionUpdate(64, 32, 32, positional=True)
        >>> frames, tokens = torch.randn(2, 100, 64), torch.randn(2, 10, 32)
        >>> out, logits = f2a(frames, tokens, x_mask=torch.ones(2, 100, dtype=torch.bool))
        >>> out.shape, logits.shape
        (torch.Size([2, 10, 32]), torch.Size([2, 10, 100]))
    """

    def __init__(self, x_channels: int, y_channels: int, out_channels: int, head_channels: int | None = None,
                 positional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.x_channels = cx = channel_count(x_channels, "x_channels")
        self.y_channels = cy = channel_count(y_channels, "y_channels")
        self.out_channels = co = channel_count(out_channels, "out_channels")
        self.head_channels = d = cx if head_channels is None else channel_count(head_channels, "head_channels")
        self.positional = _checks.flag(positional, "positional")
        self.dropout = _checks.probability(dropout, "dropout", high_open=True)
        check_parameter_count(2 * (cx + 1) * d + (cy + 1) * d + (cy + d + 1) * co,
                              "x_channels, y_channels, out_channels, head_channels")
        self.key = nn.Linear(cx, d)
        self.value = nn.Linear(cx, d)
        self.query = nn.Linear(cy, d)
        self.out = nn.Linear(cy + d, co)

    def forward(self, x: Tensor, y: Tensor, x_pos: Tensor | None = None, y_pos: Tensor | None = None,
                x_mask: Tensor | None = None, y_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _sequence(x, "x", self, self.x_channels)
        _sequence(y, "y", self, self.y_channels, batch=x.shape[0])
        x_mask = _sequence_mask(x_mask, x, "x_mask")
        y_mask = _sequence_mask(y_mask, y, "y_mask")
        x_pos = _position(x_pos, x, "x_pos") if self.positional else None
        y_pos = _position(y_pos, y, "y_pos") if self.positional else None
        calls = per_video_inputs({"x": (x, "x_mask"), "y": (y, "y_mask"), "x_pos": (x_pos, "x_mask"),
                                  "y_pos": (y_pos, "y_mask")}, {"x_mask": x_mask, "y_mask": y_mask})
        if calls is None:
            return self._forward(x, y, x_pos, y_pos, x_mask, y_mask)
        logits: list[Tensor] = []

        def outputs() -> Iterator[Tensor]:
            for kw in calls:
                out, scores = self._forward(**kw)
                logits.append(scores)
                yield out

        out = _padded(outputs(), x.shape[0], (y.shape[1], self.out_channels))
        scores = _padded(iter(logits), x.shape[0], (y.shape[1], x.shape[1]), float("-inf"))
        rows = torch.arange(y.shape[1], device=y.device) >= torch.tensor([t.shape[1] for t in logits],
                                                                           device=y.device).unsqueeze(1)
        return out, scores.masked_fill(rows.unsqueeze(-1), 0.0)  # rows of cut-off (padded) queries: 0

    def _forward(self, x: Tensor, y: Tensor, x_pos: Tensor | None, y_pos: Tensor | None, x_mask: Tensor | None,
                 y_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        # padding may hold NaN (0 · NaN is NaN); a mask cut off per video is None here and costs nothing
        x, y = _zero_padded(x, x_mask), _zero_padded(y, y_mask)
        xk, yq = _with_position(x, x_pos), _with_position(y, y_pos)
        p = self.dropout if self.training else 0.0
        cy = self.y_channels
        w = self.out.weight
        weights = (self.query.weight, self.query.bias, self.key.weight, self.key.bias, self.value.weight,
                   self.value.bias, w[:, cy:])
        read, logits = attention(yq, xk, x, weights, 1, x_mask, av_dropout=p, need_logits=True)
        out = F.linear(F.dropout(y, p, True) if p > 0.0 else y, w[:, :cy], self.out.bias) + read
        logits = logits.squeeze(1)
        if y_mask is not None:
            logits = logits.masked_fill(~y_mask.unsqueeze(-1), 0.0)
        return _zero_padded(out, y_mask), logits

    def extra_repr(self) -> str:
        return (f"x_channels={self.x_channels}, y_channels={self.y_channels}, out_channels={self.out_channels}, "
                f"head_channels={self.head_channels}, positional={self.positional}, dropout={self.dropout}")


def _heads(num_heads: object, channels: int, name: str) -> int:
    heads = _checks.size(num_heads, "num_heads", high=MAX_HEADS)
    if channels % heads:
        raise ValueError(f"num_heads: expected a divisor of {name} = {channels}, got {heads}")
    return heads


def _mha(module: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor, key_valid: Tensor | None,
         dropout: float) -> Tensor:
    """``nn.MultiheadAttention``'s computation (its parameters, batch first) with a ``(B, S)`` valid-key mask."""
    if module.in_proj_weight is not None:
        wq, wk, wv = module.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
    bq, bk, bv = module.in_proj_bias.chunk(3)
    weights = (wq, bq, wk, bk, wv, bv, module.out_proj.weight)
    out, _ = attention(query, key, value, weights, module.num_heads, key_valid, attn_dropout=dropout)
    return out + module.out_proj.bias


class _FeedForward(nn.Module):
    """Post-norm FFN sub-layer: ``norm(x + Dropout(W_2 Dropout(ReLU(W_1 x))))`` (DETR/FACT layers)."""

    def _ffn(self, x: Tensor, norm: nn.LayerNorm) -> Tensor:
        h = self.linear2(self.dropout(F.relu(self.linear1(x))))
        return norm(x + self.dropout(h))


class ActionTokenDecoderLayer(_FeedForward):
    r"""FACT's action-branch decoder layer ``SCALayer``: token self-attention, tokens→frames cross-attention, FFN.

    .. math::
        t &\leftarrow \mathrm{LN}_1\bigl(t + \mathrm{MHA}(t + p_t,\ t + p_t,\ t)\bigr)\\
        t &\leftarrow \mathrm{LN}_2\bigl(t + \mathrm{MHA}(t + p_t,\ f + p_f,\ f)\bigr)\\
        t &\leftarrow \mathrm{LN}_3\bigl(t + W_2\,\mathrm{ReLU}(W_1 t)\bigr)

    (FACT §3.1, action branch of the input block; post-norm as in ``SCALayer``, dropout after each
    sub-layer and on the attention weights). ``token_pos`` goes into the self-attention queries and keys
    and into the cross-attention queries, ``frame_pos`` into the cross-attention keys; values never get
    positions. Padded tokens and frames are no keys; outputs are 0 at padded tokens.

    Args:
        token_channels: ``D`` (FACT ``a_dim``).
        frame_channels: ``C`` (FACT ``hid_dim``); the cross-attention keys and values.
        num_heads: heads of both attentions (a divisor of ``token_channels``).
        ff_channels: hidden channels of the FFN (FACT ``a_ffdim``).
        dropout: dropout of the sub-layers and of the attention weights (FACT sets both to ``dropout``).

    Shape:
        ``tokens`` ``(B, M, D)``, ``frames`` ``(B, T, C)``, ``token_pos`` ``(B or 1, M, P)``,
        ``frame_pos`` ``(B or 1, T, P)`` (``P`` at most the channels, added to the first ``P``),
        ``token_mask`` ``(B, M)``, ``frame_mask`` ``(B, T)`` bool or ``None`` → ``(B, M, D)``.

    Example:
        >>> layer = ActionTokenDecoderLayer(32, 64, num_heads=4, ff_channels=64)
        >>> layer(torch.zeros(2, 10, 32), torch.randn(2, 100, 64), token_pos=torch.randn(1, 10, 32)).shape
        torch.Size([2, 10, 32])
    """

    def __init__(self, token_channels: int, frame_channels: int, num_heads: int = 8, ff_channels: int = 2048,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.token_channels = d = channel_count(token_channels, "token_channels")
        self.frame_channels = c = channel_count(frame_channels, "frame_channels")
        self.num_heads = _heads(num_heads, d, "token_channels")
        self.ff_channels = ff = channel_count(ff_channels, "ff_channels")
        self.p = _checks.probability(dropout, "dropout", high_open=True)
        check_parameter_count(4 * d * (d + 1) + 2 * d * (c + 1) + 2 * d * (d + 1) + 2 * ff * d + ff + d + 6 * d,
                              "token_channels, frame_channels, ff_channels")
        self.self_attn = nn.MultiheadAttention(d, self.num_heads, dropout=self.p, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, self.num_heads, dropout=self.p, kdim=c, vdim=c, batch_first=True)
        self.linear1 = nn.Linear(d, ff)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)
        self.dropout = Dropout(self.p)

    def forward(self, tokens: Tensor, frames: Tensor, token_pos: Tensor | None = None,
                frame_pos: Tensor | None = None, token_mask: Tensor | None = None,
                frame_mask: Tensor | None = None) -> Tensor:
        _sequence(tokens, "tokens", self, self.token_channels)
        _sequence(frames, "frames", self, self.frame_channels, batch=tokens.shape[0])
        token_mask = _sequence_mask(token_mask, tokens, "token_mask")
        frame_mask = _sequence_mask(frame_mask, frames, "frame_mask")
        token_pos = _position(token_pos, tokens, "token_pos")
        frame_pos = _position(frame_pos, frames, "frame_pos")
        calls = per_video_inputs({"tokens": (tokens, "token_mask"), "frames": (frames, "frame_mask"),
                                  "token_pos": (token_pos, "token_mask"), "frame_pos": (frame_pos, "frame_mask")},
                                 {"token_mask": token_mask, "frame_mask": frame_mask})
        if calls is None:
            return self._forward(tokens, frames, token_pos, frame_pos, token_mask, frame_mask)
        return _padded((self._forward(**kw) for kw in calls), tokens.shape[0], tokens.shape[1:])

    def _forward(self, tokens: Tensor, frames: Tensor, token_pos: Tensor | None, frame_pos: Tensor | None,
                 token_mask: Tensor | None, frame_mask: Tensor | None) -> Tensor:
        tokens, frames = _zero_padded(tokens, token_mask), _zero_padded(frames, frame_mask)  # as CrossAttentionUpdate
        p = self.p if self.training else 0.0
        q = _with_position(tokens, token_pos)
        t = self.norm1(tokens + self.dropout(_mha(self.self_attn, q, q, tokens, token_mask, p)))
        q = _with_position(t, token_pos)
        k = _with_position(frames, frame_pos)
        t = self.norm2(t + self.dropout(_mha(self.cross_attn, q, k, frames, frame_mask, p)))
        return _zero_padded(self._ffn(t, self.norm3), token_mask)

    def extra_repr(self) -> str:
        return (f"token_channels={self.token_channels}, frame_channels={self.frame_channels}, "
                f"num_heads={self.num_heads}, ff_channels={self.ff_channels}, dropout={self.p}")


class TokenSelfAttentionLayer(_FeedForward):
    r"""FACT's update-block action layer ``SALayer``: token self-attention and FFN, post-norm.

    .. math::
        t \leftarrow \mathrm{LN}_1\bigl(t + \mathrm{MHA}(t + p,\ t + p,\ t)\bigr),\qquad
        t \leftarrow \mathrm{LN}_2\bigl(t + W_2\,\mathrm{ReLU}(W_1 t)\bigr)

    (FACT §3.2, action branch of the update blocks: ``SADecoder`` passes the token positions as query and
    key positions, values without). Padded tokens are no keys; outputs are 0 at padded tokens.

    Args:
        channels: ``D`` (FACT ``a_dim``).
        num_heads: heads (a divisor of ``channels``).
        ff_channels: hidden channels of the FFN.
        dropout: dropout of the sub-layers and of the attention weights.

    Shape:
        ``tokens`` ``(B, M, D)``, ``token_pos`` ``(B or 1, M, P)`` (``P <= D``), ``token_mask`` ``(B, M)``
        bool or ``None`` → ``(B, M, D)``.

    Example:
        >>> TokenSelfAttentionLayer(32, num_heads=4, ff_channels=64)(torch.randn(2, 10, 32)).shape
        torch.Size([2, 10, 32])
    """

    def __init__(self, channels: int, num_heads: int = 8, ff_channels: int = 2048, dropout: float = 0.0) -> None:
        super().__init__()
        self.channels = d = channel_count(channels, "channels")
        self.num_heads = _heads(num_heads, d, "channels")
        self.ff_channels = ff = channel_count(ff_channels, "ff_channels")
        self.p = _checks.probability(dropout, "dropout", high_open=True)
        check_parameter_count(4 * d * (d + 1) + 2 * ff * d + ff + d + 4 * d, "channels, ff_channels")
        self.self_attn = nn.MultiheadAttention(d, self.num_heads, dropout=self.p, batch_first=True)
        self.linear1 = nn.Linear(d, ff)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout = Dropout(self.p)

    def forward(self, tokens: Tensor, token_pos: Tensor | None = None, token_mask: Tensor | None = None) -> Tensor:
        _sequence(tokens, "tokens", self, self.channels)
        token_mask = _sequence_mask(token_mask, tokens, "token_mask")
        tokens = _zero_padded(tokens, token_mask)  # padding may hold NaN: 0 · NaN is NaN
        p = self.p if self.training else 0.0
        q = _with_position(tokens, _position(token_pos, tokens, "token_pos"))
        t = self.norm1(tokens + self.dropout(_mha(self.self_attn, q, q, tokens, token_mask, p)))
        return _zero_padded(self._ffn(t, self.norm2), token_mask)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, num_heads={self.num_heads}, ff_channels={self.ff_channels}, "
                f"dropout={self.p}")
