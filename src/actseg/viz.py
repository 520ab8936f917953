"""Timeline plots of segmentations: ground truth and predictions as coloured rows (optional extra ``viz``).

Needs matplotlib (``pip install "actseg-blocks[viz]"``), imported inside the functions that draw, so
``import actseg.viz`` works without it and :func:`class_colors` never needs it. No GUI backend is
ever selected: the figure is a plain :class:`matplotlib.figure.Figure` that ``savefig`` renders with
Agg, unless the caller has imported ``matplotlib.pyplot`` (then it is made by ``pyplot.figure`` so
that ``plt.show()`` and notebooks display it).

The picture (time runs left to right, in frames, or seconds with ``fps``):

* one row per entry of ``rows`` (ground truth, predictions...), top to bottom in the given order; a
  frame ``t`` covers ``[t, t + 1)``, a segment ``[start, end)`` is one rectangle of its class colour,
  padding (``-100``) and frames no segment covers stay empty;
* an optional probability strip: one thin row per class, white where ``p = 0`` and the class colour
  where ``p = 1`` (a heatmap whose rows carry the class colours, so every class is readable at once);
* an optional boundary-score line, drawn at ``x = t`` (the left edge of frame ``t``: a boundary at
  ``t`` starts a segment at ``t``, so its peak lines up with the rectangle edge above), with the
  ``peaks`` marked by triangles;
* a legend of the classes that occur in the rows, with their names and colours.

Colours are fixed per class id (:func:`class_colors`), so the same class has the same colour in
every row, every figure and every video.
"""

from __future__ import annotations

import colorsys
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import (
    id_set,
    instance_of,
    integer_array,
    label_array,
    real,
    real_array,
    shape_str,
    size,
    type_name,
    values_in_range,
)
from .segments import Segments, runs

__all__ = ["class_colors", "close_figure", "plot_timeline"]

_INSTALL = 'pip install "actseg-blocks[viz]"'

# tab10, then the light tab20 variants; tab10's grey and tab20's light grey are replaced by two tab20b
# colours, since light grey is the colour of background classes.
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#637939", "#dbdb8d", "#9edae5",
)
_PALETTE_RGB = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in _PALETTE])
_BACKGROUND_RGBA = (0.83, 0.83, 0.83, 1.0)
_MAX_CLASSES = 65536
_PADDING = -100


