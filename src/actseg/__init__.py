"""actseg: building blocks for temporal action segmentation, localization and parsing.

Submodules (imported lazily on first attribute access, so ``import actseg`` stays cheap and
compiles nothing): ``segments``, ``metrics``, ``io``, ``cli``, ``layers``, ``targets``, ``losses``,
``postprocess``, ``data``, ``viz``. ``actseg.warmup()`` compiles the numba kernels of metrics and post-processing ahead
of their first call (they are cached on disk; ``actseg warmup`` on the command line does the same).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Only submodules that exist: ``from actseg import *`` imports each of them.
_SUBMODULES = frozenset({"segments", "metrics", "io", "cli", "layers", "targets", "losses", "postprocess",
                         "data", "viz"})

__all__ = ["__version__", *sorted(_SUBMODULES), "warmup"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "warmup":
        return importlib.import_module(f"{__name__}._warmup").warmup
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | {"warmup"})
