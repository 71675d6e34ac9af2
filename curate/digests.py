"""Per-record state kept for a whole export in fixed-size entries: a map from 16-byte digests to
small integers (ids taken, duplicate keys, answer counts), and record ids spilled to a temporary
file. Memory then grows by about 16 bytes per entry, not by one Python object (~150 bytes) each.

A map keeps 72 bits of a digest (its first 9 bytes): two different values share them with
probability about ``n**2 / 2**73`` among ``n`` values in one map: 1e-9 for 3 million, 1e-8 for 10
million. Where that would decide a record's fate (ids taken, duplicate rows), a match is confirmed
against the full 16-byte digest kept in a temporary file, so a clash can only leave a repeat
unrecognised, never drop a record; in the agreement counts it would count two texts as one.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterator

#: Entries kept in a plain dict before they move into the sorted arrays (bounded: ~5 MB).
RECENT = 1 << 15
_FILTER_BITS = 1 << 24  # one bit per (key mod 2**24): most absent keys are answered without a search
_U32 = 0xFFFFFFFF
_KEY = struct.Struct("<Q").unpack_from  # a digest's 64-bit key (bytes 0-7); byte 8 picks its bucket
_NUMPY = {"I": "=u4", "Q": "=u8"}  # an array's typecode as numpy reads it (native order, as array keeps it)


def digest_of(text: str) -> bytes:
    """The 16-byte digest a :class:`DigestMap` keys a text by (lone surrogates allowed).

    >>> len(digest_of("rec-1")), digest_of("a") == digest_of("a"), digest_of("a") == digest_of("b")
    (16, True, False)
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class DigestMap:
    """A map from digests (bytes, at least 9 long, evenly spread) to non-negative integers.

    New entries go into a dict; every ``RECENT`` of them move into 256 buckets (by the digest's
    byte 8) of sorted arrays of (64-bit key, value), so an entry costs 12 bytes (16 once a value
    passes 2**32). A lookup in a bucket is a binary search (``bisect`` on an ``array``, no Python
    object per entry).

    >>> m = DigestMap()
    >>> m.setdefault(digest_of("a"), 7), m.setdefault(digest_of("a"), 9), m.get(digest_of("b"))
    (7, 7, None)
    >>> m.increment(digest_of("b")); m.increment(digest_of("b")); sorted(m.values())
    [2, 7]
    """

    def __init__(self, recent: int = RECENT) -> None:
        self._limit = recent
        self._recent: dict[bytes, int] = {}
        self._size = 0  # entries in the buckets
        self._keys: list[array[int]] = []  # per bucket: sorted 64-bit keys (the digest's bytes 0-7)
        self._vals: list[array[int]] = []  # "I", or "Q" once a value needs it
        self._filter = bytearray()  # one bit per key mod 2**24: most absent digests need no search

    def __len__(self) -> int:
        return len(self._recent) + self._size

    def get(self, digest: bytes) -> int | None:
        value = self._recent.get(digest)
        if value is not None or not self._size:
            return value
        found = self._find(digest)
        return None if found is None else self._vals[found[0]][found[1]]

    def setdefault(self, digest: bytes, value: int) -> int:
        """The digest's value; where it has none yet, ``value``, which it keeps from now on."""
        recent = self._recent
        old = recent.get(digest)
        if old is not None:
            return old
        if self._size:
            found = self._find(digest)
            if found is not None:
                return self._vals[found[0]][found[1]]
        self.add(digest, value)
        return value

    def add(self, digest: bytes, value: int) -> None:
        """Give ``digest``, which ``get`` just found absent, its ``value`` (no second search)."""
        recent = self._recent
        recent[digest] = value
        if len(recent) >= self._limit:
            self._move()

    def increment(self, digest: bytes, by: int = 1) -> None:
        """Add ``by`` to the digest's value (an absent digest counts from 0)."""
        recent = self._recent
        if digest in recent:
            recent[digest] += by
            return
        found = self._find(digest) if self._size else None
        if found is None:
            self.setdefault(digest, by)
            return
        bucket, i = found
        vals = self._vals[bucket]
        if vals.typecode == "I" and vals[i] + by > _U32:
            self._widen()
            vals = self._vals[bucket]
        vals[i] += by

    def values(self) -> Iterator[int]:
        """Every value, in no particular order."""
        yield from self._recent.values()
        for vals in self._vals:
            yield from vals

    def sum_of_squares(self) -> int:
        """``sum(v * v for v in self.values())``, exactly, without a Python int per entry."""
        total = sum(v * v for v in self._recent.values())
        if not self._size:
            return total
        import numpy as np

        for vals in self._vals:
            if not len(vals):
                continue
            top = max(vals)
            if len(vals) * top * top < 1 << 64:  # no square, and no sum of them, can wrap in uint64
                squares = np.frombuffer(vals, dtype=_NUMPY[vals.typecode]).astype(np.uint64) ** 2
                total += int(squares.sum())
            else:
                total += sum(v * v for v in vals)
        return total

    def _find(self, digest: bytes) -> tuple[int, int] | None:
        (key,) = _KEY(digest)
        bit = key & (_FILTER_BITS - 1)
        if not self._filter[bit >> 3] >> (bit & 7) & 1:
            return None
        bucket = digest[8]
        keys = self._keys[bucket]
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return bucket, i
        return None

    def _widen(self) -> None:
        self._vals = [array("Q", vals) for vals in self._vals]

    def _move(self) -> None:
        """Move the recent entries into the buckets, each bucket copied once (memory while moving
        grows by one bucket, not by the whole map)."""
        import numpy as np

        if not self._keys:
            self._keys = [array("Q") for _ in range(256)]
            self._vals = [array("I") for _ in range(256)]
            self._filter = bytearray(_FILTER_BITS // 8)
        recent, self._recent = self._recent, {}
        if self._vals[0].typecode == "I" and max(recent.values()) > _U32:
            self._widen()
        code = self._vals[0].typecode
        entries = np.frombuffer(
            b"".join(d[:9] for d in recent), dtype=np.dtype([("key", "<u8"), ("bucket", "u1")])
        )
        vals = np.fromiter(recent.values(), dtype=_NUMPY[code], count=len(recent))
        self._size += len(recent)
        del recent
        order = np.lexsort((entries["key"], entries["bucket"]))
        keys, buckets, vals = entries["key"][order], entries["bucket"][order], vals[order]
        bits = keys & np.uint64(_FILTER_BITS - 1)
        np.bitwise_or.at(
            np.frombuffer(self._filter, dtype=np.uint8),
            (bits >> np.uint64(3)).astype(np.intp),
            np.left_shift(np.uint8(1), (bits & np.uint64(7)).astype(np.uint8)),
        )
        bounds = np.searchsorted(buckets, np.arange(257))
        for bucket in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
            lo, hi = int(bounds[bucket]), int(bounds[bucket + 1])
            old = np.frombuffer(self._keys[bucket], dtype=np.uint64)
            at = old.searchsorted(keys[lo:hi])
            for arrays, new, dtype in ((self._keys, keys, "=u8"), (self._vals, vals, _NUMPY[code])):
                merged = np.insert(np.frombuffer(arrays[bucket], dtype=dtype), at, new[lo:hi])
                arrays[bucket] = array(arrays[bucket].typecode, merged.tobytes())


class FirstSeen:
    """For each digest, the value given with its first appearance: 12 bytes in memory per digest,
    the full digest and its value in a temporary file. A repeat is confirmed against the full
    16 bytes, so a digest is never taken for another (a clash of the map's 72 bits, chance
    ``n**2 / 2**73``, can only leave a repeat unrecognised).

    >>> seen = FirstSeen()
    >>> seen.first(digest_of("a"), 0), seen.first(digest_of("b"), 1), seen.first(digest_of("a"), 2)
    (None, None, 0)
    """

    def __init__(self) -> None:
        self._map = DigestMap()
        self._spill = Spill()  # per digest: its 16 bytes and its first value
        self._count = 0

    def first(self, digest: bytes, value: int) -> int | None:
        """The value the digest came with first; None (and ``value`` remembered) when it is new."""
        count = self._count
        number = self._map.setdefault(digest, count)
        if number == count:
            self._spill.append(digest[:16] + value.to_bytes(8, "little"))
            self._count = count + 1
            return None
        entry = self._spill[number]
        if entry[:16] != digest[:16]:
            return None  # another digest with the same 72 bits: taken as new, not remembered
        return int.from_bytes(entry[16:24], "little")


class Spill:
    """Byte strings appended in order and read back by number, kept in anonymous temporary files
    (gone when closed, or when the process ends), so memory stays flat however many there are.

    >>> spill = Spill()
    >>> spill.append(b"rec-1"), spill.append("rec-\u00e9".encode()), spill[1].decode(), spill[0]
    (0, 1, 'rec-\u00e9', b'rec-1')
    >>> spill.close()
    """

    def __init__(self, flush: int = 1 << 16) -> None:
        self._flush_at = flush  # bytes of data, or ends, held before they go to their file
        self._data = tempfile.TemporaryFile(prefix="curate-spill-")  # noqa: SIM115  # closed by close()
        self._ends_file = tempfile.TemporaryFile(prefix="curate-spill-")  # noqa: SIM115
        self._written = 0  # bytes of data in its file
        self._pending = bytearray()  # appended, not yet in the file
        self._ends = array("Q")  # where each entry not yet spilled ends (offsets in the data)
        self._spilled = 0  # entries whose end is in the ends file (8 bytes each, little-endian)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, data: bytes) -> int:
        """Keep ``data``; returns its number."""
        pending = self._pending
        pending += data
        ends = self._ends
        ends.append(self._written + len(pending))
        if len(pending) >= self._flush_at:
            self._flush()
        if len(ends) >= self._flush_at:
            if sys.byteorder != "little":
                ends.byteswap()
            os.pwrite(self._ends_file.fileno(), ends.tobytes(), 8 * self._spilled)
            self._spilled += len(ends)
            self._ends = array("Q")
        self._count += 1
        return self._count - 1

    def __getitem__(self, number: int) -> bytes:
        if not 0 <= number < len(self):
            raise IndexError(number)
        start = self._end(number - 1) if number else 0
        end = self._end(number)
        if start >= self._written:  # not yet in the file
            return bytes(self._pending[start - self._written : end - self._written])
        return os.pread(self._data.fileno(), end - start, start)

    def close(self) -> None:
        self._data.close()
        self._ends_file.close()

    def _end(self, number: int) -> int:
        if number >= self._spilled:
            return int(self._ends[number - self._spilled])
        return int.from_bytes(os.pread(self._ends_file.fileno(), 8, 8 * number), "little")

    def _flush(self) -> None:
        if self._pending:
            os.pwrite(self._data.fileno(), bytes(self._pending), self._written)
            self._written += len(self._pending)
            self._pending = bytearray()
