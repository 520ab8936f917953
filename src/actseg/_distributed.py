"""torch.distributed helpers for the metric accumulators (gather per-video records, keyed by video id)."""

from __future__ import annotations

import sys
from typing import Any


def world_size() -> int:
    """Number of ranks when ``torch.distributed`` is initialised, else 1."""
    if "torch.distributed" not in sys.modules:  # never imported, so never initialised: skip the import cost
        return 1
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def gather_objects(obj: Any) -> list[Any]:
    """``[obj_rank0, obj_rank1, ...]`` on every rank, or ``[obj]`` without an initialised process group."""
    if world_size() == 1:
        return [obj]
    import torch.distributed as dist

    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def batch_video_ids(video_ids: Any, batch: int, single: bool) -> list[Any]:
    """Normalise the ``video_ids`` argument of an accumulator's ``update`` to a list of ``batch`` ids.

    ``None`` gives anonymous records; one id is accepted for a single (unbatched) video; a tensor or
    array of ids is converted to Python values.
    """
    from collections.abc import Hashable, Sequence

    if video_ids is None:
        return [None] * batch
    from ._checks import is_tensor, to_numpy

    if is_tensor(video_ids):
        video_ids = to_numpy(video_ids, "video_ids").tolist()  # a meta tensor is a TypeError
    elif hasattr(video_ids, "tolist") and not isinstance(video_ids, (str, bytes)):
        video_ids = video_ids.tolist()  # numpy arrays and scalars
    if single and (isinstance(video_ids, (str, int)) or not isinstance(video_ids, Sequence)):
        return [video_ids]
    if isinstance(video_ids, str) or not isinstance(video_ids, Sequence):
        kind = type(video_ids).__name__
        raise TypeError(f"video_ids: expected a sequence of {batch} ids for a batch, got {kind}")
    if len(video_ids) != batch:
        raise ValueError(f"video_ids: expected {batch} ids (one per batch element), got {len(video_ids)}")
    for i, vid in enumerate(video_ids):
        if not isinstance(vid, Hashable):  # the ids key the records (de-duplication)
            raise TypeError(f"video_ids: expected hashable ids (str or int), got {type(vid).__name__} at position {i}")
    return list(video_ids)


def first_occurrences(ids: list[Any]) -> list[int]:
    """Positions to keep so that each non-``None`` id counts once (its first occurrence).

    ``DistributedSampler`` pads the last batch by repeating samples; keying records by video id and
    keeping the first copy makes a multi-rank evaluation equal to the single-process one. ``None``
    (an anonymous record) is never treated as a duplicate.
    """
    seen: set[Any] = set()
    keep = []
    for i, vid in enumerate(ids):
        if vid is None:
            keep.append(i)
        elif vid not in seen:
            seen.add(vid)
            keep.append(i)
    return keep


def single_video_id(video_ids: Any) -> Any:
    """The ``video_ids`` argument of an update that takes exactly one video: ``None``, a str or an int."""
    import numpy as np

    if video_ids is None or (isinstance(video_ids, (str, int, np.integer)) and not isinstance(video_ids, bool)):
        return video_ids.item() if isinstance(video_ids, np.integer) else video_ids
    raise TypeError(f"video_ids: expected one id (str or int) for one video, got {type(video_ids).__name__}")
