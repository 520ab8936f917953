"""Side-by-side benchmark: ``actseg.layers.MultiScaleGraphConv`` vs DeST's official ``MultiScale_GraphConv``.

Measured on the same input (``x ~ N(0, 1)``, B = 4, C = C_out = 64, T = 5000, V = 25, the "ntu-25" graph,
13 scales, float32), one train step: ``train()`` mode, forward, ``loss = out.square().mean()``,
``backward()`` (no optimizer step; ``zero_grad(set_to_none=True)`` before). Three implementations:

* ``official``: DeST ``libs/models/SP.py`` ``MultiScale_GraphConv(13, 64, 64, "PKU-subject")`` on its
  ``(N, C, V, T)`` input (contiguous), the weights copied into ours with ``convert_state_dict``;
* ``actseg``: ``MultiScaleGraphConv`` (folded order: no support tensor) with an all-valid mask;
* ``actseg-support``: the same module computing in the official order (``aggregate_support``: the
  ``(B, S·C, T, V)`` support tensor, then the 1×1 convolution), to measure the two orders.

Time: median of ``--repeat`` steps (3) after one warm-up step, the implementations taking turns in this
process. Memory, CPU: each implementation runs one step again in a fresh process of this script started
with ``MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072``; the child resets its high-water
mark (``/proc/self/clear_refs``) after building module and input and reports ``VmHWM − VmRSS(before)``.
CUDA (``--device cuda``): ``torch.cuda.max_memory_allocated`` over the step, minus what was allocated before.

The official code is not part of actseg. Give a DeST checkout (lyhisme/DeST@319e1f1; only
``libs/models/SP.py`` and ``libs/models/graph/{graph,tools}.py`` are needed)::

    python benchmarks/bench_gcn.py --dest /tmp/scratch-gcn/dest [--device cuda] [--threads 2] [--length 5000]

DeST's ``graph.py`` imports matplotlib only to call ``matplotlib.use``; a no-op stand-in is used when
matplotlib is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

from actseg.io import convert_state_dict
from actseg.layers import MultiScaleGraphConv, multiscale_adjacency, skeleton_edges

IMPLS = ("official", "actseg", "actseg-support")


def _official_class(dest: Path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.modules["matplotlib"] = types.SimpleNamespace(use=lambda *a, **k: None)
    sys.path.insert(0, str(dest))
    from libs.models.SP import MultiScale_GraphConv

    return MultiScale_GraphConv


def build(impl: str, args: argparse.Namespace) -> tuple[torch.nn.Module, tuple]:
    torch.manual_seed(0)
    device = torch.device(args.device)
    official = _official_class(args.dest)(13, args.channels, args.channels, "PKU-subject")
    ours = MultiScaleGraphConv(args.channels, args.channels, multiscale_adjacency(skeleton_edges("ntu-25"), 25))
    ours.load_state_dict(convert_state_dict(official.state_dict(), "ms-g3d"))
    x = torch.randn(args.batch, args.channels, args.length, 25, generator=torch.Generator().manual_seed(1))
    if impl == "official":
        return official.to(device).train(), (x.transpose(2, 3).contiguous().to(device),)
    if impl == "actseg-support":
        ours.aggregate = ours.aggregate_support  # the official order, same module otherwise
    mask = torch.ones(args.batch, args.length, dtype=torch.bool, device=device)
    return ours.to(device).train(), (x.to(device), mask)


def step(module: torch.nn.Module, inputs: tuple) -> None:
    module.zero_grad(set_to_none=True)
    module(*inputs).square().mean().backward()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def child_memory(args: argparse.Namespace) -> None:
    module, inputs = build(args.child, args)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(module, inputs)
        torch.cuda.synchronize()
        print(json.dumps({"peak_mib": (torch.cuda.max_memory_allocated() - before) / 2**20}))
        return

    def status() -> dict[str, int]:
        fields = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                fields[key] = int(value.split()[0])
        return fields

    Path("/proc/self/clear_refs").write_text("5")
    before = status()["VmRSS"]
    step(module, inputs)
    print(json.dumps({"peak_mib": (status()["VmHWM"] - before) / 1024}))


def memory(impl: str, args: argparse.Namespace) -> float:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    cmd = [sys.executable, __file__, "--child", impl, "--dest", str(args.dest), "--device", args.device,
           "--threads", str(args.threads), "--length", str(args.length), "--batch", str(args.batch),
           "--channels", str(args.channels)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True, help="DeST checkout (lyhisme/DeST@319e1f1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--length", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--impls", default=",".join(IMPLS))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        child_memory(args)
        return
    impls = args.impls.split(",")
    built = {impl: build(impl, args) for impl in impls}
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for impl in impls:  # warm-up
        step(*built[impl])
    _sync(args.device)
    for _ in range(args.repeat):
        for impl in impls:
            _sync(args.device)
            start = time.perf_counter()
            step(*built[impl])
            _sync(args.device)
            times[impl].append(time.perf_counter() - start)
    del built
    result = {"device": args.device, "threads": args.threads, "shape": [args.batch, args.channels, args.length, 25],
              "median_s": {impl: statistics.median(t) for impl, t in times.items()}}
    if not args.no_memory:
        result["peak_mib"] = {impl: memory(impl, args) for impl in impls}
    print(json.dumps(result, indent=1))
    if "official" in impls:
        for impl in impls:
            if impl == "official":
                continue
            speed = result["median_s"]["official"] / result["median_s"][impl]
            text = f"{impl}: {speed:.2f}x the official speed"
            if "peak_mib" in result:
                text += f", {result['peak_mib'][impl] / result['peak_mib']['official']:.2f}x its peak memory"
            print(text)


if __name__ == "__main__":
    main()
