"""``compare``: the check the reference-vector generators run (``--check``) between a regenerated
structure and the stored one. Imported by ``tests/data/*/generate_*.py`` (our own scripts)."""

from __future__ import annotations

import torch


def compare(a, b, where, rtol=0.0):
    """Differences between two nested structures: tensors of the same dtype and shape whose floats satisfy
    max |a - b| <= rtol * max |b| over the tensor (NaN matches NaN; integers and bools exact), other values
    equal (floats to the same rtol). rtol = 0 asks for bit-identical values."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        if not (torch.is_tensor(a) and torch.is_tensor(b)) or a.dtype != b.dtype or a.shape != b.shape:
            return [f"{where}: {getattr(a, 'dtype', a)}{tuple(getattr(a, 'shape', ()))} vs "
                    f"{getattr(b, 'dtype', b)}{tuple(getattr(b, 'shape', ()))}"]
        if not a.is_floating_point():
            return [] if torch.equal(a, b) else [f"{where}: integer values differ"]
        if not torch.equal(a.isnan(), b.isnan()):
            return [f"{where}: NaN positions differ"]
        dtype = b.dtype
        a, b = a.double().nan_to_num(0.0) + 0.0, b.double().nan_to_num(0.0) + 0.0  # +0.0: -0.0 -> 0.0
        if a.numel() == 0 or torch.equal(a, b):
            return []
        diff, scale = (a - b).abs().max().item(), b.abs().max().item()
        return [] if diff <= rtol * scale else [
            f"{where}: max |diff| {diff:.3e} = {diff / scale:.1e} x max |stored| [{str(dtype)[6:]}]"]
    if isinstance(a, float) and isinstance(b, float):
        return compare(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), where, rtol)
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(a)} vs {sorted(b)}"]
        return [d for k in a for d in compare(a[k], b[k], f"{where}.{k}", rtol)]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in compare(x, y, f"{where}[{i}]", rtol)]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]

