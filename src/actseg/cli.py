"""The ``actseg`` command line.

Subcommands:

* ``actseg eval``: scores a folder of frame-level predictions against a folder of ground truth in the
  MS-TCN layout (see :mod:`actseg.io`) with :class:`actseg.metrics.SegmentationMetrics`, prints
  Acc, Acc(fg), Edit and F1@{10,25,50} and optionally writes them, per video too, to a JSON file.

Run ``actseg --help``, ``actseg eval --help``, or ``python -m actseg.cli ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .io import background_ids, read_label_file, read_mapping, read_split
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
    _add_eval_parser(commands)
    return parser


def _add_eval_parser(commands: Any) -> None:
    """Register ``actseg eval`` and its options."""
    sub = commands.add_parser(
        "eval",
        help="score MS-TCN prediction files against ground truth (Acc, Edit, F1@k)",
        description=(
            "Score frame-level predictions in the MS-TCN layout: ground truth DIR/<video>.txt (one class "
            "name per line), predictions PRED/<video> or PRED/<video>.txt (line 1 '### Frame level "
            "recognition: ###', line 2 space-separated names). Metrics are percentages."
        ),
    )
    sub.add_argument("--ground-truth", required=True, metavar="DIR", help="folder of <video>.txt files")
    sub.add_argument(
        "--predictions", required=True, metavar="DIR", help="folder of <video> or <video>.txt files"
    )
    sub.add_argument("--mapping", required=True, metavar="FILE", help="mapping.txt ('<id> <name>' lines)")
    sub.add_argument(
        "--protocol",
        default="mstcn",
        choices=PROTOCOLS,
        help="official script whose numbers are reproduced (default: %(default)s)",
    )
    sub.add_argument(
        "--background",
        nargs="+",
        default=[],
        metavar="NAME",
        help="class names excluded from segments and Acc(fg), e.g. SIL or action_start action_end",
    )
    sub.add_argument(
        "--split", metavar="BUNDLE", help="evaluate only the videos of this .bundle file (default: all)"
    )
    sub.add_argument("--json", metavar="OUT", help="also write dataset and per-video results to this file")
    sub.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    """``actseg eval``: read the folders, accumulate the metrics, print the table, write the JSON."""
    from .metrics import SegmentationMetrics

    mapping = read_mapping(args.mapping)
    background_names = list(dict.fromkeys(args.background))
    background = background_ids(mapping, background_names)
    split = read_split(args.split) if args.split else None
    pairs = _collect_videos(Path(args.ground_truth), Path(args.predictions), split)

    metrics = SegmentationMetrics(overlaps=_OVERLAPS, background=background, protocol=args.protocol)
    for video, gt_file, pred_file in pairs:
        pred, target = _load_pair(gt_file, pred_file, mapping)
        metrics.update(pred, target, video_ids=video)
    dataset = metrics.compute()
    print(_format_table(args.protocol, background_names, len(pairs), dataset))
    if args.json:
        _write_json(Path(args.json), args.protocol, background_names, dataset, metrics.per_video())
    return 0


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
    """Write the dataset and per-video results to ``out`` (parent folders created; NaN as null)."""
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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
