"""The ``actseg`` command line.

Subcommands:

* ``actseg eval``: scores a folder of frame-level predictions against a folder of ground truth in the
  MS-TCN layout (see :mod:`actseg.io`) with :class:`actseg.metrics.SegmentationMetrics`, prints
  Acc, Acc(fg), Edit and F1@{10,25,50} and optionally writes them, per video too, to a JSON file.
* ``actseg warmup``: compiles the numba kernels of metrics and post-processing once (they are
  cached on disk), so that no later call pays the compilation; prints the seconds per group.
* ``actseg plot``: draws the ground truth and one or more prediction folders (MS-TCN layout) as
  coloured timelines with :func:`actseg.viz.plot_timeline`, one PNG per video (needs matplotlib).
* ``actseg demo``: trains MS-TCN++ or ASFormer (built from :mod:`actseg.layers`, trained with
  :mod:`actseg.losses`) on the embedded demo data and prints its Acc, Edit and F1@k next to a per-frame
  logistic regression, with and without boundary refinement; writes a JSON report and a timeline PNG.

Run ``actseg --help``, ``actseg eval --help``, ``python -m actseg ...`` or ``python -m actseg.cli ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .io import _known, background_ids, read_label_file, read_mapping, read_split
from .metrics import PROTOCOLS

__all__ = ["main"]

_OVERLAPS = (0.1, 0.25, 0.5)

_COLUMN_TITLES = {"accuracy": "Acc", "accuracy_foreground": "Acc(fg)", "edit": "Edit"}


class _CommandError(Exception):
    """A user error of a subcommand: printed as ``actseg <command>: error: <message>``, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``actseg`` command line.

    Args:
        argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit code: 0 on success, 2 on a usage error or bad input (the message, naming the file
        or argument, goes to stderr without a traceback).

    Example:
        ``main(["eval", "--ground-truth", "gt", "--predictions", "pred", "--mapping", "mapping.txt"])``
        prints the table and returns 0, exactly like the shell command ``actseg eval ...``.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage/help/version already
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    try:
        return args.handler(args)
    except (_CommandError, ValueError, TypeError, OSError) as exc:
        print(f"actseg {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _build_parser() -> argparse.ArgumentParser:
    """The ``actseg`` parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="actseg", description="Tools for temporal action segmentation (evaluation of MS-TCN folders)."
    )
    parser.add_argument("--version", action="version", version=f"actseg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, (help_text, description, add_arguments, handler) in _COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=description)
        add_arguments(sub)
        sub.set_defaults(handler=handler)
    return parser


_EVAL_DESCRIPTION = (
    "Score frame-level predictions in the MS-TCN layout: ground truth DIR/<video>.txt (one class name per "
    "line), predictions PRED/<video> or PRED/<video>.txt (line 1 '### Frame level recognition: ###', line 2 "
    "space-separated names). Metrics are percentages. The first run after installing compiles numba kernels "
    "(seconds, once; cached on disk): see 'actseg warmup'."
)
_WARMUP_DESCRIPTION = (
    "Compile the numba kernels of actseg.metrics and actseg.postprocess on tiny inputs and store them in "
    "numba's on-disk cache (next to the installed sources, or NUMBA_CACHE_DIR). Run it once after installing, "
    "or at the start of a job; prints the seconds per group of kernels."
)


def _eval_arguments(sub: argparse.ArgumentParser) -> None:
    """The options of ``actseg eval``."""
    sub.add_argument("--ground-truth", required=True, metavar="DIR", help="folder of <video>.txt files")
    sub.add_argument("--predictions", required=True, metavar="DIR", help="folder of <video> or <video>.txt files")
    sub.add_argument("--mapping", required=True, metavar="FILE", help="mapping.txt ('<id> <name>' lines)")
    sub.add_argument("--protocol", default="mstcn", choices=PROTOCOLS,
                     help="official script whose numbers are reproduced (default: %(default)s)")
    sub.add_argument("--background", nargs="+", default=[], metavar="NAME",
                     help="class names excluded from segments and Acc(fg), e.g. SIL or action_start action_end")
    sub.add_argument("--split", metavar="BUNDLE", help="evaluate only the videos of this .bundle file (default: all)")
    sub.add_argument("--json", metavar="OUT",
                     help="also write dataset and per-video results to this file (its folder must exist)")


def _no_arguments(sub: argparse.ArgumentParser) -> None:
    """A command without options."""


def _run_warmup(args: argparse.Namespace) -> int:
    """``actseg warmup``: compile (or load) every kernel and print the time per group."""
    from ._warmup import warmup

    timings = warmup()
    width = max(len(name) for name in timings)
    for name, seconds in timings.items():
        print(f"{name:<{width}}  {seconds:7.2f} s")
    print(f"{'total':<{width}}  {sum(timings.values()):7.2f} s")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    """``actseg eval``: check every input and output path, read the folders, accumulate the metrics,
    print the table, write the JSON."""
    out = _output_file(args.json, "--json") if args.json else None
    mapping = read_mapping(args.mapping)
    background_names = list(dict.fromkeys(args.background))
    for name in background_names:
        if name not in mapping:
            raise _CommandError(f"--background: unknown class name {name!r} (known: {_known(mapping)})")
    # The metrics see dense ids 0..C-1 in mapping order: equal names stay equal, so every number is
    # the same, and the memory of the metrics depends on the number of classes, never on the ids.
    dense = {name: index for index, name in enumerate(mapping)}
    background = background_ids(dense, background_names)
    split = read_split(args.split) if args.split else None
    gt_dir, pred_dir = Path(args.ground_truth), Path(args.predictions)
    pairs = _collect_videos(gt_dir, pred_dir, split)
    _warn_if_predictions_are_ground_truth(gt_dir, pred_dir, pairs)

    from .metrics import SegmentationMetrics

    metrics = SegmentationMetrics(overlaps=_OVERLAPS, background=background, protocol=args.protocol)
    for video, gt_file, pred_file in pairs:
        pred, target = _load_pair(gt_file, pred_file, dense)
        metrics.update(pred, target, video_ids=video)
    dataset = metrics.compute()
    print(_format_table(args.protocol, background_names, len(pairs), dataset))
    if out is not None:
        try:
            _write_json(out, args.protocol, background_names, dataset, metrics.per_video())
        except OSError as exc:
            raise _CommandError(f"--json: could not write {out}: {exc.strerror or exc}") from None
    return 0


def _output_file(path: str, flag: str) -> Path:
    """``path`` as the file an option will (over)write, checked before anything is computed.

    _CommandError naming ``flag`` if it is a folder, if its folder does not exist (nothing is
    created) or is not writable.
    """
    out = Path(path)
    if out.is_dir():
        raise _CommandError(f"{flag}: expected a file to write, got a folder: {out}")
    parent = out.parent
    if not parent.is_dir():
        actual = "a file" if parent.exists() else "no such folder"
        raise _CommandError(f"{flag}: expected a file in an existing folder, got {actual}: {parent}")
    if not os.access(out if out.exists() else parent, os.W_OK):
        raise _CommandError(f"{flag}: expected a writable file, got no write permission: {out}")
    return out


def _warn_if_predictions_are_ground_truth(gt_dir: Path, pred_dir: Path, pairs: list[tuple[str, Path, Path]]) -> None:
    """A warning on stderr when the predictions are the ground truth (the scores would all be 100)."""
    if gt_dir.resolve() == pred_dir.resolve():
        reason = f"--predictions and --ground-truth are the same folder ({pred_dir})"
    elif all(_same_bytes(gt_file, pred_file) for _, gt_file, pred_file in pairs):
        reason = f"every prediction file in {pred_dir} is a copy of its ground-truth file"
    else:
        return
    print(f"actseg eval: warning: {reason}: the predictions are the ground truth, every score is 100",
          file=sys.stderr)


def _same_bytes(first: Path, second: Path) -> bool:
    """True when two files hold the same bytes (sizes compared first)."""
    if first.stat().st_size != second.stat().st_size:
        return False
    return first.read_bytes() == second.read_bytes()


def _collect_videos(gt_dir: Path, pred_dir: Path, split: list[str] | None) -> list[tuple[str, Path, Path]]:
    """``(video, ground-truth file, prediction file)`` for every video to evaluate.

    Without a split: every ``gt_dir/*.txt``, and every prediction file must have a ground truth.
    With a split: exactly the listed videos.
    """
    for flag, folder in (("--ground-truth", gt_dir), ("--predictions", pred_dir)):
        if not folder.is_dir():
            actual = "a file" if folder.exists() else "no such folder"
            raise _CommandError(f"{flag}: expected a folder, got {actual}: {folder}")
    if split is None:
        videos = sorted(path.stem for path in gt_dir.glob("*.txt") if path.is_file())
        if not videos:
            raise _CommandError(f"--ground-truth: expected <video>.txt files, got none in {gt_dir}")
        _check_no_extra_predictions(pred_dir, set(videos), gt_dir)
    else:
        videos = split
    pairs = []
    for video in videos:
        gt_file = gt_dir / f"{video}.txt"
        if not gt_file.is_file():
            raise _CommandError(f"missing ground truth file {gt_file} (video {video!r} of the split)")
        pairs.append((video, gt_file, _prediction_file(pred_dir, video)))
    return pairs


def _prediction_file(pred_dir: Path, video: str) -> Path:
    """``pred_dir/<video>`` (as ms-tcn writes it) or ``pred_dir/<video>.txt``; exactly one must exist."""
    found = [path for path in (pred_dir / video, pred_dir / f"{video}.txt") if path.is_file()]
    if not found:
        raise _CommandError(
            f"missing prediction file {pred_dir / video} (or {pred_dir / video}.txt) for video {video!r}"
        )
    if len(found) > 1:
        raise _CommandError(
            f"ambiguous predictions for video {video!r}: both {found[0]} and {found[1]} exist"
        )
    return found[0]


def _check_no_extra_predictions(pred_dir: Path, videos: set[str], gt_dir: Path) -> None:
    """_CommandError naming the first prediction file whose video has no ground truth file."""
    for path in sorted(pred_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        video = path.name[: -len(".txt")] if path.name.endswith(".txt") else path.name
        if video not in videos:
            raise _CommandError(
                f"prediction file {path} has no ground truth file {gt_dir / (video + '.txt')} "
                "(use --split to evaluate a subset)"
            )


def _load_pair(gt_file: Path, pred_file: Path, mapping: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(prediction, target)`` class ids of one video, of equal length ``(T,)``."""
    target = read_label_file(gt_file, mapping)
    pred = read_label_file(pred_file, mapping)
    if pred.shape[0] != target.shape[0]:
        raise _CommandError(
            f"{pred_file}: expected {target.shape[0]} frame labels (as in {gt_file}), got {pred.shape[0]}"
        )
    return pred, target


def _column_title(key: str) -> str:
    """Table heading of a metric key: ``accuracy`` -> ``Acc``, ``f1@10`` -> ``F1@10``."""
    return _COLUMN_TITLES.get(key, key.replace("f1@", "F1@"))


def _format_table(protocol: str, background: list[str], n_videos: int, result: dict[str, float]) -> str:
    """A fixed-width table: a header line, the column titles and the ``dataset`` row (2 decimals)."""
    keys = list(result)
    titles = ["videos", *(_column_title(key) for key in keys)]
    values = [str(n_videos), *(f"{float(result[key]):.2f}" for key in keys)]
    widths = [max(len(title), len(value), 6) for title, value in zip(titles, values)]
    label_width = len("dataset")
    header = f"protocol: {protocol}   background: {' '.join(background) if background else '(none)'}"
    title_row = " " * label_width + "".join(f"  {t:>{w}}" for t, w in zip(titles, widths))
    value_row = "dataset" + "".join(f"  {v:>{w}}" for v, w in zip(values, widths))
    return "\n".join((header, title_row, value_row))


def _json_value(value: Any) -> Any:
    """A JSON-ready scalar: numpy numbers to Python numbers, NaN to ``None``."""
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _write_json(
    out: Path, protocol: str, background: list[str], dataset: dict[str, float], per_video: list[dict]
) -> None:
    """Write the dataset and per-video results to ``out`` (its folder exists; NaN as null)."""
    videos = {
        str(row["video"]): {key: _json_value(value) for key, value in row.items() if key != "video"}
        for row in per_video
    }
    report = {
        "protocol": protocol,
        "background": background,
        "overlaps": list(_OVERLAPS),
        "dataset": {key: _json_value(value) for key, value in dataset.items()},
        "videos": videos,
        "actseg_version": __version__,
    }
    out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")


_PLOT_DESCRIPTION = (
    "Draw the ground truth and one or more folders of predictions (MS-TCN layout, as for 'actseg eval') as "
    "coloured timelines, one row per folder, one colour per class, and write OUT/<video>.png per video. "
    "A prediction folder is DIR (its row is named after the folder) or NAME=DIR. Needs matplotlib: "
    'pip install "actseg-blocks[viz]".'
)


def _plot_arguments(sub: argparse.ArgumentParser) -> None:
    """The options of ``actseg plot``."""
    sub.add_argument("--ground-truth", required=True, metavar="DIR", help="folder of <video>.txt files")
    sub.add_argument("--predictions", required=True, nargs="+", metavar="[NAME=]DIR",
                     help="one or more folders of <video> or <video>.txt files, each a row (NAME=DIR names it)")
    sub.add_argument("--mapping", required=True, metavar="FILE", help="mapping.txt ('<id> <name>' lines)")
    sub.add_argument("--videos", nargs="+", metavar="ID", help="plot only these videos (default: every <video>.txt)")
    sub.add_argument("--background", nargs="+", default=[], metavar="NAME",
                     help="class names drawn light grey, e.g. SIL or action_start action_end")
    sub.add_argument("--fps", type=float, metavar="FPS", help="frames per second: the time axis in seconds")
    sub.add_argument("--out", required=True, metavar="DIR",
                     help="folder for the <video>.png files (created if its parent folder exists)")


def _plot_rows(specs: list[str]) -> list[tuple[str, Path]]:
    """``(row name, folder)`` of each ``--predictions`` entry: ``NAME=DIR`` or ``DIR`` (named after the folder)."""
    rows: list[tuple[str, Path]] = []
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or Path(spec).is_dir():
            name, folder = Path(spec).name or spec, spec
        if not folder:
            raise _CommandError(f"--predictions: expected NAME=DIR, got no folder in {spec!r}")
        rows.append((name, Path(folder)))
    names = ["ground truth", *(name for name, _ in rows)]
    for name in names:
        if names.count(name) > 1:
            raise _CommandError(f"--predictions: expected distinct row names, got {name!r} twice (use NAME=DIR)")
    return rows


def _output_folder(path: str, flag: str) -> Path:
    """``path`` as a folder to write into, created when its parent exists; _CommandError naming ``flag``."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise _CommandError(f"{flag}: expected a folder, got a file: {out}")
    if not out.exists():
        if not out.parent.is_dir():
            raise _CommandError(f"{flag}: expected a folder in an existing folder, got no such folder: {out.parent}")
        out.mkdir()
    if not os.access(out, os.W_OK):
        raise _CommandError(f"{flag}: expected a writable folder, got no write permission: {out}")
    return out


def _run_plot(args: argparse.Namespace) -> int:
    """``actseg plot``: check matplotlib and every input, read every video, then write one PNG per video."""
    from . import viz

    try:
        viz._matplotlib()
    except ImportError as exc:
        raise _CommandError(str(exc)) from None
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        raise _CommandError(f"--fps: expected a finite number > 0, got {args.fps}")
    rows = _plot_rows(args.predictions)
    mapping = read_mapping(args.mapping)
    background_names = list(dict.fromkeys(args.background))
    for name in background_names:
        if name not in mapping:
            raise _CommandError(f"--background: unknown class name {name!r} (known: {_known(mapping)})")
    dense = {name: index for index, name in enumerate(mapping)}  # colours by mapping order, as eval's ids
    background = background_ids(dense, background_names)
    gt_dir = Path(args.ground_truth)
    for flag, folder in (("--ground-truth", gt_dir), *(("--predictions", folder) for _, folder in rows)):
        if not folder.is_dir():
            actual = "a file" if folder.exists() else "no such folder"
            raise _CommandError(f"{flag}: expected a folder, got {actual}: {folder}")
    if args.videos:
        videos = list(dict.fromkeys(v[: -len(".txt")] if v.endswith(".txt") else v for v in args.videos))
    else:
        videos = sorted(path.stem for path in gt_dir.glob("*.txt") if path.is_file())
        if not videos:
            raise _CommandError(f"--ground-truth: expected <video>.txt files, got none in {gt_dir}")
    out = _output_folder(args.out, "--out")
    loaded = []
    for video in videos:
        gt_file = gt_dir / f"{video}.txt"
        if not gt_file.is_file():
            raise _CommandError(f"missing ground truth file {gt_file} (video {video!r} of --videos)")
        timeline = {"ground truth": read_label_file(gt_file, dense)}
        for name, folder in rows:
            pred, _ = _load_pair(gt_file, _prediction_file(folder, video), dense)
            timeline[name] = pred
        loaded.append((video, timeline))
    for video, timeline in loaded:
        fig = viz.plot_timeline(timeline, class_names=list(dense), background=background, fps=args.fps, title=video)
        target = out / f"{video}.png"
        try:
            fig.savefig(target, dpi=100)
        finally:
            viz.close_figure(fig)
        print(target)
    return 0


_DEMO_DESCRIPTION = (
    "Train a segmentation model composed from actseg (MS-TCN++ or ASFormer from actseg.layers, plus a boundary "
    "head; MultiStageLoss and a boundary loss from actseg.losses) on the embedded demo data (actseg.data), "
    "evaluate it on the test split with actseg.metrics (protocol mstcn) with and without boundary refinement "
    "(actseg.postprocess.refine_by_boundaries), next to a per-frame logistic regression on the same features. "
    "Prints the table, writes OUT/report.json and OUT/timeline.png (when matplotlib is installed). Seeded: the "
    "same seed, device and --threads give the same numbers."
)


def _demo_arguments(sub: argparse.ArgumentParser) -> None:
    """The options of ``actseg demo`` (read as text and checked by ``_run_demo``: one-line errors)."""
    sub.add_argument("--model", default="mstcn++", metavar="{mstcn++,asformer}",
                     help="segmentation model (default: %(default)s)")
    sub.add_argument("--dataset", default="basicmotions", metavar="{basicmotions,gunpoint}",
                     help="embedded demo data set (default: %(default)s)")
    sub.add_argument("--epochs", metavar="N", help="training epochs (default: 30)")
    sub.add_argument("--device", default="auto", metavar="{auto,cpu,cuda}",
                     help="auto = cuda when available, else cpu (default: %(default)s)")
    sub.add_argument("--seed", default="0", metavar="N", help="random seed (default: %(default)s)")
    sub.add_argument("--out", default="actseg-demo", metavar="DIR",
                     help="folder for report.json and timeline.png, created when missing (default: %(default)s)")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar (it is off when not on a terminal)")
    sub.add_argument("--threads", default="1", metavar="N",
                     help="CPU threads of torch; the models are small, and one thread gives the same numbers on "
                          "every machine and does not stall when the cores are busy (default: %(default)s)")


def _demo_integer(text: str | None, flag: str, low: int, high: int) -> int | None:
    """The integer of an option's text in ``[low, high]`` (``None`` stays ``None``); _CommandError otherwise."""
    if text is None:
        return None
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] in "+-" else stripped
    if not digits.isascii() or not digits.isdigit() or not low <= int(stripped) <= high:
        raise _CommandError(f"{flag}: expected an integer in [{low}, {high}], got {text!r}")
    return int(stripped)


def _run_demo(args: argparse.Namespace) -> int:
    """``actseg demo``: check the options, then train, evaluate, print the table and write the report."""
    from . import _demo

    for flag, value, known in (("--model", args.model, _demo.MODELS), ("--dataset", args.dataset, _demo.DATASETS),
                               ("--device", args.device, _demo.DEVICES)):
        if value not in known:
            raise _CommandError(f"{flag}: expected one of {', '.join(known)}, got {value!r}")
    config = _demo.DemoConfig(
        model=args.model, dataset=args.dataset, epochs=_demo_integer(args.epochs, "--epochs", 1, 100_000),
        device=args.device, seed=_demo_integer(args.seed, "--seed", 0, 2**63 - 1), out=args.out,
        progress=not args.no_progress, threads=_demo_integer(args.threads, "--threads", 1, 1024),
    )
    try:
        _demo.run(config)
    except _demo.DemoError as exc:
        raise _CommandError(str(exc)) from None
    except RuntimeError as exc:  # e.g. CUDA out of memory: its first line, no traceback
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise _CommandError(f"{type(exc).__name__}: {first_line}") from None
    return 0


# name -> (help, description, options, handler)
_COMMANDS: dict[str, tuple[str, str, Any, Any]] = {
    "eval": ("score MS-TCN prediction files against ground truth (Acc, Edit, F1@k)", _EVAL_DESCRIPTION,
             _eval_arguments, _run_eval),
    "warmup": ("compile the numba kernels once (cached on disk) so that no later call pays it",
               _WARMUP_DESCRIPTION, _no_arguments, _run_warmup),
    "plot": ("draw ground truth and predictions (MS-TCN folders) as coloured timelines, one PNG per video",
             _PLOT_DESCRIPTION, _plot_arguments, _run_plot),
    "demo": ("train MS-TCN++ or ASFormer on the embedded demo data and compare it with logistic regression",
             _DEMO_DESCRIPTION, _demo_arguments, _run_demo),
}


if __name__ == "__main__":
    raise SystemExit(main())
