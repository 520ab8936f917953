"""Side-by-side benchmark: ``actseg`` Soft-NMS / batched NMS vs ActionFormer's compiled ``nms_1d_cpu``.

Both sides run in one process on the same inputs:

* ``soft_nms`` with each method (``"hard"``, ``"linear"``, ``"gaussian"``; iou_threshold 0.5, sigma 0.5,
  min_score 0.001) vs ``nms_1d_cpu.softnms`` (methods 0, 1, 2) for
  N = 100, 300, 1000, 3000, 10000 candidates, on two kinds of input: ``spread`` (segments spread
  over a 2,304-position feature grid, as THUMOS after ``pre_nms_topk``) and ``clustered`` (every
  candidate overlaps one of ten action instances: the worst case, every pair is decayed);
  numpy input and torch input are timed separately; the reference time includes allocating its
  ``dets`` buffer, as ActionFormer's ``SoftNMSop`` does;
* ``batched_nms`` vs ActionFormer's ``libs/utils/nms.py::batched_nms`` on THUMOS-sized input
  (2,000 candidates, 20 classes) with the THUMOS configuration (per class, Soft-NMS, sigma 0.5,
  max 200) and the ActivityNet one (class-agnostic, sigma 0.75, voting 0.9, max 100);
* the first call of ``soft_nms`` and ``batched_nms`` in a fresh process, once with an empty numba
  cache (compilation) and once with the cache the first run wrote (the usual case).

Times are the best of ``--repeat`` runs after a warm-up (each run loops enough calls to last at least
20 ms). ``soft_nms`` rows: best of up to ``20 * --repeat`` rounds of 0.5 ms batches (at least 5, at
most about 3 s per row), actseg and the op taking turns in every round so that both see the same
load of a shared machine. Every comparison also checks that both sides keep the same segments. Other processes on
the machine add noise; compare ratios from one run.

The reference is not part of actseg and is not vendored. Get ActionFormer::

    git clone https://github.com/happyharrycn/actionformer_release
    git -C actionformer_release checkout 61ea7eb

then pass ``--reference-dir`` pointing at one of

* the checkout (or its ``libs/utils``): ``csrc/nms_cpu.cpp`` is compiled on the fly with
  ``torch.utils.cpp_extension.load`` (``-O3 -fopenmp``, the flags of ActionFormer's ``setup.py``
  build with CPython's default ``-O3``) into ``--build-dir`` (default: a temporary folder), which
  takes about 30 s and needs a C++ compiler and ninja;
* a folder holding an already built ``nms_1d_cpu*.so`` (e.g. after ``python setup.py build_ext
  --inplace`` in ``libs/utils``), optionally with ActionFormer's ``nms.py`` next to it.

``batched_nms`` is compared only when ActionFormer's ``nms.py`` is found (``<dir>/nms.py`` or
``<dir>/libs/utils/nms.py``). The environment variable ``ACTSEG_ACTIONFORMER_DIR`` can replace
``--reference-dir``. Without a reference the actseg side runs alone and the script exits 0.

Usage::

    python benchmarks/bench_nms.py --reference-dir actionformer_release [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

ENV_VAR = "ACTSEG_ACTIONFORMER_DIR"
SIZES = (100, 300, 1000, 3000, 10000)
GRID = 2304.0
REFERENCE_HINT = (
    "get it with: git clone https://github.com/happyharrycn/actionformer_release && "
    "git -C actionformer_release checkout 61ea7eb, then pass --reference-dir actionformer_release "
    f"(or set {ENV_VAR})"
)
THUMOS = {"iou_threshold": 0.1, "min_score": 0.001, "max_num": 200, "sigma": 0.5, "class_agnostic": False,
          "voting_threshold": 0.7}
ANET = {"iou_threshold": 0.1, "min_score": 0.001, "max_num": 100, "sigma": 0.75, "class_agnostic": True,
        "voting_threshold": 0.9}


# ----------------------------------------------------------------------------------------------
# inputs


def make_candidates(n: int, kind: str, seed: int, n_classes: int = 20) -> tuple[np.ndarray, ...]:
    """float32 ``(n, 2)`` segments, float32 ``(n,)`` scores and int64 ``(n,)`` labels on a 2,304 grid."""
    rng = np.random.default_rng(seed)
    if kind == "spread":
        starts = rng.uniform(0, GRID, n)
        lengths = np.exp(rng.uniform(np.log(2.0), np.log(200.0), n))
        scores = rng.uniform(0, 1, n) ** 3
        labels = rng.integers(0, n_classes, n)
    else:  # clustered around ten instances: predictions of a trained detector
        centers = rng.uniform(100, GRID - 100, 10)
        widths = rng.uniform(20, 150, 10)
        cls = rng.integers(0, n_classes, 10)
        which = rng.integers(0, 10, n)
        jitter = rng.normal(0, 0.15, (n, 2)) * widths[which, None]
        starts = centers[which] - widths[which] / 2 + jitter[:, 0]
        lengths = np.maximum(widths[which] + jitter[:, 1] - jitter[:, 0], 1.0)
        scores = rng.beta(2, 5, n) * np.exp(-np.abs(jitter).sum(1) / widths[which])
        labels = np.where(rng.uniform(size=n) < 0.7, cls[which], rng.integers(0, n_classes, n))
    seg = np.stack([starts, starts + lengths], 1).astype(np.float32)
    return seg, scores.astype(np.float32), labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# reference


def resolve_reference(args: argparse.Namespace) -> Path | None:
    path = args.reference_dir or os.environ.get(ENV_VAR)
    if not path:
        return None
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise SystemExit(f"--reference-dir {path}: not a directory; {REFERENCE_HINT}")
    return path


def _first(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def load_reference(root: Path, build_dir: str | None) -> tuple[types.ModuleType, types.ModuleType | None, str]:
    """Import (or build, then import) ``nms_1d_cpu``; import ActionFormer's ``nms.py`` if present."""
    import torch  # noqa: F401  (the extension links against libc10/libtorch, loaded by torch)

    built = sorted(root.glob("nms_1d_cpu*.so")) + sorted((root / "libs" / "utils").glob("nms_1d_cpu*.so"))
    if built:
        spec = importlib.util.spec_from_file_location("nms_1d_cpu", built[0])
        ext = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ext)
        how = f"prebuilt {built[0]}"
    else:
        src = _first([root / "nms_cpu.cpp", root / "csrc" / "nms_cpu.cpp", root / "libs/utils/csrc/nms_cpu.cpp"])
        if src is None:
            raise SystemExit(f"{root}: neither nms_1d_cpu*.so nor csrc/nms_cpu.cpp found; {REFERENCE_HINT}")
        from torch.utils.cpp_extension import load

        build = build_dir or tempfile.mkdtemp(prefix="nms_1d_cpu_")
        os.makedirs(build, exist_ok=True)
        t0 = time.perf_counter()
        ext = load(name="nms_1d_cpu", sources=[str(src)], build_directory=build, extra_cflags=["-O3", "-fopenmp"],
                   verbose=False)
        how = f"built from {src} in {build} ({time.perf_counter() - t0:.1f} s, -O3 -fopenmp)"
    sys.modules["nms_1d_cpu"] = ext
    wrapper = _first([root / "nms.py", root / "libs" / "utils" / "nms.py"])
    py = None
    if wrapper is not None:
        spec = importlib.util.spec_from_file_location("actionformer_nms", wrapper)
        py = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(py)
        how += f"; batched_nms from {wrapper}"
    return ext, py, how


