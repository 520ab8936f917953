"""Train MS-TCN, MS-TCN++ or ASFormer on BasicMotions sequences with padded batches, then evaluate.

Composed only from actseg: ``actseg.layers`` (the model), ``actseg.losses.MultiStageLoss`` (the MS-TCN
objective, masked), ``actseg.metrics.SegmentationMetrics`` (the ms-tcn evaluation protocol).

Data: the BasicMotions recordings of the UEA archive (6 smartwatch channels at 10 Hz, 100 frames per
recording, classes Standing, Running, Walking, Badminton; see ``examples/data/basicmotions/README.md``).
Training and test "videos" concatenate 4–6 recordings of the TRAIN and TEST splits (the boundaries are
joins of separate recordings, not natural transitions), so videos have different lengths and every
batch is padded and masked.

Optimisation: Adam; MS-TCN and MS-TCN++ at lr 5e-3 (10× their official 5e-4: this toy set has 10 batches
per epoch); ASFormer at lr 1e-3 with its official weight decay 1e-5 and the gradient norm clipped to 1. At
lr 5e-3 without clipping, ASFormer's gradient norm spikes (from about 1–5 to 26–46 in the epochs before
the failure) threw its training loss from 0.25 at epoch 26 to 1.61 at epoch 30 (seed 0, two CPU threads:
Acc 87.6, Edit 67.0, F1@50 65.6; the layer itself matches the official one, forward and gradients); with
these settings the same run ends at Acc 97.8, Edit 98.3, F1@50 98.9 (MS-TCN: 98.8, 100, 100), and seeds 1
and 2 at 96.7–97.5, 94.6–96.2, 96.8–97.0. Whether a run diverges depends on rounding (the same seed on one
thread does not), so the settings must be robust, not lucky.

    python examples/train_basicmotions.py --model asformer --epochs 30
    python examples/train_basicmotions.py --model mstcn --source ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_eval_example import CLASSES, read_ts

from actseg.data import collate
from actseg.layers import MSTCN, ASFormer, MSTCNPlusPlus
from actseg.losses import MultiStageLoss
from actseg.metrics import SegmentationMetrics


def make_videos(x: np.ndarray, y: np.ndarray, n_videos: int, rng: np.random.Generator):
    """Concatenate 4–6 random recordings per video: features ``(6, T)`` float32 and labels ``(T,)`` int64."""
    videos = []
    for _ in range(n_videos):
        picks = rng.choice(len(y), size=int(rng.integers(4, 7)), replace=False)
        videos.append((np.concatenate(x[picks], axis=1).astype(np.float32),
                       np.repeat(y[picks], x.shape[2]).astype(np.int64)))
    return videos


def pad_batch(videos):
    """Padded ``(B, 6, T)`` features, ``(B, T)`` labels (-100 in padding) and ``(B, T)`` mask (via collate)."""
    batch = collate([{"features": f, "labels": lab, "video_id": str(b)} for b, (f, lab) in enumerate(videos)])
    return batch["features"], batch["labels"], batch["mask"]


# Adam learning rate, weight decay and gradient-norm clipping per model (see the module docstring).
OPTIMIZATION = {
    "mstcn": {"lr": 5e-3, "weight_decay": 0.0, "clip": None},
    "mstcn++": {"lr": 5e-3, "weight_decay": 0.0, "clip": None},
    "asformer": {"lr": 1e-3, "weight_decay": 1e-5, "clip": 1.0},
}


def build(model: str, channels: int) -> torch.nn.Module:
    if model == "mstcn":
        return MSTCN(channels, len(CLASSES), num_stages=3, num_layers=6, num_channels=32)
    if model == "mstcn++":
        return MSTCNPlusPlus(channels, len(CLASSES), num_layers_pg=6, num_layers_r=6, num_refinement=2,
                             num_channels=32)
    return ASFormer(channels, len(CLASSES), num_layers=6, num_channels=32, num_decoders=2, channel_dropout=0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
                        help="folder with BasicMotions_TRAIN.ts and BasicMotions_TEST.ts")
    parser.add_argument("--model", choices=("mstcn", "mstcn++", "asformer"), default="asformer")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.epochs < 0 or args.batch_size < 1:
        print("error: --epochs must be >= 0 and --batch-size >= 1", file=sys.stderr)
        return 2
    train_file, test_file = args.source / "BasicMotions_TRAIN.ts", args.source / "BasicMotions_TEST.ts"
    if not train_file.is_file() or not test_file.is_file():
        print(f"error: BasicMotions_TRAIN.ts / BasicMotions_TEST.ts not found in {args.source}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, names_train = read_ts(train_file)
    x_test, names_test = read_ts(test_file)
    y_train = np.array([CLASSES.index(name) for name in names_train])
    y_test = np.array([CLASSES.index(name) for name in names_test])
    mean = x_train.mean(axis=(0, 2), keepdims=True)
    std = x_train.std(axis=(0, 2), keepdims=True)
    train = make_videos((x_train - mean) / std, y_train, 40, rng)
    test = make_videos((x_test - mean) / std, y_test, 12, rng)

    model = build(args.model, x_train.shape[1])
    criterion = MultiStageLoss(smoothing_weight=0.15)
    settings = OPTIMIZATION[args.model]
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            feats, labels, mask = pad_batch([train[j] for j in order[i:i + args.batch_size]])
            loss = criterion(model(feats, mask), labels, mask)
            optimizer.zero_grad()
            loss.backward()
            if settings["clip"] is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings["clip"])
            optimizer.step()
            total += loss.item()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {total / -(-len(order) // args.batch_size):.3f}")
    print(f"trained {args.model} in {time.perf_counter() - start:.1f} s")

    model.eval()
    metric = SegmentationMetrics(protocol="mstcn", background=())
    with torch.no_grad():
        feats, labels, mask = pad_batch(test)
        logits = model(feats, mask)[-1]
        metric.update(logits, labels, mask=mask, video_ids=[f"test{i}" for i in range(len(test))])
    for key, value in metric.compute().items():
        print(f"{key:20s} {value:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
