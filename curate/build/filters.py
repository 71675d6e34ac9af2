"""Row filters. Each answers keep-or-drop with a reason; dropped rows go to ``rejects.jsonl``.

Filters run on canonical rows, after a record has been built, in the order given by the spec:
length bounds, then duplicates (exact or normalised, across all splits: the first in input
order is kept).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from curate.digests import DigestMap, SpilledStrings
from curate.rows import Rejection
from curate.spec import FiltersSpec

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
# ASCII characters that are neither word characters nor whitespace: what _PUNCT removes
_ASCII_PUNCT = {c: None for c in range(128) if _PUNCT.match(chr(c))}


# The same for ASCII text as bytes: lower case, and the separators \x1c-\x1f (whitespace to
# str.split, not to bytes.split) turned into spaces; bytes.translate then deletes the punctuation.
_ASCII_TABLE = bytes(c + 32 if 65 <= c <= 90 else 32 if 0x1C <= c <= 0x1F else c for c in range(256))
_ASCII_DELETE = bytes(sorted(_ASCII_PUNCT))


def normalized_bytes(text: str) -> bytes:
    """``normalize_text(text)`` encoded as UTF-8 (what the duplicate filter hashes), with a
    faster path for ASCII text.

    >>> normalized_bytes("  Hello,\x1fWORLD! ") == normalize_text("hello world").encode()
    True
    """
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(_ASCII_TABLE, _ASCII_DELETE).split())
    return normalize_text(text).encode("utf-8")


def normalize_text(text: str) -> str:
    """The form two texts share when they differ only in case, spacing, punctuation or Unicode form.

    >>> normalize_text("  Hello,   WORLD! ") == normalize_text("hello world")
    True
    """
    if text.isascii():  # most text: NFKC and casefold change nothing that lower() does not
        return " ".join(text.lower().translate(_ASCII_PUNCT).split())
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub("", text).split())


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(m.get("content", "")) if isinstance(m, dict) else len(str(m)) for m in value)
    return len(str(value)) if value is not None else 0


class LengthFilter:
    """Drop rows whose column is shorter or longer than the spec allows (in characters)."""

    def __init__(self, min_chars: dict[str, int], max_chars: dict[str, int]):
        self.min_chars = min_chars
        self.max_chars = max_chars

    def __call__(self, row: dict[str, Any]) -> Rejection | None:
        for column, low in self.min_chars.items():
            value = row.get(column)
            n = len(value) if type(value) is str else _chars(value)
            if n < low:
                return Rejection(f"too_short:{column}", f"{n} < {low} characters")
        for column, high in self.max_chars.items():
            value = row.get(column)
            n = len(value) if type(value) is str else _chars(value)
            if n > high:
                return Rejection(f"too_long:{column}", f"{n} > {high} characters")
        return None


class DuplicateFilter:
    """Drop rows equal (or equal after normalisation) to an earlier row; remembers 16-byte digests
    (``curate.digests``: what that width makes the chance of a wrong match) and, for naming the
    first row, the numbers of the records they came from (the ids spilled to a temporary file)."""

    def __init__(self, columns: Sequence[str], normalized: bool):
        self.columns = tuple(columns)
        self.normalized = normalized
        self.seen = DigestMap()  # digest -> number of the record in self.ids
        self.ids: SpilledStrings | None = None  # made on the first kept row (workers never need it)
        self._last: tuple[str, int] | None = None  # the last record kept and its number

    def __call__(self, row: dict[str, Any]) -> Rejection | None:
        return self.check(self.keys(row), str(row.get("record_id")))

    def keys(self, row: dict[str, Any]) -> tuple[bytes, bytes | None]:
        """What the filter remembers of a row: the digest of its text, and of its normalised text
        (None unless the filter normalises). Export workers compute them; ``check`` decides in order."""
        parts = [_text_of(row.get(c)) for c in self.columns]
        if not self.normalized:
            return _digest(parts), None
        norm = hashlib.blake2b(b"\x1f".join([normalized_bytes(p) for p in parts]), digest_size=16).digest()
        return _digest(parts), norm

    def check(self, keys: tuple[bytes, bytes | None], record_id: str) -> Rejection | None:
        """Keep the row (and remember it for ``record_id``), or drop it as a duplicate of an earlier one."""
        exact, norm = keys
        first = self.seen.get(exact)
        if first is not None:
            return Rejection("duplicate", f"same as record {self._id(first)}")
        if norm is not None:
            first = self.seen.get(norm)
            if first is not None:
                return Rejection(
                    "duplicate_normalized", f"same as record {self._id(first)} after normalisation"
                )
        if self._last is not None and self._last[0] == record_id:  # another row of the same record
            number = self._last[1]
        else:
            if self.ids is None:
                self.ids = SpilledStrings()
            number = self.ids.append(record_id)
            self._last = (record_id, number)
        if norm is not None:
            self.seen.setdefault(norm, number)
        self.seen.setdefault(exact, number)
        return None

    def _id(self, number: int) -> str:
        assert self.ids is not None  # a digest was seen: a record was kept
        return self.ids[number]


def _digest(parts: list[str]) -> bytes:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).digest()


RowFilter = Callable[[dict[str, Any]], "Rejection | None"]


def build_filters(spec: FiltersSpec, dedup_keys: Sequence[str]) -> list[RowFilter]:
    """The spec's filters in order: length bounds, then duplicates over ``dedup_keys`` (the task's)."""
    filters: list[RowFilter] = []
    if spec.min_chars or spec.max_chars:
        filters.append(LengthFilter(spec.min_chars, spec.max_chars))
    if spec.dedup != "none":
        filters.append(DuplicateFilter(dedup_keys, normalized=spec.dedup == "normalized"))
    return filters
