"""Edge cases found by an adversarial sweep of the public API (2026-12-05): each test fails on the code before
its fix."""

from __future__ import annotations

import math

import numpy as np
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


# ------------------------------------------------------------------------------ segments, metrics, postprocess


def test_segment_iou_checks_row_order_for_tensors_as_for_arrays():
    from actseg.segments import segment_iou

    bad, good = [[0.0, 1.0], [10.0, 0.0]], [[5.0, 15.0]]
    for convert in (np.array, torch.tensor):
        with pytest.raises(ValueError, match=r"a: expected end >= start in every row, got start=10\.0, end=0\.0 "
                                             r"at row 1"):
            segment_iou(convert(bad), convert(good))
        with pytest.raises(ValueError, match="b: expected end >= start"):
            segment_iou(convert(good), convert(bad))
    torch.testing.assert_close(segment_iou(torch.tensor(good), torch.tensor([[5.0, 10.0]])),
                               torch.tensor([[0.5]]))


def test_frame_map_treats_tied_infinite_scores_as_one_threshold():
    from actseg.metrics import frame_map

    scores = np.array([[-np.inf, 0.0], [-np.inf, 0.0], [0.0, -np.inf]])
    labels = np.array([1, 0, 0])
    finite = np.where(np.isinf(scores), -1e9, scores)
    expected = frame_map(finite, labels)["ap"]
    np.testing.assert_allclose(expected, [5 / 6, 0.5])
    for order in ([0, 1, 2], [1, 0, 2], [2, 1, 0]):
        np.testing.assert_allclose(frame_map(scores[order], labels[order])["ap"], expected)


def test_boundary_f1_reads_zero_dim_arrays_and_tensors_as_numbers():
    from actseg.metrics import boundary_f1

    as_list = boundary_f1([10], [10.0, 20.0], tolerance=1)
    for convert in (np.array, torch.tensor):
        assert boundary_f1([10], [convert(10.0), convert(20.0)], tolerance=1) == as_list
        assert boundary_f1([10], [10.0, 20.0], tolerance=convert(1.0)) == as_list
    assert as_list.num_pos == 2 and as_list.tp == 1 and isinstance(as_list.f1, float)
    assert boundary_f1([10], [10.0, 20.0], tolerance=[1.0]).f1.shape == (1,)


def test_real_array_keeps_zero_dim_arrays():
    from actseg._checks import real_array

    assert real_array(np.array(2), "x", dtype=np.float64).shape == ()
    assert real_array(torch.tensor(2.5), "x", dtype=np.float64).shape == ()


def test_empty_tracks_give_empty_candidates():
    from actseg.postprocess import decode_global_masks, watershed_peaks

    for heatmap in (np.zeros(0), np.zeros((2, 0)), np.zeros((2, 3, 0))):
        out = watershed_peaks(heatmap, 0.5)
        for keypoints in out if isinstance(out, list) else [out]:
            assert keypoints.positions.shape == (0,) and keypoints.scores.shape == (0,)
    for mode in ("span", "runs"):
        decoded = decode_global_masks(np.zeros((2, 3, 0)), np.zeros((2, 0, 0)), mode=mode)
        assert [len(s) for s in decoded] == [0, 0]


def test_big_endian_arrays_are_read_in_native_order():
    from actseg.metrics import accuracy
    from actseg.postprocess import find_peaks

    track = np.array([0.0, 1.0, 0.0, 0.8, 0.0])
    np.testing.assert_array_equal(find_peaks(track.astype(">f8"), 0.5), find_peaks(track, 0.5))
    assert accuracy(np.array([1, 2, 3], dtype=">i8"), np.array([1, 2, 2], dtype=">i4")) == pytest.approx(200 / 3)


def test_segmentation_metrics_shape_message_gives_both_shapes():
    from actseg.metrics import SegmentationMetrics

    with pytest.raises(ValueError, match=r"pred: expected shape \(5,\) \(as target\), got \(2, 5\)"):
        SegmentationMetrics().update(np.zeros((2, 5), int), np.zeros(5, int))


