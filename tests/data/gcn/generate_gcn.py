"""Regenerate the MS-G3D / DeST multi-scale graph convolution reference vectors (see README.md here).

Runs the OFFICIAL code (never copied into actseg) from checkouts given on the command line:

    python tests/data/gcn/generate_gcn.py --msg3d /tmp/scratch-gcn/msg3d --dest /tmp/scratch-gcn/dest

Writes ``gcn.pt`` next to this script.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import types
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).with_name("gcn.pt")
LAYOUTS = {"ntu-25": "PKU-subject", "openpose-25": "MCFS-22", "lara-19": "LARA"}
FILES = {"msg3d": ("graph/tools.py", "graph/ntu_rgb_d.py", "model/ms_gcn.py", "model/mlp.py", "model/activation.py"),
         "dest": ("libs/models/SP.py", "libs/models/graph/graph.py", "libs/models/graph/tools.py")}


def _sha(root: Path, files) -> dict[str, str]:
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files}


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial values for every parameter and BatchNorm statistic (A_res far from its 1e-6 init)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=g, dtype=torch.float64))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g, dtype=torch.float64))


def _case(module, x64: torch.Tensor, dtype: torch.dtype, train: bool, seed: int) -> dict:
    module = module.to(dtype)
    module.train(train)
    x = x64.to(dtype).clone().requires_grad_(True)
    out = module(x)
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 100), dtype=torch.float64).to(dtype)
    (out * r).sum().backward()
    case = {"dtype": str(dtype), "train": train, "x": x64.clone(), "out": out.detach().clone(),
            "weight": r, "grad_x": x.grad.clone(),
            "grads": {k: p.grad.clone() for k, p in module.named_parameters()},
            "buffers_after": {k: b.clone() for k, b in module.named_buffers() if "running" in k}}
    module.zero_grad()
    return case


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--msg3d", type=Path, required=True, help="kenziyuliu/MS-G3D checkout (2f927f4)")
    parser.add_argument("--dest", type=Path, required=True, help="lyhisme/DeST checkout (319e1f1)")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    sys.modules.setdefault("matplotlib", types.SimpleNamespace(use=lambda *a, **k: None))  # graph.py imports it

    sys.path.insert(0, str(args.dest))
    from libs.models import SP  # DeST

    sys.path.remove(str(args.dest))
    for name in [m for m in sys.modules if m == "libs" or m.startswith("libs.")]:
        sys.modules[f"dest_{name}"] = sys.modules.pop(name)
    sys.path.insert(0, str(args.msg3d))
    from graph import ntu_rgb_d, tools  # MS-G3D
    from model.ms_gcn import MultiScale_GraphConv as MSG3DConv

    data: dict = {"layouts": {}, "meta": {
        "torch": str(torch.__version__), "numpy": str(np.__version__),
        "msg3d": "kenziyuliu/MS-G3D@2f927f47143c7242e4875ddb08727bf5396aab46",
        "dest": "lyhisme/DeST@319e1f10f310e08a198fba3a32a4d82416ecb15f",
        "sha256": {**_sha(args.msg3d, FILES["msg3d"]), **_sha(args.dest, FILES["dest"])}}}
    for i, (ours, theirs) in enumerate(LAYOUTS.items()):
        torch.manual_seed(10 + i)
        block = SP.MultiScale_GraphConv(13, 4, 6, theirs)  # DeST SP block, input (N, C, V, T)
        flat = SP.MultiScale_GraphConv(13, 4, 6, theirs, disentangled_agg=False)
        v = block.A_powers.shape[1]
        a_binary = SP.get_adjacency_matrix(block.graph.neighbor, v)
        _randomise(block, 20 + i)
        x64 = torch.randn(2, 4, v, 9, generator=torch.Generator().manual_seed(30 + i), dtype=torch.float64)
        state = {k: t.clone() for k, t in block.state_dict().items()}
        cases = []
        for dtype in (torch.float32, torch.float64):
            for train in (False, True):
                block.load_state_dict(state)
                cases.append(_case(block, x64, dtype, train, 40 + i))
        block.load_state_dict(state)
        data["layouts"][ours] = {
            "dest_layout": theirs, "inward": list(block.graph.inward), "a_binary": torch.from_numpy(a_binary),
            "a_powers": block.A_powers.clone(), "a_powers_flat": flat.A_powers.clone(),
            "state_dict": {k: t.to(torch.float32) for k, t in state.items()}, "cases": cases}
    # MS-G3D's own block (input (N, C, T, V)) on its NTU graph, with dropout: its MLP keys shift by one
    torch.manual_seed(5)
    a_ntu = ntu_rgb_d.AdjMatrixGraph().A_binary
    block = MSG3DConv(13, 3, 5, a_ntu, dropout=0.2)
    _randomise(block, 6)
    x64 = torch.randn(2, 3, 7, 25, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    state = {k: t.clone() for k, t in block.state_dict().items()}
    data["msg3d_ntu"] = {"a_binary": torch.from_numpy(a_ntu), "a_powers": block.A_powers.clone(),
                         "neighbor": list(ntu_rgb_d.neighbor),
                         "k_adjacency_12": torch.from_numpy(tools.k_adjacency(a_ntu, 12, with_self=True)),
                         "state_dict": {k: t.to(torch.float32) for k, t in state.items()},
                         "cases": [_case(block, x64, torch.float64, False, 8)]}
    torch.save(data, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
