"""Datasets over feature folders on disk: the MS-TCN layout (frame labels) and ActivityNet JSON (segments).

Features are ``<folder>/<video>.npy`` arrays ``(C, T)``, channels first, opened memory-mapped
(``np.load(mmap_mode="r")``): an item reads only its own video from disk, so Breakfast-sized sets do
not load into RAM. Every bad file raises one error whose message starts with the file and names the
video: ``"<file>: video '<video>': ..."``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from .._checks import file_path, flag, instance_of, name_list, real, size
from ..io import read_activitynet_ground_truth, read_label_file, read_mapping, read_split
from ..segments import Segments
from ._datasets import _index

_Path = Union[str, os.PathLike]


def _folder(value: Any, name: str) -> Path:
    """An existing directory (FileNotFoundError naming ``name`` and the path otherwise)."""
    path = file_path(value, name)
    if not path.is_dir():
        raise FileNotFoundError(f"{name}: no such folder: {value}")
    return path


def _feature_shape(path: Path, video: str, listed_in: Path, channels: Optional[int]) -> tuple[int, int]:
    """``(C, T)`` of a ``(C, T)`` feature file, read from its header only (memory-mapped, nothing loaded)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: video {video!r}: no such feature file (the video is listed in {listed_in})")
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: video {video!r}: expected a .npy array, got an unreadable file ({exc})") from None
    shape = array.shape
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{path}: video {video!r}: expected real features (float or integer), got dtype {array.dtype}")
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"{path}: video {video!r}: expected features of shape (C, T) with T >= 1, got shape "
                         f"{tuple(shape)}")
    if channels is not None and shape[0] != channels:
        raise ValueError(f"{path}: video {video!r}: expected {channels} channels (as the first video), got shape "
                         f"{tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _load_features(path: Path, mmap: bool, step: int = 1) -> torch.Tensor:
    """``(C, ceil(T / step))`` float32 tensor of one feature file; with ``mmap`` only those frames are read."""
    array = np.load(path, mmap_mode="r" if mmap else None)
    return torch.from_numpy(np.array(array[:, ::step], dtype=np.float32, order="C"))


class MSTCNFolderDataset(torch.utils.data.Dataset):
    """One split of a dataset in the MS-TCN folder layout (Breakfast, 50Salads, GTEA as ms-tcn ships them).

    Layout (MS-TCN, Farha & Gall, CVPR 2019; read by ms-tcn, MS-TCN2, ASFormer, ASRF, C2F-TCN, DiffAct, FACT)::

        root/mapping.txt                              "<id> <name>" per line, ids 0..K-1
        root/splits/<split>.split<split_index>.bundle one "<video>.txt" per line
        root/groundTruth/<video>.txt                  one class name per frame and line
        root/features/<video>.npy                     float (C, T), channels first

    Items: ``dict(features=(C, T') float32 tensor, labels=(T',) int64 tensor, video_id=str)`` with
    ``T' = ceil(T / sample_rate)``: frames ``0, sample_rate, 2 * sample_rate, ...`` (ms-tcn's
    ``features[:, ::sample_rate]``; 50Salads uses ``sample_rate=2``). Batch them with :func:`collate`.

    The constructor checks every listed video: the mapping ids are ``0 .. K-1``, each feature file
    exists and is ``(C, T)`` with one ``C`` for all (read from the ``.npy`` header only), and the
    ground truth has one known label per feature frame. Labels are kept in memory (int64, 8 bytes a
    frame); features are read per item, memory-mapped when ``mmap=True`` (only the item's frames are
    read from disk).

    Args:
        root: the dataset folder.
        split: split name, ``"train"`` or ``"test"`` as ms-tcn's bundles.
        split_index: the ``k`` of ``<split>.split<k>.bundle`` (``>= 1``).
        sample_rate: keep every ``sample_rate``-th frame (``>= 1``).
        mmap: open features with ``np.load(mmap_mode="r")`` (``False``: load each file whole).

    Attributes:
        mapping: ``{name: id}`` from ``mapping.txt``; ``class_names``: the names in id order;
        ``video_ids``: the split's videos in bundle order; ``num_channels``: ``C``.

    Raises:
        FileNotFoundError: ``root``, ``mapping.txt``, the bundle, a feature file or a ground-truth file
            is missing (the message names the file and the video).
        ValueError: bad mapping or bundle (see :mod:`actseg.io`), mapping ids that are not
            ``0 .. K-1``, a feature file that is not ``(C, T)`` or has another ``C`` than the first
            video, a ground truth with an unknown label or with a label count other than the feature
            frame count; the message starts with the file and names the video.
        TypeError: an argument of the wrong type.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for d in ("features", "groundTruth", "splits"):
        ...     (root / d).mkdir()
        >>> _ = (root / "mapping.txt").write_text("0 bg\\n1 pour\\n")
        >>> _ = (root / "splits" / "test.split1.bundle").write_text("v1.txt\\n")
        >>> _ = (root / "groundTruth" / "v1.txt").write_text("bg\\npour\\npour\\nbg\\nbg\\n")
        >>> np.save(root / "features" / "v1.npy", np.arange(10.0).reshape(2, 5))
        >>> ds = MSTCNFolderDataset(root, "test", sample_rate=2)
        >>> item = ds[0]
        >>> ds.class_names, item["features"].tolist(), item["labels"].tolist(), item["video_id"]
        (('bg', 'pour'), [[0.0, 2.0, 4.0], [5.0, 7.0, 9.0]], [0, 1, 0], 'v1')
    """

    def __init__(self, root: _Path, split: str = "train", *, split_index: int = 1, sample_rate: int = 1,
                 mmap: bool = True) -> None:
        self.root = _folder(root, "root")
        instance_of(split, str, "split", "a string")
        self.split_index = size(split_index, "split_index")
        self.sample_rate = size(sample_rate, "sample_rate")
        self.mmap = flag(mmap, "mmap")
        self.mapping = read_mapping(self.root / "mapping.txt")
        ids = sorted(self.mapping.values())
        if ids != list(range(len(ids))):
            raise ValueError(f"{self.root / 'mapping.txt'}: expected class ids 0..{len(ids) - 1} (one per line), "
                             f"got {ids[:20]}{' ...' if len(ids) > 20 else ''}")
        names = {class_id: name for name, class_id in self.mapping.items()}
        self.class_names = tuple(names[i] for i in range(len(ids)))
        bundle = self.root / "splits" / f"{split}.split{self.split_index}.bundle"
        self.video_ids = tuple(read_split(bundle))
        self._features: list[Path] = []
        self._labels: list[np.ndarray] = []
        self.num_channels: Optional[int] = None
        for video in self.video_ids:
            feature_file = self.root / "features" / f"{video}.npy"
            self.num_channels, frames = _feature_shape(feature_file, video, bundle, self.num_channels)
            labels = self._read_labels(self.root / "groundTruth" / f"{video}.txt", video, bundle)
            if labels.shape[0] != frames:
                raise ValueError(f"{self.root / 'groundTruth' / f'{video}.txt'}: video {video!r}: expected {frames} "
                                 f"frame labels (one per frame of {feature_file}), got {labels.shape[0]}")
            self._features.append(feature_file)
            self._labels.append(labels[:: self.sample_rate].copy())

    def _read_labels(self, path: Path, video: str, bundle: Path) -> np.ndarray:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: video {video!r}: no such ground-truth file (the video is listed in "
                                    f"{bundle})")
        try:
            return read_label_file(path, self.mapping)
        except ValueError as exc:  # "<path>: frame 3: unknown label ..." -> "<path>: video 'v': frame 3: ..."
            message = str(exc)
            prefix = f"{path}: "
            rest = message[len(prefix):] if message.startswith(prefix) else message
            raise ValueError(f"{path}: video {video!r}: {rest}") from None

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = _index(index, len(self))
        return {
            "features": _load_features(self._features[i], self.mmap, self.sample_rate),
            "labels": torch.from_numpy(self._labels[i].copy()),
            "video_id": self.video_ids[i],
        }


class ActivityNetDataset(torch.utils.data.Dataset):
    """Videos of an ActivityNet-style ground-truth JSON with their features, for temporal action localization.

    The JSON is ActivityNet's (Caba Heilbron et al., CVPR 2015; read by
    :func:`actseg.io.read_activitynet_ground_truth`): ``{"database": {video: {"subset", "duration",
    "annotations": [{"segment": [start_s, end_s], "label"}]}}}``, times in seconds. Features are
    ``features/<video>.npy`` arrays ``(C, T)``, channels first, one column per *feature frame*.

    Seconds -> feature frames (the package works in frames; seconds stay in ``actseg.io``):

    * ``fps=None`` (default): the ``T`` feature frames cover the whole video evenly, as the
      rescaled features of BMN/G-TAD (``T = 100``) or any per-video resampling: a feature frame lasts
      ``duration / T`` seconds, ``frame = seconds * T / duration`` (``duration`` from the JSON).
    * ``fps`` given: features were taken every ``feature_stride`` video frames of a ``fps`` video (as
      ActionFormer's ``feat_stride``): ``frame = seconds * fps / feature_stride``.

    ``frames_per_second[video]`` holds the factor used; pass it as ``fps=`` to
    :func:`actseg.io.write_activitynet_predictions` to write detections in feature frames back in
    seconds. Converted segments are float64, clipped to ``[0, T]``; a segment that is empty after
    clipping (it lies after the last feature frame) is dropped.

    Items: ``dict(features=(C, T) float32 tensor, segments=Segments (feature frames), video_id=str)``;
    :func:`collate` pads them and keeps ``segments`` as a list.

    Args:
        annotations: the ground-truth JSON file.
        features: the folder of ``<video>.npy`` files.
        subset: the videos of this subset (``None``: all).
        class_names: names of the class ids ``0 .. K-1``; default: the order in which labels first
            appear in the whole file, every subset included (so datasets of two subsets share the ids;
            the official evaluator numbers the labels of its subset only, which gives the same mAP).
            ``.class_names`` holds the result.
        fps: video frames per second, or ``None`` (see above).
        feature_stride: video frames per feature frame, with ``fps`` (``>= 1``).
        mmap: open features with ``np.load(mmap_mode="r")``.

    Raises:
        FileNotFoundError: the JSON, the folder or a video's feature file is missing (the message
            names the file and the video).
        ValueError: a bad JSON entry or a label not in ``class_names`` (see
            :func:`actseg.io.read_activitynet_ground_truth`), a feature file that is not ``(C, T)``,
            a missing or non-positive ``duration`` with ``fps=None``; the message names the file and
            the video.
        TypeError: an argument of the wrong type.

    Example:
        >>> import json, tempfile, pathlib, numpy as np
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "features").mkdir()
        >>> _ = (root / "gt.json").write_text(json.dumps({"database": {"v1": {"subset": "validation",
        ...     "duration": 20.0, "annotations": [{"segment": [5.0, 12.5], "label": "Run"}]}}}))
        >>> np.save(root / "features" / "v1.npy", np.zeros((3, 8), dtype=np.float32))
        >>> ds = ActivityNetDataset(root / "gt.json", root / "features")
        >>> seg = ds[0]["segments"]  # 8 feature frames over 20 s: 0.4 feature frames per second
        >>> ds.class_names, seg.starts.tolist(), seg.ends.tolist(), ds.frames_per_second["v1"]
        (('Run',), [2.0], [5.0], 0.4)
    """

    def __init__(self, annotations: _Path, features: _Path, *, subset: Optional[str] = "validation",
                 class_names: Optional[Sequence[str]] = None, fps: Optional[float] = None, feature_stride: int = 1,
                 mmap: bool = True) -> None:
        annotations = file_path(annotations, "annotations")
        folder = _folder(features, "features")
        if class_names is not None:
            class_names = name_list(class_names, "class_names")
        fps = real(fps, "fps", low=0.0, low_open=True, none=True)
        feature_stride = size(feature_stride, "feature_stride")
        self.mmap = flag(mmap, "mmap")
        if class_names is None:  # numbered over the whole file: a training and a validation set share the ids
            mapping = read_activitynet_ground_truth(annotations, subset=None)[1]
        else:
            mapping = {name: i for i, name in enumerate(class_names)}
        ground_truth, mapping = read_activitynet_ground_truth(annotations, subset=subset, mapping=mapping)
        self.class_names = tuple(class_names) if class_names is not None else tuple(mapping)
        database = json.loads(annotations.read_text(encoding="utf-8"))["database"] if fps is None else {}
        self.video_ids = tuple(ground_truth)
        self.frames_per_second: dict[str, float] = {}
        self._features: list[Path] = []
        self._segments: list[Segments] = []
        channels = None
        for video, seconds in ground_truth.items():
            feature_file = folder / f"{video}.npy"
            channels, frames = _feature_shape(feature_file, video, annotations, channels)
            if fps is None:
                duration = database[video].get("duration")
                try:
                    duration = real(duration, "duration", low=0.0, low_open=True)
                except (TypeError, ValueError):
                    raise ValueError(f"{annotations}: video {video!r}: expected a 'duration' > 0 (seconds) to map "
                                     f"seconds to the {frames} feature frames (or pass fps=), got {duration!r}"
                                     ) from None
                rate = frames / duration
            else:
                rate = fps / feature_stride
            starts = np.clip(seconds.starts * rate, 0.0, frames)
            ends = np.clip(seconds.ends * rate, 0.0, frames)
            keep = ends > starts
            self.frames_per_second[video] = rate
            self._features.append(feature_file)
            self._segments.append(Segments(starts[keep], ends[keep], seconds.labels[keep]))
        self.num_channels = channels

    def __len__(self) -> int:
        return len(self.video_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = _index(index, len(self))
        return {
            "features": _load_features(self._features[i], self.mmap),
            "segments": self._segments[i][np.arange(len(self._segments[i]))],  # a copy
            "video_id": self.video_ids[i],
        }
