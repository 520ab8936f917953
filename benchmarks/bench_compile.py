"""``torch.compile`` of actseg's composed layers on CPU: compile time and compiled vs eager speed.

For MS-TCN (4 x 10, 64 channels), MS-TCN++ (PG 11, 3 x 10) and ASFormer (10 layers, 3 decoders), 2048-d
input, 19 classes, float32, eval mode, ``torch.no_grad()``, one padded batch of ``B`` videos with a
prefix mask (lengths ``T, 0.9 T, 0.8 T, ...``), ``torch.set_num_threads(2)`` by default:

* compile time: wall time of the first call of ``torch.compile(model, fullgraph=True)`` (tracing,
  Inductor code generation and C++ builds) in a fresh Inductor cache folder (cold), minus one eager call;
* speed: median of ``--repeat`` calls after a warm-up, eager and compiled taking turns in this process.
  Eager runs the batch ragged (each video at its own length, the CPU fast path); the compiled graph
  runs the padded batch (the ragged path is data-dependent and steps aside while compiling), so
  the ratio includes the padding's cost. ``--no-mask`` compares both on an unpadded batch instead.

Usage::

    python benchmarks/bench_compile.py [--length 3000] [--batch 2] [--repeat 5] [--threads 2] [--no-mask]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="actseg-inductor-"))

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from actseg.layers import MSTCN, ASFormer, MSTCNPlusPlus

MODELS = {
    "ms-tcn": lambda: MSTCN(2048, 19),
    "ms-tcn++": lambda: MSTCNPlusPlus(2048, 19),
    "asformer": lambda: ASFormer(2048, 19),
}


def _time(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-mask", action="store_true", help="an unpadded batch without a mask")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"torch {torch.__version__}, {cpu}, {args.threads} threads, B = {args.batch}, T = {args.length}, "
          f"{'no mask' if args.no_mask else 'prefix mask'}")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 2048, args.length)
    mask = None
    if not args.no_mask:
        lengths = [round(args.length * (1 - 0.1 * b)) for b in range(args.batch)]
        mask = torch.arange(args.length) < torch.tensor(lengths).unsqueeze(1)
        x = x * mask.unsqueeze(1)
    print(f"{'model':<10} {'compile s':>10} {'eager s':>9} {'compiled s':>11} {'speed-up':>9}")
    for name in args.models.split(","):
        model = MODELS[name]().eval()
        compiled = torch.compile(model, fullgraph=True)
        with torch.no_grad():
            eager_once = _time(model, x, mask)
            first = _time(compiled, x, mask)
            compiled(x, mask)
            eager, comp = [], []
            for _ in range(args.repeat):
                eager.append(_time(model, x, mask))
                comp.append(_time(compiled, x, mask))
            diff = (model(x, mask) - compiled(x, mask)).abs().max().item()
        e, c = statistics.median(eager), statistics.median(comp)
        print(f"{name:<10} {first - eager_once:>10.1f} {e:>9.3f} {c:>11.3f} {e / c:>8.2f}x   max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
