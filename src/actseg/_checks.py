"""The one input boundary: conversion and validation of every public input.

Every public function and module constructor of actseg converts and validates its arguments through
the helpers here, and nowhere else (``docs/conventions.md``). The policy:

- ``TypeError`` for a wrong type or dtype, ``ValueError`` for a wrong shape, value or range;
- messages read ``"name: expected X, got Y"`` with the *public* argument's name;
- integer arguments accept Python and numpy integers (never ``bool``), real arguments any real
  number (Python, numpy), and both are checked against their range before anything is allocated;
- one half-precision rule: float16 / bfloat16 inputs are computed in float32 (:func:`upcast_half`,
  and :func:`to_numpy` for the numpy side, since numpy has no bfloat16);
- meta tensors: shape checks apply, value checks are skipped (:func:`has_values`), so layers and
  losses run on them for shape inference; functions that must read values (numpy conversion)
  raise a ``TypeError``;
- "return like the input": numpy in, numpy out; tensor in, tensor out on the input's device
  (:func:`like_input`).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import numpy as np

# Upper bound for counts and sizes given as arguments (layers, channels, frames, candidates...): a
# larger value is certainly a mistake, and checking it first avoids allocating until memory runs out.
MAX_SIZE = 2**31 - 1

# ---------------------------------------------------------------------------------------------
# messages


def shape_str(shape: Iterable[Any]) -> str:
    """A shape as Python prints a tuple, for error messages (names such as ``"B"`` kept)."""
    dims = tuple(d if isinstance(d, str) else int(d) for d in shape)
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(str(d) for d in dims) + ")"


def type_name(value: Any) -> str:
    """The type of ``value`` for a message (``"numpy.ndarray"``, ``"torch.Tensor"``, ``"str"``)."""
    t = type(value)
    if is_tensor(value):
        return "torch.Tensor"
    return f"numpy.{t.__name__}" if t.__module__ == "numpy" else t.__name__


def _range_text(low: Any, high: Any, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


# ---------------------------------------------------------------------------------------------
# scalars


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = MAX_SIZE,
            none: bool = False) -> int | None:
    """``value`` as an ``int`` in ``[low, high]``; Python and numpy integers (and 0-d integer arrays).

    ``none=True`` lets ``None`` through. ``bool`` is not an integer here.
    """
    if value is None and none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        expected = "an integer or None" if none else "an integer"
        raise TypeError(f"{name}: expected {expected}, got {type_name(value)} {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}: expected an integer {_range_text(low, high, False, False)}, got {value}")
    return value


def size(value: Any, name: str, *, low: int = 1, high: int = MAX_SIZE, none: bool = False) -> int | None:
    """A count or size: an integer in ``[low, high]`` (``>= 1`` by default)."""
    return integer(value, name, low=low, high=high, none=none)


def real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, finite: bool = True,
         none: bool = False) -> float | None:
    """``value`` as a finite ``float`` in the given range (``low_open``/``high_open`` exclude the ends).

    Accepts Python and numpy reals and 0-d real arrays; ``bool``, strings, ``None`` (unless
    ``none=True``) and tensors are a ``TypeError``; NaN, infinities (unless ``finite=False``) and
    values out of range a ``ValueError``.
    """
    if value is None and none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        expected = "a real number or None" if none else "a real number"
        raise TypeError(f"{name}: expected {expected}, got {type_name(value)} {value!r}")
    out = float(value)
    bad = math.isnan(out) or (finite and math.isinf(out))
    if not bad and low is not None:
        bad = out <= low if low_open else out < low
    if not bad and high is not None:
        bad = out >= high if high_open else out > high
    if bad:
        rng = _range_text(low, high, low_open, high_open)
        kind = "a finite number" if finite else "a number"
        raise ValueError(f"{name}: expected {kind}{' ' + rng if rng else ''}, got {value!r}")
    return out


def probability(value: Any, name: str, *, high_open: bool = False) -> float:
    """A real number in ``[0, 1]`` (``[0, 1)`` with ``high_open``)."""
    return real(value, name, low=0.0, high=1.0, high_open=high_open)


def flag(value: Any, name: str) -> bool:
    """``value`` as a ``bool``: Python or numpy booleans only (``0``/``1`` or strings are a TypeError)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type_name(value)} {value!r}")
    return bool(value)


