"""Tests of ``actseg.viz`` (timeline plots) and ``actseg plot``: the drawn figure is read back by value.

Rows are PolyCollections of rectangles (one per segment): their face colours must be the
``class_colors`` of the segment labels and their x extents the segment boundaries, computed by hand
from the label arrays in the comments.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from actseg.segments import Segments
from actseg.viz import class_colors, plot_timeline

mpl = pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

NAMES = ["bg", "take", "pour"]
# tab10 blue, orange, green (ids 0, 1, 2), as 0-255 integers.
TAB10 = [(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C)]


def _rows(fig):
    """``{gid: (x extents (N, 2), face colours (N, 4))}`` of the row collections of the first axes."""
    out = {}
    for coll in fig.axes[0].collections:
        if isinstance(coll, PolyCollection):
            verts = [path.vertices for path in coll.get_paths()]
            extents = np.array([[v[:, 0].min(), v[:, 0].max()] for v in verts]).reshape(-1, 2)
            out[coll.get_gid()] = (extents, np.asarray(coll.get_facecolors()))
    return out


@pytest.fixture(autouse=True)
def _close_pyplot_figures():
    """Figures are made through pyplot once a test has imported it: close them after every test."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------------------------- colours


def test_class_colors_palette_background_and_consistency():
    colors = class_colors(3)
    assert colors.shape == (3, 4) and colors.dtype == np.float64
    np.testing.assert_allclose(colors[:, :3] * 255, np.array(TAB10, dtype=float), atol=1e-9)
    np.testing.assert_array_equal(colors[:, 3], 1.0)
    grey = class_colors(3, background=[0, 2])
    assert grey[0].tolist() == [0.83, 0.83, 0.83, 1.0] and grey[2].tolist() == [0.83, 0.83, 0.83, 1.0]
    np.testing.assert_array_equal(grey[1], colors[1])
    many = class_colors(200)
    np.testing.assert_array_equal(many[:3], colors)  # an id keeps its colour whatever K
    assert len({tuple(np.round(c, 6)) for c in many}) == 200  # all distinct
    assert ((many >= 0) & (many <= 1)).all()
    assert not np.any(np.all(np.isclose(many[:, :3], 0.83), axis=1))  # none looks like background
    assert class_colors(2, background=1)[1].tolist() == [0.83, 0.83, 0.83, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_classes": 0}, ValueError, "num_classes: expected an integer >= 1 and <= 65536, got 0"),
        ({"num_classes": True}, TypeError, "num_classes: expected an integer, got bool True"),
        ({"num_classes": 3, "background": [3]}, ValueError, "background: expected class ids < 3 (num_classes), got 3"),
        ({"num_classes": 3, "background": "bg"}, TypeError, "background: expected a collection of integer class ids"),
    ],
)
def test_class_colors_bad_input(kwargs, error, message):
    with pytest.raises(error) as info:
        class_colors(**kwargs)
    assert str(info.value).startswith(message)


# ---------------------------------------------------------------------------------------------- rows


def test_rows_rectangles_colours_and_legend():
    gt = np.array([0, 0, 1, 1, 1, 2])  # [0,2) bg, [2,5) take, [5,6) pour
    pred = [0, 1, 1, -100, -100, 2]  # [0,1) bg, [1,3) take, padding [3,5) empty, [5,6) pour
    fig = plot_timeline({"ground truth": gt, "model": pred}, class_names=NAMES, background=[0])
    assert len(fig.axes) == 2  # rows, legend
    rows = _rows(fig)
    assert list(rows) == ["ground truth", "model"]
    colors = class_colors(3, background=[0])
    extents, faces = rows["ground truth"]
    np.testing.assert_array_equal(extents, [[0, 2], [2, 5], [5, 6]])
    np.testing.assert_allclose(faces, colors[[0, 1, 2]])
    extents, faces = rows["model"]
    np.testing.assert_array_equal(extents, [[0, 1], [1, 3], [5, 6]])
    np.testing.assert_allclose(faces, colors[[0, 1, 2]])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ground truth", "model"]
    assert ax.get_xlim() == (0.0, 6.0)
    assert ax.get_ylim() == (1.5, -0.5)  # first row on top
    assert _legend_texts(fig.axes[1]) == NAMES
    handles = fig.axes[1].get_legend().legend_handles
    np.testing.assert_allclose([h.get_facecolor() for h in handles], colors)


