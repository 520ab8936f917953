"""Compile actseg's numba kernels ahead of the first real call (``actseg warmup``, :func:`warmup`).

The kernels of :mod:`actseg.metrics` and :mod:`actseg.postprocess` are numba functions compiled
with ``cache=True``: the first call of each in a fresh environment compiles it (several seconds in
all) and stores the machine code on disk (``__pycache__`` next to the sources, or
``NUMBA_CACHE_DIR``); later processes load it in milliseconds. :func:`warmup` calls every public
entry point that reaches a kernel once, on tiny inputs with the dtypes real inputs get (int64
labels; float32 and float64 scores), so the cache is filled before a training run, a job array or a
timed benchmark starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["warmup"]


def _segmentation() -> None:
    from .metrics import SegmentationMetrics, accuracy, edit_score, f1_score

    pred = np.array([0, 1, 1, 2, 2, 0, 3], dtype=np.int64)
    target = np.array([0, 1, 1, 1, 2, 0, 3], dtype=np.int64)
    accuracy(pred, target)
    edit_score(pred, target, background=(0,))
    f1_score(pred, target, background=(0,))
    metrics = SegmentationMetrics(background=(0,))
    metrics.update(pred, target, video_ids="warmup")
    scores = np.eye(4, dtype=np.float32)[pred].T[None]  # (B, K, T) class scores
    metrics.update(scores, target[None], video_ids=["warmup2"])
    metrics.compute()


def _boundary() -> None:
    from .metrics import boundary_f1

    boundary_f1(np.array([3.0, 10.0]), np.array([4.0, 12.0]), tolerance=2.0)
    boundary_f1(np.array([3.0, 10.0]), np.array([4.0, 12.0]), tolerance=0.05, relative_to=20.0)


def _detection() -> None:
    from .metrics import detection_map, segment_map
    from .segments import Segments

    gt = {"v": Segments(np.array([1.0, 6.0]), np.array([4.0, 9.0]), np.array([0, 1]))}
    pred = {"v": Segments(np.array([1.5, 6.0, 0.0]), np.array([4.0, 8.0, 2.0]), np.array([0, 1, 1]),
                          np.array([0.9, 0.8, 0.3]))}
    detection_map(pred, gt, tiou_thresholds=(0.3, 0.5, 0.7))
    segment_map(pred, gt)


def _nms() -> None:
    from .postprocess import batched_nms, nms, soft_nms

    for dtype in (np.float32, np.float64):
        segments = np.array([[0.0, 4.0], [1.0, 5.0], [8.0, 9.0]], dtype=dtype)
        scores = np.array([0.9, 0.8, 0.5], dtype=dtype)
        for method in ("gaussian", "linear", "hard"):
            soft_nms(segments, scores, method=method)
        nms(segments, scores, iou_threshold=0.5)
        batched_nms(segments, scores, np.array([0, 0, 1]), iou_threshold=0.5, min_score=0.001, max_num=10)


def _refinement() -> None:
    from .postprocess import find_peaks, refine_by_boundaries, relabel_short_segments

    for dtype in (np.float32, np.float64):
        boundary = np.array([[0.1, 0.9, 0.2, 0.1, 0.7, 0.1]], dtype=dtype)
        find_peaks(boundary)
        scores = np.random.default_rng(0).random((1, 3, 6)).astype(dtype)
        refine_by_boundaries(scores, boundary)
    labels = np.array([[0, 0, 1, 0, 0, 2, 2]], dtype=np.int64)
    refine_by_boundaries(labels, np.array([[0.1, 0.9, 0.2, 0.1, 0.7, 0.1, 0.0]]))
    relabel_short_segments(labels, max_length=1)


_GROUPS: dict[str, Callable[[], None]] = {
    "segmentation metrics": _segmentation,
    "boundary F1": _boundary,
    "detection mAP": _detection,
    "NMS / Soft-NMS": _nms,
    "peaks and refinement": _refinement,
}


def warmup() -> dict[str, float]:
    """Compile (or load from the on-disk cache) the numba kernels of metrics and post-processing.

    Call it once after installing actseg, or at the start of a job, so that no later call pays the
    compilation (about 10 s in all on a 2-core CPU; milliseconds once cached).

    Returns:
        Seconds spent per group of kernels, in call order (``"segmentation metrics"``,
        ``"boundary F1"``, ``"detection mAP"``, ``"NMS / Soft-NMS"``, ``"peaks and refinement"``).

    Example:
        >>> import actseg
        >>> seconds = actseg.warmup()
        >>> sorted(seconds) == sorted(["segmentation metrics", "boundary F1", "detection mAP",
        ...                            "NMS / Soft-NMS", "peaks and refinement"])
        True
    """
    timings: dict[str, float] = {}
    for name, run in _GROUPS.items():
        start = time.perf_counter()
        run()
        timings[name] = time.perf_counter() - start
    return timings
