"""Side-by-side CPU benchmark of TransParser's SPS unit and parsing rule (no official code exists).

Measured in this one process, on the same inputs (``x ~ N(0, 1)``, float32, ``torch.set_num_threads(2)``):

1. ``SoftPatternStrengthening(1024)`` (defaults: 32 patterns, 2 heads, post-norm), a train step
   (forward, ``out.square().mean() + alpha.square().mean()``, ``backward()``) and inference
   (``no_grad``) on a batch of 16 TAPOS-like instances of 60–300 frames:
   - actseg: one padded batch with a mask;
   - the obvious baseline: the same module one video at a time, unpadded (the per-video loop);
   - the unfolded order (``W_Q``, scores, ``α·V``, FC; ``_fold = False``) on the padded batch, to
     measure what folding the products into the weights buys.
2. ``pattern_boundaries`` on ``(16, 300, 32)`` responses with a mask, against a per-video, per-frame
   Python loop of the rule (§5.2), outputs compared.

Time: median of ``--repeat`` calls after one warm-up call. Usage::

    python benchmarks/bench_sps.py [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from actseg.layers import SoftPatternStrengthening
from actseg.postprocess import pattern_boundaries


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _step(unit, x, mask, train: bool):
    if train:
        unit.zero_grad(set_to_none=True)
        out, alpha = unit(x, mask)
        (out.square().mean() + alpha.square().mean()).backward()
    else:
        with torch.no_grad():
            unit(x, mask)


def _loop_boundaries(alpha: np.ndarray, mask: np.ndarray) -> list[list[int]]:
    out = []
    for a, m in zip(alpha, mask):
        starts, last = [], None
        for t in range(len(a)):
            if m[t]:
                k = int(np.argmax(a[t]))
                if last is not None and k != last:
                    starts.append(t)
                last = k
        out.append(starts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lengths = torch.randint(60, 301, (16,)).tolist()
    t_max = max(lengths)
    x = torch.randn(16, 1024, t_max)
    mask = torch.arange(t_max)[None] < torch.tensor(lengths)[:, None]
    x = x * mask[:, None]
    unit = SoftPatternStrengthening(1024)
    print(f"SPS unit, C = 1024, m = 32, 2 heads, 16 videos of {min(lengths)}–{max(lengths)} frames, "
          f"{args.threads} threads")
    for train in (True, False):
        unit.train(train)
        unit._fold = True
        batched = _median_ms(lambda train=train: _step(unit, x, mask, train), args.repeat)
        loop = _median_ms(lambda train=train: [_step(unit, x[b:b + 1, :, :n], None, train)
                                               for b, n in enumerate(lengths)], args.repeat)
        unit._fold = False
        unfolded = _median_ms(lambda train=train: _step(unit, x, mask, train), args.repeat)
        unit._fold = True
        mode = "train step" if train else "inference "
        print(f"  {mode}: batched {batched:7.1f} ms | per-video loop {loop:7.1f} ms ({loop / batched:4.2f}x) | "
              f"unfolded order {unfolded:7.1f} ms ({unfolded / batched:4.2f}x)")
    rng = np.random.default_rng(0)
    alpha = rng.random((16, 300, 32)).astype(np.float32)
    alpha[:, ::7] += 1.0
    valid = np.arange(300)[None] < np.asarray(lengths)[:, None]
    assert [p.tolist() for p in pattern_boundaries(alpha, valid)] == _loop_boundaries(alpha, valid)
    ours = _median_ms(lambda: pattern_boundaries(alpha, valid), args.repeat)
    naive = _median_ms(lambda: _loop_boundaries(alpha, valid), args.repeat)
    print(f"pattern_boundaries (16, 300, 32): {ours:.2f} ms | per-frame loop {naive:.2f} ms ({naive / ours:.0f}x)")


if __name__ == "__main__":
    main()
