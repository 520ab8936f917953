"""Side-by-side CPU benchmark: actseg's FACT blocks on a padded batch vs FACT's blocks one video at a time.

One FACT update on 48 action tokens and the frames of a video, in FACT's breakfast widths (frames,
tokens and heads 512 channels, 8 heads, FFN 512; ``models/basic.py`` of ZijiaLewisLu/CVPR2024-FACT@dba2399):

1. ``SCALayer`` (tokens attend to themselves and to the frames) = ``ActionTokenDecoderLayer``;
2. ``X2Y_map`` frames → tokens (f2a) = ``CrossAttentionUpdate(512, 512, 512, positional=True)``;
3. ``X2Y_map`` tokens → frames (a2f), the same with the roles swapped (its logits are FACT's frame
   predictions).

Four videos of lengths 2,000, 4,667, 7,333 and 10,000 frames: actseg runs them as one padded batch
``(4, 10000, 512)`` with masks, FACT (which asserts no masks, batch 1) one by one, sequence first,
unpadded. Tokens start at zero with a learned position (FACT's ``action_query``); frames get a
position as well. Both sides hold the same weights (``actseg.io.convert_state_dict(sd, "fact")``) and
the outputs are compared at the valid frames/tokens. Modes: inference (``eval()``, ``no_grad``) and a
train step (forward and ``backward()`` of the sum of the three outputs). Time: median of ``--repeat``
calls after one warm-up, the two sides taking turns in this one process; videos per second = 4 /
time. Memory: peak resident size of the first call in a fresh process (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``, minus the resident size before the call, with glibc returning freed
buffers), for the batch above and for padded batches of 4 videos of T = 2,000 … 10,000 (actseg), to
show that it is linear in T.

FACT's code is not part of actseg: put ``models/basic.py`` of FACT at dba2399 in a folder as
``fact_basic.py`` and pass ``--reference-dir`` (or set ``ACTSEG_FACT_REFERENCE``)::

    git -C CVPR2024-FACT show dba2399:models/basic.py > factref/fact_basic.py
    python benchmarks/bench_fact.py --reference-dir factref
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from actseg.io import convert_state_dict
from actseg.layers import ActionTokenDecoderLayer, CrossAttentionUpdate

LENGTHS = (2000, 4667, 7333, 10000)
WIDTH, HEADS, FF, TOKENS = 512, 8, 512, 48


def load_reference(folder: str | None):
    if not folder:
        return None
    sys.path.insert(0, folder)
    import fact_basic

    return fact_basic


def build(ref):
    """FACT's three blocks and ours with the same weights."""
    torch.manual_seed(0)
    ours = (ActionTokenDecoderLayer(WIDTH, WIDTH, HEADS, FF),
            CrossAttentionUpdate(WIDTH, WIDTH, WIDTH, positional=True),
            CrossAttentionUpdate(WIDTH, WIDTH, WIDTH, positional=True))
    if ref is None:
        return ours, None
    theirs = (ref.SCALayer(WIDTH, WIDTH, HEADS, FF, dropout=0.0, attn_dropout=0.0),
              ref.X2Y_map(WIDTH, WIDTH, WIDTH, WIDTH, dropout=0.0, kq_pos=True),
              ref.X2Y_map(WIDTH, WIDTH, WIDTH, WIDTH, dropout=0.0, kq_pos=True))
    for a, b in zip(ours, theirs):
        a.load_state_dict(convert_state_dict(b.state_dict(), "fact"), strict=True)
    return ours, theirs


def inputs(lengths):
    g = torch.Generator().manual_seed(1)
    length = max(lengths)
    frames = torch.randn(len(lengths), length, WIDTH, generator=g)
    mask = torch.arange(length) < torch.tensor(lengths).unsqueeze(1)
    frames = frames * mask.unsqueeze(-1)
    frame_pos = torch.randn(1, length, WIDTH, generator=g) * 0.1
    token_pos = torch.randn(1, TOKENS, WIDTH, generator=g)
    return frames, mask, frame_pos, token_pos


def run_ours(blocks, frames, mask, frame_pos, token_pos):
    dec, f2a, a2f = blocks
    tokens = torch.zeros(frames.shape[0], TOKENS, WIDTH, dtype=frames.dtype)
    tokens = dec(tokens, frames, token_pos, frame_pos, frame_mask=mask)
    tokens, _ = f2a(frames, tokens, frame_pos, token_pos, x_mask=mask)
    out, logits = a2f(tokens, frames, token_pos, frame_pos, y_mask=mask)
    return tokens, out, logits