def class_colors(num_classes: int, *, background: Any = None) -> np.ndarray:
    """The colour of every class id: ``(K, 4)`` float64 RGBA in ``[0, 1]``, the same for an id whatever ``K``.

    Ids 0-19 take a fixed 20-colour palette (matplotlib's tab10, then the light tab20 variants), ids
    from 20 on colours spread by the golden angle in hue with alternating saturation and value;
    background classes are light grey (0.83). Needs no matplotlib.

    Args:
        num_classes: ``K``, an integer in ``[1, 65536]``.
        background: optional class id or ids (``< K``) drawn light grey, e.g. ``SIL``'s id.

    Returns:
        ``(K, 4)`` float64 RGBA, alpha 1.

    Example:
        >>> colors = class_colors(3, background=[0])
        >>> colors.shape, colors[0].tolist()
        ((3, 4), [0.83, 0.83, 0.83, 1.0])
        >>> bool((class_colors(30)[:3] == class_colors(3)[:3]).all())  # an id keeps its colour
        True
    """
    k = size(num_classes, "num_classes", low=1, high=_MAX_CLASSES)
    bg = np.zeros(0, np.int64) if background is None else id_set(background, "background")
    if bg.size and bg[-1] >= k:
        raise ValueError(f"background: expected class ids < {k} (num_classes), got {int(bg[-1])}")
    out = np.ones((k, 4))
    fixed = min(k, len(_PALETTE))
    out[:fixed, :3] = _PALETTE_RGB[:fixed]
    for index in range(fixed, k):  # once per class (not per frame)
        hue = (index * 0.6180339887498949) % 1.0
        out[index, :3] = colorsys.hsv_to_rgb(hue, 0.75 - 0.3 * (index % 2), 0.9 - 0.25 * ((index // 2) % 2))
    out[bg] = _BACKGROUND_RGBA
    return out


def _matplotlib() -> Any:
    """Import matplotlib, or an ImportError that says how to install it."""
    try:
        import matplotlib
        import matplotlib.collections
        import matplotlib.figure
        import matplotlib.patches
        import matplotlib.ticker
    except ImportError as exc:
        raise ImportError(f"actseg.viz needs matplotlib, which is not installed: {_INSTALL}") from exc
    return matplotlib


def _new_figure(figsize: tuple[float, float]) -> Any:
    """A figure with constrained layout: through pyplot when the caller uses pyplot, else a bare Figure (Agg)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        return pyplot.figure(figsize=figsize, layout="constrained")
    import matplotlib.figure

    return matplotlib.figure.Figure(figsize=figsize, layout="constrained")


def close_figure(fig: Any) -> None:
    """Release a figure made by :func:`plot_timeline` (pyplot keeps its figures until they are closed).

    Example:
        >>> from actseg.viz import plot_timeline, close_figure
        >>> fig = plot_timeline({"gt": [0, 0, 1]})
        >>> fig.savefig("video.png")
        >>> close_figure(fig)
    """
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


def _class_names(class_names: Any) -> list[str] | None:
    """``class_names`` (a sequence of strings, or a name -> id mapping as ``read_mapping`` gives) by id."""
    if class_names is None:
        return None
    if isinstance(class_names, Mapping):
        from ._checks import class_mapping

        mapping = class_mapping(class_names, "class_names")
        if not mapping:
            raise ValueError("class_names: expected at least one class, got an empty mapping")
        top = max(mapping.values())
        if top >= _MAX_CLASSES:
            raise ValueError(f"class_names: expected class ids < {_MAX_CLASSES}, got {top}")
        names = [str(i) for i in range(top + 1)]
        for name, class_id in mapping.items():
            names[class_id] = name
        return names
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names: expected a sequence of class names, got {type_name(class_names)}")
    if not class_names:
        raise ValueError("class_names: expected at least one class name, got an empty sequence")
    if len(class_names) > _MAX_CLASSES:
        raise ValueError(f"class_names: expected at most {_MAX_CLASSES} names, got {len(class_names)}")
    for i, name in enumerate(class_names):
        if not isinstance(name, str):
            raise TypeError(f"class_names[{i}]: expected a string, got {type_name(name)} {name!r}")
    return list(class_names)


def _row_segments(value: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """``(starts, ends, labels, length)`` of one row; ``length`` is ``None`` for a ``Segments``."""
    if isinstance(value, Segments):
        if len(value) and (value.starts.min() < 0):
            raise ValueError(f"{name}: expected segment starts >= 0, got {value.starts.min()}")
        if len(value) and value.labels.min() < 0:
            raise ValueError(f"{name}: expected class ids >= 0, got {int(value.labels.min())}")
        return value.starts.astype(np.float64), value.ends.astype(np.float64), value.labels, None
    arr = label_array(value, name, ignore_index=_PADDING)
    starts, ends = runs(arr)
    labels = arr[starts]
    keep = labels != _PADDING
    return starts[keep].astype(np.float64), ends[keep].astype(np.float64), labels[keep], int(arr.shape[0])


def _check_rows(rows: Any) -> tuple[list[str], list[tuple], int | None, str | None]:
    """Names, segments and the common length (``None`` if every row is a ``Segments``) of ``rows``."""
    if not isinstance(rows, Mapping):
        raise TypeError(f"rows: expected a mapping of row name -> frame labels or Segments, got {type_name(rows)}")
    if not rows:
        raise ValueError("rows: expected at least one row, got an empty mapping")
    names, drawn = [], []
    length, first = None, None
    for key, value in rows.items():
        if not isinstance(key, str):
            raise TypeError(f"rows: expected row names as strings, got {type_name(key)} {key!r}")
        where = f"rows[{key!r}]"
        starts, ends, labels, n = _row_segments(value, where)
        if n is not None:
            if length is None:
                length, first = n, key
            elif n != length:
                raise ValueError(f"{where}: expected {length} frame labels (as rows[{first!r}]), got {n}")
        names.append(key)
        drawn.append((where, starts, ends, labels))
    return names, drawn, length, first


def _timeline_length(length: int | None, first: str | None, drawn: list[tuple],
                     tracks: dict[str, Any]) -> tuple[int, str]:
    """The number of frames ``T`` and what gave it: the label rows, else a probability/boundary track, else
    the last segment end; every segment must end by ``T``."""
    if length is not None:
        source = f"rows[{first!r}]"
    else:
        given = [(key, arr) for key, arr in tracks.items() if arr is not None]
        if given:
            source, length = given[0][0], int(given[0][1].shape[-1])
        else:
            ends = [float(e.max()) for _, _, e, _ in drawn if e.size]
            if not ends:
                raise ValueError("rows: expected frame labels or non-empty Segments (the length of the "
                                 "timeline), got only empty Segments")
            return int(np.ceil(max(ends))), "the rows"
    for where, _, ends, _ in drawn:
        if ends.size and ends.max() > length:
            raise ValueError(f"{where}: expected segments inside [0, {length}] (the frames of {source}), "
                             f"got an end at {ends.max():g}")
    return length, source


def _check_tracks(probabilities: Any, boundary_scores: Any, peaks: Any) -> dict[str, Any]:
    """``probabilities`` ``(K, T)`` in [0, 1], ``boundary_scores`` ``(T,)`` finite, ``peaks`` integer positions."""
    out: dict[str, Any] = {"probabilities": None, "boundary_scores": None}
    if probabilities is not None:
        probs = real_array(probabilities, "probabilities", 2, dtype=np.float64)
        if probs.shape[0] == 0 or probs.shape[1] == 0:
            raise ValueError(f"probabilities: expected shape (K, T) with K, T >= 1, got {shape_str(probs.shape)}")
        out["probabilities"] = values_in_range(probs, "probabilities", low=0.0, high=1.0)
    if boundary_scores is not None:
        scores = real_array(boundary_scores, "boundary_scores", 1, dtype=np.float64)
        if scores.size == 0:
            raise ValueError("boundary_scores: expected shape (T,) with T >= 1, got (0,)")
        out["boundary_scores"] = scores
    if peaks is not None and boundary_scores is None:
        raise ValueError("peaks: expected boundary_scores as well (peaks are marked on that line), got None")
    return out


def plot_timeline(
    rows: Mapping[str, Any],
    *,
    class_names: Any = None,
    probabilities: Any = None,
    boundary_scores: Any = None,
    peaks: Any = None,
    background: Any = None,
    fps: float | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Draw segmentations as coloured rows over time, with optional class probabilities and boundary scores.

    The qualitative figure of TAS papers (e.g. Hyder et al., "Action Segmentation Using 2D Skeleton
    Heatmaps and Multi-Modality Fusion", Fig. 5: ground truth, MS-GCN, MS-TCN++ and theirs): the ground
    truth and one or more predictions as rows of coloured segments, one colour per class
    (:func:`class_colors`).

    Args:
        rows: ``{row name: labels}`` in display order (top first), e.g. ``{"ground truth": gt,
            "MS-TCN++": pred}``; each value is ``(T,)`` integer frame labels (numpy, tensor or sequence;
            ``-100`` is padding and stays empty) or a :class:`actseg.segments.Segments` (frames no
            segment covers stay empty). All label rows must have the same ``T``; segments must lie in
            ``[0, T]``.
        class_names: names by class id (a sequence, or the ``{name: id}`` of ``read_mapping``); the
            legend shows them. Default: the ids.
        probabilities: ``(K, T)`` class probabilities in ``[0, 1]`` (e.g. the softmax of the last
            stage), drawn as one strip per class (white at 0, the class colour at 1).
        boundary_scores: ``(T,)`` boundary scores (e.g. ASRF's boundary probability), drawn as a line.
        peaks: integer frame positions in ``[0, T)`` marked on the boundary line (e.g. from
            :func:`actseg.postprocess.find_peaks`); needs ``boundary_scores``.
        background: class id or ids drawn light grey (e.g. ``SIL``).
        fps: frames per second: the x axis in seconds instead of frames.
        title: figure title (the axes title when ``ax`` is given).
        ax: optional matplotlib ``Axes`` to draw the rows in (the legend goes to its right), or, with
            ``probabilities`` or ``boundary_scores``, a sequence of Axes: the rows', then one per given
            strip in that order (e.g. ``fig.subplots(3, 1, sharex=True)``).

    Returns:
        The ``matplotlib.figure.Figure``: ``fig.savefig("video.png")``. Its axes, top to bottom: the
        rows, the probability strip (if given), the boundary line (if given), then the legend (a
        frameless axes of its own, when ``ax`` is not given). The legend lists the classes that occur
        in the rows, in id order. Boundary scores are drawn at ``x = t``, the left edge of frame ``t``.

    Raises:
        ImportError: matplotlib is missing (the message says ``pip install "actseg-blocks[viz]"``).
        ValueError: rows of different lengths (the message names the row), a class id ``>= K``,
            probabilities outside ``[0, 1]`` or of another ``T``, a peak outside ``[0, T)``.
        TypeError: a label row that is not integer, a row name that is not a string.

    Example:
        >>> from actseg.viz import plot_timeline
        >>> fig = plot_timeline({"ground truth": [0, 0, 1, 1, 2], "prediction": [0, 1, 1, 1, 2]},
        ...                     class_names=["bg", "take", "pour"], background=[0])
        >>> len(fig.axes), [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
        (2, ['bg', 'take', 'pour'])
        >>> fig.savefig("timeline.png")
    """
    names, drawn, length, first = _check_rows(rows)
    tracks = _check_tracks(probabilities, boundary_scores, peaks)
    labels_names = _class_names(class_names)
    scale = 1.0 if fps is None else real(fps, "fps", low=0.0, low_open=True)
    if title is not None:
        instance_of(title, str, "title", "a string")
    length, source = _timeline_length(length, first, drawn, tracks)
    for key, arr in tracks.items():
        if arr is not None and arr.shape[-1] != length:
            expected = f"(K, {length})" if arr.ndim == 2 else f"({length},)"
            raise ValueError(f"{key}: expected shape {expected} (T of {source}), got {shape_str(arr.shape)}")
    peak_pos = None
    if peaks is not None:
        peak_pos = integer_array(peaks, "peaks", 1)
        if peak_pos.size and (peak_pos.min() < 0 or peak_pos.max() >= length):
            bad = peak_pos[(peak_pos < 0) | (peak_pos >= length)][0]
            raise ValueError(f"peaks: expected frame positions in [0, {length}), got {int(bad)}")
    probs = tracks["probabilities"]
    num_classes = _num_classes(labels_names, probs, drawn, background)
    for where, _, _, labels in drawn:
        if labels.size and labels.max() >= num_classes:
            raise ValueError(f"{where}: expected class ids < {num_classes} ({_k_source(labels_names, probs)}), "
                             f"got {int(labels.max())}")
    bg = np.zeros(0, np.int64) if background is None else id_set(background, "background")
    if bg.size and bg[-1] >= num_classes:
        raise ValueError(f"background: expected class ids < {num_classes} ({_k_source(labels_names, probs)}), "
                         f"got {int(bg[-1])}")
    colors = class_colors(num_classes, background=bg)
    if labels_names is None:
        labels_names = [str(i) for i in range(num_classes)]

    mpl = _matplotlib()
    present = np.unique(np.concatenate([labels for *_, labels in drawn]))
    axes = _layout(mpl, ax, len(names), probs is not None, tracks["boundary_scores"] is not None,
                   present.size, max((len(labels_names[i]) for i in present), default=1), num_classes)
    row_ax = axes["rows"]
    _draw_rows(mpl, row_ax, names, drawn, colors, scale)
    x_max = length / scale
    if probs is not None:
        _draw_probabilities(axes["probabilities"], probs, colors, labels_names, scale)
    if tracks["boundary_scores"] is not None:
        _draw_boundaries(axes["boundary_scores"], tracks["boundary_scores"], peak_pos, scale)
    data_axes = [a for a in (row_ax, axes["probabilities"], axes["boundary_scores"]) if a is not None]
    for data_ax in data_axes:
        data_ax.set_xlim(0, x_max)
        if fps is None:
            data_ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    data_axes[-1].set_xlabel("time (s)" if fps is not None else "frame")
    handles = [mpl.patches.Patch(facecolor=colors[i], edgecolor="none", label=labels_names[i]) for i in present]
    fig = row_ax.figure
    if axes["legend"] is not None:
        leg_ax = axes["legend"]
        leg_ax.axis("off")
        leg_ax.legend(handles=handles, loc="upper center", ncol=axes["ncol"], frameon=False, fontsize=9,
                      handlelength=1.6, columnspacing=1.4, borderaxespad=0.0)
        if title is not None:
            fig.suptitle(title)
    else:
        row_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
        if title is not None:
            row_ax.set_title(title)
    return fig


def _num_classes(names: list[str] | None, probs: np.ndarray | None, drawn: list[tuple], background: Any) -> int:
    """``K``: the class names, else the probability rows, else the largest id (rows, background) + 1."""
    if names is not None:
        if probs is not None and probs.shape[0] != len(names):
            raise ValueError(f"probabilities: expected {len(names)} rows (one per class name), "
                             f"got shape {shape_str(probs.shape)}")
        return len(names)
    if probs is not None:
        return int(probs.shape[0])
    top, where = 0, "rows"
    for row, _, _, labels in drawn:
        if labels.size and labels.max() > top:
            top, where = int(labels.max()), row
    if top >= _MAX_CLASSES:
        raise ValueError(f"{where}: expected class ids < {_MAX_CLASSES} (without class_names), got {top}")
    if background is not None:
        bg = id_set(background, "background")
        if bg.size and bg[-1] >= _MAX_CLASSES:
            raise ValueError(f"background: expected class ids < {_MAX_CLASSES} (without class_names), "
                             f"got {int(bg[-1])}")
        top = max(top, int(bg[-1]) if bg.size else 0)
    return top + 1


def _k_source(names: list[str] | None, probs: np.ndarray | None) -> str:
    """Where ``K`` came from, for a message."""
    if names is not None:
        return "one per class name"
    return "the rows of probabilities" if probs is not None else "the largest id + 1"


def _layout(mpl: Any, ax: Any, n_rows: int, with_probs: bool, with_bounds: bool, n_legend: int,
            longest_name: int, num_classes: int) -> dict[str, Any]:
    """The axes: rows, probability strip, boundary line, legend (a new figure, or appended to ``ax``)."""
    width = 10.0
    probs_h = min(3.0, max(0.8, 0.16 * num_classes))
    heights = [max(0.9, 0.42 * n_rows + 0.3)] + ([probs_h] if with_probs else []) + ([1.2] if with_bounds else [])
    out: dict[str, Any] = {"legend": None, "probabilities": None, "boundary_scores": None, "ncol": 1}
    if ax is not None:
        _given_axes(ax, out, with_probs, with_bounds)
        return out
    ncol = max(1, min(n_legend, int(width / (0.075 * max(longest_name, 4) + 0.55))))
    legend_rows = -(-n_legend // ncol)
    heights.append(0.22 * legend_rows + 0.12)
    fig = _new_figure((width, sum(heights) + 0.9))
    axes = fig.subplots(len(heights), 1, sharex=False, gridspec_kw={"height_ratios": heights})
    axes = list(np.atleast_1d(axes))
    out["rows"] = axes[0]
    i = 1
    for key, present in (("probabilities", with_probs), ("boundary_scores", with_bounds)):
        if present:
            out[key] = axes[i]
            axes[i].sharex(axes[0])
            axes[i - 1].tick_params(labelbottom=False)
            i += 1
    out["legend"] = axes[-1]
    out["ncol"] = ncol
    return out


def _given_axes(ax: Any, out: dict[str, Any], with_probs: bool, with_bounds: bool) -> None:
    """The caller's axes: one ``Axes`` for the rows alone, or a sequence (rows, then one per strip)."""
    from matplotlib.axes import Axes

    wanted = ["rows"] + (["probabilities"] if with_probs else []) + (["boundary_scores"] if with_bounds else [])
    if isinstance(ax, Axes):
        if len(wanted) > 1:
            raise ValueError(f"ax: expected a sequence of {len(wanted)} Axes ({', '.join(wanted)}), got one Axes")
        axes = [ax]
    elif isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.asarray(ax, dtype=object).reshape(-1))
        if len(axes) != len(wanted):
            raise ValueError(f"ax: expected {len(wanted)} Axes ({', '.join(wanted)}), got {len(axes)}")
        for i, item in enumerate(axes):
            instance_of(item, Axes, f"ax[{i}]", "a matplotlib Axes")
    else:
        raise TypeError(f"ax: expected a matplotlib Axes or a sequence of them, got {type_name(ax)}")
    out.update(zip(wanted, axes))


def _draw_rows(mpl: Any, ax: Any, names: list[str], drawn: list[tuple], colors: np.ndarray, scale: float) -> None:
    """One PolyCollection of rectangles per row (row ``i`` spans ``y`` in ``[i - 0.4, i + 0.4]``)."""
    for i, (_, starts, ends, labels) in enumerate(drawn):
        x0, x1 = starts / scale, ends / scale
        y0, y1 = np.full_like(x0, i - 0.4), np.full_like(x0, i + 0.4)
        verts = np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1), np.stack([x1, y1], 1),
                          np.stack([x1, y0], 1)], axis=1)
        collection = mpl.collections.PolyCollection(verts, facecolors=colors[labels], edgecolors="none",
                                                    linewidths=0, antialiaseds=False)
        collection.set_gid(names[i])
        ax.add_collection(collection)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_yticks(np.arange(len(names)), names)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _draw_probabilities(ax: Any, probs: np.ndarray, colors: np.ndarray, names: list[str], scale: float) -> None:
    """A ``(K, T)`` image: row ``k`` blends white (p = 0) into class ``k``'s colour (p = 1)."""
    k, t = probs.shape
    image = 1.0 - probs[:, :, None] * (1.0 - colors[:, None, :3])
    ax.imshow(image, aspect="auto", interpolation="nearest", extent=(0, t / scale, k, 0))
    step = max(1, -(-k // 20))
    ticks = np.arange(0, k, step)
    ax.set_yticks(ticks + 0.5, [names[i] for i in ticks], fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_ylabel("p(class)", fontsize=9)


def _draw_boundaries(ax: Any, scores: np.ndarray, peaks: np.ndarray | None, scale: float) -> None:
    """The score of frame ``t`` at ``x = t`` (the boundary before frame ``t``), peaks as red triangles."""
    x = np.arange(scores.shape[0]) / scale
    ax.plot(x, scores, color="0.25", linewidth=1.0, gid="boundary_scores")
    if peaks is not None:
        ax.plot(peaks / scale, scores[peaks], linestyle="none", marker="v", markersize=6, color="#d62728",
                gid="peaks", label="peaks")
    if scores.min() >= 0.0 and scores.max() <= 1.0:
        ax.set_ylim(-0.03, 1.08)
    ax.set_ylabel("boundary", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
