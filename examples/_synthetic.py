"""A documented synthetic generator of 2D skeleton sequences (COCO-17) for the skeleton examples.

No package ships 2D skeleton recordings with frame labels, so the skeleton examples (the 2D-skeleton
heatmap paper, InterAct's skeleton branch) train on this generator unless ``--data`` points at a real
dataset. It draws a 2D stick figure in the COCO-17 joint layout (the 17 keypoints of COCO / HRNet /
OpenPose-COCO, the layout PoseC3D and the 2D-skeleton paper render heatmaps from) that performs
actions with distinct joint motion patterns, and concatenates 3–6 actions into one labelled sequence:

==  ================  ==========================================================================
id  action            motion (angles of the limbs from straight down, periodic with period P)
==  ================  ==========================================================================
0   ``idle``          arms hanging, slow sway of the whole body (P 50–70 frames)
1   ``wave``          right upper arm raised, the forearm swings ±0.6 rad (P 14–22)
2   ``walk``          arms and legs swing in counter-phase, knees bend, the body drifts sideways
3   ``squat``         hips drop while the knees open and bend, arms rise to the front
4   ``jumping_jack``  arms rise overhead and legs open together, the body hops
5   ``punch``         both upper arms horizontal, the forearms extend in turn
==  ================  ==========================================================================

The figure is built by forward kinematics in body units (y up, the body about 1.7 units tall, the
lower ankle on the ground), then placed in a 640 × 480 image (x right, y down, pixels) with a
per-video scale (100–160 pixels per unit) and position. Each segment draws its own period and phase;
Gaussian noise (``noise`` body units, default 0.008 ≈ 1 pixel) jitters every joint, and confidences
are uniform in [0.7, 1]. ``drop_limb_prob`` reproduces the 2D-skeleton paper's robustness test
(§IV-B, Tab. III): in each frame, with that probability, one random limb (an arm or a leg: shoulder,
elbow, wrist or hip, knee, ankle) is missing — confidence 0 and coordinates NaN; the drops come from a
random stream of their own, so the videos are otherwise those of ``drop_limb_prob=0``.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same videos on
every machine and every rank.

Layouts: :func:`skeleton_videos` gives per-video numpy arrays; :func:`collate_skeletons` pads a batch
to ``keypoints (B, T, V, 2)`` (the input of ``actseg.targets.skeleton_heatmaps``), ``confidence
(B, T, V)``, ``labels (B, T)`` (``-100`` padded) and ``mask (B, T)``; :func:`gcn_input` gives the
``(C, T, V)`` skeleton of a GCN (``C = 2``: x, y; ``C = 3``: x, y, confidence), coordinates centred on
the mid-hip and divided by the shoulder–hip distance of the video, missing joints at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ACTIONS",
    "COCO_EDGES",
    "COCO_JOINTS",
    "COCO_LIMBS",
    "IMAGE_SIZE",
    "LIMB_JOINTS",
    "SkeletonVideo",
    "collate_skeletons",
    "gcn_input",
    "skeleton_videos",
]

ACTIONS = ("idle", "wave", "walk", "squat", "jumping_jack", "punch")
COCO_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle")
#: PoseC3D's COCO limbs, the ``limbs=`` of ``actseg.targets.skeleton_heatmaps`` (16 pairs).
COCO_LIMBS = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
              (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))
#: The COCO-17 skeleton as a tree of ``(child, parent)`` bones rooted at the nose (joint 0), the edge list
#: ``actseg.layers.multiscale_adjacency(COCO_EDGES, 17)`` takes (16 bones, every joint reachable).
COCO_EDGES = ((1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 0), (7, 5), (9, 7), (8, 6), (10, 8), (11, 5), (12, 6),
              (13, 11), (15, 13), (14, 12), (16, 14))
#: ``(height, width)`` of the image the keypoints live in, in pixels.
IMAGE_SIZE = (480, 640)

#: The joints of each limb of the 2D-skeleton paper's robustness test (§IV-C): left arm, right arm, left leg, right leg.
LIMB_JOINTS = ((5, 7, 9), (6, 8, 10), (11, 13, 15), (12, 14, 16))
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.28, 0.25, 0.45, 0.43


@dataclass
class SkeletonVideo:
    """One synthetic video: ``keypoints (T, V, 2)`` float32 image pixels ``(x, y)`` (NaN where missing),
    ``confidence (T, V)`` float32 in [0, 1], ``labels (T,)`` int64 indices into :data:`ACTIONS`."""

    keypoints: np.ndarray
    confidence: np.ndarray
    labels: np.ndarray
    video_id: str


def _pose(action: int, t: np.ndarray, period: float, phase: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Limb angles ``(4, 2, T)`` (upper, lower segment of left/right arm, left/right leg), a body offset
    ``(2, T)`` (dx, jump) for one action over frames ``t``."""
    n = t.shape[0]
    w = 2 * np.pi * t / period + phase
    s, u = np.sin(w), (1 - np.cos(w)) / 2
    ang = np.zeros((4, 2, n))
    ang[0:2, 0] = 0.15
    ang[2:4, 0] = 0.08
    dx, jump = np.zeros(n), np.zeros(n)
    if action == 0:  # idle
        ang[0:2, 0] += 0.04 * s
        dx = 0.03 * s
    elif action == 1:  # wave: right arm (index 1) up, forearm swings
        ang[1, 0] = 2.5
        ang[1, 1] = 0.6 * s
    elif action == 2:  # walk
        ang[0, 0] += 0.35 * s
        ang[1, 0] -= 0.35 * s
        ang[2, 0] += 0.3 * s
        ang[3, 0] -= 0.3 * s
        ang[2, 1] = -0.5 * np.maximum(s, 0)
        ang[3, 1] = -0.5 * np.maximum(-s, 0)
        dx = 0.004 * period * w / (2 * np.pi)  # steady drift
    elif action == 3:  # squat
        ang[2:4, 0] += 0.6 * u
        ang[2:4, 1] = -1.3 * u
        ang[0:2, 0] += 1.3 * u
    elif action == 4:  # jumping jack
        ang[0:2, 0] += 2.6 * u
        ang[2:4, 0] += 0.3 * u
        jump = 0.08 * np.abs(s)
    else:  # punch: upper arms horizontal, forearms folded in, extending in turn
        ang[0:2, 0] = 1.5
        ang[0, 1] = -2.0 * (1 - np.maximum(s, 0))
        ang[1, 1] = -2.0 * (1 - np.maximum(-s, 0))
    return ang, dx, jump


