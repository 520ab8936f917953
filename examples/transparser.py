"""TransParser (Shao et al., "Intra- and Inter-Action Understanding via Temporal Action Parsing", CVPR 2020).

Temporal action parsing: split an action instance into its sub-actions, whose classes are unknown, from
sub-action boundaries alone. Composed only from actseg:

================================================  =====================================================
paper (TAPOS)                                     actseg
================================================  =====================================================
§5.2 SPS unit, Eq. (1)–(2), Fig. 6; two stacked   ``actseg.layers.SoftPatternStrengthening`` ×2 (``first``,
units (Fig. 5, Table 3)                           ``second``); ``α'`` = ``alpha.mean(1)`` of the second
§5.2 local loss, Eq. (3)–(5) (λ = ``margin`` 1)   ``actseg.losses.local_parse_loss(α', sub-action ids)``
§5.2 global loss, Eq. (6) (``W`` a classifier on  ``actseg.losses.global_parse_loss(W f'', action label)``
``f''`` of the second unit)
§5.2 parsing: a sub-action starts where           ``actseg.postprocess.pattern_boundaries(α', mask)``
``argmax_j α'_t|j`` changes
§6.1 Eq. (7)–(8): Recall/Prec/F1@d, relative      ``actseg.metrics.BoundaryF1(protocol="tapos")`` and
``d ∈ {0.05 … 0.5}`` and absolute ``d ∈ {5 … 50}``  ``protocol="tapos_absolute"``; the mean over the ten
frames, averaged over ``d`` (Table 2)             ``d`` is ``f1`` (``f1_abs``)
================================================  =====================================================

The model is the paper's: the two SPS units act on the frame features directly (the paper's 1024-d
BNInception features; here the generator's 32-d ones), ``W`` is a ``Conv1d(C, K, 1)``. What the paper
leaves open follows the defaults documented in ``docs/layers.md`` ("TransParser's SPS unit"); the example
sets ``num_patterns=16`` (``m``; the paper's Fig. 8 shows a row ``φ_16``). The loss is
``L_local + L_global`` (the paper sums them, no weight given); Adam at lr 3e-3 (``--lr``; the paper
gives no optimiser), global batches of ``--batch-size`` 2 instances (8 parsed worse: F1 0.87 against 0.97
on ``--quick``). Both losses are means over the instances of a global batch, so each instance's loss is
divided by the global instance count, and each instance runs its own forward and backward pass at its
own length (gradients accumulate; under DDP they are all-reduced on the last backward of the step).

**Two processes, the same numbers.** With one instance per rank and step (``--batch-size`` = number of
processes: the default 2 under ``torchrun --nproc_per_node=2``) the two runs are bit for bit the same:
every instance's gradient is computed alone in both, and a sum of two gradients does not depend on the
order of its terms. With more instances per rank the sums are grouped differently (equal up to float
rounding), and over a long run that can move a few boundaries (batch 8, full setting: F1 0.859 on one
process, 0.863 on two). Evaluation is exact in any case: each instance is parsed by one rank and the
metric accumulators gather.

**Baseline.** ``uniform``: each test instance cut into ``k`` equal parts, ``k`` the mean number of
sub-actions of the training instances (rounded) — the TSN-style even split the paper compares with
(§4, Table 1). It is printed next to the model (``uniform_f1``, ``uniform_f1_abs``).

**Synthetic data** (the default; no package ships videos with sub-action structure). A documented
generator, :class:`SubActionGenerator`: ``num_actions`` action classes built from a shared vocabulary of
``num_subactions`` sub-action types (sub-actions recur across actions, TAPOS's *inter*-action structure).
Each type ``s`` has a prototype ``μ_s``, a motion direction ``ν_s`` and a period ``P_s`` (all drawn once
from the generator's seed). Action class ``a`` has a script: a prefix of 1–2 types, a cycle of two types
repeated 1–3 times per instance (the jumps of a triple jump), and an optional suffix type; consecutive
sub-actions always differ. Each sub-action lasts 6–36 frames (uniform), so instances have 3–9 sub-actions
and 20–300 frames. Frame ``t`` of sub-action ``i`` (type ``s``, local time ``τ``) has the feature
``μ_s + 0.5 ν_s sin(2πτ/P_s + φ_i) + c_a + 0.7 ε_t`` with a per-class context ``c_a`` (``0.5·N(0, I)``) and
noise ``ε`` averaged over 5 frames (video features of neighbouring frames are correlated); adjacent
sub-actions cross-fade over 4 frames (sub-action transitions are smooth, §1). The ground truth is the
internal sub-action start frames and ``substages = [0, b_1, …, b_k, T − 1]`` as in TAPOS.

**Real data** (``--data DIR``), TAPOS's released annotation plus features you extract (the paper uses
per-frame BNInception features; TAPOS ships none)::

    DIR/tapos_annotation.json         {video_id: {instance_id: {"action": class id or name,
                                        "substages": [start, b_1, ..., b_k, end], "total_frames": n,
                                        "subset": "train" | "val", ...}}}   (TAPOS release)
    DIR/features/<video_id>_<instance_id>.npy     float (D, T) per-frame features of that instance

Instances of subset ``train`` are trained on, ``val`` evaluated (the test labels are not public).
``substages`` are frame indices of the instance (``0 … total_frames − 1``); when a feature file has
``T != total_frames`` frames (a frame stride), the sub-action ids are placed at ``round(b · T / n)`` for
training and predictions are mapped back by ``round(p · n / T)`` before the evaluation, which runs on the
annotation's frame grid with the instance range ``[substages[0], substages[-1]]`` as in the TAPOS
notebook. String class names are mapped to ids in sorted order. An instance without a feature file is
left out (and counted in a printed note).

Runs::

    python examples/transparser.py --quick            # CI: < 60 s on a CPU
    python examples/transparser.py                    # the full synthetic setting
    python examples/transparser.py --data /path/to/TAPOS --epochs 30
    torchrun --nproc_per_node=2 examples/transparser.py --quick    # DDP (gloo on CPU): the same metrics

Measured (seed 0, one thread of a CPU shared with other jobs; ``torchrun --nproc_per_node=2`` gave the
same numbers to the last digit for both settings):

=========  ===========  ===================  ===============  =======================  ===============
setting    instances    F1 rel. (P / R)      F1 abs.          uniform F1 rel. / abs.   CPU time
=========  ===========  ===================  ===============  =======================  ===============
--quick    160 / 80     0.972 (0.95 / 1.00)  0.972            0.781 / 0.769            9 s, 8 epochs
full       1200 / 400   0.908 (0.83 / 1.00)  0.908            0.795 / 0.783            74 s, 15 epochs
=========  ===========  ===================  ===============  =======================  ===============

The full setting parses worse than the quick one: its loss does not settle (it moves between 1.03 and
1.15 from the second epoch on at the constant lr; a cosine decay smoothed it but gave F1 0.890 full and
0.948 quick), and its extra errors are spurious boundaries (precision 0.83, recall 1.00). Note that
Eq. (3)–(5) push every pair of different sub-actions apart, also two occurrences of one sub-action type
(the repeated cycle), which a per-frame unit cannot tell apart.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    finish,
    global_batches,
    global_sum,
    parser,
    print_metrics,
    setup,
    shard,
    unwrap,
    wrap,
)

from actseg.layers import SoftPatternStrengthening
from actseg.losses import global_parse_loss, local_parse_loss
from actseg.metrics import BoundaryF1
from actseg.postprocess import pattern_boundaries

# Training-set size, test-set size and epochs of the two synthetic settings (--quick is the CI one).
SETTINGS = {"quick": {"train": 160, "test": 80, "epochs": 8},
            "full": {"train": 1200, "test": 400, "epochs": 15}}


@dataclass
class Instance:
    """One action instance: ``features (C, T)`` (float32, or a memory-mapped array read per batch),
    ``segment_ids (T,)`` int64 (sub-action index per frame, for the local loss), ``action`` (class id), and
    the TAPOS annotation on the evaluation grid: ``substages = [start, b_1, ..., b_k, end]`` and ``scale``
    (annotation frames per feature frame)."""

    features: np.ndarray
    segment_ids: np.ndarray
    action: int
    substages: list[int]
    scale: float
    name: str


class SubActionGenerator:
    """Synthetic action instances with ordered sub-actions of distinct feature patterns (module docstring).

    ``SubActionGenerator(seed).instances(n, seed=...)``: the vocabulary (prototypes, motions, periods,
    scripts) comes from ``seed``; each call draws ``n`` instances from its own ``seed``. Deterministic:
    the same seeds give the same instances on every rank and machine.

    >>> gen = SubActionGenerator(0)
    >>> ins = gen.instances(2, seed=1)[0]
    >>> ins.features.shape[0], ins.segment_ids.shape == ins.features.shape[1:], ins.substages[0]
    (32, True, 0)
    """

    def __init__(self, seed: int = 0, *, num_actions: int = 6, num_subactions: int = 10, channels: int = 32,
                 noise: float = 0.7, blend: int = 4, durations: tuple[int, int] = (6, 36)) -> None:
        rng = np.random.default_rng([seed, 1])
        self.num_actions, self.channels, self.noise, self.blend, self.durations = (
            num_actions, channels, noise, blend, durations)
        self.prototypes = rng.normal(size=(num_subactions, channels))
        self.motions = rng.normal(size=(num_subactions, channels))
        self.periods = rng.uniform(6, 20, size=num_subactions)
        self.context = 0.5 * rng.normal(size=(num_actions, channels))
        self.scripts = []
        for _ in range(num_actions):  # prefix (1–2 types), a repeated cycle of two types, optional suffix
            types = rng.choice(num_subactions, size=5, replace=False).tolist()
            self.scripts.append((types[:int(rng.integers(1, 3))], types[2:4], types[4:5] if rng.random() < 0.5 else []))

    def instances(self, n: int, *, seed: int) -> list[Instance]:
        rng = np.random.default_rng([seed, 2])
        return [self._instance(rng, int(rng.integers(self.num_actions)), f"synthetic_{seed}_{i:05d}") for i in range(n)]

    def _instance(self, rng: np.random.Generator, action: int, name: str) -> Instance:
        prefix, cycle, suffix = self.scripts[action]
        types = np.array(prefix + cycle * int(rng.integers(1, 4)) + suffix)
        lengths = rng.integers(self.durations[0], self.durations[1] + 1, size=types.size)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        length = int(lengths.sum())
        segment = np.repeat(np.arange(types.size), lengths)
        weights = np.eye(types.size)[segment]  # (T, k) one-hot sub-action membership, then the cross-fade
        if self.blend > 1:
            kernel = np.ones(self.blend) / self.blend
            padded = np.pad(weights, ((self.blend // 2, self.blend - 1 - self.blend // 2), (0, 0)), mode="edge")
            weights = np.stack([np.convolve(padded[:, j], kernel, "valid") for j in range(types.size)], 1)
        local = np.arange(length)[:, None] - starts[None, :]
        phase = rng.uniform(0, 2 * np.pi, size=types.size)
        wave = np.sin(2 * np.pi * local / self.periods[types][None, :] + phase[None, :])
        x = weights @ self.prototypes[types] + 0.5 * (weights * wave) @ self.motions[types] + self.context[action]
        eps = rng.normal(size=(length + 4, self.channels))
        x = x + self.noise * sum(eps[i:i + length] for i in range(5)) / math.sqrt(5)
        return Instance(x.T.astype(np.float32), segment.astype(np.int64), action,
                        [0, *starts[1:].tolist(), length - 1], 1.0, name)


def read_tapos(root: Path, subset: str, classes: dict | None = None) -> tuple[list[Instance], dict]:
    """Instances of ``subset`` from TAPOS's ``tapos_annotation.json`` and ``features/`` (module docstring).
    Returns the instances and the class mapping (``classes`` when given, else built from the file)."""
    annotation = root / "tapos_annotation.json"
    if not annotation.is_file():
        raise SystemExit(f"transparser.py: error: --data {root}: missing tapos_annotation.json (the TAPOS release)")
    table = json.loads(annotation.read_text())
    entries = [(f"{vid}_{ins}", info) for vid, shots in sorted(table.items()) for ins, info in sorted(shots.items())]
    if classes is None:
        names = sorted({info["action"] for _, info in entries}, key=str)
        classes = {name: i for i, name in enumerate(names)}
    out, missing = [], 0
    for name, info in entries:
        if info.get("subset") != subset:
            continue
        path = root / "features" / f"{name}.npy"
        if not path.is_file():
            missing += 1
            continue
        features = np.load(path, mmap_mode="r")  # read per batch: TAPOS's features do not fit in memory
        if features.ndim != 2:
            raise SystemExit(f"transparser.py: error: {path}: expected (D, T) features, got shape {features.shape}")
        substages = [int(s) for s in info["substages"]]
        scale = float(info["total_frames"]) / features.shape[1]
        starts = np.round((np.asarray(substages[1:-1]) - substages[0]) / scale).astype(np.int64)
        segment = np.searchsorted(starts, np.arange(features.shape[1]), side="right").astype(np.int64)
        out.append(Instance(features, segment, classes[info["action"]], substages, scale, name))
    if missing:
        print(f"note: {missing} {subset} instances have no features/<video>_<instance>.npy and are left out",
              file=sys.stderr)
    return out, classes


class TransParser(nn.Module):
    """Two stacked SPS units and the action classifier ``W`` (TAPOS §5.2, Fig. 5).

    ``forward(x (B, C, T), mask (B, T))`` → ``(frame_logits (B, K, T), response (B, T, m))``: ``W f''`` for
    the global loss, ``α'`` (the second unit's attention, mean over heads) for the local loss and parsing.
    """

    def __init__(self, channels: int, num_classes: int, num_patterns: int = 16) -> None:
        super().__init__()
        self.first = SoftPatternStrengthening(channels, num_patterns=num_patterns)
        self.second = SoftPatternStrengthening(channels, num_patterns=num_patterns)
        self.classifier = nn.Conv1d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        f1, _ = self.first(x, mask)
        f2, alpha = self.second(f1, mask)
        return self.classifier(f2), alpha.mean(1)


def train(model: nn.Module, data: list[Instance], ctx, epochs: int, lr: float) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        start, total, steps = time.time(), 0.0, 0
        for indices, weight in global_batches(len(data), ctx, epoch):
            # Both losses are means over the instances of the global batch: divide by its instance count.
            scale = ctx.world_size * weight / global_sum(len(indices) if weight else 0, ctx)
            optimizer.zero_grad(set_to_none=True)
            for j, i in enumerate(indices):  # one instance per forward and backward, at its own length
                ins = data[i]
                x = torch.from_numpy(np.asarray(ins.features, dtype=np.float32))[None].to(ctx.device)
                seg = torch.from_numpy(ins.segment_ids)[None].to(ctx.device)
                action = torch.tensor([ins.action], device=ctx.device)
                last = j == len(indices) - 1  # DDP all-reduces the accumulated gradients on the last backward
                with model.no_sync() if ctx.distributed and not last else contextlib.nullcontext():
                    logits, response = model(x)
                    loss = (local_parse_loss(response, seg) + global_parse_loss(logits, action)) * scale  # Eq. (3)–(6)
                    loss.backward()
                total += float(loss.detach()) / ctx.world_size
            optimizer.step()
            steps += 1
        total = global_sum(total, ctx)  # every rank adds its share of each batch loss
        ctx.print(f"epoch {epoch + 1:3d}/{epochs}  loss {total / max(steps, 1):.4f}  ({time.time() - start:.1f} s)")


@torch.no_grad()
def evaluate(model: nn.Module, data: list[Instance], ctx, uniform_parts: int) -> dict[str, float]:
    """Parse this rank's share of ``data`` (one instance per forward) and score it with both TAPOS protocols;
    the accumulators gather all ranks in ``compute()``."""
    model = unwrap(model).eval()
    protocols = {"rel": "tapos", "abs": "tapos_absolute", "uniform_rel": "tapos", "uniform_abs": "tapos_absolute"}
    metrics = {key: BoundaryF1(protocol=p) for key, p in protocols.items()}
    for index in shard(len(data), ctx):
        ins = data[index]
        x = torch.from_numpy(np.asarray(ins.features, dtype=np.float32))[None].to(ctx.device)
        _, response = model(x)
        starts = pattern_boundaries(response)[0].cpu().numpy()  # feature frames where a sub-action starts
        first, last = ins.substages[0], ins.substages[-1]
        pred = first + np.round(starts * ins.scale).astype(np.int64)  # back to the annotation's frames
        length = ins.features.shape[1]
        uniform = first + np.round(np.arange(1, uniform_parts) * length / uniform_parts * ins.scale).astype(np.int64)
        for key, p in (("rel", pred), ("abs", pred), ("uniform_rel", uniform), ("uniform_abs", uniform)):
            metrics[key].update(p, ins.substages[1:-1], start=first, end=last, video_ids=ins.name)
    rel, absolute = metrics["rel"].compute(), metrics["abs"].compute()
    return {"f1": rel["f1"], "precision": rel["precision"], "recall": rel["recall"],
            "f1@0.05": rel["f1@0.05"], "f1@0.1": rel["f1@0.1"], "f1@0.5": rel["f1@0.5"],
            "f1_abs": absolute["f1"], "precision_abs": absolute["precision"], "recall_abs": absolute["recall"],
            "uniform_f1": metrics["uniform_rel"].compute()["f1"],
            "uniform_f1_abs": metrics["uniform_abs"].compute()["f1"]}


def main() -> None:
    p = parser(__doc__.split("\n", 1)[0], epochs=SETTINGS["full"]["epochs"], quick_epochs=SETTINGS["quick"]["epochs"],
               batch_size=2)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    ctx = setup(p.parse_args())
    args = ctx.args
    if args.data is not None:
        train_set, classes = read_tapos(args.data, "train")
        test_set, _ = read_tapos(args.data, "val", classes)
        num_classes = len(classes)
        if not train_set or not test_set:
            raise SystemExit(f"transparser.py: error: --data {args.data}: no train or val instance with features")
        source = f"TAPOS at {args.data}"
    else:
        setting = SETTINGS["quick" if args.quick else "full"]
        generator = SubActionGenerator(args.seed)
        train_set = generator.instances(setting["train"], seed=args.seed + 1000)
        test_set = generator.instances(setting["test"], seed=args.seed + 2000)
        num_classes = generator.num_actions
        source = "synthetic sub-action generator"
    channels = train_set[0].features.shape[0]
    ctx.print(f"TransParser on {source}: {len(train_set)} training / {len(test_set)} test instances, "
              f"{channels} channels, {num_classes} actions; {ctx.world_size} process(es) on {ctx.device}")
    model = wrap(TransParser(channels, num_classes), ctx)
    start = time.time()
    train(model, train_set, ctx, args.epochs, args.lr)
    parts = max(1, round(float(np.mean([len(i.substages) - 1 for i in train_set]))))
    metrics = evaluate(model, test_set, ctx, parts)
    ctx.print(f"trained and evaluated in {time.time() - start:.1f} s; uniform baseline: {parts} equal parts")
    print_metrics(metrics, ctx, title="boundary F1@d (TAPOS protocol; f1 = mean over d)")
    finish(model, metrics, ctx)


if __name__ == "__main__":
    main()
