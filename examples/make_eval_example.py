"""Build the small MS-TCN-layout evaluation example ``examples/data/basicmotions/`` from real data.

Source: the BasicMotions recordings of the UEA multivariate archive (Bagnall et al. 2018,
arXiv:1811.00075), smartwatch accelerometer + gyroscope (6 channels, 10 Hz, 100 frames per
recording, one activity per recording: Standing, Running, Walking, Badminton).

* Test "videos": each joins 4-6 TEST recordings end to end (the class boundaries are joins of
  separate recordings, not natural transitions); ground truth = the recording's class per frame.
* Predictions: an honest per-frame classifier, nearest class centroid on the mean and standard
  deviation of each channel over a centred 15-frame window, fitted on the TRAIN recordings and
  applied to every frame of the test videos. Windows straddling a join mix two activities, which
  gives the short spurious segments real frame-wise models produce.

Deterministic (numpy only, fixed seed). Regenerate from the repository root with::

    python examples/make_eval_example.py --source ../shared/data

then evaluate with::

    actseg eval --ground-truth examples/data/basicmotions/groundTruth \\
        --predictions examples/data/basicmotions/predictions \\
        --mapping examples/data/basicmotions/mapping.txt --background Standing
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from actseg.data import read_ts  # train_basicmotions.py imports it from here too
from actseg.io import write_label_file

REPO_ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("Standing", "Running", "Walking", "Badminton")
RECORDINGS_PER_VIDEO = (4, 5, 6, 5, 4, 6, 5, 5)  # 8 videos using each of the 40 TEST recordings once
WINDOW = 15
SEED = 20240607
SOURCE_FILES = ("BasicMotions_TRAIN.ts", "BasicMotions_TEST.ts")
NEEDS = (
    "This script needs the BasicMotions recordings of the UEA multivariate archive (Bagnall et al. 2018, "
    "arXiv:1811.00075) in sktime's .ts text format, BasicMotions_TRAIN.ts and BasicMotions_TEST.ts, in "
    "the folder given by --source (the sktime wheel ships them under sktime/datasets/data/). "
    "The generated example is already in the repository under examples/data/basicmotions/."
)


def window_features(x: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Mean and standard deviation of each channel over a centred sliding window.

    The sequence is edge-padded by ``window // 2`` frames on each side; sums over the window come
    from cumulative sums (no loop over frames).

    Args:
        x: ``(D, T)`` one sequence, channels first.
        window: odd window length in frames.

    Returns:
        ``(2 * D, T)``: the ``D`` window means, then the ``D`` window standard deviations.
    """
    half = window // 2
    padded = np.pad(x, ((0, 0), (half, half)), mode="edge")
    zeros = np.zeros((x.shape[0], 1))
    sums = np.concatenate([zeros, np.cumsum(padded, axis=1)], axis=1)
    squares = np.concatenate([zeros, np.cumsum(padded**2, axis=1)], axis=1)
    mean = (sums[:, window:] - sums[:, :-window]) / window
    var = (squares[:, window:] - squares[:, :-window]) / window - mean**2
    return np.concatenate([mean, np.sqrt(np.clip(var, 0.0, None))], axis=0)


