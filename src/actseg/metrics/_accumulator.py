"""One base for the dataset accumulators: per-video records keyed by video id, merge, reset, DDP gather.

:class:`SegmentationMetrics`, :class:`BoundaryF1` and :class:`DetectionMAP` keep one record per
video (a row of sufficient statistics, or a video's segments), keyed by its video id, plus optional
integer counters (videos skipped by a protocol). This base declares that state once, in the spirit of
torchmetrics' ``Metric.add_state``: a subclass names its record kinds (``RECORDS``) and counters
(``COUNTERS``), adds records with :meth:`_record`, and reads the state of every rank, each video
counted once, with :meth:`_gathered`. ``reset``, ``merge`` and pickling come with it.

Why keyed records and not running sums: ``DistributedSampler`` pads the last batch by repeating
videos; a record keyed by video id can be counted once (the first copy), so a multi-rank evaluation
gives the single-process numbers exactly. Records without an id (``None``) are never de-duplicated.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from .._distributed import first_occurrences, gather_objects

__all__ = ["VideoAccumulator"]


class VideoAccumulator(abc.ABC):
    """Base of the dataset metrics: records per video id, ``reset``, ``merge``, DDP gather + de-dup.

    Subclasses set ``RECORDS`` (names of the record kinds, e.g. ``("rows",)`` or
    ``("predictions", "ground_truth")``) and ``COUNTERS`` (names of integer counters summed over
    merges and ranks), implement :meth:`_config` (the configuration two accumulators must share to
    be merged) and call :meth:`reset` at the end of ``__init__``. The state is plain lists and ints,
    so an accumulator pickles (and travels through ``all_gather_object``) as it is.
    """

    RECORDS: ClassVar[tuple[str, ...]] = ("rows",)
    COUNTERS: ClassVar[tuple[str, ...]] = ()

    _ids: dict[str, list[Any]]
    _records: dict[str, list[Any]]
    _counters: dict[str, int]

    # -- state -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every video seen so far."""
        self._ids = {kind: [] for kind in self.RECORDS}
        self._records = {kind: [] for kind in self.RECORDS}
        self._counters = dict.fromkeys(self.COUNTERS, 0)

    def _record(self, ids: list[Any], records: list[Any], kind: str | None = None) -> None:
        """Append ``records`` (one per id, in order) to the record kind ``kind`` (the first by default)."""
        kind = self.RECORDS[0] if kind is None else kind
        if len(ids) != len(records):  # pragma: no cover - internal invariant
            raise AssertionError("one id per record")
        self._ids[kind].extend(ids)
        self._records[kind].extend(records)

    def _count(self, counter: str, n: int = 1) -> None:
        self._counters[counter] += n

    def _num_records(self, kind: str | None = None) -> int:
        """Records of one kind on this process (duplicates included)."""
        return len(self._records[self.RECORDS[0] if kind is None else kind])

    @abc.abstractmethod
    def _config(self) -> tuple[Any, ...]:
        """The configuration that two accumulators must share to be merged."""

    # -- merge and gather --------------------------------------------------------------------------

    def merge(self, other: Any) -> Any:
        """Add the videos of ``other`` (same class and configuration) to this accumulator; returns ``self``.

        Video ids seen by both count once when the result is computed (the copy of ``self`` first).
        """
        cls = type(self)
        if not isinstance(other, cls):
            raise TypeError(f"other: expected a {cls.__name__}, got {type(other).__name__}")
        if self._config() != other._config():
            raise ValueError(f"other: expected the configuration {self._config()}, got {other._config()}")
        for kind in self.RECORDS:
            self._record(list(other._ids[kind]), list(other._records[kind]), kind)
        for counter in self.COUNTERS:
            self._count(counter, other._counters[counter])
        return self

    def _gathered(self) -> tuple[dict[str, tuple[list[Any], list[Any]]], dict[str, int]]:
        """The state of every rank (``torch.distributed`` when initialised), each video id once.

        Returns ``({kind: (ids, records)}, {counter: total})``; records keep the order of arrival
        (rank 0 first), and a repeated non-``None`` id keeps its first record. Collective under
        ``torch.distributed``: call it on every rank.
        """
        parts = gather_objects((self._ids, self._records, self._counters))
        state = {}
        for kind in self.RECORDS:
            ids = [vid for part in parts for vid in part[0][kind]]
            records = [rec for part in parts for rec in part[1][kind]]
            keep = first_occurrences(ids)
            state[kind] = ([ids[i] for i in keep], [records[i] for i in keep])
        counters = {c: sum(int(part[2][c]) for part in parts) for c in self.COUNTERS}
        return state, counters