def choice(value: Any, choices: Collection[Any], name: str) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them (TypeError if unhashable)."""
    try:
        ok = bool(value in choices)
    except (TypeError, ValueError):  # unhashable, or an array (ambiguous truth value)
        ok = False
    if not ok:
        options = ", ".join(repr(c) for c in choices)
        same_type = type(value) in {type(c) for c in choices}
        raise (ValueError if same_type else TypeError)(f"{name}: expected one of {options}, got {value!r}")
    return value


check_choice = choice


def real_pair(value: Any, name: str, *, low: float | None = None, ordered: bool = True) -> tuple[float, float]:
    """A pair ``(a, b)`` of finite reals (``a <= b`` when ``ordered``), each ``>= low`` if given."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, np.ndarray)) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair (start, end), got {type_name(value)} {value!r}")
    a = real(value[0], f"{name}[0]", low=low)
    b = real(value[1], f"{name}[1]", low=low)
    if ordered and b < a:
        raise ValueError(f"{name}: expected start <= end, got ({a}, {b})")
    return a, b


def renamed(new_value: Any, old_value: Any, *, new: str, old: str, default: Any,
            convert: Callable[[Any], Any] | None = None, stacklevel: int = 3) -> Any:
    """Resolve a keyword renamed from ``old`` to ``new`` (the old spelling works for one minor release).

    ``old_value`` is the value passed under the old name (``None`` when not passed); it is
    ``convert``-ed to the new vocabulary and raises a ``DeprecationWarning``. Passing both is a
    ``TypeError``. Returns the value to use (``default`` when neither was given).
    """
    if old_value is None:
        return default if new_value is None else new_value
    if new_value is not None:
        raise TypeError(f"{old}: deprecated spelling of {new}; pass only {new}")
    warnings.warn(f"{old} is deprecated and will be removed in the next minor release; use {new}",
                  DeprecationWarning, stacklevel=stacklevel)
    return convert(old_value) if convert is not None else old_value


# ---------------------------------------------------------------------------------------------
# arrays (numpy side)


def is_tensor(x: Any) -> bool:
    """True for a ``torch.Tensor`` without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "is_meta")


def has_values(x: Any) -> bool:
    """False for a meta tensor (shape only: value checks are skipped), True otherwise."""
    return not (is_tensor(x) and x.is_meta)


def to_numpy(x: Any, name: str) -> np.ndarray:
    """A numpy array, a tensor (any device, gradients detached) or a list/tuple/range as a numpy array.

    float16 and bfloat16 tensors become float32 (the one half-precision rule); arrays in a non-native
    byte order are converted to the native one; a meta tensor has no values and is a ``TypeError``;
    anything else (a string, a dict, a number) is a ``TypeError``.
    """
    if isinstance(x, np.ndarray):
        # big-endian data (e.g. read from a FITS or network file): native order, which numba and torch need
        return x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))
    if is_tensor(x):
        if x.is_meta:
            raise TypeError(f"{name}: expected a tensor with values (CPU or CUDA), got a meta tensor")
        x = x.detach()
        if x.is_floating_point() and x.element_size() < 4:
            x = x.float()
        if x.is_conj():
            x = x.resolve_conj()
        return x.cpu().numpy()
    if isinstance(x, (list, tuple, range)):
        try:
            return np.asarray(x)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"{name}: expected a rectangular sequence of numbers, got {type_name(x)}") from exc
    raise TypeError(f"{name}: expected a numpy array, a torch.Tensor or a sequence, got {type_name(x)}")


def _empty_sequence(arr: np.ndarray, original: Any) -> bool:
    """An empty Python list/tuple (numpy gives it dtype float64): it may stand for any dtype."""
    return arr.size == 0 and not isinstance(original, np.ndarray) and not is_tensor(original)


def _check_rank(arr: Any, name: str, ndim: int | tuple[int, ...] | None) -> None:
    if ndim is None:
        return
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{name}: expected a {expected} array, got shape {shape_str(arr.shape)}")


def real_array(x: Any, name: str, ndim: int | tuple[int, ...] | None = None, *, finite: bool = True,
               dtype: Any = None, allow_nan: bool = False) -> np.ndarray:
    """``x`` as a real (integer or floating, not bool) numpy array of the given rank.

    ``dtype`` converts (``None`` keeps integer and floating dtypes as they are); ``finite`` rejects
    NaN and infinities (``allow_nan`` lets NaN through, for "no score" entries).
    """
    arr = to_numpy(x, name)
    _check_rank(arr, name, ndim)
    if arr.dtype.kind not in "iuf":
        if not _empty_sequence(arr, x):
            raise TypeError(f"{name}: expected a real (integer or floating) dtype, got {arr.dtype}")
        arr = arr.astype(np.float64)
    if dtype is not None:
        arr = np.asarray(arr, dtype=dtype, order="C")  # not ascontiguousarray: it makes 0-d arrays 1-d
    if finite and arr.dtype.kind == "f" and arr.size:
        bad = ~np.isfinite(arr)
        if allow_nan:
            bad &= ~np.isnan(arr)
        if bad.any():
            value = arr[bad].flat[0]
            raise ValueError(f"{name}: expected finite values, got {value} at index {_first_index(bad)}")
    return arr


def _first_index(bad: np.ndarray) -> Any:
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return index[0] if len(index) == 1 else index


def integer_array(x: Any, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as an int64 numpy array of the given rank; TypeError for non-integer dtypes (bool too)."""
    arr = to_numpy(x, name)
    _check_rank(arr, name, ndim)
    if arr.dtype.kind not in "iu":
        if _empty_sequence(arr, x):
            return arr.astype(np.int64)
        raise TypeError(f"{name}: expected an integer dtype, got {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: expected integers < 2**63, got {int(arr.max())}")
    return arr.astype(np.int64, copy=False)


