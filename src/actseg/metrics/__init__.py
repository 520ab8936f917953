"""Evaluation metrics identical to the official scripts of the field, selected by ``protocol=``.

Temporal action segmentation: :func:`accuracy`, :func:`edit_score`, :func:`segment_stats`,
:func:`f1_score` (one video) and :class:`SegmentationMetrics` (a dataset, DDP-exact).
TAS numbers are percentages, as the scripts and papers report them.
"""

from ._segmentation import PROTOCOLS, SegmentationMetrics, accuracy, edit_score, f1_score, segment_stats

__all__ = ["PROTOCOLS", "SegmentationMetrics", "accuracy", "edit_score", "f1_score", "segment_stats"]