def test_relabel_short_segments_rejects_nan_scores_at_valid_frames():
    from actseg.postprocess import relabel_short_segments

    scores = np.array([[1.0, np.nan, 0.0], [0.0, 0.5, 1.0]])
    with pytest.raises(ValueError, match="labels: expected finite scores, got NaN at frame 1"):
        relabel_short_segments(scores, max_length=0)
    with pytest.raises(ValueError, match="got NaN at batch element 0, frame 1"):
        relabel_short_segments(scores[None], max_length=0)
    out = relabel_short_segments(scores, max_length=0, mask=np.array([True, False, True]))
    assert out.tolist() == [0, -100, 1]


def test_detection_map_segments_that_collapse_in_float64_match_nothing():
    from actseg.metrics import detection_map
    from actseg.segments import Segments

    far = 2**62  # beyond 2**53 the end rounds onto the start in float64
    pred = {"a": Segments([far, 0], [far + 10, 10], [0, 0], scores=[1.0, 0.5])}
    gt = {"a": Segments([far, 0], [far + 10, 10], [0, 0])}
    # the collapsed pair: a false positive (ranked first) and a missed ground truth; the other pair matches
    assert detection_map(pred, gt, tiou_thresholds=[0.5])["mAP"].tolist() == [0.25]


# --------------------------------------------------------------------------------------------------- layers


def _hole_mask():
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, :7] = True
    mask[1] = True
    mask[1, 3:5] = False  # a hole, not only padding
    return mask


@pytest.mark.parametrize("make", [
    lambda: __import__("actseg.layers", fromlist=["x"]).DilatedResidualLayer(8, 2, dropout=0.0),
    lambda: __import__("actseg.layers", fromlist=["x"]).DualDilatedLayer(8, 1, 4, dropout=0.0),
    lambda: __import__("actseg.layers", fromlist=["x"]).ASFormerBlock(8, 4, dropout=0.0),
])
def test_blocks_ignore_what_padded_frames_hold(make):
    torch.manual_seed(0)
    block = make().double().eval()
    mask = _hole_mask()
    x = torch.randn(2, 8, 12, dtype=torch.float64)
    noisy = torch.where(mask[:, None], x, torch.full_like(x, 5.0)).requires_grad_()
    out = block(noisy, mask)
    torch.testing.assert_close(out, block(x, mask), rtol=0, atol=1e-12)
    assert out[~mask[:, None].expand_as(out)].abs().max().item() == 0.0
    out.square().sum().backward()
    assert noisy.grad.transpose(1, 2)[~mask].abs().max().item() == 0.0
    assert noisy.grad.transpose(1, 2)[mask].abs().max().item() > 0.0


def test_asformer_block_ignores_padded_values_too():
    from actseg.layers import ASFormerBlock

    torch.manual_seed(0)
    block = ASFormerBlock(8, 4, dropout=0.0).double().eval()
    mask = _hole_mask()
    x, value = torch.randn(2, 8, 12, dtype=torch.float64), torch.randn(2, 8, 12, dtype=torch.float64)
    noisy = torch.where(mask[:, None], value, torch.full_like(value, 9.0))
    torch.testing.assert_close(block(x, mask, noisy), block(x, mask, value), rtol=0, atol=1e-12)


def test_empty_batches_give_empty_outputs():
    from actseg.layers import MFAI, ASFormer, ASFormerBlock, MultiScaleEncoderDecoder, WindowedAttention

    x, mask = torch.randn(0, 8, 12), torch.ones(0, 12, dtype=torch.bool)
    for window in ("block_halo", "block", "sliding", "full"):
        assert WindowedAttention(8, block_size=4, window=window)(x, mask).shape == (0, 8, 12)
    assert ASFormerBlock(8, 4)(x, mask).shape == (0, 8, 12)
    assert ASFormer(8, 3, num_layers=3, num_channels=8)(x, mask).shape == (4, 0, 3, 12)  # encoder + 3 decoders
    assert MultiScaleEncoderDecoder(8, 4, 2)(x, mask).features[0].shape == (0, 4, 3)
    out = MFAI(8, 3, channels=16, num_scales=3, num_interaction_scales=2, num_heads=2)(x, mask)
    assert out.logits.shape == (0, 3, 12) and out.action_probs.shape == (3, 0, 3, 12)


