"""What the tests share: the repository's paths, exporting and reading an export back (rows,
manifest, rejects), the every-record-accounted-for check, one-error-line checks, and the small
sources the reader tests build (tables, Argilla ``to_disk`` folders, 1.x rows).

Test modules import from here, never from one another; fixtures live in ``conftest.py``.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "datasets_spec"
DATA = SPECS / "data"


# --- an export, read back -------------------------------------------------------------------------
def manifest_of(out: Path) -> dict[str, Any]:
    """An export folder's ``manifest.json``."""
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def split_rows(out: Path, split: str) -> list[dict[str, Any]]:
    """The rows of one split file, Parquet or JSON Lines."""
    if (out / f"{split}.jsonl").is_file():
        return [
            json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        ]
    import pyarrow.parquet as pq

    return pq.read_table(out / f"{split}.parquet").to_pylist()


def rejects_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]


def export(cli: Any, spec: Path, tmp: Path) -> tuple[Any, Path]:
    out = tmp / "out"
    return cli("export", spec, "--out", out, "--format", "jsonl", "-q"), out


def assert_accounted(
    result: Any, out: Path, rows_written: int, reasons: dict[str, int]
) -> list[dict[str, Any]]:
    """Exit 0; every row written is input; the rejects are exactly ``reasons``; the rest are kept."""
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    counts = manifest_of(out)["counts"]
    rejects = [r for r in rejects_of(out) if r.get("scope") != "row"]
    assert counts["input_records"] == rows_written
    assert Counter(r["reason"] for r in rejects) == Counter(reasons)
    assert counts["rejected_records"] == sum(reasons.values())
    kept = [
        json.loads(line)
        for split in counts["records_per_split"]
        for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(kept) == counts["kept_records"] == rows_written - sum(reasons.values())
    # a duplicate_id reject shares its id with the kept first occurrence; no other reject may
    others = {r["record_id"] for r in rejects if r["reason"] != "duplicate_id"}
    assert {r["record_id"] for r in kept}.isdisjoint(others)
    return rejects


def assert_one_error(result: Any, out: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len([line for line in lines if line.startswith("error:")]) == 1, result.stderr
    text = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in text, (needle, result.stderr)
    assert not out.exists()


# --- small sources the reader tests build ----------------------------------------------------------
HEADER = "id,instruction,response,fix"
COLUMNS = {"id": "id", "fields": ["instruction", "response"], "responses": {"fix": "fix"}}
DOLLY_SPEC = (SPECS / "dolly-curated.yaml").read_text()


def table_spec(tmp: Path, data: str, task_columns: str | None = None) -> Path:
    """An SFT spec over a table: the corrected answer (question ``fix``) else the original."""
    spec = tmp / "spec.yaml"
    spec.write_text(
        "name: hostile\ntask: sft\n"
        f"source: {{path: {data}, layout: table, columns: {json.dumps(COLUMNS)}}}\n"
        + (
            task_columns
            or "columns:\n  instruction: [{field: instruction}]\n  response: [{question: fix}, {field: response}]\n"
        )
        + "template: alpaca\n",
        encoding="utf-8",
    )
    return spec


def disk_export(tmp: Path, records_json: str) -> Path:
    folder = tmp / "disk"
    (folder / ".argilla").mkdir(parents=True)
    settings = DATA / "dolly-curated-v2-disk" / ".argilla" / "settings.json"
    (folder / ".argilla" / "settings.json").write_text(settings.read_text())
    (folder / "records.json").write_text(records_json, encoding="utf-8")
    return folder


def dolly_records(n: int) -> list[dict[str, Any]]:
    records = json.loads((DATA / "dolly-curated-v2-disk" / "records.json").read_text())
    return records[:n]


def disk_spec(tmp: Path) -> Path:
    spec = tmp / "spec.yaml"
    spec.write_text(DOLLY_SPEC.replace("path: data/dolly-curated-v1", f"path: {tmp / 'disk'}"))
    assert "disk" in spec.read_text()
    return spec


def v1_rows(n: int, start: int = 0, with_fix: bool = True) -> list[dict[str, Any]]:
    rows = []
    for i in range(start, start + n):
        row: dict[str, Any] = {"prompt": f"p{i}", "external_id": f"e{i}", "metadata": "{}"}
        if with_fix:
            row["fix"] = [{"user_id": "u1", "value": f"fixed {i}", "status": "submitted"}]
            row["fix-suggestion"] = None
            row["fix-suggestion-metadata"] = {"type": None, "score": None, "agent": None}
        rows.append(row)
    return rows


def fix_spec(tmp: Path, source: str) -> Path:
    """An SFT spec over ``source`` (a YAML flow mapping): instruction from field ``prompt``,
    response from question ``fix``."""
    spec = tmp / "spec.yaml"
    spec.write_text(
        f"name: fix\ntask: sft\nsource: {source}\n"
        "columns:\n  instruction: [{field: prompt}]\n  response: [{question: fix}]\nsplit: {train: 1.0}\n"
    )
    return spec


# --- hostile values put in every place of real sample records ----------------------------------------
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
    import pyarrow.parquet as pq

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
    import pyarrow.parquet as pq

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
