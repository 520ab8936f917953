"""Reference vectors of FACT's blocks (ZijiaLewisLu/CVPR2024-FACT@dba2399 ``models/basic.py``).

Run FACT's own ``X2Y_map``, ``SCALayer`` and ``SALayer`` on one unpadded video each (sequence first,
``(L, 1, C)``, as FACT runs them) in float32 and float64, and store inputs, state dicts and outputs
in ``fact.pt``. ``tests/test_interaction_reference.py`` loads the state dicts through
``actseg.io.convert_state_dict(sd, "fact")`` and compares (1e-5 float32, 1e-9 float64).

Regenerate (from a scratch folder outside the repository; FACT's file is not copied into actseg)::

    git -C <mirror of ZijiaLewisLu/CVPR2024-FACT> show dba2399:models/basic.py > /tmp/scratch/fact_basic.py
    PYTHONPATH=/tmp/scratch python tests/data/fact/generate_fact.py tests/data/fact/fact.pt
"""

from __future__ import annotations

import sys

import fact_basic as basic  # FACT models/basic.py, imported from the scratch folder
import torch
from torch import nn


def _inputs(gen, dtype, **shapes):
    return {name: torch.randn(*shape, generator=gen, dtype=dtype) for name, shape in shapes.items()}


def _randomise(module, gen):
    """Non-trivial biases and LayerNorm affines (PyTorch initialises them to 0/1)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * (p.shape[-1] ** -0.5))


def cases(dtype):
    gen = torch.Generator().manual_seed(0)
    out = {}
    # X2Y_map, frames -> tokens (f2a) with positions (the frame positions narrower than the frames)
    for name, (cx, cy, co, head, lx, ly, px, py, kq_pos) in {
        "x2y_f2a": (48, 32, 32, 40, 37, 7, 16, 32, True),
        "x2y_a2f": (32, 48, 24, 32, 7, 37, 32, 48, True),
        "x2y_nopos": (24, 24, 16, 24, 9, 11, 24, 24, False),
    }.items():
        block = basic.X2Y_map(cx, cy, co, head, dropout=0.0, kq_pos=kq_pos).to(dtype).eval()
        _randomise(block, gen)
        data = _inputs(gen, dtype, x=(lx, 1, cx), y=(ly, 1, cy), x_pos=(lx, 1, px), y_pos=(ly, 1, py))
        with torch.no_grad():
            y = block(data["x"], data["y"], X_pos=data["x_pos"], Y_pos=data["y_pos"])
        out[name] = {"args": (cx, cy, co, head, kq_pos), "state_dict": block.state_dict(), "inputs": data,
                     "out": y, "logits": block.attn_logit}
    # SCALayer: packed cross-attention weights (equal widths) and separate q/k/v weights
    for name, (d, c, heads, ff, m, t) in {"sca_packed": (32, 32, 4, 64, 7, 29),
                                          "sca_separate": (32, 48, 4, 64, 7, 29)}.items():
        layer = basic.SCALayer(d, c, heads, ff, dropout=0.0, attn_dropout=0.0).to(dtype).eval()
        _randomise(layer, gen)
        data = _inputs(gen, dtype, tokens=(m, 1, d), frames=(t, 1, c), token_pos=(m, 1, d), frame_pos=(t, 1, 16))
        with torch.no_grad():
            y = layer(data["tokens"], data["frames"], pos=data["frame_pos"], query_pos=data["token_pos"])
        out[name] = {"args": (d, c, heads, ff), "state_dict": layer.state_dict(), "inputs": data, "out": y}
    layer = basic.SALayer(32, 4, dim_feedforward=64, dropout=0.0, attn_dropout=0.0).to(dtype).eval()
    _randomise(layer, gen)
    data = _inputs(gen, dtype, tokens=(7, 1, 32), token_pos=(7, 1, 32))
    with torch.no_grad():
        y = layer(data["tokens"], data["tokens"], data["tokens"], query_pos=data["token_pos"],
                  key_pos=data["token_pos"], value_pos=data["token_pos"])
    out["sa"] = {"args": (32, 4, 64), "state_dict": layer.state_dict(), "inputs": data, "out": y}
    return out


def whole_model_keys():
    """Key names of FACT's blocks inside a model (``block_list.{i}.…``), as ``FACT.state_dict()`` has them."""
    model = nn.Module()
    sca = basic.SCALayer(16, 16, 2, 32, dropout=0.0, attn_dropout=0.0)
    sa = basic.SALayer(16, 2, dim_feedforward=32, dropout=0.0, attn_dropout=0.0)
    model.block_list = nn.ModuleList([nn.Module(), nn.Module()])
    model.block_list[0].action_branch = basic.SCADecoder(16, 16, 16, sca, 2, norm=nn.LayerNorm(16))
    model.block_list[1].f2a_layer = basic.X2Y_map(16, 16, 16, 16, dropout=0.0, kq_pos=True)
    model.block_list[1].action_branch = basic.SADecoder(16, 16, 16, sa, 1)
    model.block_list[1].a2f_layer = basic.X2Y_map(16, 16, 16, 16, dropout=0.0, kq_pos=True)
    return list(model.state_dict())


if __name__ == "__main__":
    torch.save({"float32": cases(torch.float32), "float64": cases(torch.float64), "model_keys": whole_model_keys(),
                "commit": "dba2399511e6b1b9f8f4fa696641d9793714e775"}, sys.argv[1])