def test_keypoint_refinement_of_graphs_without_nodes():
    from actseg.layers import KeypointRefinement, keypoint_graphs

    torch.manual_seed(0)
    graphs = keypoint_graphs(torch.randn(2, 8, 30), None, [[], []], [[], []])
    model = KeypointRefinement(8, 3, hidden_channels=16)
    out = model(graphs.feat1, graphs.A1, graphs.n1)
    assert out.S is None
    assert out.logits.shape == (2, 0, 3) and out.offsets.shape == (2, 0) and out.embeddings.shape == (2, 0, 16)
    out = model(graphs.feat1, graphs.A1, graphs.n1, graphs.feat1, graphs.A1, graphs.n1)
    assert out.S.shape == (2, 0, 0)
    # the parameters stay in the graph (distributed training expects a gradient, zero here)
    (out.logits.sum() + out.offsets.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().max() == 0 for p in model.convs.parameters())


def test_graph_conv_running_statistics_skip_a_batch_without_valid_frames():
    from actseg.layers import MultiScaleGraphConv, multiscale_adjacency, skeleton_edges

    torch.manual_seed(0)
    gc = MultiScaleGraphConv(3, 4, multiscale_adjacency(skeleton_edges("lara-19"), 19, 3)).train()
    before = {k: v.clone() for k, v in gc.norm.state_dict().items()}
    out = gc(torch.randn(2, 3, 5, 19), torch.zeros(2, 5, dtype=torch.bool))
    assert out.abs().max().item() == 0.0
    for key, value in gc.norm.state_dict().items():
        assert torch.equal(value, before[key]), key
    gc(torch.randn(2, 3, 5, 19), _hole_mask()[:, :5])
    assert gc.norm.num_batches_tracked.item() == 1 and not torch.equal(gc.norm.running_var, before["running_var"])


def test_dsmi_checks_its_size_before_allocating():
    from actseg.layers import DSMI, multiscale_adjacency

    adjacency = multiscale_adjacency([(0, 1)], 2, 2)
    with pytest.raises(ValueError, match="in_channels, channels, adjacency: expected a model of at most"):
        DSMI(3, 2**14, adjacency, center_joint=0)
    model = DSMI(3, 16, adjacency, center_joint=0)
    assert sum(p.numel() for p in model.parameters()) == 9960  # the count the check uses


