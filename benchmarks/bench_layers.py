"""Side-by-side CPU benchmark: ``actseg.layers`` (ASFormer, MS-TCN, MS-TCN++) vs the official ``model.py`` files.

Measured, for actseg and for the official code on the same inputs (``x ~ N(0, 1)`` of shape
``(B, 2048, T)``, 19 classes, float32, ``torch.set_num_threads(2)`` by default):

1. ASFormer (10 layers, 64 channels, 3 decoders, r1 = r2 = 2), one video, T = 3000 and 10000:
   the train step (``model.train()``, forward, the MS-TCN objective, ``backward()``; no optimizer
   step) and inference (``model.eval()``, ``torch.no_grad()``, one forward).
2. ASFormer on four videos (lengths 3000, 2500, 2000, 1500): actseg runs them as one padded batch
   of 4 with a mask, the official code (which asserts batch size 1 in its attention) one by one,
   unpadded; the speed-up is the ratio of videos per second. actseg one by one is timed as well.
3. MS-TCN (4 stages x 10 layers) and MS-TCN++ (PG 11 layers, 3 refinements x 10), T = 5000, both modes.

actseg always gets a mask (all ones for a single video); the official ASFormer and MS-TCN get their
``(B, K, T)`` float mask, MS-TCN++ takes none. The objective on the actseg side is
``actseg.losses.MultiStageLoss()``; on the official side the loss of their ``Trainer.train``,
written out here from its formula: for every stage ``p``, cross-entropy (``ignore_index=-100``) over
the ``(B·T, K)`` logits plus ``0.15 · mean(clamp(MSE(log_softmax(p[..., 1:]),
log_softmax(p.detach()[..., :-1])), 0, 16) · mask[..., 1:])``. When the reference is loaded actseg
gets the official weights (``actseg.io.convert_state_dict``) and the inference outputs of both are
compared (the batched actseg output at the valid frames of every video against the official output
of that video alone).

Time: median of ``--repeat`` calls (3) after one warm-up call, actseg and the reference taking
turns in this one process, default glibc allocator, ``zero_grad(set_to_none=True)`` before every
train step. Memory ("live" peak RSS, the method of the baseline measurements): every
(implementation, mode, length) point runs again in a fresh process of this script started with
``MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072`` (freed buffers go back to the
OS, so the resident size follows the live tensors); right before the first (cold) call the child
resets its high-water mark by writing ``5`` to ``/proc/self/clear_refs`` and reports
``VmHWM − VmRSS(before)`` in MiB (model and inputs, built before, are not counted).

The official code is not part of actseg and is not vendored. Put three files in one folder:

* ``ref_asformer.py`` = ``model.py`` of github.com/ChinaYi/ASFormer at commit e1bbe4f, unmodified;
* ``ref_mstcn.py`` = ``model.py`` of github.com/yabufarha/ms-tcn at commit 33ed91c with the Python 2
  statement ``print vid`` (in ``Trainer.predict``) turned into ``print(vid)``;
* ``ref_mstcn2.py`` = ``model.py`` of github.com/sj-li/MS-TCN2 at commit 9d31fb3, unmodified (its
  next commit, f423a9e, does not parse).

For example::

    mkdir layerref
    git clone https://github.com/ChinaYi/ASFormer && git -C ASFormer show e1bbe4f:model.py > layerref/ref_asformer.py
    git clone https://github.com/yabufarha/ms-tcn
    git -C ms-tcn show 33ed91c:model.py | sed 's/print vid$/print(vid)/' > layerref/ref_mstcn.py
    git clone https://github.com/sj-li/MS-TCN2 && git -C MS-TCN2 show 9d31fb3:model.py > layerref/ref_mstcn2.py

and pass ``--reference-dir layerref`` (or set ``ACTSEG_LAYERS_REFERENCE``). The modules they import
for plotting and logging only (``eval`` of ASFormer, ``loguru`` of MS-TCN2) are replaced by no-op
stubs in ``sys.modules`` while the files load. Without a folder (or for a missing file) only actseg
is measured, and the script says so.

Usage::

    python benchmarks/bench_layers.py --reference-dir layerref [--json out.json]
    python benchmarks/bench_layers.py --quick                 # T = 1000 only, a smoke run
    python benchmarks/bench_layers.py --points asformer,batch --modes train --no-memory
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

ENV_VAR = "ACTSEG_LAYERS_REFERENCE"
REFERENCE_FILES = {"asformer": "ref_asformer.py", "mstcn": "ref_mstcn.py", "mstcn2": "ref_mstcn2.py"}
FAMILY_NAMES = {"asformer": "ASFormer", "mstcn": "MS-TCN", "mstcn2": "MS-TCN++"}
GROUPS = ("asformer", "batch", "mstcn", "mstcn2")
MODES = ("train", "infer")
LIVE_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
BATCH_FRACTIONS = (1.0, 5 / 6, 2 / 3, 1 / 2)
AGREEMENT_TOLERANCE = 1e-4
REFERENCE_HINT = (
    "put ref_asformer.py (ChinaYi/ASFormer@e1bbe4f model.py), ref_mstcn.py (yabufarha/ms-tcn@33ed91c model.py, "
    "'print vid' -> 'print(vid)') and ref_mstcn2.py (sj-li/MS-TCN2@9d31fb3 model.py) in one folder and pass "
    f"--reference-dir FOLDER (or set {ENV_VAR}); see the docstring of this script"
)

Call = tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, ...]]  # (x, target, mask, lengths)


@dataclass
class Point:
    """One comparison: a model family, a mode, the videos, and how each implementation runs them."""

    group: str
    family: str
    mode: str
    lengths: tuple[int, ...]
    min_speedup: float | None = None
    max_memory_ratio: float | None = None
    impls: tuple[str, ...] = ("actseg", "reference")
    batched: bool = False  # actseg runs all videos as one padded batch ("actseg-1by1" runs them one by one)
    times: dict[str, float] = field(default_factory=dict)
    all_times: dict[str, list[float]] = field(default_factory=dict)
    memory_mib: dict[str, float] = field(default_factory=dict)
    cold_s: dict[str, float] = field(default_factory=dict)  # the first call, in the memory process
    max_abs_diff: float | None = None

    @property
    def key(self) -> str:
        return f"{self.group}/{self.mode}/" + "+".join(str(n) for n in self.lengths)


# ----------------------------------------------------------------------------------------------
# the reference


def resolve_reference(arg: str | None) -> tuple[Path | None, str]:
    if arg:
        candidate, source = Path(arg), "--reference-dir"
    elif os.environ.get(ENV_VAR):
        candidate, source = Path(os.environ[ENV_VAR]), ENV_VAR
    else:
        return None, "no --reference-dir given"
    if not candidate.is_dir():
        return None, f"{source}: {candidate} is not a folder"
    return candidate, ""


@contextlib.contextmanager
def _stub_modules() -> Iterator[None]:
    """No-op ``eval`` (ASFormer's plotting helpers) and ``loguru`` (MS-TCN2's logger) while the files load."""
    plotting = types.ModuleType("eval")
    plotting.segment_bars_with_confidence = lambda *args, **kwargs: None  # type: ignore[attr-defined]

    class _Logger:
        def add(self, *args: Any, **kwargs: Any) -> int:
            return 0

        def info(self, *args: Any, **kwargs: Any) -> None:
            return None

    logging_stub = types.ModuleType("loguru")
    logging_stub.logger = _Logger()  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("eval", "loguru")}
    sys.modules.update({"eval": plotting, "loguru": logging_stub})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_reference(folder: Path | None, families: set[str] | None = None) -> dict[str, types.ModuleType]:
    """The official modules found in ``folder``, by family; missing files are skipped with a message."""
    out: dict[str, types.ModuleType] = {}
    if folder is None:
        return out
    expected = {"asformer": "MyTransformer", "mstcn": "MultiStageModel", "mstcn2": "MS_TCN2"}
    with _stub_modules():
        for family, name in REFERENCE_FILES.items():
            if families is not None and family not in families:
                continue
            path = folder / name
            if not path.is_file():
                print(f"reference {family}: {path} not found, actseg only for {FAMILY_NAMES[family]}")
                continue
            spec = importlib.util.spec_from_file_location(f"_actseg_bench_{family}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if not hasattr(module, expected[family]):
                raise SystemExit(f"{path}: class {expected[family]} not found; is this the right model.py?")
            out[family] = module
    return out


def reference_loss(stages: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The objective of the official ``Trainer.train`` (ms-tcn, MS-TCN2, ASFormer), from its formula."""
    num_classes = stages.shape[2]
    total = stages.new_zeros(())
    for p in stages:
        total = total + F.cross_entropy(p.transpose(2, 1).contiguous().view(-1, num_classes), target.view(-1),
                                        ignore_index=-100)
        delta = F.mse_loss(F.log_softmax(p[:, :, 1:], dim=1), F.log_softmax(p.detach()[:, :, :-1], dim=1),
                           reduction="none")
        total = total + 0.15 * torch.mean(torch.clamp(delta, min=0, max=16) * mask[:, :, 1:])
    return total


