"""The column-wise build against the row-by-row one on seeded random records: each record takes
up to four mutations at once (annotators' answers rebuilt with repeated, blank or missing users,
statuses spelled any way, Unicode that normalises, repeated and missing ids, suggestions and
metadata that fit or do not, a hostile value anywhere), in the 2.x ``to_disk`` and the 1.x Parquet
layouts. test_columns.py puts one hostile value in one place; this mixes them."""

from __future__ import annotations

import copy
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import DATA, HOSTILE, SPECS, key_paths, manifest_of
from test_columns import export_both, v1_folder

RECORDS = 200
TEXTS = [
    "Fixed answer.", "", "   ", "ＦＵＬＬ width!", "e\u0301 combining", "ﬁ ligature", "Straße", "same", "same ",
    "SAME!", None,
]  # fmt: skip
STATUSES = ["submitted", "draft", "discarded", None, "Submitted", "pending", "", "DISCARDED"]
USERS = ["u1", "u2", "u3", None, "", "u1"]
QUESTIONS = ["new-instruction", "new-context", "new-response"]
FIELDS = ["original-instruction", "original-context", "original-response", "category"]
IDS = ["dup", "dup2", None, "", " "]
METADATA = [None, "", "{}", '{"source_row": 1}', "[1]", "not json", '{"a": NaN}', "null"]


def answers(rng: random.Random, with_status: bool) -> list[Any]:
    items: list[Any] = []
    for _ in range(rng.randint(0, 4)):
        item = {"user_id": rng.choice(USERS), "value": rng.choice(TEXTS)}
        if with_status or rng.random() < 0.5:
            item["status"] = rng.choice(STATUSES)
        items.append(None if rng.random() < 0.05 else item)
    return items


def suggestion(rng: random.Random) -> dict[str, Any]:
    return {
        "type": rng.choice([None, "model", "human", "x"]),
        "score": rng.choice([None, 0.1, 0.9, 1.5, -1.0]),
        "agent": rng.choice([None, "a"]),
    }


def mutated_disk(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    r = copy.deepcopy(record)
    for _ in range(rng.randint(0, 4)):
        kind = rng.randrange(6)
        if kind == 0:
            questions = rng.sample(QUESTIONS, rng.randint(0, 3))  # in any order
            r["responses"] = {q: answers(rng, False) for q in questions}
        elif kind == 1 and isinstance(r.get("fields"), dict):
            r["fields"][rng.choice([*FIELDS, "extra"])] = rng.choice([*TEXTS, 5, ["a"]])
        elif kind == 2:
            r["id"] = rng.choice([*IDS, 5, r.get("id")])
        elif kind == 3:
            r["suggestions"] = {rng.choice(QUESTIONS): {"value": rng.choice(TEXTS), **suggestion(rng)}}
        elif kind == 4:
            r["metadata"] = rng.choice([{}, {"source_row": 1}, None, [], "x"])
        else:
            path = rng.choice(list(key_paths(r)))
            place: Any = r
            for key in path[:-1]:
                place = place[key]
            place[path[-1]] = copy.deepcopy(rng.choice(HOSTILE))
    return r


def mutated_v1(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    r = copy.deepcopy(row)
    for _ in range(rng.randint(0, 4)):
        kind = rng.randrange(5)
        if kind == 0:
            r[rng.choice(QUESTIONS)] = answers(rng, True) if rng.random() < 0.9 else None
        elif kind == 1:
            r[rng.choice(FIELDS)] = rng.choice(TEXTS)
        elif kind == 2:
            r["external_id"] = rng.choice([*IDS, r["external_id"]])
        elif kind == 3:
            q = rng.choice(QUESTIONS)
            r[f"{q}-suggestion"], r[f"{q}-suggestion-metadata"] = rng.choice(TEXTS), suggestion(rng)
        else:
            r["metadata"] = rng.choice(METADATA)
    return r


def assert_same_mixed_export(spec: Path, folder: Path, tmp: Path) -> None:
    """Both builds write the same files, keeping records and rejecting others for many reasons."""
    files = export_both(spec, str(folder), tmp)
    assert isinstance(files, dict), files
    counts = manifest_of(tmp / "out-True")["counts"]
    assert counts["kept_records"] > RECORDS // 4, counts
    assert len(counts["rejects_by_reason"]) >= 4, counts


@pytest.mark.parametrize("spec_name", ["dolly-curated.yaml", "dolly-curated-preference.yaml"])
@pytest.mark.parametrize("seed", [0, 1])
def test_mutated_to_disk_records(spec_name: str, seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    folder = tmp_path / "disk"
    shutil.copytree(DATA / "dolly-curated-v2-disk", folder)
    records = json.loads((folder / "records.json").read_text(encoding="utf-8"))
    mutated = [mutated_disk(rng.choice(records), rng) for _ in range(RECORDS)]
    (folder / "records.json").write_text(json.dumps(mutated), encoding="utf-8")
    assert_same_mixed_export(SPECS / spec_name, folder, tmp_path)


@pytest.mark.parametrize("spec_name", ["dolly-curated.yaml", "dolly-curated-preference.yaml"])
@pytest.mark.parametrize("seed", [0, 1])
def test_mutated_1x_parquet_rows(spec_name: str, seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    table = pq.read_table(DATA / "dolly-curated-v1" / "data")
    rows = table.to_pylist()
    mutated = [mutated_v1(rng.choice(rows), rng) for _ in range(RECORDS)]
    folder = v1_folder(tmp_path, pa.Table.from_pylist(mutated, schema=table.schema))
    assert_same_mixed_export(SPECS / spec_name, folder, tmp_path)
