"""RTK: action segmentation by refined temporal keypoints (Jiang et al., ICCV 2023), composed from actseg.

Paper: "Video Action Segmentation via Contextually Refined Temporal Keypoints" (RTK), see
``docs/papers/rtk.md`` for the equation → API table. The pipeline of this script:

- **Model** (§4.1 "a modified ASFormer backbone ... the classification and keypoints generation are
  integrated into one shared head for all encoder and decoders"): ``actseg.layers.ASFormer`` whose
  ``K + 2`` output channels are the shared head of every stage: ``K`` category logits ``Ŷ^cc``, one
  action-point localisation logit ``Ŷ^cl`` and one boundary logit ``Ŷ^b`` (§3.1, Eq. (2)). The
  decoders refine the softmax of the previous stage's whole head, as ASFormer's decoders do.
- **Targets** (§3.1, §4.1): ``actseg.targets.action_point_heatmaps`` (``r_c = 0.8 l``,
  ``σ_c = 0.25 r_c``, positive region ``0.32 l``) and ``actseg.targets.boundary_heatmap``
  (``r_b = 33``, ``σ_b = 0.5 r_b``, ``end="exclusive"``: a boundary point is the first frame of a
  segment, the meaning ``reassemble`` reads).
- **Loss** (Eq. (1), (3)): on every stage, ``λ1 · L^c_loc + λ2 · L^c_cat + λ3 · L^b_loc`` with
  ``actseg.losses.focal_heatmap_loss`` (``α = 2, β = 4``, ``γ = 0.75`` action points, ``0.8``
  boundaries) and the cross-entropy of the category head on the segments (see "Demo settings"),
  ``λ1 = λ3 = 100``, ``λ2 = 1`` (with ``--data``) — ``actseg.losses.KeypointLoss``, written here as
  sums over the rank's videos divided by the batch's global counts (positive frames, category frames)
  so that DDP gives the one-process gradient (``tests/test_examples.py`` checks that the one-process
  value equals ``KeypointLoss``).
- **Post-processing** (§3.2, §3.3): ``actseg.postprocess.watershed_peaks`` on the class heatmaps
  ``Ŷ^c = Ŷ^cl · Ŷ^cc`` (threshold 0.4, at most ``0.1 T`` candidates, §4.5) and on ``Ŷ^b``
  (threshold 0.2), then the rule-based re-assembly ``actseg.postprocess.reassemble`` (Eq. (6a)–(6d)).
  A video without any action point (an untrained model) is filled with its most likely class.
- **Metrics** (§4.1): ``actseg.metrics.SegmentationMetrics`` (Acc, Edit, F1@{10, 25, 50}) with
  ``protocol="asformer"`` (RTK builds on the ASFormer code and compares with its numbers) of the full
  pipeline (keypoints + refinement + re-assembly: Table 2's last row, KP + RS + GCN + GM); beside it the
  same candidates re-assembled with the generator's own classes (``unrefined_*``: Table 2's "KP" without
  RS) and the frame-wise argmax of the category head of the last stage (``framewise_*``: without KP, what
  the keypoints add).
- **Refinement** (§3.2 "Refinement via Graph Matching", Eq. (4)–(5)): the candidate embeddings ``I`` are
  the generator's last-stage backbone features ``(B, F, T)`` (the input of its ``1x1`` head, ``F = 32``).
  In training, ``actseg.layers.keypoint_graphs`` builds per video the ground-truth target graph and a source
  graph of exactly ``M`` points sampled from the current watershed candidates (one per ground-truth region,
  the compromise strategy where a region has none; boundary regions ``r_b``); ``actseg.layers.
  KeypointRefinement`` (PCA-GM embeddings ``G``, ``N'`` = 2 × ``Conv1d(1)`` + ReLU, 32 hidden channels,
  Sinkhorn temperature 0.5 instead of PCA-GM's 0.05: with 0.05 the unnormalised backbone features give
  near-hard matchings from the start and ``L_perm`` stays at 25–45 per node instead of falling from 3.0 to
  1.9, measured with ``--quick --epochs 16``) gives the soft matching ``S`` and re-classification logits,
  and ``L = L_KG + L_perm + L_CR`` (Eq. (5):
  ``actseg.losses.permutation_loss`` over the batch's global ``Σ n1`` source nodes, the cross-entropy of the
  action-point nodes over their global count; boundary nodes are category-agnostic). At inference every
  candidate is a node (``keypoint_graphs(features, None, ...)``, ``G`` from matching the source graph with
  itself); each action point takes the head's class, with the score ``Ŷ^cl_t · softmax(logits)_c`` (Eq. (2)
  with the refined category), before ``reassemble``; the boundary candidates are kept as they are.
  ``--refine-offsets`` also trains the head's position offsets (smooth L1 in units of ``r_b`` on the detected
  source nodes; not in the paper) and moves every candidate by them: a negligible effect on the demo
  (Acc 96.77 vs 96.64 full, 62.73 vs 62.64 ``--quick``; Edit unchanged), so off by default and
  ``L`` is exactly Eq. (5).
- **Schedule** (§4.1 "Training process": 80 of 120 epochs train the keypoint generator alone, the
  graph-matching module joins for 20 epochs, the last 20 train all modules jointly): the first 2/3 of the
  epochs train ``L_KG`` only, then ``L_perm + L_CR`` join (the paper's ``16x`` batch for the matching phase
  is not used). The node embeddings are detached (the refinement loss does not reach the backbone): Table 3's
  "E.D." row, the paper's best configuration (the same numbers as the full model in Table 2).
  ``--end-to-end`` lets the refinement loss reach the backbone in the last 1/6 of the epochs instead; on the
  demo (``λ = 1, 1, 1``) the permutation loss (2–3 per node) then outweighs ``L_KG`` (< 1) and spoils the
  heatmaps (measured, full: keypoints + re-assembly Acc 85.3 unrefined / 84.2 refined with ``--end-to-end``
  vs 96.6 / 96.6 detached; ``--quick``: 59.5 vs 62.6). Source-graph draws come from a ``torch.Generator``
  seeded with ``seed · 1000 + rank``.
- **DDP**: the generator and the refinement head are wrapped apart (the head joins late, and a DDP module
  expects a gradient for every parameter in every step; the unused offset output takes part with weight 0);
  both losses are sums over the rank's videos divided by the global counts, as ``L_KG``.

Data: the BasicMotions demo of ``actseg.data.load_demo`` (6 smartwatch channels at 10 Hz; every video
concatenates recordings of Standing, Running, Walking and Badminton), or ``--data DIR`` with the
MS-TCN folder layout of GTEA / 50Salads / Breakfast (``features/*.npy``, ``groundTruth/*.txt``,
``splits/{train,test}.split<N>.bundle``, ``mapping.txt``; ``--split N``).

Optimisation: Adam (lr 5e-4, ASFormer's; weight decay 1e-5), batches of 4 videos. The paper trains 120
epochs; the full setting here trains 40 (ASFormer with 6 layers, 32 channels, 2 decoders), ``--quick`` 8
(5 layers, 1 decoder, every 2nd frame, lr 2e-3).

Demo settings: the category target covers each whole segment (``category_region="segment"``: §3.1 says
``Ŷ^cc`` is "the same as the logit-probabilities in frame-wise classification"), and on the demo the
three terms weigh ``λ = 1, 1, 1``: with the paper's ``100, 1, 100`` the two heatmap terms dominate the
gradient and the category head stays near chance on these 30 short videos (measured: frame-wise
accuracy 31 % after 40 epochs; ``--quick``: 38 % vs 81 % with ``1, 1, 1``). ``--lambdas`` sets them;
with ``--data`` the default is the paper's.

Measured (seed 0, one CPU thread per process; Acc, Edit, F1@{10,25,50}):

- full — refined keypoints + re-assembly 96.7, 98.7, 99.5/99.5/99.5 (96.6 before the 2026-12-05 CPU
  training changes, which move results by float rounding; the other numbers here were measured before
  them and may differ in the last digit); unrefined the same (the trained head
  re-classifies every candidate as the generator does: ``L_CR`` ends at 0.07); category argmax 97.0, 96.4,
  97.8/97.8/97.8 (the keypoints remove the over-segmentation, as the paper's Table 2).
- ``--quick`` — refined 62.6, 53.1, 67.1/67.1/43.8; unrefined 66.2, 58.8, 74.0/74.0/47.9 (the head trains
  only 3 of the 8 epochs); argmax 85.4, 62.2, 72.4/71.5/64.2.
- ``--end-to-end``: full 84.2, 85.4, 91.2/91.2/83.0 (unrefined 85.3, argmax 95.5); ``--quick`` 59.5, 51.6,
  68.1/65.2/40.6 (refined = unrefined; argmax 93.3).
- ``--refine-offsets``: full 96.8, 98.7, 99.5/99.5/99.5; ``--quick`` 62.7, 53.1, 67.1/67.1/45.2.
- Two processes evaluating the same checkpoint report the same numbers exactly; two processes *training*
  differ by dropout draws, source-graph draws and float summation (full: 96.7, 98.7, 99.5/99.5/99.5 refined
  and unrefined; argmax 96.4, 92.7, 95.8/95.8/95.8).
- Time (2-core CPU shared with ~8 other jobs, load 2.5–9): ``--quick`` 8 s wall at load 2.5 (7.5 s CPU),
  12–40 s at load 5–8; full 75 s at load 4.

    python examples/rtk.py --quick
    python examples/rtk.py                                     # full setting
    torchrun --nproc_per_node=2 examples/rtk.py --quick        # DDP: the same dataset metrics
    python examples/rtk.py --end-to-end --refine-offsets       # refinement loss into the backbone; offsets
    python examples/rtk.py --no-refine                         # the keypoint generator alone
    python examples/rtk.py --data data/gtea --split 1 --epochs 120
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

from actseg.layers import ASFormer, KeypointRefinement, keypoint_graphs
from actseg.losses import focal_heatmap_loss, permutation_loss
from actseg.metrics import SegmentationMetrics
from actseg.postprocess import Keypoints, reassemble, watershed_peaks
from actseg.targets import action_point_heatmaps, boundary_heatmap

# §4.1
LAMBDA_ACTION, LAMBDA_CATEGORY, LAMBDA_BOUNDARY = 100.0, 1.0, 100.0
GAMMA_ACTION, GAMMA_BOUNDARY = 0.75, 0.8
ACTION_THRESHOLD, BOUNDARY_THRESHOLD = 0.4, 0.2
CANDIDATE_RATIO = 0.1  # §4.5: N_max = 0.1 T
# model sizes (ASFormer: 10 layers, 64 channels, 3 decoders); the full setting is train_basicmotions.py's ASFormer
FULL = {"num_layers": 6, "num_channels": 32, "num_decoders": 2, "channel_dropout": 0.1}
QUICK = {"num_layers": 5, "num_channels": 32, "num_decoders": 1, "channel_dropout": 0.0}
# §4.1 "Training process": 80 of 120 epochs train the keypoint generator alone, then the graph-matching module
# joins for 20 epochs, the last 20 train everything end to end
REFINE_START, END_TO_END = 80 / 120, 100 / 120
REFINE_HIDDEN = 32  # hidden channels of the PCA-GM layers and of N' (the backbone's F = 32)
# Sinkhorn temperature of the matching: with PCA-GM's 0.05 the (unnormalised) backbone features give near-hard
# matchings from the start and L_perm stays at 25-45 per node (measured, --quick --epochs 16); 0.5: 3.0 -> 1.9
SINKHORN_TAU = 0.5


class KeypointGenerator(nn.Module):
    """RTK's keypoint generator (§3.1, §4.1): ASFormer with one shared ``K + 2``-channel head per stage.

    ``forward(x (B, D, T), mask (B, T))`` → ``(S, B, K + 2, T)`` stage outputs; :func:`heads` splits them.
    ``return_features=True`` also returns the last stage's ``(B, F, T)`` backbone features (the input of
    its ``1x1`` output convolution): the candidate embeddings ``I`` of the refinement stage (Eq. (4)).
    """

    def __init__(self, in_channels: int, num_classes: int, *, num_layers: int = 10, num_channels: int = 64,
                 num_decoders: int = 3, channel_dropout: float = 0.3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = ASFormer(in_channels, num_classes + 2, num_layers=num_layers, num_channels=num_channels,
                                 num_decoders=num_decoders, channel_dropout=channel_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                return_features: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not return_features:
            return self.backbone(x, mask)
        stage = self.backbone.decoders[-1] if len(self.backbone.decoders) else self.backbone.encoder
        captured = []  # an ASFormer stage returns (logits, features)
        handle = stage.register_forward_hook(lambda module, args, output: captured.append(output[1]))
        try:
            out = self.backbone(x, mask)
        finally:
            handle.remove()
        # one call of the last stage for the padded batch, or one per video (ASFormer's ragged CPU path)
        return out, torch.cat([F.pad(h, (0, x.shape[-1] - h.shape[-1])) for h in captured], dim=0)


class RTK(nn.Module):
    """The keypoint generator and the graph-matching refinement stage (§3.2, Eq. (4)) of RTK, as one checkpoint.

    ``generator`` is :class:`KeypointGenerator`; ``refinement`` is ``actseg.layers.KeypointRefinement`` over the
    generator's ``num_channels``-wide backbone features. They are separate modules (and separate DDP wrappers,
    see :func:`main`) because the refinement joins the training late (§4.1).
    """

    def __init__(self, in_channels: int, num_classes: int, *, refine_hidden: int = REFINE_HIDDEN,
                 **size: float) -> None:
        super().__init__()
        self.generator = KeypointGenerator(in_channels, num_classes, **size)
        self.refinement = KeypointRefinement(int(size.get("num_channels", 64)), num_classes,
                                             hidden_channels=refine_hidden, sinkhorn_tau=SINKHORN_TAU)


def heads(out: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(..., K + 2, T)`` → category logits ``(..., K, T)``, action logits ``(..., T)``, boundary logits
    ``(..., T)``."""
    return out[..., :num_classes, :], out[..., num_classes, :], out[..., num_classes + 1, :]


