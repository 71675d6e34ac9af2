"""What every source gives the pipeline: dataset settings and a stream in which each raw input row
is either an :class:`ArgillaRecord` or an :class:`Unreadable` saying why it could not become one.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

from curate.digests import FirstSeen, digest_of
from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings
from curate.sources._text import BadRow

#: Reject reasons a source gives (the pipeline writes them to rejects.jsonl as they are).
UNREADABLE_ROW = "unreadable_row"  # the row itself is malformed (CSV/JSON syntax, encoding, nesting)
DUPLICATE_ID = "duplicate_id"  # a later row with an id already taken (the first one stands)
BAD_ID = "bad_id"  # an id that is a list, mapping or boolean


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An input row that did not become a record.

    ``record_id`` is the row's id where known, else a deterministic locator such as
    ``"data.csv:17"`` (file and line) or ``"records.json[3]"`` (array element), relative to the
    export, never an absolute path.
    """

    record_id: str
    reason: str
    detail: str


@dataclass(slots=True)
class Answers:
    """One question's responses over a batch of rows, flattened: row ``k`` holds items
    ``starts[k]`` to ``starts[k + 1] - 1``, in the order listed, each as ``make_responses`` makes
    it (user id, value, status, time; ``updated`` is None where no item has a time)."""

    starts: list[int]
    users: list[str]
    values: list[Any]
    statuses: list[Any]
    updated: list[Any] | None = None

    @classmethod
    def unanswered(cls, rows: int) -> Answers:
        """A question nobody answered on any of ``rows`` rows."""
        return cls([0] * (rows + 1), [], [], [])


@dataclass(slots=True)
class ColumnBatch:
    """A batch of raw rows, column by column (what the export's column-wise build reads).

    Where ``simple[k]`` is true, row ``k`` would become exactly the record these columns say: every
    settings field's value (None where absent), every settings question's responses (``answers``,
    in the settings' order), the record status, and no value that would reject it. Any other row is
    made into a record row by row (``row(k)``, then ``make_record``), as ``scan`` makes it.
    ``ids`` holds the raw ids (a ``BadRow`` for a row that cannot be read) until
    ``RowSource.column_scan`` names them: then each is a record id or an ``Unreadable``.
    """

    ids: list[Any]
    simple: list[bool]
    fields: dict[str, list[Any]]
    answers: dict[str, Answers]
    status: list[Any] | None
    row: Callable[[int], Mapping[str, Any]]

    @classmethod
    def ids_only(cls, ids: list[Any]) -> ColumnBatch:
        """A batch that will not be built (an export worker's batch for another worker): its raw
        ids only, to be named as a whole read names them."""
        return cls(ids, [False] * len(ids), {}, {}, None, _not_read)


def _not_read(k: int) -> Mapping[str, Any]:
    raise AssertionError("a batch read by its ids only is not built")


class BadValue(CurateError):
    """A value whose type does not fit its question or field: the record is rejected with
    ``reason`` (``bad_value:<name>``), never stringified."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


Item = ArgillaRecord | Unreadable


class Source(ABC):
    """A stream of feedback records plus what is known about the dataset.

    ``rows_read`` is the number of raw input rows the last iteration read (records and unreadable
    rows alike): ``input_records == rows_read`` once the stream is consumed; ``rows_unreadable``
    how many of them came out as :class:`Unreadable`. Sources that override ``__iter__``
    themselves must keep both.
    """

    layout: ClassVar[str]
    #: False where the export lost response statuses (Argilla 2.x ``to_disk``).
    status_known: ClassVar[bool] = True
    #: The file or folder read (None for a live server): an export may not be written over it.
    location: Path | None = None

    def __init__(self) -> None:
        self.settings = DatasetSettings()
        self.warnings: list[str] = []
        self.rows_read = 0
        self.rows_unreadable = 0
        self.unnamed_ids = 0

    @property
    @abstractmethod
    def name(self) -> str:
        """A short label for provenance columns (never contains credentials)."""

    @abstractmethod
    def __iter__(self) -> Iterator[Item]: ...

    def count(self) -> int | None:
        """Number of records where cheap to know (for progress bars); None otherwise."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the manifest and the dataset card record about this source."""
        return {"layout": self.layout, "name": self.name}


def _is_blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