def test_legend_lists_only_present_classes_and_ids_without_names():
    fig = plot_timeline({"a": [2, 2, 0], "b": [2, 0, 0]})  # K = 3 from the largest id, class 1 absent
    assert _legend_texts(fig.axes[-1]) == ["0", "2"]
    np.testing.assert_allclose(_rows(fig)["a"][1], class_colors(3)[[2, 0]])


def test_segments_rows_fps_and_tensor_input():
    torch = pytest.importorskip("torch")
    gt = torch.tensor([1, 1, 1, 2, 2, 0, 0, 0, 0, 0])
    seg = Segments([1, 6], [4, 9], [1, 2])  # gaps [0,1), [4,6), [9,10) stay empty
    fig = plot_timeline({"gt": gt, "detections": seg}, class_names=NAMES, fps=2.0, title="video 1")
    rows = _rows(fig)
    np.testing.assert_allclose(rows["gt"][0], [[0, 1.5], [1.5, 2.5], [2.5, 5.0]])  # frames / 2 fps
    np.testing.assert_allclose(rows["detections"][0], [[0.5, 2.0], [3.0, 4.5]])
    np.testing.assert_allclose(rows["detections"][1], class_colors(3)[[1, 2]])
    assert fig.axes[0].get_xlim() == (0.0, 5.0)
    assert fig.axes[0].get_xlabel() == "time (s)"
    assert fig.get_suptitle() == "video 1"


def test_only_segments_rows_take_the_length_of_the_last_end():
    fig = plot_timeline({"a": Segments([0, 3], [2, 7], [0, 1])})
    assert fig.axes[0].get_xlim() == (0.0, 7.0)
    assert fig.axes[0].get_xlabel() == "frame"


