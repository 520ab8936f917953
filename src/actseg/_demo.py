"""``actseg demo``: train a segmentation model composed from actseg on real data and evaluate it.

The whole flow of the package on a small real data set (``actseg.data.load_demo``):

* ``actseg.layers``: the segmentation model, MS-TCN++ (Li et al., TPAMI 2020) or ASFormer (Yi et al.,
  BMVC 2021), plus a boundary head (a :class:`~actseg.layers.SingleStageTCN` with one output channel,
  ASRF's boundary-regression branch, Ishikawa et al., WACV 2021, §3.2) that reads the features and the
  detached class probabilities of the last stage;
* ``actseg.targets.gaussian_boundary_targets`` and ``actseg.losses``: the MS-TCN objective
  (:class:`~actseg.losses.MultiStageLoss`, cross-entropy + truncated MSE, MS-TCN Eq. (7)-(10)) and ASRF's
  boundary loss (:func:`~actseg.losses.boundary_loss`, BCE with ``pos_weight = #negative / #positive``)
  on Gaussian-smoothed boundary targets (InterAct Eq. (8), σ = 2 frames);
* ``actseg.postprocess.refine_by_boundaries``: ASRF's refinement (§3.3, majority vote between the
  peaks of the boundary probabilities), reported next to the raw prediction;
* ``actseg.metrics.SegmentationMetrics``: Acc, Edit and F1@{10,25,50} with ``protocol="mstcn"``.

The yardstick is a per-frame multinomial logistic regression on the same (standardised) features,
fitted to its optimum with L-BFGS in torch: what a segmentation model adds is temporal context, and
F1@50 (segments, not frames) is where that shows.

Everything is seeded (``torch.manual_seed``, a seeded batch order, deterministic algorithms where torch
has them): the same seed, device and thread count give the same report, timings aside.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__: list[str] = []  # private: the public face is ``actseg demo`` (actseg.cli)

MODELS = ("mstcn++", "asformer")
DATASETS = ("basicmotions", "gunpoint")
DEVICES = ("auto", "cpu", "cuda")
OVERLAPS = (0.1, 0.25, 0.5)
PROTOCOL = "mstcn"
METHODS = ("logistic_regression", "model", "model_refined")
COLUMNS = (("accuracy", "Acc"), ("edit", "Edit"), ("f1@10", "F1@10"), ("f1@25", "F1@25"), ("f1@50", "F1@50"))
MODEL_TITLES = {"mstcn++": "MS-TCN++", "asformer": "ASFormer"}

# Architecture and optimisation per model. Small versions of the papers' models (the demo videos have
# 400-900 frames and 1-6 channels); Adam as in both papers. MS-TCN++ at 5e-3 (10x the official 5e-4:
# a few batches per epoch); ASFormer at its official 1e-3 with weight decay 1e-5 and the gradient norm
# clipped to 1 (without clipping its loss can spike on this data: examples/train_basicmotions.py).
RECIPES: dict[str, dict[str, Any]] = {
    "mstcn++": {"kwargs": {"num_layers_pg": 8, "num_layers_r": 6, "num_refinement": 2, "num_channels": 32},
                "lr": 5e-3, "weight_decay": 0.0, "clip": None, "epochs": 30},
    "asformer": {"kwargs": {"num_layers": 6, "num_channels": 32, "num_decoders": 2, "channel_dropout": 0.1},
                 "lr": 1e-3, "weight_decay": 1e-5, "clip": 1.0, "epochs": 30},
}
BOUNDARY_HEAD = {"num_layers": 6, "num_channels": 32}
BATCH_SIZE = 4
SMOOTHING_WEIGHT = 0.15  # MS-TCN's lambda
BOUNDARY_WEIGHT = 1.0
BOUNDARY_SIGMA: float | None = 2.0  # Gaussian boundary targets (InterAct Eq. 8); None: ASRF's hard 0/1 labels
BOUNDARY_READS_PROBABILITIES = True
BOUNDARY_THRESHOLD = 0.5  # ASRF's boundary_th
LOGREG_L2 = 1e-4  # L2 penalty of the baseline (per frame, on the weights only)
PLOT_VIDEOS = 3


class DemoError(Exception):
    """A user error of ``actseg demo`` (printed on one line by the command line, exit code 2)."""


@dataclass(frozen=True)
class DemoConfig:
    """The settings of one demo run (what ``actseg demo`` parses; every field goes into the report)."""

    model: str = "mstcn++"
    dataset: str = "basicmotions"
    epochs: int | None = None  # None: the recipe's default
    device: str = "auto"
    seed: int = 0
    out: str = "actseg-demo"
    progress: bool = True
    threads: int | None = 1  # None: torch's default (every core)
    batch_size: int = BATCH_SIZE
    plot: bool = True


# ----------------------------------------------------------------------------------------------------
# device, determinism


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; ``"cuda"`` without a GPU is a :class:`DemoError`."""
    if name not in DEVICES:
        raise DemoError(f"--device: expected one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DemoError("--device: expected a device this machine has, got 'cuda' (torch.cuda.is_available() is False)")
    return torch.device(name)


@contextlib.contextmanager
def deterministic(seed: int, device: torch.device, threads: int | None) -> Iterator[None]:
    """Seed torch, switch on deterministic algorithms (warn-only) and set the thread count; restored after."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.get_num_threads(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda":  # cuBLAS needs it for reproducible matrix products (set before its first use)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        if threads is not None:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.set_num_threads(saved[2])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[3], saved[4]


# ----------------------------------------------------------------------------------------------------
# data


@dataclass
class Standardize:
    """Per-channel standardisation with the training frames' statistics: ``(x - mean) / std``, zero at padding."""

    mean: torch.Tensor  # (C,)
    std: torch.Tensor  # (C,)

    @classmethod
    def fit(cls, features: torch.Tensor, mask: torch.Tensor) -> Standardize:
        """Statistics of the valid frames of ``features (N, C, T)`` under ``mask (N, T)``."""
        valid = features.permute(1, 0, 2)[:, mask]  # (C, frames)
        return cls(valid.mean(1), valid.std(1).clamp_min(1e-6))

    def __call__(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(features.device), self.std.to(features.device)
        return (features - mean[:, None]) / std[:, None] * mask[:, None]


@dataclass
class Split:
    """A whole split as one padded batch on the device: features ``(N, C, T)`` (standardised), labels, mask."""

    features: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    video_ids: list[str]


def load_data(dataset: str, device: torch.device) -> tuple[Any, Split, Split, Standardize, dict[str, Any]]:
    """The demo's training set (an ``actseg.data.DemoDataset``) and both splits as standardised padded batches."""
    if dataset not in DATASETS:
        raise DemoError(f"--dataset: expected one of {', '.join(DATASETS)}, got {dataset!r}")
    from .data import DemoDataset, collate

    train_set, test_set = DemoDataset(dataset, "train"), DemoDataset(dataset, "test")
    batches = [collate([ds[i] for i in range(len(ds))]) for ds in (train_set, test_set)]
    standardize = Standardize.fit(batches[0]["features"], batches[0]["mask"])
    train, test = (Split(standardize(b["features"], b["mask"]).to(device), b["labels"].to(device),
                         b["mask"].to(device), list(b["video_ids"])) for b in batches)
    info = {
        "name": dataset, "class_names": list(train_set.class_names), "channels": int(train.features.shape[1]),
        "train_videos": len(train_set), "test_videos": len(test_set),
        "train_frames": int(train.mask.sum()), "test_frames": int(test.mask.sum()),
        "sample_rate": float(train_set.sample_rate), "notice": str(train_set.notice),
    }
    return train_set, train, test, standardize, info


# ----------------------------------------------------------------------------------------------------
# models


class SegmenterWithBoundaries(nn.Module):
    """A multi-stage segmenter and a boundary head side by side (ASRF's two branches, WACV 2021 §3.2).

    With ``read_probabilities`` the head reads ``[x, softmax(last stage)]`` (the probabilities detached, so
    the boundary loss does not train the segmenter; zero at padded frames), as MS-TCN's refinement stages
    read the previous stage's probabilities: it can see where the predicted class changes.

    Shape:
        ``x`` ``(B, C, T)``, ``mask`` ``(B, T)`` -> stage logits ``(S, B, K, T)`` and boundary logits ``(B, T)``.
    """

    def __init__(self, segmenter: nn.Module, boundary: nn.Module, read_probabilities: bool = True) -> None:
        super().__init__()
        self.segmenter = segmenter
        self.boundary = boundary
        self.read_probabilities = read_probabilities

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stages = self.segmenter(x, mask)
        head_input = x
        if self.read_probabilities:
            head_input = torch.cat([x, stages[-1].detach().softmax(1) * mask[:, None]], 1)
        return stages, self.boundary(head_input, mask)[:, 0]


def build_model(model: str, in_channels: int, num_classes: int) -> SegmenterWithBoundaries:
    """MS-TCN++ or ASFormer (``RECIPES``) from ``actseg.layers`` with a :class:`SingleStageTCN` boundary head."""
    from .layers import ASFormer, MSTCNPlusPlus, SingleStageTCN

    if model not in MODELS:
        raise DemoError(f"--model: expected one of {', '.join(MODELS)}, got {model!r}")
    kwargs = RECIPES[model]["kwargs"]
    segmenter = (MSTCNPlusPlus if model == "mstcn++" else ASFormer)(in_channels, num_classes, **kwargs)
    head_channels = in_channels + (num_classes if BOUNDARY_READS_PROBABILITIES else 0)
    return SegmenterWithBoundaries(segmenter, SingleStageTCN(head_channels, 1, **BOUNDARY_HEAD),
                                   BOUNDARY_READS_PROBABILITIES)


class LogisticRegression(nn.Module):
    """Per-frame multinomial logistic regression: a 1x1 convolution, ``(B, C, T)`` -> logits ``(B, K, T)``."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, num_classes, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def fit_logistic_regression(train: Split, num_classes: int, *, l2: float = LOGREG_L2,
                            max_iter: int = 200) -> tuple[LogisticRegression, float]:
    """The baseline fitted to the optimum of ``mean CE + l2 * |W|^2`` over all valid training frames (L-BFGS).

    Returns the model and the final loss. Convex, started from zero: no seed matters.
    """
    model = LogisticRegression(train.features.shape[1], num_classes).to(train.features.device)
    x = train.features.permute(0, 2, 1)[train.mask]  # (frames, C)
    y = train.labels[train.mask]
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        logits = x @ model.linear.weight[:, :, 0].T + model.linear.bias
        return nn.functional.cross_entropy(logits, y) + l2 * model.linear.weight.pow(2).sum()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return model, float(objective())


# ----------------------------------------------------------------------------------------------------
# training


def _loss_terms() -> Callable[..., torch.Tensor]:
    """``loss(stage_logits, boundary_logits, labels, mask, pos_weight)``: MS-TCN objective + ASRF boundary BCE."""
    from .losses import MultiStageLoss, boundary_loss

    stages = MultiStageLoss(smoothing_weight=SMOOTHING_WEIGHT)

    def loss(stage_logits: torch.Tensor, boundary_logits: torch.Tensor, labels: torch.Tensor,
             mask: torch.Tensor, pos_weight: float) -> torch.Tensor:
        target = boundary_target(labels, mask)
        return stages(stage_logits, labels, mask) + BOUNDARY_WEIGHT * boundary_loss(
            boundary_logits, target, mask, pos_weight=pos_weight)

    return loss


def boundary_target(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` boundary targets: label changes (ASRF), Gaussian-smoothed with ``BOUNDARY_SIGMA`` (InterAct)."""
    from .targets import boundary_labels, gaussian_boundary_targets

    if BOUNDARY_SIGMA is None:
        return boundary_labels(labels, mask=mask, include_first=False)
    return gaussian_boundary_targets(labels, sigma=BOUNDARY_SIGMA, mask=mask, include_first=False)


def boundary_pos_weight(train: Split) -> float:
    """ASRF's ``pos_weight``: ``#non-boundary / #boundary`` valid frames of the training split (target mass)."""
    target = boundary_target(train.labels, train.mask)
    positive = float(target.sum())
    return (float(train.mask.sum()) - positive) / max(positive, 1.0)


def train_model(net: SegmenterWithBoundaries, train_set: Any, standardize: Standardize, model: str, epochs: int, *,
                seed: int, pos_weight: float, device: torch.device, batch_size: int = BATCH_SIZE,
                progress: Callable[[int, float], None] | None = None) -> list[float]:
    """Adam on shuffled, padded and masked batches (``actseg.data.collate``); the mean loss of every epoch."""
    from .data import collate

    recipe = RECIPES[model]
    criterion = _loss_terms()
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(seed))
    history = []
    for epoch in range(epochs):
        net.train()
        total, batches = 0.0, 0
        for batch in loader:
            mask, labels = batch["mask"].to(device), batch["labels"].to(device)
            features = standardize(batch["features"].to(device), mask)
            stage_logits, boundary_logits = net(features, mask)
            loss = criterion(stage_logits, boundary_logits, labels, mask, pos_weight)
            optimizer.zero_grad()
            loss.backward()
            if recipe["clip"] is not None:
                nn.utils.clip_grad_norm_(net.parameters(), recipe["clip"])
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        history.append(total / batches)
        if progress is not None:
            progress(epoch + 1, history[-1])
    return history


# ----------------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def predict(net: SegmenterWithBoundaries, baseline: LogisticRegression, test: Split) -> dict[str, torch.Tensor]:
    """Frame labels ``(N, T)`` (``-100`` at padding) of the three methods, and the boundary probabilities."""
    from .postprocess import refine_by_boundaries

    net.eval()
    stage_logits, boundary_logits = net(test.features, test.mask)
    scores = stage_logits[-1]
    boundary_prob = torch.sigmoid(boundary_logits) * test.mask
    fill = torch.full_like(test.labels, -100)
    return {
        "logistic_regression": torch.where(test.mask, baseline(test.features).argmax(1), fill),
        "model": torch.where(test.mask, scores.argmax(1), fill),
        "model_refined": refine_by_boundaries(scores, boundary_prob, threshold=BOUNDARY_THRESHOLD,
                                              mask=test.mask, from_logits=True),
        "boundary_prob": boundary_prob,
    }


def evaluate(labels: torch.Tensor, test: Split) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Dataset and per-video metrics (percentages) of one method's labels with ``SegmentationMetrics``."""
    from .metrics import SegmentationMetrics

    metrics = SegmentationMetrics(overlaps=OVERLAPS, background=(), protocol=PROTOCOL)
    metrics.update(labels.cpu(), test.labels.cpu(), mask=test.mask.cpu(), video_ids=test.video_ids)
    dataset = {key: _number(value) for key, value in metrics.compute().items()}
    videos = {str(row["video"]): {k: _number(v) for k, v in row.items() if k != "video"}
              for row in metrics.per_video()}
    return dataset, videos


def _number(value: Any) -> float | None:
    """A JSON number rounded to 1e-6 (NaN -> None)."""
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


# ----------------------------------------------------------------------------------------------------
# output


def method_titles(model: str) -> dict[str, str]:
    """Row titles of the table, per method key."""
    title = MODEL_TITLES[model]
    return {"logistic_regression": "logistic regression (per frame)", "model": title,
            "model_refined": f"{title} + boundary refinement"}


def format_table(metrics: Mapping[str, Mapping[str, float | None]], titles: Mapping[str, str]) -> str:
    """Fixed-width table: one row per method, columns Acc, Edit, F1@{10,25,50} (2 decimals, NaN as ``nan``).

    Example:
        >>> row = {"accuracy": 97.5, "edit": None, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 95.25}
        >>> print(format_table({"model": row}, {"model": "MS-TCN++"}))
        method       Acc    Edit   F1@10   F1@25   F1@50
        MS-TCN++   97.50     nan  100.00  100.00   95.25
    """
    width = max(len(t) for t in titles.values())
    lines = [f"{'method':<{width}}" + "".join(f"  {title:>6}" for _, title in COLUMNS)]
    for key, row in metrics.items():
        cells = "".join(f"  {'nan' if row[k] is None else format(row[k], '.2f'):>6}" for k, _ in COLUMNS)
        lines.append(f"{titles[key]:<{width}}{cells}")
    return "\n".join(lines)


def write_plot(path: Path, test: Split, predictions: Mapping[str, torch.Tensor], titles: Mapping[str, str],
               class_names: Sequence[str], sample_rate: float, count: int = PLOT_VIDEOS) -> str | None:
    """A PNG of the first ``count`` test videos: GT, baseline, model and refined rows over the boundary line.

    Each video is a panel of ``actseg.viz.plot_timeline`` (rows, then the boundary probability with the
    peaks that the refinement cut at). Returns ``None``, or a one-line note when matplotlib is missing.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed (pip install 'actseg-blocks[viz]'): no timeline plot"
    from .postprocess import find_peaks
    from .viz import plot_timeline

    count = min(count, len(test.video_ids))
    figure = Figure(figsize=(11, 3.2 * count), layout="constrained")
    axes = figure.subplots(2 * count, 1, gridspec_kw={"height_ratios": [3, 1] * count})
    for i in range(count):
        length = int(test.mask[i].sum())
        rows = {"ground truth": test.labels[i, :length].cpu().numpy()}
        rows.update({titles[key]: predictions[key][i, :length].cpu().numpy() for key in METHODS})
        boundary = predictions["boundary_prob"][i, :length].cpu().numpy()
        peaks = find_peaks(boundary, BOUNDARY_THRESHOLD, peak_rule="argrelmax")
        plot_timeline(rows, class_names=list(class_names), boundary_scores=boundary, peaks=peaks[peaks > 0],
                      fps=sample_rate, title=f"test video {test.video_ids[i]}", ax=axes[2 * i: 2 * i + 2])
    figure.savefig(path, dpi=100)
    return None


def versions() -> dict[str, str]:
    """Versions of Python and the packages that decide the numbers."""
    from . import __version__

    out = {"actseg": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "numpy": np.__version__}
    with contextlib.suppress(ImportError):
        import numba

        out["numba"] = numba.__version__
    return out


# ----------------------------------------------------------------------------------------------------
# progress bar


class Progress:
    """An epoch bar on stderr: tqdm when importable, else a one-line built-in bar; silent when disabled."""

    def __init__(self, total: int, description: str, enabled: bool) -> None:
        self.total, self.description, self.enabled = total, description, enabled
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=description, unit="epoch", file=sys.stderr, leave=False)

    def __call__(self, epoch: int, loss: float) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self._bar.update(1)
            return
        filled = round(20 * epoch / self.total)
        sys.stderr.write(f"\r{self.description} [{'#' * filled}{'.' * (20 - filled)}] "
                         f"{epoch}/{self.total} loss {loss:.3f}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


def progress_enabled(requested: bool) -> bool:
    """The bar is shown only when asked for and both stdout and stderr are terminals."""
    return requested and sys.stdout.isatty() and sys.stderr.isatty()


# ----------------------------------------------------------------------------------------------------
# the run


def run(config: DemoConfig, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, evaluate, print the table, write ``report.json`` (and ``timeline.png``) into ``config.out``.

    Returns the report (what ``report.json`` holds).
    """
    start = time.perf_counter()
    timings: dict[str, float] = {}
    device = resolve_device(config.device)
    for flag, value, known in (("--model", config.model, MODELS), ("--dataset", config.dataset, DATASETS)):
        if value not in known:
            raise DemoError(f"{flag}: expected one of {', '.join(known)}, got {value!r}")
    out = prepare_output(config.out)
    recipe = RECIPES[config.model]
    epochs = recipe["epochs"] if config.epochs is None else config.epochs
    with deterministic(config.seed, device, config.threads):
        tick = time.perf_counter()
        train_set, train, test, standardize, info = load_data(config.dataset, device)
        timings["load_data"] = time.perf_counter() - tick
        num_classes = len(info["class_names"])

        tick = time.perf_counter()
        baseline, baseline_loss = fit_logistic_regression(train, num_classes)
        timings["fit_baseline"] = time.perf_counter() - tick

        torch.manual_seed(config.seed)
        net = build_model(config.model, info["channels"], num_classes).to(device)
        bar = Progress(epochs, f"training {MODEL_TITLES[config.model]}", progress_enabled(config.progress))
        tick = time.perf_counter()
        try:
            history = train_model(net, train_set, standardize, config.model, epochs, seed=config.seed,
                                  pos_weight=boundary_pos_weight(train), device=device,
                                  batch_size=config.batch_size, progress=bar)
        finally:
            bar.close()
        timings["train_model"] = time.perf_counter() - tick

        tick = time.perf_counter()
        predictions = predict(net, baseline, test)
        results = {key: evaluate(predictions[key], test) for key in METHODS}
        timings["evaluate"] = time.perf_counter() - tick
        threads = torch.get_num_threads()

    titles = method_titles(config.model)
    metrics = {key: results[key][0] for key in METHODS}
    echo(f"actseg demo: {MODEL_TITLES[config.model]} on {info['name']} ({info['train_videos']} training, "
         f"{info['test_videos']} test videos; {epochs} epoch{'s' * (epochs != 1)} on {device.type}, "
         f"seed {config.seed})")
    echo(format_table(metrics, titles))
    gain = _difference(metrics["model_refined"]["f1@50"], metrics["logistic_regression"]["f1@50"])
    echo(f"F1@50: {gain} points over the per-frame logistic regression (with boundary refinement)")

    plot_note = None
    if config.plot:
        tick = time.perf_counter()
        plot_note = write_plot(out / "timeline.png", test, predictions, titles, info["class_names"],
                               info["sample_rate"])
        timings["plot"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    report = {
        "config": {**{k: v for k, v in asdict(config).items() if k not in ("progress", "plot")},
                   "epochs": epochs, "device": device.type, "threads": threads,
                   "model_kwargs": recipe["kwargs"], "boundary_head": BOUNDARY_HEAD, "lr": recipe["lr"],
                   "weight_decay": recipe["weight_decay"], "clip": recipe["clip"],
                   "smoothing_weight": SMOOTHING_WEIGHT, "boundary_weight": BOUNDARY_WEIGHT,
                   "boundary_sigma": BOUNDARY_SIGMA, "boundary_reads_probabilities": BOUNDARY_READS_PROBABILITIES,
                   "boundary_threshold": BOUNDARY_THRESHOLD, "logistic_regression_l2": LOGREG_L2,
                   "protocol": PROTOCOL, "background": [], "overlaps": list(OVERLAPS)},
        "seed": config.seed,
        "versions": versions(),
        "data": info,
        "methods": titles,
        "metrics": metrics,
        "videos": {key: results[key][1] for key in METHODS},
        "training": {"loss": [round(v, 6) for v in history], "logistic_regression_loss": round(baseline_loss, 6)},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "files": {"report": "report.json", "timeline": None if plot_note or not config.plot else "timeline.png"},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    if plot_note:
        echo(f"note: {plot_note}")
    written = "report.json" + ("" if report["files"]["timeline"] is None else ", timeline.png")
    echo(f"wrote {written} to {out} in {timings['total']:.1f} s")
    return report


def _difference(first: float | None, second: float | None) -> str:
    """``first - second`` with a sign, or ``nan``."""
    return "nan" if first is None or second is None else f"{first - second:+.2f}"


def prepare_output(path: str) -> Path:
    """The output folder, created when missing; :class:`DemoError` when it is a file or not writable."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out: expected a folder (created when missing), got a file: {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"--out: could not create the folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise DemoError(f"--out: expected a writable folder, got no write permission: {out}")
    return out
