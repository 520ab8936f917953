"""InterAct (anonymous ICLR submission, "Interaction Makes Better Segmentation: An Interaction-Based Framework
for Temporal Action Segmentation"): DSMI skeleton encoder + MFAI temporal model, trained and evaluated.

Composed only from actseg:

=================================================  ====================================================
paper (InterAct)                                   actseg
=================================================  ====================================================
§3.1 pipeline, Fig. 2: skeleton → DSMI → MFAI      :class:`InterAct` below (``encoder``, ``temporal``)
§3.2 Eq. (1) k-adjacencies, ``K = 13`` (§4.3)      ``actseg.layers.multiscale_adjacency(edges, V, 13)``
§3.2 Eq. (2)–(3) DSMI: three multi-scale GCNs      ``actseg.layers.DSMI`` (``MultiScaleGraphConv`` ×3,
(absolute, relative, motion), two SAttn + MLP      attention over joints, mean over joints)
fusions
§3.3 multi-scale extractor, QBlock (Eq. 4),        ``actseg.layers.MFAI`` (``H = 3`` interaction
FBlock (Eq. 5), ``P_a^r = Q_a^r·F_a^r``,           stages, Table 6); ``out.action_logits[r]``,
``P_b^r = Q_b^r·F_b^r``                            ``out.boundary_logits[r]``, ``r = 1..H``
§3.4 Eq. (6) class masks ``M``                     ``actseg.targets.class_mask_targets``
§3.4 Eq. (7) ``λ_focal L_focal + λ_dice L_dice``   ``actseg.losses.focal_loss`` (γ = 2) +
on the classes present (``P_a^r(M)``)              ``dice_loss(softmax, M, present_only=True)``
§3.4 Eq. (8) BCE against ``g(Y_b)``                ``actseg.losses.boundary_loss`` with
                                                   ``actseg.targets.gaussian_boundary_targets``
§3.4 Eq. (9) ``L_a + γ L_b``; λ = γ = 1 (§4.3)     summed over ``r = 1..H``
§3.3 inference: "label smoothing strategy"         ``actseg.postprocess.refine_by_boundaries(P_a^H,
(Ishikawa et al., 2021) on ``P_a^H``, ``P_b^H``    P_b^H, threshold=0.5)`` (ASRF's refinement)
§4.2 Acc, Edit, F1@{10, 25, 50}                    ``actseg.metrics.SegmentationMetrics(protocol="mstcn")``
=================================================  ====================================================

Optimisation as §4.3: AdamW with a cosine learning-rate schedule over all steps. The paper trains 66–212
epochs at lr 5e-4 (PKU-MMD) or 1e-4 (the others) with batches of 1 or 4 videos; with ``--data`` this
script uses lr 5e-4 and 66 epochs (``--lr``, ``--epochs`` to change), on the synthetic data a short run
with a larger step: 5e-3 for ``--quick`` (8 epochs; in our runs 1e-2 diverged and 1e-3 still gave
one label per video after 6 epochs), 2e-3 for the full setting (20 epochs). Global batches of
``--batch-size`` 2 videos, each video a forward pass at its own length.

**BatchNorm.** DSMI's graph convolutions end in BatchNorm. Here each video is encoded alone and its
BatchNorm statistics come from that video, in training and in evaluation (``track_running_stats`` off):
this is what BatchNorm computes with the paper's batch size of 1 on MCFS and Breakfast, and it makes a
video's features independent of which videos share its batch or its rank, so a ``torchrun`` run (DDP)
computes the single-process gradients and reports the single-process metrics.

**Two processes, the same numbers.** With one video per rank and step (``--batch-size`` = number of
processes: the default 2 under ``torchrun --nproc_per_node=2``) the runs are bit for bit the same (the
losses of every epoch and the metrics; checked for ``--quick`` and the full setting): each video's
gradient is computed alone in both, and a sum of two gradients does not depend on the order of its
terms. With more videos per rank the sums are grouped differently, equal up to float rounding, which over
a long run can move a few predictions. Evaluation is exact in any case (one rank per video, the metric
accumulators gather).

**Synthetic data** (default): ``examples/_synthetic.py``'s 2D skeleton videos (COCO-17 stick figure,
six actions with distinct joint motions, 3–6 actions per video; see that module). DSMI takes the ``x, y``
joint coordinates, centred on the video's mean hip position and divided by its median torso length (y
up) — the *absolute* modality keeps the body's movement through the frame (walking, hopping), which the
per-frame centring of ``_synthetic.gcn_input`` would remove; DSMI derives the relative (to the left hip,
COCO-17 has no mid-hip joint) and motion modalities itself.

**Real data** (``--data DIR``): the MS-TCN folder layout (``actseg.data.MSTCNFolderDataset``: ``mapping.txt``,
``splits/{train,test}.split<k>.bundle``, ``groundTruth/<video>.txt``, ``features/<video>.npy``).

* ``--joints LAYOUT`` (``ntu-25`` for PKU-MMD, ``openpose-25`` for MCFS-22/130, ``lara-19`` for LARa,
  ``coco-17``): skeleton datasets. Each feature file holds the skeleton flattened to ``(C·V, T)``, row
  ``c·V + v`` = coordinate ``c`` of joint ``v`` (``np.transpose(x, (2, 1, 0)).reshape(C * V, T)`` for a
  ``(T, V, C)`` array such as MCFS's), fed to DSMI (centre joint: 0 in ``ntu-25`` and ``lara-19``, 8 in
  ``openpose-25``, as DeST's preprocessing; 11 in ``coco-17``).
* without ``--joints``: frame features (I3D ``(2048, T)`` for Breakfast / 50Salads), fed to MFAI directly —
  InterAct's RGB setting (Table 1).

``--split K`` picks the bundle. Class 0 is not treated as background (``--background`` lists ids that are).

**Trivial baseline.** ``majority_*``: every frame labelled with the most frequent class of the training
frames. The script also prints the raw ``argmax P_a^H`` metrics (``raw_*``) to show what the boundary
refinement adds.

Runs::

    python examples/interact.py --quick            # CI: < 60 s on a CPU
    python examples/interact.py                    # the full synthetic setting
    python examples/interact.py --data /data/MCFS-22 --joints openpose-25 --split 1 --epochs 132
    torchrun --nproc_per_node=2 examples/interact.py --quick     # DDP (gloo on CPU): the same metrics

Measured (seed 0, one thread of a CPU shared with other jobs; ``torchrun --nproc_per_node=2`` gives the
same numbers to the last digit), percent:

=========  ========  ======================================  =====================  ==================
setting    videos    Acc / Edit / F1@{10, 25, 50}            raw argmax P_a^H       majority class
=========  ========  ======================================  =====================  ==================
--quick    32 / 16   78.9 / 79.2 / 81.7, 81.7, 80.0          76.6 / 41.6 / …, 41.1  23.7 / 16.5 / …, 0
full       120 / 40  99.1 / 99.0 / 99.4, 99.4, 99.4          99.7 / 96.1 / …, 97.1  14.7 / 12.9 / …, 0
=========  ========  ======================================  =====================  ==================

CPU time: 15 s (``--quick``, 8 epochs) and 5 min (full, 20 epochs). The boundary refinement is what
turns per-frame accuracy into segments: without it the quick run's edit score is 42, with it 79.
(Re-measured after the 2026-12-05 CPU training changes, which move results by float rounding: the
dilated convolutions of MFAI's blocks run as shifted products when training on the CPU.)
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import finish, global_batches, global_sum, parser, print_metrics, setup, shard, unwrap, wrap
from _synthetic import ACTIONS, COCO_EDGES, skeleton_videos

from actseg.io import read_label_file
from actseg.layers import DSMI, MFAI, multiscale_adjacency, skeleton_edges
from actseg.losses import boundary_loss, dice_loss, focal_loss
from actseg.metrics import SegmentationMetrics
from actseg.postprocess import refine_by_boundaries
from actseg.targets import class_mask_targets, gaussian_boundary_targets

# Synthetic settings: videos, actions per video, frames per action, model width and depth, epochs, AdamW lr.
SETTINGS = {
    "quick": {"train": 32, "test": 16, "segments": (3, 5), "segment_frames": (20, 40), "channels": 32,
              "num_scales": 4, "epochs": 8, "lr": 5e-3},
    "full": {"train": 120, "test": 40, "segments": (3, 6), "segment_frames": (30, 70), "channels": 64,
             "num_scales": 5, "epochs": 20, "lr": 2e-3},
}
# --data: the paper's model (D = 64, six scales) and its PKU-MMD learning rate (§4.3; 1e-4 on the others).
REAL = {"channels": 64, "num_scales": 6, "epochs": 66, "lr": 5e-4}
# Skeleton layouts of --joints: (edges, joints, centre joint).
LAYOUTS = {"coco-17": (list(COCO_EDGES), 17, 11), "ntu-25": (skeleton_edges("ntu-25"), 25, 0),
           "openpose-25": (skeleton_edges("openpose-25"), 25, 8), "lara-19": (skeleton_edges("lara-19"), 19, 0)}


@dataclass
class Video:
    """One video: ``inputs`` ``(C, T, V)`` skeleton or ``(C, T)`` features (float32), ``labels (T,)`` int64."""

    inputs: np.ndarray
    labels: np.ndarray
    video_id: str


def skeleton_coordinates(keypoints: np.ndarray) -> np.ndarray:
    """``(T, 17, 2)`` image keypoints → ``(2, T, 17)`` absolute coordinates: centred on the video's mean hip
    position, divided by its median shoulder–hip distance, y up; missing joints (NaN) at 0."""
    kp = keypoints.astype(np.float64)
    hip = np.nanmean(kp[:, [11, 12]], axis=(0, 1))
    torso = np.nanmedian(np.linalg.norm(np.nanmean(kp[:, [5, 6]], 1) - np.nanmean(kp[:, [11, 12]], 1), axis=-1))
    xy = (kp - hip) / (torso if np.isfinite(torso) and torso > 0 else 1.0)
    xy[..., 1] *= -1
    return np.nan_to_num(xy, nan=0.0).transpose(2, 0, 1).astype(np.float32)


class InterAct(nn.Module):
    """InterAct (Fig. 2): ``DSMI`` (skeletons; skipped for frame features) then ``MFAI``.

    ``forward(x, mask=None)``: ``x`` ``(B, C_in, T, V)`` skeletons (or ``(B, C_in, T)`` features) →
    ``actseg.layers.MFAIOutput`` (``action_logits (H+1, B, A, T)``, ``boundary_logits (H+1, B, 1, T)``,
    probabilities, ...). DSMI's BatchNorms use the statistics of the batch they are given, in training and
    evaluation (see the module docstring); the script gives them one video at a time.
    """

    def __init__(self, in_channels: int, num_classes: int, joints: tuple | None, channels: int = 64,
                 num_scales: int = 6, num_interaction_scales: int = 3) -> None:
        super().__init__()
        self.encoder = None
        if joints is not None:
            edges, num_joints, centre = joints
            self.encoder = DSMI(in_channels, channels, multiscale_adjacency(edges, num_joints, 13), centre)
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.track_running_stats = False
                    m.running_mean = m.running_var = m.num_batches_tracked = None
            in_channels = channels
        self.temporal = MFAI(in_channels, num_classes, channels=channels, num_scales=num_scales,
                             num_interaction_scales=num_interaction_scales, num_heads=4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        if self.encoder is not None:
            x = self.encoder(x, mask)
        return self.temporal(x, mask)


def video_loss(out, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (7)–(9) of one video summed over ``r = 1..H`` and its terms: ``(frame-normalised sum,
    row-normalised sum)`` — the focal and boundary terms are means over frames, the dice term a mean over
    the ``(video, present class)`` rows, so each part is divided by its own global count."""
    y = labels[None]
    masks = class_mask_targets(y, num_classes)                  # M, Eq. (6)
    target_b = gaussian_boundary_targets(y)                     # g(Y_b), Eq. (8)
    per_frame = per_row = 0.0
    for r in range(1, out.action_logits.shape[0]):
        per_frame = per_frame + focal_loss(out.action_logits[r], y, reduction="sum")
        per_frame = per_frame + boundary_loss(out.boundary_logits[r], target_b[:, None], reduction="sum")
        per_row = per_row + dice_loss(out.action_probs[r], masks, present_only=True, reduction="sum")
    return per_frame, per_row


