"""Side-by-side benchmark: RTK post-processing (watershed peaks + rule-based re-assembly), actseg vs
the obvious Python/scipy implementation.

RTK (Jiang et al., ICCV 2023) has no public code, so the baseline is what one writes from the paper:
``scipy.signal.find_peaks`` on each class track and on the boundary track (``-inf`` padded so a peak
may sit on the first/last frame, ``height=threshold``), ``np.argsort`` for the ``0.1 * T`` cap, and
the four re-assembly rules of §3.3 as a Python loop over the sorted points. actseg runs
``watershed_peaks`` on the ``(B, C, T)`` class heatmaps and the ``(B, T)`` boundary heatmap and
``reassemble`` on the result. Both give the same segments (checked; the script stops otherwise).

Default: one video of T = 10,000 frames, 10 classes, RTK-like noisy heatmaps (``make_heatmaps``),
RTK's thresholds (§4.1: 0.4 for action points, 0.2 for boundary points) and its cap ``0.1 * T =
1,000`` candidates per heatmap (1,000 action and 1,000 boundary candidates are kept). ``--batch 8``
times a batch (the baseline loops over the videos).

Usage::

    python benchmarks/bench_rtk_post.py [--frames 10000] [--classes 10] [--batch 1] [--repeat 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any, Callable

import numpy as np
import scipy.ndimage
import scipy.signal

from actseg.postprocess import reassemble, watershed_peaks


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def make_heatmaps(rng: np.random.Generator, batch: int, classes: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """RTK-like heatmaps in [0, 1]: class heatmaps ``Ŷ^c`` (B, C, T) and a boundary heatmap ``Ŷ^b`` (B, T).

    A ground truth with a segment every 100-400 frames; the true class's track is ``0.5 + 0.5 · noise``
    (smoothed noise, σ = 2 frames, so a local maximum every few frames), the other tracks ``0.35 · noise``
    (below the 0.4 action threshold); the boundary track is a Gaussian bump at each cut plus
    ``0.3 · noise`` (above the 0.2 boundary threshold in places). With T = 10,000 both heatmaps give
    more than 1,000 candidates, so the ``0.1 · T`` cap is active.
    """
    act = np.empty((batch, classes, frames))
    bnd = np.empty((batch, frames))
    t = np.arange(frames)
    for b in range(batch):
        cuts = np.cumsum(rng.integers(100, 400, size=frames // 100))
        cuts = cuts[cuts < frames]
        seg = np.searchsorted(cuts, t, side="right")
        labels = rng.integers(0, classes, size=seg.max() + 1)[seg]
        noise = scipy.ndimage.gaussian_filter1d(rng.random((classes + 1, frames)), 2.0, axis=1)
        noise = (noise - noise.min(axis=1, keepdims=True)) / np.ptp(noise, axis=1, keepdims=True)
        dist = np.min(np.abs(t[:, None] - cuts[None]), axis=1) if cuts.size else np.full(frames, frames)
        bnd[b] = np.maximum(np.exp(-(dist**2) / 50.0), 0.3 * noise[-1])
        act[b] = 0.35 * noise[:-1]
        act[b, labels, t] = 0.5 + 0.5 * noise[labels, t]
    return act, bnd


# ----------------------------------------------------------------------------------------------
# the obvious implementation


def scipy_peaks(track: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    pos = scipy.signal.find_peaks(np.pad(track, 1, constant_values=-np.inf), height=threshold)[0] - 1
    return pos, track[pos]


def cap_points(pos: np.ndarray, scores: np.ndarray, labels: np.ndarray, cap: int):
    order = np.lexsort((labels, pos))  # (position, label) order
    pos, scores, labels = pos[order], scores[order], labels[order]
    if len(pos) > cap:
        keep = np.sort(np.argsort(-scores, kind="stable")[:cap])
        pos, scores, labels = pos[keep], scores[keep], labels[keep]
    return pos, scores, labels


def python_reassemble(actions, boundaries, length):
    """RTK §3.3 steps (i)-(iv) as a Python loop over the sorted points."""
    acts = sorted((int(d), int(c), float(s)) for d, s, c in actions if 0 <= d < length)
    bnds = sorted((int(b), float(s)) for b, s in boundaries if 0 < b < length)
    if not acts:
        return []
    events = sorted([(b, 0, s, -1) for b, s in bnds] + [(d, 1, s, c) for d, c, s in acts])
    groups, between, pending, prev_kind = [], [], [], None
    for pos, kind, s, c in events:
        if kind == 1:
            if prev_kind == 1 and groups:  # step (i): same segment, keep the most confident
                if s > groups[-1][1]:
                    groups[-1] = (c, s)
            else:
                if groups:
                    between.append(pending)
                groups.append((c, s))
                pending = []
        else:
            pending.append((pos, s))
        prev_kind = kind
    segs = [[0, None, groups[0][0], groups[0][1]]]
    for (lab, sc), bs in zip(groups[1:], between):
        if lab == segs[-1][2]:  # step (iii)
            segs[-1][3] = max(segs[-1][3], sc)
            continue
        w = sum(s for _, s in bs)  # step (ii)
        mean = sum(p * s for p, s in bs) / w if w > 0 else sum(p for p, _ in bs) / len(bs)
        cut = min(max(int(np.floor(mean + 0.5)), min(p for p, _ in bs)), max(p for p, _ in bs))
        segs[-1][1] = cut
        segs.append([cut, None, lab, sc])
    segs[-1][1] = length
    return [tuple(s) for s in segs]


def baseline_peaks(act: np.ndarray, bnd: np.ndarray, thresholds: tuple[float, float], cap: int) -> list:
    out = []
    for b in range(act.shape[0]):
        found = [scipy_peaks(act[b, c], thresholds[0]) for c in range(act.shape[1])]
        pos = np.concatenate([p for p, _ in found])
        scores = np.concatenate([s for _, s in found])
        labels = np.concatenate([np.full(len(p), c) for c, (p, _) in enumerate(found)])
        a = cap_points(pos, scores, labels, cap)
        bp, bs = scipy_peaks(bnd[b], thresholds[1])
        bp, bs, _ = cap_points(bp, bs, np.zeros(len(bp), np.int64), cap)
        out.append((a, (bp, bs)))
    return out


def baseline_rules(points: list, length: int) -> list:
    return [python_reassemble(list(zip(*a)), list(zip(*bnd)), length) for a, bnd in points]


def baseline(act: np.ndarray, bnd: np.ndarray, thresholds: tuple[float, float], cap: int) -> list:
    return baseline_rules(baseline_peaks(act, bnd, thresholds, cap), act.shape[2])


def ours(act: np.ndarray, bnd: np.ndarray, thresholds: tuple[float, float], cap: int) -> tuple:
    acts = watershed_peaks(act, thresholds[0], max_candidates=cap)
    bnds = watershed_peaks(bnd, thresholds[1], max_candidates=cap)
    return reassemble(acts, bnds, act.shape[2]), acts, bnds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--thresholds", type=float, nargs=2, default=(0.4, 0.2), help="action, boundary")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    cap = max(1, int(0.1 * args.frames))
    thr = tuple(args.thresholds)
    act, bnd = make_heatmaps(np.random.default_rng(0), args.batch, args.classes, args.frames)

    t0 = time.perf_counter()
    segs, acts, bnds = ours(act, bnd, thr, cap)  # first call: numba cache load (or compile)
    first = time.perf_counter() - t0
    ref = baseline(act, bnd, thr, cap)
    for seg, expected in zip(segs, ref):
        got = list(zip(seg.starts.tolist(), seg.ends.tolist(), seg.labels.tolist(), seg.scores.tolist()))
        if got != expected:
            raise SystemExit("outputs differ between actseg and the baseline")
    n_act = sum(len(k.positions) for k in acts) / args.batch
    n_bnd = sum(len(k.positions) for k in bnds) / args.batch
    all_act = sum(len(k.positions) for k in watershed_peaks(act, thr[0])) / args.batch
    all_bnd = sum(len(k.positions) for k in watershed_peaks(bnd, thr[1])) / args.batch
    n_seg = sum(len(s) for s in segs) / args.batch

    t_peaks, _ = best_of(lambda: (watershed_peaks(act, thr[0], max_candidates=cap),
                                  watershed_peaks(bnd, thr[1], max_candidates=cap)), args.repeat)
    t_ra, _ = best_of(lambda: reassemble(acts, bnds, args.frames), args.repeat)
    t_ours, _ = best_of(lambda: ours(act, bnd, thr, cap), args.repeat)
    t_base, _ = best_of(lambda: baseline(act, bnd, thr, cap), max(3, args.repeat // 4))
    t_bpeaks, points = best_of(lambda: baseline_peaks(act, bnd, thr, cap), max(3, args.repeat // 4))
    t_brules, _ = best_of(lambda: baseline_rules(points, args.frames), max(3, args.repeat // 4))

    print(f"CPU: {platform.processor() or platform.machine()}; B={args.batch}, T={args.frames}, C={args.classes}, "
          f"thresholds={thr}, cap={cap}: {all_act:.0f} -> {n_act:.0f} action and {all_bnd:.0f} -> {n_bnd:.0f} "
          f"boundary candidates -> {n_seg:.0f} segments per video "
          f"(outputs identical)")
    print(f"first call (numba cache load or compile): {first * 1e3:.1f} ms")
    print(f"peaks:      actseg watershed_peaks {t_peaks * 1e3:.3f} ms  vs scipy find_peaks + cap "
          f"{t_bpeaks * 1e3:.3f} ms  ({t_bpeaks / t_peaks:.1f}x)")
    print(f"re-assembly: actseg reassemble {t_ra * 1e3:.3f} ms  vs Python rules {t_brules * 1e3:.3f} ms"
          f"  ({t_brules / t_ra:.1f}x)")
    print(f"together:   actseg {t_ours * 1e3:.3f} ms  vs baseline {t_base * 1e3:.3f} ms  "
          f"(speed-up {t_base / t_ours:.1f}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "frames": args.frames, "classes": args.classes, "cap": cap,
                       "actseg_peaks_s": t_peaks, "actseg_reassemble_s": t_ra, "actseg_s": t_ours,
                       "baseline_peaks_s": t_bpeaks, "baseline_rules_s": t_brules, "baseline_s": t_base,
                       "speedup": t_base / t_ours}, f, indent=1)


if __name__ == "__main__":
    main()
