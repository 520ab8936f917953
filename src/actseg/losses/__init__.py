"""Training losses, each as a function ``xxx_loss(...)`` and a module ``XxxLoss(nn.Module)``.

Every loss takes ``mask=`` (``(B, T)`` bool, ``True`` = valid) or ``ignore_index=-100`` for labels and
``reduction="mean" | "sum" | "none"``, documents its denominator, and computes in float32 at least
under autocast.
"""

from ._smoothing import DENOMINATORS, MultiStageLoss, SmoothingLoss, smoothing_loss

__all__ = ["DENOMINATORS", "MultiStageLoss", "SmoothingLoss", "smoothing_loss"]
