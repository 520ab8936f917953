"""SegmentationMetrics under torch.distributed: 2 CPU ranks (gloo) give exactly the single-process numbers."""

from __future__ import annotations

import json
import math
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from actseg.metrics import PROTOCOLS, SegmentationMetrics

pytestmark = pytest.mark.dist


def _videos():
    rng = np.random.default_rng(7)
    out = []
    for _ in range(7):
        length = int(rng.integers(20, 200))
        target = np.repeat(rng.integers(0, 6, size=length), rng.integers(3, 30, size=length))[:length]
        pred = target.copy()
        noise = rng.random(length) < 0.08
        pred[noise] = rng.integers(0, 6, size=int(noise.sum()))
        out.append((pred, target))
    out.append((np.zeros(5, np.int64), np.zeros(5, np.int64)))  # all background: edit NaN
    return out


def _shards():
    # DistributedSampler-like: 8 videos over 2 ranks, uneven (5 + 3) and video 0 repeated as padding
    return [[0, 2, 4, 6, 7], [1, 3, 5, 0]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, out_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        videos = _videos()
        results = {}
        for protocol in PROTOCOLS:
            metric = SegmentationMetrics(protocol=protocol, background=[0])
            for i in _shards()[rank]:
                pred, target = videos[i]
                metric.update(torch.from_numpy(pred), torch.from_numpy(target), video_ids=f"video{i}")
            results[protocol] = {"dataset": metric.compute(), "videos": len(metric.per_video())}
        if rank == 0:
            with open(out_path, "w") as f:
                json.dump(results, f)
    finally:
        dist.destroy_process_group()


def test_two_ranks_equal_one_process(tmp_path):
    out_path = tmp_path / "ddp.json"
    mp.spawn(_worker, args=(2, _free_port(), str(out_path)), nprocs=2, join=True)
    ddp = json.loads(out_path.read_text())
    videos = _videos()
    for protocol in PROTOCOLS:
        single = SegmentationMetrics(protocol=protocol, background=[0])
        for i, (pred, target) in enumerate(videos):
            single.update(pred, target, video_ids=f"video{i}")
        expected = single.compute()
        got = ddp[protocol]["dataset"]
        assert ddp[protocol]["videos"] == len(videos)
        for key, value in expected.items():
            if math.isnan(value):
                assert got[key] is None or math.isnan(got[key])
            else:
                assert got[key] == value, (protocol, key)
