"""GraphMatching (PCA-GM) forward + backward vs pygmtools.pca_gm on the same batch and weights (CPU).

A batch of 8 graph pairs padded to N nodes, as RTK builds them: the source graph has exactly as many
nodes as the target graph (``n1 == n2``, drawn in [3N/4, N] per pair, the largest is N), features
(8, N, 64) as RTK's ASFormer embeddings, hidden/out 128 channels, 2 layers, 20 Sinkhorn iterations,
tau 0.05, 10 % of the edges. Checks that both give the same S and the same feature gradients in float64
(to 1e-9) and prints their float32 differences, then the median float32 time of each and the ratio.

    PYTHONPATH=src python3 benchmarks/bench_matching.py [--sizes 50 100 200 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from actseg.io import convert_state_dict
from actseg.layers import GraphMatching

BATCH, IN, HIDDEN, OUT = 8, 64, 128, 128


def batch(size: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    n1 = torch.randint(3 * size // 4, size + 1, (BATCH,), generator=g)
    n1[0] = size
    n2 = n1.clone()
    feat1, feat2 = torch.randn(BATCH, size, IN, generator=g), torch.randn(BATCH, size, IN, generator=g)
    valid1 = torch.arange(size) < n1[:, None]
    valid2 = torch.arange(size) < n2[:, None]
    A1 = ((torch.rand(BATCH, size, size, generator=g) < 0.1) & valid1[:, :, None] & valid1[:, None]).float()
    A2 = ((torch.rand(BATCH, size, size, generator=g) < 0.1) & valid2[:, :, None] & valid2[:, None]).float()
    return feat1, feat2, A1, A2, n1, n2


def step(run, feat1, feat2, *rest):
    f1, f2 = feat1.clone().requires_grad_(), feat2.clone().requires_grad_()
    S = run(f1, f2, *rest)
    weights = torch.rand(S.shape, generator=torch.Generator().manual_seed(1), dtype=S.dtype)
    (S * weights).sum().backward()  # a weighted sum: plain sums of a doubly-stochastic S have no gradient
    return S.detach(), f1.grad, f2.grad


def timed(fns, repeat: int) -> list[float]:
    """Median seconds of each function, the functions alternating (fair under a varying machine load)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 500])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import pygmtools as pygm
    from pygmtools.pytorch_backend import PCA_GM_Net

    pygm.set_backend("pytorch")
    torch.manual_seed(0)
    net = PCA_GM_Net(IN, HIDDEN, OUT, 2)
    ours = GraphMatching(IN, HIDDEN, OUT, 2)
    ours.load_state_dict(convert_state_dict(net.state_dict(), "pygmtools-pca-gm"))

    def theirs(f1, f2, A1, A2, n1, n2):
        return pygm.pca_gm(f1, f2, A1, A2, n1, n2, network=net, sk_max_iter=20, sk_tau=0.05)

    def mine(f1, f2, A1, A2, n1, n2):
        return ours(f1, f2, A1, A2, n1, n2)[0]

    print(f"torch {torch.__version__}, pygmtools {pygm.__version__}, {torch.get_num_threads()} threads; "
          f"batch {BATCH}, channels {IN}/{HIDDEN}/{OUT}, forward + backward, median of {args.repeat}")
    print(f"{'N':>5} {'pygmtools ms':>13} {'actseg ms':>10} {'ratio':>6} {'f64 |dS|':>9} {'f64 |dgrad|':>11} "
          f"{'f32 |dS|':>9}")
    for size in args.sizes:
        inputs = batch(size, size)
        net.double(), ours.double()
        wide = [x.double() if x.is_floating_point() else x for x in inputs]
        ref, mine_out = step(theirs, *wide), step(mine, *wide)
        ds = float((ref[0] - mine_out[0]).abs().max())
        dg = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(ref[1:], mine_out[1:]))
        assert ds < 1e-9 and dg < 1e-9, (ds, dg)
        net.float(), ours.float()
        ds32 = float((step(theirs, *inputs)[0] - step(mine, *inputs)[0]).abs().max())
        t_ref, t_ours = timed([lambda x=inputs: step(theirs, *x), lambda x=inputs: step(mine, *x)], args.repeat)
        print(f"{size:>5} {t_ref * 1e3:>13.1f} {t_ours * 1e3:>10.1f} {t_ref / t_ours:>5.1f}x "
              f"{ds:>9.1e} {dg:>11.1e} {ds32:>9.1e}")


if __name__ == "__main__":
    main()