def label_array(x: Any, name: str, *, ignore_index: int | None = None) -> np.ndarray:
    """A 1-D, non-empty int64 array of class ids >= 0 (``ignore_index`` allowed if given)."""
    arr = integer_array(x, name, 1)
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of frame labels, got length 0")
    check_labels_nonnegative(arr, name, ignore_index=ignore_index)
    return arr


def check_labels_nonnegative(arr: np.ndarray, name: str, *, ignore_index: Any = None) -> None:
    """ValueError naming ``name`` if a class id is negative (ids in ``ignore_index`` excepted)."""
    if arr.size == 0 or arr.min() >= 0:
        return
    bad = arr[arr < 0]
    if ignore_index is not None:
        bad = bad[~np.isin(bad, np.asarray(ignore_index, dtype=np.int64))]
    if bad.size:
        allowed = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        raise ValueError(f"{name}: expected class ids >= 0{allowed}, got {int(bad[0])}")


def id_set(values: Any, name: str) -> np.ndarray:
    """A class id or a collection of class ids as a sorted unique int64 array (e.g. ``background``)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name}: expected a collection of integer class ids, got a string {values!r}")
    if isinstance(values, (int, np.integer)) and not isinstance(values, (bool, np.bool_)):
        values = (values,)
    if isinstance(values, Mapping) or not (isinstance(values, (Collection, np.ndarray)) or is_tensor(values)):
        raise TypeError(f"{name}: expected a collection of integer class ids, got {type_name(values)}")
    if not isinstance(values, (list, tuple, range, np.ndarray)) and not is_tensor(values):
        values = list(values)  # sets and other collections
    arr = np.unique(integer_array(values, name).reshape(-1))
    if arr.size and arr[0] < 0:
        raise ValueError(f"{name}: expected class ids >= 0, got {int(arr[0])}")
    return arr


def ignore_set(ignore_index: Any, name: str = "ignore_index") -> np.ndarray:
    """``ignore_index`` (an int, or a collection of ints as LTContext's ``IGNORED_CLASSES``) as a
    sorted unique int64 array; negative ids allowed (``-100`` is the padding label)."""
    if isinstance(ignore_index, (bool, np.bool_, str, bytes, float)) or ignore_index is None:
        raise TypeError(f"{name}: expected an integer or a collection of integers, got "
                        f"{type_name(ignore_index)} {ignore_index!r}")
    if isinstance(ignore_index, (int, np.integer)):
        return np.array([index_value(ignore_index, name)], dtype=np.int64)
    if isinstance(ignore_index, (set, frozenset)):
        ignore_index = list(ignore_index)
    return np.unique(integer_array(ignore_index, name, (0, 1)).reshape(-1))


def mask_array(mask: Any, shape: tuple[int, ...], name: str = "mask") -> np.ndarray | None:
    """A bool numpy padding mask of exactly ``shape`` (``True`` = valid), or ``None``."""
    if mask is None:
        return None
    arr = to_numpy(mask, name)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name}: expected dtype bool, got {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {shape_str(shape)}, got {shape_str(arr.shape)}")
    return np.asarray(arr, order="C")


def like_input(arr: np.ndarray, ref: Any, dtype: Any = None) -> Any:
    """Return like the input: ``arr`` as a tensor on ``ref``'s device when ``ref`` is a tensor."""
    if is_tensor(ref):
        import torch

        out = torch.from_numpy(np.asarray(arr, order="C"))
        return out.to(device=ref.device, dtype=dtype) if dtype is not None or ref.device.type != "cpu" else out
    return arr


# ---------------------------------------------------------------------------------------------
# tensors (torch side)

_DTYPE_KINDS = ("floating", "integer", "bool", "real")


def _dtype_ok(x: Any, kind: str) -> bool:
    if kind == "floating":
        return x.is_floating_point()
    if kind == "bool":
        return str(x.dtype) == "torch.bool"
    integral = not x.is_floating_point() and not x.is_complex() and str(x.dtype) != "torch.bool"
    if kind == "integer":
        return integral
    return integral or x.is_floating_point()  # "real"


def tensor(x: Any, name: str, layout: str | None = None, *, dtype: str | Any = "floating",
           sizes: Mapping[str, int] | None = None, min_sizes: Mapping[str, int] | None = None) -> Any:
    """``x`` must be a ``torch.Tensor`` with ``layout`` (e.g. ``"(B, C, T)"``) and a dtype of ``dtype``.

    ``dtype``: ``"floating"``, ``"integer"``, ``"bool"``, ``"real"`` or a ``torch.dtype``;
    ``sizes`` fixes named dimensions (``{"C": 64}``), ``min_sizes`` bounds them below (``{"T": 1}``).
    Returns ``x``. Meta tensors pass (shape and dtype are known).
    """
    if not is_tensor(x):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type_name(x)}")
    if layout is not None:
        dims = [d.strip() for d in layout.strip("()").split(",") if d.strip()]
        expected = [str(sizes[d]) if sizes and d in sizes else d for d in dims]
        expected[-1:] = [f"{expected[-1]}," if len(dims) == 1 else expected[-1]] if dims else []
        if x.ndim != len(dims) or any(
            sizes and d in sizes and x.shape[i] != sizes[d] for i, d in enumerate(dims)
        ):
            raise ValueError(f"{name}: expected shape ({', '.join(expected)}), got {shape_str(x.shape)}")
        for d, low in (min_sizes or {}).items():
            i = dims.index(d)
            if x.shape[i] < low:
                raise ValueError(f"{name}: expected {d} >= {low} in ({', '.join(expected)}), "
                                 f"got {shape_str(x.shape)}")
    if dtype is not None:
        ok = _dtype_ok(x, dtype) if isinstance(dtype, str) else x.dtype == dtype
        if not ok:
            want = f"a {dtype} dtype" if isinstance(dtype, str) else f"dtype {dtype}"
            raise TypeError(f"{name}: expected {want}, got {x.dtype}")
    return x