def fit_centroids(x_train: np.ndarray, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardisation statistics and per-class centroids of the window features of TRAIN recordings.

    Args:
        x_train: ``(N, D, L)`` recordings.
        y_train: ``(N,)`` class ids.

    Returns:
        ``(mu, sigma, centroids)``: feature mean and std ``(F,)`` and class centroids ``(C, F)`` of
        the standardised features, ``F = 2 * D``, ``C = len(CLASSES)``.
    """
    feats = np.stack([window_features(rec) for rec in x_train])  # (N, F, L)
    frames = feats.transpose(0, 2, 1).reshape(-1, feats.shape[1])  # (N * L, F)
    frame_labels = np.repeat(y_train, feats.shape[2])
    mu, sigma = frames.mean(axis=0), frames.std(axis=0) + 1e-8
    z = (frames - mu) / sigma
    centroids = np.stack([z[frame_labels == c].mean(axis=0) for c in range(len(CLASSES))])
    return mu, sigma, centroids


def predict_frames(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest-centroid class of every frame of one sequence.

    Args:
        x: ``(D, T)`` sequence.
        mu, sigma: ``(F,)`` standardisation statistics from :func:`fit_centroids`.
        centroids: ``(C, F)`` class centroids.

    Returns:
        ``(T,)`` int64 predicted class ids.
    """
    z = (window_features(x).T - mu) / sigma  # (T, F)
    dist = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)  # (T, C)
    return dist.argmin(axis=1).astype(np.int64)


def compose_videos(y_test: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Group the TEST recordings into videos, avoiding two recordings of one class in a row.

    Args:
        y_test: ``(N,)`` class ids of the TEST recordings, ``N == sum(RECORDINGS_PER_VIDEO)``.
        rng: the random generator.

    Returns:
        One array of recording indices per video, in playing order.
    """
    pool = list(rng.permutation(len(y_test)))
    videos = []
    for count in RECORDINGS_PER_VIDEO:
        order: list[int] = []
        for _ in range(count):
            previous = y_test[order[-1]] if order else -1
            choice = next((i for i in pool if y_test[i] != previous), pool[0])
            pool.remove(choice)
            order.append(int(choice))
        videos.append(np.array(order))
    return videos


def write_example(out: Path, source: Path) -> None:
    """Write ``mapping.txt``, ``groundTruth/``, ``predictions/`` and ``splits/`` under ``out``."""
    x_train, names_train = read_ts(source / "BasicMotions_TRAIN.ts")
    x_test, names_test = read_ts(source / "BasicMotions_TEST.ts")
    mapping = {name: i for i, name in enumerate(CLASSES)}
    y_train = np.array([mapping[name] for name in names_train])
    y_test = np.array([mapping[name] for name in names_test])
    if len(y_test) != sum(RECORDINGS_PER_VIDEO):
        raise ValueError(f"{source}: expected {sum(RECORDINGS_PER_VIDEO)} TEST recordings, got {len(y_test)}")

    mu, sigma, centroids = fit_centroids(x_train, y_train)
    rng = np.random.default_rng(SEED)
    out.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{i} {name}\n" for name, i in mapping.items())
    (out / "mapping.txt").write_text(lines, encoding="utf-8")
    videos = []
    for number, recordings in enumerate(compose_videos(y_test, rng), start=1):
        video = f"basicmotions_{number:02d}"
        signal = np.concatenate(list(x_test[recordings]), axis=1)  # (6, 100 * len(recordings))
        target = np.repeat(y_test[recordings], x_test.shape[2])
        write_label_file(out / "groundTruth" / f"{video}.txt", target, mapping, layout="ground_truth")
        write_label_file(out / "predictions" / video, predict_frames(signal, mu, sigma, centroids), mapping)
        videos.append(video)
    (out / "splits").mkdir(exist_ok=True)
    bundle = "".join(f"{video}.txt\n" for video in videos)
    (out / "splits" / "test.split1.bundle").write_text(bundle, encoding="utf-8")


def main() -> None:
    """Parse ``--source``/``--out`` and write the example."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_ROOT / ".." / "shared" / "data",
        help="folder with BasicMotions_TRAIN.ts and BasicMotions_TEST.ts (default: ../shared/data)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "examples" / "data" / "basicmotions",
        help="output folder (default: examples/data/basicmotions)",
    )
    args = parser.parse_args()
    missing = [name for name in SOURCE_FILES if not (args.source / name).is_file()]
    if missing:
        parser.exit(2, f"{parser.prog}: error: --source {args.source}: missing {' and '.join(missing)}. {NEEDS}\n")
    try:
        write_example(args.out, args.source)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
