r"""RTK keypoint graphs and the graph-matching refinement head (§3.2, Eq. (4)–(5)).

Jiang, Jin, Tan and Mu, "Video Action Segmentation via Contextually Refined Temporal Keypoints" (RTK, ICCV 2023;
equation map in ``docs/papers/rtk.md``). :func:`keypoint_graphs` turns a batch of backbone features, ground-truth
frame labels and detected keypoint candidates (e.g. :func:`actseg.postprocess.watershed_peaks`) into the padded
source / target graph pairs of :class:`actseg.layers.GraphMatching`, with the ground-truth permutation of
:func:`actseg.losses.permutation_loss`; :class:`KeypointRefinement` is the refinement stage
``G' = N'(cat(G, I))`` with re-classification (Eq. (4); ``L_CR`` of Eq. (5)).

It lives in ``actseg.layers`` rather than ``actseg.targets`` because it gathers node features from the model's
``(B, C, T)`` features (a differentiable step of the model) and its outputs are the inputs of
:class:`GraphMatching`; the ground-truth parts (target graph, permutation) are computed beside it from the same
per-video bookkeeping.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import channel_count, check_parameter_count, layer_count
from ._matching import MAX_SINKHORN_ITERATIONS, GraphMatching, _node_counts

__all__ = ["ADJACENCIES", "KeypointGraphs", "KeypointRefinement", "RefinedKeypoints", "keypoint_graphs"]

ADJACENCIES = ("full", "forward")
BOUNDARY, ACTION = 0, 1  # node kinds


class KeypointGraphs(NamedTuple):
    """Padded source / target keypoint graphs of a batch (the output of :func:`keypoint_graphs`).

    ``N`` is the padded node count (``max_nodes``, or the largest graph of the batch); node ``i`` of video
    ``b`` is valid when ``i < n1[b]`` (``n2[b]`` for the target). Integer fields hold ``-1`` at padded nodes
    (``labels*``: ``ignore_index``). Without ground truth (``labels=None``) the target fields are ``None``.

    Fields:
        feat1: ``(B, N, C)`` source node features gathered from ``features`` (differentiable; 0 at padding).
        feat2: ``(B, N, C)`` target node features (ground-truth keypoints), or ``None``.
        A1, A2: ``(B, N, N)`` adjacency (``A[i, j]`` = edge ``j -> i``, 0 at padding and on the diagonal).
        n1, n2: ``(B,)`` int64 node counts (``n1 == n2``: RTK samples exactly ``M`` source points).
        target: ``(B, N, N)`` 0/1 ground-truth permutation, ``target[b, i, j] = 1`` when source node ``i``
            matches target node ``j`` (the ``target`` of :func:`actseg.losses.permutation_loss`), or ``None``.
        positions1, positions2: ``(B, N)`` int64 frames of the nodes, in increasing order.
        kinds1, kinds2: ``(B, N)`` int64, 0 = boundary point, 1 = action point.
        labels1, labels2: ``(B, N)`` int64 class of each node (the re-classification target ``L_CR``): an
            action point's segment class; ``ignore_index`` for boundary points (category-agnostic, §3.1).
            Source nodes take the class of the target node they match. Without ground truth ``labels1``
            holds the candidates' labels (``ignore_index`` where none were given).
        offsets: ``(B, N)`` float, ``positions2[match] - positions1``: the refinement target of each source
            node's position (0 at padding), or ``None``.
        detected: ``(B, N)`` bool, ``True`` where the source node is a detected candidate, ``False`` where
            the compromise strategy drew it (and at padding).
    """

    feat1: Tensor
    feat2: Tensor | None
    A1: Tensor
    A2: Tensor | None
    n1: Tensor
    n2: Tensor | None
    target: Tensor | None
    positions1: Tensor
    positions2: Tensor | None
    kinds1: Tensor
    kinds2: Tensor | None
    labels1: Tensor
    labels2: Tensor | None
    offsets: Tensor | None
    detected: Tensor


def _candidate_positions(value: Any, name: str, length: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One video's candidates: a ``Keypoints``/tuple ``(positions, scores[, labels])`` or 1-D positions ->
    int64 positions in ``[0, length)`` and their labels (or ``None``)."""
    labels = None
    if value is None:
        return np.zeros(0, dtype=np.int64), None
    if isinstance(value, tuple) and len(value) in (2, 3) and not np.isscalar(value[0]):
        if len(value) == 3 and value[2] is not None:
            labels = _checks.integer_array(value[2], f"{name}.labels", 1)
        value = value[0]
        name = f"{name}.positions"
    positions = _checks.integer_array(value, name, 1)
    if labels is not None and labels.shape != positions.shape:
        raise ValueError(f"{name[:-len('.positions')]}.labels: expected one label per candidate "
                         f"({positions.size}), got shape {_checks.shape_str(labels.shape)}")
    if positions.size and (positions.min() < 0 or positions.max() >= length):
        bad = positions[(positions < 0) | (positions >= length)][0]
        raise ValueError(f"{name}: expected frames in [0, {length}) (T of features), got {int(bad)}")
    return positions, labels


