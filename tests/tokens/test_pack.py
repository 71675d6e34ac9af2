"""Packing: best-fit decreasing, whole examples, position_ids restarting, deterministic."""

from __future__ import annotations

import random

import pytest

from curate.errors import CurateError
from curate.tokens.pack import best_fit_decreasing, pack_rows
from curate.tokens.tokenize import IGNORE_INDEX as M


def rows_of(lengths: list[int]) -> list[dict]:
    return [
        {"record_id": f"r{i}", "input_ids": [i * 1000 + j for j in range(n)], "labels": [M] + [7] * (n - 1)}
        for i, n in enumerate(lengths)
    ]


def test_best_fit_decreasing_by_hand() -> None:
    # 6 first, then 5 (new bin), 4 (best fit: bin with room 4 = after 6), 3 (room 5 after 5), 2 (room 2 left).
    assert best_fit_decreasing([3, 6, 2, 5, 4], capacity=10) == [[1, 4], [3, 0, 2]]


def test_packed_table_by_hand() -> None:
    table, stats = pack_rows(rows_of([3, 2, 4]), max_length=6)
    assert table.column("record_ids").to_pylist() == [["r2", "r1"], ["r0"]]
    assert table.column("seq_lengths").to_pylist() == [[4, 2], [3]]
    assert table.column("position_ids").to_pylist() == [[0, 1, 2, 3, 0, 1], [0, 1, 2]]
    assert table.column("input_ids").to_pylist() == [[2000, 2001, 2002, 2003, 1000, 1001], [0, 1, 2]]
    assert table.column("labels").to_pylist() == [[M, 7, 7, 7, M, 7], [M, 7, 7]]
    assert stats == {
        "max_length": 6,
        "sequences": 3,
        "empty_rows_skipped": 0,
        "bins": 2,
        "tokens": 9,
        "fill_ratio": 0.75,
        "mean_sequences_per_bin": 1.5,
    }


def test_first_token_of_each_example_is_not_trained() -> None:
    rows = [
        {"record_id": "a", "input_ids": [1, 2], "labels": [1, 2]},
        {"record_id": "b", "input_ids": [3], "labels": [3]},
    ]
    table, _ = pack_rows(rows, max_length=4)
    assert table.column("labels").to_pylist() == [[M, 2, M]]


def test_no_example_split_and_deterministic() -> None:
    rng = random.Random(1)
    lengths = [rng.randint(1, 64) for _ in range(500)]
    rows = rows_of(lengths)
    table, stats = pack_rows(rows, max_length=64)
    again, _ = pack_rows(rows_of(lengths), max_length=64)
    assert table.equals(again)
    by_id = {r["record_id"]: r["input_ids"] for r in rows}
    seen = []
    for ids, positions, seqs, rids in zip(
        *(table.column(c).to_pylist() for c in ("input_ids", "position_ids", "seq_lengths", "record_ids")),
        strict=True,
    ):
        assert len(ids) <= 64 and sum(seqs) == len(ids) == len(positions)
        at = 0
        for n, rid in zip(seqs, rids, strict=True):
            assert ids[at : at + n] == by_id[rid]  # whole, in order
            assert positions[at : at + n] == list(range(n))
            at += n
        seen.extend(rids)
    assert sorted(seen) == sorted(by_id)
    assert stats["tokens"] == sum(lengths)


def test_fill_at_least_trls_bfd() -> None:
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    rng = random.Random(2)
    lengths = [rng.randint(5, 300) for _ in range(2000)]
    _, ours = pack_rows(rows_of(lengths), max_length=512)
    theirs = pack_dataset(Dataset.from_dict({"input_ids": [[1] * n for n in lengths]}), 512, strategy="bfd")
    assert ours["bins"] <= len(theirs)
    assert ours["fill_ratio"] >= sum(lengths) / (len(theirs) * 512)


def test_rows_over_max_length_are_an_error() -> None:
    with pytest.raises(
        CurateError, match=r"row r0: 5 tokens > max_length 4; packing never splits an example"
    ):
        pack_rows(rows_of([5]), max_length=4)
    with pytest.raises(CurateError, match="row x: packing needs input_ids and labels"):
        pack_rows([{"record_id": "x", "input_ids": [1]}], max_length=4)
