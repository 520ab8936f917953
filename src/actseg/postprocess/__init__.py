"""Predictions -> segments: 1-D NMS and Soft-NMS, GSMT mask decoding, peaks, boundary-based refinement.

- :func:`soft_nms`, :func:`nms`, :func:`batched_nms`: numba kernels identical to ActionFormer's compiled
  ``nms_1d_cpu`` and ``batched_nms`` (no build step); :func:`soft_nms_preset` for the BMN / G-TAD /
  TAGS pandas variants.
- :func:`decode_global_masks`: GSMT class scores + global masks -> scored proposals.
- :func:`find_peaks`: plateau-aware peaks, or ASRF's ``argrelmax`` (``peak_rule=``, one of ``PEAK_RULES``).
- :func:`watershed_peaks`, :func:`reassemble` (:class:`Keypoints`): RTK's keypoint candidates and
  rule-based re-assembly into segments.
- :func:`refine_by_boundaries`, :func:`relabel_short_segments`, :func:`gaussian_smoothing`: ASRF's
  post-processing (InterAct's boundary-based smoothing) for padded batches.
- :func:`pattern_boundaries`: TransParser's parsing rule (sub-actions start where the argmax pattern of the
  SPS attention changes).
"""

import warnings as _warnings
from typing import Any as _Any

from ._decode import decode_global_masks
from ._keypoints import Keypoints, reassemble, watershed_peaks
from ._nms import SOFT_NMS_PRESETS, batched_nms, nms, soft_nms, soft_nms_preset
from ._parsing import pattern_boundaries
from ._peaks import PEAK_RULES, find_peaks
from ._refine import gaussian_smoothing, refine_by_boundaries, relabel_short_segments

_DEPRECATED = {  # 0.1 names, kept for one minor release: name -> (module attribute, replacement)
    "PEAK_MODES": ("_peaks", "PEAK_RULES", "PEAK_RULES"),
    "TIE_BREAKS": ("_refine", "TIE_BREAKS", "refine_by_boundaries(reference=None | 'asrf')"),
}


def __getattr__(name: str) -> _Any:
    if name in _DEPRECATED:
        module, attribute, use = _DEPRECATED[name]
        _warnings.warn(f"actseg.postprocess.{name} is deprecated and will be removed in the next minor release; "
                       f"use {use}", DeprecationWarning, stacklevel=2)
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{module}"), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PEAK_RULES",
    "SOFT_NMS_PRESETS",
    "Keypoints",
    "batched_nms",
    "decode_global_masks",
    "find_peaks",
    "gaussian_smoothing",
    "nms",
    "pattern_boundaries",
    "reassemble",
    "refine_by_boundaries",
    "relabel_short_segments",
    "soft_nms",
    "soft_nms_preset",
    "watershed_peaks",
]