# ----------------------------------------------------------------------------------------------
# timing


def best_time(fn: Callable[[], Any], repeat: int, min_run: float = 0.02) -> float:
    """Seconds per call: best of ``repeat`` runs of ``number`` calls (after one warm-up call)."""
    fn()
    t0 = time.perf_counter()
    fn()
    single = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_run / single))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def paired_best_times(fns: dict[str, Callable[[], Any]], rounds: int, min_run: float = 0.0005,
                      budget: float = 3.0) -> dict[str, float]:
    """Seconds per call of each function: the best of up to ``rounds`` rounds (at least 5, then until
    ``budget`` seconds are spent); in every round each function runs a short batch (``min_run``) in
    turn, so that all of them see the same load of a shared machine."""
    number = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        number[name] = max(1, int(min_run / max(time.perf_counter() - t0, 1e-7)))
    best = dict.fromkeys(fns, float("inf"))
    start = time.perf_counter()
    for done in range(rounds):
        if done >= 5 and time.perf_counter() - start > budget:
            break
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / number[name])
    return best


def child_first_call() -> None:
    """Run in a fresh process: time the import and the first calls (compile or cache load)."""
    t0 = time.perf_counter()
    from actseg.postprocess._nms import batched_nms, soft_nms

    t_import = time.perf_counter() - t0
    seg, sc, lab = make_candidates(1000, "spread", 0)
    t0 = time.perf_counter()
    soft_nms(seg, sc)
    t_soft = time.perf_counter() - t0
    t0 = time.perf_counter()
    batched_nms(seg, sc, lab, **THUMOS)
    t_batched = time.perf_counter() - t0
    print(json.dumps({"import_s": t_import, "soft_nms_first_s": t_soft, "batched_nms_first_s": t_batched}))


