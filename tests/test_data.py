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
