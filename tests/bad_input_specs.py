"""One valid call per public callable, with the kind of each argument (see ``bad_inputs.py``)."""
# ruff: noqa: C408  (keyword dict() calls read as the call they describe)

from __future__ import annotations

import numpy as np
import torch

from actseg import io, layers, losses, metrics, postprocess, segments, targets
from bad_inputs import Spec

B, C, K, T = 2, 4, 3, 12


def _labels() -> np.ndarray:
    return np.array([0, 0, 1, 1, 1, 2, 2, 0, 0, 1, 1, 1])


def _tlabels() -> torch.Tensor:
    return torch.tensor([[0, 0, 1, 1, 1, 2, 2, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0, 2, 2, 2, 2, 0, 0]])


def _mask() -> torch.Tensor:
    m = torch.ones(B, T, dtype=torch.bool)
    m[1, 4] = False  # a hole
    m[1, -2:] = False
    return m


def _x(channels: int = C) -> torch.Tensor:
    return torch.randn(B, channels, T, generator=torch.Generator().manual_seed(0))


def _segs() -> segments.Segments:
    return segments.Segments([0, 5], [5, 10], [1, 2], scores=[0.9, 0.4])


def _segarray() -> np.ndarray:
    return np.array([[0.0, 5.0], [1.0, 6.0], [7.0, 9.0]])


def _method(factory, method: str):
    return lambda **kw: getattr(factory(), method)(**kw)


def _layer(cls, ctor: dict, **fwd):
    return lambda **kw: cls(**ctor)(**kw)


