"""Import cost of actseg, measured in fresh interpreters.

For each statement (``import torch``, ``import torch, actseg``, ``import actseg``,
``import actseg.metrics``, and for comparison ``pass``, ``import numpy`` and ``import numba``) a
new Python process is started ``--repeat`` times (default 7, the statements taking turns); the
script reports the median time of the import statement inside the child (``time.perf_counter``
around each module of it, so ``import torch, actseg`` also gives the cost of ``actseg`` on top of
an imported ``torch``) and the median wall time of the whole process (interpreter start-up
included). Nothing about timings is asserted.

It then checks, in fresh processes, that

* after ``import actseg`` none of ``numba``, ``matplotlib``, ``pygmtools`` is in ``sys.modules``;
* ``import actseg.metrics`` compiles nothing: the numba dispatchers of
  ``actseg.metrics._tas_kernels`` have no compiled signature (``dispatcher.signatures == []``).

The exit status is 1 if a check fails, 0 otherwise.

Usage::

    python benchmarks/bench_import.py [--repeat 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STATEMENTS = (
    "pass",
    "import numpy",
    "import numba",
    "import torch",
    "import torch, actseg",
    "import actseg",
    "import actseg.metrics",
)

HEAVY = ("numba", "matplotlib", "pygmtools")



def child_timer(statement: str) -> str:
    """Code that runs ``statement`` module by module (``import a, b`` is ``import a`` then ``import b``)
    and prints the seconds each part took, as JSON."""
    parts = [] if statement == "pass" else [m.strip() for m in statement.removeprefix("import ").split(",")]
    lines = ["import json, time", "_t = [time.perf_counter()]"]
    for module in parts:
        lines += [f"import {module}", "_t.append(time.perf_counter())"]
    lines.append("print(json.dumps([b - a for a, b in zip(_t, _t[1:])]))")
    return "\n".join(lines)


CHECK_LAZY = f"""
import json, sys
import actseg
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""

CHECK_NO_COMPILE = """
import json, sys
import actseg.metrics
numba_after_metrics = "numba" in sys.modules
import actseg.metrics._tas_kernels as kernels
from numba.core.registry import CPUDispatcher
found = {name: [str(s) for s in obj.signatures] for name, obj in vars(kernels).items()
         if isinstance(obj, CPUDispatcher)}
print(json.dumps({"numba_after_metrics": numba_after_metrics, "dispatchers": found}))
"""


def run_child(code: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}) for:\n{code}\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1], wall


def time_statements(statements: tuple[str, ...], repeat: int) -> dict[str, dict[str, Any]]:
    """Median import and process times; the statements take turns, so slow drifts hit all alike."""
    codes = {s: child_timer(s) for s in statements}
    for code in codes.values():
        run_child(code)  # warm the OS file cache once, not counted
    parts: dict[str, list[list[float]]] = {s: [] for s in statements}
    walls: dict[str, list[float]] = {s: [] for s in statements}
    for _ in range(repeat):
        for s, code in codes.items():
            out, wall = run_child(code)
            parts[s].append(json.loads(out))
            walls[s].append(wall)
    return {
        s: {
            "import_s": statistics.median(sum(run) for run in parts[s]),
            "parts_s": [statistics.median(col) for col in zip(*parts[s])],
            "process_s": statistics.median(walls[s]),
        }
        for s in statements
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="fresh processes per statement (default: 7)")
    p.add_argument("--json", metavar="OUT", help="write the numbers to this JSON file")
    args = p.parse_args(argv)

    print(f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs, "
          f"median of {args.repeat} fresh processes\n")
    times = time_statements(STATEMENTS, args.repeat)
    width = max(len(s) for s in STATEMENTS)
    print(f"{'statement':<{width}} | import ms | process ms")
    print(f"{'-' * width}-|-----------|-----------")
    for s, t in times.items():
        print(f"{s:<{width}} | {1e3 * t['import_s']:9.1f} | {1e3 * t['process_s']:10.1f}")
    extra = {key: times["import torch, actseg"][key] - times["import torch"][key] for key in ("import_s", "process_s")}
    extra["actseg_after_torch_s"] = times["import torch, actseg"]["parts_s"][1]
    print(f"\n'import torch, actseg' - 'import torch': {1e3 * extra['import_s']:+.1f} ms (import), "
          f"{1e3 * extra['process_s']:+.1f} ms (process); 'import actseg' measured right after "
          f"'import torch' in the same process: {1e3 * extra['actseg_after_torch_s']:.2f} ms")

    report: dict[str, Any] = {"repeat": args.repeat, "python": sys.version.split()[0], "times": times,
                              "actseg_on_top_of_torch": extra}
    failures = []

    loaded = json.loads(run_child(CHECK_LAZY)[0])
    report["heavy_modules_after_import_actseg"] = loaded
    if loaded:
        failures.append(f"import actseg loads {', '.join(loaded)}")
    print(f"\ncheck: after 'import actseg', none of {', '.join(HEAVY)} in sys.modules: "
          f"{'ok' if not loaded else 'FAIL (' + ', '.join(loaded) + ')'}")

    info = json.loads(run_child(CHECK_NO_COMPILE)[0])
    report["no_compile_check"] = info
    compiled = {name: sigs for name, sigs in info["dispatchers"].items() if sigs != []}
    if not info["dispatchers"]:
        failures.append("no numba dispatcher found in actseg.metrics._tas_kernels")
    if compiled:
        failures.append(f"compiled at import: {compiled}")
    print(f"check: 'import actseg.metrics' compiles nothing ({len(info['dispatchers'])} dispatchers in "
          f"actseg.metrics._tas_kernels: {', '.join(sorted(info['dispatchers']))}; all signatures == []): "
          f"{'ok' if info['dispatchers'] and not compiled else 'FAIL'}")
    print(f"      (numba in sys.modules right after 'import actseg.metrics': {info['numba_after_metrics']})")

    report["failures"] = failures
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
