"""Evaluation metrics identical to the official scripts of the field, selected by ``protocol=``.

- Temporal action segmentation: :func:`accuracy`, :func:`edit_score`, :func:`segment_stats`,
  :func:`f1_score` (one video) and :class:`SegmentationMetrics` (a dataset, DDP-exact). Percentages.
- Temporal action localization: :func:`detection_map` and :class:`DetectionMAP` (ActivityNet, ActionFormer,
  OpenTAD and mmaction2 protocols), the threshold sets, :func:`segment_map` and :func:`frame_map` (MTL-ERA's
  skeleton-TAS "mAP"s). Fractions in [0, 1].
- Boundaries (temporal action parsing, generic event boundaries): :func:`boundary_f1` and
  :class:`BoundaryF1` with the TAPOS, Kinetics-GEBD and ASRF protocols.

The three dataset accumulators share one base (per-video records keyed by video id, ``merge``,
``reset``, gather over ``torch.distributed`` with de-duplication, picklable): see
``docs/metrics.md``, "One accumulator base".
"""

from ._boundary import (
    ABSOLUTE_THRESHOLDS,
    BOUNDARY_PROTOCOLS,
    RELATIVE_THRESHOLDS,
    BoundaryF1,
    BoundaryMatch,
    boundary_f1,
)
from ._detection import (
    ACTIONFORMER_TIOU_THRESHOLDS,
    ACTIVITYNET_TIOU_THRESHOLDS,
    DETECTION_PROTOCOLS,
    THUMOS14_TIOU_THRESHOLDS,
    DetectionMAP,
    detection_map,
    frame_map,
    segment_map,
)
from ._segmentation import PROTOCOLS, SegmentationMetrics, accuracy, edit_score, f1_score, segment_stats

__all__ = [
    "ABSOLUTE_THRESHOLDS",
    "ACTIONFORMER_TIOU_THRESHOLDS",
    "ACTIVITYNET_TIOU_THRESHOLDS",
    "BOUNDARY_PROTOCOLS",
    "DETECTION_PROTOCOLS",
    "PROTOCOLS",
    "RELATIVE_THRESHOLDS",
    "THUMOS14_TIOU_THRESHOLDS",
    "BoundaryF1",
    "BoundaryMatch",
    "DetectionMAP",
    "SegmentationMetrics",
    "accuracy",
    "boundary_f1",
    "detection_map",
    "edit_score",
    "f1_score",
    "frame_map",
    "segment_map",
    "segment_stats",
]
