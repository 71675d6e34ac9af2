"""Hostile edges of the sources found by probing: values Python cannot hold, odd `datasets`
metadata, odd value shapes under kind inference, duplicate Parquet columns, non-text record
statuses and unusable source paths. Each ends as a counted reject or one ``error:`` line (exit 2),
never a traceback. Inputs are built in code; helpers come from ``test_hostile_readers``."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from helpers import (
    assert_accounted,
    assert_one_error,
    disk_export,
    disk_spec,
    dolly_records,
    export,
    fix_spec,
    manifest_of,
    table_spec,
    v1_rows,
)

from curate.errors import CurateError
from curate.sources.rows import BadRow, find_data_files, read_rows

# --- values Python cannot hold: only their rows are unreadable ---------------------------------

OUT_OF_RANGE = {
    # Arrow type: (a value Python cannot hold, one it can)
    "timestamp": (pa.timestamp("s"), 10**15, 0),
    "date32": (pa.date32(), 2**31 - 1, 0),
    "duration": (pa.duration("s"), 2**62, 5),
    "list of timestamps": (pa.list_(pa.timestamp("s")), [0, 10**15], [0]),
}


def table_with(kind: str, n: int, bad: set[int]) -> pa.Table:
    """``n`` table rows whose extra column ``when`` holds a value out of Python's range at ``bad``."""
    arrow_type, out, fine = OUT_OF_RANGE[kind]
    return pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "instruction": [f"do task {i}" for i in range(n)],
            "response": [f"answer {i}" for i in range(n)],
            "fix": pa.array([None] * n, pa.string()),
            "when": pa.array([out if i in bad else fine for i in range(n)], arrow_type),
        }
    )


def write_table(table: pa.Table, path: Path) -> None:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        feather.write_feather(table, path, compression="uncompressed")


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
@pytest.mark.parametrize("kind", list(OUT_OF_RANGE))
def test_a_value_out_of_pythons_range_rejects_only_its_row(cli, tmp_path, kind, suffix):
    write_table(table_with(kind, 6, {1, 4}), tmp_path / f"data{suffix}")
    result, out = export(cli, table_spec(tmp_path, f"data{suffix}"), tmp_path)
    rejects = assert_accounted(result, out, 6, {"unreadable_row": 2})
    assert [r["record_id"] for r in rejects] == [f"data{suffix}[1]", f"data{suffix}[4]"]
    assert all(
        "column 'when' holds a" in r["detail"] and "outside what Python can represent" in r["detail"]
        for r in rejects
    )
    kept = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert {r["record_id"] for r in kept} == {"r0", "r2", "r3", "r5"}


def test_good_rows_beside_an_out_of_range_value_read_as_before(tmp_path):
    table = table_with("timestamp", 5, {2})
    pq.write_table(table, tmp_path / "bad.parquet")
    pq.write_table(table_with("timestamp", 5, set()), tmp_path / "good.parquet")
    rows = list(read_rows(find_data_files(tmp_path / "bad.parquet")))
    good = list(read_rows(find_data_files(tmp_path / "good.parquet")))
    assert isinstance(rows[2], BadRow) and rows[2].locator == "bad.parquet[2]"
    assert rows[:2] + rows[3:] == good[:2] + good[3:]


def test_rows_read_by_id_only_are_unreadable_where_a_whole_read_finds_them(tmp_path):
    """An export worker reads the batches it does not build by id only: it must still see the
    same rows as unreadable (their ids then are not taken), or workers would disagree on ids."""
    pq.write_table(table_with("date32", 2500, {3, 1500}), tmp_path / "data.parquet")
    files = find_data_files(tmp_path / "data.parquet")
    whole = list(read_rows(files))
    by_id = list(read_rows(files, wanted=lambda position: False, id_columns=("id",)))
    assert [i for i, r in enumerate(whole) if isinstance(r, BadRow)] == [3, 1500]
    assert [r for r in by_id if isinstance(r, BadRow)] == [whole[3], whole[1500]]
    assert by_id[0] == {"id": "r0"}


