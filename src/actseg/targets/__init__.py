"""Ground truth → training targets: batched, masked and vectorised (no per-frame Python loop).

Every builder takes frame labels ``(B, T)`` int64 (tensor or numpy array) with ``ignore_index=-100``
at padded frames and/or ``mask=(B, T)`` bool (``True`` = valid), and returns tensors on the labels'
device that are 0 (float targets) or ``ignore_index`` (integer targets) at padded frames. Segments
are the maximal runs of one class not in ``background`` within the valid frames, half-open
``[start, end)``.

- Temporal keypoints (RTK §3.1, Eq. (1)–(2), §4.1): :func:`boundary_heatmap`,
  :func:`action_point_heatmaps`.
- Global segmentation masks (GSMT §3.3; TAGS loader): :func:`global_mask_targets`,
  :func:`segments_to_global_masks`, :func:`segments_to_snippets`, :func:`resample_snippets`.
- Boundaries and class masks: :func:`boundary_labels` (ASRF), :func:`gaussian_boundary_targets`
  (InterAct Eq. (8)), :func:`class_mask_targets` (InterAct Eq. (6)).
- 2D-skeleton heatmaps (§III-A, Eq. (1)–(2), PoseC3D): :func:`skeleton_heatmaps`.

See ``docs/targets.md`` for the equations and every choice made where the papers are silent.
"""

from ._boundaries import boundary_labels, class_mask_targets, gaussian_boundary_targets
from ._keypoints import action_point_heatmaps, boundary_heatmap
from ._skeleton import skeleton_heatmaps
from ._snippets import global_mask_targets, resample_snippets, segments_to_global_masks, segments_to_snippets

__all__ = [
    "action_point_heatmaps",
    "boundary_heatmap",
    "boundary_labels",
    "class_mask_targets",
    "gaussian_boundary_targets",
    "global_mask_targets",
    "resample_snippets",
    "segments_to_global_masks",
    "segments_to_snippets",
    "skeleton_heatmaps",
]
