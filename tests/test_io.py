"""Tests of actseg.io: the MS-TCN folder formats (mapping, label files, splits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from actseg.io import background_ids, read_label_file, read_mapping, read_split, write_label_file

HEADER = "### Frame level recognition: ###"
MAPPING = {"background": 0, "take": 1, "pour": 2, "stir": 3}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- mapping


def test_read_mapping_keeps_file_order_and_skips_blank_lines(tmp_path):
    path = _write(tmp_path / "mapping.txt", "2 stir\n\n0 background\r\n1 take\n   \n")
    mapping = read_mapping(path)
    assert mapping == {"stir": 2, "background": 0, "take": 1}
    assert list(mapping) == ["stir", "background", "take"]
    assert all(type(v) is int for v in mapping.values())


def test_read_mapping_accepts_str_path_and_tabs(tmp_path):
    path = _write(tmp_path / "mapping.txt", "0\tSIL\n1   pour_milk")  # no trailing newline
    assert read_mapping(str(path)) == {"SIL": 0, "pour_milk": 1}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0 background\n1 take cup\n", "line 2"),  # three tokens
        ("0 background\n1\n", "line 2"),  # one token
        ("0 background\nx take\n", "non-negative integer id, got 'x'"),
        ("0 background\n-1 take\n", "non-negative integer id, got '-1'"),
        ("0 background\n1 take\n2 take\n", "duplicate class name 'take' (first on line 2)"),
        ("0 background\n1 take\n1 pour\n", "duplicate class id 1 (first on line 2)"),
        ("\n\n", "empty mapping file"),
    ],
)
def test_read_mapping_errors_name_file_and_line(tmp_path, text, fragment):
    path = _write(tmp_path / "mapping.txt", text)
    with pytest.raises(ValueError, match=r"mapping\.txt") as info:
        read_mapping(path)
    assert fragment in str(info.value)


def test_read_mapping_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        read_mapping(tmp_path / "nope.txt")


def test_read_mapping_directory_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="expected a file"):
        read_mapping(tmp_path)


# ---------------------------------------------------------------------------------------- label files


@pytest.mark.parametrize("layout", ["prediction", "ground_truth"])
def test_write_read_round_trip(tmp_path, layout):
    labels = np.array([0, 0, 1, 1, 1, 3, 2, 2, 0], dtype=np.int64)
    path = tmp_path / "nested" / "dir" / "video_01"
    write_label_file(path, labels, MAPPING, layout=layout)
    back = read_label_file(path, MAPPING)
    assert back.dtype == np.int64
    assert back.shape == labels.shape
    np.testing.assert_array_equal(back, labels)


def test_prediction_layout_is_byte_identical_to_ms_tcn(tmp_path):
    path = tmp_path / "video"
    write_label_file(path, [1, 1, 0, 2], MAPPING)
    assert path.read_text() == f"{HEADER}\ntake take background pour"


def test_ground_truth_layout_has_one_name_per_line_and_trailing_newline(tmp_path):
    path = tmp_path / "video.txt"
    write_label_file(path, np.array([3, 0]), MAPPING, layout="ground_truth")
    assert path.read_text() == "stir\nbackground\n"


def test_write_accepts_tensor_and_list(tmp_path):
    write_label_file(tmp_path / "a", torch.tensor([2, 1, 1]), MAPPING)
    write_label_file(tmp_path / "b", [2, 1, 1], MAPPING)
    assert (tmp_path / "a").read_text() == (tmp_path / "b").read_text()
    np.testing.assert_array_equal(read_label_file(tmp_path / "a", MAPPING), [2, 1, 1])


def test_read_ground_truth_without_trailing_newline_keeps_last_frame(tmp_path):
    path = _write(tmp_path / "video.txt", "background\ntake\nstir")
    np.testing.assert_array_equal(read_label_file(path, MAPPING), [0, 1, 3])
    # what the official readers would keep (split on "\n", drop the last element): one frame less
    assert len(path.read_text().split("\n")[0:-1]) == 2


def test_read_ground_truth_ignores_crlf_whitespace_and_trailing_blank_lines(tmp_path):
    path = _write(tmp_path / "video.txt", "background\r\n take \r\npour\n\n\n")
    np.testing.assert_array_equal(read_label_file(path, MAPPING), [0, 1, 2])


def test_read_prediction_with_trailing_newline_and_multiline_names(tmp_path):
    one_line = _write(tmp_path / "one", f"{HEADER}\ntake take pour \n")
    several = _write(tmp_path / "several", f"{HEADER}\ntake\ntake\npour\n")
    np.testing.assert_array_equal(read_label_file(one_line, MAPPING), [1, 1, 2])
    np.testing.assert_array_equal(read_label_file(several, MAPPING), [1, 1, 2])


def test_unknown_label_names_file_frame_and_label(tmp_path):
    path = _write(tmp_path / "video.txt", "background\ntake\njump\ntake\njump\n")
    with pytest.raises(ValueError, match=r"video\.txt: frame 2: unknown label 'jump'"):
        read_label_file(path, MAPPING)


def test_unknown_label_in_prediction_layout(tmp_path):
    path = _write(tmp_path / "video", f"{HEADER}\ntake take Take")
    with pytest.raises(ValueError, match=r"video: frame 2: unknown label 'Take'"):
        read_label_file(path, MAPPING)


def test_blank_line_inside_ground_truth_is_an_unknown_label(tmp_path):
    path = _write(tmp_path / "video.txt", "take\n\ntake\n")
    with pytest.raises(ValueError, match=r"frame 1: unknown label ''"):
        read_label_file(path, MAPPING)


@pytest.mark.parametrize("text", ["", "\n\n", f"{HEADER}\n", f"{HEADER}\n  \n"])
def test_empty_label_file_is_an_error(tmp_path, text):
    path = _write(tmp_path / "video.txt", text)
    with pytest.raises(ValueError, match=r"video\.txt: expected at least one frame label"):
        read_label_file(path, MAPPING)


def test_read_label_file_missing_file_and_bad_mapping(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        read_label_file(tmp_path / "missing.txt", MAPPING)
    path = _write(tmp_path / "video.txt", "take\n")
    with pytest.raises(TypeError, match="mapping"):
        read_label_file(path, [("take", 1)])


def test_read_label_file_rejects_binary_file(tmp_path):
    path = tmp_path / "video.txt"
    path.write_bytes(b"take\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"video\.txt: expected UTF-8"):
        read_label_file(path, MAPPING)


def test_long_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 4, size=500), rng.integers(1, 60, size=500))
    write_label_file(tmp_path / "long.txt", labels, MAPPING, layout="ground_truth")
    np.testing.assert_array_equal(read_label_file(tmp_path / "long.txt", MAPPING), labels)


@pytest.mark.parametrize(
    ("labels", "error", "fragment"),
    [
        ([0, 7, 1], ValueError, "id 7 at frame 1 is not in the mapping"),
        ([], ValueError, "labels"),
        ([[0, 1]], ValueError, "1-D"),
        ([0.0, 1.0], TypeError, "integer dtype"),
        ([0, -1], ValueError, "labels"),
    ],
)
def test_write_label_file_bad_labels(tmp_path, labels, error, fragment):
    with pytest.raises(error, match="labels") as info:
        write_label_file(tmp_path / "video", np.asarray(labels) if labels else labels, MAPPING)
    assert fragment in str(info.value)
    assert not (tmp_path / "video").exists()


def test_write_label_file_bad_layout_and_mapping(tmp_path):
    with pytest.raises(ValueError, match="layout: expected one of 'prediction', 'ground_truth', got 'gt'"):
        write_label_file(tmp_path / "video", [0], MAPPING, layout="gt")
    with pytest.raises(ValueError, match="one name per id"):
        write_label_file(tmp_path / "video", [0], {"a": 0, "b": 0})


# ------------------------------------------------------------------------------------ background_ids


def test_background_ids():
    assert background_ids(MAPPING, ["background"]) == (0,)
    assert background_ids(MAPPING, ["stir", "take", "stir"]) == (3, 1)
    assert background_ids(MAPPING, "pour") == (2,)
    assert background_ids(MAPPING, []) == ()


def test_background_ids_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="unknown background class 'SIL'") as info:
        background_ids(MAPPING, ["SIL"])
    for name in MAPPING:
        assert repr(name) in str(info.value)


def test_background_ids_type_errors():
    with pytest.raises(TypeError, match="names"):
        background_ids(MAPPING, [0])
    with pytest.raises(TypeError, match="mapping"):
        background_ids(["background"], ["background"])


# ---------------------------------------------------------------------------------------- read_split


def test_read_split(tmp_path):
    path = _write(tmp_path / "test.split1.bundle", "rgb-01-1.txt\n\nrgb-02-1.txt\r\nP03_cam01_P03_tea\n")
    assert read_split(path) == ["rgb-01-1", "rgb-02-1", "P03_cam01_P03_tea"]


def test_read_split_without_trailing_newline_keeps_last_video(tmp_path):
    path = _write(tmp_path / "s.bundle", "a.txt\nb.txt")
    assert read_split(path) == ["a", "b"]


def test_read_split_errors(tmp_path):
    with pytest.raises(ValueError, match=r"s\.bundle: line 3: duplicate video 'a.txt' \(first on line 1\)"):
        read_split(_write(tmp_path / "s.bundle", "a.txt\nb.txt\na.txt\n"))
    with pytest.raises(ValueError, match=r"e\.bundle: expected at least one"):
        read_split(_write(tmp_path / "e.bundle", "\n"))
    with pytest.raises(FileNotFoundError, match=r"x\.bundle"):
        read_split(tmp_path / "x.bundle")


# ------------------------------------------------------------------------------------ shipped example


def test_shipped_example_is_consistent():
    root = Path(__file__).resolve().parents[1] / "examples" / "data" / "basicmotions"
    mapping = read_mapping(root / "mapping.txt")
    assert mapping == {"Standing": 0, "Running": 1, "Walking": 2, "Badminton": 3}
    videos = read_split(root / "splits" / "test.split1.bundle")
    assert len(videos) == 8
    for video in videos:
        target = read_label_file(root / "groundTruth" / f"{video}.txt", mapping)
        pred = read_label_file(root / "predictions" / video, mapping)
        assert target.shape == pred.shape
        assert 400 <= target.shape[0] <= 600 and target.shape[0] % 100 == 0
        # ground truth is constant within each 100-frame recording
        assert (np.diff(target.reshape(-1, 100), axis=1) == 0).all()


# ---------------------------------------------------------------------------------------------
# ActivityNet JSON


def _write_json(path, obj):
    import json

    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def _anet_gt():
    return {"version": "1.3", "taxonomy": [], "database": {
        "a": {"subset": "validation", "duration": 30.0, "annotations": [
            {"segment": [1.0, 5.0], "label": "Run"}, {"segment": [10.0, 20.0], "label": "Jump"}]},
        "b": {"subset": "training", "duration": 9.0, "annotations": [{"segment": [1, 2], "label": "Swim"}]},
        "c": {"subset": "validation", "duration": 9.0, "annotations": [{"segment": [2, 4], "label": "Jump"}]},
    }}


def test_read_activitynet_ground_truth_and_predictions(tmp_path):
    from actseg.io import read_activitynet_ground_truth, read_activitynet_predictions
    from actseg.metrics import ACTIVITYNET_TIOU_THRESHOLDS, detection_map

    gt, ids = read_activitynet_ground_truth(_write_json(tmp_path / "gt.json", _anet_gt()))
    assert ids == {"Run": 0, "Jump": 1}  # order of first appearance in the validation subset
    assert set(gt) == {"a", "c"}
    assert gt["a"].starts.tolist() == [1.0, 10.0] and gt["a"].labels.tolist() == [0, 1]
    every, all_ids = read_activitynet_ground_truth(tmp_path / "gt.json", subset=None)
    assert set(every) == {"a", "b", "c"} and all_ids["Swim"] == 2
    results = {"results": {"a": [{"label": "Run", "score": 0.9, "segment": [1.0, 5.0]},
                                 {"label": "Jump", "score": 0.5, "segment": [10.0, 20.0]}],
                           "c": [{"label": "Jump", "score": 0.7, "segment": [2.0, 4.0]}]}}
    pred = read_activitynet_predictions(_write_json(tmp_path / "pred.json", results), ids)
    assert pred["a"].scores.tolist() == [0.9, 0.5]
    out = detection_map(pred, gt, tiou_thresholds=ACTIVITYNET_TIOU_THRESHOLDS)
    assert out["average_mAP"] == 1.0


def test_read_activitynet_errors(tmp_path):
    from actseg.io import read_activitynet_ground_truth, read_activitynet_predictions

    ids = {"Run": 0}
    foreign = {"results": {"a": [{"label": "Dance", "score": 0.9, "segment": [1.0, 5.0]}]}}
    path = _write_json(tmp_path / "p.json", foreign)
    with pytest.raises(ValueError, match="label 'Dance' is not a ground-truth class"):
        read_activitynet_predictions(path, ids)
    assert len(read_activitynet_predictions(path, ids, unknown_labels="ignore")["a"]) == 0
    with pytest.raises(ValueError, match="unknown_labels"):
        read_activitynet_predictions(path, ids, unknown_labels="drop")
    bad = {"results": {"a": [{"label": "Run", "segment": [1.0, 5.0]}]}}
    with pytest.raises(ValueError, match="expected 'segment', 'label' and 'score'"):
        read_activitynet_predictions(_write_json(tmp_path / "q.json", bad), ids)
    reversed_gt = {"database": {"a": {"subset": "validation", "annotations": [{"segment": [5, 1], "label": "Run"}]}}}
    with pytest.raises(ValueError, match=r"video 'a'.*end > start"):
        read_activitynet_ground_truth(_write_json(tmp_path / "g.json", reversed_gt))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="expected JSON"):
        read_activitynet_ground_truth(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="'database' mapping"):
        read_activitynet_ground_truth(_write_json(tmp_path / "r.json", {"results": {}}))
    with pytest.raises(FileNotFoundError):
        read_activitynet_ground_truth(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# regressions (issue 10 §1, issue 9 §1/§3)


def test_read_mapping_ids_are_bounded_to_int64(tmp_path):
    # regression: an id of 2**63 was read, then overflowed (OverflowError) wherever it became int64
    top = 2**63 - 1
    assert read_mapping(_write(tmp_path / "ok.txt", f"{top} a\n0 b\n")) == {"a": top, "b": 0}
    for text, shown in ((f"{2**63} a\n", str(2**63)), ("0 b\n" + "9" * 40 + " a\n", "9" * 27 + "...")):
        with pytest.raises(ValueError) as info:
            read_mapping(_write(tmp_path / "big.txt", text))
        line = 1 if text.startswith(str(2**63)) else 2
        expected = f"{tmp_path / 'big.txt'}: line {line}: expected a class id <= 2**63 - 1 (int64), got {shown}"
        assert str(info.value) == expected


def test_huge_ids_round_trip(tmp_path):
    mapping = {"a": 2**63 - 1, "b": 10**15}
    labels = np.array([2**63 - 1, 10**15, 10**15], dtype=np.int64)
    write_label_file(tmp_path / "v", labels, mapping)
    np.testing.assert_array_equal(read_label_file(tmp_path / "v", mapping), labels)


@pytest.mark.parametrize("name", ["take cup", "take\tcup", " take", "take\n", ""])
@pytest.mark.parametrize("layout", ["prediction", "ground_truth"])
def test_write_label_file_rejects_names_with_whitespace(tmp_path, name, layout):
    # regression: "take cup" was written and read back as the two labels "take" and "cup"
    mapping = {"background": 0, name: 1}
    with pytest.raises(ValueError) as info:
        write_label_file(tmp_path / "video", [0, 1, 1], mapping, layout=layout)
    assert str(info.value) == (
        "mapping: expected class names without whitespace (MS-TCN label files and mapping.txt separate "
        f"names by whitespace), got {name!r} for id 1"
    )
    assert not (tmp_path / "video").exists()
    write_label_file(tmp_path / "video", [0, 0], mapping, layout=layout)  # the name is not written: fine
    assert read_label_file(tmp_path / "video", {"background": 0}).tolist() == [0, 0]


def test_mapping_argument_checked_through_checks():
    with pytest.raises(TypeError, match=r"^mapping: expected a dict of class name -> id, got list$"):
        background_ids([("a", 0)], ["a"])
    with pytest.raises(TypeError, match=r"^mapping\['a'\]: expected an integer, got float 0.0$"):
        background_ids({"a": 0.0}, ["a"])
    with pytest.raises(ValueError, match=r"^mapping\['a'\]: expected an integer >= 0 and <= 9223372036854775807"):
        background_ids({"a": -1}, ["a"])
    with pytest.raises(TypeError, match=r"^mapping: expected class names as strings, got int 3$"):
        background_ids({3: 0}, ["a"])
    assert background_ids({"a": np.int64(4)}, ["a"]) == (4,)


def _anet_pred(segment, score=0.9, label="Run"):
    return {"results": {"a": [{"label": "Run", "score": 0.5, "segment": [0.0, 1.0]},
                              {"label": label, "score": score, "segment": segment}]}}


@pytest.mark.parametrize("segment", [[0, float("inf")], [float("-inf"), 3.0], [float("nan"), 2.0], [5.0, 1.0],
                                     [2.0, 2.0]])
def test_read_activitynet_predictions_rejects_bad_segments(tmp_path, segment):
    # regression: "segment": [0, Infinity] was accepted (json reads Infinity and NaN)
    from actseg.io import read_activitynet_predictions

    path = _write_json(tmp_path / "p.json", _anet_pred(segment))
    with pytest.raises(ValueError) as info:
        read_activitynet_predictions(path, {"Run": 0})
    assert str(info.value) == (f"{path}: video 'a' entry 1: expected a finite segment [start, end] (seconds) "
                               f"with end > start, got {segment!r}")


@pytest.mark.parametrize("score", [float("inf"), float("nan")])
def test_read_activitynet_predictions_rejects_non_finite_scores(tmp_path, score):
    from actseg.io import read_activitynet_predictions

    path = _write_json(tmp_path / "p.json", _anet_pred([1.0, 2.0], score=score))
    with pytest.raises(ValueError, match=r"video 'a' entry 1: expected a finite score, got (inf|nan)$"):
        read_activitynet_predictions(path, {"Run": 0})


def test_read_activitynet_predictions_accepts_negative_start(tmp_path):
    from actseg.io import read_activitynet_predictions

    path = _write_json(tmp_path / "p.json", _anet_pred([-0.5, 2.0]))
    pred = read_activitynet_predictions(path, {"Run": 0})
    assert pred["a"].starts.tolist() == [0.0, -0.5] and pred["a"].ends.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("segment", [[0, float("inf")], [-1.0, 3.0], [4.0, 4.0], [float("nan"), 1.0]])
def test_read_activitynet_ground_truth_rejects_bad_segments(tmp_path, segment):
    from actseg.io import read_activitynet_ground_truth

    data = {"database": {"a": {"subset": "validation", "annotations": [
        {"segment": [1.0, 2.0], "label": "Run"}, {"segment": segment, "label": "Run"}]}}}
    path = _write_json(tmp_path / "g.json", data)
    with pytest.raises(ValueError) as info:
        read_activitynet_ground_truth(path)
    assert str(info.value) == (f"{path}: video 'a' entry 1: expected a finite segment [start, end] (seconds) "
                               f"with start >= 0 and end > start, got {segment!r}")


def test_read_activitynet_malformed_structure(tmp_path):
    from actseg.io import read_activitynet_ground_truth, read_activitynet_predictions

    path = _write_json(tmp_path / "g.json", {"database": {"a": ["not", "an", "object"]}})
    with pytest.raises(ValueError, match=r"video 'a': expected a JSON object, got list"):
        read_activitynet_ground_truth(path)
    path = _write_json(tmp_path / "g2.json", {"database": {"a": {"subset": "validation", "annotations": 3}}})
    with pytest.raises(ValueError, match=r"video 'a': expected a list of entries, got int"):
        read_activitynet_ground_truth(path)
    path = _write_json(tmp_path / "p.json", {"results": {"a": [{"label": 7, "score": 1, "segment": [0, 1]}]}})
    with pytest.raises(ValueError, match=r"entry 0: expected a label name \(string\), got 7"):
        read_activitynet_predictions(path, {"Run": 0})
    path = _write_json(tmp_path / "p2.json", {"results": {"a": [{"label": "Run", "score": 1, "segment": "12"}]}})
    with pytest.raises(ValueError, match=r"entry 0: expected 'segment', 'label' and 'score', got"):
        read_activitynet_predictions(path, {"Run": 0})
    with pytest.raises(TypeError, match="subset: expected a string or None"):
        read_activitynet_ground_truth(path, subset=1)


def test_read_activitynet_mapping_keyword_and_deprecated_class_ids(tmp_path):
    from actseg.io import read_activitynet_ground_truth, read_activitynet_predictions

    gt_path = _write_json(tmp_path / "gt.json", _anet_gt())
    pred_path = _write_json(tmp_path / "p.json", {"results": {"a": [{"label": "Jump", "score": 0.5,
                                                                     "segment": [10.0, 20.0]}]}})
    mapping = {"Jump": 5, "Run": 2}
    gt, out = read_activitynet_ground_truth(gt_path, mapping=mapping)
    assert out == mapping and gt["a"].labels.tolist() == [2, 5]
    with pytest.warns(DeprecationWarning, match="class_ids is deprecated .* use mapping"):
        gt_old, out_old = read_activitynet_ground_truth(gt_path, class_ids=mapping)
    assert out_old == mapping and gt_old["a"].labels.tolist() == [2, 5]
    assert read_activitynet_predictions(pred_path, mapping)["a"].labels.tolist() == [5]  # positional, as before
    assert read_activitynet_predictions(pred_path, mapping=mapping)["a"].labels.tolist() == [5]
    with pytest.warns(DeprecationWarning, match="class_ids is deprecated"):
        assert read_activitynet_predictions(pred_path, class_ids=mapping)["a"].labels.tolist() == [5]
    with pytest.raises(TypeError, match="class_ids: deprecated spelling of mapping; pass only mapping"):
        read_activitynet_predictions(pred_path, mapping, class_ids=mapping)
    with pytest.raises(TypeError, match="class_ids: deprecated spelling of mapping"):
        read_activitynet_ground_truth(gt_path, mapping=mapping, class_ids=mapping)
    with pytest.raises(TypeError, match=r"^mapping: expected a dict of label name -> class id, got None$"):
        read_activitynet_predictions(pred_path)
    with pytest.raises(ValueError, match=r"video 'a' entry 0: label 'Run' is not in mapping"):
        read_activitynet_ground_truth(gt_path, mapping={"Jump": 0})


def test_path_arguments_are_checked(tmp_path):
    from actseg.io import read_activitynet_ground_truth

    for call in (lambda: read_mapping(5), lambda: read_label_file(None, MAPPING), lambda: read_split(b"s.bundle"),
                 lambda: read_activitynet_ground_truth(3.0), lambda: write_label_file(7, [0], MAPPING)):
        with pytest.raises(TypeError, match=r"^path: expected a path \(str or os.PathLike\), got "):
            call()