SPECS: list[Spec] = [
    # -- segments
    Spec("segments.Segments", segments.Segments,
         lambda: dict(starts=[0, 5], ends=[5, 10], labels=[1, 2], scores=[0.5, 0.3]),
         {"starts": "reals", "ends": "reals", "labels": "labels_any", "scores": "reals"},
         accepts={"scores=inf": "±inf scores are held; the metrics reject them by name (docs/segments.md)"}),
    Spec("segments.labels_to_segments", segments.labels_to_segments,
         lambda: dict(labels=_labels(), background=(0,)), {"labels": "labels_any", "background": "ids"}),
    Spec("segments.segments_to_labels", segments.segments_to_labels,
         lambda: dict(segments=_segs(), length=10, fill=-1), {"length": "size"}),
    Spec("segments.segment_iou", segments.segment_iou, lambda: dict(a=_segarray(), b=_segarray()[:2]),
         {"a": "reals", "b": "reals"}),
    # -- TAS metrics
    Spec("metrics.accuracy", metrics.accuracy, lambda: dict(pred=_labels(), target=_labels()[::-1].copy()),
         {"pred": "labels", "target": "labels"}),
    Spec("metrics.edit_score", metrics.edit_score,
         lambda: dict(pred=_labels(), target=_labels()[::-1].copy(), background=(0,), protocol="mstcn"),
         {"pred": "labels", "target": "labels", "background": "ids", "protocol": "choice"}),
    Spec("metrics.f1_score", metrics.f1_score,
         lambda: dict(pred=_labels(), target=_labels()[::-1].copy(), overlaps=(0.1, 0.5), protocol="asformer"),
         {"pred": "labels", "target": "labels", "overlaps": "thresholds", "protocol": "choice"}),
    Spec("metrics.segment_stats", metrics.segment_stats,
         lambda: dict(pred=_labels(), target=_labels()[::-1].copy(), overlaps=(0.25,)),
         {"pred": "labels", "target": "labels", "overlaps": "thresholds"}),
    Spec("metrics.SegmentationMetrics", metrics.SegmentationMetrics,
         lambda: dict(overlaps=(0.1, 0.5), background=(0,), protocol="mstcn", ignore_index=-100),
         {"overlaps": "thresholds", "background": "ids", "protocol": "choice", "ignore_index": "int"}),
    Spec("metrics.SegmentationMetrics.update", _method(metrics.SegmentationMetrics, "update"),
         lambda: dict(pred=_tlabels(), target=_tlabels().flip(1), mask=_mask()),
         {"pred": "labels", "target": "labels", "mask": "mask"}),
    Spec("metrics.boundary_f1", metrics.boundary_f1,
         lambda: dict(pred_boundaries=[10.0, 31.0, 70.0], gt_boundaries=[12.0, 30.0, 50.0], tolerance=0.05,
                      relative_to=100.0),
         {"pred_boundaries": "reals", "gt_boundaries": "reals", "relative_to": "real_none", "tolerance": "real"}),
    Spec("metrics.BoundaryF1", metrics.BoundaryF1, lambda: dict(protocol="tapos", boundary_threshold=0.5),
         {"protocol": "choice", "boundary_threshold": "real_any"}),  # ASRF thresholds raw logits
    Spec("metrics.detection_map", metrics.detection_map,
         lambda: dict(predictions={"v": _segs()}, ground_truth={"v": segments.Segments([0, 6], [5, 9], [1, 2])},
                      tiou_thresholds=[0.5, 0.7], protocol="activitynet"),
         {"tiou_thresholds": "thresholds", "protocol": "choice"}),
    Spec("metrics.DetectionMAP", metrics.DetectionMAP, lambda: dict(tiou_thresholds=[0.5], protocol="actionformer"),
         {"tiou_thresholds": "thresholds", "protocol": "choice"}),
    Spec("metrics.segment_map", metrics.segment_map,
         lambda: dict(predictions={"v": _segs()}, ground_truth={"v": segments.Segments([0, 6], [5, 9], [1, 2])},
                      threshold=0.5, mode="iou"),
         {"threshold": "real", "mode": "choice"}),
    Spec("metrics.frame_map", metrics.frame_map,
         lambda: dict(scores=np.random.default_rng(0).random((T, K)), labels=_labels()),
         {"scores": "reals", "labels": "labels"},
         accepts={"scores=inf": "±inf scores only rank (docs/detection.md); NaN is refused"}),
    # -- post-processing
    Spec("postprocess.soft_nms", postprocess.soft_nms,
         lambda: dict(segments=_segarray(), scores=np.array([0.9, 0.8, 0.3]), iou_threshold=0.5, sigma=0.5,
                      min_score=0.001, method="gaussian", max_num=None),
         {"segments": "reals", "scores": "reals", "iou_threshold": "real", "sigma": "real", "min_score": "real",
          "method": "choice"},
         accepts={"min_score=negative": "keeps every candidate"}),
    Spec("postprocess.nms", postprocess.nms,
         lambda: dict(segments=_segarray(), scores=np.array([0.9, 0.8, 0.3]), iou_threshold=0.5),
         {"segments": "reals", "scores": "reals", "iou_threshold": "real"}),
    Spec("postprocess.batched_nms", postprocess.batched_nms,
         lambda: dict(segments=_segarray(), scores=np.array([0.9, 0.8, 0.3]), labels=np.array([0, 0, 1]),
                      iou_threshold=0.5, min_score=0.001, max_num=10),
         {"segments": "reals", "scores": "reals", "labels": "labels", "iou_threshold": "real",
          "min_score": "real", "max_num": "size_none"},
         accepts={"min_score=negative": "keeps every candidate"}),
    Spec("postprocess.find_peaks", postprocess.find_peaks,
         lambda: dict(x=np.sin(np.arange(T, dtype=np.float64)), threshold=0.1),
         {"x": "reals", "threshold": "real_any"},
         accepts={"x=inf": "±inf are ordinary values of a score track", "x=bool": "a 0/1 track (docs/boundary.md)"}),
    Spec("postprocess.refine_by_boundaries", postprocess.refine_by_boundaries,
         lambda: dict(scores_or_labels=_tlabels(), boundary_prob=torch.rand(B, T, generator=torch.Generator()
                                                                              .manual_seed(1)),
                      threshold=0.5, mask=_mask()),
         {"scores_or_labels": "labels", "boundary_prob": "reals", "threshold": "real_any", "mask": "mask"},
         accepts={"boundary_prob=bool": "a 0/1 boundary track (docs/boundary.md)"}),
    Spec("postprocess.relabel_short_segments", postprocess.relabel_short_segments,
         lambda: dict(labels=_tlabels(), max_length=2, mask=_mask()),
         {"labels": "labels", "max_length": "size", "mask": "mask"},
         accepts={"max_length=zero": "no run is short: the labels are returned unchanged"}),
    Spec("postprocess.gaussian_smoothing", postprocess.gaussian_smoothing,
         lambda: dict(scores=torch.rand(B, K, T), kernel_size=5, sigma=1.0),
         {"scores": "reals", "kernel_size": "size", "sigma": "real"}),
    Spec("postprocess.decode_global_masks", postprocess.decode_global_masks,
         lambda: dict(class_scores=torch.rand(1, K, T), masks=torch.rand(1, T, T), min_score=0.1),
         {"class_scores": "reals", "masks": "reals", "min_score": "real"}),
    Spec("postprocess.watershed_peaks", postprocess.watershed_peaks,
         lambda: dict(heatmap=torch.rand(B, K, T, generator=torch.Generator().manual_seed(2)), threshold=0.5,
                      mask=_mask(), max_candidates=4),
         {"heatmap": "reals", "threshold": "real", "mask": "mask", "max_candidates": "size_none"},
         accepts={"heatmap=bool": "a 0/1 heatmap: its values are probabilities (docs/postprocess.md)"}),
    Spec("postprocess.reassemble", postprocess.reassemble,
         lambda: dict(action_points=postprocess.Keypoints(np.array([1, 6]), np.array([0.9, 0.8]), np.array([1, 2])),
                      boundary_points=postprocess.Keypoints(np.array([4]), np.array([0.7])), length=T),
         {"length": "size"}),
    Spec("postprocess.pattern_boundaries", postprocess.pattern_boundaries,
         lambda: dict(attention=torch.rand(B, T, 3, generator=torch.Generator().manual_seed(2)), mask=_mask()),
         {"attention": "reals", "mask": "mask"}),
    # -- io
    Spec("io.background_ids", io.background_ids, lambda: dict(mapping={"a": 0, "b": 1}, names=["a"]),
         {"mapping": "ids"}),
    Spec("io.convert_state_dict", io.convert_state_dict, lambda: dict(state_dict={}, source="ms-tcn"),
         {"source": "choice"}),
    # -- targets
    Spec("targets.boundary_labels", targets.boundary_labels, lambda: dict(labels=_tlabels(), mask=_mask()),
         {"labels": "tensor_labels", "mask": "mask"}),
    Spec("targets.gaussian_boundary_targets", targets.gaussian_boundary_targets,
         lambda: dict(labels=_tlabels(), sigma=1.0, truncate=4.0, mask=_mask()),
         {"labels": "tensor_labels", "sigma": "real", "truncate": "real", "mask": "mask"}),
    Spec("targets.class_mask_targets", targets.class_mask_targets,
         lambda: dict(labels=_tlabels(), num_classes=K, mask=_mask()),
         {"labels": "tensor_labels", "num_classes": "size", "mask": "mask"}),
    Spec("targets.boundary_heatmap", targets.boundary_heatmap,
         lambda: dict(labels=_tlabels(), mask=_mask(), region=33.0, sigma_ratio=0.5),
         {"labels": "tensor_labels", "mask": "mask", "region": "real", "sigma_ratio": "real"}),
    Spec("targets.action_point_heatmaps", targets.action_point_heatmaps,
         lambda: dict(labels=_tlabels(), mask=_mask(), background=(0,)),
         {"labels": "tensor_labels", "mask": "mask", "background": "ids"}),
    Spec("targets.global_mask_targets", targets.global_mask_targets,
         lambda: dict(labels=_tlabels(), num_classes=K, mask=_mask()),
         {"labels": "tensor_labels", "num_classes": "size", "mask": "mask"}),
    Spec("targets.resample_snippets", targets.resample_snippets,
         lambda: dict(features=_x(), num_snippets=5, mask=_mask()),
         {"features": "tensor", "num_snippets": "size", "mask": "mask"}),
    Spec("targets.segments_to_snippets", targets.segments_to_snippets,
         lambda: dict(segments=_segs(), duration=10.0, num_snippets=5, rounding="nearest"),
         {"duration": "real", "num_snippets": "size", "rounding": "choice"}),
    Spec("targets.segments_to_global_masks", targets.segments_to_global_masks,
         lambda: dict(segments=_segs(), num_snippets=6, num_classes=K, duration=10.0, rounding="nearest"),
         {"num_snippets": "size", "num_classes": "size", "duration": "real", "rounding": "choice"}),
    Spec("targets.skeleton_heatmaps", targets.skeleton_heatmaps,
         lambda: dict(keypoints=torch.rand(1, 3, 2, 2) * 10, size=(12, 12), sigma=1.0, limbs=[(0, 1)]),
         {"keypoints": "reals", "sigma": "real"},
         accepts={"keypoints=nan": "a missing joint renders nothing (documented)",
                  "keypoints=inf": "a missing joint renders nothing (documented)"}),
    # -- layers (constructors and forward)
    Spec("layers.SingleStageTCN", layers.SingleStageTCN,
         lambda: dict(in_channels=C, num_classes=K, num_layers=3, num_channels=8),
         {"in_channels": "size", "num_classes": "size", "num_layers": "size", "num_channels": "size"}),
    Spec("layers.MSTCN", layers.MSTCN,
         lambda: dict(in_channels=C, num_classes=K, num_stages=2, num_layers=3, num_channels=8),
         {"in_channels": "size", "num_classes": "size", "num_stages": "size", "num_layers": "size",
          "num_channels": "size"}),
    Spec("layers.MSTCN.forward", _layer(layers.MSTCN, dict(in_channels=C, num_classes=K, num_stages=2,
                                                           num_layers=3, num_channels=8)),
         lambda: dict(x=_x(), mask=_mask()), {"x": "tensor", "mask": "mask"}),
    Spec("layers.MSTCNPlusPlus", layers.MSTCNPlusPlus,
         lambda: dict(in_channels=C, num_classes=K, num_layers_pg=3, num_layers_r=2, num_refinement=1,
                      num_channels=8),
         {"num_layers_pg": "size", "num_layers_r": "size", "num_refinement": "size", "num_channels": "size"},
         accepts={"num_refinement=zero": "the prediction-generation stage alone"}),
    Spec("layers.MSTCNPlusPlus.forward", _layer(layers.MSTCNPlusPlus, dict(
        in_channels=C, num_classes=K, num_layers_pg=3, num_layers_r=2, num_refinement=1, num_channels=8)),
         lambda: dict(x=_x(), mask=_mask()), {"x": "tensor", "mask": "mask"}),
    Spec("layers.DilatedResidualLayer", layers.DilatedResidualLayer,
         lambda: dict(channels=8, dilation=2, dropout=0.5),
         {"channels": "size", "dilation": "size", "dropout": "real"}),
    Spec("layers.WindowedAttention", layers.WindowedAttention,
         lambda: dict(channels=8, qk_reduction=2, v_reduction=2, block_size=4, window="block_halo"),
         {"channels": "size", "qk_reduction": "size", "block_size": "size", "window": "choice"}),
    Spec("layers.ASFormer", layers.ASFormer,
         lambda: dict(in_channels=C, num_classes=K, num_layers=2, num_channels=8, num_decoders=1,
                      channel_dropout=0.3),
         {"num_layers": "size", "num_channels": "size", "num_decoders": "size", "channel_dropout": "real"},
         accepts={"num_decoders=zero": "the encoder alone"}),
    Spec("layers.ASFormer.forward", _layer(layers.ASFormer, dict(in_channels=C, num_classes=K, num_layers=2,
                                                                 num_channels=8, num_decoders=1)),
         lambda: dict(x=_x(), mask=_mask()), {"x": "tensor", "mask": "mask"}),
    Spec("layers.CrossAttentionUpdate", layers.CrossAttentionUpdate,
         lambda: dict(x_channels=8, y_channels=6, out_channels=4, head_channels=5, positional=True, dropout=0.1),
         {"x_channels": "size", "y_channels": "size", "out_channels": "size", "head_channels": "size_none",
          "positional": "flag", "dropout": "real"}),
    Spec("layers.CrossAttentionUpdate.forward", _layer(layers.CrossAttentionUpdate, dict(
        x_channels=8, y_channels=6, out_channels=4, positional=True)),
         lambda: dict(x=torch.randn(B, T, 8), y=torch.randn(B, 5, 6), x_pos=torch.randn(1, T, 8),
                      y_pos=torch.randn(B, 5, 3), x_mask=_mask(), y_mask=torch.ones(B, 5, dtype=torch.bool)),
         {"x": "tensor", "y": "tensor", "x_pos": "tensor", "y_pos": "tensor", "x_mask": "mask", "y_mask": "mask"}),
    Spec("layers.ActionTokenDecoderLayer", layers.ActionTokenDecoderLayer,
         lambda: dict(token_channels=8, frame_channels=6, num_heads=2, ff_channels=16, dropout=0.1),
         {"token_channels": "size", "frame_channels": "size", "num_heads": "size", "ff_channels": "size",
          "dropout": "real"}),
    Spec("layers.ActionTokenDecoderLayer.forward", _layer(layers.ActionTokenDecoderLayer, dict(
        token_channels=8, frame_channels=6, num_heads=2, ff_channels=16)),
         lambda: dict(tokens=torch.randn(B, 5, 8), frames=torch.randn(B, T, 6), token_pos=torch.randn(1, 5, 8),
                      frame_pos=torch.randn(B, T, 6), token_mask=torch.ones(B, 5, dtype=torch.bool),
                      frame_mask=_mask()),
         {"tokens": "tensor", "frames": "tensor", "token_pos": "tensor", "frame_pos": "tensor",
          "token_mask": "mask", "frame_mask": "mask"}),
    Spec("layers.TokenSelfAttentionLayer", layers.TokenSelfAttentionLayer,
         lambda: dict(channels=8, num_heads=2, ff_channels=16, dropout=0.1),
         {"channels": "size", "num_heads": "size", "ff_channels": "size", "dropout": "real"}),
    Spec("layers.TokenSelfAttentionLayer.forward", _layer(layers.TokenSelfAttentionLayer, dict(
        channels=8, num_heads=2, ff_channels=16)),
         lambda: dict(tokens=torch.randn(B, 5, 8), token_pos=torch.randn(B, 5, 8),
                      token_mask=torch.tensor([[True] * 5, [True, False, True, True, False]])),
         {"tokens": "tensor", "token_pos": "tensor", "token_mask": "mask"}),
    Spec("layers.SoftPatternStrengthening", layers.SoftPatternStrengthening,
         lambda: dict(channels=8, num_patterns=5, pattern_channels=6, num_heads=2, head_channels=3, ff_channels=8,
                      scale=None, norm="post", dropout=0.1),
         {"channels": "size", "num_patterns": "size", "pattern_channels": "size_none", "num_heads": "size",
          "head_channels": "size_none", "ff_channels": "size_none", "scale": "real_none", "norm": "choice",
          "dropout": "real"}),
    Spec("layers.SoftPatternStrengthening.forward", _layer(layers.SoftPatternStrengthening,
                                                           dict(channels=C, num_patterns=5)),
         lambda: dict(x=_x(), mask=_mask()), {"x": "tensor", "mask": "mask"}),
    Spec("layers.skeleton_edges", layers.skeleton_edges, lambda: dict(layout="ntu-25"), {"layout": "choice"}),
    Spec("layers.multiscale_adjacency", layers.multiscale_adjacency,
         lambda: dict(edges=[(0, 1), (1, 2)], num_joints=3, num_scales=4, disentangled=True),
         {"edges": "labels", "num_joints": "size", "num_scales": "size", "disentangled": "flag"}),
    Spec("layers.MultiScaleGraphConv", layers.MultiScaleGraphConv,
         lambda: dict(in_channels=C, out_channels=3, adjacency=layers.multiscale_adjacency([(0, 1)], 2, 3),
                      dropout=0.2),
         {"in_channels": "size", "out_channels": "size", "adjacency": "tensor", "dropout": "real"}),
    Spec("layers.MultiScaleGraphConv.forward", _layer(layers.MultiScaleGraphConv, dict(
        in_channels=C, out_channels=3, adjacency=layers.multiscale_adjacency([(0, 1), (1, 2)], 3, 2))),
         lambda: dict(x=torch.randn(B, C, T, 3), mask=_mask()), {"x": "tensor", "mask": "mask"}),
    Spec("layers.DSMI", layers.DSMI,
         lambda: dict(in_channels=C, channels=4, adjacency=layers.multiscale_adjacency([(0, 1)], 2, 3),
                      center_joint=1, num_heads=2, attention="frames", pooling="max", dropout=0.1),
         {"in_channels": "size", "channels": "size", "adjacency": "tensor", "center_joint": "int",
          "num_heads": "size", "attention": "choice", "pooling": "choice", "dropout": "real"}),
    Spec("layers.DSMI.forward", _layer(layers.DSMI, dict(
        in_channels=C, channels=4, adjacency=layers.multiscale_adjacency([(0, 1), (1, 2)], 3, 2), center_joint=0)),
         lambda: dict(x=torch.randn(B, C, T, 3), mask=_mask()), {"x": "tensor", "mask": "mask"}),
    Spec("layers.GraphMatching", layers.GraphMatching,
         lambda: dict(in_channels=C, hidden_channels=8, out_channels=6, num_layers=2, sinkhorn_iterations=20,
                      sinkhorn_tau=0.05),
         {"in_channels": "size", "hidden_channels": "size", "out_channels": "size", "num_layers": "size",
          "sinkhorn_iterations": "size", "sinkhorn_tau": "real"},
         accepts={"sinkhorn_iterations=zero": "no normalisation: S = exp(scores / tau) on the valid block"}),
    Spec("layers.GraphMatching.forward", _layer(layers.GraphMatching, dict(in_channels=C, hidden_channels=8,
                                                                           out_channels=6)),
         lambda: dict(feat1=torch.randn(B, 5, C), feat2=torch.randn(B, 4, C), A1=torch.ones(B, 5, 5),
                      A2=torch.ones(B, 4, 4), n1=torch.tensor([5, 3]), n2=torch.tensor([4, 2])),
         {"feat1": "tensor", "feat2": "tensor", "A1": "tensor", "A2": "tensor", "n1": "tensor_labels",
          "n2": "tensor_labels"}),
    Spec("layers.GraphMatching.hungarian", layers.GraphMatching.hungarian,
         lambda: dict(S=torch.rand(B, 5, 4), n1=torch.tensor([5, 3]), n2=torch.tensor([4, 2])),
         {"S": "tensor", "n1": "tensor_labels", "n2": "tensor_labels"}),
    # -- losses
    Spec("losses.smoothing_loss", losses.smoothing_loss,
         lambda: dict(logits=torch.randn(B, K, T), mask=_mask(), clamp=16.0),
         {"logits": "tensor", "mask": "mask", "clamp": "real"}),
    Spec("losses.MultiStageLoss", losses.MultiStageLoss,
         lambda: dict(smoothing_weight=0.15, clamp=16.0), {"smoothing_weight": "real", "clamp": "real"}),
    Spec("losses.focal_loss", losses.focal_loss,
         lambda: dict(logits=torch.randn(B, K, T), target=_tlabels(), mask=_mask(), gamma=2.0),
         {"logits": "tensor", "target": "tensor_labels", "mask": "mask", "gamma": "real"}),
    Spec("losses.focal_heatmap_loss", losses.focal_heatmap_loss,
         lambda: dict(logits=torch.randn(B, T), target=torch.rand(B, T), mask=_mask(), alpha=2.0, beta=4.0),
         {"logits": "tensor", "target": "tensor", "mask": "mask", "alpha": "real", "beta": "real"}),
    Spec("losses.dice_loss", losses.dice_loss,
         lambda: dict(probs=torch.rand(B, K, T), target=torch.rand(B, K, T).round(), factor=2.0, smooth=1.0),
         {"probs": "tensor", "target": "tensor", "factor": "real", "smooth": "real"}),
    Spec("losses.balanced_bce_loss", losses.balanced_bce_loss,
         lambda: dict(logits=torch.randn(B, T), target=torch.rand(B, T).round(), mask=_mask(), epsilon=1e-6),
         {"logits": "tensor", "target": "tensor", "mask": "mask", "epsilon": "real"}),
    Spec("losses.biou_loss", losses.biou_loss,
         lambda: dict(logits=torch.randn(B, T, T), target=torch.rand(B, T, T).round(), kernel_size=3),
         {"logits": "tensor", "target": "tensor", "kernel_size": "size"}),
    Spec("losses.boundary_loss", losses.boundary_loss,
         lambda: dict(logits=torch.randn(B, T), target=torch.rand(B, T).round(), mask=_mask(), pos_weight=2.0),
         {"logits": "tensor", "target": "tensor", "mask": "mask", "pos_weight": "real_none"}),
    Spec("losses.local_parse_loss", losses.local_parse_loss,
         lambda: dict(attention=torch.rand(B, T, T), segment_ids=_tlabels(), mask=_mask(), margin=1.0),
         {"attention": "tensor", "segment_ids": "tensor_labels", "mask": "mask", "margin": "real"}),
    Spec("losses.global_parse_loss", losses.global_parse_loss,
         lambda: dict(frame_logits=torch.randn(B, K, T), labels=torch.tensor([1, 2]), mask=_mask()),
         {"frame_logits": "tensor", "labels": "tensor_labels", "mask": "mask"}),
    Spec("losses.permutation_loss", losses.permutation_loss,
         lambda: dict(pred=torch.rand(B, 3, 3), target=torch.eye(3).expand(B, 3, 3).contiguous()),
         {"pred": "tensor", "target": "tensor"}),
]