def test_probability_strip_and_boundary_peaks():
    gt = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[1.0, 0.5, 0.0, 0.0, 0.0, 0.25],
                      [0.0, 0.5, 1.0, 0.5, 0.0, 0.25],
                      [0.0, 0.0, 0.0, 0.5, 1.0, 0.5]])
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.1])
    peaks = np.array([2, 4])
    fig = plot_timeline({"gt": gt}, class_names=NAMES, probabilities=probs, boundary_scores=scores, peaks=peaks)
    assert len(fig.axes) == 4  # rows, probabilities, boundary, legend
    images = [a for a in fig.axes[1].get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1
    image = np.asarray(images[0].get_array())
    colors = class_colors(3)
    # pixel (k, t) = white blended into colour k by p: 1 - p (1 - c); p = 0.5 of class 1 at t = 1
    np.testing.assert_allclose(image[1, 1], 1 - 0.5 * (1 - colors[1, :3]))
    np.testing.assert_allclose(image[0, 0], colors[0, :3])
    np.testing.assert_allclose(image[2, 0], [1.0, 1.0, 1.0])
    assert images[0].get_extent() == [0.0, 6.0, 3.0, 0.0]
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == NAMES
    lines = {line.get_gid(): line for line in fig.axes[2].get_lines()}
    np.testing.assert_array_equal(lines["boundary_scores"].get_xdata(), np.arange(6))
    np.testing.assert_array_equal(lines["boundary_scores"].get_ydata(), scores)
    np.testing.assert_array_equal(lines["peaks"].get_xdata(), [2, 4])
    np.testing.assert_array_equal(lines["peaks"].get_ydata(), [0.9, 0.8])
    assert fig.axes[2].get_xlabel() == "frame"
    assert fig.axes[2].get_xlim() == (0.0, 6.0)  # shared with the rows
    # the legend lists the classes of the rows
    assert _legend_texts(fig.axes[3]) == NAMES


def test_draws_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    out = plot_timeline({"gt": [0, 1, 1]}, class_names=NAMES, ax=ax, title="t")
    assert out is fig and fig.axes == [ax]
    assert _legend_texts(ax) == ["bg", "take"]
    assert ax.get_title() == "t"
    np.testing.assert_array_equal(_rows(fig)["gt"][0], [[0, 1], [1, 3]])
    fig = Figure()
    axes = fig.subplots(2, 1, sharex=True)
    plot_timeline({"gt": [0, 1, 1]}, boundary_scores=[0.0, 1.0, 0.0], peaks=[1], ax=axes)
    assert len(fig.axes) == 2
    lines = {line.get_gid(): line for line in axes[1].get_lines()}
    np.testing.assert_array_equal(lines["peaks"].get_xdata(), [1])
    assert axes[1].get_xlabel() == "frame" and axes[1].get_xlim() == (0.0, 3.0)


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "message"),
    [
        (lambda fig: fig.add_subplot(), {"boundary_scores": [0.0] * 4}, ValueError,
         "ax: expected a sequence of 2 Axes (rows, boundary_scores), got one Axes"),
        (lambda fig: fig.subplots(2, 1), {"probabilities": np.ones((2, 4)) / 2, "boundary_scores": [0.0] * 4},
         ValueError, "ax: expected 3 Axes (rows, probabilities, boundary_scores), got 2"),
        (lambda fig: [fig.add_subplot(), "x"], {"boundary_scores": [0.0] * 4}, TypeError,
         "ax[1]: expected a matplotlib Axes, got str"),
        (lambda fig: "axes", {}, TypeError, "ax: expected a matplotlib Axes or a sequence of them, got str"),
    ],
)
def test_bad_axes(make, kwargs, error, message):
    from matplotlib.figure import Figure

    with pytest.raises(error) as info:
        plot_timeline({"gt": GT}, ax=make(Figure()), **kwargs)
    assert str(info.value) == message


def test_empty_rows_draw_nothing():
    fig = plot_timeline({"padding": [-100, -100, -100], "none": Segments.empty()}, boundary_scores=[0.0, 0.5, 0.0])
    rows = _rows(fig)
    assert rows["padding"][0].shape == (0, 2) and rows["none"][0].shape == (0, 2)
    assert _legend_texts(fig.axes[-1]) == []
    assert fig.axes[0].get_xlim() == (0.0, 3.0)


def test_import_needs_no_matplotlib():
    import subprocess

    code = "import sys, actseg.viz; assert 'matplotlib' not in sys.modules; print(actseg.viz.class_colors(2).shape)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 4)"


