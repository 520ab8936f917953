"""Datasets, a padding collate and the embedded demo data for temporal action segmentation.

Public names (imported lazily on first access, so ``import actseg.data`` loads neither torch nor the
demo file):

* :func:`load_demo`, :class:`DemoData`: the embedded demo sets (numpy only);
* :class:`DemoDataset`, :class:`MSTCNFolderDataset`, :class:`ActivityNetDataset`:
  ``torch.utils.data.Dataset`` s whose items are dicts of unpadded tensors;
* :func:`collate`: pads a list of items to ``(B, C, T)`` features, ``(B, T)`` labels (``-100`` in
  padding) and a ``(B, T)`` bool mask (``True`` = valid frame), the package's batch conventions;
* :func:`read_ts`: the ``.ts`` text format of the UEA/UCR archives.

Data notice: the embedded demo data (``demo.npz`` beside this module) is derived from two public
time-series classification sets, copied from the sktime 1.2.0 wheel (BSD-3 package; the data files
carry no licence of their own): **BasicMotions**, UEA multivariate time series classification archive
(A. Bagnall et al., "The UEA multivariate time series classification archive, 2018",
arXiv:1811.00075), and **GunPoint**, UCR time series archive (H. A. Dau et al. 2019;
C. A. Ratanamahatana and E. Keogh 2005). Cite the archives when you use it; ``NOTICE.md`` beside this
module and ``DemoData.notice`` say the same.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "DemoData": "._demo",
    "load_demo": "._demo",
    "read_ts": "._ts",
    "DemoDataset": "._datasets",
    "collate": "._datasets",
    "MSTCNFolderDataset": "._folders",
    "ActivityNetDataset": "._folders",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))
