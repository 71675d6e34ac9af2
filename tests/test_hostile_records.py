"""Every value of a real sample record, replaced by each of a set of hostile values one at a time,
for the three file layouts: the source, the build and the filters either account for every record
(a kept row or a reject with a reason) or stop with one ``CurateError``; nothing else escapes
(no TypeError, OverflowError, RecursionError... from a value a user's file can hold)."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from _paths import DATA, SPECS

from curate.api.loader import load_spec
from curate.errors import CurateError
from curate.pipeline.plan import plan_export
from curate.pipeline.run import iter_outcomes
from curate.sources import open_source

HOSTILE: list[Any] = [
    None, 7, -1, 10**400, 2.5, float("nan"), True, "", "text", "[1, 2]",
    [], [3], [None], [[]], {}, {"value": 1}, [{"value": None, "user_id": 5, "status": 3}],
]  # fmt: skip


def key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a record (the first two items of a list), outermost first."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from key_paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value[:2]):
            yield from key_paths(inner, (*prefix, i))


def replaced(
    records: list[dict[str, Any]], index: int, path: tuple[Any, ...], value: Any
) -> list[dict[str, Any]]:
    out = copy.deepcopy(records)
    place: Any = out[index]
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = copy.deepcopy(value)
    return out


def answered_first(
    records: list[dict[str, Any]], answered: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """One record with answers and one without: both build paths get their hostile values."""
    return [next(r for r in records if answered(r)), next(r for r in records if not answered(r))]


def disk_layout(tmp: Path) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], Path]]:
    base = DATA / "dolly-curated-v2-disk"
    records = answered_first(
        json.loads((base / "records.json").read_text()), lambda r: bool(r.get("responses"))
    )

    def write(rows: list[dict[str, Any]]) -> Path:
        folder = tmp / "disk"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base, folder)
        (folder / "records.json").write_text(json.dumps(rows), encoding="utf-8")
        return folder

    return records, write


def v1_layout(tmp: Path) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], Path]]:
    base = DATA / "dolly-curated-v1"
    records = answered_first(pq.read_table(base / "data").to_pylist(), lambda r: bool(r.get("new-response")))

    def write(rows: list[dict[str, Any]]) -> Path:
        folder = tmp / "v1"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "data").mkdir(parents=True)
        shutil.copy(base / "argilla.yaml", folder / "argilla.yaml")
        (folder / "data" / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
        return folder

    return records, write


def flat_layout(tmp: Path) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], Path]]:
    base = DATA / "ultrafeedback-v2"
    table = pq.read_table(next((base / "data").glob("*.parquet")))
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    rows = table.to_pylist()
    for row in rows:  # JSON Lines keep no ClassLabel names: write the names themselves
        for column, feature in features.items():
            if (
                isinstance(feature, dict)
                and feature.get("_type") == "ClassLabel"
                and isinstance(row.get(column), int)
            ):
                row[column] = feature["names"][row[column]]
    records = answered_first(rows, lambda r: any(v for k, v in r.items() if k.endswith(".responses")))

    def write(rows: list[dict[str, Any]]) -> Path:
        folder = tmp / "flat"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base / ".argilla", folder / ".argilla")
        (folder / "data").mkdir()
        (folder / "data" / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
        return folder

    return records, write


LAYOUTS = {
    "2.x to_disk (dolly-curated)": ("dolly-curated.yaml", disk_layout),
    "1.x (dolly-curated-preference)": ("dolly-curated-preference.yaml", v1_layout),
    "2.x flat (ultrafeedback-ranking)": ("ultrafeedback-ranking.yaml", flat_layout),
}


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
def test_any_single_hostile_value_is_accounted_for(tmp_path: Path, layout: str) -> None:
    spec_name, make = LAYOUTS[layout]
    spec = load_spec(SPECS / spec_name)
    records, write = make(tmp_path)
    runs = rejected = 0
    for index, record in enumerate(records):
        for path in list(key_paths(record)):
            for value in HOSTILE:
                folder = write(replaced(records, index, path, value))
                try:
                    source = open_source(spec.spec.source, tmp_path, str(folder))
                    outcomes = list(iter_outcomes(plan_export(spec, source), source))
                except CurateError:
                    continue  # one error line for the whole file: allowed, nothing half-written
                except Exception as err:
                    raise AssertionError(
                        f"{layout}: record {index}, {path} = {value!r:.40}: {err!r}"
                    ) from err
                runs += 1
                assert len(outcomes) == len(records) == source.rows_read, (path, value)
                rejected += sum(1 for o in outcomes if hasattr(o, "reason"))
    assert runs > 100 and rejected > 0  # the values reached the build, and some were refused