def test_png_is_written(tmp_path):
    fig = plot_timeline({"gt": np.repeat([0, 1, 2], 50)}, class_names=NAMES, probabilities=np.full((3, 150), 1 / 3))
    fig.savefig(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_no_gui_backend_and_pyplot_figures_are_closable():
    import matplotlib.pyplot as plt

    from actseg.viz import close_figure

    before = len(plt.get_fignums())
    fig = plot_timeline({"gt": [0, 1]})
    assert len(plt.get_fignums()) == before + 1  # made by pyplot, since the caller imported it
    close_figure(fig)
    assert len(plt.get_fignums()) == before


# ---------------------------------------------------------------------------------------------- bad input


GT = [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("rows", "kwargs", "error", "message"),
    [
        ({"gt": GT, "pred": [0, 1, 1]}, {}, ValueError, "rows['pred']: expected 4 frame labels (as rows['gt']), got 3"),
        ({"gt": GT, "seg": Segments([0], [5], [1])}, {}, ValueError,
         "rows['seg']: expected segments inside [0, 4] (the frames of rows['gt']), got an end at 5"),
        ({"gt": GT, "pred": [0, 0, 3, 3]}, {"class_names": NAMES}, ValueError,
         "rows['pred']: expected class ids < 3 (one per class name), got 3"),
        ({"gt": [0, -1, 1, 1]}, {}, ValueError, "rows['gt']: expected class ids >= 0 or ignore_index=-100, got -1"),
        ({"gt": [0.0, 1.0]}, {}, TypeError, "rows['gt']: expected an integer dtype, got float64"),
        ({"gt": []}, {}, ValueError, "rows['gt']: expected a non-empty sequence of frame labels, got length 0"),
        ([GT], {}, TypeError, "rows: expected a mapping of row name -> frame labels or Segments, got list"),
        ({}, {}, ValueError, "rows: expected at least one row, got an empty mapping"),
        ({1: GT}, {}, TypeError, "rows: expected row names as strings, got int 1"),
        ({"gt": GT}, {"probabilities": np.ones((3, 5)) / 3}, ValueError,
         "probabilities: expected shape (K, 4) (T of rows['gt']), got (3, 5)"),
        ({"gt": GT}, {"probabilities": np.ones((2, 4)) / 2, "class_names": NAMES}, ValueError,
         "probabilities: expected 3 rows (one per class name), got shape (2, 4)"),
        ({"gt": GT}, {"probabilities": np.full((2, 4), 1.5)}, ValueError,
         "probabilities: expected values in [0.0, 1.0], got 1.5 at index (0, 0)"),
        ({"gt": GT}, {"boundary_scores": [0.0, 1.0]}, ValueError,
         "boundary_scores: expected shape (4,) (T of rows['gt']), got (2,)"),
        ({"gt": GT}, {"boundary_scores": [0.0, np.nan, 0.0, 0.0]}, ValueError,
         "boundary_scores: expected finite values, got nan at index 1"),
        ({"gt": GT}, {"peaks": [1]}, ValueError,
         "peaks: expected boundary_scores as well (peaks are marked on that line), got None"),
        ({"gt": GT}, {"boundary_scores": [0.0] * 4, "peaks": [4]}, ValueError,
         "peaks: expected frame positions in [0, 4), got 4"),
        ({"gt": GT}, {"boundary_scores": [0.0] * 4, "peaks": [0.5]}, TypeError,
         "peaks: expected an integer dtype, got float64"),
        ({"gt": GT}, {"class_names": "bg take"}, TypeError, "class_names: expected a sequence of class names, got str"),
        ({"gt": GT}, {"class_names": ["bg", 1]}, TypeError, "class_names[1]: expected a string, got int 1"),
        ({"gt": GT}, {"fps": 0}, ValueError, "fps: expected a finite number > 0.0, got 0"),
        ({"gt": GT}, {"title": 3}, TypeError, "title: expected a string, got int"),
        ({"gt": GT}, {"background": [-1]}, ValueError, "background: expected class ids >= 0, got -1"),
        ({"gt": GT}, {"background": [5], "class_names": NAMES}, ValueError,
         "background: expected class ids < 3 (one per class name), got 5"),
        ({"gt": GT}, {"background": [70000]}, ValueError,
         "background: expected class ids < 65536 (without class_names), got 70000"),
        ({"gt": GT}, {"probabilities": np.ones((2, 4)) / 2, "background": [2]}, ValueError,
         "background: expected class ids < 2 (the rows of probabilities), got 2"),
        ({"gt": GT}, {"probabilities": np.ones((1, 4))}, ValueError,
         "rows['gt']: expected class ids < 1 (the rows of probabilities), got 1"),
        ({"gt": GT, "pred": [0, 0, 70000, 1]}, {}, ValueError,
         "rows['pred']: expected class ids < 65536 (without class_names), got 70000"),
    ],
)
def test_bad_input(rows, kwargs, error, message):
    with pytest.raises(error) as info:
        plot_timeline(rows, **kwargs)
    assert str(info.value) == message


def test_class_names_from_a_mapping():
    fig = plot_timeline({"gt": [0, 2]}, class_names={"bg": 0, "pour": 2})
    assert _legend_texts(fig.axes[-1]) == ["bg", "pour"]


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError) as info:
        plot_timeline({"gt": GT})
    assert str(info.value) == 'actseg.viz needs matplotlib, which is not installed: pip install "actseg-blocks[viz]"'
    assert class_colors(2).shape == (2, 4)  # colours need no matplotlib


