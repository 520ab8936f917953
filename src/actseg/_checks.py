"""Validation helpers shared by the public functions (messages name the argument, expected, actual)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import numpy as np


def is_tensor(x: Any) -> bool:
    """True for a ``torch.Tensor`` without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert a numpy array, a tensor (any device) or a sequence to a numpy array."""
    if isinstance(x, np.ndarray):
        return x
    if is_tensor(x):
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple, range)):
        return np.asarray(x)
    raise TypeError(f"{name}: expected a numpy array, a torch.Tensor or a sequence, got {type(x).__name__}")


def shape_str(shape: Iterable[int]) -> str:
    """A shape as Python prints a tuple, for error messages."""
    return str(tuple(int(s) for s in shape))


def integer_array(x: Any, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """``x`` as an int64 numpy array of the given rank; TypeError for non-integer dtypes."""
    arr = to_numpy(x, name)
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{name}: expected a {expected} array, got shape {shape_str(arr.shape)}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0 and arr.dtype == np.float64 and not isinstance(x, np.ndarray):
            return arr.astype(np.int64)  # an empty Python list
        raise TypeError(f"{name}: expected an integer dtype, got {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def label_array(x: Any, name: str, *, ignore_index: int | None = None) -> np.ndarray:
    """A 1-D, non-empty int64 array of class ids >= 0 (``ignore_index`` allowed if given)."""
    arr = integer_array(x, name, 1)
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of frame labels, got length 0")
    check_labels_nonnegative(arr, name, ignore_index=ignore_index)
    return arr


def check_labels_nonnegative(arr: np.ndarray, name: str, *, ignore_index: int | None = None) -> None:
    """ValueError naming ``name`` if a class id is negative (``ignore_index`` excepted)."""
    lowest = arr.min(initial=0)
    if lowest < 0:
        bad = arr[arr < 0]
        if ignore_index is not None:
            bad = bad[bad != ignore_index]
        if bad.size:
            allowed = "" if ignore_index is None else f" or ignore_index={ignore_index}"
            raise ValueError(f"{name}: expected class ids >= 0{allowed}, got {int(bad[0])}")


def id_set(values: Any, name: str) -> np.ndarray:
    """A collection of class ids as a sorted unique int64 array (e.g. ``background``)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name}: expected a collection of integer class ids, got a string {values!r}")
    if isinstance(values, (int, np.integer)):
        values = (values,)
    if not isinstance(values, (Collection, np.ndarray)) and not is_tensor(values):
        raise TypeError(f"{name}: expected a collection of integer class ids, got {type(values).__name__}")
    arr = to_numpy(list(values) if isinstance(values, (set, frozenset)) else values, name).reshape(-1)
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name}: expected integer class ids, got dtype {arr.dtype}")
    arr = np.unique(arr.astype(np.int64))
    if arr.size and arr[0] < 0:
        raise ValueError(f"{name}: expected class ids >= 0, got {int(arr[0])}")
    return arr


def check_tensor_mask(mask: Any, batch: int, length: int, name: str = "mask") -> Any:
    """A ``(B, T)`` bool ``torch.Tensor`` padding mask (``True`` = valid frame), or ``None``."""
    if mask is None:
        return None
    if not is_tensor(mask):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(mask).__name__}")
    if str(mask.dtype) != "torch.bool":
        raise TypeError(f"{name}: expected dtype torch.bool, got {mask.dtype}")
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"{name}: expected shape (B, T) = {(batch, length)}, got {shape_str(mask.shape)}")
    return mask


def check_choice(value: Any, choices: Collection[str], name: str) -> str:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {options}, got {value!r}")
    return value