def _figure(ang: np.ndarray, dx: np.ndarray, jump: np.ndarray) -> np.ndarray:
    """Forward kinematics: joint positions ``(T, 17, 2)`` in body units (y up) from :func:`_pose`'s output."""
    n = dx.shape[0]
    side = np.array([1.0, -1.0, 1.0, -1.0])[:, None]  # left = +x
    direction1 = np.stack([side * np.sin(ang[:, 0]), -np.cos(ang[:, 0])], -1)  # (4, T, 2)
    direction2 = np.stack([side * np.sin(ang[:, 0] + ang[:, 1]), -np.cos(ang[:, 0] + ang[:, 1])], -1)
    lengths1 = np.array([_UPPER_ARM, _UPPER_ARM, _THIGH, _THIGH])[:, None, None]
    lengths2 = np.array([_FOREARM, _FOREARM, _SHIN, _SHIN])[:, None, None]
    legs = lengths1[2:, :, 0] * np.cos(ang[2:, 0]) + lengths2[2:, :, 0] * np.cos(ang[2:, 0] + ang[2:, 1])
    hip_y = legs.max(0) + jump  # the lower ankle touches the ground (y = 0) unless hopping
    out = np.zeros((n, 17, 2))
    out[..., 0] = dx[:, None]
    top = hip_y + 0.5
    head = {0: (0.0, 0.18), 1: (0.03, 0.21), 2: (-0.03, 0.21), 3: (0.07, 0.19), 4: (-0.07, 0.19)}
    for j, (x, y) in head.items():
        out[:, j, 0] += x
        out[:, j, 1] = top + y
    roots = {0: (0.18, top), 1: (-0.18, top), 2: (0.1, hip_y), 3: (-0.1, hip_y)}
    for limb, (root, mid, end) in enumerate(LIMB_JOINTS):
        x, y = roots[limb]
        out[:, root, 0] += x
        out[:, root, 1] = y
        out[:, mid] = out[:, root] + lengths1[limb] * direction1[limb]
        out[:, end] = out[:, mid] + lengths2[limb] * direction2[limb]
    return out


