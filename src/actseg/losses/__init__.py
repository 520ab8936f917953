"""Training losses of the five papers, each as a function ``xxx_loss(...)`` and a module ``XxxLoss(nn.Module)``.

Every loss takes ``mask=`` (``(B, T)`` bool, ``True`` = valid) or ``ignore_index=-100`` for labels and
``reduction="mean" | "sum" | "none"``, documents its denominator, and computes in float32 at least
under fp16/bf16 autocast. See ``docs/losses.md`` for the equation behind each.
"""

from ._classification import (
    BalancedBCELoss,
    BoundaryLoss,
    FocalLoss,
    HardNegativeBCELoss,
    balanced_bce_loss,
    boundary_loss,
    focal_loss,
    hard_negative_bce_loss,
)
from ._heatmap import NORMALIZERS, FocalHeatmapLoss, KeypointLoss, focal_heatmap_loss
from ._masks import BIoULoss, DiceLoss, GlobalMaskLoss, RedundancyLoss, biou_loss, dice_loss, redundancy_loss
from ._matching import PermutationLoss, permutation_loss
from ._parsing import GlobalParseLoss, LocalParseLoss, global_parse_loss, local_parse_loss
from ._smoothing import (
    DENOMINATORS,
    MultiStageLoss,
    SimilaritySmoothingLoss,
    SmoothingLoss,
    similarity_smoothing_loss,
    smoothing_loss,
)

__all__ = [
    "DENOMINATORS",
    "NORMALIZERS",
    "BIoULoss",
    "BalancedBCELoss",
    "BoundaryLoss",
    "DiceLoss",
    "FocalHeatmapLoss",
    "FocalLoss",
    "GlobalMaskLoss",
    "GlobalParseLoss",
    "HardNegativeBCELoss",
    "KeypointLoss",
    "LocalParseLoss",
    "MultiStageLoss",
    "PermutationLoss",
    "RedundancyLoss",
    "SimilaritySmoothingLoss",
    "SmoothingLoss",
    "balanced_bce_loss",
    "biou_loss",
    "boundary_loss",
    "dice_loss",
    "focal_heatmap_loss",
    "focal_loss",
    "global_parse_loss",
    "hard_negative_bce_loss",
    "local_parse_loss",
    "permutation_loss",
    "redundancy_loss",
    "similarity_smoothing_loss",
    "smoothing_loss",
]
