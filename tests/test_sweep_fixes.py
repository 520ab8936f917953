"""Edge cases found by an adversarial sweep of the public API (2026-12-05): each test fails on the code before
its fix."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from actseg.losses import global_parse_loss, hard_negative_bce_loss, local_parse_loss, similarity_smoothing_loss

# ----------------------------------------------------------------------------------------------------- losses


def test_hard_negative_averages_over_the_negatives_a_snippet_has():
    # one positive and three negatives: N_t holds the three negatives even when num_negatives = 4
    logits = torch.tensor([[[0.5], [-1.0], [2.0], [0.0]]], dtype=torch.float64)
    target = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]], dtype=torch.float64)
    pos = -F.logsigmoid(logits[0, 0, 0])
    negatives = -F.logsigmoid(-logits[0, 1:, 0])
    for k, expected_neg in ((4, negatives.mean()), (3, negatives.mean()),
                            (2, negatives.topk(2).values.mean())):
        got = hard_negative_bce_loss(logits, target, num_negatives=k, alpha=1.0)
        torch.testing.assert_close(got, pos + expected_neg)
    # a snippet whose classes are all positive has no negative term
    ones = torch.ones_like(target)
    torch.testing.assert_close(hard_negative_bce_loss(logits, ones, num_negatives=2, alpha=1.0),
                               -F.logsigmoid(logits[0, :, 0]).sum())


def test_parse_and_similarity_losses_leave_a_video_without_valid_frames_out():
    torch.manual_seed(0)
    attention = torch.rand(1, 4, 3, dtype=torch.float64)
    ids = torch.tensor([[0, 0, 1, 1]])
    mask = torch.tensor([[True] * 4, [False] * 4])
    both = torch.cat([attention, torch.rand_like(attention)]), torch.cat([ids, ids])
    torch.testing.assert_close(local_parse_loss(*both, mask), local_parse_loss(attention, ids))
    assert local_parse_loss(*both, mask, reduction="none")[1].item() == 0.0
    assert local_parse_loss(*both, torch.zeros_like(mask)).item() == 0.0

    logits, feats = torch.randn(1, 3, 5, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64)
    mask = torch.tensor([[True] * 5, [False] * 5])
    two = torch.cat([logits, logits]), torch.cat([feats, feats])
    torch.testing.assert_close(similarity_smoothing_loss(*two, mask), similarity_smoothing_loss(logits, feats))
    # one valid frame: no pair either
    mask[1, 2] = True
    torch.testing.assert_close(similarity_smoothing_loss(*two, mask), similarity_smoothing_loss(logits, feats))
    assert similarity_smoothing_loss(*two, mask, reduction="none")[1].item() == 0.0
    # the sum is unchanged, and ASRF's numbers keep their NaN for a video without a pair (documented)
    torch.testing.assert_close(similarity_smoothing_loss(*two, mask, reduction="sum"),
                               similarity_smoothing_loss(logits, feats))
    assert math.isnan(similarity_smoothing_loss(*two, mask, reference="asrf").item())

    frame_logits = torch.randn(2, 4, 5, dtype=torch.float64)
    labels = torch.tensor([1, 2])
    mask = torch.tensor([[True] * 5, [False] * 5])
    torch.testing.assert_close(global_parse_loss(frame_logits, labels, mask),
                               global_parse_loss(frame_logits[:1], labels[:1]))


# --------------------------------------------------------------------------------------- targets, io, data


def test_limb_maps_of_overflowing_coordinates_hold_no_nan():
    from actseg.targets import skeleton_heatmaps

    for far in (1e19, 3e38):
        kp = torch.tensor([[[[far, far], [-far, -far], [1.0, 1.0]]]])
        maps = skeleton_heatmaps(kp, size=(3, 5), limbs=[(0, 1), (1, 2), (0, 2)], kind="limbs")
        assert not torch.isnan(maps).any() and maps.min() >= 0 and maps.max() <= 1
        assert maps[0, 0, 0].sum().item() == 0.0  # |ab|² overflows: rendered as missing
    # a normal limb next to an overflowing one is drawn as before
    kp = torch.tensor([[[[1e19, 1e19], [-1e19, -1e19], [0.0, 1.0], [4.0, 1.0]]]])
    maps = skeleton_heatmaps(kp, size=(3, 5), limbs=[(0, 1), (2, 3)], kind="limbs")
    alone = skeleton_heatmaps(kp[..., 2:, :], size=(3, 5), limbs=[(0, 1)], kind="limbs")
    assert maps[0, 0, 0].sum().item() == 0.0
    torch.testing.assert_close(maps[0, 0, 1], alone[0, 0, 0], rtol=0, atol=0)
    assert maps[0, 0, 1, 1].tolist() == [1.0] * 5


def test_read_mapping_accepts_ids_with_leading_zeros(tmp_path):
    from actseg.io import read_mapping

    path = tmp_path / "mapping.txt"
    path.write_text("00000000000000000001 walk\n" + "0" * 40 + "2 run\n")
    assert read_mapping(path) == {"walk": 1, "run": 2}
    path.write_text("09223372036854775808 walk\n")
    with pytest.raises(ValueError, match="expected a class id <= 2\\*\\*63 - 1"):
        read_mapping(path)


def test_read_ts_rejects_recordings_without_values_and_names_undecodable_files(tmp_path):
    from actseg.data import read_ts

    path = tmp_path / "labels_only.ts"
    path.write_text("@data\nwalk\nrun\n")
    with pytest.raises(ValueError, match=r"labels_only\.ts: expected at least one channel per recording"):
        read_ts(path)
    path = tmp_path / "latin1.ts"
    path.write_bytes(b"@data\n1,2:w\xe9\n")
    with pytest.raises(ValueError, match=r"latin1\.ts: expected UTF-8 text"):
        read_ts(path)