def test_stats_counts_a_row_out_of_pythons_range(cli, tmp_path):
    pq.write_table(table_with("duration", 4, {0}), tmp_path / "data.parquet")
    result = cli("stats", table_spec(tmp_path, "data.parquet"), "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["rows"] == 4 and stats["records"] == 3 and stats["unreadable"] == {"unreadable_row": 1}


# --- a Parquet or Arrow schema naming a column twice: one error, as a CSV header is -----------


def twice_named(n: int) -> pa.Table:
    columns = [
        pa.array([f"r{i}" for i in range(n)]),
        pa.array([f"do task {i}" for i in range(n)]),
        pa.array([f"answer {i}" for i in range(n)]),
        pa.array([None] * n, pa.string()),
        pa.array(["OTHER"] * n),
    ]
    return pa.Table.from_arrays(columns, names=["id", "instruction", "response", "fix", "instruction"])


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_schema_naming_a_column_twice_is_one_error(cli, tmp_path, suffix):
    write_table(twice_named(3), tmp_path / f"data{suffix}")
    result, out = export(cli, table_spec(tmp_path, f"data{suffix}"), tmp_path)
    kind = "Parquet" if suffix == ".parquet" else "Arrow"
    assert_one_error(result, out, f"data{suffix}: the {kind} schema names column 'instruction' twice")
    stats = cli("stats", tmp_path / f"data{suffix}")
    assert stats.exit_code == 2 and "names column 'instruction' twice" in stats.stderr
    with pytest.raises(CurateError, match="names column 'instruction' twice"):
        list(read_rows(find_data_files(tmp_path / f"data{suffix}")))


# --- `datasets` features in a Parquet file's metadata are a hint: a malformed one is ignored ---

ODD_FEATURES = {
    "features as a list": {"info": {"features": [1, 2]}},
    "features as text": {"info": {"features": "x"}},
    "info as a list": {"info": ["features"]},
    "metadata as a number": 5,
    "ClassLabel names as a number": {
        "info": {"features": {"fix.suggestion": {"_type": "ClassLabel", "names": 5}}}
    },
    "ClassLabel names not text": {
        "info": {"features": {"fix.suggestion": {"_type": "ClassLabel", "names": [1, 2]}}}
    },
    "nested past the JSON limit": '{"info": {"features": ' + "[" * 100_000 + "]" * 100_000 + "}}",
}


def with_features(table: pa.Table, features: object, path: Path) -> Path:
    meta = json.dumps(features) if not isinstance(features, str) else features
    pq.write_table(table.replace_schema_metadata({"huggingface": meta}), path)
    return path


@pytest.mark.parametrize("case", list(ODD_FEATURES), ids=list(ODD_FEATURES))
def test_flat_export_with_odd_features_is_read_without_them(cli, tmp_path, case):
    rows = [
        {"id": f"r{i}", "prompt": f"p{i}", "fix.responses": [f"fixed {i}"], "fix.responses.users": ["u1"]}
        for i in range(3)
    ]
    path = with_features(pa.Table.from_pylist(rows), ODD_FEATURES[case], tmp_path / "train.parquet")
    spec = fix_spec(tmp_path, f"{{path: {path}}}")  # layout auto: the flat layout is recognised
    result, out = export(cli, spec, tmp_path)
    assert_accounted(result, out, 3, {})
    assert cli("stats", spec, "--json").exit_code == 0


@pytest.mark.parametrize("case", list(ODD_FEATURES), ids=list(ODD_FEATURES))
def test_v1_export_with_odd_features_is_read_without_them(cli, tmp_path, case):
    path = with_features(pa.Table.from_pylist(v1_rows(3)), ODD_FEATURES[case], tmp_path / "train.parquet")
    spec = fix_spec(tmp_path, f"{{path: {path}, layout: argilla_v1}}")
    result, out = export(cli, spec, tmp_path)
    assert_accounted(result, out, 3, {})
    assert cli("stats", spec, "--json").exit_code == 0


def test_a_dataset_info_json_whose_features_are_not_an_object_is_ignored(tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "a"}]), folder / "train.parquet")
    (folder / "dataset_info.json").write_text(json.dumps({"features": ["not", "an", "object"]}))
    assert find_data_files(folder).hf_features == {}


# --- kinds inferred without settings: any answer shape gives a kind, ill-fitting values reject -