def test_block_attention_refuses_a_double_backward_instead_of_a_wrong_one():
    from actseg.layers import WindowedAttention

    torch.manual_seed(0)
    attention = WindowedAttention(2, qk_reduction=1, v_reduction=1, block_size=2, window="block").double()
    x = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"WindowedAttention: no double backward \(create_graph=True\)"):
        torch.autograd.grad(attention(x).pow(2).sum(), x, create_graph=True)
    assert torch.autograd.gradcheck(lambda t: attention(t), (x,))  # first order as before
    sliding = WindowedAttention(2, qk_reduction=1, v_reduction=1, block_size=2, window="sliding").double()
    assert torch.autograd.gradgradcheck(lambda t: sliding(t), (x,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_dropout_keeps_one_minus_p_in_half_precision(dtype):
    from actseg.layers._common import Dropout

    torch.manual_seed(0)
    x = torch.ones(2_000_000, dtype=dtype)
    for p in (0.3, 0.99, 0.999):
        kept = (Dropout(p).train()(x) != 0).double().mean().item()
        sigma = math.sqrt(p * (1 - p) / x.numel())
        assert abs(kept - (1 - p)) < 5 * sigma, (p, kept)


def test_dropout_inplace_writes_into_its_input_and_float32_draws_are_unchanged():
    from actseg.layers._common import Dropout

    x = torch.ones(1000)
    out = Dropout(0.5, inplace=True).train()(x)
    assert out is x and set(x.unique().tolist()) == {0.0, 2.0}
    torch.manual_seed(1)
    got = Dropout(0.3).train()(torch.ones(1000))
    torch.manual_seed(1)
    assert torch.equal(got, (torch.rand(1000) >= 0.3) * (1 / 0.7))


# ------------------------------------------------------------------------------------------------ viz, io


def test_plot_timeline_checks_segments_against_the_length_of_the_tracks():
    pytest.importorskip("matplotlib")
    from actseg.segments import Segments
    from actseg.viz import plot_timeline

    rows = {"pred": Segments([0, 6], [4, 9], [0, 1])}
    with pytest.raises(ValueError, match=r"rows\['pred'\]: expected segments inside \[0, 5\] \(the frames of "
                                         r"probabilities\), got an end at 9"):
        plot_timeline(rows, probabilities=np.full((2, 5), 0.5))
    with pytest.raises(ValueError, match=r"the frames of boundary_scores"):
        plot_timeline(rows, boundary_scores=np.zeros(5))
    with pytest.raises(ValueError, match=r"boundary_scores: expected shape \(10,\) \(T of probabilities\)"):
        plot_timeline(rows, probabilities=np.full((2, 10), 0.5), boundary_scores=np.zeros(9))


def test_convert_state_dict_refuses_ambiguous_keys():
    from actseg.io import convert_state_dict

    with pytest.raises(ValueError, match=r"'module\.conv_1x1\.weight' and 'conv_1x1\.weight' name the same"):
        convert_state_dict({"module.conv_1x1.weight": 0, "conv_1x1.weight": 1}, "ms-tcn")
    with pytest.raises(ValueError, match=r"two keys become 'key\.weight'"):
        convert_state_dict({"module.X_K.weight": 0, "key.weight": 1}, "fact")
    norm_only = {"A_res": torch.zeros(6, 3), "mlp.layers.1.weight": torch.ones(6), "mlp.layers.1.bias": torch.zeros(6)}
    with pytest.raises(ValueError, match="is the Conv2d's weight missing"):
        convert_state_dict(norm_only, "ms-g3d")
    with pytest.raises(ValueError, match="is the Conv2d's weight missing"):
        convert_state_dict({**norm_only, "mlp.layers.1.running_mean": torch.zeros(6)}, "ms-g3d")
    with_dropout = {"A_res": torch.zeros(6, 3), "mlp.layers.1.weight": torch.ones(6, 2, 1, 1),
                    "mlp.layers.2.weight": torch.ones(6), "mlp.layers.2.running_mean": torch.zeros(6)}
    assert list(convert_state_dict(with_dropout, "ms-g3d")) == ["residual", "conv.weight", "norm.weight",
                                                                "norm.running_mean"]


def test_graph_layers_ignore_non_finite_padding():
    from actseg.layers import DSMI, MultiScaleGraphConv, multiscale_adjacency

    torch.manual_seed(0)
    adjacency = multiscale_adjacency([(0, 1), (1, 2)], 3, num_scales=2)
    x = torch.randn(2, 2, 6, 3, dtype=torch.float64)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[0, 2] = False  # a hole
    noisy = x.clone()
    noisy[1, :, 4:] = float("nan")  # missing skeletons in the padding
    noisy[0, :, 2] = float("inf")
    for make in (lambda: MultiScaleGraphConv(2, 4, adjacency), lambda: DSMI(2, 8, adjacency, center_joint=1)):
        torch.manual_seed(1)
        clean, dirty = make().double().train(), make().double().train()
        dirty.load_state_dict(clean.state_dict())
        noisy_in = noisy.clone().requires_grad_()
        torch.testing.assert_close(dirty(noisy_in, mask), clean(x, mask), rtol=0, atol=0)
        torch.testing.assert_close(dirty.state_dict(), clean.state_dict(), rtol=0, atol=0)  # running statistics
        dirty(noisy_in, mask).sum().backward()
        clean(x, mask)  # the same running-statistics updates on both
        assert torch.isfinite(noisy_in.grad).all()
        dirty.eval()
        clean.eval()
        torch.testing.assert_close(dirty(noisy, mask), clean(x, mask), rtol=0, atol=0)


def _layers_with_channels_first_input():
    import actseg.layers as L

    return {
        "MSTCN": lambda: L.MSTCN(8, 3, num_stages=2, num_layers=3, num_channels=8),
        "MSTCNPlusPlus": lambda: L.MSTCNPlusPlus(8, 3, num_layers_pg=3, num_layers_r=2, num_refinement=1,
                                                 num_channels=8),
        "ASFormer": lambda: L.ASFormer(8, 3, num_layers=3, num_channels=8),
        "SingleStageTCN": lambda: L.SingleStageTCN(8, 3, num_layers=3, num_channels=8),
        "DilatedResidualLayer": lambda: L.DilatedResidualLayer(8, 2),
        "DualDilatedLayer": lambda: L.DualDilatedLayer(8, 1, 4),
        "ASFormerBlock": lambda: L.ASFormerBlock(8, 4),
        "WindowedAttention": lambda: L.WindowedAttention(8, block_size=4),
        "WindowedAttention-full": lambda: L.WindowedAttention(8, window="full"),
        "MultiScaleEncoderDecoder": lambda: L.MultiScaleEncoderDecoder(8, 4, 2),
        "MFAI": lambda: L.MFAI(8, 3, channels=16, num_scales=3, num_interaction_scales=2, num_heads=2),
        "SoftPatternStrengthening": lambda: L.SoftPatternStrengthening(8),
    }


def _tensors(out):
    """The tensors of a layer's output: a tensor, or a (named) tuple or list of them, nested."""
    if out is None:
        return []
    if isinstance(out, torch.Tensor):
        return [out]
    values = out._asdict().values() if hasattr(out, "_asdict") else out
    return [t for value in values for t in _tensors(value)]


@pytest.mark.parametrize("name", sorted(_layers_with_channels_first_input()))
def test_nan_in_padded_frames_changes_nothing(name):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 40)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[0, 10:12] = False  # a hole: the padded path, not the ragged one
    mask[1, 30:] = False
    noisy = x.clone()
    noisy[0, :, 10:12] = float("nan")
    noisy[1, :, 30:] = float("inf")
    module = _layers_with_channels_first_input()[name]().eval()
    for got, expected in zip(_tensors(module(noisy, mask)), _tensors(module(x, mask))):
        torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)
        assert not torch.isnan(got).any()


