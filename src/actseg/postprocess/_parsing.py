"""TransParser's parsing rule: sub-actions start where the most responsive pattern changes (TAPOS §5.2)."""

from __future__ import annotations

from typing import Any

from .. import _checks

__all__ = ["pattern_boundaries"]


def pattern_boundaries(attention: Any, mask: Any = None) -> Any:
    r"""Frames where a new sub-action starts: the argmax pattern differs from the previous frame's.

    TransParser's inference (Shao et al., "Intra- and Inter-Action Understanding via Temporal Action
    Parsing", CVPR 2020, §5.2): the representative pattern of frame ``t`` is
    :math:`k_t = \operatorname{argmax}_j \alpha_{t,j}`; when :math:`k_t \ne k_{t+1}`, a new sub-action
    starts at frame ``t + 1``:

    .. math:: \mathcal B = \{\, t \in [1, T) : k_t \ne k_{t-1} \,\}

    Frame 0 is never reported (it starts the first sub-action; the TAPOS evaluation takes the internal
    boundaries ``substages[1:-1]``, see ``actseg.metrics.BoundaryF1(protocol="tapos")``).

    Convention:
        - ``attention`` is ``α'`` of the last SPS unit over the ``M`` patterns, the layout
          ``actseg.losses.local_parse_loss`` takes; for the multi-head output ``(B, H, T, M)`` of
          :class:`actseg.layers.SoftPatternStrengthening` pass ``alpha.mean(1)`` (the per-pattern mean over
          heads, the reading documented there). Any real scores work (argmax is the same for logits).
        - Ties go to the first maximal pattern (``argmax`` of torch and numpy).
        - With ``mask``, padded frames are removed first: the valid frames form one sequence (a frame
          after a hole is compared with the last valid frame before it) and positions are reported in
          the input row.

    Args:
        attention: ``(T, M)`` or ``(B, T, M)`` finite floating scores (numpy, a torch tensor on any
            device, or a sequence); half precision is compared in float32.
        mask: optional bool, ``(T,)`` or ``(B, T)``; ``True`` = valid frame.

    Returns:
        ``(T, M)`` input: int64 positions in increasing order (numpy, or a tensor on ``attention``'s device
        for tensor input). ``(B, T, M)`` input: a list of ``B`` such arrays.

    Raises:
        ValueError: wrong rank, ``M = 0``, NaN or infinity, mask shape.
        TypeError: non-floating dtype (integers, bool, complex), a meta tensor, non-bool mask.

    Example:
        >>> import torch
        >>> alpha = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]])
        >>> pattern_boundaries(alpha).tolist()
        [2, 3, 4]
        >>> mask = torch.tensor([True, True, False, True, True])   # frame 3 is compared with frame 1
        >>> pattern_boundaries(alpha, mask).tolist()
        [4]
    """
    import torch

    x = _checks.as_tensor(attention, "attention")
    if x.ndim not in (2, 3):
        raise ValueError(f"attention: expected shape (T, M) or (B, T, M), got {_checks.shape_str(x.shape)}")
    if x.shape[-1] < 1:
        raise ValueError(f"attention: expected M >= 1 patterns, got shape {_checks.shape_str(x.shape)}")
    _checks.finite_values(x, "attention")
    single = x.ndim == 2
    rows = _checks.upcast_half(x[None] if single else x)
    batch, length, _ = rows.shape
    valid = torch.from_numpy(_checks.mask_rows(mask, (batch, length), single)).to(rows.device)
    ids = rows.argmax(dim=-1)                                                # (B, T) representative pattern
    frames = torch.arange(length, device=rows.device).expand(batch, length)
    last_valid = torch.where(valid, frames, torch.full_like(frames, -1)).cummax(dim=1).values
    previous = torch.cat([last_valid.new_full((batch, 1), -1), last_valid], dim=1)[:, :length]  # shifted by one
    previous_ids = ids.gather(1, previous.clamp(min=0))
    starts = valid & (previous >= 0) & (ids != previous_ids)
    positions = starts.nonzero()[:, 1]
    counts = starts.sum(dim=1).tolist()
    out = list(torch.split(positions, counts))
    if not _checks.is_tensor(attention):
        out = [p.numpy() for p in out]
    return out[0] if single else out
