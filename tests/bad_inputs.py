"""Generated bad inputs for every public callable of actseg (issue 9 §4), shared by the test module
and by the counting script (``python tests/bad_inputs.py`` prints tried / clean / other).

Each :class:`Spec` names a public callable, a valid call, and the kind of each argument. Every
argument is then replaced, one at a time, by the bad values of its kind. A case is *clean* when it
raises ``TypeError``/``ValueError`` whose message names a public argument of that callable
(``"name: expected X, got Y"``), or when it returns and the value was one the conventions accept
(numpy scalars for numbers, lists for arrays, meta tensors in layers and losses, empty inputs with a
documented empty result). Anything else (another exception, an unnamed message, a silent
acceptance of a value that must be rejected, a case slower than ``SLOW`` seconds) is *other*.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import resource
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

SLOW = 10.0  # seconds; a bad input must be refused (or answered) quickly

# ---------------------------------------------------------------------------------------------------
# bad values per argument kind: (label, value or factory(valid) -> value, may_return)
# may_return=True: returning normally is a documented result (the value is acceptable).


def _meta(v: Any) -> Any:
    return torch.as_tensor(v).to("meta") if not isinstance(v, torch.Tensor) else v.to("meta")


def _np_like(v: Any) -> Any:
    return v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


def _rank_up(v: Any) -> Any:
    return v[None, None] if isinstance(v, (np.ndarray, torch.Tensor)) else np.asarray(v)[None, None]


def _as_float(v: Any) -> Any:
    return v.double() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64) + 0.5


def _as_int(v: Any) -> Any:
    return v.long() if isinstance(v, torch.Tensor) else np.asarray(v).astype(np.int64)


def _as_complex(v: Any) -> Any:
    return v.to(torch.complex64) if isinstance(v, torch.Tensor) else np.asarray(v).astype(np.complex64)


def _with_nan(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        out = v.detach().clone().double() if not v.is_floating_point() else v.detach().clone()
        out.view(-1)[0] = float("nan")
        return out
    out = np.array(v, dtype=np.float64, copy=True)
    out.reshape(-1)[0] = np.nan
    return out


def _with_inf(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        out = v.detach().clone().double() if not v.is_floating_point() else v.detach().clone()
        out.view(-1)[0] = float("inf")
        return out
    out = np.array(v, dtype=np.float64, copy=True)
    out.reshape(-1)[0] = np.inf
    return out


def _huge_id(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        out = v.clone()
        out.view(-1)[0] = 2**40
        return out
    out = np.array(v, dtype=np.int64, copy=True)
    out.reshape(-1)[0] = 2**40
    return out


def _negative_id(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        out = v.clone()
        out.view(-1)[0] = -7
        return out
    out = np.array(v, dtype=np.int64, copy=True)
    out.reshape(-1)[0] = -7
    return out


def _empty(v: Any) -> Any:
    return v[..., :0] if isinstance(v, (np.ndarray, torch.Tensor)) else np.asarray(v)[..., :0]


COMMON = [("str", "abc", False), ("dict", {}, False), ("object", lambda v: np.array([object()]), False)]

KINDS: dict[str, list[tuple[str, Any, bool]]] = {
    # arrays of reals (numpy or tensor)
    "reals": [
        *COMMON,
        ("rank+2", _rank_up, False),
        ("complex", _as_complex, False),
        ("nan", _with_nan, False),
        ("inf", _with_inf, False),
        ("meta", _meta, False),
        ("bool", lambda v: _np_like(v) > 0, False),
    ],
    # integer labels / class ids (non-negative)
    "labels": [
        *COMMON,
        ("rank+2", _rank_up, False),
        ("float", _as_float, False),
        ("complex", _as_complex, False),
        ("negative", _negative_id, False),
        ("huge-id", _huge_id, True),
        ("meta", _meta, False),
    ],
    # torch tensors of a layer or loss (meta tensors are a shape-inference run)
    "tensor": [
        *COMMON,
        ("rank+2", _rank_up, False),
        ("complex", _as_complex, False),
        ("int", _as_int, False),
        ("meta", _meta, True),
        ("numpy", _np_like, False),
    ],
    "tensor_labels": [
        *COMMON,
        ("rank+2", _rank_up, False),
        ("float", _as_float, False),
        ("meta", _meta, True),
        ("huge-id", _huge_id, True),
    ],
    # labels where negative values are legitimate (the -1 fill of segments_to_labels)
    "labels_any": [
        *COMMON,
        ("rank+2", _rank_up, False),
        ("float", _as_float, False),
        ("complex", _as_complex, False),
        ("huge-id", _huge_id, True),
        ("meta", _meta, False),
    ],
    "mask": [("str", "abc", False), ("int", lambda v: _as_int(v), False), ("rank+2", _rank_up, False),
             ("short", lambda v: v[..., :1], False)],
    "size": [("bool", True, False), ("float", 2.5, False), ("str", "3", False), ("zero", 0, False),
             ("negative", -3, False), ("huge", 10**30, False), ("none", None, False),
             ("numpy", lambda v: np.int64(v), True)],
    "int": [("bool", True, False), ("float", 2.5, False), ("str", "3", False), ("huge", 10**30, False),
            ("none", None, False), ("numpy", lambda v: np.int64(v), True)],
    "real": [("bool", True, False), ("str", "0.5", False), ("nan", float("nan"), False),
             ("inf", float("inf"), False), ("none", None, False), ("negative", -1e9, False),
             ("numpy", lambda v: np.float32(v), True)],
    "real_none": [("bool", True, False), ("str", "0.5", False), ("nan", float("nan"), False),
                  ("inf", float("inf"), False), ("negative", -1e9, False), ("none", None, True)],
    "size_none": [("bool", True, False), ("float", 2.5, False), ("str", "3", False), ("zero", 0, False),
                  ("huge", 10**30, False), ("none", None, True), ("numpy", lambda v: np.int64(v), True)],
    "real_any": [("bool", True, False), ("str", "0.5", False), ("nan", float("nan"), False),
                 ("none", None, False), ("numpy", lambda v: np.float64(v), True)],
    "choice": [("bogus", "bogus", False), ("int", 3, False), ("none", None, False)],
    "flag": [("str", "yes", False), ("int", 2, False), ("numpy", lambda v: np.bool_(v), True)],
    "ids": [("str", "abc", False), ("float", [0.5], False), ("negative", [-2], False), ("dict", {}, False),
            ("numpy", lambda v: np.int64(0), True)],
    "thresholds": [("str", "abc", False), ("nan", [float("nan")], False), ("empty", [], False),
                   ("out-of-range", [1.5], False), ("dict", {}, False)],
}


@dataclasses.dataclass
class Spec:
    name: str  # public name, e.g. "actseg.metrics.accuracy"
    call: Callable[..., Any]  # call(**kwargs)
    valid: Callable[[], dict[str, Any]]  # fresh valid keyword arguments
    kinds: dict[str, str]  # argument -> kind
    names: tuple[str, ...] = ()  # more public names an error may cite (derived arguments)
    accepts: dict[str, str] = dataclasses.field(default_factory=dict)  # "arg=label" -> why it is a documented result

    def public_names(self) -> set[str]:
        return set(self.valid()) | set(self.names)


@dataclasses.dataclass
class Case:
    spec: str
    arg: str
    label: str
    outcome: str  # "clean" or "other"
    detail: str


_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\[\]'\"-]*)(?:, [A-Za-z_][A-Za-z0-9_]*)*(?: \([^)]*\))?:")


def _names_argument(message: str, names: set[str]) -> bool:
    m = _NAMED.match(message)
    if not m:
        return False
    cited = re.split(r"[.\[]", m.group(1).lstrip("-"))[0]
    return cited in names or cited.replace("-", "_") in names


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def guarded(seconds: float = SLOW, memory: int = 8 * 2**30):
    """Interrupt Python-level work after ``seconds`` and cap the address space at ``memory`` bytes,
    so that a bad input that would build until memory runs out fails here instead of the machine."""

    def alarm(signum, frame):
        raise _TooSlow(f"did not return within {seconds} s")

    old_handler = signal.signal(signal.SIGALRM, alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (memory if hard == resource.RLIM_INFINITY else min(memory, hard), hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_case(spec: Spec, arg: str, label: str, bad: Any, may_return: bool, slow: float = SLOW) -> Case:
    """One case; ``slow`` seconds is the limit (the test suite passes a generous one: a loaded CI machine
    compiling a numba specialisation must not fail a case, and an interrupted compilation is worse)."""
    kwargs = spec.valid()
    if label == "meta" and spec.kinds[arg].startswith("tensor"):
        # a whole call on the meta device (shape inference); one meta tensor among CPU ones is a device mix-up
        kwargs = {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    else:
        kwargs[arg] = bad(kwargs[arg]) if callable(bad) else bad
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), guarded(slow):
            warnings.simplefilter("ignore")
            spec.call(**kwargs)
    except (TypeError, ValueError) as exc:
        elapsed = time.perf_counter() - start
        ok = _names_argument(str(exc), spec.public_names()) and elapsed < slow
        return Case(spec.name, arg, label, "clean" if ok else "other", f"{type(exc).__name__}: {exc}"[:200])
    except Exception as exc:
        return Case(spec.name, arg, label, "other", f"{type(exc).__name__}: {exc}"[:200])
    elapsed = time.perf_counter() - start
    if elapsed >= slow:
        return Case(spec.name, arg, label, "other", f"returned after {elapsed:.1f} s")
    documented = may_return or f"{arg}={label}" in spec.accepts
    return Case(spec.name, arg, label, "clean" if documented else "other", "returned")


def cases(specs: list[Spec]) -> list[tuple[Spec, str, str, Any, bool]]:
    out = []
    for spec in specs:
        for arg, kind in spec.kinds.items():
            for label, bad, may_return in KINDS[kind]:
                out.append((spec, arg, label, bad, may_return))
    return out


def run_all(specs: list[Spec]) -> list[Case]:
    return [run_case(*c) for c in cases(specs)]


if __name__ == "__main__":  # python tests/bad_inputs.py  -> counts, and the cases that are not clean
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from bad_input_specs import SPECS

    results = run_all(SPECS)
    other = [r for r in results if r.outcome != "clean"]
    print(f"callables: {len(SPECS)}  tried: {len(results)}  clean: {len(results) - len(other)}  other: {len(other)}")
    for r in other:
        print(f"  {r.spec}({r.arg}={r.label}): {r.detail}")