def train(model: nn.Module, data, num_classes: int, ctx, epochs: int, lr: float) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    steps_per_epoch = len(global_batches(len(data), ctx, 0))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, epochs * steps_per_epoch))
    model.train()
    for epoch in range(epochs):
        start, total = time.time(), 0.0
        for indices, weight in global_batches(len(data), ctx, epoch):
            videos = [data[i] for i in indices]
            # The single-process loss of the global batch divides the frame terms by its frame count and the
            # dice term by its (video, present class) rows: both counts are summed over the ranks first.
            frames = global_sum(sum(v.labels.size for v in videos) if weight else 0, ctx)
            rows = global_sum(sum(np.unique(v.labels).size for v in videos) if weight else 0, ctx)
            scale_frames, scale_rows = ctx.world_size * weight / frames, ctx.world_size * weight / rows
            optimizer.zero_grad(set_to_none=True)
            for j, video in enumerate(videos):  # one video per forward: its own length and BatchNorm statistics
                last = j == len(videos) - 1  # DDP all-reduces the accumulated gradients on the last backward
                with model.no_sync() if ctx.distributed and not last else contextlib.nullcontext():
                    x = torch.from_numpy(video.inputs)[None].to(ctx.device)
                    y = torch.from_numpy(video.labels).to(ctx.device)
                    per_frame, per_row = video_loss(model(x), y, num_classes)
                    loss = per_frame * scale_frames + per_row * scale_rows
                    loss.backward()
                total += float(loss.detach()) / ctx.world_size
            optimizer.step()
            schedule.step()
        total = global_sum(total, ctx)  # every rank adds its share of each batch loss
        ctx.print(f"epoch {epoch + 1:3d}/{epochs}  loss {total / steps_per_epoch:.4f}  ({time.time() - start:.1f} s)")