# -- data (issue 13 §1): the datasets read small folders written once into a temporary directory
import functools  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from actseg import data  # noqa: E402


@functools.lru_cache(maxsize=1)
def _data_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="actseg-specs-"))
    for d in ("features", "groundTruth", "splits", "anet"):
        (root / d).mkdir()
    (root / "mapping.txt").write_text("0 bg\n1 take\n")
    (root / "splits" / "train.split1.bundle").write_text("v.txt\n")
    (root / "groundTruth" / "v.txt").write_text("bg\ntake\ntake\nbg\n")
    np.save(root / "features" / "v.npy", np.zeros((3, 4), dtype=np.float32))
    video = {"subset": "validation", "duration": 2.0, "annotations": [{"segment": [0.5, 1.0], "label": "take"}]}
    (root / "gt.json").write_text(json.dumps({"database": {"v": video}}))
    return root


SPECS += [
    Spec("data.load_demo", data.load_demo, lambda: dict(name="gunpoint", split="test"),
         {"name": "choice", "split": "choice"}),
    Spec("data.DemoDataset", data.DemoDataset, lambda: dict(name="gunpoint", split="test"),
         {"name": "choice", "split": "choice"}),
    Spec("data.MSTCNFolderDataset", data.MSTCNFolderDataset,
         lambda: dict(root=_data_root(), split="train", split_index=1, sample_rate=2, mmap=True),
         {"split_index": "size", "sample_rate": "size", "mmap": "flag"}),
    Spec("data.ActivityNetDataset", data.ActivityNetDataset,
         lambda: dict(annotations=_data_root() / "gt.json", features=_data_root() / "features", fps=4.0,
                      feature_stride=2, mmap=False),
         {"fps": "real_none", "feature_stride": "size", "mmap": "flag"}),
    Spec("io.write_activitynet_predictions", io.write_activitynet_predictions,
         lambda: dict(path=_data_root() / "pred.json", class_names=["bg", "take"], fps=2.0,
                      detections={"v": segments.Segments([0, 2], [2, 4], [1, 0], scores=[0.9, 0.3])}),
         {"fps": "real"}),
]

# -- viz (plot_timeline draws with matplotlib: listed where it is installed)
import importlib.util as _importlib_util  # noqa: E402

from actseg import viz  # noqa: E402

SPECS.append(Spec("viz.class_colors", viz.class_colors, lambda: dict(num_classes=K, background=(0,)),
                  {"num_classes": "size", "background": "ids"}))
if _importlib_util.find_spec("matplotlib") is not None:
    SPECS.append(Spec(
        "viz.plot_timeline", viz.plot_timeline,
        lambda: dict(rows={"gt": _labels()}, probabilities=np.full((K, T), 1 / K), boundary_scores=np.linspace(0, 1, T),
                     peaks=np.array([3, 8]), background=(0,), fps=10.0),
        {"probabilities": "reals", "boundary_scores": "reals", "peaks": "labels", "background": "ids",
         "fps": "real_none"},
        names=("rows['gt']",)))
