"""Benchmark: ``actseg.targets`` vs naive per-frame Python loops, side by side in one process.

Data: a batch of 8 videos of 10,000 frames with 100 segments each (uniform random cut points, 20
classes, class 0 is background), as ``(B, T)`` int64 labels. For every target builder the script
times actseg (best of ``--repeat`` calls after a warm-up) and the obvious baseline, a Python loop over
frames (numpy inside the loop body, over keypoints or classes only), written out below; it checks
that both give the same numbers (max |difference| printed) and prints the ratio loop / actseg.

The goal stated in the issue: all frame-level targets of the batch (boundary heatmap, action-point
heatmaps, ASRF boundary labels, Gaussian boundary targets, class masks, and the GSMT global masks of
the batch resampled to 256 snippets — a ``(B, T, T)`` target is only built at snippet resolution,
``B · 10000²`` floats would be 3.2 GB) in **< 50 ms on the CPU**; the script says whether it is met.
Skeleton heatmaps (a preprocessing step, not a per-batch target) are timed separately on 8 × 100
frames of 17 COCO joints + 16 limbs at 56 × 56.

Usage::

    python benchmarks/bench_targets.py [--repeat 5] [--threads N] [--device cpu|cuda] [--json [OUT]]

``--json`` alone prints the JSON to stdout; ``--json OUT`` writes it to a file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from actseg.targets import (
    action_point_heatmaps,
    boundary_heatmap,
    boundary_labels,
    class_mask_targets,
    gaussian_boundary_targets,
    global_mask_targets,
    skeleton_heatmaps,
)

GOAL_MS = 50.0
BATCH, FRAMES, SEGMENTS, CLASSES, SNIPPETS = 8, 10_000, 100, 20, 256
BACKGROUND = (0,)
COCO_LIMBS = [(0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
              (11, 13), (13, 15), (12, 14), (14, 16)]


# ----------------------------------------------------------------------------------------------
# data


def make_labels(rng: np.random.Generator) -> np.ndarray:
    rows = []
    for _ in range(BATCH):
        cuts = np.sort(rng.choice(np.arange(1, FRAMES), size=SEGMENTS - 1, replace=False))
        bounds = np.concatenate(([0], cuts, [FRAMES]))
        classes = np.empty(SEGMENTS, dtype=np.int64)
        classes[0] = rng.integers(0, CLASSES)
        for i in range(1, SEGMENTS):  # neighbours differ, so there are exactly 100 runs
            classes[i] = (classes[i - 1] + rng.integers(1, CLASSES)) % CLASSES
        rows.append(np.repeat(classes, np.diff(bounds)))
    return np.stack(rows)


# ----------------------------------------------------------------------------------------------
# naive per-frame loops (the baseline)


def loop_segments(row: np.ndarray) -> list[tuple[int, int, int]]:
    out, start = [], 0
    for t in range(1, len(row) + 1):
        if t == len(row) or row[t] != row[t - 1]:
            if row[t - 1] not in BACKGROUND:
                out.append((start, t, int(row[t - 1])))
            start = t
    return out


def loop_boundary_heatmap(labels: np.ndarray) -> np.ndarray:
    out = np.zeros(labels.shape, dtype=np.float32)
    sigma = 0.5 * 33.0
    for b, row in enumerate(labels):
        points = np.array([p for s, e, _ in loop_segments(row) for p in (s, e - 1)], dtype=np.float64)
        for t in range(row.shape[0]):
            out[b, t] = np.exp(-((t - points) ** 2) / (2 * sigma**2)).max()
    return out


def loop_action_points(labels: np.ndarray, centres: str = "positive") -> tuple[np.ndarray, np.ndarray]:
    """RTK §3.1: Gaussians at every positive frame (``centres="positive"``) or at the midpoint only."""
    heat = np.zeros(labels.shape, dtype=np.float32)
    cat = np.full(labels.shape, -100, dtype=np.int64)
    for b, row in enumerate(labels):
        segs = np.array(loop_segments(row), dtype=np.int64).reshape(-1, 3)
        s, e, c = segs[:, 0], segs[:, 1], segs[:, 2]
        length = e - s
        p = (s + e - 1) // 2
        sigma = 0.25 * 0.8 * length
        radius = np.floor(0.32 * length / 2 + 1e-9)
        low, high = np.maximum(p - radius, s), np.minimum(p + radius, e - 1)  # the positive frames
        for t in range(row.shape[0]):
            positive = (np.abs(t - p) <= radius) & (s <= t) & (t < e)
            distance = np.maximum(np.maximum(low - t, t - high), 0) if centres == "positive" else t - p
            value = np.where(positive, 1.0, np.exp(-(distance**2) / (2 * sigma**2)))
            heat[b, t] = value.max()
            if positive.any():
                cat[b, t] = c[positive.argmax()]
    return heat, cat


def loop_boundary_labels(labels: np.ndarray) -> np.ndarray:
    out = np.zeros(labels.shape, dtype=np.float32)
    for b, row in enumerate(labels):
        out[b, 0] = 1
        for t in range(1, row.shape[0]):
            if row[t] != row[t - 1]:
                out[b, t] = 1
    return out


def loop_gaussian_boundaries(labels: np.ndarray, sigma: float = 1.0, truncate: float = 4.0) -> np.ndarray:
    hard = loop_boundary_labels(labels)
    radius = math.ceil(truncate * sigma)
    kernel = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    out = np.zeros(labels.shape, dtype=np.float32)
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1]):
            lo, hi = max(0, t - radius), min(labels.shape[1], t + radius + 1)
            k = kernel[radius - (t - lo) : radius + (hi - t)]  # kernel[radius + u − t] for u in [lo, hi)
            out[b, t] = min(1.0, float(np.dot(hard[b, lo:hi], k)))
    return out


def loop_class_masks(labels: np.ndarray) -> np.ndarray:
    out = np.zeros((labels.shape[0], CLASSES, labels.shape[1]), dtype=np.float32)
    for b, row in enumerate(labels):
        for t in range(row.shape[0]):
            out[b, row[t], t] = 1
    return out


def loop_global_masks(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = labels.shape[1]
    masks = np.zeros((labels.shape[0], n, n), dtype=np.float32)
    classes = np.where(np.isin(labels, BACKGROUND), CLASSES, labels)
    for b, row in enumerate(labels):
        instance = np.full(n, -1)
        for k, (s, e, _) in enumerate(loop_segments(row)):
            instance[s:e] = k
        for i in range(n):  # one row of the mask per snippet
            if instance[i] >= 0:
                masks[b, i] = instance == instance[i]
    return masks, classes


def loop_skeleton(kp: np.ndarray, conf: np.ndarray, size: tuple[int, int], sigma: float = 0.6) -> np.ndarray:
    """Per frame: one numpy map per joint and per limb (full Gaussians, squared segment distance)."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((kp.shape[0], kp.shape[1], kp.shape[2] + len(COCO_LIMBS), h, w), dtype=np.float32)
    for b in range(kp.shape[0]):
        for t in range(kp.shape[1]):
            for v in range(kp.shape[2]):
                x0, y0 = kp[b, t, v]
                out[b, t, v] = conf[b, t, v] * np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * sigma**2))
            for li, (i, j) in enumerate(COCO_LIMBS):
                a, c = kp[b, t, i], kp[b, t, j]
                vx, vy = c - a
                l2 = vx * vx + vy * vy
                along = np.clip(((xs - a[0]) * vx + (ys - a[1]) * vy) / (l2 if l2 > 0 else 1.0), 0, 1)
                d2 = (xs - a[0] - along * vx) ** 2 + (ys - a[1] - along * vy) ** 2
                value = min(conf[b, t, i], conf[b, t, j])
                out[b, t, kp.shape[2] + li] = value * np.exp(-d2 / (2 * sigma**2))
    return out


