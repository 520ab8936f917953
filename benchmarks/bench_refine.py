"""Side-by-side benchmark: ASRF post-processing and boundary F1, actseg vs the official code.

1. ``actseg.postprocess`` ``refine_by_boundaries`` / ``relabel_short_segments`` /
   ``gaussian_smoothing`` vs ASRF's ``PostProcessor`` (``libs/postprocess.py``) on a padded-free
   batch (default 8 videos x 10,000 frames x 48 classes, logits + boundary probabilities with a
   boundary every 100-400 frames). ASRF evaluates one video at a time (its batch softmax breaks for
   N > 1), so the reference is called per video with N = 1; actseg gets the whole batch at once.
   The outputs are compared (refinement and relabelling with ``reference="asrf"``): the number of
   differing frames is printed and should be 0.
2. ``actseg.metrics.BoundaryF1(protocol="gebd")`` vs Kinetics-GEBD ``Challenge_eval_Code/eval.py``
   on a Kinetics-GEBD-val-sized synthetic set (default 20,000 videos, 5 raters). eval.py evaluates
   one threshold per run (0.05); actseg is timed for that threshold and for all ten.
3. ``BoundaryF1(protocol="tapos")`` vs the TAPOS notebook (``eval/eval_GEBD_TAPOS.ipynb``, code
   cells 0-3, unmodified) on a TAPOS-val-sized set (default 2,000 instances). The notebook reads
   one prediction pickle per instance and threshold; that I/O is part of its time (actseg gets
   the predictions in memory).

The references are not part of actseg. Get them with::

    git clone https://github.com/yiskw713/asrf && git -C asrf checkout 9623f1e
    git clone https://github.com/StanLei52/GEBD && git -C GEBD checkout 5f7e722

and pass ``--reference-dir asrf --gebd-dir GEBD`` (or set ``ACTSEG_ASRF_DIR`` / ``ACTSEG_GEBD_DIR``).
The reference code is imported / executed unmodified; ASRF's ``libs/metric.py`` imports pandas for
its CSV writer only, so an empty stand-in module is installed when pandas is missing. Without a
reference the actseg side runs alone and the script says how to get it.

Usage::

    python benchmarks/bench_refine.py --reference-dir /path/to/asrf --gebd-dir /path/to/GEBD [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import platform
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

ASRF_HINT = ("get it with: git clone https://github.com/yiskw713/asrf && git -C asrf checkout 9623f1e, "
             "then pass --reference-dir asrf (or set ACTSEG_ASRF_DIR)")
GEBD_HINT = ("get it with: git clone https://github.com/StanLei52/GEBD && git -C GEBD checkout 5f7e722, "
             "then pass --gebd-dir GEBD (or set ACTSEG_GEBD_DIR)")


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


# ----------------------------------------------------------------------------------------------
# synthetic data


def make_batch(rng: np.random.Generator, batch: int, classes: int, frames: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class logits (B, K, T) following segments, boundary probabilities (B, T) peaking at the cuts, mask."""
    logits = rng.normal(size=(batch, classes, frames)).astype(np.float32)
    prob = np.empty((batch, frames), dtype=np.float32)
    t = np.arange(frames)
    for b in range(batch):
        cuts = np.cumsum(rng.integers(100, 400, size=frames // 100))
        cuts = cuts[cuts < frames]
        seg = np.searchsorted(cuts, t, side="right")
        labels = rng.integers(0, classes, size=seg.max() + 1)[seg]
        logits[b, labels, t] += 2.0
        track = np.zeros(frames)
        for c in cuts:
            track += np.exp(-0.5 * ((t - c) / 4.0) ** 2) * rng.uniform(0.6, 1.0)
        track += rng.normal(scale=0.05, size=frames)
        prob[b] = np.clip(track, 0, 1)
    return logits, prob, np.ones((batch, frames), dtype=bool)


def make_gebd(rng: np.random.Generator, n_videos: int) -> tuple[dict, dict]:
    gt, pred = {}, {}
    for i in range(n_videos):
        dur = float(rng.uniform(5, 10))
        raters = [np.sort(rng.uniform(0, dur, size=int(rng.integers(1, 9)))).tolist() for _ in range(5)]
        vid = f"video{i:06d}"
        gt[vid] = {"f1_consis_avg": float(rng.uniform(0.1, 1.0)), "substages_timestamps": raters, "fps": 30.0,
                   "video_duration": dur}
        if rng.random() < 0.97:
            base = np.asarray(raters[0]) + rng.normal(scale=0.2, size=len(raters[0]))
            extra = rng.uniform(-0.2, dur + 0.2, size=int(rng.integers(0, 5)))
            pred[vid] = np.concatenate([base, extra]).tolist()
    return gt, pred


def make_tapos(rng: np.random.Generator, n_instances: int) -> list[dict]:
    out = []
    for i in range(n_instances):
        start = int(rng.integers(0, 3000))
        length = int(rng.integers(30, 600))
        end = start + length - 1
        internal = np.unique(rng.integers(start + 1, end, size=int(rng.integers(1, 8)))).tolist()
        offsets = ((np.asarray(internal) - start) // 3 + rng.integers(-5, 6, size=len(internal))).tolist()
        offsets += rng.integers(0, length // 3, size=int(rng.integers(0, 4))).tolist()
        out.append({"video": f"v{i:010d}", "shot": f"s{i:05d}", "substages": [start, *internal, end],
                    "pred_offsets": offsets})
    return out


# ----------------------------------------------------------------------------------------------
# references


def load_asrf(path: str | None) -> Any:
    if not path:
        return None
    if not (Path(path) / "libs" / "postprocess.py").exists():
        print(f"ASRF reference: {path}/libs/postprocess.py not found; {ASRF_HINT}")
        return None
    try:
        import pandas  # noqa: F401
    except ImportError:
        sys.modules["pandas"] = types.ModuleType("pandas")  # libs/metric.py writes CSVs with it; unused here
    sys.path.insert(0, str(Path(path).resolve()))
    from libs.postprocess import PostProcessor

    return PostProcessor


def run_gebd_eval(gebd_dir: str, gt: dict, pred: dict) -> float:
    src = (Path(gebd_dir) / "Challenge_eval_Code" / "eval.py").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/PATH_TO_GT_FILES.pkl", "wb") as f:
            pickle.dump(gt, f)
        with open(f"{tmp}/PATH_TO_OUTPUT_FILES.pkl", "wb") as f:
            pickle.dump(pred, f)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            ns: dict[str, Any] = {"__name__": "__main__"}
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(src, "eval.py", "exec"), ns)
        finally:
            os.chdir(cwd)
    return float(ns["f1"])


def run_tapos_notebook(gebd_dir: str, instances: list[dict], tmp: str) -> list[float]:
    nb = json.loads((Path(gebd_dir) / "eval" / "eval_GEBD_TAPOS.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"][:4]
    cwd = os.getcwd()
    os.chdir(f"{tmp}/eval")
    try:
        ns: dict[str, Any] = {}
        with contextlib.redirect_stdout(io.StringIO()):
            for src in cells:
                exec(compile(src, "eval_GEBD_TAPOS.ipynb", "exec"), ns)
    finally:
        os.chdir(cwd)
    return [float(v) for v in ns["list_f1"]]


def write_tapos_files(instances: list[dict], tmp: str) -> None:
    os.makedirs(f"{tmp}/eval")
    os.makedirs(f"{tmp}/data/export")
    os.makedirs(f"{tmp}/data/exp_TAPOS/detect_seg")
    tapos: dict[str, dict] = {}
    for ins in instances:
        tapos.setdefault(ins["video"], {})[ins["shot"]] = {
            "subset": "val", "substages": ins["substages"], "substages_myframeidx": ins["substages"],
            "substages_timestamps": [s / 30 for s in ins["substages"]], "myfps": 30.0}
        with open(f"{tmp}/data/exp_TAPOS/detect_seg/{ins['video']}_{ins['shot']}.pkl", "wb") as f:
            pickle.dump({"bdy_idx_list_smt": ins["pred_offsets"]}, f)
    with open(f"{tmp}/data/export/tapos_annotation_timestamps_myfps.json", "w") as f:
        json.dump(tapos, f)


# ----------------------------------------------------------------------------------------------
# main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-dir", default=os.environ.get("ACTSEG_ASRF_DIR"), help="ASRF checkout")
    parser.add_argument("--gebd-dir", default=os.environ.get("ACTSEG_GEBD_DIR"), help="GEBD checkout")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=48)
    parser.add_argument("--gebd-videos", type=int, default=20_000)
    parser.add_argument("--tapos-instances", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args()

    from actseg.metrics._boundary import BoundaryF1
    from actseg.postprocess._peaks import find_peaks
    from actseg.postprocess._refine import gaussian_smoothing, refine_by_boundaries, relabel_short_segments

    rng = np.random.default_rng(args.seed)
    report: dict[str, Any] = {"python": sys.version.split()[0], "machine": platform.machine(),
                              "numpy": np.__version__, "args": vars(args)}
    print(f"# refine: {args.batch} videos x {args.frames} frames x {args.classes} classes (float32 logits)")
    logits, prob, mask = make_batch(rng, args.batch, args.classes, args.frames)
    labels = logits.argmax(1)

    t0 = time.perf_counter()
    refine_by_boundaries(logits[:1, :, :50], prob[:1, :50], mask=mask[:1, :50])
    report["refine_first_call_s"] = time.perf_counter() - t0
    ours = {
        "refine_by_boundaries": lambda: refine_by_boundaries(logits, prob, mask=mask, reference="asrf"),
        "relabel_short_segments": lambda: relabel_short_segments(labels, max_length=15, reference="asrf"),
        "gaussian_smoothing": lambda: gaussian_smoothing(logits, kernel_size=15),
    }
    results = {}
    for name, fn in ours.items():
        fn()
        results[name] = best_of(fn, args.repeat)
    n_peaks = sum(len(p) for p in find_peaks(prob, 0.5, peak_rule="argrelmax"))
    print(f"spans per video (argrelmax, threshold 0.5): {n_peaks / args.batch:.0f}")

    PostProcessor = load_asrf(args.reference_dir)
    if PostProcessor is None and not args.reference_dir:
        print(f"ASRF reference: not given; {ASRF_HINT}")
    for name, (t_ours, out) in results.items():
        line = f"{name:24s} actseg {t_ours * 1e3:9.2f} ms"
        entry: dict[str, Any] = {"actseg_s": t_ours}
        if PostProcessor is not None:
            method = {"refine_by_boundaries": "refinement_with_boundary", "relabel_short_segments": "relabeling",
                      "gaussian_smoothing": "smoothing"}[name]
            pp = PostProcessor(method, boundary_th=0.5, theta_t=15, kernel_size=15)

            def reference(pp=pp, method=method):
                rows = []
                for i in range(args.batch):
                    x = labels[i:i + 1].copy() if method == "relabeling" else logits[i:i + 1].copy()
                    kw = {"boundaries": prob[i:i + 1, None].copy(), "masks": mask[i:i + 1, None].copy()}
                    rows.append(pp(x, **(kw if method == "refinement_with_boundary" else {}))[0])
                return np.stack(rows)

            t_ref, ref_out = best_of(reference, max(1, min(args.repeat, 3)))
            differ = int((np.asarray(ref_out) != np.asarray(out)).sum())
            line += f" | ASRF {t_ref * 1e3:9.2f} ms | ratio {t_ref / t_ours:7.1f}x | differing frames {differ}"
            entry.update(reference_s=t_ref, ratio=t_ref / t_ours, differing_frames=differ)
        print(line)
        report[name] = entry
    t_default, _ = best_of(lambda: refine_by_boundaries(logits, prob, mask=mask), args.repeat)
    print(f"{'(reference=None)':24s} actseg {t_default * 1e3:9.2f} ms")
    report["refine_by_boundaries_probability_s"] = t_default

    # -- GEBD ------------------------------------------------------------------------------
    print(f"\n# Kinetics-GEBD eval.py: {args.gebd_videos} videos, 5 raters")
    gt, pred = make_gebd(rng, args.gebd_videos)

    def ours_gebd(thresholds):
        m = BoundaryF1(protocol="gebd", thresholds=thresholds)
        for vid, g in gt.items():
            m.update(pred.get(vid, []), g["substages_timestamps"], duration=g["video_duration"],
                     consistency=g["f1_consis_avg"], video_ids=vid)
        return m.compute()

    ours_gebd((0.05,))
    t_one, out_one = best_of(lambda: ours_gebd((0.05,)), max(1, min(args.repeat, 3)))
    t_all, _ = best_of(lambda: ours_gebd(None), max(1, min(args.repeat, 3)))
    line = f"BoundaryF1 gebd, d=0.05  actseg {t_one:7.3f} s (all 10 thresholds {t_all:7.3f} s)"
    report["gebd"] = {"actseg_s": t_one, "actseg_10_thresholds_s": t_all}
    gebd_ok = args.gebd_dir and (Path(args.gebd_dir) / "Challenge_eval_Code" / "eval.py").exists()
    if gebd_ok:
        t_ref, f1_ref = best_of(lambda: run_gebd_eval(args.gebd_dir, gt, pred), 1)
        agree = abs(f1_ref - out_one["f1@0.05"]) <= 1e-12
        line += f" | eval.py {t_ref:7.3f} s | ratio {t_ref / t_one:6.1f}x | F1 {f1_ref:.6f} agree={agree}"
        report["gebd"].update(reference_s=t_ref, ratio=t_ref / t_one, agree=agree)
    else:
        line += f" | eval.py not found; {GEBD_HINT}"
    print(line)

    # -- TAPOS -----------------------------------------------------------------------------
    print(f"\n# TAPOS notebook: {args.tapos_instances} instances, 10 relative thresholds")
    instances = make_tapos(rng, args.tapos_instances)

    def ours_tapos():
        m = BoundaryF1(protocol="tapos")
        for ins in instances:
            sub = ins["substages"]
            p = [o * 3 + sub[0] for o in ins["pred_offsets"]]
            m.update(p, sub[1:-1], start=sub[0], end=sub[-1], video_ids=f"{ins['video']}_{ins['shot']}")
        return m.compute()

    ours_tapos()
    t_ours, out = best_of(ours_tapos, max(1, min(args.repeat, 3)))
    line = f"BoundaryF1 tapos         actseg {t_ours:7.3f} s"
    report["tapos"] = {"actseg_s": t_ours}
    if gebd_ok:
        with tempfile.TemporaryDirectory() as tmp:
            write_tapos_files(instances, tmp)
            t_ref, f1_ref = best_of(lambda: run_tapos_notebook(args.gebd_dir, instances, tmp), 1)
        ours_f1 = [out[f"f1@{d:g}"] for d in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)]
        agree = max(abs(a - b) for a, b in zip(ours_f1, f1_ref)) <= 1e-12
        line += f" | notebook {t_ref:7.3f} s (incl. its pickle reads) | ratio {t_ref / t_ours:6.1f}x | agree={agree}"
        report["tapos"].update(reference_s=t_ref, ratio=t_ref / t_ours, agree=agree)
    print(line)

    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