def run_fact(blocks, frames, mask, frame_pos, token_pos):
    dec, f2a, a2f = blocks
    results = []
    for b in range(frames.shape[0]):
        n = int(mask[b].sum())
        f, fp, tp = frames[b, :n].unsqueeze(1), frame_pos[0, :n].unsqueeze(1), token_pos[0].unsqueeze(1)
        tokens = dec(torch.zeros(TOKENS, 1, WIDTH), f, pos=fp, query_pos=tp)
        tokens = f2a(f, tokens, X_pos=fp, Y_pos=tp)
        out = a2f(tokens, f, X_pos=tp, Y_pos=fp)
        results.append((tokens, out, a2f.attn_logit))
    return results


def call(impl, blocks, data, train):
    for m in blocks:
        m.train(train)
    run = run_ours if impl == "actseg" else run_fact
    if not train:
        with torch.no_grad():
            return run(blocks, *data)
    for m in blocks:
        m.zero_grad(set_to_none=True)
    out = run(blocks, *data)
    flat = out[:2] if impl == "actseg" else [t for r in out for t in r[:2]]
    sum(t.sum() for t in flat).backward()
    return out


def max_diff(ours, theirs, mask):
    tokens, out, _ = ours
    diff = 0.0
    for b, (t, o, _) in enumerate(theirs):
        diff = max(diff, (tokens[b] - t[:, 0]).abs().max().item(), (out[b, mask[b]] - o[:, 0]).abs().max().item())
    return diff


def child(impl, lengths, train, folder):
    ref = load_reference(folder)
    ours, theirs = build(ref)
    data = inputs(lengths)
    before = _status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")
    call(impl, ours if impl == "actseg" else theirs, data, train)
    print(json.dumps({"peak_mib": (_status()["VmHWM"] - before) / 1024}))


def _status():
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def memory(impl, lengths, train, folder):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    cmd = [sys.executable, __file__, "--child", impl, "--lengths", ",".join(map(str, lengths)),
           "--threads", str(torch.get_num_threads())] + (["--train"] if train else []) + \
          (["--reference-dir", folder] if folder else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", default=os.environ.get("ACTSEG_FACT_REFERENCE"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lengths = tuple(int(n) for n in args.lengths.split(","))
    if args.child:
        return child(args.child, lengths, args.train, args.reference_dir)
    ref = load_reference(args.reference_dir)
    if ref is None:
        print("no --reference-dir: actseg only")
    ours, theirs = build(ref)
    data = inputs(lengths)
    print(f"torch {torch.__version__}, {args.threads} threads, videos {lengths}, {TOKENS} tokens, width {WIDTH}")
    for train in (False, True):
        mode = "train" if train else "inference"
        impls = {"actseg": ours} if theirs is None else {"actseg": ours, "fact": theirs}
        times = {k: [] for k in impls}
        outs = {k: call(k, b, data, train) for k, b in impls.items()}  # warm-up
        for _ in range(args.repeat):
            for k, b in impls.items():
                start = time.perf_counter()
                call(k, b, data, train)
                times[k].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        line = f"{mode}: actseg {med['actseg']:.3f} s ({len(lengths) / med['actseg']:.2f} videos/s)"
        if theirs is not None:
            line += (f", FACT {med['fact']:.3f} s ({len(lengths) / med['fact']:.2f} videos/s), "
                     f"speed-up {med['fact'] / med['actseg']:.2f}x, max |diff| "
                     f"{max_diff(outs['actseg'], outs['fact'], data[1]):.1e}")
        print(line)
        if not args.no_memory:
            mem = {k: memory(k, lengths, train, args.reference_dir) for k in impls}
            print("  peak MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in mem.items()))
            per_t = {t: memory("actseg", (t,) * 4, train, args.reference_dir) for t in (2000, 4000, 6000, 8000, 10000)}
            print("  actseg, 4 videos of T frames: " + ", ".join(f"T={t}: {v:.0f} MiB ({v / t * 1000:.1f}/1k frames)"
                                                              for t, v in per_t.items()))
    return None


if __name__ == "__main__":
    main()