def tensor_mask(mask: Any, batch: int, length: int, name: str = "mask", *, device: Any = None) -> Any:
    """A ``(B, T)`` bool padding mask (``True`` = valid frame) as a tensor, or ``None``.

    numpy bool arrays are converted; with ``device`` the mask is moved there.
    """
    if mask is None:
        return None
    if isinstance(mask, np.ndarray):
        if mask.dtype != np.bool_:
            raise TypeError(f"{name}: expected dtype bool, got {mask.dtype}")
        import torch

        mask = torch.from_numpy(np.asarray(mask, order="C"))
    if not is_tensor(mask):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type_name(mask)}")
    if str(mask.dtype) != "torch.bool":
        raise TypeError(f"{name}: expected dtype torch.bool, got {mask.dtype}")
    if tuple(mask.shape) != (batch, length):
        raise ValueError(f"{name}: expected shape (B, T) = {(batch, length)}, got {shape_str(mask.shape)}")
    return mask if device is None else mask.to(device)


check_tensor_mask = tensor_mask


def upcast_half(x: Any) -> Any:
    """The half-precision rule for tensors: float16 / bfloat16 -> float32, anything else unchanged."""
    return x.float() if x.is_floating_point() and x.element_size() < 4 else x


def finite_values(x: Any, name: str) -> None:
    """ValueError if a tensor or array with values holds NaN or infinity (meta tensors pass)."""
    if is_tensor(x):
        if x.is_meta or not x.is_floating_point():
            return
        import torch

        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name}: expected finite values, got NaN or inf")
    elif np.asarray(x).dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{name}: expected finite values, got NaN or inf")