def test_fact_blocks_ignore_nan_in_padded_tokens_and_frames():
    from actseg.layers import ActionTokenDecoderLayer, CrossAttentionUpdate, TokenSelfAttentionLayer

    torch.manual_seed(0)
    frame_mask = torch.ones(2, 20, dtype=torch.bool)
    frame_mask[0, 5:7] = False
    frame_mask[1, 15:] = False
    token_mask = torch.tensor([[True, True, False, True], [True, False, False, True]])
    frames, tokens = torch.randn(2, 20, 16), torch.randn(2, 4, 16)
    nan = torch.tensor(float("nan"))
    noisy_frames = torch.where(frame_mask[..., None], frames, nan)
    noisy_tokens = torch.where(token_mask[..., None], tokens, nan)
    cross = CrossAttentionUpdate(16, 16, 16).eval()
    for got, expected in zip(cross(noisy_frames, noisy_tokens, x_mask=frame_mask, y_mask=token_mask),
                             cross(frames, tokens, x_mask=frame_mask, y_mask=token_mask)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    decoder = ActionTokenDecoderLayer(16, 16, num_heads=2, ff_channels=32).eval()
    torch.testing.assert_close(decoder(noisy_tokens, noisy_frames, token_mask=token_mask, frame_mask=frame_mask),
                               decoder(tokens, frames, token_mask=token_mask, frame_mask=frame_mask),
                               rtol=0, atol=0)
    self_attention = TokenSelfAttentionLayer(16, num_heads=2, ff_channels=32).eval()
    torch.testing.assert_close(self_attention(noisy_tokens, token_mask=token_mask),
                               self_attention(tokens, token_mask=token_mask), rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ round 4: losses, io


def test_focal_loss_of_classes_masked_with_minus_infinity_has_a_finite_gradient():
    from actseg.losses import focal_loss

    for gamma in (0.0, 0.5, 2.0):
        logits = torch.tensor([[[3.0, 1.0], [float("-inf"), 0.5], [float("-inf"), float("-inf")]]],
                              dtype=torch.float64, requires_grad=True)
        loss = focal_loss(logits, torch.tensor([[0, 1]]), gamma=gamma, reduction="sum")
        loss.backward()
        assert torch.isfinite(logits.grad).all(), gamma
        # frame 0 is certain (p = 1): no loss and no gradient; frame 1 as with the -inf class left out
        assert logits.grad[0, :, 0].abs().max().item() == 0.0
        alone = logits.detach()[:, :2, 1:].clone().requires_grad_()
        torch.testing.assert_close(loss, focal_loss(alone, torch.tensor([[1]]), gamma=gamma, reduction="sum"))


def test_focal_heatmap_target_gradient_is_finite_at_positives_for_fractional_beta():
    from actseg.losses import focal_heatmap_loss

    target = torch.tensor([[1.0, 0.2]], dtype=torch.float64, requires_grad=True)
    focal_heatmap_loss(torch.zeros(1, 2, dtype=torch.float64), target, beta=0.5).backward()
    assert target.grad[0, 0].item() == 0.0 and torch.isfinite(target.grad).all()


def test_focal_loss_refuses_class_weights_with_the_tags_form():
    from actseg.losses import FocalLoss, focal_loss

    logits, target = torch.zeros(1, 2, 3), torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"weight: expected None with reference='tags'"):
        focal_loss(logits, target, weight=torch.ones(2), reference="tags")
    with pytest.raises(ValueError, match=r"weight: expected None with reference='tags'"):
        FocalLoss(weight=torch.ones(2), reference="tags")(logits, target)


def test_losses_of_empty_batches_and_empty_videos_are_zero():
    from actseg.losses import GlobalMaskLoss, biou_loss, redundancy_loss

    assert similarity_smoothing_loss(torch.zeros(0, 3, 5), torch.zeros(0, 4, 5)).item() == 0.0
    assert biou_loss(torch.zeros(2, 3, 0), torch.zeros(2, 3, 0)).item() == 0.0
    assert GlobalMaskLoss()(torch.zeros(2, 0, 0), torch.zeros(2, 0, 0)).item() == 0.0
    empty = torch.ones(2, 0, dtype=torch.bool)
    assert redundancy_loss(torch.rand(2, 0, 0), torch.rand(2, 0, 0), empty, empty).item() == 0.0
    assert global_parse_loss(torch.zeros(2, 3, 0), torch.tensor([0, 1])).item() == 0.0


def test_writers_refuse_what_their_readers_could_not_read_back(tmp_path):
    from actseg.io import write_activitynet_predictions, write_label_file
    from actseg.segments import Segments

    with pytest.raises(ValueError, match="expected class names without NUL characters"):
        write_label_file(tmp_path / "v.txt", [0, 1], {"a\x00": 0, "b": 1})
    with pytest.raises(ValueError, match=r"detections\['v'\]: expected end > start in seconds"):
        write_activitynet_predictions(tmp_path / "p.json", {"v": Segments([7.0], [7.000000000000001], [0], [0.5])},
                                      ["Run"], fps=3.0)


def test_reassemble_rounds_the_mean_of_equal_confidences_half_up():
    from actseg.postprocess import reassemble

    actions = ([0, 9], [1.0, 1.0], [0, 1])
    for weight in (0.1, 0.3, 1.0, 1e308):
        assert reassemble(actions, ([3, 4], [weight, weight]), 10).starts.tolist() == [0, 4], weight
    assert reassemble(([0, 4], [1.0, 1.0], [0, 1]), ([1, 3], [1e308, 1e308]), 5).starts.tolist() == [0, 2]


def test_unsigned_labels_beyond_int64_are_named_not_wrapped():
    from actseg.postprocess import refine_by_boundaries, relabel_short_segments

    labels = np.array([2**63 + 1, 5, 5], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"labels: expected integers < 2\*\*63, got 9223372036854775809"):
        relabel_short_segments(labels)
    with pytest.raises(ValueError, match=r"scores_or_labels: expected integers < 2\*\*63"):
        refine_by_boundaries(labels, np.zeros(3))


def test_fusion_parameters_without_gradient_are_the_documented_ones():
    from actseg.layers import FusionMSTCNPlusPlus

    torch.manual_seed(0)
    model = FusionMSTCNPlusPlus(5, 6, 3, num_layers_pg=2, num_layers_r=2, num_refinement=1, num_channels=8)
    x_a, x_b = torch.randn(2, 5, 16), torch.randn(2, 6, 16)
    model(x_a, x_b).sum().backward()
    unused = sorted(name for name, p in model.named_parameters() if p.grad is None)
    assert unused == [f"branch_{b}.refinements.0.conv_out.{w}" for b in "ab" for w in ("bias", "weight")]
    model.zero_grad(set_to_none=True)
    sum(out.sum() for out in model.forward_all(x_a, x_b)).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_graph_matching_in_half_precision_with_padded_or_isolated_nodes_is_finite():
    from actseg.layers import GraphMatching

    torch.manual_seed(0)
    matching = GraphMatching(4, 8, 8)
    features = torch.randn(1, 3, 4)
    full, isolated = torch.ones(1, 3, 3), torch.tensor([[[0.0, 1, 0], [1, 0, 0], [0, 0, 0]]])
    for adjacency, n1 in ((full, torch.tensor([2])), (isolated, torch.tensor([3]))):
        half = [t.half() for t in matching.half()(features.half(), features.half(), adjacency.half(),
                                                   adjacency.half(), n1, torch.tensor([3]))]
        single = matching.float()(features, features, adjacency, adjacency, n1, torch.tensor([3]))
        for h, s in zip(half, single):
            assert torch.isfinite(h).all()
            torch.testing.assert_close(h.float(), s, atol=2e-2, rtol=2e-2)


# ----------------------------------------------------------------------------- round 6: outputs beyond budget


def test_outputs_far_larger_than_their_inputs_are_refused_up_front():
    from actseg.layers import WindowedAttention, keypoint_graphs
    from actseg.postprocess import decode_global_masks, gaussian_smoothing
    from actseg.segments import segment_iou
    from actseg.targets import resample_snippets

    rows = np.stack([np.arange(50_000.0), np.arange(50_000.0) + 1], 1)
    for convert in (np.asarray, torch.from_numpy):
        with pytest.raises(ValueError, match=r"a, b: expected an output of at most 2\*\*31 elements, got N·M"):
            segment_iou(convert(rows), convert(rows))
    with pytest.raises(ValueError, match="attention: expected an output of at most 2"):
        local_parse_loss(torch.rand(1, 50_000, 2), torch.zeros(1, 50_000, dtype=torch.long))
    with pytest.raises(ValueError, match="max_nodes: expected an output of at most 2"):
        keypoint_graphs(torch.rand(1, 2, 10), None, [[1, 2]], [[3]], max_nodes=10**6)
    with pytest.raises(ValueError, match="block_size: expected an output of at most 2"):
        WindowedAttention(4, window="sliding", block_size=2**15)(torch.rand(2, 4, 10))
    with pytest.raises(ValueError, match="kernel_size: expected an output of at most 2"):
        gaussian_smoothing(torch.rand(1, 2048, 3), kernel_size=2**20 + 1)
    with pytest.raises(ValueError, match="thresholds: expected an output of at most 2"):
        decode_global_masks(torch.rand(1, 3, 1000), torch.rand(1, 1000, 1000), num_anchors=1000,
                            thresholds=list(np.linspace(0, 0.99, 5000)), max_candidates=None)
    with pytest.raises(ValueError, match="num_snippets: expected an output of at most 2"):
        resample_snippets(torch.rand(1, 4, 10), 2**31 - 1)


def test_erosion_wider_than_the_video_is_exact_without_padding():
    from actseg.losses import GlobalMaskLoss, biou_loss

    torch.manual_seed(0)
    logits, target = torch.randn(3, 20, dtype=torch.float64), (torch.rand(3, 20) > 0.5).double()
    # every window wider than the video sees the zero padding: the same value for all such widths
    expected = biou_loss(logits, target, kernel_size=41)
    for kernel_size in (43, 2**20 - 1):
        torch.testing.assert_close(biou_loss(logits, target, kernel_size=kernel_size), expected)
    masks = torch.rand(1, 30, 30)
    assert torch.isfinite(GlobalMaskLoss(kernel_size=2**20 - 1)(masks.logit(), (masks > 0.5).float()))


# ------------------------------------------------------------------------------------- round 7: data


def test_empty_float_boundaries_stay_float():
    from actseg.segments import Segments

    assert Segments([], [], []).starts.dtype == np.int64
    assert Segments(np.zeros(0), np.zeros(0), np.zeros(0, np.int64)).ends.dtype == np.float64
    assert Segments(torch.zeros(0), torch.zeros(0), torch.zeros(0, dtype=torch.long)).starts.dtype == np.float64
    assert Segments(np.zeros(0, np.int32), np.zeros(0, np.int32), []).starts.dtype == np.int64


def test_activitynet_datasets_of_two_subsets_share_class_ids(tmp_path):
    import json

    from actseg.data import ActivityNetDataset

    database = {
        "t1": {"subset": "training", "duration": 10.0,
               "annotations": [{"segment": [1, 2], "label": "Walk"}, {"segment": [3, 4], "label": "Run"}]},
        "v1": {"subset": "validation", "duration": 10.0,
               "annotations": [{"segment": [1, 2], "label": "Run"}, {"segment": [3, 4], "label": "Walk"}]},
        "v2": {"subset": "validation", "duration": 10.0, "annotations": [{"segment": [20, 30], "label": "Run"}]},
    }
    (tmp_path / "gt.json").write_text(json.dumps({"database": database}))
    (tmp_path / "features").mkdir()
    for video in database:
        np.save(tmp_path / "features" / f"{video}.npy", np.zeros((3, 10), np.float32))
    train = ActivityNetDataset(tmp_path / "gt.json", tmp_path / "features", subset="training")
    val = ActivityNetDataset(tmp_path / "gt.json", tmp_path / "features")
    assert train.class_names == val.class_names == ("Walk", "Run")
    by_video = {val[i]["video_id"]: val[i]["segments"] for i in range(len(val))}
    assert by_video["v1"].labels.tolist() == [1, 0]
    assert len(by_video["v2"]) == 0 and by_video["v2"].starts.dtype == np.float64  # clipped away, still float


def test_fact_blocks_ignore_nan_in_holes_when_the_other_mask_is_a_prefix():
    from actseg.layers import ActionTokenDecoderLayer, CrossAttentionUpdate

    torch.manual_seed(0)
    frame_mask = torch.ones(2, 20, dtype=torch.bool)
    frame_mask[0, 5:7] = False  # holes here ...
    frame_mask[1, 15:] = False
    token_mask = torch.tensor([[True, True, True, False], [True, True, False, False]])  # ... a prefix here
    frames, tokens = torch.randn(2, 20, 16), torch.randn(2, 4, 16)
    nan = torch.tensor(float("nan"))
    noisy_frames = torch.where(frame_mask[..., None], frames, nan)
    noisy_tokens = torch.where(token_mask[..., None], tokens, nan)
    cross = CrossAttentionUpdate(16, 16, 16).eval()
    for x, y, xm, ym, cx, cy in ((noisy_frames, noisy_tokens, frame_mask, token_mask, frames, tokens),
                                 (noisy_tokens, noisy_frames, token_mask, frame_mask, tokens, frames)):
        torch.testing.assert_close(cross(x, y, x_mask=xm, y_mask=ym)[0], cross(cx, cy, x_mask=xm, y_mask=ym)[0],
                                   rtol=0, atol=0)
    decoder = ActionTokenDecoderLayer(16, 16, num_heads=2, ff_channels=32).eval()
    torch.testing.assert_close(decoder(noisy_tokens, noisy_frames, token_mask=token_mask, frame_mask=frame_mask),
                               decoder(tokens, frames, token_mask=token_mask, frame_mask=frame_mask), rtol=0, atol=0)
