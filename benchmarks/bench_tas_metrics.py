"""Side-by-side benchmark: ``actseg.metrics.SegmentationMetrics`` vs the official MS-TCN ``eval.py``.

Both sides evaluate the same synthetic, Breakfast-sized test set in one process: 1,712 videos of
500 to 10,000 frames, 48 classes, predictions that look like a real model's output (ground truth
with jittered boundaries, a few wrong segment labels and heavy over-segmentation). Reported:

* the end-to-end time of the reference aggregation (what ``main()`` of ms-tcn ``eval.py`` does:
  pooled accuracy with its per-frame Python loop, mean per-video ``edit_score``, ``f_score`` for
  overlaps 0.1/0.25/0.5 pooled over videos, F1 with ``nan_to_num`` x 100) on string labels, as
  the script sees them after reading its files (file reading itself is not timed);
* the same numbers with ``actseg``: first call including the numba compilation (fresh process,
  empty ``NUMBA_CACHE_DIR``), first call with a warm on-disk cache (another fresh process), and
  the steady-state time of the whole dataset (best of ``--repeat`` after a warm-up);
* a check that both sides agree on accuracy, edit and F1@{10,25,50} to 1e-9;
* two stress cases of the per-video functions (actseg only; the reference's pure-Python dynamic
  programme would take hours on the first): ``edit_score`` and ``f1_score`` on one video of
  ``--fragmented-frames`` frames (default 100,000) whose labels change at every frame (48 classes,
  ~98,000 segments per side), and the time and peak memory of ``f1_score([2**34, 0], [2**34, 0])``
  in a fresh process (cost must depend on the number of distinct labels, not their values).

The reference is not part of actseg. Get it with::

    git clone https://github.com/yabufarha/ms-tcn && git -C ms-tcn checkout 33ed91c

and pass ``--reference ms-tcn/eval.py`` (or ``--reference-dir ms-tcn``, or set the environment
variable ``ACTSEG_MSTCN_EVAL``). Only the function definitions of the file are used (the text up
to ``def main():``, which is Python 2); ``np.float``, removed in NumPy 1.24, is aliased to
``float`` when missing. Without a reference the actseg side runs alone.

Usage::

    python benchmarks/bench_tas_metrics.py --reference /path/to/ms-tcn/eval.py [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

N_CLASSES = 48
OVERLAPS = (0.1, 0.25, 0.5)
KEYS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")
TOLERANCE = 1e-9
ENV_VAR = "ACTSEG_MSTCN_EVAL"
REFERENCE_HINT = (
    "get it with: git clone https://github.com/yabufarha/ms-tcn && git -C ms-tcn checkout 33ed91c, "
    f"then pass --reference ms-tcn/eval.py (or --reference-dir ms-tcn, or set {ENV_VAR})"
)

Video = tuple[str, np.ndarray, np.ndarray]  # (name, pred, target), int64 arrays of one length


# ----------------------------------------------------------------------------------------------
# synthetic data


def _segment_labels(rng: np.random.Generator, n_seg: int) -> np.ndarray:
    """Background (0) first and last, as ``SIL`` on Breakfast; no two neighbours share a class."""
    labels = np.zeros(n_seg, dtype=np.int64)
    for i in range(1, n_seg - 1):
        lab = labels[i - 1]
        while lab == labels[i - 1]:
            lab = int(rng.integers(1, N_CLASSES))
        labels[i] = lab
    return labels


def make_video(rng: np.random.Generator, t_min: int, t_max: int) -> tuple[np.ndarray, np.ndarray]:
    """One (pred, target) pair of int64 frame labels."""
    t_len = int(rng.integers(t_min, t_max + 1))
    n_seg = int(rng.integers(5, 26))
    cuts = np.sort(rng.choice(np.arange(1, t_len), size=n_seg - 1, replace=False))
    labels = _segment_labels(rng, n_seg)
    target = np.repeat(labels, np.diff(np.concatenate(([0], cuts, [t_len]))))

    # prediction: boundaries off by up to 15 frames, 10 % of the segments with a wrong class ...
    moved = np.sort(np.clip(cuts + rng.integers(-15, 16, size=cuts.shape[0]), 1, t_len - 1))
    pred_labels = labels.copy()
    wrong = rng.random(n_seg) < 0.1
    pred_labels[wrong] = rng.integers(0, N_CLASSES, size=int(wrong.sum()))
    pred = np.repeat(pred_labels, np.diff(np.concatenate(([0], moved, [t_len]))))
    # ... and heavy over-segmentation: short random runs of 1-30 frames, about one per 50 frames
    n_runs = int(rng.poisson(t_len / 50))
    starts = rng.integers(0, t_len, size=n_runs)
    lengths = rng.integers(1, 31, size=n_runs)
    run_labels = rng.integers(0, N_CLASSES, size=n_runs)
    for s, n, lab in zip(starts.tolist(), lengths.tolist(), run_labels.tolist()):
        pred[s:s + n] = lab
    return pred.astype(np.int64), target.astype(np.int64)


def make_dataset(n_videos: int, seed: int, t_min: int, t_max: int) -> list[Video]:
    rng = np.random.default_rng(seed)
    return [(f"synthetic_{i:04d}.txt", *make_video(rng, t_min, t_max)) for i in range(n_videos)]


def to_strings(videos: list[Video]) -> list[tuple[str, list[str], list[str]]]:
    """Labels as the reference sees them after reading its files: lists of str class names."""
    names = [str(c) for c in range(N_CLASSES)]
    return [(vid, [names[c] for c in p.tolist()], [names[c] for c in y.tolist()]) for vid, p, y in videos]


# ----------------------------------------------------------------------------------------------
# the reference


def resolve_reference(args: argparse.Namespace) -> tuple[Path | None, str]:
    """Path of ms-tcn ``eval.py`` from the arguments or the environment, with a reason if none."""
    if args.reference:
        candidate, source = Path(args.reference), "--reference"
    elif args.reference_dir:
        candidate, source = Path(args.reference_dir) / "eval.py", "--reference-dir"
    elif os.environ.get(ENV_VAR):
        candidate, source = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        return None, "no reference given"
    if not candidate.is_file():
        return None, f"{source}: {candidate} is not a file"
    return candidate, ""


def load_reference(path: Path) -> types.ModuleType:
    """Execute the function definitions of ms-tcn ``eval.py`` (the text before ``def main():``)."""
    text = path.read_text()
    cut = text.find("\ndef main():")
    if cut < 0:
        raise SystemExit(f"{path}: no 'def main():' found; is this ms-tcn eval.py?")
    if not hasattr(np, "float"):
        np.float = float  # removed in NumPy 1.24; levenstein() allocates with it
    module = types.ModuleType("mstcn_eval_reference")
    module.__file__ = str(path)
    exec(compile(text[:cut], str(path), "exec"), module.__dict__)
    for name in ("get_labels_start_end_time", "levenstein", "edit_score", "f_score"):
        if not callable(getattr(module, name, None)):
            raise SystemExit(f"{path}: function {name}() not found; is this ms-tcn eval.py?")
    return module


def reference_numbers(ref: types.ModuleType, videos: list[tuple[str, list[str], list[str]]]) -> dict[str, float]:
    """The aggregation of ms-tcn ``main()`` over in-memory label lists (default ``bg_class``)."""
    n_k = len(OVERLAPS)
    tp, fp, fn = np.zeros(n_k), np.zeros(n_k), np.zeros(n_k)
    correct = 0
    total = 0
    edit = 0
    for _, recog, gt in videos:
        for i in range(len(gt)):  # the script's per-frame loop
            total += 1
            if gt[i] == recog[i]:
                correct += 1
        edit += ref.edit_score(recog, gt)
        for s in range(n_k):
            tp1, fp1, fn1 = ref.f_score(recog, gt, OVERLAPS[s])
            tp[s] += tp1
            fp[s] += fp1
            fn[s] += fn1
    out = {"accuracy": 100 * float(correct) / total, "edit": (1.0 * edit) / len(videos)}
    with np.errstate(divide="ignore", invalid="ignore"):
        for s, key in enumerate(KEYS[2:]):
            precision = tp[s] / float(tp[s] + fp[s])
            recall = tp[s] / float(tp[s] + fn[s])
            f1 = 2.0 * (precision * recall) / (precision + recall)
            out[key] = float(np.nan_to_num(f1) * 100)
    return {k: float(v) for k, v in out.items()}


# ----------------------------------------------------------------------------------------------
# actseg


def actseg_numbers(videos: list[Video]) -> dict[str, float]:
    from actseg.metrics import SegmentationMetrics

    m = SegmentationMetrics()  # background=(): SIL is a class like any other for ms-tcn
    for vid, pred, target in videos:
        m.update(pred, target, video_ids=vid)
    return m.compute()


def child_first_call(args: argparse.Namespace) -> None:
    """Run in a fresh process: time the first update (numba import + compile or cache load)."""
    videos = make_dataset(args.videos, args.seed, args.t_min, args.t_max)
    t0 = time.perf_counter()
    from actseg.metrics import SegmentationMetrics

    m = SegmentationMetrics()
    t1 = time.perf_counter()
    vid, pred, target = videos[0]
    m.update(pred, target, video_ids=vid)
    t2 = time.perf_counter()
    for vid, pred, target in videos[1:]:
        m.update(pred, target, video_ids=vid)
    t3 = time.perf_counter()
    torch_loaded = "torch" in sys.modules
    result = m.compute()  # the first compute() imports torch.distributed when torch is not loaded yet
    t4 = time.perf_counter()
    print(json.dumps({
        "import_s": t1 - t0,
        "first_call_s": t2 - t1,
        "other_updates_s": t3 - t2,
        "first_compute_s": t4 - t3,
        "torch_loaded_before_compute": torch_loaded,
        "first_pass_s": t4 - t1,
        "result": result,
    }))


def child_huge_ids() -> None:
    """Run in a fresh process: time and peak-RSS growth of F1 with a class id of 2**34."""
    import resource

    from actseg.metrics import f1_score

    f1_score([1, 0], [1, 0])  # numba import + cache load, not counted
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    f1 = f1_score([2**34, 0], [2**34, 0])
    seconds = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_growth_mb": (rss1 - rss0) / 1024, "f1": f1.tolist()}))


def huge_ids_in_fresh_process() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--_child-huge"], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else str(proc.returncode)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fragmented(t_len: int, repeat: int, seed: int = 0) -> dict[str, Any]:
    """Best-of-``repeat`` seconds of ``edit_score`` and ``f1_score`` on one per-frame fragmented video."""
    from actseg.metrics import edit_score, f1_score

    rng = np.random.default_rng(seed)
    pred, target = rng.integers(0, N_CLASSES, t_len), rng.integers(0, N_CLASSES, t_len)
    edit_score(pred[:100], target[:100])  # warm-up
    f1_score(pred[:100], target[:100])
    out: dict[str, Any] = {"frames": t_len, "segments": [int(1 + np.count_nonzero(np.diff(x))) for x in (pred, target)]}
    for name, fn in (("edit_score", edit_score), ("f1_score", f1_score)):
        best = best_cpu = float("inf")
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            value = fn(pred, target)
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        out[name] = {"seconds": best, "cpu_seconds": best_cpu, "value": np.asarray(value).tolist()}
    return out


def first_call_in_fresh_process(args: argparse.Namespace, cache_dir: str) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--_child",
           "--videos", str(args.videos), "--seed", str(args.seed),
           "--t-min", str(args.t_min), "--t-max", str(args.t_max)]
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child process failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def steady_state(videos: list[Video], repeat: int) -> tuple[float, dict[str, float]]:
    actseg_numbers(videos[:1])  # warm-up: numba import and compile (or cache load)
    best = float("inf")
    result: dict[str, float] = {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = actseg_numbers(videos)
        best = min(best, time.perf_counter() - t0)
    return best, result


# ----------------------------------------------------------------------------------------------
# report


def environment() -> dict[str, str]:
    import numba
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "date": datetime.date.today().isoformat(),
    }


def compare(ours: dict[str, float], ref: dict[str, float]) -> list[str]:
    lines, bad = [], []
    for key in KEYS:
        diff = abs(ours[key] - ref[key])
        same = diff <= TOLERANCE
        lines.append(f"  {key:<9} reference {ref[key]:.10f}  actseg {ours[key]:.10f}  |diff| {diff:.1e}"
                     f"  {'ok' if same else 'MISMATCH'}")
        if not same:
            bad.append(key)
    print("\n".join(lines))
    return bad


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(r: dict[str, Any]) -> None:
    n = r["videos"]
    ref_s = r.get("reference_s")
    ours_s = r["actseg_steady_s"]
    speedup = None if ref_s is None else ref_s / ours_s
    ref_video_ms = None if ref_s is None else 1e3 * r["reference_measured_s"] / r["reference_videos"]
    torch_note = "" if r["warm"]["torch_loaded_before_compute"] else ", imports torch"
    note = "" if not r.get("reference_extrapolated") else " (reference extrapolated by frames)"
    rows = [
        (f"end to end, {n} videos{note}", fmt(ref_s), fmt(ours_s), "-" if speedup is None else f"{speedup:.0f}"),
        ("per video, mean (ms)", fmt(ref_video_ms, 2), fmt(1e3 * ours_s / n, 3),
         "-" if speedup is None else f"{ref_video_ms / (1e3 * ours_s / n):.0f}"),
        ("first call, cold numba compile (s)", "-", fmt(r["cold"]["first_call_s"]), ""),
        ("first call, warm on-disk cache (s)", "-", fmt(r["warm"]["first_call_s"]), ""),
        ("first pass incl. compile, cold (s)", "-", fmt(r["cold"]["first_pass_s"]), ""),
        ("first pass incl. cache load, warm (s)", "-", fmt(r["warm"]["first_pass_s"]), ""),
        (f"  of which first compute(){torch_note} (s)", "-", fmt(r["warm"]["first_compute_s"]), ""),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"\n{'':<{width}} | reference s | actseg s | speed-up ×")
    print(f"{'-' * width}-|-------------|----------|-----------")
    for label, a, b, c in rows:
        print(f"{label:<{width}} | {a:>11} | {b:>8} | {c:>10}")


# ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", metavar="PATH", help=f"ms-tcn eval.py (default: ${ENV_VAR})")
    p.add_argument("--reference-dir", metavar="DIR", help="a checkout of ms-tcn (uses DIR/eval.py)")
    p.add_argument("--reference-videos", type=int, default=None, metavar="N",
                   help="time the reference on the first N videos only and extrapolate linearly by "
                        "frames (default: all)")
    p.add_argument("--videos", type=int, default=1712, help="number of synthetic videos (default: 1712)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--t-min", type=int, default=500)
    p.add_argument("--t-max", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=3, help="steady-state repetitions, best is kept (default: 3)")
    p.add_argument("--fragmented-frames", type=int, default=100_000, metavar="T",
                   help="frames of the per-frame fragmented video for edit/F1 (default: 100000; 0 skips)")
    p.add_argument("--json", metavar="OUT", help="write the numbers to this JSON file")
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_child-huge", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child:
        child_first_call(args)
        return 0
    if args._child_huge:
        child_huge_ids()
        return 0

    ref_path, why = resolve_reference(args)
    if ref_path is None:
        print(f"ms-tcn eval.py not available ({why}): skipping the reference side.\n{REFERENCE_HINT}\n")

    env = environment()
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, torch {env['torch']}, "
          f"{env['cpu_count']} CPUs, {env['platform']}")
    t0 = time.perf_counter()
    videos = make_dataset(args.videos, args.seed, args.t_min, args.t_max)
    frames = sum(int(y.shape[0]) for _, _, y in videos)
    runs_pred = float(np.mean([1 + np.count_nonzero(np.diff(p)) for _, p, _ in videos]))
    runs_gt = float(np.mean([1 + np.count_nonzero(np.diff(y)) for _, _, y in videos]))
    print(f"dataset: {len(videos)} videos, {frames:,} frames, {N_CLASSES} classes, seed {args.seed}; "
          f"segments per video: {runs_gt:.1f} ground truth, {runs_pred:.1f} predicted "
          f"(generated in {time.perf_counter() - t0:.1f} s, not timed)")

    report: dict[str, Any] = {"env": env, "videos": len(videos), "frames": frames, "seed": args.seed,
                              "segments_per_video": {"target": runs_gt, "pred": runs_pred},
                              "reference": None if ref_path is None else str(ref_path)}

    with tempfile.TemporaryDirectory(prefix="actseg-numba-cache-") as cache_dir:
        report["cold"] = first_call_in_fresh_process(args, cache_dir)
        report["warm"] = first_call_in_fresh_process(args, cache_dir)
    print(f"actseg first call: cold compile {report['cold']['first_call_s']:.3f} s, "
          f"warm cache {report['warm']['first_call_s']:.3f} s (fresh processes)")

    ours_s, ours = steady_state(videos, args.repeat)
    report["actseg_steady_s"] = ours_s
    report["actseg_result"] = ours
    print(f"actseg steady state: {ours_s:.3f} s for {len(videos)} videos (best of {args.repeat})")

    status = 0
    if not report["cold"]["result"] == report["warm"]["result"] == ours:
        print("MISMATCH: the fresh processes and this one give different actseg numbers")
        status = 1
    if ref_path is not None:
        ref = load_reference(ref_path)
        n_ref = len(videos) if args.reference_videos is None else max(1, min(args.reference_videos, len(videos)))
        subset = videos[:n_ref]
        subset_frames = sum(int(y.shape[0]) for _, _, y in subset)
        strings = to_strings(subset)
        print(f"reference: {ref_path}, {n_ref} videos ({subset_frames:,} frames) ...", flush=True)
        t0 = time.perf_counter()
        ref_result = reference_numbers(ref, strings)
        ref_measured = time.perf_counter() - t0
        del strings
        extrapolated = n_ref < len(videos)
        ref_s = ref_measured * frames / subset_frames if extrapolated else ref_measured
        report.update({"reference_videos": n_ref, "reference_frames": subset_frames,
                       "reference_measured_s": ref_measured, "reference_s": ref_s,
                       "reference_extrapolated": extrapolated, "reference_result": ref_result,
                       "speedup": ref_s / ours_s})
        if extrapolated:
            print(f"reference timed on {n_ref} of {len(videos)} videos: {ref_measured:.2f} s, "
                  f"extrapolated linearly by frames to {ref_s:.2f} s")
        ours_subset = ours if not extrapolated else actseg_numbers(subset)
        print(f"\nagreement on the {n_ref} reference videos (tolerance {TOLERANCE:g}):")
        bad = compare(ours_subset, ref_result)
        report["agree"] = not bad
        if bad:
            print(f"MISMATCH in {', '.join(bad)}")
            status = 1

    print_table(report)
    if args.fragmented_frames > 0:
        frag = fragmented(args.fragmented_frames, args.repeat)
        report["fragmented"] = frag
        print(f"\nper-frame fragmented video, {frag['frames']:,} frames, {frag['segments'][0]:,} / "
              f"{frag['segments'][1]:,} segments (best of {args.repeat}, wall / CPU): edit_score "
              f"{frag['edit_score']['seconds']:.3f} / {frag['edit_score']['cpu_seconds']:.3f} s, f1_score "
              f"{frag['f1_score']['seconds']:.3f} / {frag['f1_score']['cpu_seconds']:.3f} s")
    huge = huge_ids_in_fresh_process()
    report["huge_ids"] = huge
    if "error" in huge:
        print(f"f1_score([2**34, 0], [2**34, 0]) failed in a fresh process: {huge['error']}")
    else:
        print(f"f1_score([2**34, 0], [2**34, 0]): {huge['seconds'] * 1e3:.2f} ms, peak RSS growth "
              f"{huge['peak_rss_growth_mb']:.1f} MB (fresh process)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
