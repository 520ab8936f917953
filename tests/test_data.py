"""actseg.data: the embedded demo data, the datasets and the padding collate (issue 13 §1)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from actseg.data import DemoData, DemoDataset, collate, load_demo, read_ts
from actseg.segments import Segments

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data from the main checkout (/work/main) or from a worktree (/work/wt/<name>)
SHARED = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data")
               if (p / "BasicMotions_TRAIN.ts").is_file()), None)
needs_shared = pytest.mark.skipif(SHARED is None, reason="needs ../shared/data (BasicMotions, GunPoint .ts files)")
DEMO_FILE = ROOT / "src" / "actseg" / "data" / "demo.npz"

SETS = {  # name -> (channels, classes, frames per recording, sequences train/test)
    "basicmotions": (6, 4, 100, {"train": 30, "test": 15}),
    "gunpoint": (1, 2, 150, {"train": 24, "test": 16}),
}


# ---------------------------------------------------------------------------------------------- load_demo


@pytest.mark.parametrize("name", list(SETS))
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_demo_shapes_lengths_labels_and_padding(name, split):
    channels, classes, rec, counts = SETS[name]
    data = load_demo(name, split)
    assert isinstance(data, DemoData)
    n = counts[split]
    assert data.features.dtype == np.float32 and data.labels.dtype == np.int64 and data.lengths.dtype == np.int64
    assert data.features.shape == (n, channels, int(data.lengths.max()))
    assert data.labels.shape == (n, int(data.lengths.max()))
    assert data.video_ids == tuple(f"{name}_{split}_{i:02d}" for i in range(1, n + 1))
    assert len(data.class_names) == classes
    # 4-8 whole recordings per sequence; several different lengths
    assert (data.lengths % rec == 0).all() and data.lengths.min() >= 4 * rec and data.lengths.max() <= 8 * rec
    assert len(set(data.lengths.tolist())) >= 3
    valid = np.arange(data.labels.shape[1])[None, :] < data.lengths[:, None]
    assert (data.labels != -100).sum() == data.lengths.sum() == valid.sum()
    assert (data.labels[~valid] == -100).all() and (data.features.transpose(0, 2, 1)[~valid] == 0).all()
    assert data.labels[valid].min() >= 0 and data.labels[valid].max() < classes
    assert set(np.unique(data.labels[valid]).tolist()) == set(range(classes))  # every class occurs
    # one class per recording, and consecutive recordings differ (every join is a boundary)
    for i, length in enumerate(data.lengths.tolist()):
        blocks = data.labels[i, :length].reshape(-1, rec)
        assert (blocks == blocks[:, :1]).all()
        assert (blocks[1:, 0] != blocks[:-1, 0]).all()
        # real signals: no recording is constant on every channel
        x = data.features[i, :, :length].reshape(channels, -1, rec)
        assert (x.std(axis=2) > 0).any(axis=0).all()
    assert "arXiv:1811.00075" in data.notice and "Cite the archives" in data.notice
    assert data.sample_rate == {"basicmotions": 10.0, "gunpoint": 30.0}[name]


def test_load_demo_is_deterministic_and_returns_fresh_arrays():
    a = load_demo("gunpoint", "train")
    a.features[0, 0, 0] = 1e6
    a.labels[0, 0] = 7
    b, c = load_demo("gunpoint", "train"), load_demo("gunpoint", "train")
    assert b.features[0, 0, 0] != 1e6 and b.labels[0, 0] != 7
    for field in ("features", "labels", "lengths"):
        np.testing.assert_array_equal(getattr(b, field), getattr(c, field))


@pytest.mark.parametrize("name", list(SETS))
def test_train_and_test_sequences_use_disjoint_recordings(name):
    rec = SETS[name][2]

    def recordings(split):
        data = load_demo(name, split)
        return {data.features[i, :, k * rec:(k + 1) * rec].tobytes()
                for i, length in enumerate(data.lengths.tolist()) for k in range(length // rec)}

    train, test = recordings("train"), recordings("test")
    assert len(train) >= 30 and len(test) >= 30
    assert not train & test


def test_demo_file_is_small_compressed_and_shipped_with_its_notice():
    assert DEMO_FILE.stat().st_size <= 500_000
    with zipfile.ZipFile(DEMO_FILE) as z:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in z.infolist())
    notice = (DEMO_FILE.parent / "NOTICE.md").read_text(encoding="utf-8")
    assert "arXiv:1811.00075" in notice and "Dau et al." in notice and "joins" in notice
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'actseg = \[[^\]]*"data/demo\.npz"', pyproject)
    assert re.search(r'actseg = \[[^\]]*"data/NOTICE\.md"', pyproject)


def test_import_and_load_demo_stay_without_torch():
    code = ("import sys, actseg.data as d\n"
            "x = d.load_demo('gunpoint', 'test')\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(sorted(d.__all__))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(sorted(["ActivityNetDataset", "DemoData", "DemoDataset", "MSTCNFolderDataset",
                                             "collate", "load_demo", "read_ts"]))


@pytest.mark.parametrize("name, split", [("basicmotions", "bogus"), ("ucf101", "train")])
def test_load_demo_refuses_unknown_names(name, split):
    arg, value, options = ("split", split, "'train', 'test'") if name in SETS else ("name", name,
                                                                                     "'basicmotions', 'gunpoint'")
    with pytest.raises(ValueError, match=re.escape(f"{arg}: expected one of {options}, got {value!r}")):
        load_demo(name, split)
    with pytest.raises(TypeError, match=re.escape("split: expected one of 'train', 'test', got 1")):
        load_demo("gunpoint", 1)


@needs_shared
@pytest.mark.parametrize("name, stem", [("basicmotions", "BasicMotions"), ("gunpoint", "GunPoint")])
def test_demo_sequences_are_the_archive_recordings_of_their_split(name, stem):
    """Each 100/150-frame block of a sequence is one recording of the same split's .ts file, with its class."""
    rec = SETS[name][2]
    for split in ("train", "test"):
        data = load_demo(name, split)
        x, y = read_ts(SHARED / f"{stem}_{split.upper()}.ts")
        by_bytes = {r.astype(np.float32).tobytes(): str(label) for r, label in zip(x, y)}
        for i, length in enumerate(data.lengths.tolist()):
            for k in range(length // rec):
                block = data.features[i, :, k * rec:(k + 1) * rec]
                assert block.tobytes() in by_bytes, (split, i, k)
                label = by_bytes[block.tobytes()]
                name_of = {"1": "Gun-Draw", "2": "Point"}.get(label, label)
                assert data.class_names[data.labels[i, k * rec]] == name_of


@needs_shared
def test_generator_reproduces_the_embedded_file(tmp_path):
    out = tmp_path / "demo.npz"
    run = subprocess.run([sys.executable, "-m", "actseg.data._make_demo", "--source", str(SHARED), "--out", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    with np.load(out) as new, np.load(DEMO_FILE) as shipped:
        assert sorted(new.files) == sorted(shipped.files)
        for key in shipped.files:
            assert new[key].dtype == shipped[key].dtype, key
            np.testing.assert_array_equal(new[key], shipped[key], err_msg=key)


def test_read_ts_errors_name_the_file(tmp_path):
    f = tmp_path / "bad.ts"
    f.write_text("@problemName x\n1,2:a\n")
    with pytest.raises(ValueError, match=re.escape(f"{f}: expected a '@data' line, got none")):
        read_ts(f)
    f.write_text("@data\n1,2:a\n1,2,3:b\n")
    with pytest.raises(ValueError, match=re.escape(f"{f}: expected recordings of one shape (lengths per channel), "
                                                   "got [(2,), (3,)]")):
        read_ts(f)


# ---------------------------------------------------------------------------------------------- DemoDataset, collate


def test_demo_dataset_items_are_the_unpadded_sequences():
    ds = DemoDataset("basicmotions", "test")
    data = load_demo("basicmotions", "test")
    assert len(ds) == 15 and ds.class_names == data.class_names and ds.sample_rate == 10.0
    for i in (0, 7, -1):
        item = ds[i]
        length = int(data.lengths[i])
        assert set(item) == {"features", "labels", "video_id"}
        assert item["features"].dtype == torch.float32 and item["labels"].dtype == torch.int64
        np.testing.assert_array_equal(item["features"].numpy(), data.features[i, :, :length])
        np.testing.assert_array_equal(item["labels"].numpy(), data.labels[i, :length])
        assert item["video_id"] == data.video_ids[i]
    with pytest.raises(IndexError, match=re.escape("index: expected an integer in [-15, 15), got 15")):
        ds[15]


def test_dataloader_with_collate_gives_the_padded_demo_arrays():
    data = load_demo("basicmotions", "train")
    loader = torch.utils.data.DataLoader(DemoDataset("basicmotions", "train"), batch_size=7, collate_fn=collate)
    batch = next(iter(loader))
    length = int(data.lengths[:7].max())
    assert set(batch) == {"features", "labels", "mask", "lengths", "video_ids"}
    np.testing.assert_array_equal(batch["features"].numpy(), data.features[:7, :, :length])
    np.testing.assert_array_equal(batch["labels"].numpy(), data.labels[:7, :length])
    np.testing.assert_array_equal(batch["lengths"].numpy(), data.lengths[:7])
    np.testing.assert_array_equal(batch["mask"].numpy(), data.labels[:7, :length] != -100)
    assert batch["video_ids"] == list(data.video_ids[:7])


def test_collate_pads_different_lengths():
    items = [
        {"features": torch.arange(6.0).reshape(2, 3), "labels": torch.tensor([0, 1, 1]), "video_id": "a"},
        {"features": np.array([[7.0], [8.0]]), "labels": np.array([2]), "video_id": "b"},  # numpy float64
        {"features": torch.ones(2, 2, dtype=torch.float64), "labels": torch.tensor([3, -100]), "video_id": "c"},
    ]
    batch = collate(items)
    assert batch["features"].dtype == torch.float32 and batch["labels"].dtype == torch.int64
    assert batch["features"].tolist() == [
        [[0, 1, 2], [3, 4, 5]],
        [[7, 0, 0], [8, 0, 0]],
        [[1, 1, 0], [1, 1, 0]],
    ]
    assert batch["labels"].tolist() == [[0, 1, 1], [2, -100, -100], [3, -100, -100]]
    assert batch["mask"].dtype == torch.bool
    assert batch["mask"].tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert batch["lengths"].tolist() == [3, 1, 2] and batch["lengths"].dtype == torch.int64
    assert batch["video_ids"] == ["a", "b", "c"]
    assert "segments" not in batch


def test_collate_without_labels_and_with_segments():
    segs = [Segments([0.0], [1.5], [0]), Segments.empty()]
    items = [{"features": torch.ones(1, 4), "segments": segs[0], "video_id": "a"},
             {"features": torch.ones(1, 2), "segments": segs[1], "video_id": "b"}]
    batch = collate(items)
    assert "labels" not in batch and batch["segments"] == segs and batch["mask"].sum(1).tolist() == [4, 2]


@pytest.mark.parametrize("items, error, message", [
    ([], ValueError, "items: expected at least one item, got an empty list"),
    ({"features": 1}, TypeError, "items: expected a list of dicts (dataset items), got dict"),
    ([3], TypeError, "items[0]: expected a dict with 'features' and 'video_id', got int"),
    ([{"features": torch.ones(2, 3)}], ValueError, "items[0]: expected a 'video_id' entry, got keys ['features']"),
    ([{"features": torch.ones(2, 3), "video_id": "a"}, {"features": torch.ones(3, 3), "video_id": "b"}],
     ValueError, "items[1]['features']: expected shape (2, T), got (3, 3)"),
    ([{"features": torch.ones(2, 0), "video_id": "a"}], ValueError,
     "items[0]['features']: expected T >= 1 in (C, T), got (2, 0)"),
    ([{"features": torch.ones(2, 3, dtype=torch.int64), "video_id": "a"}], TypeError,
     "items[0]['features']: expected a floating dtype, got torch.int64"),
    ([{"features": torch.ones(2, 3), "labels": torch.zeros(2, dtype=torch.int64), "video_id": "a"}], ValueError,
     "items[0]['labels']: expected shape (3,), got (2,)"),
    ([{"features": torch.ones(2, 3), "labels": torch.zeros(3), "video_id": "a"}], TypeError,
     "items[0]['labels']: expected a integer dtype, got torch.float32"),
    ([{"features": torch.ones(2, 3), "labels": torch.zeros(3, dtype=torch.int64), "video_id": "a"},
      {"features": torch.ones(2, 3), "video_id": "b"}], ValueError,
     "items[1]: expected a 'labels' entry in every item or in none, got items[0] that has 'labels' and items[1] that "
     "has not"),
    ([{"features": torch.ones(2, 3), "video_id": 5}], TypeError, "items[0]['video_id']: expected a string, got int"),
    ([{"features": torch.ones(2, 3), "segments": [0, 1], "video_id": "a"}], TypeError,
     "items[0]['segments']: expected a Segments, got list"),
])
def test_collate_refuses_bad_items(items, error, message):
    with pytest.raises(error, match=re.escape(message)):
        collate(items)


# ---------------------------------------------------------------------------------------------- MS-TCN folder

from actseg.data import ActivityNetDataset, MSTCNFolderDataset  # noqa: E402
from actseg.io import read_activitynet_predictions, write_activitynet_predictions  # noqa: E402

NAMES = ("bg", "pour", "stir")
VIDEOS = {"v1": [0, 0, 1, 1, 1, 2, 2, 0, 0], "v2": [1, 1, 2, 2, 0, 0, 0], "v3": [2, 2, 2, 0]}


def _features(video: str) -> np.ndarray:
    t = len(VIDEOS[video])
    return (np.arange(4 * t, dtype=np.float64).reshape(4, t) + 100 * int(video[1:])).astype(np.float32)


@pytest.fixture
def mstcn_root(tmp_path):
    root = tmp_path / "gtea"
    for d in ("features", "groundTruth", "splits"):
        (root / d).mkdir(parents=True)
    (root / "mapping.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(NAMES)))
    for video, labels in VIDEOS.items():
        np.save(root / "features" / f"{video}.npy", _features(video))
        (root / "groundTruth" / f"{video}.txt").write_text("".join(f"{NAMES[i]}\n" for i in labels))
    (root / "splits" / "train.split1.bundle").write_text("v1.txt\nv2.txt\n")
    (root / "splits" / "test.split1.bundle").write_text("v3.txt\n")
    (root / "splits" / "train.split2.bundle").write_text("v3.txt\nv1.txt\n")
    return root


def test_mstcn_folder_items_and_attributes(mstcn_root):
    ds = MSTCNFolderDataset(mstcn_root, "train")
    assert len(ds) == 2 and ds.video_ids == ("v1", "v2") and ds.class_names == NAMES
    assert ds.mapping == {"bg": 0, "pour": 1, "stir": 2} and ds.num_channels == 4
    for i, video in enumerate(ds.video_ids):
        item = ds[i]
        assert item["video_id"] == video and item["features"].dtype == torch.float32
        np.testing.assert_array_equal(item["features"].numpy(), _features(video))
        assert item["labels"].tolist() == VIDEOS[video] and item["labels"].dtype == torch.int64
    assert MSTCNFolderDataset(mstcn_root, "train", split_index=2).video_ids == ("v3", "v1")
    assert MSTCNFolderDataset(mstcn_root, "test").video_ids == ("v3",)
    batch = collate([ds[0], ds[1]])
    assert batch["labels"][1].tolist() == VIDEOS["v2"] + [-100, -100] and batch["lengths"].tolist() == [9, 7]


@pytest.mark.parametrize("mmap", [True, False])
def test_mstcn_folder_features_are_memory_mapped(mstcn_root, monkeypatch, mmap):
    ds = MSTCNFolderDataset(mstcn_root, "train", mmap=mmap)
    calls = []
    load = np.load

    def spy(*args, **kwargs):
        out = load(*args, **kwargs)
        calls.append((Path(args[0]).name, kwargs.get("mmap_mode"), type(out)))
        return out

    monkeypatch.setattr(np, "load", spy)
    item = ds[1]
    assert calls == [("v2.npy", "r", np.memmap) if mmap else ("v2.npy", None, np.ndarray)]
    item["features"][0, 0] = -1.0  # a writable copy, not a view of the file
    assert np.load(mstcn_root / "features" / "v2.npy")[0, 0] == _features("v2")[0, 0]


def test_mstcn_folder_sample_rate_keeps_every_kth_frame(mstcn_root):
    ds = MSTCNFolderDataset(mstcn_root, "train", sample_rate=3)
    item = ds[0]  # v1: 9 frames -> frames 0, 3, 6
    np.testing.assert_array_equal(item["features"].numpy(), _features("v1")[:, ::3])
    assert item["labels"].tolist() == [0, 1, 2]
    assert ds[1]["labels"].tolist() == [1, 2, 0] and tuple(ds[1]["features"].shape) == (4, 3)  # 7 frames -> 0, 3, 6


def test_mstcn_folder_missing_feature(mstcn_root):
    (mstcn_root / "features" / "v2.npy").unlink()
    bundle = mstcn_root / "splits" / "train.split1.bundle"
    feature = mstcn_root / "features" / "v2.npy"
    message = f"{feature}: video 'v2': no such feature file (the video is listed in {bundle})"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        MSTCNFolderDataset(mstcn_root, "train")


def test_mstcn_folder_missing_ground_truth(mstcn_root):
    (mstcn_root / "groundTruth" / "v1.txt").unlink()
    bundle = mstcn_root / "splits" / "train.split1.bundle"
    message = (f"{mstcn_root / 'groundTruth' / 'v1.txt'}: video 'v1': no such ground-truth file (the video is listed "
               f"in {bundle})")
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        MSTCNFolderDataset(mstcn_root, "train")


def test_mstcn_folder_label_count_differs_from_frame_count(mstcn_root):
    gt = mstcn_root / "groundTruth" / "v2.txt"
    gt.write_text("pour\npour\nstir\nstir\nbg\nbg\n")  # 6 labels, 7 feature frames
    feature = mstcn_root / "features" / "v2.npy"
    message = f"{gt}: video 'v2': expected 7 frame labels (one per frame of {feature}), got 6"
    with pytest.raises(ValueError, match=re.escape(message)):
        MSTCNFolderDataset(mstcn_root, "train")


def test_mstcn_folder_unknown_label(mstcn_root):
    gt = mstcn_root / "groundTruth" / "v2.txt"
    gt.write_text("pour\npour\njump\nstir\nbg\nbg\nbg\n")
    message = (f"{gt}: video 'v2': frame 2: unknown label 'jump' (not in the mapping; known labels: 'bg', 'pour', "
               "'stir')")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MSTCNFolderDataset(mstcn_root, "train")


def test_mstcn_folder_bad_feature_files(mstcn_root):
    feature = mstcn_root / "features" / "v2.npy"
    np.save(feature, np.zeros((4, 7, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=re.escape(f"{feature}: video 'v2': expected features of shape (C, T) with "
                                                   "T >= 1, got shape (4, 7, 2)")):
        MSTCNFolderDataset(mstcn_root, "train")
    np.save(feature, np.zeros((5, 7), dtype=np.float32))
    with pytest.raises(ValueError, match=re.escape(f"{feature}: video 'v2': expected 4 channels (as the first video), "
                                                   "got shape (5, 7)")):
        MSTCNFolderDataset(mstcn_root, "train")
    np.save(feature, np.zeros((4, 7), dtype=np.complex64))
    with pytest.raises(ValueError, match=re.escape(f"{feature}: video 'v2': expected real features (float or integer), "
                                                   "got dtype complex64")):
        MSTCNFolderDataset(mstcn_root, "train")
    feature.write_text("not an npy file")
    with pytest.raises(ValueError, match=re.escape(f"{feature}: video 'v2': expected a .npy array, got an unreadable "
                                                   "file")):
        MSTCNFolderDataset(mstcn_root, "train")


def test_mstcn_folder_bad_mapping_split_and_arguments(mstcn_root):
    (mstcn_root / "mapping.txt").write_text("0 bg\n2 pour\n")
    with pytest.raises(ValueError, match=re.escape(f"{mstcn_root / 'mapping.txt'}: expected class ids 0..1 (one per "
                                                   "line), got [0, 2]")):
        MSTCNFolderDataset(mstcn_root, "train")
    (mstcn_root / "mapping.txt").write_text("0 bg\n1 pour\n2 stir\n")
    with pytest.raises(FileNotFoundError, match=re.escape(f"split: no such file: "
                                                          f"{mstcn_root / 'splits' / 'val.split1.bundle'}")):
        MSTCNFolderDataset(mstcn_root, "val")
    with pytest.raises(FileNotFoundError, match=re.escape(f"root: no such folder: {mstcn_root / 'nope'}")):
        MSTCNFolderDataset(mstcn_root / "nope")
    with pytest.raises(ValueError, match=re.escape("sample_rate: expected an integer >= 1 and <= 2147483647, got 0")):
        MSTCNFolderDataset(mstcn_root, sample_rate=0)
    with pytest.raises(TypeError, match=re.escape("mmap: expected True or False, got str 'r'")):
        MSTCNFolderDataset(mstcn_root, mmap="r")


# ---------------------------------------------------------------------------------------------- ActivityNet


@pytest.fixture
def anet(tmp_path):
    import json

    database = {
        "v_a": {"subset": "validation", "duration": 20.0, "annotations": [
            {"segment": [4.0, 9.0], "label": "Run"}, {"segment": [18.0, 25.0], "label": "Jump"},
            {"segment": [30.0, 32.0], "label": "Run"}]},
        "v_b": {"subset": "validation", "duration": 8.0, "annotations": []},
        "v_c": {"subset": "training", "duration": 5.0, "annotations": [{"segment": [1.0, 2.0], "label": "Swim"}]},
    }
    (tmp_path / "gt.json").write_text(json.dumps({"version": "VERSION 1.3", "database": database}))
    (tmp_path / "feats").mkdir()
    for video, t in (("v_a", 10), ("v_b", 16), ("v_c", 5)):
        np.save(tmp_path / "feats" / f"{video}.npy", np.full((3, t), float(t), dtype=np.float32))
    return tmp_path


def test_activitynet_dataset_maps_seconds_to_feature_frames(anet):
    ds = ActivityNetDataset(anet / "gt.json", anet / "feats")
    # labels numbered over the whole file ("Swim" only occurs in another subset): every subset shares the ids
    assert ds.video_ids == ("v_a", "v_b") and ds.class_names == ("Run", "Jump", "Swim")
    assert ds.frames_per_second == {"v_a": 0.5, "v_b": 2.0}  # 10 frames over 20 s, 16 over 8 s
    item = ds[0]
    assert item["video_id"] == "v_a" and tuple(item["features"].shape) == (3, 10)
    # [4, 9] s -> [2, 4.5]; [18, 25] s -> [9, 12.5] clipped to [9, 10]; [30, 32] s lies after the features: dropped
    assert item["segments"] == Segments([2.0, 9.0], [4.5, 10.0], [0, 1])
    assert len(ds[1]["segments"]) == 0
    batch = collate([ds[0], ds[1]])
    assert "labels" not in batch and batch["segments"][0] == item["segments"] and batch["lengths"].tolist() == [10, 16]
    # fixed rate: 32 fps video, one feature every 16 frames -> 2 feature frames per second
    fixed = ActivityNetDataset(anet / "gt.json", anet / "feats", fps=32.0, feature_stride=16,
                               class_names=["Jump", "Run"])
    assert fixed.frames_per_second == {"v_a": 2.0, "v_b": 2.0}
    assert fixed[0]["segments"] == Segments([8.0], [10.0], [1])  # [4, 9] s -> [8, 18] -> clipped; [18, 25] s dropped
    everything = ActivityNetDataset(anet / "gt.json", anet / "feats", subset=None)
    assert everything.video_ids == ("v_a", "v_b", "v_c") and everything.class_names == ("Run", "Jump", "Swim")
    assert everything[2]["segments"] == Segments([1.0], [2.0], [2])


def test_activitynet_dataset_bad_files(anet):
    (anet / "feats" / "v_b.npy").unlink()
    feature = anet / "feats" / "v_b.npy"
    message = f"{feature}: video 'v_b': no such feature file (the video is listed in {anet / 'gt.json'})"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        ActivityNetDataset(anet / "gt.json", anet / "feats")
    np.save(anet / "feats" / "v_b.npy", np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=re.escape(f"{anet / 'gt.json'}: video 'v_a' entry 1: label 'Jump' is not in "
                                                   "mapping")):
        ActivityNetDataset(anet / "gt.json", anet / "feats", class_names=["Run"])
    text = (anet / "gt.json").read_text().replace('"duration": 8.0, ', "")
    (anet / "gt.json").write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{anet / 'gt.json'}: video 'v_b': expected a 'duration' > 0 "
                                                   "(seconds) to map seconds to the 4 feature frames (or pass fps=), "
                                                   "got None")):
        ActivityNetDataset(anet / "gt.json", anet / "feats")
    assert len(ActivityNetDataset(anet / "gt.json", anet / "feats", fps=1.0)) == 2  # no duration needed


def test_activitynet_writer_round_trip(anet, tmp_path):
    ds = ActivityNetDataset(anet / "gt.json", anet / "feats")
    detections = {  # in feature frames, as a model predicts them
        "v_a": Segments([2, 0], [5, 3], [0, 1], scores=[0.9, 0.25]),
        "v_b": Segments.empty(scores=True),
    }
    out = tmp_path / "out" / "pred.json"
    write_activitynet_predictions(out, detections, ds.class_names, fps=ds.frames_per_second)
    back = read_activitynet_predictions(out, {name: i for i, name in enumerate(ds.class_names)})
    assert back["v_a"] == Segments([4.0, 0.0], [10.0, 6.0], [0, 1], scores=[0.9, 0.25])  # frames / 0.5
    assert len(back["v_b"]) == 0 and back["v_b"].scores is not None
    # seconds in, seconds out: identical (float64 survives JSON exactly)
    seconds = {"v": Segments([0.1, 1 / 3, -0.5], [0.7, 2 / 3, 1e-9], [1, 0, 1], scores=[1 / 7, 0.5, 2.0])}
    write_activitynet_predictions(out, seconds, ["Run", "Jump"])
    assert read_activitynet_predictions(out, {"Run": 0, "Jump": 1}) == seconds
    import json

    data = json.loads(out.read_text())
    assert data["version"] == "VERSION 1.3" and data["external_data"] == {}
    assert data["results"]["v"][0] == {"label": "Jump", "score": 1 / 7, "segment": [0.1, 0.7]}


@pytest.mark.parametrize("kwargs, error, message", [
    ({"detections": {"v": Segments([0], [1], [2], scores=[0.5])}}, ValueError,
     "detections['v']: expected labels in [0, 1] (ids of class_names), got 2 at index 0"),
    ({"detections": {"v": Segments([0], [1], [0])}}, ValueError,
     "detections['v']: expected Segments with scores (confidences), got scores=None"),
    ({"fps": {"w": 1.0}}, ValueError, "fps: expected a rate for every video of detections, got none for 'v'"),
    ({"fps": {"v": 0.0}}, ValueError, "fps['v']: expected a finite number > 0.0, got 0.0"),
    ({"fps": -1.0}, ValueError, "fps: expected a finite number > 0.0, got -1.0"),
    ({"class_names": ["Run", "Run"]}, ValueError, "class_names: expected distinct names, got 'Run' at index 0 and 1"),
    ({"class_names": "Run"}, TypeError, "class_names: expected a list of names (str), got str 'Run'"),
    ({"detections": {3: Segments([0], [1], [0], scores=[0.5])}}, TypeError,
     "detections: expected video ids as strings, got int 3"),
    ({"fps": 1e-320}, ValueError, "detections['v']: expected finite times in seconds (frames / fps), got infinite"),
])
def test_activitynet_writer_refuses_bad_input(tmp_path, kwargs, error, message):
    args = {"path": tmp_path / "p.json", "detections": {"v": Segments([0], [10], [1], scores=[0.5])},
                "class_names": ["Run", "Jump"], "fps": 1.0}
    args.update(kwargs)
    with pytest.raises(error, match=re.escape(message)):
        write_activitynet_predictions(**args)
    assert not (tmp_path / "p.json").exists()