def first_call_in_fresh_process(cache_dir: str) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--_child"], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child process failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# benchmarks


METHODS = {"hard": 0, "linear": 1, "gaussian": 2}


def bench_soft_nms(ext: types.ModuleType | None, sizes: list[int], repeat: int, seed: int,
                   methods: list[str]) -> list[dict[str, Any]]:
    import torch

    from actseg.postprocess._nms import soft_nms

    rows = []
    for method in methods:
        for kind in ("spread", "clustered"):
            for n in sizes:
                rows.append(_soft_row(ext, soft_nms, torch, method, kind, n, repeat, seed))
    return rows


def _soft_row(ext: types.ModuleType | None, soft_nms: Callable, torch: Any, method: str, kind: str, n: int,
              repeat: int, seed: int) -> dict[str, Any]:
    seg, sc, _ = make_candidates(n, kind, seed + n)
    tseg, tsc = torch.from_numpy(seg), torch.from_numpy(sc)
    kw = {"method": method, "iou_threshold": 0.5, "sigma": 0.5, "min_score": 0.001}
    row: dict[str, Any] = {"method": method, "input": kind, "n": n}
    keep, _ = soft_nms(seg, sc, **kw)
    row["kept"] = int(keep.shape[0])
    fns = {"actseg_numpy_s": lambda: soft_nms(seg, sc, **kw), "actseg_torch_s": lambda: soft_nms(tseg, tsc, **kw)}
    if ext is not None:

        def ref():
            dets = tseg.new_empty((tseg.shape[0], 3))
            return ext.softnms(tseg, tsc, dets, 0.5, 0.5, 0.001, METHODS[method]), dets

        inds, dets = ref()
        ours_keep, ours_sc = soft_nms(seg, sc, **kw)
        row["identical"] = bool(np.array_equal(inds.numpy(), ours_keep)
                                and np.array_equal(dets[: len(inds), 2].numpy(), ours_sc))
        fns["reference_s"] = ref
    row.update(paired_best_times(fns, 20 * repeat))
    if ext is not None:
        row["ratio_numpy"] = row["actseg_numpy_s"] / row["reference_s"]
        row["ratio_torch"] = row["actseg_torch_s"] / row["reference_s"]
    return row


def _batched_row(py: types.ModuleType | None, cfg: dict[str, Any], seg: np.ndarray, sc: np.ndarray, lab: np.ndarray,
                 repeat: int) -> dict[str, Any]:
    import torch

    from actseg.postprocess._nms import batched_nms

    tseg, tsc, tlab = torch.from_numpy(seg), torch.from_numpy(sc), torch.from_numpy(lab)
    out = batched_nms(seg, sc, lab, **cfg)
    row: dict[str, Any] = {"n": int(seg.shape[0]), "classes": int(np.unique(lab).size), "kept": int(out[1].shape[0])}
    row["actseg_numpy_s"] = best_time(lambda: batched_nms(seg, sc, lab, **cfg), repeat)
    row["actseg_torch_s"] = best_time(lambda: batched_nms(tseg, tsc, tlab, **cfg), repeat)
    if py is None:
        return row

    def ref():
        return py.batched_nms(tseg, tsc, tlab, cfg["iou_threshold"], cfg["min_score"], cfg["max_num"],
                              use_soft_nms=True, multiclass=not cfg["class_agnostic"], sigma=cfg["sigma"],
                              voting_thresh=cfg["voting_threshold"])

    r_seg, r_sc, r_lab = ref()
    row["identical_scores"] = bool(np.array_equal(r_sc.numpy(), out[1]))
    row["same_label_multiset"] = sorted(r_lab.tolist()) == sorted(out[2].tolist())
    row["max_abs_segment_diff"] = float(np.abs(np.sort(r_seg.numpy(), 0) - np.sort(out[0], 0)).max())
    row["reference_s"] = best_time(ref, repeat)
    row["ratio_numpy"] = row["actseg_numpy_s"] / row["reference_s"]
    row["ratio_torch"] = row["actseg_torch_s"] / row["reference_s"]
    return row


