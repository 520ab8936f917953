"""Global segmentation mask targets of GSMT and snippet conversion (TAGS, sauradip/TAGS@0585aa9).

GSMT (Global Segmentation Mask Transformer) §3.3 "Training": every snippet of an action instance is
an action snippet of the instance's class and its mask label is the instance's full-length binary
mask; snippets outside every instance are background (class ``K``). Videos are linearly resampled to
a fixed number of snippets (§4: ``T = 100 / 256`` for ActivityNet / THUMOS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import choice, elements, instance_of, size, tensor, torch_dtype
from ..segments import Segments, segments_to_labels
from ._common import background_tensor, find_segments, labels_and_mask, mask_tensor, positive, valid_frames

__all__ = ["global_mask_targets", "resample_snippets", "segments_to_global_masks", "segments_to_snippets"]

ROUNDINGS = ("nearest", "tags")
MAX_SNIPPETS = 2**15  # segments_to_global_masks allocates (B, N, N): 4 GiB of float32 per video at the bound


def global_mask_targets(
    labels: Any,
    *,
    num_classes: int,
    mask: Any = None,
    background: Any = (),
    ignore_index: int = -100,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    r"""GSMT global segmentation masks ``(B, T, T)`` and per-snippet classes from snippet labels.

    GSMT §3.2–3.3 (Eq. (3)–(4) are the predictions these supervise): for every action snippet ``i``
    the mask label is the full-length binary mask of its instance,

    .. math::
        G_{b,i,j} = [\,i \text{ and } j \text{ lie in the same action instance of video } b\,],
        \qquad c_{b,i} = \begin{cases} y_{b,i} & i \text{ in an instance} \\ K & \text{background}
        \end{cases}

    so ``G`` is symmetric and block diagonal (the TAGS loader's ``M[a:b, a:b] = 1``).

    Layout: ``masks[b, t, :]`` (row ``t``) is snippet ``t``'s mask over the ``T`` snippets
    (``docs/conventions.md``). GSMT Eq. (4) puts snippet ``t``'s predicted mask in **column** ``t`` of
    ``M ∈ R^{T×T}`` (``M[:, t]``, the time axis of a ``Conv1d(·, T, 1)`` head's output); the TAGS code
    reads channel ``t`` (row ``t``). Since the targets are symmetric, ``masks[b, :, t]`` is the same
    vector, so they supervise either layout; what matters is the layout of the *prediction* given to
    a loss: actseg's ``biou_loss``/``dice_loss`` and ``decode_global_masks`` (``anchor_axis=1``) read
    row ``t``, so pass a column-layout prediction as ``pred.transpose(1, 2)``.

    Convention:
        - Instances are the maximal runs of one class not in ``background`` within the valid
          snippets; two instances of one class that touch merge (use
          :func:`segments_to_global_masks` for instances that touch or overlap).
        - ``classes``: the label on instance snippets; ``num_classes`` (the ``K + 1``-th,
          "background" class of GSMT's ``P ∈ R^{(K+1)×T}``) on background snippets;
          ``ignore_index`` on padded snippets. Labels must lie in ``[0, K)`` or in ``background``
          (so ``background=(K,)`` accepts labels painted with ``fill=K``).
        - Rows and columns of background and padded snippets are all zero.
        - Memory is ``B · T²`` elements: use it at snippet resolution (GSMT: 100 or 256 snippets,
          :func:`resample_snippets`), not on 10,000-frame videos. ``dtype=torch.bool`` saves 4×.

    Args:
        labels: ``(B, T)`` int64 snippet labels, ``ignore_index`` at padding.
        num_classes: ``K``, the number of action classes.
        mask: optional ``(B, T)`` bool, ``True`` = valid snippet.
        background: class ids that are not actions.
        ignore_index: label of padded snippets.
        dtype: dtype of the masks (float32 by default, bool allowed).

    Returns:
        ``(masks, classes)``: ``(B, T, T)`` ``dtype`` (row ``t`` = snippet ``t``'s mask, equal to column
        ``t``) and ``(B, T)`` int64, on ``labels``' device.

    Example:
        >>> masks, classes = global_mask_targets(torch.tensor([[0, 2, 2, 0, 1]]), num_classes=3, background=[0])
        >>> masks[0].int().tolist()
        [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
        >>> classes[0].tolist()
        [3, 2, 2, 3, 1]

    .. versionadded:: 0.1.0
    """
    labels, mask = labels_and_mask(labels, mask)
    num_classes = size(num_classes, "num_classes")
    dtype = torch_dtype(dtype, "dtype")
    elements(labels.numel() * labels.shape[1], "labels", "B·T·T")
    device = labels.device
    bg = background_tensor(background, device)
    valid = valid_frames(labels, mask, ignore_index, num_classes=num_classes, also_allowed=bg)
    runs = find_segments(labels, valid, bg)
    instance = torch.where(runs.foreground, torch.cumsum(runs.first, dim=1), 0)  # 0 = no instance
    masks = (instance.unsqueeze(2) == instance.unsqueeze(1)) & runs.foreground.unsqueeze(2)
    classes = torch.where(runs.foreground, labels, labels.new_full((), num_classes))
    classes = torch.where(valid, classes, labels.new_full((), ignore_index))
    return masks.to(dtype), classes


def segments_to_snippets(
    segments: Segments, duration: float, num_snippets: int, *, rounding: str = "nearest"
) -> Segments:
    """Map segments in seconds (or any unit of ``duration``) to half-open snippet-index segments.

    A video of length ``duration`` is cut into ``N = num_snippets`` equal snippets (GSMT §4 rescales
    every video to ``N = 100`` or ``256``); with ``u = clip(x / duration, 0, 1)`` the fraction of a
    boundary ``x``:

    - ``rounding="nearest"`` (default): ``[⌊N·u_s + ½⌋, ⌊N·u_e + ½⌋)`` (half-up rounding of both
      boundaries to the nearest snippet edge), widened to one snippet when it rounds to nothing, so
      every instance that overlaps ``[0, duration]`` keeps at least one snippet.
    - ``rounding="tags"``: the TAGS loader (``tags_dataloader.py``): ``[⌊N·u_s⌋ + 1, ⌊N·u_e⌋ − 1)``,
      i.e. the slice ``mask[⌊N u_s⌋ + 1 : ⌊N u_e⌋ − 1]``. Effect: every instance loses its first
      (partial) snippet and one or two at the end; instances shorter than about 2–3 snippets vanish
      (they are dropped here; in TAGS the empty slice paints nothing, and a negative end, ``e`` in
      the first snippet, would wrap around in numpy — not reproduced). TAGS' extra filter on the
      instance length in feature frames (``action_end − action_start > 1``) is dataset-specific and
      not applied.

    Instances entirely outside ``[0, duration]`` are dropped; labels and scores follow their
    instance.

    Args:
        segments: :class:`~actseg.segments.Segments` with boundaries in the unit of ``duration``.
        duration: length of the video (> 0).
        num_snippets: ``N >= 1``.
        rounding: ``"nearest"`` or ``"tags"``.

    Returns:
        :class:`~actseg.segments.Segments` with int64 snippet boundaries in ``[0, N]``, in the input
        order.

    Example:
        >>> seg = Segments([1.0, 4.3], [3.5, 9.9], [0, 1])
        >>> s = segments_to_snippets(seg, 10.0, 10)
        >>> s.starts.tolist(), s.ends.tolist()
        ([1, 4], [4, 10])
        >>> t = segments_to_snippets(seg, 10.0, 10, rounding="tags")
        >>> t.starts.tolist(), t.ends.tolist()  # the first instance vanishes
        ([5], [8])

    .. versionadded:: 0.1.0
    """
    segments = instance_of(segments, Segments, "segments", "an actseg.segments.Segments")
    duration = positive(duration, "duration")
    n = size(num_snippets, "num_snippets")
    rounding = choice(rounding, ROUNDINGS, "rounding")
    starts = np.clip(segments.starts / duration, 0.0, 1.0)
    ends = np.clip(segments.ends / duration, 0.0, 1.0)
    inside = (segments.ends > 0) & (segments.starts < duration)
    if rounding == "tags":
        first = np.floor(n * starts).astype(np.int64) + 1
        stop = np.floor(n * ends).astype(np.int64) - 1
        keep = inside & (stop > first)
    else:
        first = np.minimum(np.floor(n * starts + 0.5).astype(np.int64), n - 1)
        stop = np.maximum(np.floor(n * ends + 0.5).astype(np.int64), first + 1)
        keep = inside
    scores = None if segments.scores is None else segments.scores[keep]
    return Segments(first[keep], stop[keep], segments.labels[keep], scores)


def resample_snippets(features: Tensor, num_snippets: int, *, mask: Any = None) -> Tensor:
    """Linearly resample features to a fixed number of snippets (GSMT §4, the TAGS loader).

    ``F.interpolate(x, size=num_snippets, mode="linear", align_corners=False)``, as TAGS'
    ``loadFeature`` does to rescale every video to ``temporal_scale = 100`` snippets.

    With ``mask``, every element of a padded batch is resampled from its valid frames only (the
    frames where ``mask`` is True, in order; for the usual prefix mask, ``features[b, :, :L_b]``),
    so it gets exactly what it gets alone; there is one ``F.interpolate`` per element (a Python loop
    over the batch only).

    Args:
        features: ``(B, C, T)`` or ``(C, T)`` floating tensor, ``T >= 1``.
        num_snippets: ``N >= 1``.
        mask: optional ``(B, T)`` bool (3-D ``features`` only), at least one valid frame per element.

    Returns:
        ``(B, C, N)`` (or ``(C, N)``) in ``features``' dtype and device.

    Example:
        >>> resample_snippets(torch.tensor([[0.0, 1.0, 2.0, 3.0]]), 2).tolist()
        [[0.5, 2.5]]

    .. versionadded:: 0.1.0
    """
    unbatched = tensor(features, "features").ndim == 2
    tensor(features, "features", "(C, T)" if unbatched else "(B, C, T)", min_sizes={"T": 1})
    n = size(num_snippets, "num_snippets")
    x = features.unsqueeze(0) if unbatched else features
    elements(x.shape[0] * x.shape[1] * n, "num_snippets", "B·C·num_snippets")
    if mask is not None and unbatched:
        raise ValueError(f"mask: expected None for unbatched features (C, T), got {type(mask).__name__}")
    mask = mask_tensor(mask, x.shape[0], x.shape[2], x.device)
    if mask is None or bool(mask.all()):
        out = F.interpolate(x, size=n, mode="linear", align_corners=False)
        return out.squeeze(0) if unbatched else out
    counts = mask.sum(dim=1).tolist()
    outputs = []
    for b, count in enumerate(counts):
        if count == 0:
            raise ValueError(f"mask: expected at least one valid frame per element, got none in element {b}")
        xb = x[b, :, mask[b]] if count < x.shape[2] else x[b]
        outputs.append(F.interpolate(xb.unsqueeze(0), size=n, mode="linear", align_corners=False))
    return torch.cat(outputs, dim=0)


def segments_to_global_masks(
    segments: Segments | Sequence[Segments],
    num_snippets: int,
    *,
    num_classes: int,
    duration: float | Sequence[float] | None = None,
    rounding: str = "nearest",
    device: Any = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """GSMT global masks and snippet classes straight from instances (overlapping ones allowed).

    The TAGS loader (``tags_dataloader.py::getVideoData``) written out without its per-instance loop:
    ``masks[a:b, a:b] = 1`` for every instance ``[a, b)`` (the union of the blocks where instances
    overlap) and ``classes[a:b] = label`` in instance order (the later instance wins), ``K`` elsewhere.
    Unlike :func:`global_mask_targets`, instances that touch or overlap stay separate blocks.
    Layout as :func:`global_mask_targets`: ``masks[b, t, :]`` (row ``t``) is snippet ``t``'s mask,
    equal to column ``t`` (GSMT Eq. (4)'s layout) since the masks are symmetric.

    Args:
        segments: one :class:`~actseg.segments.Segments` per video (or a single one, ``B = 1``).
        num_snippets: ``N``.
        num_classes: ``K``; instance labels must lie in ``[0, K)``.
        duration: ``None`` if the segments are already snippet indices in ``[0, N]``; otherwise the
            duration of each video (a number for all, or one per video) and the segments are mapped
            with :func:`segments_to_snippets` using ``rounding``.
        rounding: ``"nearest"`` or ``"tags"`` (see :func:`segments_to_snippets`); checked even
            without ``duration``.
        device: device of the outputs (CPU by default).
        dtype: dtype of the masks.

    Returns:
        ``(masks, classes)``: ``(B, N, N)`` ``dtype`` (row ``t`` = snippet ``t``'s mask) and
        ``(B, N)`` int64.

    Raises:
        ValueError: an instance outside ``[0, N)`` or with a label outside ``[0, K)``, an unknown
            ``rounding``, one ``duration`` per video expected, ``num_snippets`` above ``2**15``.
        TypeError: ``segments`` not ``Segments``, float boundaries without ``duration``, a bad ``dtype``.

    Example:
        >>> seg = Segments([1, 2], [3, 5], [0, 1])
        >>> masks, classes = segments_to_global_masks(seg, 5, num_classes=2)
        >>> masks[0].int().tolist(), classes[0].tolist()
        ([[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]], [2, 0, 1, 1, 1])

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
        ``rounding`` is validated without ``duration``; ``num_snippets <= 2**15``.
    """
    what = "an actseg.segments.Segments or a list of them"
    videos = [segments] if isinstance(segments, Segments) else list(instance_of(segments, (list, tuple), "segments",
                                                                                  what))
    for i, seg in enumerate(videos):
        instance_of(seg, Segments, f"segments[{i}]", "an actseg.segments.Segments")
    n = size(num_snippets, "num_snippets", high=MAX_SNIPPETS)  # (B, N, N) is allocated
    num_classes = size(num_classes, "num_classes")
    rounding = choice(rounding, ROUNDINGS, "rounding")
    dtype = torch_dtype(dtype, "dtype")
    elements(len(videos) * n * n, "segments", "B·N·N")
    if duration is not None:
        durations = [duration] * len(videos) if np.ndim(duration) == 0 else list(duration)
        if len(durations) != len(videos):
            raise ValueError(f"duration: expected one duration per video ({len(videos)}), got {len(durations)}")
        videos = [segments_to_snippets(s, d, n, rounding=rounding) for s, d in zip(videos, durations)]
    masks = torch.zeros(len(videos), n, n, dtype=dtype, device=device)
    classes = torch.full((len(videos), n), num_classes, dtype=torch.int64, device=device)
    index = torch.arange(n, device=device)
    for b, seg in enumerate(videos):
        if not len(seg):
            continue
        if not np.issubdtype(seg.starts.dtype, np.integer):
            raise TypeError(f"segments[{b}]: expected integer snippet boundaries without duration, got dtype "
                            f"{seg.starts.dtype}")
        if seg.starts.min() < 0 or seg.ends.max() > n:
            raise ValueError(f"segments[{b}]: expected every instance inside [0, {n}), got starts.min()="
                             f"{seg.starts.min()}, ends.max()={seg.ends.max()}")
        if seg.labels.min() < 0 or seg.labels.max() >= num_classes:
            raise ValueError(f"segments[{b}]: expected labels in [0, {num_classes}), got "
                             f"{int(seg.labels[(seg.labels < 0) | (seg.labels >= num_classes)][0])}")
        starts = torch.as_tensor(seg.starts, device=device).unsqueeze(1)
        ends = torch.as_tensor(seg.ends, device=device).unsqueeze(1)
        inside = ((index >= starts) & (index < ends)).to(torch.float32)  # (instances, N)
        masks[b] = (inside.t() @ inside > 0).to(dtype)
        classes[b] = torch.as_tensor(segments_to_labels(seg, n, fill=num_classes), device=device)
    return masks, classes