def skeleton_videos(num_videos: int, *, seed: int = 0, segments: tuple[int, int] = (3, 6),
                    segment_frames: tuple[int, int] = (30, 70), noise: float = 0.008,
                    drop_limb_prob: float = 0.0) -> list[SkeletonVideo]:
    """``num_videos`` synthetic COCO-17 videos of ``segments`` (inclusive range) actions each.

    Consecutive actions differ; each lasts ``segment_frames`` (inclusive range) frames. See the module
    docstring for the actions, the image frame and ``drop_limb_prob``.

    >>> videos = skeleton_videos(2, seed=0)
    >>> v = videos[0]
    >>> v.keypoints.shape[1:], v.confidence.shape == v.labels.shape + (17,), v.labels.dtype
    ((17, 2), True, dtype('int64'))
    """
    rng = np.random.default_rng(seed)
    drop_rng = np.random.default_rng([seed, 1])  # its own stream: dropping limbs leaves the videos as they are
    videos = []
    for index in range(num_videos):
        count = int(rng.integers(segments[0], segments[1] + 1))
        actions = [int(rng.integers(len(ACTIONS)))]
        while len(actions) < count:
            actions.append(int((actions[-1] + rng.integers(1, len(ACTIONS))) % len(ACTIONS)))
        poses, labels, x0 = [], [], 0.0
        for action in actions:
            n = int(rng.integers(segment_frames[0], segment_frames[1] + 1))
            period = float(rng.uniform(50, 70) if action == 0 else rng.uniform(14, 22) if action == 1
                           else rng.uniform(16, 28))
            ang, dx, jump = _pose(action, np.arange(n, dtype=np.float64), period, float(rng.uniform(0, 2 * np.pi)))
            body = _figure(ang, dx + x0, jump)
            x0 = float(body[-1, [11, 12], 0].mean())  # the next action starts where this one ended
            poses.append(body)
            labels.append(np.full(n, action, dtype=np.int64))
        body = np.concatenate(poses) + rng.normal(0.0, noise, size=(sum(len(p) for p in poses), 17, 2))
        scale = rng.uniform(100, 160)
        span = np.ptp(body[..., 0]) * scale
        centre_x = rng.uniform(160 + span / 2, max(160 + span / 2, 480 - span / 2)) - body[..., 0].mean() * scale
        ground_y = rng.uniform(380, 440)
        keypoints = np.stack([centre_x + scale * body[..., 0], ground_y - scale * body[..., 1]], -1)
        confidence = rng.uniform(0.7, 1.0, size=keypoints.shape[:2])
        if drop_limb_prob > 0:
            frames = np.flatnonzero(drop_rng.random(keypoints.shape[0]) < drop_limb_prob)
            limbs = np.asarray(LIMB_JOINTS)[drop_rng.integers(4, size=frames.shape[0])]  # (F, 3) joints
            confidence[frames[:, None], limbs] = 0.0
            keypoints[frames[:, None], limbs] = np.nan
        videos.append(SkeletonVideo(keypoints.astype(np.float32), confidence.astype(np.float32),
                                    np.concatenate(labels), f"synthetic_{seed}_{index:04d}"))
    return videos


def collate_skeletons(videos: list[SkeletonVideo]) -> dict:
    """Pad videos into torch tensors: ``keypoints (B, T, V, 2)`` (0 in padding, NaN kept where missing),
    ``confidence (B, T, V)`` (0 in padding), ``labels (B, T)`` int64 (``-100`` in padding), ``mask (B, T)``
    bool, ``lengths (B,)`` and ``video_ids``.

    >>> batch = collate_skeletons(skeleton_videos(2, seed=0))
    >>> batch["keypoints"].shape[-2:], int(batch["mask"].sum()) == int(batch["lengths"].sum())
    (torch.Size([17, 2]), True)
    """
    lengths = [v.labels.shape[0] for v in videos]
    b, t = len(videos), max(lengths)
    keypoints = torch.zeros(b, t, 17, 2)
    confidence = torch.zeros(b, t, 17)
    labels = torch.full((b, t), -100, dtype=torch.long)
    for i, v in enumerate(videos):
        keypoints[i, : lengths[i]] = torch.from_numpy(v.keypoints)
        confidence[i, : lengths[i]] = torch.from_numpy(v.confidence)
        labels[i, : lengths[i]] = torch.from_numpy(v.labels)
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(t)[None] < lengths_t[:, None]
    return {"keypoints": keypoints, "confidence": confidence, "labels": labels, "mask": mask,
            "lengths": lengths_t, "video_ids": [v.video_id for v in videos]}


def gcn_input(video: SkeletonVideo, channels: int = 3) -> np.ndarray:
    """The ``(C, T, V)`` float32 skeleton of a GCN: x, y (and confidence for ``channels=3``), centred on
    the mid-hip of each frame and divided by the video's median shoulder–hip distance, y up; missing
    joints (NaN) are 0 in every channel.

    >>> gcn_input(skeleton_videos(1, seed=0)[0]).shape[0], gcn_input(skeleton_videos(1)[0], channels=2).shape[0]
    (3, 2)
    """
    if channels not in (2, 3):
        raise ValueError(f"channels: expected 2 or 3, got {channels!r}")
    kp = video.keypoints.astype(np.float64)
    hip = np.nanmean(kp[:, [11, 12]], axis=1, keepdims=True)  # (T, 1, 2)
    hip = np.where(np.isnan(hip), np.nanmean(hip, axis=0, keepdims=True), hip)
    torso = np.nanmedian(np.linalg.norm(np.nanmean(kp[:, [5, 6]], 1) - hip[:, 0], axis=-1))
    xy = (kp - hip) / (torso if np.isfinite(torso) and torso > 0 else 1.0)
    xy[..., 1] *= -1
    missing = np.isnan(xy).any(-1)
    xy[missing] = 0.0
    parts = [xy[..., 0], xy[..., 1]] + ([np.where(missing, 0.0, video.confidence)] if channels == 3 else [])
    return np.stack(parts).astype(np.float32)