@torch.no_grad()
def evaluate(model: nn.Module, data, ctx, majority: int, background: list[int]) -> dict[str, float]:
    """Segment this rank's share of ``data`` (one video per forward); the accumulators gather all ranks."""
    model = unwrap(model).eval()
    refined, raw, base = (SegmentationMetrics(background=background, protocol="mstcn") for _ in range(3))
    for index in shard(len(data), ctx):
        video = data[index]
        x = torch.from_numpy(video.inputs)[None].to(ctx.device)
        y = torch.from_numpy(video.labels)[None]
        out = model(x)
        probs, bound = out.action_probs[-1].cpu(), out.boundary_probs[-1].cpu()  # P_a^H (1, A, T), P_b^H (1, 1, T)
        pred = refine_by_boundaries(probs, bound, threshold=0.5, from_logits=False)  # label smoothing (ASRF)
        refined.update(pred, y, video_ids=[video.video_id])
        raw.update(probs, y, video_ids=[video.video_id])
        base.update(torch.full_like(y, majority), y, video_ids=[video.video_id])
    out = {}
    for prefix, metric in (("", refined), ("raw_", raw), ("majority_", base)):
        values = metric.compute()
        out.update({prefix + k: values[k] for k in ("accuracy", "edit", "f1@10", "f1@25", "f1@50")})
    return out