# ----------------------------------------------------------------------------------------------
# timing


def best_ms(fn: Callable[[], Any], repeat: int, device: str) -> tuple[float, Any]:
    result = fn()  # warm-up
    best = math.inf
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3, result


def once_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return (time.perf_counter() - t0) * 1e3, result


def max_diff(ours: Any, ref: Any) -> float:
    if isinstance(ours, tuple):
        return max(max_diff(o, r) for o, r in zip(ours, ref))
    return float(np.abs(ours.detach().cpu().numpy().astype(np.float64) - np.asarray(ref, dtype=np.float64)).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per function (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-naive", action="store_true", help="time actseg only")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="OUT",
                        help="write every number as JSON (to stdout without OUT)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    labels_np = make_labels(rng)
    labels = torch.from_numpy(labels_np).to(args.device)
    snippet_index = np.floor((np.arange(SNIPPETS) + 0.5) * FRAMES / SNIPPETS).astype(np.int64)
    snippets_np = labels_np[:, snippet_index]
    snippets = torch.from_numpy(snippets_np).to(args.device)

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("boundary_heatmap", lambda: boundary_heatmap(labels, background=BACKGROUND),
         lambda: loop_boundary_heatmap(labels_np)),
        ("action_point_heatmaps", lambda: action_point_heatmaps(labels, background=BACKGROUND),
         lambda: loop_action_points(labels_np)),
        ("boundary_labels", lambda: boundary_labels(labels), lambda: loop_boundary_labels(labels_np)),
        ("gaussian_boundary_targets", lambda: gaussian_boundary_targets(labels),
         lambda: loop_gaussian_boundaries(labels_np)),
        ("class_mask_targets", lambda: class_mask_targets(labels, CLASSES), lambda: loop_class_masks(labels_np)),
        (f"global_mask_targets (N={SNIPPETS})",
         lambda: global_mask_targets(snippets, num_classes=CLASSES, background=BACKGROUND),
         lambda: loop_global_masks(snippets_np)),
    ]
    options = [  # timed and checked, not part of the total
        ("action_point_heatmaps (centres=midpoint)",
         lambda: action_point_heatmaps(labels, background=BACKGROUND, centres="midpoint"),
         lambda: loop_action_points(labels_np, centres="midpoint")),
    ]
    rows = []
    for name, ours, naive in [*cases, *options]:
        ms, out = best_ms(ours, args.repeat, args.device)
        row: dict[str, Any] = {"name": name, "actseg_ms": ms}
        if not args.skip_naive:
            naive_ms, ref = once_ms(naive)
            row.update(naive_ms=naive_ms, ratio=naive_ms / ms, max_abs_diff=max_diff(out, ref))
        rows.append(row)

    def all_targets() -> None:
        for _, ours, _ in cases:
            ours()

    total_ms, _ = best_ms(all_targets, args.repeat, args.device)

    kp_np = rng.uniform(0, 55, (BATCH, 100, 17, 2))
    conf_np = rng.uniform(0, 1, (BATCH, 100, 17))
    kp = torch.from_numpy(kp_np).float().to(args.device)
    conf = torch.from_numpy(conf_np).float().to(args.device)
    ms, out = best_ms(lambda: skeleton_heatmaps(kp, conf, size=(56, 56), limbs=COCO_LIMBS), args.repeat, args.device)
    skeleton: dict[str, Any] = {"name": "skeleton_heatmaps (8x100 frames, 17+16 maps, 56x56)", "actseg_ms": ms}
    if not args.skip_naive:
        naive_ms, ref = once_ms(lambda: loop_skeleton(kp_np, conf_np, (56, 56)))
        skeleton.update(naive_ms=naive_ms, ratio=naive_ms / ms, max_abs_diff=max_diff(out, ref))

    met = total_ms < GOAL_MS
    print(f"actseg.targets, batch of {BATCH} videos x {FRAMES} frames, {SEGMENTS} segments each, "
          f"{CLASSES} classes; device {args.device}, {torch.get_num_threads()} torch threads, best of {args.repeat}")
    header = f"{'target':44s} {'actseg ms':>10s} {'loop ms':>10s} {'loop/actseg':>12s} {'max|diff|':>10s}"
    print(header)
    print("-" * len(header))
    for row in [*rows, skeleton]:
        naive = "" if args.skip_naive else (f"{row['naive_ms']:10.1f} {row['ratio']:11.0f}x "
                                             f"{row['max_abs_diff']:10.1e}")
        print(f"{row['name']:44s} {row['actseg_ms']:10.2f} {naive}")
    verdict = "met" if met else "NOT met"
    if args.device != "cpu":
        verdict += " (the goal is stated for the CPU)"
    print(f"\nall frame-level targets of the batch (first {len(cases)} rows, one after the other): {total_ms:.1f} ms; "
          f"goal < {GOAL_MS:.0f} ms on the CPU: {verdict}")
    if args.json is not None:
        record = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
            "processor": platform.processor(), "device": args.device, "threads": torch.get_num_threads(),
            "repeat": args.repeat, "batch": BATCH, "frames": FRAMES, "segments": SEGMENTS, "classes": CLASSES,
            "snippets": SNIPPETS, "targets": rows, "skeleton": skeleton, "total_ms": total_ms, "goal_ms": GOAL_MS,
            "goal_met": met,
        }
        text = json.dumps(record, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