# ----------------------------------------------------------------------------------------------
# models, inputs, steps


def build_model(family: str, impl: str, ref: dict[str, types.ModuleType], dim: int, classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    if impl == "reference":
        module = ref[family]
        if family == "asformer":
            return module.MyTransformer(3, 10, 2, 2, 64, dim, classes, 0.3)
        if family == "mstcn":
            return module.MultiStageModel(4, 10, 64, dim, classes)
        return module.MS_TCN2(11, 10, 3, 64, dim, classes)
    from actseg.layers import MSTCN, ASFormer, MSTCNPlusPlus

    if family == "asformer":
        return ASFormer(dim, classes, num_layers=10, num_channels=64, num_decoders=3, qk_reduction=2, v_reduction=2,
                        window="block_halo", channel_dropout=0.3)
    if family == "mstcn":
        return MSTCN(dim, classes, num_stages=4, num_layers=10, num_channels=64)
    return MSTCNPlusPlus(dim, classes, num_layers_pg=11, num_layers_r=10, num_refinement=3, num_channels=64)


def share_weights(family: str, ours: torch.nn.Module, reference: torch.nn.Module) -> None:
    """Load the official module's (random) weights into actseg's, so both compute the same function."""
    from actseg.io import convert_state_dict

    source = {"asformer": "asformer", "mstcn": "ms-tcn", "mstcn2": "ms-tcn2"}[family]
    ours.load_state_dict(convert_state_dict(reference.state_dict(), source), strict=True)


def make_videos(lengths: tuple[int, ...], dim: int, classes: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One ``(x (1, D, T_i), target (1, T_i))`` per video; video ``i`` depends on ``seed``, ``i`` and ``T_i`` only."""
    videos = []
    for i, length in enumerate(lengths):
        gen = torch.Generator().manual_seed(seed * 1000 + i)
        x = torch.randn(1, dim, length, generator=gen)
        target = torch.randint(0, classes, (1, length), generator=gen)
        videos.append((x, target))
    return videos


def make_calls(impl: str, videos: list[tuple[torch.Tensor, torch.Tensor]], classes: int, batched: bool) -> list[Call]:
    """The inputs of each call: the padded batch (actseg, batched) or one call per video."""
    if impl == "actseg" and batched and len(videos) > 1:
        lengths = tuple(int(x.shape[-1]) for x, _ in videos)
        longest = max(lengths)
        x = torch.zeros(len(videos), videos[0][0].shape[1], longest)
        target = torch.full((len(videos), longest), -100, dtype=torch.long)
        for i, (xi, yi) in enumerate(videos):
            x[i, :, : lengths[i]] = xi[0]
            target[i, : lengths[i]] = yi[0]
        mask = torch.arange(longest).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
        return [(x, target, mask, lengths)]
    calls = []
    for x, target in videos:
        length = int(x.shape[-1])
        if impl == "reference":
            mask = torch.ones(1, classes, length)  # the (B, K, T) float mask of the official batch generators
        else:
            mask = torch.ones(1, length, dtype=torch.bool)
        calls.append((x, target, mask, (length,)))
    return calls


def make_step(family: str, impl: str, model: torch.nn.Module, mode: str,
              calls: list[Call]) -> Callable[[], list[torch.Tensor]]:
    """A function running every call once (inference outputs are returned, train steps return nothing)."""
    if impl == "reference":
        if family == "mstcn2":
            def forward(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return model(x)  # MS-TCN2 takes no mask
        else:
            def forward(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return model(x, mask)
        objective: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = reference_loss
    else:
        from actseg.losses import MultiStageLoss

        def forward(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return model(x, mask)
        objective = MultiStageLoss()

    if mode == "infer":
        model.eval()

        def step() -> list[torch.Tensor]:
            with torch.no_grad():
                return [forward(x, mask) for x, _, mask, _ in calls]
    else:
        model.train()

        def step() -> list[torch.Tensor]:
            for x, target, mask, _ in calls:
                model.zero_grad(set_to_none=True)
                objective(forward(x, mask), target, mask).backward()
            return []
    return step


def per_video_outputs(outputs: list[torch.Tensor], calls: list[Call]) -> list[torch.Tensor]:
    """``(S, K, T_i)`` logits of every video from the outputs of the calls (padding cut off)."""
    videos = []
    for out, (_, _, _, lengths) in zip(outputs, calls):
        for b, length in enumerate(lengths):
            videos.append(out[:, b, :, :length])
    return videos


# ----------------------------------------------------------------------------------------------
# time (this process) and memory (fresh processes)


def time_point(point: Point, ref: dict[str, types.ModuleType], args: argparse.Namespace) -> None:
    impls = [i for i in point.impls if i != "reference" or point.family in ref]
    models: dict[str, torch.nn.Module] = {}
    for impl in impls:
        model_impl = "actseg" if impl.startswith("actseg") else impl
        models[impl] = build_model(point.family, model_impl, ref, args.dim, args.classes)
    if "reference" in models:
        for impl in impls:
            if impl != "reference":
                share_weights(point.family, models[impl], models["reference"])
    videos = make_videos(point.lengths, args.dim, args.classes, args.seed)
    calls = {impl: make_calls("actseg" if impl.startswith("actseg") else impl, videos, args.classes,
                              point.batched and impl == "actseg")
             for impl in impls}
    steps = {impl: make_step(point.family, "actseg" if impl.startswith("actseg") else impl, models[impl],
                             point.mode, calls[impl])
             for impl in impls}
    warm = {impl: steps[impl]() for impl in impls}  # one warm-up call each
    if point.mode == "infer" and "reference" in warm:
        ref_videos = per_video_outputs(warm["reference"], calls["reference"])
        diff = 0.0
        for impl in impls:
            if impl != "reference":
                for a, b in zip(per_video_outputs(warm[impl], calls[impl]), ref_videos):
                    diff = max(diff, float((a - b).abs().max()))
        point.max_abs_diff = diff
    del warm
    samples: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(args.repeat):
        for impl in impls:  # the implementations take turns
            gc.collect()
            t0 = time.perf_counter()
            steps[impl]()
            samples[impl].append(time.perf_counter() - t0)
    point.all_times = samples
    point.times = {impl: statistics.median(ts) for impl, ts in samples.items()}


def _status_kib() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmHWM:", "VmRSS:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    return out


def child_memory(spec: dict[str, Any]) -> None:
    """Run in a fresh process: live peak RSS of the first (cold) call of one implementation."""
    torch.set_num_threads(spec["threads"])
    impl = spec["impl"]
    model_impl = "actseg" if impl.startswith("actseg") else impl
    folder = Path(spec["reference_dir"]) if spec["reference_dir"] else None
    ref = load_reference(folder, {spec["family"]}) if model_impl == "reference" else {}
    model = build_model(spec["family"], model_impl, ref, spec["dim"], spec["classes"])
    videos = make_videos(tuple(spec["lengths"]), spec["dim"], spec["classes"], spec["seed"])
    calls = make_calls(model_impl, videos, spec["classes"], spec["batched"] and impl == "actseg")
    step = make_step(spec["family"], model_impl, model, spec["mode"], calls)
    del videos
    gc.collect()
    before = _status_kib()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    t0 = time.perf_counter()
    step()
    cold = time.perf_counter() - t0
    after = _status_kib()
    print(json.dumps({"peak_mib": (after["VmHWM"] - before) / 1024, "rss_before_mib": before / 1024,
                      "cold_s": cold}))


def memory_point(point: Point, impl: str, folder: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    spec = {"family": point.family, "impl": impl, "mode": point.mode, "lengths": list(point.lengths),
            "batched": point.batched, "dim": args.dim, "classes": args.classes, "seed": args.seed,
            "threads": args.threads, "reference_dir": str(folder) if folder else ""}
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", json.dumps(spec)]
    proc = subprocess.run(cmd, env={**os.environ, **LIVE_MALLOC}, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"memory child for {point.key} {impl} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# points and report


def make_points(args: argparse.Namespace) -> list[Point]:
    groups = [g.strip() for g in args.points.split(",") if g.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for g in groups:
        if g not in GROUPS:
            raise SystemExit(f"--points: unknown group {g!r} (choose from {', '.join(GROUPS)})")
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"--modes: unknown mode {m!r} (choose from {', '.join(MODES)})")
    lengths = [1000] if args.quick else args.lengths
    batch_max = 1000 if args.quick else args.batch_length
    batch = tuple(round(batch_max * f) for f in BATCH_FRACTIONS)
    tcn_length = 1000 if args.quick else args.tcn_length
    points = []
    for group in groups:
        for mode in modes:
            if group == "asformer":
                for t in lengths:
                    points.append(Point(group, "asformer", mode, (t,), 5.0 if mode == "train" else 2.0,
                                        0.5 if mode == "train" else None))
            elif group == "batch":
                points.append(Point(group, "asformer", mode, batch, 3.0, None,
                                    ("actseg", "reference", "actseg-1by1"), batched=True))
            else:
                points.append(Point(group, group, mode, (tcn_length,), 1.0, 1.0))
    return points


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def verdicts(point: Point) -> tuple[float | None, float | None, str]:
    speedup = ratio(point.times.get("reference"), point.times.get("actseg"))
    memory = ratio(point.memory_mib.get("actseg"), point.memory_mib.get("reference"))
    parts = []
    if point.min_speedup is not None:
        ok = None if speedup is None else speedup >= point.min_speedup
        parts.append(f"time ≥ {point.min_speedup:g}×: " + ("–" if ok is None else "met" if ok else "MISSED"))
    if point.max_memory_ratio is not None:
        ok = None if memory is None else memory <= point.max_memory_ratio
        parts.append(f"memory ≤ {point.max_memory_ratio:g}×: " + ("–" if ok is None else "met" if ok else "MISSED"))
    return speedup, memory, "; ".join(parts)


def print_tables(points: list[Point]) -> None:
    single = [p for p in points if p.group == "asformer"]
    if single:
        print("\n### ASFormer, one video\n")
        print("| mode | T | reference s | actseg s | speed-up × | reference MiB | actseg MiB | memory ratio | "
              "max abs diff | target |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for p in single:
            s, m, v = verdicts(p)
            print(f"| {p.mode} | {p.lengths[0]} | {fmt(p.times.get('reference'))} | {fmt(p.times.get('actseg'))} | "
                  f"{fmt(s, '.2f')} | {fmt(p.memory_mib.get('reference'), '.1f')} | "
                  f"{fmt(p.memory_mib.get('actseg'), '.1f')} | {fmt(m, '.2f')} | {fmt(p.max_abs_diff, '.1e')} | {v} |")
    batch = [p for p in points if p.group == "batch"]
    if batch:
        lengths = ", ".join(str(n) for n in batch[0].lengths)
        print(f"\n### ASFormer, {len(batch[0].lengths)} videos ({lengths} frames)\n")
        print("| mode | reference 1 by 1 s | actseg batch s | reference videos/s | actseg videos/s | speed-up × | "
              "actseg 1 by 1 s | reference MiB | actseg batch MiB | actseg 1 by 1 MiB | max abs diff | target |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for p in batch:
            s, _, v = verdicts(p)
            n = len(p.lengths)
            ref_t, ours_t = p.times.get("reference"), p.times.get("actseg")
            print(f"| {p.mode} | {fmt(ref_t)} | {fmt(ours_t)} | {fmt(ratio(n, ref_t), '.2f')} | "
                  f"{fmt(ratio(n, ours_t), '.2f')} | {fmt(s, '.2f')} | {fmt(p.times.get('actseg-1by1'))} | "
                  f"{fmt(p.memory_mib.get('reference'), '.1f')} | {fmt(p.memory_mib.get('actseg'), '.1f')} | "
                  f"{fmt(p.memory_mib.get('actseg-1by1'), '.1f')} | {fmt(p.max_abs_diff, '.1e')} | {v} |")
    tcn = [p for p in points if p.group in ("mstcn", "mstcn2")]
    if tcn:
        print("\n### MS-TCN and MS-TCN++, one video\n")
        print("| model | mode | T | reference s | actseg s | speed-up × | reference MiB | actseg MiB | memory ratio | "
              "max abs diff | target |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for p in tcn:
            s, m, v = verdicts(p)
            print(f"| {FAMILY_NAMES[p.family]} | {p.mode} | {p.lengths[0]} | {fmt(p.times.get('reference'))} | "
                  f"{fmt(p.times.get('actseg'))} | {fmt(s, '.2f')} | {fmt(p.memory_mib.get('reference'), '.1f')} | "
                  f"{fmt(p.memory_mib.get('actseg'), '.1f')} | {fmt(m, '.2f')} | {fmt(p.max_abs_diff, '.1e')} | {v} |")


def environment(threads: int) -> dict[str, str]:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as fh:
            memory = f"{int(fh.readline().split()[1]) / 2**20:.0f} GiB RAM"
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu": cpu,
            "cpu_count": str(os.cpu_count()), "threads": str(threads), "memory": memory,
            "platform": platform.platform(), "date": datetime.date.today().isoformat()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-dir", metavar="DIR",
                   help=f"folder with ref_asformer.py, ref_mstcn.py, ref_mstcn2.py (default: ${ENV_VAR})")
    p.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    p.add_argument("--quick", action="store_true", help="T = 1000 everywhere (batch 1000/833/667/500): a smoke run")
    p.add_argument("--points", default=",".join(GROUPS),
                   help=f"comma-separated groups to run, from {', '.join(GROUPS)} (default: all)")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated modes: train, infer (default: both)")
    p.add_argument("--lengths", type=int, nargs="+", default=[3000, 10000], metavar="T",
                   help="ASFormer single-video lengths (default: 3000 10000)")
    p.add_argument("--batch-length", type=int, default=3000, metavar="T",
                   help="longest video of the batch of 4; the others are 5/6, 2/3, 1/2 of it (default: 3000)")
    p.add_argument("--tcn-length", type=int, default=5000, metavar="T", help="MS-TCN/MS-TCN++ length (default: 5000)")
    p.add_argument("--repeat", type=int, default=3, help="timed calls after the warm-up, median kept (default: 3)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: 2)")
    p.add_argument("--dim", type=int, default=2048, help="input channels D (default: 2048)")
    p.add_argument("--classes", type=int, default=19, help="classes K (default: 19, 50Salads)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--_child", metavar="SPEC", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child:
        child_memory(json.loads(args._child))
        return 0
    torch.set_num_threads(args.threads)
    folder, why = resolve_reference(args.reference_dir)
    points = make_points(args)
    ref = load_reference(folder, {p.family for p in points})
    if folder is None:
        print(f"official code not available ({why}): measuring actseg only.\n{REFERENCE_HINT}\n")

    env = environment(args.threads)
    print(f"{env['date']}: python {env['python']}, torch {env['torch']}, {env['cpu']}, {env['cpu_count']} CPUs, "
          f"{env['memory']}, torch threads {env['threads']}")
    print(f"D = {args.dim}, K = {args.classes}, float32, time = median of {args.repeat} after a warm-up, "
          f"memory = live peak RSS of the cold call in a fresh process ({'skipped' if args.no_memory else 'on'})")
    for family in sorted({p.family for p in points}):
        ours = sum(t.numel() for t in build_model(family, "actseg", ref, args.dim, args.classes).parameters())
        line = f"{FAMILY_NAMES[family]}: actseg {ours:,} parameters"
        if family in ref:
            theirs = sum(t.numel() for t in build_model(family, "reference", ref, args.dim, args.classes).parameters())
            line += f", reference {theirs:,}"
        else:
            line += ", no reference"
        print(line)

    status = 0
    start = time.perf_counter()
    for point in points:
        t0 = time.perf_counter()
        time_point(point, ref, args)
        if not args.no_memory:
            for impl in point.impls:
                if impl == "reference" and point.family not in ref:
                    continue
                child = memory_point(point, impl, folder, args)
                point.memory_mib[impl] = child["peak_mib"]
                point.cold_s[impl] = child["cold_s"]
        times = ", ".join(f"{impl} {t:.3f} s ({min(point.all_times[impl]):.3f}–{max(point.all_times[impl]):.3f})"
                          for impl, t in point.times.items())
        mem = ", ".join(f"{impl} {m:.1f} MiB" for impl, m in point.memory_mib.items())
        print(f"{point.key}: {times}" + (f"; {mem}" if mem else "") +
              ("" if point.max_abs_diff is None else f"; max|diff| {point.max_abs_diff:.1e}") +
              f" ({time.perf_counter() - t0:.0f} s)", flush=True)
        if point.max_abs_diff is not None and not point.max_abs_diff <= AGREEMENT_TOLERANCE:
            print(f"MISMATCH: {point.key}: actseg and the reference differ by {point.max_abs_diff:.2e} "
                  f"(> {AGREEMENT_TOLERANCE:g})")
            status = 1
    total = time.perf_counter() - start
    print_tables(points)
    print(f"\ntotal {total:.0f} s")
    if args.json:
        report = {"env": env, "args": {k: v for k, v in vars(args).items() if k != "_child"},
                  "reference_dir": str(folder) if folder else None, "reference_families": sorted(ref),
                  "total_s": total, "points": []}
        for point in points:
            speedup, memory, verdict = verdicts(point)
            report["points"].append({"key": point.key, **asdict(point), "speedup": speedup,
                                     "memory_ratio": memory, "verdict": verdict})
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