def synthetic(setting: dict, seed: int) -> tuple[list[Video], list[Video]]:
    def convert(videos):
        return [Video(skeleton_coordinates(v.keypoints), v.labels, v.video_id) for v in videos]

    kw = {"segments": setting["segments"], "segment_frames": setting["segment_frames"]}
    return (convert(skeleton_videos(setting["train"], seed=seed + 1000, **kw)),
            convert(skeleton_videos(setting["test"], seed=seed + 2000, **kw)))


class FolderVideos:
    """The videos of one split of an MS-TCN folder (``actseg.data.MSTCNFolderDataset``), read when indexed
    (a Breakfast split does not fit in memory): ``videos[i]`` is a :class:`Video`, skeleton rows
    ``(C·V, T)`` reshaped to ``(C, T, V)`` when ``joints`` is given."""

    def __init__(self, root: Path, split: str, split_index: int, joints: tuple | None) -> None:
        from actseg.data import MSTCNFolderDataset

        self.dataset = MSTCNFolderDataset(root, split, split_index=split_index)
        self.num_joints = None if joints is None else joints[1]
        rows = self.dataset.num_channels
        if self.num_joints is not None and rows % self.num_joints:
            raise SystemExit(f"interact.py: error: --data {root}: {rows} feature rows are not C·V for "
                             f"V = {self.num_joints} joints")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Video:
        item = self.dataset[index]
        x = item["features"].numpy()
        if self.num_joints is not None:
            x = x.reshape(x.shape[0] // self.num_joints, self.num_joints, -1).transpose(0, 2, 1)  # (C, T, V)
        return Video(np.ascontiguousarray(x), item["labels"].numpy(), item["video_id"])

    def labels(self) -> list[np.ndarray]:
        """Every video's frame labels, from ``groundTruth/`` (no feature file is read)."""
        return [read_label_file(self.dataset.root / "groundTruth" / f"{v}.txt", self.dataset.mapping)
                for v in self.dataset.video_ids]


def main() -> None:
    p = parser(__doc__.split("\n", 1)[0], epochs=SETTINGS["full"]["epochs"], quick_epochs=SETTINGS["quick"]["epochs"],
               batch_size=2)
    p.add_argument("--joints", choices=sorted(LAYOUTS), default=None,
                   help="--data only: skeleton layout of the feature files (default: frame features, no DSMI)")
    p.add_argument("--split", type=int, default=1, help="--data only: split index of the bundles")
    p.add_argument("--background", type=int, nargs="*", default=[], help="class ids excluded from Edit/F1")
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default: per setting, see above)")
    args = p.parse_args()
    setting = SETTINGS["quick" if args.quick else "full"]
    if args.data is not None:
        setting = dict(setting, **REAL)
        if args.epochs is None and not args.quick:
            args.epochs = REAL["epochs"]
    ctx = setup(args)
    if args.data is not None:
        joints = LAYOUTS[args.joints] if args.joints else None
        train_set, test_set = (FolderVideos(args.data, k, args.split, joints) for k in ("train", "test"))
        num_classes = len(train_set.dataset.class_names)
        train_labels = train_set.labels()
        source = f"{args.data} (split {args.split}, {'skeletons ' + args.joints if joints else 'frame features'})"
    else:
        joints = LAYOUTS["coco-17"]
        train_set, test_set = synthetic(setting, args.seed)
        num_classes = len(ACTIONS)
        train_labels = [v.labels for v in train_set]
        source = "synthetic 2D skeletons (COCO-17)"
    in_channels = train_set[0].inputs.shape[0]
    counts = np.bincount(np.concatenate(train_labels), minlength=num_classes)
    ctx.print(f"InterAct on {source}: {len(train_set)} training / {len(test_set)} test videos, {num_classes} "
              f"classes; {ctx.world_size} process(es) on {ctx.device}")
    model = wrap(InterAct(in_channels, num_classes, joints, setting["channels"], setting["num_scales"]), ctx)
    start = time.time()
    train(model, train_set, num_classes, ctx, args.epochs, args.lr or setting["lr"])
    metrics = evaluate(model, test_set, ctx, int(counts.argmax()), args.background)
    ctx.print(f"trained and evaluated in {time.time() - start:.1f} s")
    print_metrics(metrics, ctx, title="segmentation (ms-tcn protocol, percent)")
    finish(model, metrics, ctx)


if __name__ == "__main__":
    main()
