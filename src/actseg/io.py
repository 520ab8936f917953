"""Readers and writers for the file formats of temporal action segmentation.

The MS-TCN folder layout, read by ms-tcn, MS-TCN2, ASFormer, ASRF, C2F-TCN, DiffAct and FACT::

    data/<dataset>/mapping.txt                   "<id> <name>" per line, ids 0..C-1
    data/<dataset>/groundTruth/<video>.txt       one class NAME per frame and line, trailing newline
    data/<dataset>/splits/test.split<k>.bundle   one "<video>.txt" per line
    data/<dataset>/features/<video>.npy          float (D, T), channels first (not read here)
    results/<dataset>/split_<k>/<video>          prediction: line 1 "### Frame level recognition: ###",
                                                 line 2 the T class names separated by spaces

Frame labels are converted to int64 class ids (shape ``(T,)``) through the mapping, so they can be
passed straight to :mod:`actseg.metrics`.

Differences from the official readers (all deliberate, all documented per function):

* The official scripts split a file on ``"\\n"`` and drop the last element, so a ground-truth file or
  bundle without a trailing newline silently loses its last frame or video; here every line is kept.
* Lines are stripped of surrounding whitespace (``"\\r\\n"`` files read the same as ``"\\n"`` files).
* An unknown class name, an empty file or a malformed mapping raises a ``ValueError`` naming the
  file, the line or frame and the offending text, instead of a ``KeyError`` or a silent mismatch.
* Class ids are int64: a mapping id above ``2**63 - 1`` is a ``ValueError`` naming the file and line.
* A class name with whitespace cannot be written (it would read back as several names).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Union

import numpy as np

from ._checks import MAX_CLASS_ID, choice, class_mapping, file_path, label_array, renamed
from .segments import Segments

__all__ = [
    "CHECKPOINT_SOURCES",
    "background_ids",
    "convert_state_dict",
    "read_activitynet_ground_truth",
    "read_activitynet_predictions",
    "read_label_file",
    "read_mapping",
    "read_split",
    "write_activitynet_predictions",
    "write_label_file",
]

_Path = Union[str, os.PathLike]

_PREDICTION_HEADER = "### Frame level recognition: ###"
_LAYOUTS = ("prediction", "ground_truth")


def read_mapping(path: _Path) -> dict[str, int]:
    """Read an MS-TCN ``mapping.txt`` (one ``"<id> <name>"`` per line) into a name -> id dict.

    Blank lines are skipped; the dict keeps the order of the file.

    Args:
        path: the mapping file.

    Returns:
        ``{name: id}`` with ``C`` entries, ids as Python ints.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a line is not exactly two whitespace-separated tokens, an id is not an integer
            in ``[0, 2**63 - 1]`` (class ids are int64), a name or an id appears twice, or the file
            has no entries; the message names the file and the line number.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "mapping.txt"
        >>> _ = f.write_text("0 background\\n1 take\\n")
        >>> read_mapping(f)
        {'background': 0, 'take': 1}
    """
    text = _read_text(path, "mapping")
    mapping: dict[str, int] = {}
    line_of_id: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        name, class_id = _parse_mapping_line(tokens, path, number, line)
        if name in mapping:
            first = line_of_id[mapping[name]]
            raise ValueError(f"{path}: line {number}: duplicate class name {name!r} (first on line {first})")
        if class_id in line_of_id:
            raise ValueError(
                f"{path}: line {number}: duplicate class id {class_id} (first on line {line_of_id[class_id]})"
            )
        mapping[name] = class_id
        line_of_id[class_id] = number
    if not mapping:
        raise ValueError(f"{path}: expected at least one '<id> <name>' line, got an empty mapping file")
    return mapping


def read_label_file(path: _Path, mapping: Mapping[str, int]) -> np.ndarray:
    """Read the frame labels of one video, in either MS-TCN layout, as class ids.

    Two layouts are recognised from the first line:

    * ground truth (``groundTruth/<video>.txt``): one class name per line;
    * prediction (as ms-tcn's ``predict`` writes it): first line ``### Frame level recognition: ###``,
      then the names separated by spaces. Names spread over several lines after the header (as
      some forks write them) are all read.

    Unlike the official readers, which split on ``"\\n"`` and drop the last element (so a file
    without a trailing newline loses its last frame there), every frame is kept. Surrounding
    whitespace of each line is ignored, as are blank lines at the end of a ground-truth file; a
    blank line between two names is reported as the unknown label ``''``.

    Args:
        path: the label file.
        mapping: ``{name: id}``, e.g. from :func:`read_mapping`.

    Returns:
        ``(T,)`` int64 class ids, one per frame.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file holds no frame label, or a name is not in ``mapping`` (the message
            names the file, the 0-based frame index and the label).
        TypeError: ``mapping`` is not a mapping.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "video.txt"
        >>> _ = f.write_text("bg\\nbg\\ntake")  # no trailing newline: all 3 frames are kept
        >>> read_label_file(f, {"bg": 0, "take": 1}).tolist()
        [0, 0, 1]
    """
    mapping = class_mapping(mapping)
    text = _read_text(path, "label file")
    lines = text.splitlines()
    if lines and lines[0].strip() == _PREDICTION_HEADER:
        names = " ".join(lines[1:]).split()
    else:
        while lines and not lines[-1].strip():
            lines.pop()
        names = np.char.strip(np.asarray(lines, dtype=str))
    if not len(names):
        raise ValueError(f"{path}: expected at least one frame label, got an empty label file")
    return _names_to_ids(np.asarray(names, dtype=str), mapping, path)


def write_label_file(
    path: _Path, labels: Any, mapping: Mapping[str, int], *, layout: str = "prediction"
) -> None:
    """Write the frame labels of one video as class names, in an MS-TCN layout.

    ``layout="prediction"`` writes exactly what ms-tcn's ``predict`` writes: the line
    ``### Frame level recognition: ###``, then the names separated by single spaces (no trailing
    newline). ``layout="ground_truth"`` writes one name per line with a trailing newline, like the
    ``groundTruth/<video>.txt`` files. Parent folders are created. :func:`read_label_file` reads
    both back unchanged.

    Class names are separated by whitespace in these files and in ``mapping.txt``, so a name that
    contains whitespace (or is empty) cannot be written: it is a ``ValueError``, and nothing is written.

    Args:
        path: the file to (over)write.
        labels: ``(T,)`` integer class ids (numpy array, tensor or sequence), ``T >= 1``.
        mapping: ``{name: id}``; every id in ``labels`` must be one of its values, once.
        layout: ``"prediction"`` or ``"ground_truth"``.

    Raises:
        ValueError: ``labels`` is empty, not 1-D or holds an id missing from ``mapping``; ``mapping``
            gives one id to two names, or a written name is empty or contains whitespace or NUL;
            ``layout`` is unknown.
        TypeError: ``labels`` is not an integer array, or ``mapping`` is not a mapping.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "video"
        >>> write_label_file(f, [0, 0, 1], {"bg": 0, "take": 1})
        >>> f.read_text()
        '### Frame level recognition: ###\\nbg bg take'
    """
    choice(layout, _LAYOUTS, "layout")
    ids = label_array(labels, "labels")
    names = _ids_to_names(ids, class_mapping(mapping))
    if layout == "prediction":
        text = _PREDICTION_HEADER + "\n" + " ".join(names)
    else:
        text = "\n".join(names) + "\n"
    target = file_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def background_ids(mapping: Mapping[str, int], names: str | Iterable[str]) -> tuple[int, ...]:
    """Class ids of the background class names, for the ``background=`` argument of the metrics.

    Args:
        mapping: ``{name: id}``, e.g. from :func:`read_mapping`.
        names: background class names (a single string is one name), e.g. ``["SIL"]`` (Breakfast),
            ``["action_start", "action_end"]`` (50Salads), ``["background"]`` (GTEA).

    Returns:
        The ids in the order of ``names``, each once; ``()`` for no names.

    Raises:
        ValueError: a name is not in ``mapping`` (the message lists the known names).
        TypeError: ``mapping`` is not a mapping or a name is not a string.

    Example:
        >>> background_ids({"SIL": 0, "pour_milk": 1}, ["SIL"])
        (0,)
    """
    mapping = class_mapping(mapping)
    wanted = [names] if isinstance(names, str) else list(names)
    ids: dict[int, None] = {}
    for name in wanted:
        if not isinstance(name, str):
            raise TypeError(f"names: expected class names as strings, got {type(name).__name__} {name!r}")
        if name not in mapping:
            raise ValueError(f"names: unknown background class {name!r}; known names: {_known(mapping)}")
        ids[int(mapping[name])] = None
    return tuple(ids)


def read_split(path: _Path) -> list[str]:
    """Read an MS-TCN split file (``splits/*.bundle``, one ``"<video>.txt"`` per line).

    Blank lines are skipped and a trailing ``.txt`` is removed (names without it are kept as they
    are). Unlike the official readers, the last video is kept even without a trailing newline.

    Args:
        path: the ``.bundle`` file.

    Returns:
        The video names in file order, without extension.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file lists no video or one video twice (the message names the file and line).

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "test.split1.bundle"
        >>> _ = f.write_text("rgb-01-1.txt\\nrgb-02-1.txt\\n")
        >>> read_split(f)
        ['rgb-01-1', 'rgb-02-1']
    """
    text = _read_text(path, "split")
    videos: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        video = entry[: -len(".txt")] if entry.endswith(".txt") else entry
        if video in videos:
            first = videos[video]
            raise ValueError(f"{path}: line {number}: duplicate video {entry!r} (first on line {first})")
        videos[video] = number
    if not videos:
        raise ValueError(f"{path}: expected at least one '<video>.txt' line, got an empty split file")
    return list(videos)


def _activitynet_json(path: _Path, what: str, key: str) -> dict:
    import json

    try:
        data = json.loads(_read_text(path, what))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: expected JSON, got a syntax error at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise ValueError(f"{path}: expected an ActivityNet JSON object with a {key!r} mapping")
    return data[key]


def _activitynet_segments(entries: Any, path: _Path, video: str, mapping: Mapping[str, int],
                          unknown_labels: str, with_scores: bool) -> Segments:
    """The entries of one video as ``Segments`` (seconds); ValueError naming file, video and entry.

    Every segment must be finite with ``end > start``; ground-truth segments (``with_scores=False``)
    must also start at ``>= 0`` s. Prediction starts may be negative (the official evaluator scores them).
    """
    if not isinstance(entries, list):
        raise ValueError(f"{path}: video {video!r}: expected a list of entries, got {type(entries).__name__}")
    fields = "'segment', 'label' and 'score'" if with_scores else "'segment' and 'label'"
    starts, ends, labels, scores = [], [], [], []
    for i, entry in enumerate(entries):
        where = f"{path}: video {video!r} entry {i}"
        try:
            segment = entry["segment"]
            if not isinstance(segment, (list, tuple)):
                raise TypeError(segment)
            start, end = (float(v) for v in segment)
            name = entry["label"]
            score = float(entry["score"]) if with_scores else 0.0
        except (KeyError, TypeError, ValueError, OverflowError):
            raise ValueError(f"{where}: expected {fields}, got {entry!r}") from None
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start or (start < 0 and not with_scores):
            low = "" if with_scores else "start >= 0 and "
            raise ValueError(f"{where}: expected a finite segment [start, end] (seconds) with {low}end > start, "
                             f"got {entry['segment']!r}")
        if not math.isfinite(score):
            raise ValueError(f"{where}: expected a finite score, got {entry['score']!r}")
        if not isinstance(name, str):
            raise ValueError(f"{where}: expected a label name (string), got {name!r}")
        if name not in mapping:
            if unknown_labels == "ignore":
                continue
            known = "a ground-truth class" if with_scores else "in mapping"
            raise ValueError(f"{where}: label {name!r} is not {known}")
        starts.append(start)
        ends.append(end)
        labels.append(mapping[name])
        scores.append(score)
    return Segments(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64),
                    np.array(labels, dtype=np.int64), np.array(scores) if with_scores else None)


def _activitynet_videos(data: dict, path: _Path) -> dict:
    for video, info in data.items():
        if not isinstance(info, dict):
            raise ValueError(f"{path}: video {video!r}: expected a JSON object, got {type(info).__name__}")
    return data


def read_activitynet_ground_truth(path: _Path, *, subset: str | None = "validation",
                                  mapping: Mapping[str, int] | None = None,
                                  class_ids: Mapping[str, int] | None = None) -> tuple[dict, dict[str, int]]:
    """Read an ActivityNet ground-truth JSON (``{"database": {video: {"subset", "annotations": [...]}}}``).

    Args:
        path: the JSON file (times in seconds).
        subset: keep the videos of this subset (``None``: all).
        mapping: label name -> class id; by default ids follow the order in which the names first
            appear among the videos of ``subset``, as the official evaluator's ``activity_index`` does
            (``subset=None``: the whole file).
        class_ids: deprecated spelling of ``mapping`` (``DeprecationWarning``; removed in the next
            minor release).

    Returns:
        ``(ground_truth, mapping)``: ``{video: Segments}`` (float64 seconds; a video without
        annotation has an empty ``Segments``) for :func:`actseg.metrics.detection_map`, and the
        name -> id mapping.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: invalid JSON, malformed entries, an annotation that is not finite or not
            ``0 <= start < end``, or a label missing from ``mapping`` (the message names the file,
            the video and the entry).
        TypeError: ``mapping`` is not a dict of name -> integer id.

    Example:
        >>> import json, tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "gt.json"
        >>> _ = f.write_text(json.dumps({"database": {"v": {"subset": "validation", "annotations": [
        ...     {"segment": [1.0, 4.5], "label": "Run"}]}}}))
        >>> gt, mapping = read_activitynet_ground_truth(f)
        >>> mapping, gt["v"].starts.tolist(), gt["v"].ends.tolist()
        ({'Run': 0}, [1.0], [4.5])
    """
    mapping = renamed(mapping, class_ids, new="mapping", old="class_ids", default=None)
    if subset is not None and not isinstance(subset, str):
        raise TypeError(f"subset: expected a string or None, got {type(subset).__name__} {subset!r}")
    database = _activitynet_videos(_activitynet_json(path, "ground truth", "database"), path)
    videos = {video: info for video, info in database.items() if subset is None or info.get("subset") == subset}
    if mapping is not None:
        ids = class_mapping(mapping)
    else:
        ids = {}
        for info in videos.values():
            entries = info.get("annotations", [])
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, dict) and isinstance(entry.get("label"), str):
                    ids.setdefault(entry["label"], len(ids))
    out = {video: _activitynet_segments(info.get("annotations", []), path, video, ids, "error", False)
           for video, info in videos.items()}
    return out, ids


def read_activitynet_predictions(path: _Path, mapping: Mapping[str, int] | None = None, *,
                                 unknown_labels: str = "error",
                                 class_ids: Mapping[str, int] | None = None) -> dict:
    """Read an ActivityNet prediction JSON (``{"results": {video: [{"label", "score", "segment"}]}}``).

    Args:
        path: the JSON file (times in seconds).
        mapping: label name -> class id, e.g. from :func:`read_activitynet_ground_truth` (required;
            may be passed positionally).
        unknown_labels: ``"error"`` (default; the official evaluator fails on them too) or ``"ignore"``.
        class_ids: deprecated spelling of ``mapping`` (``DeprecationWarning``; removed in the next
            minor release).

    Returns:
        ``{video: Segments}`` with float64 seconds and scores.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: invalid JSON, malformed entries, a segment that is not finite or has
            ``end <= start``, a score that is not finite, or (with ``unknown_labels="error"``) a label
            missing from ``mapping``; the message names the file, the video and the entry. A negative
            start is accepted (the official evaluator scores it).
        TypeError: ``mapping`` is missing or not a dict of name -> integer id.

    Example:
        >>> import json, tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "pred.json"
        >>> _ = f.write_text(json.dumps({"results": {"v": [{"label": "Run", "score": 0.9, "segment": [1, 4]}]}}))
        >>> pred = read_activitynet_predictions(f, {"Run": 0})
        >>> pred["v"].labels.tolist(), pred["v"].scores.tolist()
        ([0], [0.9])
    """
    mapping = renamed(mapping, class_ids, new="mapping", old="class_ids", default=None)
    if mapping is None:
        raise TypeError("mapping: expected a dict of label name -> class id, got None")
    mapping = class_mapping(mapping)
    choice(unknown_labels, ("error", "ignore"), "unknown_labels")
    results = _activitynet_json(path, "predictions", "results")
    return {video: _activitynet_segments(entries, path, video, mapping, unknown_labels, True)
            for video, entries in results.items()}



def write_activitynet_predictions(path: _Path, detections: Mapping[str, Segments], class_names: Iterable[str], *,
                                  fps: float | Mapping[str, float] = 1.0) -> None:
    """Write detections as an ActivityNet prediction JSON, the submission format of the official evaluator.

    Writes ``{"version": "VERSION 1.3", "results": {video: [{"label", "score", "segment": [start, end]}]},
    "external_data": {}}`` with times in seconds, ``seconds = frames / fps``: detections in feature
    frames are written with ``fps`` = feature frames per second (one number, or one per video such as
    ``ActivityNetDataset.frames_per_second``); ``fps=1.0`` writes them unchanged (already seconds).
    :func:`read_activitynet_predictions` reads the file back to the same ``Segments`` (in seconds,
    float64; JSON keeps every float64 exactly). Parent folders are created.

    Args:
        path: the JSON file to (over)write.
        detections: ``{video: Segments}`` with scores (one ``Segments`` of ``N`` detections per
            video; empty ones are written as empty lists).
        class_names: the names of the class ids ``0 .. K-1``.
        fps: frames per second of the detections' time unit (``> 0``), or ``{video: fps}`` covering
            every video of ``detections``.

    Raises:
        TypeError: ``detections`` is not a mapping of string video ids to ``Segments``, ``class_names``
            is not a list of strings, ``fps`` is not a number or a mapping of numbers.
        ValueError: a ``Segments`` without scores or with non-finite scores, a label outside
            ``0 .. K-1``, duplicate or empty class names, ``fps <= 0`` or missing for a video, or
            times that are not finite in seconds or whose segment collapses there (``end <= start``).

    Example:
        >>> import tempfile, pathlib
        >>> from actseg.segments import Segments
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "pred.json"
        >>> dets = {"v1": Segments([10, 40], [30, 50], [1, 0], scores=[0.9, 0.4])}  # frames
        >>> write_activitynet_predictions(f, dets, ["Run", "Jump"], fps=10.0)
        >>> back = read_activitynet_predictions(f, {"Run": 0, "Jump": 1})
        >>> back["v1"].starts.tolist(), back["v1"].ends.tolist(), back["v1"].labels.tolist()
        ([1.0, 4.0], [3.0, 5.0], [1, 0])
    """
    import json

    from ._checks import name_list, real, segments_mapping

    detections = segments_mapping(detections, "detections", scores=True)
    names = name_list(class_names, "class_names")
    if not isinstance(fps, Mapping):
        fps = real(fps, "fps", low=0.0, low_open=True)
    results = {}
    for video, seg in detections.items():
        if not isinstance(video, str):
            raise TypeError(f"detections: expected video ids as strings, got {type(video).__name__} {video!r}")
        if isinstance(fps, Mapping):
            if video not in fps:
                raise ValueError(f"fps: expected a rate for every video of detections, got none for {video!r}")
            rate = real(fps[video], f"fps[{video!r}]", low=0.0, low_open=True)
        else:
            rate = fps
        bad = np.flatnonzero((seg.labels < 0) | (seg.labels >= len(names)))
        if bad.size:
            raise ValueError(f"detections[{video!r}]: expected labels in [0, {len(names) - 1}] (ids of class_names), "
                             f"got {int(seg.labels[bad[0]])} at index {int(bad[0])}")
        with np.errstate(over="ignore"):
            starts, ends = seg.starts / rate, seg.ends / rate
        if not (np.isfinite(starts).all() and np.isfinite(ends).all()):
            raise ValueError(f"detections[{video!r}]: expected finite times in seconds (frames / fps), got "
                             f"infinite values with fps={rate}")
        collapsed = np.flatnonzero(ends <= starts)  # a segment shorter than the rounding of the division
        if collapsed.size:
            i = int(collapsed[0])
            raise ValueError(f"detections[{video!r}]: expected end > start in seconds (frames / fps), got "
                             f"[{starts[i].item()!r}, {ends[i].item()!r}] from frames [{seg.starts[i].item()!r}, "
                             f"{seg.ends[i].item()!r}) at index {i} with fps={rate}")
        results[video] = [{"label": names[label], "score": score, "segment": [start, end]} for label, score, start, end
                          in zip(seg.labels.tolist(), seg.scores.tolist(), starts.tolist(), ends.tolist())]
    text = json.dumps({"version": "VERSION 1.3", "results": results, "external_data": {}}, allow_nan=False)
    target = file_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")

# Official parameter names -> actseg names, per source (first matching rule wins; "" keeps the key).
_CHECKPOINT_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    # yabufarha/ms-tcn model.py MultiStageModel -> actseg.layers.MSTCN, and SingleStageModel (the same keys
    # without the stage prefix) -> actseg.layers.SingleStageTCN; group 1 is the stage prefix
    "ms-tcn": (
        (r"^((?:stage1|stages\.\d+)\.)?conv_1x1\.(weight|bias)$", r"\1conv_in.\2"),
        (r"^((?:stage1|stages\.\d+)\.)?layers\.\d+\.(conv_dilated|conv_1x1)\.(weight|bias)$", ""),
        (r"^((?:stage1|stages\.\d+)\.)?conv_out\.(weight|bias)$", ""),
    ),
    # sj-li/MS-TCN2 model.py MS_TCN2 -> actseg.layers.MSTCNPlusPlus
    "ms-tcn2": (
        (r"^PG\.conv_1x1_in\.(weight|bias)$", r"generation.conv_in.\1"),
        (r"^PG\.conv_dilated_1\.(\d+)\.(weight|bias)$", r"generation.layers.\1.conv_large.\2"),
        (r"^PG\.conv_dilated_2\.(\d+)\.(weight|bias)$", r"generation.layers.\1.conv_small.\2"),
        (r"^PG\.conv_fusion\.(\d+)\.(weight|bias)$", r"generation.layers.\1.conv_fusion.\2"),
        (r"^PG\.conv_out\.(weight|bias)$", r"generation.conv_out.\1"),
        (r"^Rs\.(\d+)\.conv_1x1\.(weight|bias)$", r"refinements.\1.conv_in.\2"),
        (r"^Rs\.(\d+)\.(layers\.\d+\.(conv_dilated|conv_1x1)|conv_out)\.(weight|bias)$", r"refinements.\1.\2.\4"),
    ),
    # ChinaYi/ASFormer model.py MyTransformer -> actseg.layers.ASFormer
    "asformer": (
        (r"^(encoder|decoders\.\d+)\.conv_1x1\.(weight|bias)$", r"\1.conv_in.\2"),
        (r"^(encoder|decoders\.\d+)\.conv_out\.(weight|bias)$", ""),
        (r"^(encoder|decoders\.\d+)\.(layers\.\d+)\.feed_forward\.layer\.0\.(weight|bias)$", r"\1.\2.feed_forward.\3"),
        (r"^(encoder|decoders\.\d+)\.(layers\.\d+)\.att_layer\.(query_conv|key_conv|value_conv|conv_out)\."
         r"(weight|bias)$", r"\1.\2.attention.\3.\4"),
        (r"^(encoder|decoders\.\d+)\.(layers\.\d+)\.conv_1x1\.(weight|bias)$", ""),
    ),
}
_CHECKPOINT_FUNCTIONS: dict[str, Any] = {}  # source -> converter function (defined at the end of this file)
CHECKPOINT_SOURCES = tuple(_CHECKPOINT_RULES)


def convert_state_dict(state_dict: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Rename the parameters of an official checkpoint to the keys of the matching ``actseg.layers`` module.

    ======================  ===============================================  =====================================
    ``source``              official module (repository)                     load into
    ======================  ===============================================  =====================================
    ``"ms-tcn"``            ``MultiStageModel`` (yabufarha/ms-tcn)           ``MSTCN(D, K, S, L, F)``
    ``"ms-tcn"``            ``SingleStageModel`` (yabufarha/ms-tcn)          ``SingleStageTCN(D, K, L, F)``
    ``"ms-tcn2"``           ``MS_TCN2`` (sj-li/MS-TCN2)                      ``MSTCNPlusPlus(D, K, L_PG, L_R, R, F)``
    ``"asformer"``          ``MyTransformer`` (ChinaYi/ASFormer)             ``ASFormer(D, K, L, F, num_decoders)``
    ``"fact"``              ``X2Y_map``, ``SCALayer``, ``SALayer`` (FACT)    ``CrossAttentionUpdate``,
                                                                             ``ActionTokenDecoderLayer``,
                                                                             ``TokenSelfAttentionLayer``
    ``"ms-g3d"``            ``MultiScale_GraphConv`` (MS-G3D, DeST ``SP``)   ``MultiScaleGraphConv(C, C_out, A)``
    ``"pygmtools-pca-gm"``  ``PCA_GM_Net`` (pygmtools ``pca_gm`` network)     ``GraphMatching(d, hidden, out, L)``
    ======================  ===============================================  =====================================

    The module built with the matching arguments loads the result with ``strict=True`` and, on
    unpadded input, gives the official outputs (tested to 1e-5 in float32 and 1e-9 in float64).
    A ``"module."`` prefix (``nn.DataParallel`` checkpoints) is removed. Values are not copied. An ms-tcn
    ``SingleStageModel`` state dict is recognised by its keys without a ``stage1.``/``stages.{s}.`` prefix;
    one state dict mixing both layouts is rejected.

    Args:
        state_dict: the official ``state_dict`` (for example ``torch.load(path, map_location="cpu")``).
        source: one of ``CHECKPOINT_SOURCES``.

    Returns:
        A new dict (same order) with actseg keys and the same tensors.

    Raises:
        ValueError: unknown ``source``, keys that do not belong to that source (the message lists them), or
            an ms-tcn state dict that mixes ``MultiStageModel`` and ``SingleStageModel`` keys.
        TypeError: ``state_dict`` is not a mapping, or ``source`` is not a string.

    Example:
        >>> convert_state_dict({"PG.conv_dilated_1.0.weight": 0}, "ms-tcn2")
        {'generation.layers.0.conv_large.weight': 0}
        >>> convert_state_dict({"conv_1x1.weight": 0, "layers.0.conv_1x1.bias": 1}, "ms-tcn")  # SingleStageModel
        {'conv_in.weight': 0, 'layers.0.conv_1x1.bias': 1}
    """
    from . import _checks

    if not isinstance(state_dict, Mapping):
        kind = _checks.type_name(state_dict)
        raise TypeError(f"state_dict: expected a mapping of parameter names to tensors, got {kind}")
    source = _checks.choice(source, CHECKPOINT_SOURCES, "source")
    _no_prefix_twins(state_dict)
    if source in _CHECKPOINT_FUNCTIONS:  # sources with a converter function of their own
        return _CHECKPOINT_FUNCTIONS[source](state_dict)
    rules = [(re.compile(pattern), replacement) for pattern, replacement in _CHECKPOINT_RULES[source]]
    out: dict[str, Any] = {}
    unknown = []
    first_of_layout: dict[bool, str] = {}  # ms-tcn: prefixed (MultiStageModel) or not (SingleStageModel)
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"state_dict: expected parameter names (str) as keys, got {_checks.type_name(key)} {key!r}")
        name = key[len("module."):] if key.startswith("module.") else key
        for pattern, replacement in rules:
            match = pattern.match(name)
            if match:
                out[pattern.sub(replacement, name) if replacement else name] = value
                if source == "ms-tcn":
                    first_of_layout.setdefault(match.group(1) is not None, key)
                break
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"state_dict: {len(unknown)} keys are not parameters of a {source!r} checkpoint: {shown}")
    if len(first_of_layout) > 1:
        raise ValueError(f"state_dict: expected the keys of one ms-tcn module, got MultiStageModel keys "
                         f"({first_of_layout[True]!r}) and SingleStageModel keys ({first_of_layout[False]!r})")
    return out


def _no_prefix_twins(state_dict: Mapping[Any, Any]) -> None:
    """ValueError if ``"module.X"`` and ``"X"`` are both keys: removing the prefix would drop one silently."""
    seen: dict[str, str] = {}
    for key in state_dict:
        if isinstance(key, str):
            name = key[len("module."):] if key.startswith("module.") else key
            if name in seen:
                raise ValueError(f"state_dict: {seen[name]!r} and {key!r} name the same parameter "
                                 f"(the 'module.' prefix of nn.DataParallel checkpoints is removed)")
            seen[name] = key


def _read_text(path: _Path, what: str) -> str:
    """The whole text of ``path`` (UTF-8); FileNotFoundError/ValueError naming the file."""
    file = file_path(path)
    if not file.exists():
        raise FileNotFoundError(f"{what}: no such file: {path}")
    if not file.is_file():
        raise ValueError(f"{what}: expected a file, got a directory or special file: {path}")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
    raise ValueError(f"{path}: expected UTF-8 text, got undecodable bytes at offset {offset}")


def _parse_mapping_line(tokens: list[str], path: _Path, number: int, line: str) -> tuple[str, int]:
    """``(name, id)`` of one non-blank mapping line; ValueError naming file and line otherwise."""
    if len(tokens) != 2:
        raise ValueError(
            f"{path}: line {number}: expected '<id> <name>' (2 whitespace-separated tokens), "
            f"got {len(tokens)} tokens: {line.strip()!r}"
        )
    id_text, name = tokens
    if not (id_text.isascii() and id_text.isdigit()):
        raise ValueError(f"{path}: line {number}: expected a non-negative integer id, got {id_text!r}")
    if len(id_text.lstrip("0")) > 19 or int(id_text) > MAX_CLASS_ID:  # length first: int() of a huge text is slow
        shown = id_text if len(id_text) <= 30 else id_text[:27] + "..."
        raise ValueError(f"{path}: line {number}: expected a class id <= 2**63 - 1 (int64), got {shown}")
    return name, int(id_text)


def _known(mapping: Mapping[str, int], limit: int = 30) -> str:
    """The mapping's names for an error message, at most ``limit`` of them."""
    names = [repr(name) for name in list(mapping)[:limit]]
    rest = len(mapping) - len(names)
    return ", ".join(names) + (f", ... ({rest} more)" if rest > 0 else "")


def _names_to_ids(names: np.ndarray, mapping: Mapping[str, int], path: _Path) -> np.ndarray:
    """Vectorised name -> id lookup of ``(T,)`` names: a dict lookup per unique name only."""
    unique, inverse = np.unique(names, return_inverse=True)
    unique_ids = np.array([mapping.get(str(name), -1) for name in unique], dtype=np.int64)
    unknown = np.flatnonzero(unique_ids < 0)
    if unknown.size:
        frames = np.flatnonzero(np.isin(inverse.reshape(-1), unknown))
        frame = int(frames[0])
        raise ValueError(
            f"{path}: frame {frame}: unknown label {str(names[frame])!r} "
            f"(not in the mapping; known labels: {_known(mapping)})"
        )
    return unique_ids[inverse.reshape(-1)]


def _ids_to_names(ids: np.ndarray, mapping: Mapping[str, int]) -> list[str]:
    """Vectorised id -> name lookup of ``(T,)`` ids; ValueError for ids missing from ``mapping``, or for
    names that cannot be written (empty, or containing whitespace or NUL)."""
    name_of: dict[int, str] = {}
    for name, class_id in mapping.items():
        key = int(class_id)
        if key in name_of:
            raise ValueError(
                f"mapping: expected one name per id, got id {key} for both {name_of[key]!r} and {name!r}"
            )
        name_of[key] = name
    unique, inverse = np.unique(ids, return_inverse=True)
    missing = [int(i) for i in unique if int(i) not in name_of]
    if missing:
        frame = int(np.flatnonzero(ids == missing[0])[0])
        raise ValueError(
            f"labels: id {missing[0]} at frame {frame} is not in the mapping (known ids: {sorted(name_of)})"
        )
    for i in unique:
        name = name_of[int(i)]
        if not name or name.split() != [name]:
            raise ValueError(
                "mapping: expected class names without whitespace (MS-TCN label files and mapping.txt "
                f"separate names by whitespace), got {name!r} for id {int(i)}"
            )
        if "\x00" in name:  # numpy's str arrays, which the reader uses, drop trailing NULs
            raise ValueError(f"mapping: expected class names without NUL characters, got {name!r} for id {int(i)}")
    table = np.array([name_of[int(i)] for i in unique], dtype=object)
    return table[inverse.reshape(-1)].tolist()


# --- FACT (ZijiaLewisLu/CVPR2024-FACT@dba2399 models/basic.py)

# X2Y_map -> CrossAttentionUpdate
_FACT_X2Y = {"X_K": "key", "X_V": "value", "Y_Q": "query", "Y_W": "out"}
_FACT_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<name>X_K|X_V|Y_Q|Y_W|multihead_attn)\.(?P<rest>.+)$")
_FACT_SCA = re.compile(r"^((?:.*\.)?)self_attn\.")


def _convert_fact(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """FACT keys -> ``CrossAttentionUpdate`` / ``ActionTokenDecoderLayer`` / ``TokenSelfAttentionLayer`` keys.

    ``X2Y_map``'s ``X_K``, ``X_V``, ``Y_Q``, ``Y_W`` become ``key``, ``value``, ``query``, ``out``. ``SCALayer``
    and ``SALayer`` both hold a ``multihead_attn``: in ``SCALayer`` (the block that also has ``self_attn``) it
    is the cross-attention (``cross_attn``), in ``SALayer`` the self-attention (``self_attn``); their other
    names (``linear1/2``, ``norm1..3``, packed ``in_proj_weight`` or separate ``q/k/v_proj_weight``) are ours
    already. Keys of a whole FACT model keep their prefix (``block_list.0.action_branch.layers.3.``) and
    keys of other modules (frame branches, ``out_linear``, ``action_query``, ``frame_pe``...) pass unchanged,
    so ``{k[len(p):]: v for k, v in out.items() if k.startswith(p)}`` is one block's state dict.
    """
    from . import _checks

    names = []
    for key in state_dict:
        if not isinstance(key, str):
            raise TypeError(f"state_dict: expected parameter names (str) as keys, got {_checks.type_name(key)} {key!r}")
        names.append(key[len("module."):] if key.startswith("module.") else key)
    sca_prefixes = {m.group(1) for m in map(_FACT_SCA.match, names) if m is not None}  # SCALayers
    out: dict[str, Any] = {}
    for name, value in zip(names, state_dict.values()):
        match = _FACT_KEY.match(name)
        if match is not None:
            prefix, old = match.group("prefix"), match.group("name")
            new = _FACT_X2Y.get(old) or ("cross_attn" if prefix in sca_prefixes else "self_attn")
            name = f"{prefix}{new}.{match.group('rest')}"
        if name in out:  # a renamed key meets one that passes unchanged
            raise ValueError(f"state_dict: two keys become {name!r} (one FACT name renamed, one already an "
                             f"actseg name); expected one of them")
        out[name] = value
    return out


_CHECKPOINT_FUNCTIONS["fact"] = _convert_fact
CHECKPOINT_SOURCES = (*CHECKPOINT_SOURCES, "fact")

# --- MS-G3D / DeST multi-scale graph convolution

_MSG3D_KEY = re.compile(
    r"^(.*?)(?:(A_res)|mlp\.layers\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked))$")


def _convert_ms_g3d(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """``MultiScale_GraphConv`` of MS-G3D (``model/ms_gcn.py``@2f927f4) or DeST (``libs/models/SP.py``@319e1f1)
    -> :class:`actseg.layers.MultiScaleGraphConv`.

    ``A_res`` ``(S·V, V)`` becomes ``residual`` ``(S, V, V)`` (a view: scale ``k`` is rows ``k·V..(k+1)·V``);
    the ``MLP``'s ``Conv2d`` and ``BatchNorm2d`` (``mlp.layers.0``/``.1``, or ``.1``/``.2`` when the block was
    built with ``dropout > 0.001`` and a ``Dropout`` comes first) become ``conv`` and ``norm``. Keys may carry
    a prefix (a block inside a whole model, such as DeST's ``SP.``); it is kept. The adjacency itself
    (``A_powers``) is not in the official state dict: build the module with
    ``multiscale_adjacency(edges, V, S)`` of the same graph (:func:`actseg.layers.skeleton_edges` has
    DeST's graphs; MS-G3D's NTU graph differs in the hand bones, see there).

    Layouts: MS-G3D's block takes ``(N, C, T, V)``, as ours. DeST's ``SP`` block takes ``(N, C, V, T)`` and
    transposes it first, and returns ``(N, C_out, T, V)``: feed ours ``x.transpose(2, 3)``.

    Example:
        >>> import torch
        >>> sd = {"A_res": torch.zeros(26, 13), "mlp.layers.0.weight": torch.zeros(4, 6, 1, 1)}
        >>> {k: tuple(v.shape) for k, v in convert_state_dict(sd, "ms-g3d").items()}
        {'residual': (2, 13, 13), 'conv.weight': (4, 6, 1, 1)}
    """
    matches = {}
    unknown = []
    for key in state_dict:
        if not isinstance(key, str):
            raise TypeError(f"state_dict: expected parameter names (str) as keys, got {type(key).__name__} {key!r}")
        name = key[len("module."):] if key.startswith("module.") else key
        match = _MSG3D_KEY.match(name)
        if match is None:
            unknown.append(key)
        else:
            matches[key] = match
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"state_dict: {len(unknown)} keys are not parameters of a 'ms-g3d' checkpoint: {shown}")
    first_layer: dict[str, int] = {}  # prefix -> index of the Conv2d in mlp.layers (the lowest index)
    for match in matches.values():
        if match.group(3) is not None:
            prefix, index = match.group(1), int(match.group(3))
            first_layer[prefix] = min(first_layer.get(prefix, index), index)
    for key, match in matches.items():  # the lowest index must be the Conv2d: a 4-D weight, no running statistics
        if match.group(3) is not None and int(match.group(3)) == first_layer[match.group(1)]:
            shape = getattr(state_dict[key], "shape", None)
            if match.group(4) not in ("weight", "bias") or (match.group(4) == "weight" and shape is not None
                                                            and len(shape) != 4):
                raise ValueError(f"state_dict: expected the MLP's Conv2d (a 4-D 'weight' at the lowest "
                                 f"'{match.group(1)}mlp.layers' index) before the BatchNorm2d, got {key!r} first; "
                                 f"is the Conv2d's weight missing?")
    out: dict[str, Any] = {}
    for key, match in matches.items():
        prefix, value = match.group(1), state_dict[key]
        if match.group(2):
            shape = tuple(getattr(value, "shape", ()))
            if len(shape) != 2 or shape[1] == 0 or shape[0] % shape[1]:
                raise ValueError(f"state_dict: expected {key!r} of shape (S*V, V), got {shape}")
            out[prefix + "residual"] = value.reshape(shape[0] // shape[1], shape[1], shape[1])
            continue
        offset = int(match.group(3)) - first_layer[prefix]
        if offset > 1 or (offset == 0 and match.group(4) not in ("weight", "bias")):
            raise ValueError(f"state_dict: {key!r} is not a parameter of the MLP's Conv2d or BatchNorm2d")
        out[f"{prefix}{('conv', 'norm')[offset]}.{match.group(4)}"] = value
    return out


_CHECKPOINT_FUNCTIONS["ms-g3d"] = _convert_ms_g3d
CHECKPOINT_SOURCES = (*CHECKPOINT_SOURCES, "ms-g3d")
# --- added by gm: pygmtools PCA_GM_Net -> actseg.layers.GraphMatching


def _pygmtools_pca_gm_rules() -> tuple[tuple[str, str], ...]:
    """Renaming rules for pygmtools 0.6 ``PCA_GM_Net`` (the network of ``pygmtools.pca_gm``, PyTorch backend):
    ``gnn_layer_{i}.gconv.{a_fc,u_fc}.*`` -> ``gconvs.{i}.*``, ``cross_graph_{L-2}.*`` -> ``cross_graph.*``,
    ``affinity_{i}.A`` -> ``affinity.{i}`` (``i`` = ``L - 2`` and ``L - 1``)."""
    return (
        (r"^gnn_layer_(\d+)\.gconv\.(a_fc|u_fc)\.(weight|bias)$", r"gconvs.\1.\2.\3"),
        (r"^cross_graph_\d+\.(weight|bias)$", r"cross_graph.\1"),
        (r"^affinity_(\d+)\.A$", r"affinity.\1"),
    )


_CHECKPOINT_RULES["pygmtools-pca-gm"] = _pygmtools_pca_gm_rules()
CHECKPOINT_SOURCES = (*CHECKPOINT_SOURCES, "pygmtools-pca-gm")
