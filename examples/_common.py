"""Shared plumbing of the paper examples: flags, torch.distributed set-up, per-rank batches, printing.

Every example script under ``examples/`` runs unchanged as one process or under
``torchrun --nproc_per_node=N`` (DDP; gloo on CPU, nccl on CUDA) and reports the same dataset
metrics either way. What makes that true:

- **Training.** All ranks draw the same permutation of the training set (same seed) and cut it into
  the same *global* batches of ``--batch-size`` videos; rank ``r`` takes the items ``r, r + N, ...``
  of each global batch (:func:`global_batches`). A loss summed over the rank's items and divided by
  the *global* count (frames, keypoints, ...; :func:`global_sum`) and multiplied by ``N``
  (:func:`distributed_loss`) gives, after DDP's gradient averaging over ``N`` ranks, the gradient of
  the single-process loss of the whole global batch — equal up to the order of float summation.
  (Models with BatchNorm or random dropout masks are outside that promise; the examples use neither
  at training time unless they say so.) A rank with no item in a short last batch runs one item at
  weight 0, so that every rank takes part in every DDP all-reduce.
- **Evaluation.** Each video is evaluated by exactly one rank (:func:`shard`), one video per forward
  pass (no padding, so a video's prediction does not depend on its batch mates), and the actseg
  metric accumulators gather their per-video records over ``torch.distributed`` in ``compute()``.
- **Output.** Only rank 0 prints (:meth:`Context.print`) and writes ``--out`` files.

Threads: these models are small, and on a CPU one thread per process is fastest (torchrun sets
``OMP_NUM_THREADS=1``; for one process set it yourself). Measured on a busy 2-core machine: an ASFormer
training step of the RTK quick setting took 0.1 s with one thread and 1.5–3 s with two.

Standard flags (:func:`parser`): ``--quick`` (the CI setting, < 60 s on a CPU), ``--data DIR`` (the
real dataset's folder), ``--epochs`` (default per example and setting; ``0`` evaluates the initial
or ``--checkpoint`` weights), ``--batch-size``, ``--device auto|cpu|cuda``, ``--seed``, ``--out DIR``
(metrics.json and checkpoint.pt), ``--checkpoint PATH`` (weights to start from).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from actseg.data import collate

__all__ = [
    "Context",
    "distributed_loss",
    "finish",
    "global_batches",
    "global_sum",
    "load_tas_videos",
    "pad_videos",
    "parser",
    "print_metrics",
    "setup",
    "shard",
    "unwrap",
    "wrap",
]


def parser(description: str, *, epochs: int, quick_epochs: int, batch_size: int = 4) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the standard example flags; ``--epochs`` defaults to ``epochs`` or,
    with ``--quick``, ``quick_epochs`` (resolved by :func:`setup`)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short CI setting (< 60 s on a CPU)")
    p.add_argument("--data", type=Path, default=None, help="folder of the real dataset (default: built-in data)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {epochs}, {quick_epochs} with --quick; 0 = evaluate only)")
    p.add_argument("--batch-size", type=int, default=batch_size, help="global batch size (videos), all ranks")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="folder for metrics.json and checkpoint.pt")
    p.add_argument("--checkpoint", type=Path, default=None, help="model weights to start from (state_dict)")
    p.set_defaults(_epochs_full=epochs, _epochs_quick=quick_epochs)
    return p


@dataclass
class Context:
    """What :func:`setup` returns: the process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    args: argparse.Namespace

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that prints and writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on rank 0 only (flushed, so that torchrun's interleaved output stays readable)."""
        if self.is_main:
            print(*args, **kwargs, flush=True)


def setup(args: argparse.Namespace) -> Context:
    """Initialise ``torch.distributed`` when started by torchrun, pick the device, seed everything.

    torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with ``WORLD_SIZE > 1`` the process
    group is created with ``nccl`` on CUDA and ``gloo`` on CPU. ``--device auto`` means CUDA when
    available (rank ``r`` on GPU ``LOCAL_RANK``). Every rank is seeded with ``--seed`` (Python,
    numpy, torch), so models start identical and all ranks draw the same training order.
    Resolves ``args.epochs`` from ``--quick``.
    """
    if args.epochs is None:
        args.epochs = args._epochs_quick if args.quick else args._epochs_full
    if args.epochs < 0 or args.batch_size < 1:
        raise SystemExit("error: --epochs must be >= 0 and --batch-size >= 1")
    if args.data is not None and not args.data.is_dir():
        raise SystemExit(f"error: --data {args.data}: no such folder")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise SystemExit(f"error: --checkpoint {args.checkpoint}: no such file")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but CUDA is not available")
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    return Context(rank, world_size, local_rank, device, args)


def wrap(model: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """Move ``model`` to the device; wrap it in ``DistributedDataParallel`` when there are several ranks.

    Loads ``--checkpoint`` first when given (a ``state_dict`` saved by :func:`finish`).
    """
    if ctx.args.checkpoint is not None:
        model.load_state_dict(torch.load(ctx.args.checkpoint, map_location="cpu", weights_only=True))
    model = model.to(ctx.device)
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def global_batches(num_items: int, ctx: Context, epoch: int) -> list[tuple[list[int], float]]:
    """This rank's share of each global batch of one epoch: a list of ``(indices, weight)``.

    The order is a permutation drawn from ``(seed, epoch)``, the same on every rank and the same as a
    single process draws; global batch ``g`` is ``order[g·B:(g+1)·B]`` and rank ``r`` takes its items
    ``r, r + N, ...``. ``weight`` is 1, or 0 when the rank has no item in the batch (it then gets the
    batch's first item, to be multiplied by 0 — see :func:`distributed_loss`).
    """
    order = np.random.default_rng([ctx.args.seed, epoch]).permutation(num_items).tolist()
    size = ctx.args.batch_size
    out = []
    for start in range(0, num_items, size):
        batch = order[start:start + size]
        mine = batch[ctx.rank::ctx.world_size]
        out.append((mine, 1.0) if mine else (batch[:1], 0.0))
    return out


def global_sum(value: float | torch.Tensor, ctx: Context) -> float:
    """The sum of a count (or any number) over all ranks, as a Python float (no gradient)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().double().sum().item()
    if not ctx.distributed:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item())


def distributed_loss(local_sum: torch.Tensor, local_count: float | torch.Tensor, ctx: Context,
                     weight: float = 1.0) -> torch.Tensor:
    """``N · weight · local_sum / global_count``: with DDP's averaging, the single-process gradient.

    ``local_sum`` is the loss *summed* over this rank's items (``reduction="sum"``, or a mean times its
    count); ``local_count`` is what the single-process loss divides by, counted on this rank's items
    (frames, keypoints, videos); it is summed over ranks (0-weight ranks contribute 0), and a global
    count below 1 divides by 1 (a batch without any counted item, as actseg's ``reduction="mean"``).
    """
    count = global_sum(local_count if weight else 0.0, ctx)
    return local_sum * (ctx.world_size * weight / max(count, 1.0))


def load_tas_videos(args: argparse.Namespace, *, split_index: int = 1, sample_rate: int = 1,
                    demo: str = "basicmotions") -> tuple[list, list, tuple[str, ...]]:
    """Training and test videos of a TAS example: ``([(features (C, T), labels (T,), video_id), ...] × 2,
    class_names)``.

    ``--data DIR``: an MS-TCN folder (``actseg.data.MSTCNFolderDataset``; ``mapping.txt``, ``splits/``,
    ``groundTruth/``, ``features/``), split ``split_index``, every ``sample_rate``-th frame, features as
    stored. Without ``--data``: the embedded demo set ``demo`` (``actseg.data.DemoDataset``), every
    ``sample_rate``-th frame (ms-tcn's ``features[:, ::sample_rate]``), each channel standardised with the
    mean and standard deviation of the training frames (raw sensor units differ by channel).
    """
    from actseg.data import DemoDataset, MSTCNFolderDataset

    if args.data is not None:
        sets = [MSTCNFolderDataset(args.data, split, split_index=split_index, sample_rate=sample_rate)
                for split in ("train", "test")]
    else:
        sets = [DemoDataset(demo, split) for split in ("train", "test")]
    videos = [[(item["features"], item["labels"], item["video_id"]) for item in (ds[i] for i in range(len(ds)))]
              for ds in sets]
    if args.data is None:
        videos = [[(f[:, ::sample_rate], y[::sample_rate], v) for f, y, v in split] for split in videos]
        frames = torch.cat([f for f, _, _ in videos[0]], dim=1)
        mean, std = frames.mean(1, keepdim=True), frames.std(1, keepdim=True).clamp_min(1e-6)
        videos = [[((f - mean) / std, y, v) for f, y, v in split] for split in videos]
    return videos[0], videos[1], tuple(sets[0].class_names)


def pad_videos(videos: list, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad ``[(features (C, T_i), labels (T_i,), ...), ...]`` into ``features (B, C, T)`` (0 in padding),
    ``labels (B, T)`` int64 (``-100`` in padding) and ``mask (B, T)`` bool (``True`` = valid frame), with
    :func:`actseg.data.collate`."""
    batch = collate([{"features": torch.as_tensor(feat, dtype=torch.float32),
                      "labels": torch.as_tensor(lab, dtype=torch.long), "video_id": str(b)}
                     for b, (feat, lab, *_) in enumerate(videos)])
    return batch["features"].to(device), batch["labels"].to(device), batch["mask"].to(device)


def shard(num_items: int, ctx: Context) -> list[int]:
    """The items this rank evaluates: ``rank, rank + N, ...`` (each item exactly once over all ranks)."""
    return list(range(ctx.rank, num_items, ctx.world_size))


def print_metrics(metrics: dict[str, float], ctx: Context, title: str = "metrics") -> None:
    """Print ``metrics`` (rank 0) as aligned lines and one ``METRICS {json}`` line (for scripts/tests)."""
    ctx.print(f"{title}:")
    for key, value in metrics.items():
        ctx.print(f"  {key:20s} {value:8.4f}")
    ctx.print("METRICS " + json.dumps({k: round(float(v), 6) for k, v in metrics.items()}, sort_keys=True))


def finish(model: torch.nn.Module, metrics: dict[str, float], ctx: Context) -> None:
    """Write ``--out``/metrics.json and checkpoint.pt (rank 0), then close the process group.

    Under torchrun this is the script's last call: after the process group is closed the process exits
    (status 0) without the interpreter's teardown. With DDP the gloo backend's work objects stay referenced
    by the DDP module until it is freed, and freeing them during interpreter shutdown aborted a rank now and
    then ("terminate called without an active exception", SIGABRT) after all results were printed.
    """
    if ctx.is_main and ctx.args.out is not None:
        ctx.args.out.mkdir(parents=True, exist_ok=True)
        (ctx.args.out / "metrics.json").write_text(json.dumps({k: float(v) for k, v in metrics.items()}, indent=1))
        torch.save(unwrap(model).state_dict(), ctx.args.out / "checkpoint.pt")
    if ctx.distributed:
        dist.barrier()
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
