"""actseg: building blocks for temporal action segmentation, localization and parsing.

Submodules (imported lazily on first attribute access, so ``import actseg`` stays cheap and
compiles nothing): ``segments``, ``metrics``, ``io``, ``cli``, and, as they land, ``layers``,
``targets``, ``losses``, ``postprocess``, ``data``, ``viz``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = frozenset(
    {"segments", "metrics", "io", "cli", "layers", "targets", "losses", "postprocess", "data", "viz"}
)

__all__ = ["__version__", *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
