"""``torch.utils.data.Dataset`` s over the demo data, the MS-TCN folder layout and ActivityNet JSON, and
the padding :func:`collate` (the package's batch conventions: ``(B, C, T)`` features, ``(B, T)`` int64
labels with ``-100`` in padding, ``(B, T)`` bool mask with ``True`` = valid frame).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._checks import instance_of, integer, tensor, type_name
from ..segments import Segments
from ._demo import load_demo

IGNORE_INDEX = -100


def _index(index: Any, count: int) -> int:
    """A dataset index in ``[-count, count)`` as a non-negative int (IndexError outside, as Python lists)."""
    i = integer(index, "index", high=None)
    if not -count <= i < count:
        raise IndexError(f"index: expected an integer in [-{count}, {count}), got {i}")
    return i % count


class DemoDataset(torch.utils.data.Dataset):
    """The embedded demo data (:func:`actseg.data.load_demo`) as a dataset of unpadded sequences.

    Args:
        name: ``"basicmotions"`` (6 channels, 4 classes, 10 Hz) or ``"gunpoint"`` (1 channel, 2 classes).
        split: ``"train"`` or ``"test"`` (built from disjoint recordings).

    Items: ``dict(features=(C, T_i) float32 tensor, labels=(T_i,) int64 tensor, video_id=str)``;
    batch them with :func:`collate`. Attributes: ``class_names``, ``sample_rate``, ``notice``,
    ``video_ids`` and ``data`` (the padded :class:`DemoData`).

    Raises:
        ValueError, TypeError: unknown ``name`` or ``split`` (see :func:`load_demo`).

    Example:
        >>> ds = DemoDataset("basicmotions", "test")
        >>> item = ds[0]
        >>> len(ds), tuple(item["features"].shape), item["labels"].dtype, item["video_id"]
        (15, (6, 600), torch.int64, 'basicmotions_test_01')
    """

    def __init__(self, name: str = "basicmotions", split: str = "train") -> None:
        self.data = load_demo(name, split)
        self.class_names = self.data.class_names
        self.sample_rate = self.data.sample_rate
        self.notice = self.data.notice
        self.video_ids = self.data.video_ids

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = _index(index, len(self))
        length = int(self.data.lengths[i])
        return {
            "features": torch.from_numpy(self.data.features[i, :, :length].copy()),
            "labels": torch.from_numpy(self.data.labels[i, :length].copy()),
            "video_id": self.video_ids[i],
        }


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pad a list of dataset items into one batch with a padding mask (``DataLoader(collate_fn=collate)``).

    Args:
        items: ``B >= 1`` dicts, each with ``features`` ``(C, T_i)`` (tensor or numpy, floating, the
            same ``C`` for all), ``video_id`` (str), and optionally ``labels`` ``(T_i,)`` (integer;
            in every item or in none) and ``segments`` (:class:`actseg.segments.Segments`; in every
            item or in none).

    Returns:
        ``dict(features=(B, C, T) float32, mask=(B, T) bool, lengths=(B,) int64, video_ids=list[str])``
        with ``T = max T_i``, features zero and ``mask`` ``False`` after each item's length; plus
        ``labels=(B, T) int64`` with ``-100`` in padding when the items have labels, and
        ``segments=list[Segments]`` when they have segments.

    Raises:
        TypeError: ``items`` is not a list of dicts, a field has the wrong type or dtype.
        ValueError: ``items`` is empty, a tensor has the wrong shape (channels differ from the first
            item's, labels do not have one value per frame), or ``labels``/``segments`` appear in some
            items only. The message names the item, e.g. ``items[1]['labels']``.

    Example:
        >>> import torch
        >>> a = {"features": torch.ones(2, 3), "labels": torch.tensor([0, 1, 1]), "video_id": "a"}
        >>> b = {"features": torch.ones(2, 1), "labels": torch.tensor([2]), "video_id": "b"}
        >>> batch = collate([a, b])
        >>> tuple(batch["features"].shape), batch["labels"].tolist(), batch["mask"].tolist()
        ((2, 2, 3), [[0, 1, 1], [2, -100, -100]], [[True, True, True], [True, False, False]])
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise TypeError(f"items: expected a list of dicts (dataset items), got {type_name(items)}")
    if not items:
        raise ValueError("items: expected at least one item, got an empty list")
    features, labels, segments, video_ids = [], [], [], []
    channels = None
    for b, item in enumerate(items):
        where = f"items[{b}]"
        instance_of(item, Mapping, where, "a dict with 'features' and 'video_id'")
        for key in ("features", "video_id"):
            if key not in item:
                raise ValueError(f"{where}: expected a {key!r} entry, got keys {sorted(map(str, item))}")
        x = item["features"]
        x = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
        x = tensor(x, f"{where}['features']", "(C, T)", sizes=None if channels is None else {"C": channels},
                   min_sizes={"T": 1})
        channels = x.shape[0]
        features.append(x)
        video_ids.append(instance_of(item["video_id"], str, f"{where}['video_id']", "a string"))
        for key in ("labels", "segments"):
            if (key in item) != (key in items[0]):
                has = "has" if key in items[0] else "has no"
                raise ValueError(f"{where}: expected a {key!r} entry in every item or in none, got items[0] that "
                                 f"{has} {key!r} and {where} that {'has' if key in item else 'has not'}")
        if "labels" in item:
            y = item["labels"]
            y = torch.from_numpy(y) if isinstance(y, np.ndarray) else y
            labels.append(tensor(y, f"{where}['labels']", "(T,)", dtype="integer", sizes={"T": x.shape[1]}))
        if "segments" in item:
            segments.append(instance_of(item["segments"], Segments, f"{where}['segments']"))
    lengths = torch.tensor([x.shape[1] for x in features], dtype=torch.int64)
    total = int(lengths.max())
    batch_features = torch.zeros(len(items), channels, total, dtype=torch.float32)
    for b, x in enumerate(features):
        batch_features[b, :, : x.shape[1]] = x
    out: dict[str, Any] = {
        "features": batch_features,
        "mask": torch.arange(total)[None, :] < lengths[:, None],
        "lengths": lengths,
        "video_ids": video_ids,
    }
    if labels:
        batch_labels = torch.full((len(items), total), IGNORE_INDEX, dtype=torch.int64)
        for b, y in enumerate(labels):
            batch_labels[b, : y.shape[0]] = y
        out["labels"] = batch_labels
    if segments:
        out["segments"] = segments
    return out
