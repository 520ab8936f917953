"""GPU side by side: actseg's ASFormer / MS-TCN / MS-TCN++ against the official modules (CUDA).

Times (median of 5 CUDA-synchronised calls after 2 warm-ups; 3 after 1 for T >= 10,000) and peak memory
(``torch.cuda.max_memory_allocated`` above the memory held before the call) of one inference pass
(``eval``, ``no_grad``) and one training step (forward, the MS-TCN objective, backward), in float32 and
under bf16 autocast, for T up to 20,000 (defaults: 2048-d input, 19 classes, batch 1), plus a batch of
4 padded videos against the official model run on them one by one.

The official code is not part of actseg. Get it as for ``bench_layers.py`` (see benchmarks/README.md):
a folder with ``ref_asformer.py`` (ChinaYi/ASFormer@e1bbe4f ``model.py``), ``ref_mstcn.py``
(yabufarha/ms-tcn@33ed91c ``model.py``, the Python-2 ``print`` fixed) and ``ref_mstcn2.py``
(sj-li/MS-TCN2@9d31fb3 ``model.py``), passed as ``--reference-dir``.

    python benchmarks/bench_layers_gpu.py --reference-dir REF --json gpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

from actseg.layers import MSTCN, ASFormer, MSTCNPlusPlus
from actseg.losses import MultiStageLoss

D, K = 2048, 19


def load_official(folder: Path) -> dict[str, types.ModuleType]:
    """Import the official model files (stubbing their unrelated imports: eval plots, loguru)."""
    eval_stub = types.ModuleType("eval")
    eval_stub.segment_bars_with_confidence = lambda *a, **k: None
    sys.modules.setdefault("eval", eval_stub)
    loguru = types.ModuleType("loguru")
    loguru.logger = types.SimpleNamespace(info=print, debug=print, warning=print)
    sys.modules.setdefault("loguru", loguru)
    modules = {}
    for name in ("ref_asformer", "ref_mstcn", "ref_mstcn2"):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[name] = module
    return modules


def official_loss(outputs: torch.Tensor, target: torch.Tensor, mask3: torch.Tensor) -> torch.Tensor:
    """The official Trainer.train objective, written from its formula (mask3: (B, K, T) float)."""
    loss = 0
    for p in outputs:
        loss = loss + F.cross_entropy(p.transpose(2, 1).reshape(-1, K), target.view(-1), ignore_index=-100)
        diff = F.log_softmax(p[:, :, 1:], dim=1) - F.log_softmax(p.detach()[:, :, :-1], dim=1)
        loss = loss + 0.15 * torch.mean(torch.clamp(diff**2, min=0, max=16) * mask3[:, :, 1:])
    return loss


def build(kind: str, impl: str, ref: dict | None) -> torch.nn.Module:
    if impl == "actseg":
        return {"asformer": lambda: ASFormer(D, K), "mstcn": lambda: MSTCN(D, K),
                "mstcn2": lambda: MSTCNPlusPlus(D, K)}[kind]()
    if kind == "asformer":
        return ref["ref_asformer"].MyTransformer(3, 10, 2, 2, 64, D, K, 0.3)
    if kind == "mstcn":
        return ref["ref_mstcn"].MultiStageModel(4, 10, 64, D, K)
    return ref["ref_mstcn2"].MS_TCN2(11, 10, 3, 64, D, K)


def run_once(model, impl: str, kind: str, x, mask, target, train: bool, bf16: bool):
    mask3 = mask[:, None, :].float().expand(-1, K, -1)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        if impl == "actseg":
            out = model(x, mask)
            loss = MultiStageLoss(reference="ms-tcn")(out, target, mask) if train else None
        else:
            out = model(x) if kind == "mstcn2" else model(x, mask3)
            loss = official_loss(out.float(), target, mask3) if train else None
    if train:
        loss.backward()
        model.zero_grad(set_to_none=True)


def measure(model, impl, kind, T, train, bf16, batch_lengths=None):
    device = "cuda"
    lengths = batch_lengths or [T]
    x = torch.randn(len(lengths), D, max(lengths), device=device)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool, device=device)
    for b, n in enumerate(lengths):
        mask[b, :n] = True
    target = torch.randint(0, K, mask.shape, device=device).masked_fill(~mask, -100)
    model.train(train)

    def call():
        if train:
            run_once(model, impl, kind, x, mask, target, True, bf16)
        else:
            with torch.no_grad():
                run_once(model, impl, kind, x, mask, target, False, bf16)

    long = max(lengths) >= 10000
    repeats = 3 if long else 5
    for _ in range(1 if long else 2):
        call()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    held = torch.cuda.memory_allocated()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() - held) / 2**20
    return statistics.median(times), peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-dir", type=Path, help="folder with ref_asformer.py, ref_mstcn.py, ref_mstcn2.py")
    parser.add_argument("--lengths", type=int, nargs="+", default=[3000, 10000, 20000])
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 0
    ref = load_official(args.reference_dir) if args.reference_dir else None
    impls = ["actseg"] + (["official"] if ref else [])
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; D={D}, K={K}, batch 1")
    rows = []
    header = f"{'model':9} {'mode':6} {'dtype':5} {'T':>6} | " + " | ".join(f"{i:>8} ms {i:>8} MiB" for i in impls)
    print(header + (" | speed-up  mem ratio" if ref else ""))
    points = [("asformer", T) for T in args.lengths] + [("mstcn", 5000), ("mstcn2", 5000)]
    for kind, T in points:
        for train in (False, True):
            for bf16 in (False, True):
                row = {"model": kind, "mode": "train" if train else "infer", "dtype": "bf16" if bf16 else "fp32",
                       "T": T}
                for impl in impls:
                    torch.manual_seed(0)
                    model = build(kind, impl, ref).cuda()
                    try:
                        seconds, mib = measure(model, impl, kind, T, train, bf16)
                    except torch.OutOfMemoryError:
                        seconds, mib = float("nan"), float("nan")
                    row[f"{impl}_ms"], row[f"{impl}_mib"] = seconds * 1e3, mib
                    del model
                    torch.cuda.empty_cache()
                line = f"{kind:9} {row['mode']:6} {row['dtype']:5} {T:>6} | " + " | ".join(
                    f"{row[f'{i}_ms']:11.1f} {row[f'{i}_mib']:12.1f}" for i in impls)
                if ref:
                    row["speedup"] = row["official_ms"] / row["actseg_ms"]
                    row["memory_ratio"] = row["actseg_mib"] / row["official_mib"]
                    line += f" | {row['speedup']:7.2f}x {row['memory_ratio']:9.2f}"
                print(line, flush=True)
                rows.append(row)
    lengths = [3000, 2500, 2000, 1500]
    for train in (False, True):
        model = build("asformer", "actseg", ref).cuda()
        batched, _ = measure(model, "actseg", "asformer", 0, train, False, batch_lengths=lengths)
        row = {"model": "asformer", "mode": ("train" if train else "infer") + " batch4", "actseg_videos_per_s":
               len(lengths) / batched}
        if ref:
            official = build("asformer", "official", ref).cuda()
            one_by_one = sum(measure(official, "official", "asformer", n, train, False)[0] for n in lengths)
            row["official_videos_per_s"] = len(lengths) / one_by_one
            row["ratio"] = row["actseg_videos_per_s"] / row["official_videos_per_s"]
        print(row, flush=True)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