# ---------------------------------------------------------------------------------------------
# files and class mappings (io, cli)

# Largest class id a file may hold: ids are int64 everywhere (numpy label arrays, tensors).
MAX_CLASS_ID = 2**63 - 1


def class_mapping(value: Any, name: str = "mapping") -> dict[str, int]:
    """A class name -> id dictionary (as ``mapping.txt``) as a ``dict[str, int]``, ids in ``[0, 2**63 - 1]``.

    ``TypeError`` if ``value`` is not a mapping, a name is not a string or an id not an integer;
    ``ValueError`` for an id out of the int64 range of class ids.
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a dict of class name -> id, got {type_name(value)}")
    out: dict[str, int] = {}
    for key, class_id in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{name}: expected class names as strings, got {type_name(key)} {key!r}")
        out[key] = integer(class_id, f"{name}[{key!r}]", low=0, high=MAX_CLASS_ID)
    return out


def file_path(value: Any, name: str = "path") -> Any:
    """``value`` as a ``pathlib.Path``: a ``str`` or an ``os.PathLike`` (TypeError otherwise, bytes too)."""
    import os
    from pathlib import Path

    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise TypeError(f"{name}: expected a path (str or os.PathLike), got {type_name(value)} {value!r}")

# ---------------------------------------------------------------------------------------------
# tensors compared with another tensor (losses)


def tensor_like(x: Any, name: str, ref: Any, ref_name: str, *, dtype: str | Any = "floating") -> Any:
    """``x`` must be a tensor of exactly ``ref``'s shape, with a dtype of ``dtype`` (see :func:`tensor`)."""
    if not is_tensor(x):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type_name(x)}")
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(f"{name}: expected the shape of {ref_name} {shape_str(ref.shape)}, "
                         f"got {shape_str(x.shape)}")
    return tensor(x, name, None, dtype=dtype)



# ---------------------------------------------------------------------------------------------
# NaN checks (metrics)