# ---------------------------------------------------------------------------------------------- actseg plot

CLI_MAPPING = {"background": 0, "take": 1, "pour": 2}
CLI_VIDEOS = {"v1": ([0, 0, 1, 1, 1, 2, 2, 0], [0, 1, 1, 1, 1, 2, 0, 0]), "v2": ([1, 1, 2, 2], [1, 2, 2, 2])}


def _folders(tmp_path):
    from actseg.io import write_label_file

    mapping = tmp_path / "mapping.txt"
    mapping.write_text("".join(f"{i} {name}\n" for name, i in CLI_MAPPING.items()))
    for video, (target, pred) in CLI_VIDEOS.items():
        write_label_file(tmp_path / "gt" / f"{video}.txt", target, CLI_MAPPING, layout="ground_truth")
        write_label_file(tmp_path / "pred" / video, pred, CLI_MAPPING)
        write_label_file(tmp_path / "other" / f"{video}.txt", target[::-1], CLI_MAPPING)
    return tmp_path / "gt", tmp_path / "pred", mapping


def _plot(gt, preds, mapping, out, *extra):
    from actseg.cli import main

    return main(["plot", "--ground-truth", str(gt), "--predictions", *map(str, preds), "--mapping", str(mapping),
                 "--out", str(out), *extra])


