"""The embedded demo data: recordings of BasicMotions and GunPoint concatenated into labelled sequences.

See :func:`load_demo`; the file ``demo.npz`` beside this module is written by ``_make_demo.py``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._checks import choice

DEMO_FILE = Path(__file__).with_name("demo.npz")
DEMO_NAMES = ("basicmotions", "gunpoint")
SPLITS = ("train", "test")

NOTICE = (
    "actseg demo data: sequences composed by concatenating recordings of two public time-series "
    "classification sets, copied from the sktime 1.2.0 wheel (sktime/datasets/data/, BSD-3 package; the "
    "data files carry no licence of their own). BasicMotions: UEA multivariate time series classification "
    "archive (A. Bagnall et al., 'The UEA multivariate time series classification archive, 2018', "
    "arXiv:1811.00075), smartwatch 3-axis accelerometer + 3-axis gyroscope, 10 Hz. GunPoint: UCR time "
    "series archive (H. A. Dau et al., 'The UCR time series archive', IEEE/CAA J. Autom. Sinica 2019; "
    "C. A. Ratanamahatana and E. Keogh, 'Three myths about dynamic time warping data mining', SDM 2005), "
    "x-coordinate of the right hand in video. Cite the archives when you use this data. The action "
    "boundaries are joins of separate recordings, not natural transitions between activities."
)

# name -> (class names in id order, sample rate in Hz)
DEMO_SETS = {
    "basicmotions": (("Standing", "Running", "Walking", "Badminton"), 10.0),
    # 150 samples per gesture recording of about 5 s: 30 frames per second (the archive's video rate)
    "gunpoint": (("Gun-Draw", "Point"), 30.0),
}


class DemoData(NamedTuple):
    """One split of an embedded demo set (see :func:`load_demo`), padded to its longest sequence.

    Attributes:
        features: ``(N, C, T)`` float32, zero after each sequence's length.
        labels: ``(N, T)`` int64 class ids, ``-100`` (the package's ``ignore_index``) in padding.
        lengths: ``(N,)`` int64 frames of each sequence.
        class_names: ``(K,)`` names of the class ids ``0 .. K-1``.
        video_ids: ``(N,)`` sequence names, e.g. ``"basicmotions_train_01"``.
        sample_rate: frames per second (Hz) of the recordings.
        notice: the attribution of the source data (cite the archives when you use it).

    Example:
        >>> data = load_demo("gunpoint", "test")
        >>> data.class_names, data.sample_rate
        (('Gun-Draw', 'Point'), 30.0)
    """

    features: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    class_names: tuple[str, ...]
    video_ids: tuple[str, ...]
    sample_rate: float
    notice: str


@functools.lru_cache(maxsize=1)
def _archive() -> dict[str, np.ndarray]:
    """Every array of ``demo.npz`` (read once; callers copy what they return)."""
    with np.load(DEMO_FILE, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def load_demo(name: str = "basicmotions", split: str = "train") -> DemoData:
    """Load an embedded demo set: real sensor recordings concatenated into labelled sequences.

    Two sets, each composed once (fixed seed) by concatenating 4-8 recordings per sequence, the
    ``train`` sequences only from the archive's TRAIN recordings and the ``test`` sequences only from
    its TEST recordings (a recording may appear in several sequences of its split, never in the
    other split); two consecutive recordings always have different classes, so every join is an
    action boundary. The boundaries are exact but they are joins of separate recordings, not
    natural transitions between activities.

    ======================  =====  ==========  =====================================  ==========
    ``name``                ``C``  rate (Hz)   classes                                sequences
    ======================  =====  ==========  =====================================  ==========
    ``"basicmotions"``      6      10          Standing, Running, Walking, Badminton  30 / 15
    ``"gunpoint"``          1      30          Gun-Draw, Point                        24 / 16
    ======================  =====  ==========  =====================================  ==========

    BasicMotions (UEA archive, Bagnall et al. 2018, arXiv:1811.00075): smartwatch 3-axis
    accelerometer then 3-axis gyroscope, 100 frames (10 s) per recording. GunPoint (UCR archive,
    Dau et al. 2019; Ratanamahatana & Keogh 2005): x-coordinate of the right hand tracked in video,
    150 frames per recording. ``DemoData.notice`` holds the full attribution.

    Args:
        name: ``"basicmotions"`` or ``"gunpoint"``.
        split: ``"train"`` or ``"test"``.

    Returns:
        :class:`DemoData` with ``features (N, C, T)`` float32 (zero-padded), ``labels (N, T)`` int64
        (``-100`` in padding), ``lengths (N,)`` int64, ``class_names``, ``video_ids``,
        ``sample_rate`` and ``notice``. Fresh arrays on every call.

    Raises:
        ValueError: unknown ``name`` or ``split``.
        TypeError: ``name`` or ``split`` is not a string.

    Example:
        >>> data = load_demo("basicmotions", "train")
        >>> data.features.shape[:2], data.labels.shape == (data.features.shape[0], data.features.shape[2])
        ((30, 6), True)
        >>> data.class_names, int(data.lengths[0]), data.video_ids[0]
        (('Standing', 'Running', 'Walking', 'Badminton'), 800, 'basicmotions_train_01')
    """
    choice(name, DEMO_NAMES, "name")
    choice(split, SPLITS, "split")
    class_names, sample_rate = DEMO_SETS[name]
    archive = _archive()
    recordings = archive[f"{name}_{split}_x"]  # (R, C, L) float32
    recording_labels = archive[f"{name}_{split}_y"].astype(np.int64)  # (R,)
    order = archive[f"{name}_{split}_order"].astype(np.int64)  # recording indices of all sequences, in order
    counts = archive[f"{name}_{split}_counts"].astype(np.int64)  # (N,) recordings per sequence
    n, channels, length = counts.shape[0], recordings.shape[1], recordings.shape[2]
    lengths = counts * length
    total = int(lengths.max())
    # slot (n, k) holds the k-th recording of sequence n; empty slots stay zero / -100
    slots = total // length
    valid = np.arange(slots)[None, :] < counts[:, None]  # (N, slots)
    index = np.zeros((n, slots), dtype=np.int64)
    index[valid] = order
    features = recordings[index].transpose(0, 2, 1, 3).reshape(n, channels, total)  # (N, C, slots * L)
    features = np.where(np.repeat(valid, length, axis=1)[:, None, :], features, np.float32(0))
    labels = np.where(valid, recording_labels[index], -100)
    labels = np.repeat(labels, length, axis=1)
    video_ids = tuple(f"{name}_{split}_{i:02d}" for i in range(1, n + 1))
    return DemoData(np.ascontiguousarray(features, dtype=np.float32), labels.astype(np.int64), lengths, class_names,
                    video_ids, sample_rate, NOTICE)