def _interval(low: Any, high: Any, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return _range_text(low, high, low_open, high_open)


def values_in_range(x: Any, name: str, *, low: float | None = None, high: float | None = None,
                    low_open: bool = False, high_open: bool = False, allow_nan: bool = False,
                    finite: bool = False, what: str = "values") -> Any:
    """ValueError naming ``name`` unless every value of a tensor or array lies in the given range.

    The array form of :func:`real`'s range (probabilities in ``[0, 1]``, tolerances ``>= 0``, IoU
    thresholds in ``(0, 1]``). NaN is out of every range unless ``allow_nan``; with ``finite``
    infinities are out too. Tensors are checked on their device; meta tensors pass (no values).
    Returns ``x``.
    """
    if is_tensor(x):
        if x.is_meta or x.numel() == 0:
            return x
        import torch as xp

        x_ = x.detach()
        floating, nonzero = x_.is_floating_point(), xp.nonzero
        bad = xp.zeros_like(x_, dtype=xp.bool)
    else:
        xp = np
        x_ = np.asarray(x)
        floating, nonzero = x_.dtype.kind == "f", np.argwhere
        bad = np.zeros(x_.shape, dtype=bool)
    nan = xp.isnan(x_) if floating else None
    if floating and finite:
        bad |= xp.isinf(x_)
    if low is not None:
        bad |= x_ <= low if low_open else x_ < low
    if high is not None:
        bad |= x_ >= high if high_open else x_ > high
    if floating:
        bad = bad & ~nan if allow_nan else bad | nan
    if bool(bad.any()):
        index = tuple(int(i) for i in nonzero(bad)[0].tolist())
        value = x_[bad].reshape(-1)[0].item()
        rng = _interval(low, high, low_open, high_open)
        kind = f"{'finite ' if finite else ''}{what}{' ' + rng if rng else ''}{' or NaN' if allow_nan else ''}"
        raise ValueError(f"{name}: expected {kind}, got {value} at index {index[0] if len(index) == 1 else index}")
    return x


def no_nan(x: Any, name: str) -> Any:
    """ValueError naming ``name`` if a floating tensor or array holds NaN (infinities pass: masked logits).

    Tensors are checked on their device (no copy to the host); a meta tensor is a ``TypeError``,
    since the values must be read. Returns ``x``.
    """
    if is_tensor(x):
        if x.is_meta:
            raise TypeError(f"{name}: expected a tensor with values (CPU or CUDA), got a meta tensor")
        if not x.is_floating_point():
            return x
        import torch

        bad = torch.isnan(x.detach())
        if bool(bad.any()):
            index = tuple(int(i) for i in torch.nonzero(bad)[0].tolist())
            raise ValueError(f"{name}: expected no NaN, got NaN at index {index[0] if len(index) == 1 else index}")
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f" and arr.size:
        bad = np.isnan(arr)
        if bad.any():
            raise ValueError(f"{name}: expected no NaN, got NaN at index {_first_index(bad)}")
    return x

# ---------------------------------------------------------------------------------------------
# integer and tensor conversion, element budgets, row-wise arrays (targets, post-processing)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def index_value(value: Any, name: str) -> int:
    """An integer label value such as ``ignore_index`` (negative allowed), within int64."""
    return integer(value, name, low=INT64_MIN, high=INT64_MAX)


def detached(x: Any, name: str) -> Any:
    """A tensor whose values are read: ``x.detach()``; a meta tensor (no values) is a ``TypeError``."""
    if x.is_meta:
        raise TypeError(f"{name}: expected a tensor with values (CPU or CUDA), got a meta tensor")
    return x.detach()


def as_tensor(x: Any, name: str, layout: str | None = None, *, dtype: str = "floating") -> Any:
    """``x`` as a tensor whose values are read, with ``layout`` and a dtype of kind ``dtype``.

    Tensors stay on their device (detached; meta tensors are a ``TypeError``); numpy arrays and
    sequences become CPU tensors. ``dtype``: ``"floating"`` (kept as it is) or ``"integer"``
    (returned as int64; bool is not an integer).
    """
    if is_tensor(x):
        x = detached(x, name)
        if not _dtype_ok(x, dtype):
            raise TypeError(f"{name}: expected {'an integer' if dtype == 'integer' else 'a ' + dtype} dtype, "
                            f"got {x.dtype}")
    else:
        import torch

        if dtype == "integer":
            arr = integer_array(x, name)
        else:
            arr = to_numpy(x, name)
            if arr.dtype.kind != "f":
                if not _empty_sequence(arr, x):
                    raise TypeError(f"{name}: expected a {dtype} dtype, got {arr.dtype}")
                arr = arr.astype(np.float32)
        x = torch.from_numpy(np.asarray(arr, order="C"))
    tensor(x, name, layout, dtype=None)
    return x.long() if dtype == "integer" else x


def sizes(value: Any, name: str, count: int = 2) -> tuple[int, ...]:
    """A tuple or list of ``count`` sizes (integers >= 1), e.g. a heatmap size ``(H, W)``."""
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise TypeError(f"{name}: expected a tuple of {count} integers >= 1, got {type_name(value)} {value!r}")
    return tuple(size(v, f"{name}[{i}]") for i, v in enumerate(value))


def torch_dtype(value: Any, name: str, *, floating: bool = False) -> Any:
    """A ``torch.dtype`` (a floating one with ``floating=True``)."""
    import torch

    if not isinstance(value, torch.dtype) or (floating and not value.is_floating_point):
        kind = "a floating torch.dtype" if floating else "a torch.dtype"
        raise TypeError(f"{name}: expected {kind}, got {type_name(value)} {value!r}")
    return value


def upcast_half_array(arr: np.ndarray) -> np.ndarray:
    """The half-precision rule for numpy arrays: float16 -> float32, anything else unchanged."""
    return arr.astype(np.float32) if arr.dtype == np.float16 else arr


def real_rows(x: Any, name: str, *, allow_3d: bool = False) -> tuple[np.ndarray, bool]:
    """A score track ``(T,)``/``(B, T)`` as a C-contiguous 2-D float array and whether it was 1-D.

    float32/float64 keep their dtype (comparisons happen in it, as numpy compares an array with a
    Python scalar); half precision becomes float32; integers and bool become float64. ``(B, 1, T)``
    is accepted when ``allow_3d`` (ASRF's layout of boundary tracks).
    """
    arr = upcast_half_array(to_numpy(x, name))
    if allow_3d and arr.ndim == 3:
        if arr.shape[1] != 1:
            raise ValueError(f"{name}: expected shape (T,), (B, T) or (B, 1, T), got {shape_str(arr.shape)}")
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        expected = "(T,), (B, T) or (B, 1, T)" if allow_3d else "(T,) or (B, T)"
        raise ValueError(f"{name}: expected shape {expected}, got {shape_str(arr.shape)}")
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    elif arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected a real (float, integer or bool) dtype, got {arr.dtype}")
    single = arr.ndim == 1
    return np.asarray(arr[None] if single else arr, order="C"), single


def mask_rows(mask: Any, shape: tuple[int, int], single: bool, name: str = "mask") -> np.ndarray:
    """The bool mask of :func:`real_rows` rows: ``(B, T)`` (``(T,)`` when ``single``, ``(B, 1, T)``
    accepted) as a C-contiguous ``(B, T)`` array; all True when ``None``."""
    if mask is None:
        return np.ones(shape, dtype=np.bool_)
    arr = to_numpy(mask, name)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    arr = mask_array(arr, shape[1:] if single else shape, name)
    return np.asarray(arr[None] if single else arr, order="C")


def instance_of(value: Any, cls: type, name: str, what: str | None = None) -> Any:
    """``value`` if it is an instance of ``cls`` (e.g. ``Segments``), else a ``TypeError``."""
    if not isinstance(value, cls):
        raise TypeError(f"{name}: expected {what or 'a ' + cls.__name__}, got {type_name(value)}")
    return value


MAX_ELEMENTS = 2**31  # elements of one output a block allocates from its arguments (8 GiB of float32)


def elements(count: int, name: str, what: str) -> None:
    """ValueError naming ``name`` when an output of ``count`` elements (``what``) would exceed ``MAX_ELEMENTS``."""
    if count > MAX_ELEMENTS:
        raise ValueError(f"{name}: expected an output of at most 2**31 elements, got {what} = {count}")


def index_pairs(value: Any, name: str, count: int) -> np.ndarray:
    """An ``(L, 2)`` int64 array of index pairs in ``[0, count)`` (limbs, graph edges); empty is ``(0, 2)``."""
    arr = integer_array(value, name)
    arr = arr.reshape(0, 2) if arr.size == 0 else arr
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}: expected a sequence of (i, j) index pairs, shape (L, 2), got {shape_str(arr.shape)}")
    if arr.size and (arr.min() < 0 or arr.max() >= count):
        bad = arr[(arr < 0) | (arr >= count)][0]
        raise ValueError(f"{name}: expected indices in [0, {count}), got {int(bad)}")
    return arr

