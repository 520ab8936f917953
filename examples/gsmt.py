"""GSMT: temporal action localization with global segmentation masks (TAGS / GSMT), composed from actseg.

Paper: "Temporal Action Localization with Global Segmentation Mask Transformers" (GSMT, published as
TAGS, Nag et al., ECCV 2022), ``/work/shared/papers/gsmt-global-segmentation-masks.txt``. The pipeline:

- **Snippets** (§4 "Implementation details"): each video's features are resampled to ``T`` snippets
  by linear interpolation (``actseg.targets.resample_snippets``; ``T = 100`` as for ActivityNet).
- **Model** (§3.1–3.2): a Transformer snippet embedding — Eq. (1)–(2), ``n_h = 4`` heads, layer norm
  before the multi-head attention and before an MLP of one fully connected layer, each with a residual
  connection (``GSMTEncoderLayer``: ``actseg.layers`` has no block of this form, so these few lines use
  ``torch.nn`` directly), after a 1×1 input projection and learned positions (the paper does not say how
  positions enter). Two heads: ``H_c``, a 1-D convolution giving the class logits of ``P`` (Eq. (3), ``K + 1``
  classes with background last) and the per-class regression logits ``r`` of Eq. (5) (discarded at
  inference); ``H_b``, three 1-D convolutions giving the ``T × T`` mask logits of Eq. (4).
- **Mask layout.** ``H_b`` outputs ``(B, T, T)`` with channel ``k`` = time and position ``t`` = snippet, i.e.
  the paper's ``M`` whose **column** ``t`` is snippet ``t``'s mask. actseg's global masks put snippet ``t``'s
  mask in **row** ``t`` (``docs/conventions.md``): this script transposes once, right after ``H_b``, and from
  there on ``masks[b, t, :]`` — row ``t`` of the global ``T × T`` mask — is the foreground mask over time
  predicted by snippet ``t``; targets (``actseg.targets.segments_to_global_masks``), losses and decoding all
  read that layout.
- **Targets** (§3.3 "Training", Fig. 3): ``segments_to_global_masks``: a snippet inside an instance gets the
  instance's class and the instance's full-length binary mask; other snippets are background with an
  empty mask.
- **Losses** (§3.3): Eq. (5) ``L_c = λ1 · focal + (1 − λ1) · hard-negative logistic`` (``γ = 2``, ``α = 10``,
  ``|N| = max(1, (K + 1) // 10)``, ``λ1 = 0.4``: ``actseg.losses.focal_loss``, ``hard_negative_bce_loss``),
  averaged over snippets; Eq. (6) ``L_m`` = boundary-IoU loss + ``λ2 = 0.4`` · dice (``biou_loss``,
  ``dice_loss(factor=1, smooth=0)`` — ``actseg.losses.GlobalMaskLoss``), averaged over the mask rows of
  foreground snippets. Both are written as sums over the rank's videos divided by the global counts, so DDP
  gives the one-process gradient (``tests/test_examples.py`` checks the one-process value against
  ``GlobalMaskLoss``).
- **Inference** (§3.3 "Inference", §4): ``actseg.postprocess.decode_global_masks``: the top ``M1 = 50``
  snippets of ``P``, their masks thresholded at ``Θ = {0.1, …, 0.9}``,
  score = class score × maximal mask score, ``θ_c = 0.1``, the best ``M2 = 200``, then Soft-NMS (Gaussian,
  0.6 as the paper's ActivityNet setting). Candidates are first-to-last activated spans (``mode="span"``,
  the paper's rule for long actions such as ActivityNet's); ``--mode runs`` gives its rule for short
  actions (THUMOS: every activated run). Measured on the demo after the full 150 epochs: average mAP
  0.175 with spans, 0.109 with runs; the half-trained masks of ``--quick`` are fragmented, and there runs
  score higher (0.05 vs 0.007 at 30 epochs). Segments come back in snippet units and are mapped to the
  video's frames (``× T_frames / T``).
- **Metric**: ``actseg.metrics.DetectionMAP`` with the ActivityNet protocol, mAP at tIoU 0.5:0.05:0.95
  (``ACTIVITYNET_TIOU_THRESHOLDS``; fractions in [0, 1]), reported at 0.5, 0.75, 0.95 and on average.

Data: the BasicMotions demo of ``actseg.data.load_demo`` read as localization — every recording (an
action segment of the frame labels, ``actseg.segments.labels_to_segments``) is an instance, there is no
background (4 classes: Standing, Running, Walking, Badminton). ``--data DIR``: an ActivityNet-style folder,
``DIR/<--annotations>`` (default ``activity_net.v1-3.min.json``) and ``DIR/features/<video>.npy`` ``(C, T)``
(``actseg.data.ActivityNetDataset``), trained on ``training`` and evaluated on ``validation``.

Optimisation: the paper uses SGD (lr 1e-4, 15 epochs, batch 200 on ActivityNet); on the 30 demo videos
this script uses Adam (lr 2e-3, weight decay 1e-3 as the paper's ActivityNet setting, batches of 4), 150
epochs (``--quick``: 30 epochs, one encoder layer of 64 channels instead of two of 128).

Measured (seed 0, one CPU thread): full — mAP@0.5 0.420, @0.75 0.132, @0.95 0.048, average 0.175
(training videos: average 0.384; 30 demo videos are few for ``T × T`` masks); ``--quick`` — average 0.003
(mAP@0.5 0.011). Two processes evaluating the same checkpoint report the same numbers exactly; trained
with two processes, the epoch losses agree to 4 digits (2.3610 vs 2.3609 at epoch 10) and the quick
result is 0.003 (0.011).

    python examples/gsmt.py --quick
    python examples/gsmt.py
    torchrun --nproc_per_node=2 examples/gsmt.py --quick       # DDP: the same dataset metrics
    python examples/gsmt.py --data data/activitynet --epochs 15
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

from actseg.losses import biou_loss, dice_loss, focal_loss, hard_negative_bce_loss
from actseg.metrics import ACTIVITYNET_TIOU_THRESHOLDS, DetectionMAP
from actseg.postprocess import decode_global_masks
from actseg.segments import Segments, labels_to_segments
from actseg.targets import resample_snippets, segments_to_global_masks

# §3.3, §4
LAMBDA_FOCAL, FOCAL_GAMMA, NEGATIVE_ALPHA, DICE_WEIGHT = 0.4, 2.0, 10.0, 0.4
NUM_ANCHORS, MIN_SCORE, MAX_CANDIDATES, SOFT_NMS_SIGMA = 50, 0.1, 200, 0.6
FULL = {"channels": 128, "num_layers": 2, "dropout": 0.0}
QUICK = {"channels": 64, "num_layers": 1, "dropout": 0.0}
WEIGHT_DECAY = 1e-3  # §4, ActivityNet


class GSMTEncoderLayer(nn.Module):
    """GSMT Eq. (1)–(2): ``x + MA(LN(x))`` then ``x + FC(LN(x))``, channels-last ``(B, T, C)``."""

    def __init__(self, channels: int, num_heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, num_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(channels)
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.attention(h, h, h, need_weights=False)[0])
        return x + self.dropout(self.fc(self.norm2(x)))


class GSMT(nn.Module):
    """GSMT (§3.1–3.2): ``forward(x (B, D, T))`` → class logits ``(B, K + 1, T)``, regression logits
    ``(B, K + 1, T)`` and mask logits ``(B, T, T)`` with **row** ``t`` = snippet ``t``'s mask over time."""

    def __init__(self, in_channels: int, num_classes: int, num_snippets: int, *, channels: int = 128,
                 num_layers: int = 2, num_heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.project = nn.Conv1d(in_channels, channels, 1)
        self.position = nn.Parameter(torch.zeros(1, num_snippets, channels))
        nn.init.normal_(self.position, std=0.02)
        self.input_dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(GSMTEncoderLayer(channels, num_heads, dropout) for _ in range(num_layers))
        self.classify = nn.Conv1d(channels, 2 * (num_classes + 1), 1)  # H_c: P (Eq. 3) and r (Eq. 5)
        self.mask_head = nn.Sequential(  # H_b (Eq. 4): three 1-D convolutions, T output channels
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(channels, num_snippets, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = self.input_dropout(self.project(x).transpose(1, 2) + self.position)  # (B, T, C)
        for layer in self.encoder:
            e = layer(e)
        e = e.transpose(1, 2)  # (B, C, T), snippet embeddings E as columns
        cls, reg = self.classify(e).split(self.num_classes + 1, dim=1)
        # H_b(E)[b, k, t]: foreground of time k seen from snippet t (the paper's column t); row t in actseg
        masks = self.mask_head(e).transpose(1, 2)
        return cls, reg, masks


def snippet_statistics(features: torch.Tensor, num_snippets: int) -> torch.Tensor:
    """The demo's snippet encoder: per-channel mean and standard deviation over each snippet's frames,
    ``(C, F)`` → ``(2C, T)`` (``T`` equal spans of the ``F`` frames, as ``adaptive_avg_pool1d`` cuts them)."""
    mean = F.adaptive_avg_pool1d(features[None], num_snippets)[0]
    square = F.adaptive_avg_pool1d(features[None] ** 2, num_snippets)[0]
    return torch.cat([mean, (square - mean**2).clamp_min(0).sqrt()])


def prepare(videos: list, num_snippets: int, num_classes: int, *, encode: bool) -> list[dict]:
    """Per video: snippet features ``(C, T)``, the class ``(T,)`` and global-mask ``(T, T)`` targets, the
    ground truth ``Segments`` in frames and the frames per snippet. ``videos``: ``(features (C, F), Segments
    in frames, F, video_id)``. Snippet features are the stored features resampled to ``T``
    (``resample_snippets``, §4), or with ``encode`` :func:`snippet_statistics` of the frame features."""
    out = []
    for features, segments, frames, video_id in videos:
        features = torch.as_tensor(features, dtype=torch.float32)
        snippets = snippet_statistics(features, num_snippets) if encode else resample_snippets(features, num_snippets)
        masks, classes = segments_to_global_masks([segments], num_snippets, num_classes=num_classes,
                                                  duration=float(frames))
        out.append({"features": snippets, "classes": classes[0], "masks": masks[0], "segments": segments,
                    "scale": frames / num_snippets, "video_id": video_id})
    return out


def loss_terms(cls: torch.Tensor, reg: torch.Tensor, masks: torch.Tensor, classes: torch.Tensor,
               mask_target: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Eq. (5) and Eq. (6) as ``(sum over the batch, count)``: snippets for ``L_c``, foreground mask rows
    for ``L_m``."""
    k1 = cls.shape[1]
    multi_hot = F.one_hot(classes, k1).transpose(1, 2).float()  # (B, K + 1, T)
    l_c = (LAMBDA_FOCAL * focal_loss(cls, classes, gamma=FOCAL_GAMMA, reduction="sum")
           + (1 - LAMBDA_FOCAL) * hard_negative_bce_loss(reg, multi_hot, num_negatives=max(1, k1 // 10),
                                                        alpha=NEGATIVE_ALPHA, reduction="sum"))
    l_m = (biou_loss(masks, mask_target, reduction="sum")
           + DICE_WEIGHT * dice_loss(torch.sigmoid(masks), mask_target, factor=1.0, squared=True, smooth=0.0,
                                     present_only=True, reduction="sum"))
    return {"class": (l_c, torch.tensor(classes.numel())), "mask": (l_m, (mask_target.sum(-1) > 0).sum())}


def train(model: nn.Module, data: list[dict], ctx: _common.Context, *, lr: float) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    start = time.perf_counter()
    for epoch in range(ctx.args.epochs):
        model.train()
        total, steps = 0.0, 0
        for indices, weight in _common.global_batches(len(data), ctx, epoch):
            batch = [data[i] for i in indices]
            x = torch.stack([v["features"] for v in batch]).to(ctx.device)
            classes = torch.stack([v["classes"] for v in batch]).to(ctx.device)
            mask_target = torch.stack([v["masks"] for v in batch]).to(ctx.device)
            terms = loss_terms(*model(x), classes, mask_target)
            loss = sum(_common.distributed_loss(s, c, ctx, weight) for s, c in terms.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        value = _common.global_sum(total, ctx) / ctx.world_size / max(steps, 1)
        if epoch % 10 == 9 or epoch == ctx.args.epochs - 1:
            ctx.print(f"epoch {epoch + 1:3d}  loss {value:.4f}  ({time.perf_counter() - start:.1f} s)")


@torch.no_grad()
def evaluate(model: nn.Module, data: list[dict], ctx: _common.Context, mode: str = "span") -> dict[str, float]:
    """mAP@tIoU (ActivityNet protocol) over the dataset; each rank decodes its shard, the metric gathers."""
    model.eval()
    metric = DetectionMAP(tiou_thresholds=ACTIVITYNET_TIOU_THRESHOLDS, protocol="activitynet")
    for i in _common.shard(len(data), ctx):
        video = data[i]
        cls, _, masks = model(video["features"][None].to(ctx.device))
        proposals = decode_global_masks(torch.softmax(cls, 1), torch.sigmoid(masks), num_anchors=NUM_ANCHORS,
                                        mode=mode, min_score=MIN_SCORE, max_candidates=MAX_CANDIDATES,
                                        nms="soft", nms_kwargs={"sigma": SOFT_NMS_SIGMA})[0]
        frames = Segments(proposals.starts * video["scale"], proposals.ends * video["scale"], proposals.labels,
                          scores=proposals.scores)
        metric.update({video["video_id"]: frames}, {video["video_id"]: video["segments"]})
    result = metric.compute()
    values = dict(zip(ACTIVITYNET_TIOU_THRESHOLDS.tolist(), result["mAP"].tolist()))
    return {"mAP@0.5": values[0.5], "mAP@0.75": values[0.75], "mAP@0.95": values[0.95],
            "average_mAP": float(result["average_mAP"])}


def load_videos(args) -> tuple[list, list, tuple[str, ...]]:
    """``([(features (C, F), Segments in frames, F, video_id), ...] × 2, class_names)`` (see the docstring)."""
    if args.data is not None:
        from actseg.data import ActivityNetDataset

        json_file, features = args.data / args.annotations, args.data / "features"
        train_set = ActivityNetDataset(json_file, features, subset="training")
        sets = [train_set, ActivityNetDataset(json_file, features, subset="validation",
                                              class_names=train_set.class_names)]
        out = [[(it["features"], it["segments"], it["features"].shape[-1], it["video_id"])
                for it in (ds[i] for i in range(len(ds)))] for ds in sets]
        return out[0], out[1], tuple(sets[0].class_names)
    train_videos, test_videos, names = _common.load_tas_videos(args)
    out = [[(f, labels_to_segments(y.numpy()), int(y.shape[0]), v) for f, y, v in split]
           for split in (train_videos, test_videos)]
    return out[0], out[1], names


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser(__doc__.splitlines()[0], epochs=150, quick_epochs=30)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--mode", choices=("span", "runs"), default="span", help="decode_global_masks mode")
    parser.add_argument("--snippets", type=int, default=100, help="T, snippets per video (§4: 100)")
    parser.add_argument("--annotations", default="activity_net.v1-3.min.json", help="JSON file name in --data")
    args = parser.parse_args(argv)
    if args.snippets < 1:
        raise SystemExit("error: --snippets must be >= 1")
    ctx = _common.setup(args)
    train_videos, test_videos, class_names = load_videos(args)
    num_classes = len(class_names)
    encode = args.data is None  # the demo's raw sensor frames need a snippet encoder; stored features do not
    train_data = prepare(train_videos, args.snippets, num_classes, encode=encode)
    test_data = prepare(test_videos, args.snippets, num_classes, encode=encode)
    size = QUICK if args.quick else FULL
    model = _common.wrap(GSMT(train_data[0]["features"].shape[0], num_classes, args.snippets, **size), ctx)
    ctx.print(f"GSMT: {len(train_data)} training / {len(test_data)} test videos, {num_classes} classes, "
              f"T = {args.snippets} snippets, {ctx.world_size} process(es) on {ctx.device}")
    train(model, train_data, ctx, lr=args.lr)
    metrics = evaluate(model, test_data, ctx, args.mode)
    _common.print_metrics(metrics, ctx, "test mAP@tIoU (ActivityNet protocol, fractions)")
    _common.finish(model, metrics, ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
