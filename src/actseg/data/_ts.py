"""Reader of the sktime/UEA ``.ts`` text format (equal-length recordings), used by the demo-data generator."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from ..io import _read_text

_Path = Union[str, os.PathLike]


def read_ts(path: _Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an equal-length ``.ts`` file of the UEA/UCR archives (sktime's text format).

    The format: ``#`` comment lines, ``@`` header lines, a ``@data`` line, then one recording per
    line with the channels separated by ``:``, the values of a channel by ``,`` and the class label
    last. Used to build the embedded demo data (:func:`actseg.data.load_demo`) from BasicMotions
    (Bagnall et al. 2018, arXiv:1811.00075) and GunPoint (Dau et al. 2019).

    Args:
        path: the ``.ts`` file.

    Returns:
        ``(x, y)``: ``x`` float64 ``(N, D, L)`` recordings (``D`` channels of ``L`` samples), ``y``
        ``(N,)`` class names (str), in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        TypeError: ``path`` is not a str or ``os.PathLike``.
        ValueError: no ``@data`` line, no recording, a recording without values, a value that is not a
            number, recordings of different shapes, or a file that is not UTF-8 text (the message names
            the file).

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "tiny.ts"
        >>> _ = f.write_text("# two recordings, 2 channels of 3 samples\\n@problemName tiny\\n@data\\n"
        ...                  "1,2,3:4,5,6:walk\\n0,0,0:1,1,1:rest\\n")
        >>> x, y = read_ts(f)
        >>> x.shape, y.tolist()
        ((2, 2, 3), ['walk', 'rest'])
    """
    lines = _read_text(path, "path").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().lower() == "@data"]
    if not starts:
        raise ValueError(f"{path}: expected a '@data' line, got none")
    records = [line.strip().split(":") for line in lines[starts[0] + 1 :] if line.strip()]
    if not records:
        raise ValueError(f"{path}: expected at least one recording after '@data', got none")
    labels = np.array([fields[-1] for fields in records])
    try:
        values = [[np.array(dim.split(","), dtype=np.float64) for dim in fields[:-1]] for fields in records]
    except ValueError as exc:
        raise ValueError(f"{path}: expected comma-separated numbers, got {exc}") from None
    shapes = {tuple(len(dim) for dim in record) for record in values}
    if len(shapes) != 1:
        raise ValueError(f"{path}: expected recordings of one shape (lengths per channel), got {sorted(shapes)}")
    if not values[0]:
        raise ValueError(f"{path}: expected at least one channel per recording ('values:label'), "
                         f"got only labels, e.g. {records[0][0]!r}")
    return np.array(values), labels
