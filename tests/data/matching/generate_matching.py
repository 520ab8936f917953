"""Reference vectors for ``actseg.layers.GraphMatching``: pygmtools' own ``pca_gm`` (PyTorch backend) on
fixed random padded batches, with the weights of a randomly initialised ``PCA_GM_Net`` (pygmtools'
pretrained weights are downloads; any weights exercise the same code).

    python3 tests/data/matching/generate_matching.py      # needs pygmtools (0.6.0 was used), torch

Writes ``pca_gm.pt``: a list of cases, each ``{"config": (in, hidden, out, layers, iterations, tau),
"state_dict": PCA_GM_Net keys, "inputs": (feat1, feat2, A1, A2, n1, n2), "S": pca_gm output,
"pygmtools": version}``.
"""

from __future__ import annotations

from pathlib import Path

import torch


def padded_graphs(g: torch.Generator, n: torch.Tensor, size: int, d: int, density: float):
    """Features (garbage at padded nodes, which must not matter) and 0/1 adjacency zero outside ``[:n, :n]``
    (pygmtools lets nonzero padded entries leak in; actseg ignores them) with no self-loops."""
    feat = torch.randn(len(n), size, d, generator=g) * 0.5
    valid = torch.arange(size) < n[:, None]
    adj = (torch.rand(len(n), size, size, generator=g) < density) & valid[:, :, None] & valid[:, None, :]
    adj &= ~torch.eye(size, dtype=torch.bool)
    return feat, adj.float()


def main() -> None:
    import pygmtools as pygm
    from pygmtools.pytorch_backend import PCA_GM_Net

    pygm.set_backend("pytorch")
    cases = []
    # (config, padded sizes, node counts): n1 < n2, n1 > n2, ties, mixed orientations in one batch, a
    # 1-node graph, unpadded batches, 3 layers, other Sinkhorn settings
    setups = [
        ((8, 16, 12, 2, 20, 0.05), (7, 9), ([7, 5, 6, 3], [9, 6, 4, 3])),
        ((8, 16, 12, 2, 20, 0.05), (9, 6), ([9, 4, 2, 6], [6, 6, 2, 1])),
        ((8, 16, 12, 2, 20, 0.05), (6, 6), ([6, 6], [6, 6])),
        ((6, 10, 8, 3, 20, 0.05), (10, 8), ([10, 7, 1], [8, 8, 1])),
        ((5, 7, 9, 4, 11, 0.2), (12, 12), ([12, 9, 5], [10, 12, 5])),
    ]
    for seed, (config, (size1, size2), (n1, n2)) in enumerate(setups):
        d, hidden, out, layers, iterations, tau = config
        torch.manual_seed(seed)
        net = PCA_GM_Net(d, hidden, out, layers)
        g = torch.Generator().manual_seed(100 + seed)
        n1, n2 = torch.tensor(n1), torch.tensor(n2)
        feat1, A1 = padded_graphs(g, n1, size1, d, 0.4)
        feat2, A2 = padded_graphs(g, n2, size2, d, 0.4)
        S = pygm.pca_gm(feat1, feat2, A1, A2, n1, n2, network=net, sk_max_iter=iterations, sk_tau=tau)
        cases.append({"config": config, "state_dict": {k: v.clone() for k, v in net.state_dict().items()},
                      "inputs": (feat1, feat2, A1, A2, n1, n2), "S": S.detach(), "pygmtools": pygm.__version__})
    torch.save(cases, Path(__file__).with_name("pca_gm.pt"))


if __name__ == "__main__":
    main()
