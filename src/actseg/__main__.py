"""``python -m actseg ...``: the ``actseg`` command line (see :mod:`actseg.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