def _per_video(value: Any, name: str, batch: int) -> list[Any]:
    if value is None:
        return [None] * batch
    if _checks.is_tensor(value) or isinstance(value, (np.ndarray, str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name}: expected a list of {batch} per-video candidate sets (Keypoints, (positions, "
                        f"scores[, labels]) or 1-D positions), got {_checks.type_name(value)}")
    if len(value) != batch:
        raise ValueError(f"{name}: expected {batch} per-video candidate sets (one per video of features), "
                         f"got {len(value)}")
    return list(value)


def _ground_truth(row: np.ndarray, valid: np.ndarray, background: np.ndarray,
                  ignore_index: int) -> tuple[np.ndarray, ...]:
    """Target nodes of one video sorted by (position, kind): positions, kinds, labels, and the region
    ``[lo, hi]`` a candidate of that kind must fall in (before the boundary radius is applied); plus the
    boundary positions and segment ``starts``/``ends`` used to assign candidates."""
    length = row.shape[0]
    key = np.where(valid, row, -1)
    change = np.flatnonzero(key[1:] != key[:-1]) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    ends = np.concatenate([change, [length]]).astype(np.int64)
    run_labels = key[starts]
    keep = run_labels >= 0
    if background.size:
        keep &= ~np.isin(run_labels, background)
    starts, ends, seg_labels = starts[keep], ends[keep], run_labels[keep]
    # exclusive end, or the segment's last frame when the end is not a valid frame (padding, a hole, T)
    end_valid = np.zeros(ends.shape, dtype=bool)
    inside = ends < length
    end_valid[inside] = valid[ends[inside]]
    bounds = np.unique(np.concatenate([starts, np.where(end_valid, ends, ends - 1)]))
    middles = (starts + ends - 1) // 2
    positions = np.concatenate([bounds, middles])
    kinds = np.concatenate([np.full(bounds.size, BOUNDARY), np.full(middles.size, ACTION)]).astype(np.int64)
    labels = np.concatenate([np.full(bounds.size, ignore_index), seg_labels]).astype(np.int64)
    order = np.lexsort((kinds, positions))
    return positions[order], kinds[order], labels[order], bounds, starts, ends, order


def _boundary_regions(bounds: np.ndarray, half: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi]`` of each ground-truth boundary: within ``half`` frames, nearer to it than to its neighbours
    (a frame half-way between two boundaries belongs to the earlier one), inside ``[0, length)``."""
    lo = bounds - half
    hi = bounds + half
    if bounds.size > 1:
        mid = (bounds[:-1] + bounds[1:]) // 2
        lo[1:] = np.maximum(lo[1:], mid + 1)
        hi[:-1] = np.minimum(hi[:-1], mid)
    return np.clip(lo, 0, length - 1), np.clip(hi, 0, length - 1)


def _assign_boundaries(p: np.ndarray, bounds: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Index of the ground-truth boundary whose region holds each candidate, or -1."""
    if bounds.size == 0 or p.size == 0:
        return np.full(p.size, -1, dtype=np.int64)
    right = np.clip(np.searchsorted(bounds, p), 0, bounds.size - 1)
    left = np.clip(right - 1, 0, None)
    nearest = np.where(np.abs(p - bounds[left]) <= np.abs(bounds[right] - p), left, right)
    return np.where((p >= lo[nearest]) & (p <= hi[nearest]), nearest, -1)


def _assign_segments(p: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the ground-truth segment that holds each candidate, or -1."""
    if starts.size == 0 or p.size == 0:
        return np.full(p.size, -1, dtype=np.int64)
    seg = np.searchsorted(starts, p, side="right") - 1
    ok = (seg >= 0) & (p < ends[np.clip(seg, 0, None)])
    return np.where(ok, seg, -1)


def _sample_video(row, valid, action, boundary, background, half, ignore_index, generator):
    """One video: source node positions, kinds, labels, detected flags and the matched target index of each
    source node (sorted by time), and the target nodes."""
    length = row.shape[0]
    pos2, kinds2, labels2, bounds, starts, ends, order = _ground_truth(row, valid, background, ignore_index)
    m = pos2.size
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)  # unsorted index (boundaries first, then segments) -> target node
    lo_b, hi_b = _boundary_regions(bounds, half, length)
    lo = np.concatenate([lo_b, starts])[order]
    hi = np.concatenate([hi_b, ends - 1])[order]
    # candidates at valid frames only, assigned to the target node whose region holds them
    groups = []
    for p, kind in ((boundary, BOUNDARY), (action, ACTION)):
        p = p[valid[p]] if p.size else p
        if kind == BOUNDARY:
            idx = _assign_boundaries(p, bounds, lo_b, hi_b)
        else:
            idx = _assign_segments(p, starts, ends)
            idx = np.where(idx >= 0, idx + bounds.size, -1)
        hit = idx >= 0
        groups.append((p[hit], rank[idx[hit]]))
    cand_pos = np.concatenate([g[0] for g in groups])
    cand_node = np.concatenate([g[1] for g in groups])
    draws = torch.rand(2, m, generator=generator, dtype=torch.float64).numpy()
    counts = np.bincount(cand_node, minlength=m)
    grouped = np.lexsort((cand_pos, cand_node))  # candidates of node j, in time order
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pick = first + np.minimum((draws[0] * counts).astype(np.int64), np.maximum(counts - 1, 0))
    detected = counts > 0
    chosen = np.zeros(m, dtype=np.int64)
    chosen[detected] = cand_pos[grouped[pick[detected]]]
    # the compromise strategy: a region without a candidate gets a frame drawn uniformly from its valid frames
    cv = np.cumsum(valid)
    before = np.where(lo > 0, cv[np.clip(lo - 1, 0, None)], 0)
    available = cv[hi] - before  # >= 1: the ground-truth point itself is a valid frame of its region
    k = np.minimum((draws[1] * available).astype(np.int64), available - 1)
    drawn = np.searchsorted(cv, before + k + 1, side="left")
    chosen = np.where(detected, chosen, drawn)
    src = np.lexsort((np.arange(m), kinds2, chosen))  # source node i matches target node src[i]
    return chosen[src], kinds2[src], labels2[src], detected[src], src, pos2, kinds2, labels2


def _generator(value: Any) -> torch.Generator | None:
    if value is None or isinstance(value, torch.Generator):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return torch.Generator().manual_seed(_checks.integer(value, "generator", low=0, high=2**63 - 1))
    raise TypeError(f"generator: expected a torch.Generator, an integer seed or None, got "
                    f"{_checks.type_name(value)} {value!r}")


def keypoint_graphs(features: Tensor, labels: Any, action_points: Any, boundary_points: Any, *, mask: Any = None,
                    background: Any = (), region: float = 33.0, max_nodes: int | None = None,
                    adjacency: str = "full", generator: Any = None, ignore_index: int = -100) -> KeypointGraphs:
    r"""Source and target keypoint graphs of RTK's graph-matching refinement (§3.2), padded for a batch.

    *Target graph* (§3.2 "Target graphs"): the ground-truth keypoints of a video, its boundary points and
    the mid-points of its segments, "while directed edges are defined among all points". *Source graph*
    ("Source graphs"): "randomly sampling exactly M points from the over-complete candidates", M the number
    of ground-truth points, each matching its ground-truth point's region; where a region holds no
    candidate ("mis-detected"), "a compromise strategy which [samples] extra points to match the target
    points". Node features are the backbone features at the nodes' frames (``I`` of Eq. (4)), gathered
    differentiably; ``target`` is the permutation supervised by ``L_perm`` (Eq. (5)).

    Choices where the paper is silent (``docs/papers/rtk.md``):
        - Segments are the maximal runs of one class not in ``background`` within the valid frames
          (``mask`` and ``labels != ignore_index``; a run ends at a hole), as :func:`actseg.targets.boundary_heatmap`.
        - Boundary points: every segment's first frame ``s`` and its exclusive end ``e`` (the next segment's
          first frame; :func:`actseg.postprocess.reassemble`'s meaning, ``boundary_heatmap(end="exclusive")``),
          or its last frame ``e - 1`` when ``e`` is not a valid frame (the video's end, padding, a hole);
          duplicates merge. Action points: the mid-point ``(s + e - 1) // 2`` (as
          :func:`actseg.targets.action_point_heatmaps`), labelled with the segment's class. K adjacent
          segments covering the video give ``M = 2K + 1`` points.
        - Regions: an action point's region is its segment; a boundary point's region is the frames within
          ``region / 2`` (RTK's ``r_b``, §4.1: 33 frames) that are nearer to it than to any other ground-truth
          boundary (a tie goes to the earlier one). A candidate of the matching kind in the region (at a
          valid frame) may stand for the point; candidates in no region, or at padded frames, are false
          positives and are not used (a bijection has no place for them).
        - Sampling: for each target point, one of its region's candidates, uniformly at random; a region
          without a candidate gets a frame drawn uniformly from its valid frames (the compromise strategy;
          ``detected`` is ``False`` there). So exactly ``M`` source points, whatever the number of candidates:
          too many are subsampled (per region), too few or none (an empty candidate set) are completed.
        - Draws: two uniforms per target point and video, in batch order, from ``generator`` (a
          ``torch.Generator``, an integer seed, or ``None`` for torch's global generator): the same
          generator state gives the same graphs, and video ``b`` of a batch gets what it gets alone when
          the generator has already served videos ``0..b-1``.
        - Node order: by frame, then boundary before action point (then target order, for the source);
          ``target[b, i, j] = 1`` pairs them.
        - Adjacency ``"full"`` (default, the paper's "edges among all points"): every valid ordered pair
          ``i != j`` (both directions; no self loops, PCA-GM's ``u_fc`` term carries the node itself);
          ``"forward"`` (the "directed" reading): ``A[i, j] = 1`` for ``j < i``, messages flow forward in time.
        - Without ground truth (``labels=None``, inference): the source graph holds every candidate at a valid
          frame (cap them with ``watershed_peaks(..., max_candidates=...)``, RTK's ``N_max = 0.1 T``), the
          target fields are ``None``.

    Args:
        features: ``(B, C, T)`` backbone features (float, any device).
        labels: ``(B, T)`` int frame labels (tensor, numpy, sequence), ``ignore_index`` at padding; or ``None``.
        action_points: a list of ``B`` per-video action-point candidate sets, each a
            :class:`actseg.postprocess.Keypoints` (the output of ``watershed_peaks``), a tuple ``(positions,
            scores[, labels])`` or 1-D integer positions (frames in ``[0, T)``); ``None`` = no candidates.
        boundary_points: the boundary candidates, in the same forms as ``action_points``.
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        background: class ids that are not actions (their runs are not segments).
        region: the boundary region ``r_b`` in frames (``> 0``).
        max_nodes: the padded node count ``N`` (``None``: the largest graph of the batch).
        adjacency: ``"full"`` or ``"forward"``.
        generator: a ``torch.Generator``, an integer seed or ``None``.
        ignore_index: label of padded frames, and of boundary nodes in ``labels1``/``labels2``.

    Returns:
        :class:`KeypointGraphs` (tensors on ``features``' device; features' dtype for the float fields).

    Raises:
        ValueError: wrong shapes, NaN in ``features``, a candidate frame outside ``[0, T)``, a video with more
            ground-truth points (or, without ground truth, candidates) than ``max_nodes``, a number of
            candidate sets other than ``B``, a negative class id.
        TypeError: non-integer labels or positions, a mask that is not bool, an unknown ``generator`` type.

    Example:
        >>> x = torch.randn(1, 4, 12, requires_grad=True)
        >>> labels = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3]])
        >>> g = keypoint_graphs(x, labels, [[1, 6, 7, 10]], [[0, 5, 9]], generator=0)
        >>> g.positions2[0].tolist(), g.kinds2[0].tolist(), g.labels2[0].tolist()
        ([0, 1, 4, 6, 10, 10, 11], [0, 1, 0, 1, 0, 1, 0], [-100, 1, -100, 2, -100, 3, -100])
        >>> g.positions1[0].tolist(), g.detected[0].tolist()  # 6 or 7 for the second segment; 11 is drawn
        ([0, 1, 5, 7, 9, 10, 11], [True, True, True, True, True, True, False])
        >>> g.feat1.shape, g.target[0].argmax(1).tolist()
        (torch.Size([1, 7, 4]), [0, 1, 2, 3, 4, 5, 6])
    """
    _checks.tensor(features, "features", "(B, C, T)", min_sizes={"T": 1})
    batch, _, length = features.shape
    if _checks.has_values(features):
        _checks.no_nan(features, "features")
    training = labels is not None
    if training:
        rows = _checks.integer_array(labels, "labels", 2)
        if rows.shape != (batch, length):
            raise ValueError(f"labels: expected shape (B, T) = {(batch, length)} (as features), "
                             f"got {_checks.shape_str(rows.shape)}")
        ignore_index = _checks.index_value(ignore_index, "ignore_index")
        _checks.check_labels_nonnegative(rows, "labels", ignore_index=ignore_index)
    else:
        ignore_index = _checks.index_value(ignore_index, "ignore_index")
    mask_arr = _checks.mask_array(mask, (batch, length))
    valid = np.ones((batch, length), dtype=bool) if mask_arr is None else mask_arr.copy()
    if training:
        valid &= rows != ignore_index
    bg = _checks.id_set(background, "background")
    half = int(np.floor(_checks.real(region, "region", low=0.0, low_open=True) / 2))
    cap = _checks.size(max_nodes, "max_nodes", low=0, none=True)
    adjacency = _checks.choice(adjacency, ADJACENCIES, "adjacency")
    gen = _generator(generator)
    acts = _per_video(action_points, "action_points", batch)
    bnds = _per_video(boundary_points, "boundary_points", batch)
    videos = []
    for b in range(batch):
        a_pos, a_lab = _candidate_positions(acts[b], f"action_points[{b}]", length)
        b_pos, _ = _candidate_positions(bnds[b], f"boundary_points[{b}]", length)
        if training:
            videos.append(_sample_video(rows[b], valid[b], a_pos, b_pos, bg, half, ignore_index, gen))
        else:
            videos.append(_candidates_only(valid[b], a_pos, a_lab, b_pos, ignore_index))
    counts = np.array([v[0].size for v in videos], dtype=np.int64)
    size = int(counts.max(initial=0)) if cap is None else cap
    _checks.elements(len(videos) * size * size, "max_nodes" if cap is not None else "action_points, boundary_points",
                     "B·N·N (adjacency)")
    if cap is not None and counts.size and counts.max() > cap:
        b = int(np.argmax(counts))
        what = "ground-truth keypoints" if training else "candidates at valid frames"
        raise ValueError(f"max_nodes: expected at least the {int(counts[b])} {what} of video {b} (the padded "
                         f"node count), got {cap}")
    return _assemble(features, videos, counts, size, adjacency, ignore_index, training)


def _candidates_only(valid, a_pos, a_lab, b_pos, ignore_index):
    """Inference: every candidate at a valid frame, sorted by (frame, kind)."""
    a_keep, b_keep = valid[a_pos], valid[b_pos]
    a_lab = np.full(a_pos.size, ignore_index, dtype=np.int64) if a_lab is None else a_lab
    pos = np.concatenate([b_pos[b_keep], a_pos[a_keep]])
    kinds = np.concatenate([np.full(int(b_keep.sum()), BOUNDARY), np.full(int(a_keep.sum()), ACTION)]).astype(np.int64)
    labels = np.concatenate([np.full(int(b_keep.sum()), ignore_index), a_lab[a_keep]]).astype(np.int64)
    order = np.lexsort((kinds, pos))
    return pos[order], kinds[order], labels[order], np.ones(pos.size, dtype=bool)


def _padded(values: list[np.ndarray], size: int, fill: Any, dtype: Any) -> np.ndarray:
    out = np.full((len(values), size), fill, dtype=dtype)
    for b, v in enumerate(values):
        out[b, :v.size] = v
    return out


def _assemble(features, videos, counts, size, adjacency, ignore_index, training) -> KeypointGraphs:
    batch = len(videos)
    device, dtype = features.device, features.dtype
    nodes = torch.arange(size, device=device)
    n = torch.as_tensor(counts, device=device)
    valid = nodes < n[:, None]  # (B, N)

    def tensor(values, fill, np_dtype=np.int64):
        return torch.as_tensor(_padded(values, size, fill, np_dtype), device=device)

    def gather(positions: Tensor) -> Tensor:
        index = positions.clamp(min=0)[..., None].expand(-1, -1, features.shape[1])
        return torch.where(valid[..., None], torch.gather(features.transpose(1, 2), 1, index), 0.0)

    pair = valid[:, :, None] & valid[:, None, :]
    if adjacency == "full":
        pair = pair & (nodes[:, None] != nodes[None, :])
    else:
        pair = pair & (nodes[None, :] < nodes[:, None])
    A = pair.to(dtype)
    positions1 = tensor([v[0] for v in videos], -1)
    kinds1 = tensor([v[1] for v in videos], -1)
    labels1 = tensor([v[2] for v in videos], ignore_index)
    detected = tensor([v[3] for v in videos], False, bool)
    feat1 = gather(positions1)
    if not training:
        return KeypointGraphs(feat1, None, A, None, n, None, None, positions1, None, kinds1, None, labels1, None,
                              None, detected)
    positions2 = tensor([v[5] for v in videos], -1)
    target = np.zeros((batch, size, size), dtype=np.float64)
    offsets = np.zeros((batch, size), dtype=np.float64)
    for b, v in enumerate(videos):
        m = v[0].size
        target[b, np.arange(m), v[4]] = 1.0
        offsets[b, :m] = v[5][v[4]] - v[0]
    return KeypointGraphs(
        feat1, gather(positions2), A, A.clone(), n, n.clone(), torch.as_tensor(target, device=device, dtype=dtype),
        positions1, positions2, kinds1, tensor([v[6] for v in videos], -1), labels1,
        tensor([v[7] for v in videos], ignore_index), torch.as_tensor(offsets, device=device, dtype=dtype), detected)


class RefinedKeypoints(NamedTuple):
    """The output of :class:`KeypointRefinement`: ``S`` ``(b, N, N)`` soft matching (``None`` without a target
    graph), ``logits`` ``(b, N, num_classes)`` re-classification logits, ``offsets`` ``(b, N)`` refined position
    offsets in frames, ``embeddings`` ``(b, N, hidden)`` the refined embeddings ``G'``; 0 at padded nodes."""

    S: Tensor | None
    logits: Tensor
    offsets: Tensor
    embeddings: Tensor


class KeypointRefinement(nn.Module):
    r"""RTK's refinement stage (§3.2, Eq. (4)): ``G' = N'(cat(G, I))``, re-classification of the refined nodes.

    ``I`` are the candidate embeddings (the source graph's node features ``feat1``, e.g. from
    :func:`keypoint_graphs`), ``G`` the contextual embeddings of the PCA-GM graph convolutions
    (:class:`GraphMatching`'s ``emb1``, ``embedding_channels`` wide), ``N'`` "several stacked convolutional
    layers" over the nodes (``num_layers`` of ``Conv1d(kernel_size)`` + ReLU, ``hidden_channels`` wide). From
    ``G'`` a ``1x1`` convolution re-classifies every node (``logits``; ``L_CR`` of Eq. (5) is the cross-entropy
    against ``KeypointGraphs.labels1``, which ignores boundary nodes) and another regresses a refined position
    offset in frames (``offsets``; target ``KeypointGraphs.offsets``: the paper says only that the refined
    points feed the re-assembly, so this regression is an addition, and using it is the caller's choice).
    ``S`` is the soft matching supervised by ``L_perm`` (:func:`actseg.losses.permutation_loss`).

    Choices where the paper is silent: ``I`` is ``feat1`` itself (no projection; Eq. (4) gives ``G`` and
    ``I`` one width ``d``, the default ``embedding_channels = in_channels``); ``kernel_size=1`` (default)
    refines each node from its own ``G`` and ``I``, the context being ``G``'s (nodes are not evenly spaced in
    time, so a kernel over neighbouring nodes has no fixed temporal meaning); a larger odd kernel mixes
    neighbouring nodes, with padded nodes zeroed before every convolution. Without a target graph
    (inference; ``feat2 = A2 = n2 = None``) ``G`` comes from matching the source graph with itself, so the
    network runs the same path as in training, and ``S`` is ``None``. RTK's "E.D." ablation (Table 3,
    embeddings detached before the matching) is ``feat1.detach()`` on the caller's side.

    Args:
        in_channels: node feature channels ``d`` (``C`` of the backbone features).
        num_classes: classes of the re-classification.
        hidden_channels: channels of the PCA-GM hidden layers and of ``N'``.
        embedding_channels: channels of ``G`` (default ``in_channels``).
        num_graph_layers: PCA-GM graph convolutions (``>= 2``).
        num_layers: convolutions of ``N'`` (``>= 1``).
        kernel_size: odd kernel of ``N'``'s convolutions over the nodes.
        sinkhorn_iterations: Sinkhorn iterations, as in :class:`GraphMatching`.
        sinkhorn_tau: Sinkhorn temperature, as in :class:`GraphMatching`.

    Shape:
        ``feat1`` ``(b, N1, d)``, ``A1`` ``(b, N1, N1)``, ``n1`` ``(b,)``; optional ``feat2`` ``(b, N2, d)``,
        ``A2`` ``(b, N2, N2)``, ``n2`` ``(b,)`` → :class:`RefinedKeypoints` (``S`` ``(b, N1, N2)``, ``logits``
        ``(b, N1, num_classes)``, ``offsets`` ``(b, N1)``, ``embeddings`` ``(b, N1, hidden_channels)``).

    Example:
        >>> x = torch.randn(2, 8, 30)
        >>> labels = torch.tensor([[0] * 10 + [1] * 12 + [2] * 8, [2] * 16 + [1] * 14])
        >>> g = keypoint_graphs(x, labels, [[5, 15], [8]], [[0, 10, 21], [16, 29]], generator=0)
        >>> head = KeypointRefinement(8, num_classes=3, hidden_channels=16)
        >>> out = head(g.feat1, g.A1, g.n1, g.feat2, g.A2, g.n2)
        >>> out.S.shape, out.logits.shape, out.offsets.shape, g.n1.tolist()
        (torch.Size([2, 7, 7]), torch.Size([2, 7, 3]), torch.Size([2, 7]), [7, 5])
        >>> from actseg.losses import permutation_loss
        >>> loss = permutation_loss(out.S, g.target, g.n1, g.n2) + F.cross_entropy(
        ...     out.logits.flatten(0, 1), g.labels1.flatten(), ignore_index=-100)
        >>> head(g.feat1, g.A1, g.n1).S is None  # inference: no target graph
        True
    """

    def __init__(self, in_channels: int, num_classes: int, hidden_channels: int = 64,
                 embedding_channels: int | None = None, num_graph_layers: int = 2, num_layers: int = 2,
                 kernel_size: int = 1, sinkhorn_iterations: int = 20, sinkhorn_tau: float = 0.05) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        num_classes = channel_count(num_classes, "num_classes")
        hidden_channels = channel_count(hidden_channels, "hidden_channels")
        embedding_channels = (in_channels if embedding_channels is None
                              else channel_count(embedding_channels, "embedding_channels"))
        num_graph_layers = layer_count(num_graph_layers, "num_graph_layers")
        if num_graph_layers < 2:
            raise ValueError(f"num_graph_layers: expected an integer >= 2 (PCA-GM's cross-graph layer), "
                             f"got {num_graph_layers}")
        num_layers = layer_count(num_layers, "num_layers")
        kernel_size = _checks.size(kernel_size, "kernel_size", high=63)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd integer (nodes keep their places), got {kernel_size}")
        _checks.size(sinkhorn_iterations, "sinkhorn_iterations", low=0, high=MAX_SINKHORN_ITERATIONS)
        _checks.real(sinkhorn_tau, "sinkhorn_tau", low=0.0, low_open=True)
        widths = [in_channels + embedding_channels] + [hidden_channels] * num_layers
        count = sum(a * b * kernel_size + b for a, b in zip(widths[:-1], widths[1:]))
        count += (hidden_channels + 1) * (num_classes + 1)
        check_parameter_count(count, "in_channels, num_classes, hidden_channels, num_layers, kernel_size")
        self.matching = GraphMatching(in_channels, hidden_channels, embedding_channels, num_graph_layers,
                                      sinkhorn_iterations=sinkhorn_iterations, sinkhorn_tau=sinkhorn_tau)
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel_size, padding=kernel_size // 2)
                                   for a, b in zip(widths[:-1], widths[1:]))
        self.classifier = nn.Conv1d(hidden_channels, num_classes, 1)
        self.offset = nn.Conv1d(hidden_channels, 1, 1)

    def forward(self, feat1: Tensor, A1: Tensor, n1: Tensor, feat2: Tensor | None = None, A2: Tensor | None = None,
                n2: Tensor | None = None) -> RefinedKeypoints:
        given = [name for name, v in (("feat2", feat2), ("A2", A2), ("n2", n2)) if v is not None]
        if given and len(given) < 3:
            missing = ", ".join(name for name in ("feat2", "A2", "n2") if name not in given)
            raise ValueError(f"{given[0]}: expected feat2, A2 and n2 together (the target graph) or none of them "
                             f"(inference), got no {missing}")
        _checks.tensor(feat1, "feat1", "(b, n1, d)", sizes={"d": self.in_channels})
        batch, size = feat1.shape[0], feat1.shape[1]
        counts = _node_counts(n1, "n1", batch, size, feat1.device)
        if given:
            S, emb1, _ = self.matching(feat1, feat2, A1, A2, counts, n2)
        else:
            S, (_, emb1, _) = None, self.matching(feat1, feat1, A1, A1, counts, counts)
        if feat1.is_meta:
            m = feat1.new_empty(batch, 1, size)
        else:
            m = (torch.arange(size, device=feat1.device) < counts[:, None]).unsqueeze(1).to(feat1.dtype)
        x = torch.cat([emb1, feat1], dim=-1).transpose(1, 2) * m  # (b, G + I, N), padded nodes 0
        if size == 0:  # no candidate at all: Conv1d needs a node, so a padded one stands in and is cut off
            x, m = F.pad(x, (0, 1)), F.pad(m, (0, 1))
        for conv in self.convs:
            x = F.relu(conv(x)) * m
        logits = (self.classifier(x) * m)[..., :size].transpose(1, 2)
        offsets = (self.offset(x) * m)[..., :size].squeeze(1)
        return RefinedKeypoints(S, logits, offsets, x[..., :size].transpose(1, 2))
