"""Side-by-side benchmark: ``detection_map`` vs the official ActivityNet ``ANETdetection`` evaluator.

Both sides evaluate the same synthetic, ActivityNet-1.3-validation-sized set in one process: 4,728
videos of 30 to 240 s, 1 to 5 ground-truth instances each (times in seconds, float), 100 scored
proposals per video (about 60 % jittered copies of a ground-truth instance, mostly with its class,
the rest random), 200 classes, tIoU thresholds 0.5:0.05:0.95 (``np.linspace(0.5, 0.95, 10)``).
Reported:

* the official evaluator: ``ANETdetection.__init__`` (reading the two JSON files into DataFrames) and
  ``evaluate()`` (per-class AP with ``joblib.Parallel``) timed separately;
* actseg: building the ``Segments`` mappings from arrays, the steady-state ``detection_map`` (best of
  ``--repeat`` after a warm-up), and the first call in fresh processes with an empty numba cache
  (compilation) and with a warm on-disk cache;
* agreement: per-class AP (matched by class) and mAP per threshold, to 1e-12.

The official evaluator runs ``Parallel(n_jobs=len(activity_index))``, i.e. 200 worker processes for
ActivityNet. With fewer cores than classes the extra workers only add start-up time and memory
(roughly 60 MB each), so by default this script caps ``n_jobs`` at the number of CPU cores; pass
``--reference-jobs 0`` for the literal official setting or ``--reference-jobs 1`` to compare one core
with one core (actseg is single-threaded).

The reference is not part of actseg. Get it with::

    git clone https://github.com/activitynet/ActivityNet && git -C ActivityNet checkout 82304fa

and pass ``--reference-dir ActivityNet`` (or set ``ACTSEG_ACTIVITYNET_DIR``). Its
``Evaluation/eval_detection.py`` and ``Evaluation/utils.py`` are Python 2; this script loads them
unmodified from disk with three in-memory text substitutions (``print x`` -> ``print(x)``,
``.iteritems()`` -> ``.items()``, ``import urllib2`` dropped: only ``get_blocked_videos`` uses it and
it is not called with ``check_status=False``), written to a temporary directory so that the joblib
workers can import them, with a header line that aliases ``np.float`` (removed in NumPy 1.24) to
``float``. It needs
pandas and joblib. Without a reference the actseg side runs alone and the script exits 0.

Usage::

    python benchmarks/bench_detection.py --reference-dir /path/to/ActivityNet [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

N_VIDEOS = 4728
N_PROPOSALS = 100
N_CLASSES = 200
TOLERANCE = 1e-12
ENV_VAR = "ACTSEG_ACTIVITYNET_DIR"
REFERENCE_HINT = (
    "get it with: git clone https://github.com/activitynet/ActivityNet && git -C ActivityNet checkout 82304fa, "
    f"then pass --reference-dir ActivityNet (or set {ENV_VAR})"
)

Dataset = dict[str, dict[str, np.ndarray]]  # video -> {"gt": (n, 3), "pred": (m, 4)} arrays [s, e, label(, score)]


# ----------------------------------------------------------------------------------------------
# synthetic data


def make_dataset(n_videos: int, n_proposals: int, n_classes: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    data: Dataset = {}
    for i in range(n_videos):
        duration = float(rng.uniform(30, 240))
        n_gt = int(rng.integers(1, 6))
        length = rng.uniform(0.05, 0.6, n_gt) * duration
        start = rng.uniform(0, 1, n_gt) * (duration - length)
        label = rng.integers(0, n_classes, n_gt)
        if i < n_classes:
            label[0] = i  # every class has ground truth
        gt = np.stack([start, start + length, label.astype(np.float64)], axis=1)
        src = rng.integers(0, n_gt, n_proposals)
        copy = rng.random(n_proposals) < 0.6
        p_len = np.where(copy, length[src] * rng.uniform(0.6, 1.4, n_proposals),
                         rng.uniform(0.02, 0.7, n_proposals) * duration)
        center = np.where(copy, start[src] + length[src] / 2 + rng.normal(0, 0.15, n_proposals) * length[src],
                          rng.uniform(0, duration, n_proposals))
        p_start = np.clip(center - p_len / 2, 0, duration)
        p_end = np.clip(center + p_len / 2, 0, duration)
        p_end = np.maximum(p_end, p_start + 0.1)
        p_label = np.where(copy & (rng.random(n_proposals) < 0.8), label[src], rng.integers(0, n_classes, n_proposals))
        score = rng.random(n_proposals)
        data[f"v_{i:05d}"] = {"gt": gt, "pred": np.stack([p_start, p_end, p_label.astype(np.float64), score], axis=1)}
    scores = np.concatenate([v["pred"][:, 3] for v in data.values()])
    if np.unique(scores).size != scores.size:  # the official order of equal scores is platform-dependent
        raise SystemExit("tied scores in the synthetic data: change --seed")
    return data


def to_segments(data: Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
    from actseg.segments import Segments

    preds = {vid: Segments(v["pred"][:, 0], v["pred"][:, 1], v["pred"][:, 2].astype(np.int64), scores=v["pred"][:, 3])
             for vid, v in data.items()}
    gts = {vid: Segments(v["gt"][:, 0], v["gt"][:, 1], v["gt"][:, 2].astype(np.int64)) for vid, v in data.items()}
    return preds, gts


def write_json(data: Dataset, directory: str) -> tuple[str, str]:
    """The ActivityNet ground-truth and result files (class names ``c000``..)."""
    database = {vid: {"subset": "validation", "duration": float(v["pred"][:, 1].max()),
                      "annotations": [{"segment": [s, e], "label": f"c{int(c):03d}"} for s, e, c in v["gt"].tolist()]}
                for vid, v in data.items()}
    results = {vid: [{"label": f"c{int(c):03d}", "score": p, "segment": [s, e]} for s, e, c, p in v["pred"].tolist()]
               for vid, v in data.items()}
    gt_path, pred_path = os.path.join(directory, "gt.json"), os.path.join(directory, "pred.json")
    Path(gt_path).write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    Path(pred_path).write_text(json.dumps({"version": "VERSION 1.3", "results": results, "external_data": {}}))
    return gt_path, pred_path


# ----------------------------------------------------------------------------------------------
# the reference


def resolve_reference(args: argparse.Namespace) -> tuple[Path | None, str]:
    if args.reference_dir:
        root, source = Path(args.reference_dir), "--reference-dir"
    elif os.environ.get(ENV_VAR):
        root, source = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        return None, "no reference given"
    evaluation = root / "Evaluation" if (root / "Evaluation").is_dir() else root
    for name in ("eval_detection.py", "utils.py"):
        if not (evaluation / name).is_file():
            return None, f"{source}: {evaluation / name} is not a file"
    return evaluation, ""


def load_reference(evaluation: Path, workdir: str) -> Any:
    """Import ``eval_detection`` (py2) through py3 copies in ``workdir``; returns the module."""
    for name in ("pandas", "joblib"):
        try:
            importlib.import_module(name)
        except ImportError:
            raise SystemExit(f"the official evaluator needs {name}: pip install {name}") from None
    for name in ("eval_detection.py", "utils.py"):
        text = (evaluation / name).read_text().replace("import urllib2\n", "").replace(".iteritems()", ".items()")
        text = re.sub(r"^(\s*)print (.*)$", r"\1print(\2)", text, flags=re.M)
        target = name
        if name == "eval_detection.py":
            target = "anet_eval_detection.py"
            # np.float (removed in NumPy 1.24) casts the cumulative sums; set it here so the workers have it
            text = 'import numpy\nif not hasattr(numpy, "float"):\n    numpy.float = float\n' + text
        Path(workdir, target).write_text(text)
    sys.path.insert(0, workdir)
    os.environ["PYTHONPATH"] = workdir + os.pathsep + os.environ.get("PYTHONPATH", "")  # joblib workers
    sys.modules.pop("utils", None)
    module = importlib.import_module("anet_eval_detection")
    if not hasattr(module, "ANETdetection"):
        raise SystemExit(f"{evaluation}: no ANETdetection; is this activitynet/ActivityNet?")
    return module


def set_reference_jobs(module: Any, jobs: int) -> None:
    """``jobs == 0``: the official ``n_jobs=len(activity_index)``; else that many workers."""
    import joblib

    if jobs > 0:
        module.Parallel = lambda n_jobs=None, **kw: joblib.Parallel(n_jobs=jobs, **kw)
    else:
        module.Parallel = joblib.Parallel


def run_reference(module: Any, gt_path: str, pred_path: str, thresholds: np.ndarray) -> dict[str, Any]:
    import io
    from contextlib import redirect_stdout

    t0 = time.perf_counter()
    evaluator = module.ANETdetection(gt_path, pred_path, tiou_thresholds=thresholds, subset="validation",
                                     verbose=False, check_status=False)
    t1 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    t2 = time.perf_counter()
    order = sorted(evaluator.activity_index.items(), key=lambda kv: int(kv[0][1:]))
    ap = np.stack([evaluator.ap[:, idx] for _, idx in order], axis=1)
    return {"init_s": t1 - t0, "evaluate_s": t2 - t1, "ap": ap, "mAP": np.asarray(evaluator.mAP),
            "average_mAP": float(evaluator.average_mAP)}


# ----------------------------------------------------------------------------------------------
# actseg


def child_first_call(args: argparse.Namespace) -> None:
    """Run in a fresh process: time the first detection_map (numba import + compile or cache load)."""
    data = make_dataset(args.videos, args.proposals, args.classes, args.seed)
    t0 = time.perf_counter()
    from actseg.metrics._detection import ACTIVITYNET_TIOU_THRESHOLDS, detection_map

    t1 = time.perf_counter()
    preds, gts = to_segments(data)
    t2 = time.perf_counter()
    out = detection_map(preds, gts, tiou_thresholds=ACTIVITYNET_TIOU_THRESHOLDS)
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "segments_s": t2 - t1, "first_call_s": t3 - t2,
                      "average_mAP": out["average_mAP"]}))


def first_call_in_fresh_process(args: argparse.Namespace, cache_dir: str) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", "--videos", str(args.videos),
           "--proposals", str(args.proposals), "--classes", str(args.classes), "--seed", str(args.seed)]
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child process failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def steady_state(preds: dict[str, Any], gts: dict[str, Any], repeat: int) -> tuple[float, dict[str, Any]]:
    from actseg.metrics._detection import ACTIVITYNET_TIOU_THRESHOLDS, detection_map

    detection_map(preds, gts, tiou_thresholds=ACTIVITYNET_TIOU_THRESHOLDS)  # warm-up
    best, out = float("inf"), {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = detection_map(preds, gts, tiou_thresholds=ACTIVITYNET_TIOU_THRESHOLDS)
        best = min(best, time.perf_counter() - t0)
    return best, out


# ----------------------------------------------------------------------------------------------
# report


def environment() -> dict[str, str]:
    import numba

    env = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
           "platform": platform.platform(), "cpu_count": str(os.cpu_count()),
           "date": datetime.date.today().isoformat()}
    try:
        import pandas

        env["pandas"] = pandas.__version__
    except ImportError:
        pass
    return env


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(r: dict[str, Any]) -> None:
    ref = r.get("reference_timing")
    ours = r["actseg_steady_s"]
    rows = [
        ("mAP computation (evaluate / detection_map)", fmt(None if ref is None else ref["evaluate_s"]), fmt(ours),
         "-" if ref is None else f"{ref['evaluate_s'] / ours:.0f}"),
        ("input preparation (JSON -> DataFrames / arrays -> Segments)", fmt(None if ref is None else ref["init_s"]),
         fmt(r["actseg_segments_s"]), "-" if ref is None else f"{ref['init_s'] / r['actseg_segments_s']:.0f}"),
        ("end to end", fmt(None if ref is None else ref["init_s"] + ref["evaluate_s"]),
         fmt(ours + r["actseg_segments_s"]),
         "-" if ref is None else f"{(ref['init_s'] + ref['evaluate_s']) / (ours + r['actseg_segments_s']):.0f}"),
        ("first call, cold numba compile", "-", fmt(r["cold"]["first_call_s"]), ""),
        ("first call, warm on-disk cache", "-", fmt(r["warm"]["first_call_s"]), ""),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"\n{'seconds':<{width}} | reference | actseg | speed-up ×")
    print(f"{'-' * width}-|-----------|--------|-----------")
    for label, a, b, c in rows:
        print(f"{label:<{width}} | {a:>9} | {b:>6} | {c:>10}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-dir", metavar="DIR", help=f"a checkout of activitynet/ActivityNet (or ${ENV_VAR})")
    p.add_argument("--reference-jobs", type=int, default=None, metavar="N",
                   help="joblib workers of the official evaluator: 0 = official (one per class), "
                        "default: min(classes, CPU cores)")
    p.add_argument("--videos", type=int, default=N_VIDEOS)
    p.add_argument("--proposals", type=int, default=N_PROPOSALS)
    p.add_argument("--classes", type=int, default=N_CLASSES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5, help="steady-state repetitions, best is kept (default: 5)")
    p.add_argument("--json", metavar="OUT", help="write the numbers to this JSON file")
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child:
        child_first_call(args)
        return 0
    evaluation, why = resolve_reference(args)
    if evaluation is None:
        print(f"ActivityNet evaluator not available ({why}): skipping the reference side.\n{REFERENCE_HINT}\n")
    env = environment()
    print(", ".join(f"{k} {v}" for k, v in env.items()))
    t0 = time.perf_counter()
    data = make_dataset(args.videos, args.proposals, args.classes, args.seed)
    n_gt = sum(v["gt"].shape[0] for v in data.values())
    n_pred = sum(v["pred"].shape[0] for v in data.values())
    print(f"dataset: {len(data)} videos, {n_gt:,} ground-truth instances, {n_pred:,} predictions, "
          f"{args.classes} classes, seed {args.seed} (generated in {time.perf_counter() - t0:.1f} s, not timed)")
    report: dict[str, Any] = {"env": env, "videos": len(data), "ground_truth": n_gt, "predictions": n_pred,
                              "classes": args.classes, "seed": args.seed}

    with tempfile.TemporaryDirectory(prefix="actseg-numba-cache-") as cache_dir:
        report["cold"] = first_call_in_fresh_process(args, cache_dir)
        report["warm"] = first_call_in_fresh_process(args, cache_dir)
    print(f"actseg first call (fresh processes): cold compile {report['cold']['first_call_s']:.3f} s, "
          f"warm cache {report['warm']['first_call_s']:.3f} s")
    t0 = time.perf_counter()
    preds, gts = to_segments(data)
    report["actseg_segments_s"] = time.perf_counter() - t0
    ours_s, ours = steady_state(preds, gts, args.repeat)
    report["actseg_steady_s"] = ours_s
    report["actseg_average_mAP"] = ours["average_mAP"]
    report["actseg_mAP"] = ours["mAP"].tolist()
    print(f"actseg: detection_map {ours_s:.3f} s (best of {args.repeat}), average mAP {ours['average_mAP']:.6f}")

    status = 0
    if evaluation is not None:
        from actseg.metrics._detection import ACTIVITYNET_TIOU_THRESHOLDS

        with tempfile.TemporaryDirectory(prefix="actseg-bench-anet-") as workdir:
            module = load_reference(evaluation, workdir)
            jobs = min(args.classes, os.cpu_count() or 1) if args.reference_jobs is None else args.reference_jobs
            set_reference_jobs(module, jobs)
            gt_path, pred_path = write_json(data, workdir)
            label = "official n_jobs = number of classes" if jobs == 0 else f"n_jobs={jobs}"
            print(f"reference: {evaluation} ({label}) ...", flush=True)
            ref = run_reference(module, gt_path, pred_path, np.linspace(0.5, 0.95, 10))
        assert np.array_equal(np.linspace(0.5, 0.95, 10), ACTIVITYNET_TIOU_THRESHOLDS)
        ap_diff = float(np.abs(ref["ap"] - ours["ap"]).max())
        map_diff = float(np.abs(ref["mAP"] - ours["mAP"]).max())
        agree = ap_diff <= TOLERANCE and map_diff <= TOLERANCE
        report.update({"reference": str(evaluation), "reference_jobs": jobs,
                       "reference_timing": {"init_s": ref["init_s"], "evaluate_s": ref["evaluate_s"]},
                       "reference_average_mAP": ref["average_mAP"], "max_abs_diff_ap": ap_diff,
                       "max_abs_diff_mAP": map_diff, "agree": agree,
                       "speedup_evaluate": ref["evaluate_s"] / ours_s,
                       "speedup_end_to_end": (ref["init_s"] + ref["evaluate_s"])
                       / (ours_s + report["actseg_segments_s"])})
        print(f"agreement: max |AP diff| {ap_diff:.1e}, max |mAP diff| {map_diff:.1e} "
              f"(average mAP reference {ref['average_mAP']:.12f}, actseg {ours['average_mAP']:.12f}) "
              f"{'ok' if agree else 'MISMATCH'}")
        status = 0 if agree else 1
    print_table(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