# ---------------------------------------------------------------------------------------------
# a module's input on the module's device and dtype (layers)


def _autocast_enabled(device_type: str) -> bool:
    import torch

    try:
        return bool(torch.is_autocast_enabled(device_type))
    except (TypeError, RuntimeError):  # torch < 2.4 takes no device type; devices without autocast
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return device_type == "cuda" and bool(torch.is_autocast_enabled())


def module_tensor(x: Any, name: str, module: Any) -> Any:
    """``x`` must be on the device of ``module``'s parameters and, outside autocast, of their dtype.

    ``TypeError`` otherwise (torch would raise deep inside the first convolution). Returns ``x``.
    """
    param = next(module.parameters(), None)
    if param is None:
        return x
    if x.device != param.device:
        raise TypeError(f"{name}: expected a tensor on {param.device} (the module's device), got {x.device}")
    if x.dtype != param.dtype and not _autocast_enabled(x.device.type):
        raise TypeError(f"{name}: expected dtype {param.dtype} (the module's parameters), got {x.dtype}")
    return x

# ---------------------------------------------------------------------------------------------
# sequences, segment arrays, mappings of segments (localization metrics, NMS)


def _interval_text(low: Any, high: Any, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return _range_text(low, high, low_open, high_open)


def real_sequence(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """One real number or a non-empty 1-D sequence of them as a float64 array, each finite and in range
    (e.g. ``tiou_thresholds`` in ``(0, 1]``)."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    arr = real_array(value, name, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence, got shape {shape_str(arr.shape)}")
    ok = np.ones(arr.shape, dtype=bool)
    if low is not None:
        ok &= arr > low if low_open else arr >= low
    if high is not None:
        ok &= arr < high if high_open else arr <= high
    if not ok.all():
        raise ValueError(f"{name}: expected values {_interval_text(low, high, low_open, high_open)}, "
                         f"got {arr.tolist()}")
    return arr


def integer_sequence(value: Any, name: str, *, low: int | None = None, high: int | None = MAX_SIZE) -> np.ndarray:
    """One integer or a 1-D sequence of integers (may be empty) as an int64 array, order kept, each in
    ``[low, high]`` (e.g. ``top_k``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    arr = integer_array(value, name, 1)
    if arr.size and ((low is not None and arr.min() < low) or (high is not None and arr.max() > high)):
        raise ValueError(f"{name}: expected integers {_range_text(low, high, False, False)}, got {arr.tolist()}")
    return arr


def matching_length(arr: np.ndarray, n: int, name: str, what: str = "one per segment") -> np.ndarray:
    """``arr`` if it has shape ``(n,)`` (an empty array when ``n == 0``), else a ValueError."""
    if arr.shape != (n,):
        if arr.size == 0 and n == 0:
            return arr.reshape(0)
        raise ValueError(f"{name}: expected shape ({n},) ({what}), got {shape_str(arr.shape)}")
    return arr


def segment_array(x: Any, name: str, *, finite: bool = True) -> np.ndarray:
    """``x`` as a numpy ``(N, 2)`` array of ``[start, end)`` rows (its own integer or floating dtype)
    with ``end > start`` in every row; finite unless ``finite=False``. An empty input gives ``(0, 2)``."""
    arr = real_array(x, name, finite=finite)
    if arr.size == 0 and arr.ndim in (1, 2):
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}: expected shape (N, 2), got {shape_str(arr.shape)}")
    bad = np.flatnonzero(~(arr[:, 1] > arr[:, 0]))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}: expected end > start in every row, got start={arr[i, 0]}, end={arr[i, 1]} "
                         f"at row {i}")
    return arr


