"""Per-record state kept for a whole export in fixed-size entries: a map from 16-byte digests to
small integers (ids taken, duplicate keys, answer counts), and record ids spilled to a temporary
file. Memory then grows by about 16 bytes per entry, not by one Python object (~150 bytes) each.

What a digest keeps of a value is 96 bits (its first 12 bytes): two different values share them with
probability about ``n**2 / 2**97`` among ``n`` values, about 1e-15 for 10 million. That is the
chance that a record is wrongly taken for a duplicate in an export of that size.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from array import array
from collections.abc import Iterator
from typing import Any

#: Entries kept in a plain dict before they move into the sorted arrays (bounded: ~5 MB).
RECENT = 1 << 15
_BUCKET_SHIFT = 56  # an entry's bucket: the top byte of its 64-bit key (256 sorted arrays)
_FILTER_BITS = 1 << 24  # one bit per (key mod 2**24): most absent keys are answered without a search
_U32 = 0xFFFFFFFF


def digest_of(text: str) -> bytes:
    """The 16-byte digest a :class:`DigestMap` keys a text by (lone surrogates allowed).

    >>> len(digest_of("rec-1")), digest_of("a") == digest_of("a"), digest_of("a") == digest_of("b")
    (16, True, False)
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class DigestMap:
    """A map from digests (bytes, at least 12 long, evenly spread) to non-negative integers.

    New entries go into a dict; every ``RECENT`` of them move into 256 sorted arrays of
    (64-bit key, 32-bit tag, value), so an entry costs 16 bytes (20 once a value passes 2**32).

    >>> m = DigestMap()
    >>> m.setdefault(digest_of("a"), 7), m.setdefault(digest_of("a"), 9), m.get(digest_of("b"))
    (7, 7, None)
    >>> m.increment(digest_of("b")); m.increment(digest_of("b")); sorted(m.values())
    [2, 7]
    """

    def __init__(self, recent: int = RECENT) -> None:
        self._limit = recent
        self._recent: dict[bytes, int] = {}
        self._size = 0  # entries in the arrays
        self._keys: list[Any] = []  # per bucket: sorted uint64 keys (numpy arrays, made on first move)
        self._tags: list[Any] = []  # uint32: the digest's bytes 8-11, to tell equal keys apart
        self._vals: list[Any] = []  # uint32, or uint64 once a value needs it
        self._wide = False
        self._filter = bytearray()  # made with the arrays

    def __len__(self) -> int:
        return len(self._recent) + self._size

    def get(self, digest: bytes) -> int | None:
        value = self._recent.get(digest)
        if value is not None or not self._size:
            return value
        found = self._find(digest)
        return None if found is None else int(self._vals[found[0]][found[1]])

    def setdefault(self, digest: bytes, value: int) -> int:
        """The digest's value; where it has none yet, ``value``, which it keeps from now on."""
        old = self.get(digest)
        if old is not None:
            return old
        self._recent[digest] = value
        if value > _U32:
            self._wide = True
        if len(self._recent) >= self._limit:
            self._move()
        return value

    def increment(self, digest: bytes, by: int = 1) -> None:
        """Add ``by`` to the digest's value (an absent digest counts from 0)."""
        recent = self._recent
        if digest in recent:
            recent[digest] += by
            if recent[digest] > _U32:
                self._wide = True
            return
        found = self._find(digest) if self._size else None
        if found is None:
            self.setdefault(digest, by)
            return
        bucket, i = found
        if int(self._vals[bucket][i]) + by > _U32 and not self._wide:
            self._widen()
        self._vals[bucket][i] += by

    def values(self) -> Iterator[int]:
        """Every value, in no particular order."""
        yield from self._recent.values()
        for vals in self._vals:
            yield from vals.tolist()

    def sum_of_squares(self) -> int:
        """``sum(v * v for v in self.values())``, exactly, without a Python int per entry."""
        total = sum(v * v for v in self._recent.values())
        if not self._size:
            return total
        import numpy as np

        for vals in self._vals:
            if not len(vals):
                continue
            top = int(vals.max())
            if len(vals) * top * top < 1 << 64:  # no square, and no sum of them, can wrap in uint64
                total += int((vals.astype(np.uint64) ** 2).sum())
            else:
                total += sum(v * v for v in vals.tolist())
        return total

    def _find(self, digest: bytes) -> tuple[int, int] | None:
        key = int.from_bytes(digest[:8], "little")
        bit = key & (_FILTER_BITS - 1)
        if not self._filter[bit >> 3] >> (bit & 7) & 1:
            return None
        bucket = key >> _BUCKET_SHIFT
        keys = self._keys[bucket]
        i = int(keys.searchsorted(key))
        if i == len(keys) or int(keys[i]) != key:
            return None
        tag = int.from_bytes(digest[8:12], "little")
        tags = self._tags[bucket]
        while True:  # equal keys are next to each other; their tags tell them apart
            if int(tags[i]) == tag:
                return bucket, i
            i += 1
            if i == len(keys) or int(keys[i]) != key:
                return None

    def _widen(self) -> None:
        import numpy as np

        self._vals = [v.astype(np.uint64) for v in self._vals]
        self._wide = True

    def _move(self) -> None:
        """Move the recent entries into the sorted arrays, bucket by bucket (each bucket is copied
        once: memory while moving grows by one bucket, not by the whole map)."""
        import numpy as np

        if not self._keys:
            self._keys = [np.empty(0, np.uint64) for _ in range(256)]
            self._tags = [np.empty(0, np.uint32) for _ in range(256)]
            self._vals = [np.empty(0, np.uint32) for _ in range(256)]
            self._filter = bytearray(_FILTER_BITS // 8)
        if self._wide and self._vals[0].dtype != np.uint64:
            self._widen()
        entries = np.frombuffer(
            b"".join(d[:12] for d in self._recent), dtype=np.dtype([("key", "<u8"), ("tag", "<u4")])
        )
        vals = np.fromiter(self._recent.values(), dtype=self._vals[0].dtype, count=len(self._recent))
        self._size += len(self._recent)
        self._recent = {}
        order = np.argsort(entries["key"], kind="stable")
        keys, tags, vals = entries["key"][order], entries["tag"][order], vals[order]
        bits = keys & np.uint64(_FILTER_BITS - 1)
        np.bitwise_or.at(
            np.frombuffer(self._filter, dtype=np.uint8),
            (bits >> np.uint64(3)).astype(np.intp),
            (np.uint8(1) << (bits & np.uint64(7)).astype(np.uint8)),
        )
        buckets = (keys >> np.uint64(_BUCKET_SHIFT)).astype(np.intp)
        bounds = np.searchsorted(buckets, np.arange(257))
        for bucket in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
            lo, hi = int(bounds[bucket]), int(bounds[bucket + 1])
            at = self._keys[bucket].searchsorted(keys[lo:hi])
            self._keys[bucket] = np.insert(self._keys[bucket], at, keys[lo:hi])
            self._tags[bucket] = np.insert(self._tags[bucket], at, tags[lo:hi])
            self._vals[bucket] = np.insert(self._vals[bucket], at, vals[lo:hi])


class SpilledStrings:
    """Strings appended in order and read back by number, kept in anonymous temporary files
    (gone when closed, or when the process ends), so memory stays flat however many there are.

    >>> ids = SpilledStrings()
    >>> ids.append("rec-1"), ids.append("rec-\u00e9"), ids[1], ids[0]
    (0, 1, 'rec-\u00e9', 'rec-1')
    >>> ids.close()
    """

    def __init__(self, flush: int = 1 << 16) -> None:
        self._flush_at = flush  # bytes of text, or ends, held before they go to their file
        self._text = tempfile.TemporaryFile(prefix="curate-ids-")  # noqa: SIM115  # closed by close()
        self._ends_file = tempfile.TemporaryFile(prefix="curate-ids-")  # noqa: SIM115
        self._written = 0  # bytes of text in its file
        self._pending = bytearray()  # text appended, not yet in the file
        self._ends = array("Q")  # where each string not yet spilled ends (offsets in the text)
        self._spilled = 0  # strings whose end is in the ends file (8 bytes each, little-endian)

    def __len__(self) -> int:
        return self._spilled + len(self._ends)

    def append(self, text: str) -> int:
        """Keep ``text``; returns its number."""
        self._pending += text.encode("utf-8", "surrogatepass")
        self._ends.append(self._written + len(self._pending))
        if len(self._pending) >= self._flush_at:
            self._flush()
        if len(self._ends) >= self._flush_at:
            ends = self._ends
            if sys.byteorder != "little":
                ends.byteswap()
            os.pwrite(self._ends_file.fileno(), ends.tobytes(), 8 * self._spilled)
            self._spilled += len(ends)
            self._ends = array("Q")
        return len(self) - 1

    def __getitem__(self, number: int) -> str:
        if not 0 <= number < len(self):
            raise IndexError(number)
        start = self._end(number - 1) if number else 0
        end = self._end(number)
        if start >= self._written:  # not yet in the file
            data = bytes(self._pending[start - self._written : end - self._written])
        else:
            data = os.pread(self._text.fileno(), end - start, start)
        return data.decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._text.close()
        self._ends_file.close()

    def _end(self, number: int) -> int:
        if number >= self._spilled:
            return int(self._ends[number - self._spilled])
        return int.from_bytes(os.pread(self._ends_file.fileno(), 8, 8 * number), "little")

    def _flush(self) -> None:
        if self._pending:
            os.pwrite(self._text.fileno(), bytes(self._pending), self._written)
            self._written += len(self._pending)
            self._pending = bytearray()