def targets(labels: torch.Tensor, mask: torch.Tensor, region: float) -> dict[str, torch.Tensor]:
    """RTK §3.1 targets of a padded batch: action heatmap ``(B, T)``, categories ``(B, T)``, boundary heatmap."""
    action, categories = action_point_heatmaps(labels, mask=mask, category_region="segment")
    boundary = boundary_heatmap(labels, mask=mask, region=region, end="exclusive")
    return {"action": action, "categories": categories, "boundary": boundary}


def loss_terms(out: torch.Tensor, target: dict[str, torch.Tensor], mask: torch.Tensor,
               num_classes: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The three terms of Eq. (3), summed over the stages and this batch, with what each is divided by.

    Returns ``{"action": (sum, K_action), "category": (sum, N_category), "boundary": (sum, K_boundary)}``:
    ``KeypointLoss``'s value on one process is ``Σ_term λ_term · sum / max(count, 1)``.
    """
    category, action, boundary = heads(out, num_classes)
    sums = {"action": out.new_zeros(()), "category": out.new_zeros(()), "boundary": out.new_zeros(())}
    for s in range(out.shape[0]):
        sums["action"] = sums["action"] + focal_heatmap_loss(action[s], target["action"], mask, gamma=GAMMA_ACTION,
                                                             reduction="sum")
        sums["category"] = sums["category"] + F.cross_entropy(category[s], target["categories"], ignore_index=-100,
                                                              reduction="sum")
        sums["boundary"] = sums["boundary"] + focal_heatmap_loss(boundary[s], target["boundary"], mask,
                                                                 gamma=GAMMA_BOUNDARY, reduction="sum")
    counts = {"action": ((target["action"] == 1) & mask).sum(), "category": (target["categories"] != -100).sum(),
              "boundary": ((target["boundary"] == 1) & mask).sum()}
    return {k: (sums[k], counts[k]) for k in sums}


def candidates(out_last: torch.Tensor, num_classes: int, mask: torch.Tensor | None = None) -> tuple[list, list]:
    """Last-stage heads ``(B, K + 2, T)`` → per-video action-point and boundary candidates (§3.2 watershed).

    Action points: peaks of the class heatmaps ``Ŷ^c = Ŷ^cl · Ŷ^cc`` (Eq. (2)) above 0.4, at most ``0.1 T`` per
    video (§4.5; ``T`` of the padded batch); boundaries: peaks of ``Ŷ^b`` above 0.2. No gradient.
    """
    out_last = out_last.detach().float()
    category, action, boundary = heads(out_last, num_classes)
    length = out_last.shape[-1]
    class_heatmaps = torch.sigmoid(action)[:, None] * torch.softmax(category, 1)  # Eq. (2), (B, K, T)
    points = watershed_peaks(class_heatmaps, ACTION_THRESHOLD, mask=mask,
                             max_candidates=max(1, int(CANDIDATE_RATIO * length)))
    bounds = watershed_peaks(torch.sigmoid(boundary), BOUNDARY_THRESHOLD, mask=mask)
    return points, bounds


def decode(out_last: torch.Tensor, num_classes: int, features: torch.Tensor | None = None,
           head: nn.Module | None = None, *, offsets: bool = False) -> np.ndarray:
    """One video's last-stage head ``(K + 2, T)`` → frame labels ``(T,)`` via watershed peaks + re-assembly.

    With ``features`` ``(F, T)`` and the refinement ``head`` (§3.2, Eq. (4)): every candidate becomes a node of
    the source graph (``keypoint_graphs(features, None, ...)``), and each action point takes the class of the
    head's re-classification, with the score ``Ŷ^cl_t · softmax(logits)_c`` (Eq. (2) with the refined category);
    ``offsets=True`` also moves every candidate by the head's rounded offset before the re-assembly.
    """
    category, action, boundary = heads(out_last[None].float(), num_classes)
    length = out_last.shape[-1]
    points, bounds = candidates(out_last[None], num_classes)
    point, bound = points[0], bounds[0]
    if head is not None and len(point.positions):
        graphs = keypoint_graphs(features[None].float(), None, [point], [bound])
        refined = head(graphs.feat1, graphs.A1, graphs.n1)
        n = int(graphs.n1[0])
        positions, kinds = graphs.positions1[0, :n], graphs.kinds1[0, :n]
        if offsets:
            positions = (positions + refined.offsets[0, :n].round().long()).clamp(0, length - 1)
        act = kinds == 1
        probs = torch.softmax(refined.logits[0, :n][act].double(), -1)
        score, label = probs.max(-1)
        a_pos = positions[act]
        order = torch.argsort(a_pos, stable=True)
        score = torch.sigmoid(action[0, a_pos].double()) * score
        point = Keypoints(a_pos[order], score[order], label[order])
        b_pos = torch.sort(positions[~act], stable=True).values
        bound = Keypoints(b_pos, torch.sigmoid(boundary[0, b_pos].double()))
    segments = reassemble(point, bound, length)
    class_heatmaps = torch.sigmoid(action)[:, None] * torch.softmax(category, 1)
    fill = int(class_heatmaps[0].sum(-1).argmax())  # no action point: the most likely class everywhere
    return segments.to_labels(length, fill=fill)


def refinement_terms(head: nn.Module, features: torch.Tensor, out_last: torch.Tensor, labels: torch.Tensor,
                     mask: torch.Tensor, num_classes: int, *, region: float, generator: torch.Generator,
                     offsets: bool = False) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``L_perm`` and ``L_CR`` of Eq. (5) on a padded batch, as ``{"perm": (sum, Σ n1), "reclass": (sum, count)}``.

    The source graphs sample the watershed candidates of ``out_last`` ``(B, K + 2, T)`` (the generator's own
    last stage, no gradient) and gather their node features from ``features`` ``(B, F, T)``; the target graphs
    are the ground truth (``actseg.layers.keypoint_graphs``, boundary regions ``region`` frames). ``L_perm`` is
    ``permutation_loss`` summed (its ``"mean"`` divides by ``Σ n1``), ``L_CR`` the cross-entropy of the
    re-classified action points summed (boundary nodes are ignored). ``offsets=True`` adds ``"offset"``: the
    smooth-L1 loss of the head's offsets against the ground-truth offsets in units of ``region``, on the
    detected source nodes (an addition, not in the paper).
    """
    points, bounds = candidates(out_last, num_classes, mask)
    graphs = keypoint_graphs(features, labels, points, bounds, mask=mask, region=region, generator=generator)
    out = head(graphs.feat1, graphs.A1, graphs.n1, graphs.feat2, graphs.A2, graphs.n2)
    terms = {"perm": (permutation_loss(out.S, graphs.target, graphs.n1, graphs.n2, reduction="sum"), graphs.n1.sum()),
             "reclass": (F.cross_entropy(out.logits.flatten(0, 1), graphs.labels1.flatten(), ignore_index=-100,
                                         reduction="sum"), (graphs.labels1 != -100).sum())}
    if not offsets:  # the offset output takes part with weight 0: DDP expects a gradient for every parameter
        s, c = terms["reclass"]
        terms["reclass"] = (s + 0.0 * out.offsets.sum(), c)
    else:
        detected = graphs.detected
        terms["offset"] = (F.smooth_l1_loss(out.offsets[detected] / region, graphs.offsets[detected] / region,
                                            reduction="sum"), detected.sum())
    return terms


def train(model: nn.Module, head: nn.Module, videos: list, ctx: _common.Context, *, lr: float, region: float,
          num_classes: int, lambdas: tuple[float, float, float], parameters, offsets: bool = False,
          end_to_end: bool = False) -> None:
    """``ctx.args.epochs`` epochs of Adam on the per-rank shares of the global batches.

    ``model`` is the (DDP-wrapped) keypoint generator, ``head`` the (DDP-wrapped) refinement stage. Epochs
    before ``REFINE_START`` of the run train ``L_KG`` only; from there on ``L_perm + L_CR`` joins (Eq. (5)) on
    detached backbone features (Table 3's "E.D."); with ``end_to_end`` the gradient reaches the backbone from
    ``END_TO_END`` on (§4.1).
    """
    weights = dict(zip(("action", "category", "boundary"), lambdas))
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=1e-5)  # head: no gradient, no step before it joins
    graph_draws = torch.Generator().manual_seed(ctx.args.seed * 1000 + ctx.rank)  # source-graph sampling
    epochs = ctx.args.epochs
    refine_from, end_to_end_from = int(REFINE_START * epochs), int(END_TO_END * epochs)
    if ctx.args.no_refine:
        refine_from = end_to_end_from = epochs
    if not end_to_end:
        end_to_end_from = epochs
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        head.train()
        refine, joint = epoch >= refine_from, epoch >= end_to_end_from
        total, steps = 0.0, 0
        parts = {"perm": 0.0, "reclass": 0.0, "offset": 0.0}
        for indices, weight in _common.global_batches(len(videos), ctx, epoch):
            features, labels, mask = _common.pad_videos([videos[i] for i in indices], ctx.device)
            out, hidden = model(features, mask, return_features=True)
            terms = loss_terms(out, targets(labels, mask, region), mask, num_classes)
            loss = sum(weights[k] * _common.distributed_loss(s, c, ctx, weight) for k, (s, c) in terms.items())
            if refine:
                rterms = refinement_terms(head, hidden if joint else hidden.detach(), out[-1], labels, mask,
                                          num_classes, region=region, generator=graph_draws, offsets=offsets)
                for k, (s, c) in rterms.items():
                    value = _common.distributed_loss(s, c, ctx, weight)
                    parts[k] += value.item()
                    loss = loss + value
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        loss_value = _common.global_sum(total, ctx) / ctx.world_size / max(steps, 1)
        if epoch % 10 == 9 or epoch == epochs - 1 or ctx.args.quick:
            extra = ""
            if refine:
                avg = {k: _common.global_sum(v, ctx) / ctx.world_size / max(steps, 1) for k, v in parts.items()}
                extra = f"  (L_perm {avg['perm']:.4f}, L_CR {avg['reclass']:.4f}" + (
                    f", offset {avg['offset']:.4f}" if offsets else "") + (", end to end)" if joint else ")")
            ctx.print(f"epoch {epoch + 1:3d}  loss {loss_value:.4f}{extra}  ({time.perf_counter() - start:.1f} s)")