def ordered_rows(x: Any, name: str) -> Any:
    """ValueError naming ``name`` unless ``end >= start`` in every ``[start, end]`` row of an ``(N, 2)``
    tensor or array (checked on its device; meta tensors pass). Returns ``x``."""
    if is_tensor(x):
        if x.is_meta or x.numel() == 0:
            return x
        bad = (x[:, 1] < x[:, 0]).nonzero()
    else:
        rows = np.asarray(x)
        bad = np.flatnonzero(rows[:, 1] < rows[:, 0])
    if len(bad):
        i = int(bad[0])
        start, end = (v.item() if hasattr(v, "item") else v for v in (x[i, 0], x[i, 1]))
        raise ValueError(f"{name}: expected end >= start in every row, got start={start}, end={end} at row {i}")
    return x


def segments_mapping(value: Any, name: str, *, scores: bool = False) -> Mapping:
    """A mapping ``video_id -> Segments`` (with ``scores=True``: every value has finite scores)."""
    from .segments import Segments

    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a mapping video_id -> Segments, got {type_name(value)}")
    for vid, seg in value.items():
        where = f"{name}[{vid!r}]"
        if not isinstance(seg, Segments):
            raise TypeError(f"{where}: expected a Segments, got {type_name(seg)}")
        if scores:
            if seg.scores is None:
                raise ValueError(f"{where}: expected Segments with scores (confidences), got scores=None")
            if len(seg) and not np.isfinite(seg.scores).all():
                raise ValueError(f"{where}: expected finite scores, got {seg.scores[~np.isfinite(seg.scores)][0]}")
    return value


def like_inputs(arrays: Iterable[np.ndarray], ref: Any) -> tuple[Any, ...]:
    """:func:`like_input` of several arrays with one look at ``ref`` (the outputs of one call)."""
    if not is_tensor(ref):
        return tuple(arrays)
    import torch

    device = None if ref.device.type == "cpu" else ref.device
    outs = tuple(torch.from_numpy(np.asarray(a, order="C")) for a in arrays)
    return outs if device is None else tuple(o.to(device) for o in outs)


def name_list(value: Any, name: str = "class_names") -> tuple[str, ...]:
    """A non-empty sequence of distinct, non-empty strings (class names, indexed by class id) as a tuple."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{name}: expected a list of names (str), got {type_name(value)} {value!r}"[:300])
    out = tuple(value)
    if not out:
        raise ValueError(f"{name}: expected at least one name, got an empty list")
    first: dict[str, int] = {}
    for i, item in enumerate(out):
        if not isinstance(item, str):
            raise TypeError(f"{name}: expected names as strings, got {type_name(item)} {item!r} at index {i}")
        if not item:
            raise ValueError(f"{name}: expected non-empty names, got '' at index {i}")
        if item in first:
            raise ValueError(f"{name}: expected distinct names, got {item!r} at index {first[item]} and {i}")
        first[item] = i
    return out