class RowSource(Source):
    """A source read row by row: counts every raw row, names rows without an id ``row-<n>``,
    rejects later rows whose id is taken, and turns malformed rows and ill-typed values into
    :class:`Unreadable` items instead of losing or bending them.

    Subclasses give ``_raw_rows`` (one item per raw row, a dict or a ``BadRow``), ``_raw_id`` and
    ``_build``.
    """

    #: False where rows have no id column at all (every row is named by position, no warning).
    has_ids: bool = True
    #: False where reading again is not free (a live server): export workers each read the rows
    rereadable: bool = True
    #: The columns ``_raw_id`` reads: rows an export worker does not build may come with these only.
    id_columns: tuple[str, ...] = ()

    @abstractmethod
    def _raw_rows(self, wanted: Callable[[int], bool] | None) -> Iterator[Mapping[str, Any] | BadRow]:
        """One item per raw row; a row whose 0-based position ``wanted`` says no to (it will not be
        built) may come with only its ``id_columns``."""

    @abstractmethod
    def _raw_id(self, row: Mapping[str, Any]) -> Any: ...

    def _raw_ids(self, rows: Sequence[Mapping[str, Any] | BadRow]) -> list[Any]:
        """Each raw row's raw id, or the ``BadRow`` it is (a batch's ``ids`` before naming)."""
        return [row if isinstance(row, BadRow) else self._raw_id(row) for row in rows]

    @abstractmethod
    def _build(self, row: Mapping[str, Any], record_id: str) -> ArgillaRecord: ...

    def __iter__(self) -> Iterator[Item]:
        return cast(Iterator[Item], self.scan(None))  # with no ``build`` every row is built: no None

    def scan(self, build: Callable[[int], bool] | None) -> Iterator[Item | None]:
        """The stream with its counts (``rows_read``, ``rows_unreadable``, the note on unnamed ids);
        where ``build`` says no for a row's 0-based position, the row is not made into a record and
        ``None`` stands for it (its id still counts: a later row may not take it). Forked export
        workers each build their own share of the rows this way (``curate.pipeline.build_workers``)."""
        self.rows_read = 0
        self.rows_unreadable = 0
        self.unnamed_ids = 0
        for item in self._items(build):
            if isinstance(item, Unreadable):
                self.rows_unreadable += 1
            yield item
        self._note_unnamed()

    def _items(self, build: Callable[[int], bool] | None) -> Iterator[Item | None]:
        first_at = FirstSeen()  # the position of each id's first row: 12 bytes in memory per id
        for item in self._raw_rows(build):
            position = self.rows_read  # 0-based over all shards: what row-<n> names
            self.rows_read += 1
            named = self._name(item, position, first_at)
            if isinstance(named, Unreadable):
                yield named
            elif build is not None and not build(position):
                yield None
            else:
                yield self.make_record(cast(Mapping[str, Any], item), named)

    def _name(self, item: Mapping[str, Any] | BadRow, position: int, first_at: FirstSeen) -> str | Unreadable:
        """The record id of the raw row at ``position`` (``row-<n>`` where it has none), or why it
        is no record: a malformed row, an id that is no text, or an id an earlier row took."""
        if isinstance(item, BadRow):
            return Unreadable(item.locator, UNREADABLE_ROW, item.detail)
        return self._name_id(self._raw_id(item) if self.has_ids else None, position, first_at)

    def _name_id(self, raw_id: Any, position: int, first_at: FirstSeen) -> str | Unreadable:
        if type(raw_id) is str and raw_id and not raw_id[0].isspace():
            record_id = raw_id  # the common case: text, not blank
        elif isinstance(raw_id, (bool, list, tuple, dict)):
            return Unreadable(
                f"row-{position}", BAD_ID, f"id is {type(raw_id).__name__} {raw_id!r:.60}, expected text"
            )
        elif _is_blank(raw_id):
            record_id = f"row-{position}"
            if self.has_ids:
                self.unnamed_ids += 1
        else:
            record_id = str(raw_id)
        first = first_at.first(digest_of(record_id), position)
        if first is not None:
            return Unreadable(
                record_id,
                DUPLICATE_ID,
                f"id {record_id!r} already used by row {first} (0-based over the source); the first is kept",
            )
        return record_id

    def make_record(self, row: Mapping[str, Any], record_id: str) -> Item:
        """One raw row made into a record, or the ``Unreadable`` saying which value does not fit."""
        try:
            return self._build(row, record_id)
        except BadValue as err:
            return Unreadable(record_id, err.reason, err.detail)

    # --- column-wise reading (the export's batch path, ``curate.build.columns``) ---------------------

    def _raw_columns(self, wanted: Callable[[int], bool] | None) -> Iterator[ColumnBatch] | None:
        """The rows in batches, column by column, with raw ids in ``ids`` (a ``BadRow`` where a row
        cannot be read); a batch whose 0-based index ``wanted`` says no to (it will not be built)
        may come as ``ColumnBatch.ids_only``. None where this source reads row by row only."""
        return None

    def column_scan(self, wanted: Callable[[int], bool] | None = None) -> Iterator[ColumnBatch] | None:
        """The stream of ``scan`` in batches (None where the source has no column-wise reader):
        each batch's ``ids`` hold the record id of each row, or the ``Unreadable`` it is; the
        counts and the note on unnamed ids are kept as ``scan`` keeps them. Where ``wanted``
        says no to a batch's 0-based index, the batch may hold its ids only (an export worker's
        batches for the other workers: every worker names every row)."""
        batches = self._raw_columns(wanted)
        if batches is None:
            return None
        return self._named_batches(batches)

    def _named_batches(self, batches: Iterator[ColumnBatch]) -> Iterator[ColumnBatch]:
        self.rows_read = 0
        self.rows_unreadable = 0
        self.unnamed_ids = 0
        first_at = FirstSeen()
        has_ids = self.has_ids
        for batch in batches:
            ids: list[str | Unreadable] = []
            position = self.rows_read
            for raw in batch.ids:
                if isinstance(raw, BadRow):
                    named: str | Unreadable = Unreadable(raw.locator, UNREADABLE_ROW, raw.detail)
                else:
                    named = self._name_id(raw if has_ids else None, position, first_at)
                if isinstance(named, Unreadable):
                    self.rows_unreadable += 1
                ids.append(named)
                position += 1
            self.rows_read = position
            batch.ids = ids
            yield batch
        self._note_unnamed()

    def _note_unnamed(self) -> None:
        if self.unnamed_ids:
            note = (
                f"{self.name}: {self.unnamed_ids} record(s) without an id were named row-<n> "
                "(their 0-based position in the source)"
            )
            if note not in self.warnings:
                self.warnings.append(note)