def inferred_spec(tmp: Path, path: Path) -> Path:
    """An SFT spec over a flat export without settings that reads no question (kinds inferred)."""
    spec = tmp / "spec.yaml"
    spec.write_text(
        f"name: deep\ntask: sft\nsource: {{path: {path}}}\n"
        "columns:\n  instruction: [{field: prompt}]\n  response: [{field: prompt}]\n"
    )
    return spec


def ranked(answers: list[object]) -> list[dict[str, object]]:
    return [
        {"id": f"r{i}", "prompt": f"p{i}", "rank.responses": [a], "rank.responses.users": ["u1"]}
        for i, a in enumerate(answers)
    ]


def test_answers_nested_too_deep_reject_their_records_when_kinds_are_inferred(cli, tmp_path):
    path = tmp_path / "train.jsonl"
    rows = ranked([["x", "y"], [["x", "y"]], ["y", "x"], [{"x": 1}]])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result, out = export(cli, inferred_spec(tmp_path, path), tmp_path)
    rejects = assert_accounted(result, out, 4, {"bad_value:rank": 2})
    assert [r["record_id"] for r in rejects] == ["r1", "r3"]
    assert all("expected a list of labels" in r["detail"] for r in rejects)


def test_a_parquet_column_of_answers_nested_too_deep_rejects_every_record(cli, tmp_path):
    (tmp_path / "flat").mkdir()
    path = tmp_path / "flat" / "train.parquet"
    pq.write_table(pa.Table.from_pylist(ranked([[["x", "y"]], [["y", "x"]]])), path)
    spec = inferred_spec(tmp_path, path)
    result, out = export(cli, spec, tmp_path)
    assert_one_error(result, out, "no record kept, all 2 rejected (bad_value:rank 2)")
    stats = cli("stats", spec, "--json")
    assert stats.exit_code == 0 and json.loads(stats.stdout)["unreadable"] == {"bad_value:rank": 2}


# --- a record status that is not text: export keeps it as it came, stats count it as it is ----


def test_stats_count_record_statuses_that_are_not_text(cli, tmp_path):
    records = dolly_records(4)
    records[1]["status"], records[2]["status"], records[3]["status"] = ["completed"], 5, None
    disk_export(tmp_path, json.dumps(records))
    result = cli("stats", tmp_path / "disk", "--json")
    assert result.exit_code == 0, result.stderr
    statuses = json.loads(result.stdout)["record_status"]
    assert statuses == {records[0]["status"]: 1, "list ['completed']": 1, "number 5": 1, "unknown": 1}
    human = cli("stats", tmp_path / "disk")
    assert human.exit_code == 0 and "number 5" in human.stdout
    exported, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert exported.exit_code == 0, exported.stderr  # export reads it: only filters.record_status looks
    assert manifest_of(out)["counts"]["input_records"] == 4


def test_stats_count_a_flat_status_column_that_is_not_text(cli, tmp_path):
    rows = [
        {
            "id": f"r{i}",
            "status": status,
            "prompt": f"p{i}",
            "fix.responses": ["x"],
            "fix.responses.users": ["u"],
        }
        for i, status in enumerate(["completed", ["completed"], 7, "pending"])
    ]
    path = tmp_path / "flat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = cli("stats", fix_spec(tmp_path, f"{{path: {path}, layout: argilla_v2_flat}}"), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["record_status"] == {
        "completed": 1,
        "list ['completed']": 1,
        "number 7": 1,
        "pending": 1,
    }


# --- a source path the system refuses: one error naming it ------------------------------------


def test_a_source_path_with_a_name_too_long_is_one_error(cli, tmp_path):
    long = tmp_path / ("x" * 300)
    stats = cli("stats", long)
    assert stats.exit_code == 2 and "Traceback" not in stats.stderr + stats.stdout
    assert " ".join(stats.stderr.split()).startswith(f"error: {long}: cannot be opened (File name too long)")
    (tmp_path / "data.csv").write_text("id,instruction,response,fix\nr0,a,b,\n")
    result = cli(
        "export", table_spec(tmp_path, "data.csv"), "--source", long / "data.csv", "--out", tmp_path / "out"
    )
    assert_one_error(result, tmp_path / "out", f"{long / 'data.csv'}: cannot be opened (File name too long)")
    result, out = export(cli, table_spec(tmp_path, str(long)), tmp_path)
    assert_one_error(result, out, "cannot be opened (File name too long)")