@torch.no_grad()
def evaluate(model: nn.Module, head: nn.Module, videos: list, ctx: _common.Context, num_classes: int, *,
             offsets: bool = False) -> dict[str, float]:
    """Dataset metrics: each rank decodes its shard one video at a time; the accumulators gather.

    Unprefixed: keypoints + refinement (§3.2) + re-assembly (the full RTK); ``unrefined_*``: the same
    candidates re-assembled with the generator's own classes; ``framewise_*``: the category argmax.
    """
    model.eval()
    head = _common.unwrap(head).eval()
    refined = SegmentationMetrics(protocol="asformer")
    keypoints = SegmentationMetrics(protocol="asformer")
    framewise = SegmentationMetrics(protocol="asformer")
    for i in _common.shard(len(videos), ctx):
        features, labels, video_id = videos[i]
        out, hidden = model(features[None].to(ctx.device), return_features=True)
        out = out[-1, 0]  # last stage (K + 2, T)
        refined.update(decode(out, num_classes, hidden[0], head, offsets=offsets), labels.numpy(),
                       video_ids=video_id)
        keypoints.update(decode(out, num_classes), labels.numpy(), video_ids=video_id)
        framewise.update(out[:num_classes].argmax(0).cpu().numpy(), labels.numpy(), video_ids=video_id)
    result = {k: float(v) for k, v in refined.compute().items()}
    result.update({f"unrefined_{k}": float(v) for k, v in keypoints.compute().items()})
    result.update({f"framewise_{k}": float(v) for k, v in framewise.compute().items()})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser(__doc__.splitlines()[0], epochs=40, quick_epochs=8)
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (5e-4; 2e-3 with --quick)")
    parser.add_argument("--boundary-region", type=float, default=33.0,
                        help="r_b of §4.1, in frames before --sample-rate")
    parser.add_argument("--lambdas", type=float, nargs=3, default=None, metavar=("L1", "L2", "L3"),
                        help="λ1 λ2 λ3 of Eq. (3) (default: the paper's 100 1 100 with --data, 1 1 1 on the demo)")
    parser.add_argument("--split", type=int, default=1, help="split index of --data")
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="use every n-th frame (default 1; 2 with --quick)")
    parser.add_argument("--refine-offsets", action="store_true",
                        help="also train the refinement head's position offsets (smooth L1) and apply them")
    parser.add_argument("--end-to-end", action="store_true",
                        help="let L_perm + L_CR reach the backbone in the last 1/6 of the epochs (default: "
                             "detached, Table 3's \"E.D.\")")
    parser.add_argument("--no-refine", action="store_true",
                        help="train the keypoint generator only (the refinement head stays untrained)")
    args = parser.parse_args(argv)
    ctx = _common.setup(args)
    rate = args.sample_rate if args.sample_rate is not None else (2 if args.quick else 1)
    if rate < 1:
        raise SystemExit("error: --sample-rate must be >= 1")
    train_videos, test_videos, class_names = _common.load_tas_videos(args, split_index=args.split, sample_rate=rate)
    num_classes = len(class_names)
    size = QUICK if args.quick else FULL
    rtk = RTK(train_videos[0][0].shape[0], num_classes, **size)
    # load --checkpoint and move to the device once; DDP wraps the generator and the refinement head apart
    # (the head joins late, and a DDP module must use all its parameters in every step)
    rtk = _common.wrap(rtk, dataclasses.replace(ctx, world_size=1))
    parts = dataclasses.replace(ctx, args=argparse.Namespace(**{**vars(args), "checkpoint": None}))
    model, head = _common.wrap(rtk.generator, parts), _common.wrap(rtk.refinement, parts)
    ctx.print(f"RTK keypoint generator + refinement: {len(train_videos)} training / {len(test_videos)} test videos, "
              f"{num_classes} classes, {ctx.world_size} process(es) on {ctx.device}")
    lr = args.lr if args.lr is not None else (2e-3 if args.quick else 5e-4)
    lambdas = tuple(args.lambdas) if args.lambdas is not None else (
        (LAMBDA_ACTION, LAMBDA_CATEGORY, LAMBDA_BOUNDARY) if args.data is not None else (1.0, 1.0, 1.0))
    train(model, head, train_videos, ctx, lr=lr, region=args.boundary_region / rate, num_classes=num_classes,
          lambdas=lambdas, parameters=rtk.parameters(), offsets=args.refine_offsets,
          end_to_end=args.end_to_end)
    metrics = evaluate(model, head, test_videos, ctx, num_classes, offsets=args.refine_offsets)
    _common.print_metrics(metrics, ctx, "test metrics (keypoints + refinement + re-assembly; unrefined_*: without "
                          "the refinement; framewise_*: category argmax)")
    _common.finish(rtk, metrics, ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