def test_cli_plot_writes_one_png_per_video(tmp_path, capsys, monkeypatch):
    gt, pred, mapping = _folders(tmp_path)
    drawn = []
    import actseg.viz

    real_plot = actseg.viz.plot_timeline

    def spy(rows, **kwargs):
        drawn.append((list(rows), {k: np.asarray(v).tolist() for k, v in rows.items()}, kwargs))
        return real_plot(rows, **kwargs)

    monkeypatch.setattr(actseg.viz, "plot_timeline", spy)
    code = _plot(gt, [pred, f"reversed={tmp_path / 'other'}"], mapping, tmp_path / "out", "--background", "background",
                 "--fps", "15")
    assert code == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "out" / "v1.png"), str(tmp_path / "out" / "v2.png")]
    for name in ("v1.png", "v2.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    order, values, kwargs = drawn[0]
    assert order == ["ground truth", "pred", "reversed"]  # DIR is named after its folder; NAME=DIR
    assert values["ground truth"] == CLI_VIDEOS["v1"][0] and values["pred"] == CLI_VIDEOS["v1"][1]
    assert values["reversed"] == CLI_VIDEOS["v1"][0][::-1]
    assert kwargs == {"class_names": ["background", "take", "pour"], "background": (0,), "fps": 15.0, "title": "v1"}


def test_cli_plot_videos_subset(tmp_path, capsys):
    gt, pred, mapping = _folders(tmp_path)
    assert _plot(gt, [pred], mapping, tmp_path / "out", "--videos", "v2.txt") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["v2.png"]


def _cli_error(tmp_path, capsys, case):
    gt, pred, mapping = _folders(tmp_path)
    out = tmp_path / "out"
    args = {"gt": gt, "preds": [pred], "mapping": mapping, "out": out, "extra": []}
    expected = case(tmp_path, args)
    code = _plot(args["gt"], args["preds"], args["mapping"], args["out"], *args["extra"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"actseg plot: error: {expected}\n"  # one line, no traceback
    assert not list(tmp_path.glob("out/*.png"))


def _missing_gt(tmp_path, args):
    args["gt"] = tmp_path / "nope"
    return f"--ground-truth: expected a folder, got no such folder: {tmp_path / 'nope'}"


def _missing_pred(tmp_path, args):
    args["preds"] = [args["preds"][0], f"x={tmp_path / 'mapping.txt'}"]
    return f"--predictions: expected a folder, got a file: {tmp_path / 'mapping.txt'}"


def _wrong_mapping(tmp_path, args):
    (tmp_path / "m2.txt").write_text("0 background\n1 take\n")
    args["mapping"] = tmp_path / "m2.txt"
    return (f"{tmp_path / 'gt' / 'v1.txt'}: frame 5: unknown label 'pour' "
            "(not in the mapping; known labels: 'background', 'take')")


def _count_mismatch(tmp_path, args):
    (tmp_path / "pred" / "v2").write_text("### Frame level recognition: ###\ntake pour pour")
    return f"{tmp_path / 'pred' / 'v2'}: expected 4 frame labels (as in {tmp_path / 'gt' / 'v2.txt'}), got 3"


def _missing_prediction(tmp_path, args):
    (tmp_path / "pred" / "v2").unlink()
    p = tmp_path / "pred" / "v2"
    return f"missing prediction file {p} (or {p}.txt) for video 'v2'"


def _unknown_video(tmp_path, args):
    args["extra"] = ["--videos", "v9"]
    return f"missing ground truth file {tmp_path / 'gt' / 'v9.txt'} (video 'v9' of --videos)"


def _unknown_background(tmp_path, args):
    args["extra"] = ["--background", "SIL"]
    return "--background: unknown class name 'SIL' (known: 'background', 'take', 'pour')"


def _duplicate_rows(tmp_path, args):
    args["preds"] = [f"a={args['preds'][0]}", f"a={tmp_path / 'other'}"]
    return "--predictions: expected distinct row names, got 'a' twice (use NAME=DIR)"


def _out_is_a_file(tmp_path, args):
    args["out"] = tmp_path / "mapping.txt"
    return f"--out: expected a folder, got a file: {tmp_path / 'mapping.txt'}"


def _out_parent_missing(tmp_path, args):
    args["out"] = tmp_path / "a" / "b"
    return f"--out: expected a folder in an existing folder, got no such folder: {tmp_path / 'a'}"


def _bad_fps(tmp_path, args):
    args["extra"] = ["--fps", "-2"]
    return "--fps: expected a finite number > 0, got -2.0"


def _empty_gt(tmp_path, args):
    (tmp_path / "empty").mkdir()
    args["gt"] = tmp_path / "empty"
    return f"--ground-truth: expected <video>.txt files, got none in {tmp_path / 'empty'}"


@pytest.mark.parametrize(
    "case",
    [_missing_gt, _missing_pred, _wrong_mapping, _count_mismatch, _missing_prediction, _unknown_video,
     _unknown_background, _duplicate_rows, _out_is_a_file, _out_parent_missing, _bad_fps, _empty_gt],
)
def test_cli_plot_errors(tmp_path, capsys, case):
    _cli_error(tmp_path, capsys, case)


def test_cli_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    def case(tmp_path, args):
        return 'actseg.viz needs matplotlib, which is not installed: pip install "actseg-blocks[viz]"'

    _cli_error(tmp_path, capsys, case)
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_cli_plot_without_matplotlib_in_a_fresh_process(tmp_path):
    import subprocess

    gt, pred, mapping = _folders(tmp_path)
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from actseg.cli import main\n"
        f"sys.exit(main(['plot', '--ground-truth', {str(gt)!r}, '--predictions', {str(pred)!r}, "
        f"'--mapping', {str(mapping)!r}, '--out', {str(tmp_path / 'out')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 2
    assert result.stderr == ('actseg plot: error: actseg.viz needs matplotlib, which is not installed: '
                             'pip install "actseg-blocks[viz]"\n')
    assert result.stdout == ""
