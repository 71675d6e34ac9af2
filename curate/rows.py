"""Small pieces every row builder shares: the ``Rejection`` value (a stable reason code and a
detail), the exception that carries it out of a builder, and blank/text checks on values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.records import ArgillaRecord


class Rejection(NamedTuple):
    """Why a record or a row is not kept; ``reason`` is a stable code counted in the manifest.
    The builder, the filters, the readers and the tokenizer all answer with it.

    >>> Rejection("too_short:response", "1 < 2 characters").reason
    'too_short:response'
    """

    reason: str
    detail: str = ""


#: What a row transform answers for one row: the row's new column values; a list of them where the
#: row becomes several rows (a long document split into chunks), in order; or why it is not kept.
TransformResult: TypeAlias = dict[str, Any] | list[dict[str, Any]] | Rejection


class RowTransform(Protocol):
    """A step that adds columns to kept rows (``curate.tokens.tokenize.RowTransform`` adds token ids
    and labels): its columns, the new values of a batch of rows (:data:`TransformResult`), and
    what it did, for the manifest."""

    def fields(self) -> list[pa.Field]: ...

    def batch(self, rows: Sequence[dict[str, Any]]) -> Sequence[TransformResult]: ...

    def summary(self) -> dict[str, Any]: ...


class RejectRecord(Exception):
    """Raised by a row builder for a record that yields no row."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.rejection = Rejection(reason, detail)

    @property
    def reason(self) -> str:
        return self.rejection.reason

    @property
    def detail(self) -> str:
        return self.rejection.detail


def blank(value: Any) -> bool:
    """No usable value: None, NaN, whitespace-only text or an empty list/mapping.

    >>> [blank(v) for v in (None, "  ", [], "x", 0)]
    [True, True, True, False, False]
    """
    if type(value) is str:  # the common case first
        return not value.strip()
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def as_text(value: Any, column: str) -> str:
    """A value as text for ``column``; numbers are written out, anything else rejects the record.

    >>> as_text(3, "rating")
    '3'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RejectRecord(f"not_text:{column}", f"got {type(value).__name__}")


# What became of one record: the pipeline and its workers hand these over.
@dataclass(frozen=True, slots=True)
class Kept:
    """A record with at least one row kept. ``record`` is None, and ``rows`` are finished lines
    (``curate.sinks.files.row_line``), where an export worker built it."""

    record_id: str
    rows: list[Any]  # dicts, or lines (bytes) from an export worker
    dropped: list[Rejection] = field(default_factory=list)  # rows filtered out of a kept record
    record: ArgillaRecord | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that ends in rejects.jsonl; ``record`` is None where the input row could not be
    read into a record (``record_id`` is then its id or a ``file:line`` locator)."""

    record_id: str
    rejection: Rejection
    record: ArgillaRecord | None = None

    @property
    def reason(self) -> str:
        return self.rejection.reason

    @property
    def detail(self) -> str:
        return self.rejection.detail


Outcome = Kept | Rejected
