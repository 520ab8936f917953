"""Predictions -> segments: 1-D NMS and Soft-NMS, GSMT mask decoding, peaks, boundary-based refinement.

- :func:`soft_nms`, :func:`nms`, :func:`batched_nms`: numba kernels identical to ActionFormer's compiled
  ``nms_1d_cpu`` and ``batched_nms`` (no build step); :func:`soft_nms_preset` for the BMN / G-TAD /
  TAGS pandas variants.
- :func:`decode_global_masks`: GSMT class scores + global masks -> scored proposals.
- :func:`find_peaks`: plateau-aware peaks, or ASRF's ``argrelmax``.
- :func:`refine_by_boundaries`, :func:`relabel_short_segments`, :func:`gaussian_smoothing`: ASRF's
  post-processing (InterAct's boundary-based smoothing) for padded batches.
"""

from ._decode import decode_global_masks
from ._nms import SOFT_NMS_PRESETS, batched_nms, nms, soft_nms, soft_nms_preset
from ._peaks import PEAK_MODES, find_peaks
from ._refine import TIE_BREAKS, gaussian_smoothing, refine_by_boundaries, relabel_short_segments

__all__ = [
    "PEAK_MODES",
    "SOFT_NMS_PRESETS",
    "TIE_BREAKS",
    "batched_nms",
    "decode_global_masks",
    "find_peaks",
    "gaussian_smoothing",
    "nms",
    "refine_by_boundaries",
    "relabel_short_segments",
    "soft_nms",
    "soft_nms_preset",
]