def bench_batched(py: types.ModuleType | None, repeat: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    for name, cfg in (("THUMOS (per class, soft)", THUMOS), ("ActivityNet (agnostic, voting)", ANET)):
        for kind in ("spread", "clustered"):
            seg, sc, lab = make_candidates(2000, kind, seed)
            rows.append({"config": name, "input": kind, **_batched_row(py, cfg, seg, sc, lab, repeat)})
    return rows


# ----------------------------------------------------------------------------------------------
# report


def environment() -> dict[str, str]:
    import numba
    import torch

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.3f}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_report(r: dict[str, Any]) -> None:
    print(f"reference: {r['reference']}")
    print("environment: " + ", ".join(f"{k}={v}" for k, v in r["environment"].items()))
    print("\nsoft_nms (iou_threshold=0.5, sigma=0.5, min_score=0.001) vs nms_1d_cpu.softnms; ms per call, best of runs")
    print(f"{'method':<9} {'input':<10} {'N':>6} {'kept':>6} {'nms_1d_cpu':>11} {'actseg(np)':>11} {'ratio':>7} "
          f"{'actseg(pt)':>11} {'ratio':>7}  identical")
    for row in r["soft_nms"]:
        print(f"{row['method']:<9} {row['input']:<10} {row['n']:>6} {row['kept']:>6} {ms(row.get('reference_s')):>11} "
              f"{ms(row['actseg_numpy_s']):>11} {ratio(row.get('ratio_numpy')):>7} {ms(row['actseg_torch_s']):>11} "
              f"{ratio(row.get('ratio_torch')):>7}  {row.get('identical', '-')}")
    print("\nbatched_nms, 2,000 candidates, 20 classes, vs ActionFormer batched_nms; ms per call")
    print(f"{'config':<31} {'input':<10} {'kept':>5} {'ActionFormer':>12} {'actseg(np)':>11} {'ratio':>7} "
          f"{'actseg(pt)':>11} {'ratio':>7}  same scores/labels, max |dseg|")
    for row in r["batched_nms"]:
        same = (f"{row['identical_scores']}/{row['same_label_multiset']}, {row['max_abs_segment_diff']:.2g}"
                if "reference_s" in row else "-")
        print(f"{row['config']:<31} {row['input']:<10} {row['kept']:>5} {ms(row.get('reference_s')):>12} "
              f"{ms(row['actseg_numpy_s']):>11} {ratio(row.get('ratio_numpy')):>7} {ms(row['actseg_torch_s']):>11} "
              f"{ratio(row.get('ratio_torch')):>7}  {same}")
    fc = r["first_call"]
    if fc is None:
        return
    print("\nfirst call in a fresh process (N=1000 soft_nms, then THUMOS batched_nms), seconds:")
    for label, key in (("empty numba cache (compile)", "cold"), ("warm numba cache", "warm")):
        d = fc[key]
        print(f"  {label:<28} import {d['import_s']:.3f}  soft_nms {d['soft_nms_first_s']:.3f}  "
              f"batched_nms {d['batched_nms_first_s']:.3f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference-dir", help="ActionFormer checkout, its libs/utils, or a folder with nms_1d_cpu*.so")
    p.add_argument("--build-dir", help="where to compile nms_cpu.cpp (default: a temporary folder)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS), help="soft_nms methods")
    p.add_argument("--skip-batched", action="store_true", help="time soft_nms only")
    p.add_argument("--skip-first-call", action="store_true", help="skip the fresh-process first-call timings")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write every number to this file")
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child:
        child_first_call()
        return 0
    first = None
    if not args.skip_first_call:
        with tempfile.TemporaryDirectory(prefix="actseg_numba_") as cache:
            first = {"cold": first_call_in_fresh_process(cache), "warm": first_call_in_fresh_process(cache)}
    root = resolve_reference(args)
    ext = py = None
    how = f"none ({REFERENCE_HINT}); actseg timed alone"
    if root is not None:
        ext, py, how = load_reference(root, args.build_dir)
    result = {
        "reference": how,
        "environment": environment(),
        "soft_nms": bench_soft_nms(ext, args.sizes, args.repeat, args.seed, args.methods),
        "batched_nms": [] if args.skip_batched else bench_batched(py, args.repeat, args.seed),
        "first_call": first,
    }
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
