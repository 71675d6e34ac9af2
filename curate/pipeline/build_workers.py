"""Building rows in forked worker processes (``curate export --num-proc N`` without a tokenizer).

The rows of the source are cut into chunks of ``CHUNK`` consecutive input rows, or, where the
source reads column-wise (``RowSource.column_scan``), each of its batches is a chunk, built as one
process builds it (``curate.build.columns``); worker ``k`` of ``n`` builds chunks ``k``, ``k + n``,
... Each worker reads the whole source (its own file handles),
so every worker names every row and sees every taken id exactly as one process would, but only its
own chunks become records, rows and finished lines. The exporting process takes the chunks back
strictly in input order and does all that depends on earlier records: the duplicate filter (from
the digests the workers computed), the quality figures (from each record's share), splits, files
and rejects. So the export is the same, byte for byte, for any number of workers.

Workers are forked (they inherit the opened source, the spec's builder and the filters) before the
export starts any thread of its own; they write nothing and hand back errors as they were raised, at
their place in the input order. Starting, stopping, signals and a worker that dies are
``curate.pipeline.executor``'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from curate.build.columns import batch_outcomes
from curate.build.filters import DuplicateFilter, RowFilter
from curate.build.quality import QualityStats, RecordStats
from curate.errors import CurateError
from curate.pipeline.executor import Channel, Executor
from curate.rows import Kept, Rejected, Rejection, RejectRecord
from curate.sinks.files import row_line
from curate.sources.base import ColumnBatch, RowSource, Source, Unreadable
from curate.sources.rows import BATCH_ROWS

if TYPE_CHECKING:
    from curate.build.builder import Builder
    from curate.rows import Outcome

# Input rows per chunk handed out: whole Parquet/Arrow reader batches, so that a worker turns only
# the ids of the batches it does not build into Python objects.
CHUNK = 2 * BATCH_ROWS

#: One input row after a worker's part: (record id, rejection or None, the record's share of the
#: quality figures or None for an unreadable row, None for a rejected record or else each row as
#: a rejection from a filter or (line, duplicate-filter keys or None)).
Entry = tuple[str, Rejection | None, "RecordStats | None", list[Any] | None]


def why_not_forked(source: Source) -> str | None:
    """Why this source cannot be read by forked workers (None when it can)."""
    if not sys.platform.startswith("linux"):
        return "forked workers are used on Linux only"
    if not isinstance(source, RowSource):
        return f"the {source.layout} source is read in one pass"
    if not source.rereadable:
        return "each worker would read the live server again"
    return None


class BuildWorkers:
    """``workers`` forked processes building the export's rows; ``outcomes`` yields them in input
    order. A context manager: leaving it stops every worker."""

    def __init__(
        self,
        source: RowSource,
        builder: Builder,
        filters: list[RowFilter],
        stats: QualityStats,
        names: tuple[str, ...],
        workers: int,
        column_wise: bool = False,
    ):
        self.source = source
        self.column_wise = column_wise  # build as one process does where the source reads in batches
        self.builder = builder
        self.stats = stats
        self.names = names
        self.n = workers
        # The duplicate filter (always last) depends on every earlier row: workers compute its
        # keys, the exporting process decides. The others look at one row only: workers run them.
        self.dedup = filters[-1] if filters and isinstance(filters[-1], DuplicateFilter) else None
        self.pre = filters[:-1] if self.dedup is not None else list(filters)
        if any(isinstance(f, DuplicateFilter) for f in self.pre):
            raise AssertionError("the duplicate filter must come last")
        self._executor: Executor | None = None

    # --- the exporting process ---------------------------------------------------------------

    def __enter__(self) -> BuildWorkers:
        self._executor = Executor(self.n, self._work, start="fork").__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._executor is not None:
            self._executor.__exit__(*exc)
            self._executor = None

    def outcomes(self) -> Iterator[Outcome]:
        """Every input row's outcome, in input order (as ``iter_outcomes`` gives them); the quality
        figures are added as they come. Once consumed, the source's counts are set as one pass
        would have left them."""
        dedup = self.dedup
        unreadable = 0
        chunk = 0
        while True:
            message = self._receive(chunk % self.n)
            if message[0] == "end":
                _, rows_read, unnamed_ids, warnings = message
                self._check_ends(chunk % self.n, rows_read)
                break
            assert message[1] == chunk, f"worker sent chunk {message[1]}, expected {chunk}"
            for record_id, rejection, part, rows in message[2]:
                if part is None:
                    unreadable += 1
                else:
                    self.stats.add_part(part)
                if rows is None:
                    assert rejection is not None
                    yield Rejected(record_id, rejection)
                    continue
                kept: list[bytes] = []
                dropped: list[Rejection] = []
                for row in rows:
                    if type(row) is Rejection:
                        dropped.append(row)
                        continue
                    line, keys = row
                    verdict = None if dedup is None else dedup.check(keys, record_id)
                    if verdict is None:
                        kept.append(line)
                    else:
                        dropped.append(verdict)
                yield Kept(record_id, kept, dropped) if kept else Rejected(record_id, dropped[0])
            chunk += 1
        source = self.source
        source.rows_read = rows_read
        source.rows_unreadable = unreadable
        source.unnamed_ids = unnamed_ids
        source.warnings[:] = warnings

    def _check_ends(self, first: int, rows_read: int) -> None:
        """Every other worker must end too, having read as many rows: each read the source itself,
        so a file changed while the export ran would otherwise go unnoticed."""
        for k in range(self.n):
            if k == first:
                continue
            message = self._receive(k)
            if message[0] != "end" or message[1] != rows_read:
                seen = f"{message[1]} rows" if message[0] == "end" else "more rows"
                raise CurateError(
                    f"{self.source.name}: the source changed while it was read (one read saw {rows_read} rows, "
                    f"another {seen}); nothing was written"
                )

    def _receive(self, k: int) -> tuple[Any, ...]:
        assert self._executor is not None, "use BuildWorkers as a context manager"
        return self._executor.receive(k)  # type: ignore[no-any-return]

    # --- a worker process ----------------------------------------------------------------------

    def _work(self, channel: Channel) -> None:
        """Worker ``channel.index``'s part: its chunks, then how the read ended (the executor sends
        an error raised here, at its place in the input order, and stops the worker on a signal)."""
        k, n = channel.index, self.n
        my_batch: Callable[[int], bool] = lambda index: index % n == k  # noqa: E731
        batches = self.source.column_scan(my_batch) if self.column_wise else None
        if batches is not None:
            self._work_by_columns(channel, batches, my_batch)
            return
        mine: Callable[[int], bool] = lambda position: (position // CHUNK) % n == k  # noqa: E731
        entries: list[Entry] = []
        current = -1
        position = -1
        for item in self.source.scan(mine):
            position += 1
            chunk = position // CHUNK
            if chunk % n != k:
                continue
            if chunk != current:
                if entries:
                    channel.send(("chunk", current, entries))
                    channel.check_parent()
                entries, current = [], chunk
            entries.append(self._entry(item))
        if entries:
            channel.send(("chunk", current, entries))
        channel.send(("end", position + 1, self.source.unnamed_ids, list(self.source.warnings)))

    def _work_by_columns(
        self, channel: Channel, batches: Iterator[ColumnBatch], mine: Callable[[int], bool]
    ) -> None:
        """``_work`` where the source reads column-wise: chunk ``b`` is the source's batch ``b``,
        built as one process builds it (``batch_outcomes``) where ``mine(b)``; the other workers'
        batches are read by their ids only."""
        parts = _Parts(self.builder)
        for index, batch in enumerate(batches):
            if not mine(index):
                continue
            entries: list[Entry] = []
            # no filter in the build: each row's verdict stays at its place among the record's rows
            for outcome in batch_outcomes(self.builder, (), self.source, parts, (batch,)):
                part = parts.take()
                if isinstance(outcome, Rejected):
                    entries.append((outcome.record_id, outcome.rejection, part, None))
                else:
                    entries.append((outcome.record_id, None, part, self._row_entries(outcome.rows)))
            channel.send(("chunk", index, entries))
            channel.check_parent()
        source = self.source
        channel.send(("end", source.rows_read, source.unnamed_ids, list(source.warnings)))

    def _entry(self, item: Any) -> Entry:
        if isinstance(item, Unreadable):
            return item.record_id, Rejection(item.reason, item.detail), None, None
        part = self.stats.part(item)
        try:
            rows = self.builder.build(item)
        except RejectRecord as rej:
            return item.id, rej.rejection, part, None
        return item.id, None, part, self._row_entries(rows)

    def _row_entries(self, rows: list[dict[str, Any]]) -> list[Any]:
        """A built record's rows in order: each a rejection from a filter that runs here, or its
        finished line with its duplicate-filter keys."""
        out: list[Any] = []
        dedup = self.dedup
        for row in rows:
            verdict = None
            for f in self.pre:
                verdict = f(row)
                if verdict is not None:
                    break
            if verdict is not None:
                out.append(verdict)
            else:
                out.append((row_line(row, self.names), None if dedup is None else dedup.keys(row)))
        return out


class _Parts(QualityStats):
    """A worker's quality figures: each record's share (``RecordStats``) kept for the exporting
    process, which adds them up in input order, instead of being added up here."""

    def __init__(self, builder: Builder):
        super().__init__(builder)
        self._last: RecordStats | None = None

    def add_part(self, part: RecordStats) -> None:
        self._last = part

    def take(self) -> RecordStats | None:
        """The share of the record just built (None after an unreadable row)."""
        part, self._last = self._last, None
        return part
