"""Write the embedded demo data ``src/actseg/data/demo.npz`` from the archives' ``.ts`` files.

Regenerate from the repository root with::

    PYTHONPATH=src python -m actseg.data._make_demo --source ../shared/data

``--source`` holds ``BasicMotions_{TRAIN,TEST}.ts`` and ``GunPoint_{TRAIN,TEST}.ts`` (copied unchanged
from the sktime 1.2.0 wheel, ``sktime/datasets/data/``). Deterministic (numpy only, fixed seed): each
sequence concatenates 4-8 recordings of one split, drawn from a shuffled pool of that split's
recordings (refilled when used up) so that two consecutive recordings never share a class. The file
stores, per set and split, the recordings used (float32 ``x``, class ids ``y``, their row in the
``.ts`` file ``source``), the recording indices of all sequences in playing order (``order``) and the
recordings per sequence (``counts``); :func:`actseg.data.load_demo` builds the sequences from them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._demo import DEMO_FILE
from ._ts import read_ts

SEED = 20261205
# name -> (.ts file stem, .ts class label -> class id, sequences per split)
SOURCES = {
    "basicmotions": ("BasicMotions", {"Standing": 0, "Running": 1, "Walking": 2, "Badminton": 3},
                     {"train": 30, "test": 15}),
    "gunpoint": ("GunPoint", {"1": 0, "2": 1}, {"train": 24, "test": 16}),
}
MIN_RECORDINGS, MAX_RECORDINGS = 4, 8


def compose(y: np.ndarray, sequences: int, rng: np.random.Generator) -> list[list[int]]:
    """Recording indices of each sequence, in playing order, no two consecutive of one class.

    Args:
        y: ``(R,)`` class ids of the split's recordings (at least two classes).
        sequences: number of sequences.
        rng: the random generator.

    Returns:
        ``sequences`` lists of 4-8 indices into ``y``.
    """
    pool: list[int] = []
    out = []
    for _ in range(sequences):
        order: list[int] = []
        for _ in range(int(rng.integers(MIN_RECORDINGS, MAX_RECORDINGS + 1))):
            previous = y[order[-1]] if order else -1
            pick = next((i for i in pool if y[i] != previous), None)
            if pick is None:  # pool used up, or only the previous class left in it
                pool.extend(int(i) for i in rng.permutation(len(y)))
                pick = next(i for i in pool if y[i] != previous)
            pool.remove(pick)
            order.append(pick)
        out.append(order)
    return out


def build(source: Path) -> dict[str, np.ndarray]:
    """The arrays of ``demo.npz`` (see the module docstring)."""
    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {}
    for name, (stem, class_ids, counts) in SOURCES.items():
        for split, sequences in counts.items():
            x, names = read_ts(source / f"{stem}_{split.upper()}.ts")
            y = np.array([class_ids[str(label)] for label in names], dtype=np.int64)
            videos = compose(y, sequences, rng)
            used = np.unique(np.concatenate([np.array(v) for v in videos]))
            new_index = np.full(len(y), -1, dtype=np.int64)
            new_index[used] = np.arange(len(used))
            arrays[f"{name}_{split}_x"] = x[used].astype(np.float32)
            arrays[f"{name}_{split}_y"] = y[used].astype(np.int8)
            arrays[f"{name}_{split}_source"] = used.astype(np.int16)
            arrays[f"{name}_{split}_order"] = new_index[np.concatenate([np.array(v) for v in videos])].astype(np.int16)
            arrays[f"{name}_{split}_counts"] = np.array([len(v) for v in videos], dtype=np.int8)
    return arrays


def main() -> None:
    """Parse ``--source``/``--out`` and write the file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/data"),
                        help="folder with the BasicMotions and GunPoint .ts files (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=DEMO_FILE, help=f"output file (default: {DEMO_FILE})")
    args = parser.parse_args()
    try:
        arrays = build(args.source)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
