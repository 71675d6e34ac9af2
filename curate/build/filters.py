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

from curate.digests import DigestMap, Spill
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
    """Drop rows equal (or equal after normalisation) to an earlier row.

    What it keeps per row in memory is one 12-byte entry (``curate.digests.DigestMap``): the row's
    normalised digest (with ``normalized``; also its exact one where the text is not all ASCII),
    else its exact digest, pointing into a temporary file (``Spill``) that holds both full 16-byte
    digests and the record id of each kept row. A match is confirmed against the full digests, so a
    row is only ever dropped for an equal 128-bit digest; a clash of the map's 72 bits can at most
    keep a duplicate (chance ``n**2 / 2**73``, see ``curate.digests``).

    Why one entry is enough for ASCII text: its normalised form is its own normal form, so a row
    whose text (or normalised text) equals a kept ASCII row's text or normalised text has the same
    normalised digest, and is found under it. Other text (Unicode normalisation and case folding are
    not always idempotent) keeps both digests, and answers exactly as one dict of both would.
    """

    def __init__(self, columns: Sequence[str], normalized: bool):
        self.columns = tuple(columns)
        self.normalized = normalized
        self.seen = DigestMap()  # digest -> number of the kept row in self.rows
        self.rows: Spill | None = None  # per kept row: exact digest, normalised digest, record id

    def __call__(self, row: dict[str, Any]) -> Rejection | None:
        return self.check(self.keys(row), str(row.get("record_id")))

    def keys(self, row: dict[str, Any]) -> tuple[bytes, bytes | None, bool]:
        """What the filter remembers of a row: the digest of its text, of its normalised text (None
        unless the filter normalises), and whether the text is all ASCII. Export workers compute
        them; ``check`` decides in order."""
        parts = [_text_of(row.get(c)) for c in self.columns]
        text = "\x1f".join(parts)
        exact = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        if not self.normalized:
            return exact, None, True
        norm = hashlib.blake2b(b"\x1f".join([normalized_bytes(p) for p in parts]), digest_size=16).digest()
        return exact, norm, text.isascii()

    def check(self, keys: tuple[bytes, bytes | None, bool], record_id: str) -> Rejection | None:
        """Keep the row (and remember it for ``record_id``), or drop it as a duplicate of an earlier one."""
        exact, norm, ascii_only = keys
        # An all-ASCII row with a normalised digest needs no search by its exact one: a kept row's
        # digest equal to it is a normalised text (ASCII rows keep only that), so this row's text is
        # its own normal form and its normalised digest is the same.
        if norm is None or not ascii_only:
            number = self.seen.get(exact)
            found = None if number is None else self._entry(number, exact)
            if found is not None:
                return Rejection("duplicate", f"same as record {found[2]}")
        if norm is not None:
            number = self.seen.get(norm)
            found = None if number is None else self._entry(number, norm)
            if found is not None:
                kept_exact, kept_norm, first = found
                if exact in (kept_exact, kept_norm):  # an ASCII row's exact digest is not in the map
                    return Rejection("duplicate", f"same as record {first}")
                return Rejection("duplicate_normalized", f"same as record {first} after normalisation")
        if self.rows is None:
            self.rows = Spill()
        kept = self.rows.append(exact + (norm or bytes(16)) + record_id.encode("utf-8", "surrogatepass"))
        # ``number``: the map's entry under the digest searched last (exact, or normalised where
        # there is one). Absent, the digest is added without a second search; present, it stays
        # (another digest shares its 72 bits).
        if number is None:
            self.seen.add(exact if norm is None else norm, kept)
        if norm is not None and not ascii_only:
            self.seen.setdefault(exact, kept)
        return None

    def _entry(self, number: int, digest: bytes) -> tuple[bytes, bytes, str] | None:
        """Kept row ``number`` (the map's entry under ``digest``), where one of its digests is ``digest``."""
        assert self.rows is not None  # a digest is remembered: a row was kept
        entry = self.rows[number]
        kept_exact, kept_norm = entry[:16], entry[16:32]
        if digest != kept_exact and digest != kept_norm:  # another digest with the same 72 bits
            return None
        return kept_exact, kept_norm, entry[32:].decode("utf-8", "surrogatepass")


RowFilter = Callable[[dict[str, Any]], "Rejection | None"]


def build_filters(spec: FiltersSpec, dedup_keys: Sequence[str]) -> list[RowFilter]:
    """The spec's filters in order: length bounds, then duplicates over ``dedup_keys`` (the task's)."""
    filters: list[RowFilter] = []
    if spec.min_chars or spec.max_chars:
        filters.append(LengthFilter(spec.min_chars, spec.max_chars))
    if spec.dedup != "none":
        filters.append(DuplicateFilter(dedup_keys, normalized=spec.dedup == "normalized"))
    return filters
