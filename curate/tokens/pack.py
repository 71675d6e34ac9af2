"""Packing tokenized rows into fixed-size bins, best-fit decreasing, never splitting an example.

Each bin holds whole examples back to back with ``position_ids`` restarting at 0 for each one
and ``seq_lengths`` listing them, so padding-free / flash attention keeps examples from
attending to each other (TRL's collator reads ``seq_lengths``). A long ``text`` document arrives
already split into chunk rows (``curate.tokens.tokenize.split_document``); each chunk is an example here.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from curate.arguments import arg
from curate.errors import CurateError
from curate.tokens.tokenize import IGNORE_INDEX


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of item indices: longest items first, each into the fullest bin it fits in.

    Ties are broken by input order (bins with equal room: the one opened first), so the result
    is a pure function of the lengths.

    >>> best_fit_decreasing([5, 2, 3, 1], capacity=5)
    [[0], [2, 1], [3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    by_room: dict[int, deque[int]] = {}  # room left -> bins with that room, oldest first
    rooms: list[int] = []  # sorted distinct rooms of open bins
    for i in order:
        n = lengths[i]
        at = bisect.bisect_left(rooms, n)
        if at < len(rooms):
            room = rooms[at]
            waiting = by_room[room]
            b = waiting.popleft()
            if not waiting:
                del by_room[room]
                rooms.pop(at)
        else:
            room, b = capacity, len(bins)
            bins.append([])
        bins[b].append(i)
        left = room - n
        if left > 0:
            if left not in by_room:
                by_room[left] = deque()
                bisect.insort(rooms, left)
            by_room[left].append(b)
    return bins


def pack_rows(
    rows: Iterable[dict[str, Any]], max_length: int, chunked: bool = False
) -> tuple[pa.Table, dict[str, Any]]:
    """Pack rows with ``input_ids`` and ``labels`` into bins of at most ``max_length`` tokens.

    Returns a table (``input_ids``, ``labels``, ``position_ids``, ``seq_lengths``,
    ``record_ids``; one row per bin) and statistics. The first token of each packed example
    gets label ``-100``: nothing before it in its own example predicts it. ``chunked``: the rows
    are chunks of documents (a ``chunk`` column), and ``record_chunks`` says which chunk of
    its record each example is, beside ``record_ids``.

    >>> table, stats = pack_rows([
    ...     {"record_id": "a", "input_ids": [1, 2, 3], "labels": [-100, 2, 3]},
    ...     {"record_id": "b", "input_ids": [4, 5], "labels": [-100, 5]},
    ... ], max_length=8)
    >>> table.column("position_ids").to_pylist(), stats["fill_ratio"]
    ([[0, 1, 2, 0, 1]], 0.625)
    """
    if max_length < 1:
        raise CurateError(f"{arg('max_length')}: got {max_length}, expected a positive number of tokens")
    ids: list[list[int]] = []
    labels: list[list[int]] = []
    record_ids: list[str] = []
    chunk_of: list[int] = []
    empty = 0
    for n, row in enumerate(rows):
        rid = str(row.get("record_id", n))
        if "input_ids" not in row or "labels" not in row:
            raise CurateError(
                f"row {rid}: packing needs input_ids and labels columns (export with {arg('tokenizer')})"
            )
        row_ids, row_labels = row["input_ids"], row["labels"]
        if len(row_ids) != len(row_labels):
            raise CurateError(f"row {rid}: {len(row_ids)} input_ids but {len(row_labels)} labels")
        if len(row_ids) > max_length:
            raise CurateError(
                f"row {rid}: {len(row_ids)} tokens > max_length {max_length}; packing never splits an example, "
                f"so tokenize with the same {arg('max_length')}"
            )
        if not row_ids:
            empty += 1
            continue
        ids.append(row_ids)
        labels.append(row_labels)
        record_ids.append(rid)
        if chunked:
            chunk_of.append(_chunk(row, rid))
    lengths = [len(x) for x in ids]
    bins = best_fit_decreasing(lengths, max_length)
    order = [i for b in bins for i in b]
    seq_lengths = np.fromiter((lengths[i] for i in order), dtype=np.int64, count=len(order))
    starts = np.concatenate(([0], np.cumsum(seq_lengths)[:-1])) if len(order) else np.zeros(0, np.int64)
    total = int(seq_lengths.sum())
    positions = np.arange(total, dtype=np.int64) - np.repeat(starts, seq_lengths)
    flat_labels = np.fromiter(
        itertools.chain.from_iterable(labels[i] for i in order), dtype=np.int32, count=total
    )
    flat_labels[starts] = IGNORE_INDEX
    flat_ids = np.fromiter(itertools.chain.from_iterable(ids[i] for i in order), dtype=np.int32, count=total)
    bin_sizes = np.fromiter((len(b) for b in bins), dtype=np.int64, count=len(bins))
    bin_tokens = np.fromiter((sum(lengths[i] for i in b) for b in bins), dtype=np.int64, count=len(bins))
    token_offsets = pa.array(np.concatenate(([0], np.cumsum(bin_tokens))).astype(np.int32))
    seq_offsets = pa.array(np.concatenate(([0], np.cumsum(bin_sizes))).astype(np.int32))
    columns = {
        "input_ids": pa.ListArray.from_arrays(token_offsets, pa.array(flat_ids)),
        "labels": pa.ListArray.from_arrays(token_offsets, pa.array(flat_labels)),
        "position_ids": pa.ListArray.from_arrays(token_offsets, pa.array(positions.astype(np.int32))),
        "seq_lengths": pa.ListArray.from_arrays(seq_offsets, pa.array(seq_lengths.astype(np.int32))),
        "record_ids": pa.ListArray.from_arrays(
            seq_offsets, pa.array([record_ids[i] for i in order], pa.string())
        ),
    }
    if chunked:
        chunks = pa.array([chunk_of[i] for i in order], pa.int32())
        columns["record_chunks"] = pa.ListArray.from_arrays(seq_offsets, chunks)
    table = pa.table(columns)
    stats = {
        "max_length": max_length,
        "sequences": len(order),
        "empty_rows_skipped": empty,
        "bins": len(bins),
        "tokens": total,
        "fill_ratio": round(total / (len(bins) * max_length), 6) if bins else 0.0,
        "mean_sequences_per_bin": round(len(order) / len(bins), 3) if bins else 0.0,
    }
    return table, stats


def _chunk(row: dict[str, Any], rid: str) -> int:
    """The ``chunk`` index of a split row, checked: the packed provenance must name a real chunk."""
    chunk = row.get("chunk")
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 0:
        raise CurateError(f"row {rid}: 'chunk' should be the chunk index (0 or more), found {chunk!r}")
    return chunk
