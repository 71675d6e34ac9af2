"""Hostile input files: every row ends in the export or in rejects.jsonl with a reason, or the
whole run is one ``error:`` line (exit 2) naming the file; never a lost, merged, stringified or
silently skipped row, never a traceback. Counts are taken from the rows each test writes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import (
    COLUMNS,
    DATA,
    HEADER,
    assert_accounted,
    assert_one_error,
    disk_export,
    disk_spec,
    dolly_records,
    export,
    fix_spec,
    manifest_of,
    rejects_of,
    table_spec,
    v1_rows,
)

from curate.errors import CurateError
from curate.sources import _text, open_source
from curate.sources.base import Unreadable
from curate.spec import SourceSpec, TableColumns


def csv_rows(n: int, start: int = 0) -> list[str]:
    return [f"r{i},do task {i},answer {i}," for i in range(start, start + n)]


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# --- CSV: malformed rows are rejected one by one, never merged into their neighbours ----------

CSV_CASES = {
    # name: (data lines after the header, rows the input holds, rejects {reason: n}, detail needle)
    "unbalanced quote mid-file swallows nothing": (
        csv_rows(21) + ['r21,"do task 21,answer 21,'] + [f"r{i},do {i},a {i}," for i in range(22, 50)],
        50,
        {"unreadable_row": 1},
        "line 23: a quote opened on this line is not closed",
    ),
    "unbalanced quote closed by a later quoted field": (
        [*csv_rows(5), 'r5,"open,answer,', "r6,x,y,", 'r7,"a, b",c,', *csv_rows(3, start=8)],
        11,
        {"unreadable_row": 1},
        "line 7:",
    ),
    "unbalanced quote on the last line": (
        [*csv_rows(9), 'r9,"never closed,a,'],
        10,
        {"unreadable_row": 1},
        "line 11",
    ),
    "ragged row with extra fields": (
        [*csv_rows(4), "r4,do,answer,,EXTRA,MORE", *csv_rows(2, start=5)],
        7,
        {"unreadable_row": 1},
        "line 6: 6 fields where the header has 4",
    ),
    "ragged row with missing fields": (
        [*csv_rows(3), "r3,only two"],
        4,
        {"unreadable_row": 1},
        "2 fields where the header has 4",
    ),
    "text after a closing quote": (
        [*csv_rows(2), 'r2,"quoted"tail,a,'],
        3,
        {"unreadable_row": 1},
        "malformed quoting",
    ),
    "a quoted field spanning lines is one row": (
        [*csv_rows(2), 'r2,"first line', 'second line, with comma",answer,'],
        3,
        {},
        "",
    ),
    "blank and whitespace lines are not rows": (
        ["", *csv_rows(3), "   ", "", *csv_rows(1, start=3)],
        4,
        {},
        "",
    ),
    "duplicate ids: later ones rejected": (
        ["a,x,y,", "b,x2,y2,", "a,again,y3,", "a,thrice,y4,"],
        4,
        {"duplicate_id": 2},
        "id 'a' already used by row 0",
    ),
}


@pytest.mark.parametrize("case", list(CSV_CASES), ids=list(CSV_CASES))
def test_hostile_csv_rows(cli, tmp_path, case):
    lines, n_rows, reasons, needle = CSV_CASES[case]
    (tmp_path / "data.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    result, out = export(cli, table_spec(tmp_path, "data.csv"), tmp_path)
    rejects = assert_accounted(result, out, n_rows, reasons)
    assert all(needle in r["detail"] for r in rejects)
    for r in rejects:
        if r["reason"] == "unreadable_row":
            assert r["record_id"].startswith("data.csv:")  # file and line, no absolute path


def test_unbalanced_quote_keeps_the_rows_it_would_have_swallowed(cli, tmp_path):
    lines = [*csv_rows(21), 'r21,"do task 21,answer 21,', *csv_rows(50)[22:]]
    (tmp_path / "data.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    result, out = export(cli, table_spec(tmp_path, "data.csv"), tmp_path)
    assert_accounted(result, out, 50, {"unreadable_row": 1})
    kept = {json.loads(line)["record_id"] for line in (out / "train.jsonl").read_text().splitlines()}
    assert kept == {f"r{i}" for i in range(50)} - {"r21"}
    assert rejects_of(out)[0]["record_id"] == "data.csv:23"


def test_crlf_and_byte_order_mark(cli, tmp_path):
    text = "\ufeff" + "\r\n".join([HEADER, *csv_rows(3), 'r3,"two\r\nlines",a,']) + "\r\n"
    (tmp_path / "data.csv").write_bytes(text.encode("utf-8"))
    result, out = export(cli, table_spec(tmp_path, "data.csv"), tmp_path)
    assert_accounted(result, out, 4, {})
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert {r["record_id"] for r in rows} == {"r0", "r1", "r2", "r3"}  # the BOM is not part of "id"
    assert any(r["instruction"] == "two\r\nlines" for r in rows)


def test_field_over_the_csv_limit_is_one_reject(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(_text, "CSV_FIELD_LIMIT", 1000)
    lines = [*csv_rows(3), f"r3,{'x' * 1500},a,", f'r4,"{"y" * 1500}",a,', *csv_rows(8)[5:]]
    (tmp_path / "data.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    result, out = export(cli, table_spec(tmp_path, "data.csv"), tmp_path)
    rejects = assert_accounted(result, out, 8, {"unreadable_row": 2})
    assert [r["record_id"] for r in rejects] == ["data.csv:5", "data.csv:6"]
    assert all("field larger than field limit" in r["detail"] for r in rejects)


def test_a_long_field_under_the_raised_limit_is_read(cli, tmp_path):
    long_text = "z" * 300_000  # over Python's default csv limit (131072), under curate's
    (tmp_path / "data.csv").write_text(f"{HEADER}\nr0,{long_text},a,\n", encoding="utf-8")
    result, out = export(cli, table_spec(tmp_path, "data.csv"), tmp_path)
    assert_accounted(result, out, 1, {})


# --- JSON Lines: each bad line is its own reject -----------------------------------------------

GOOD = {"id": "g", "instruction": "do", "response": "done", "fix": None}
JSONL_CASES = {
    # name: (the hostile line, reason, detail needle)
    "invalid JSON": ('{"id": "b", "instruction": ', "unreadable_row", "invalid JSON"),
    "a JSON array": ('["not", "an", "object"]', "unreadable_row", "a JSON array, expected an object"),
    "a JSON string": ('"just text"', "unreadable_row", "a JSON string, expected an object"),
    "JSON null": ("null", "unreadable_row", "a JSON null, expected an object"),
    "nested past Python's recursion limit": (
        '{"id": "b", "instruction": ' + "[" * 5000 + "]" * 5000 + "}",
        "unreadable_row",
        "nested deeper than 100 levels",
    ),
    "nested past curate's depth limit": (
        json.dumps({"id": "b", "instruction": "x", "response": "y", "meta": nested(150)}),
        "unreadable_row",
        "nested deeper than 100 levels",
    ),
    "a lone surrogate": (
        '{"id": "b", "instruction": "broken \\ud800 text", "response": "y", "fix": null}',
        "unreadable_row",
        "lone surrogate",
    ),
    "an integer past Python's digit limit": (
        '{"id": "b", "instruction": ' + "9" * 5000 + "}",
        "unreadable_row",
        "invalid JSON",
    ),
    "a list answer in a text question": (
        json.dumps({**GOOD, "id": "b", "fix": ["a", "b"]}),
        "bad_value:fix",
        "expected text, found list ['a', 'b']",
    ),
    "a number answer in a text question": (
        json.dumps({**GOOD, "id": "b", "fix": 12}),
        "bad_value:fix",
        "expected text, found number 12",
    ),
    "a boolean answer in a text question": (
        json.dumps({**GOOD, "id": "b", "fix": True}),
        "bad_value:fix",
        "expected text, found boolean True",
    ),
    "an object in a text field": (
        json.dumps({**GOOD, "id": "b", "instruction": {"a": 1}}),
        "bad_value:instruction",
        "field 'instruction': expected text, found object",
    ),
    "a list id": (json.dumps({**GOOD, "id": ["x"]}), "bad_id", "id is list"),
}


@pytest.mark.parametrize("case", list(JSONL_CASES), ids=list(JSONL_CASES))
def test_hostile_jsonl_rows(cli, tmp_path, case):
    line, reason, needle = JSONL_CASES[case]
    good = [
        json.dumps(
            {**GOOD, "id": f"g{i}", "instruction": f"do {i}", "fix": f"fixed {i} ✓" if i % 2 else None}
        )
        for i in range(6)
    ]
    lines = [*good[:3], line, "", *good[3:]]
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, out = export(cli, table_spec(tmp_path, "data.jsonl"), tmp_path)
    (reject,) = assert_accounted(result, out, 7, {reason: 1})
    assert needle in reject["detail"]
    assert reject["record_id"] in ("data.jsonl:4", "b", "row-3")
    json.dumps(reject, ensure_ascii=False).encode("utf-8")  # what was written is valid UTF-8


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_a_json_lines_file_starting_with_an_array_line_rejects_that_line(cli, tmp_path, suffix):
    """Only a .json file is read as one array when it starts with '['; JSON Lines stay lines."""
    good = [json.dumps({**GOOD, "id": f"g{i}", "instruction": f"do {i}"}) for i in range(3)]
    (tmp_path / f"data{suffix}").write_text("\n".join(['["not", "an", "object"]', *good]) + "\n")
    result, out = export(cli, table_spec(tmp_path, f"data{suffix}"), tmp_path)
    (reject,) = assert_accounted(result, out, 4, {"unreadable_row": 1})
    assert "line 1: a JSON array, expected an object" in reject["detail"]


def test_rating_values_are_checked_not_coerced(cli, tmp_path):
    fixes = {"a": 4, "b": "5", "c": "five", "d": True, "e": "nan", "f": [3]}  # "5": a number as text is fine
    rows = [{"id": k, "instruction": f"i {k}", "response": "r", "fix": v} for k, v in fixes.items()]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = "columns:\n  instruction: [{field: instruction}]\n  response: [{field: response}]\n"
    result, out = export(cli, table_spec(tmp_path, "data.jsonl", columns), tmp_path)
    rejects = assert_accounted(result, out, 6, {"bad_value:fix": 4})
    assert {r["record_id"] for r in rejects} == {"c", "d", "e", "f"}
    assert all("expected a number" in r["detail"] for r in rejects)


def test_null_and_blank_ids_are_named_by_position_and_counted(cli, tmp_path):
    rows = [{**GOOD, "id": rid, "instruction": f"do {i}"} for i, rid in enumerate(("a", None, "", "  ", "b"))]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result, out = export(cli, table_spec(tmp_path, "data.jsonl"), tmp_path)
    assert_accounted(result, out, 5, {})
    kept = {json.loads(line)["record_id"] for line in (out / "train.jsonl").read_text().splitlines()}
    assert kept == {"a", "row-1", "row-2", "row-3", "b"} and "None" not in kept
    warnings = manifest_of(out)["warnings"]
    assert any("3 record(s) without an id were named row-<n>" in w for w in warnings)


# --- whole-file errors: one line naming the file, nothing written ------------------------------


def _latin1_csv(tmp: Path) -> str:
    (tmp / "data.csv").write_bytes(f"{HEADER}\nr0,caf\xe9,a,\n".encode("latin-1"))
    return "data.csv"


def _duplicate_header(tmp: Path) -> str:
    (tmp / "data.csv").write_text("id,instruction,instruction,response,fix\nr0,a,b,c,\n")
    return "data.csv"


def _broken_header(tmp: Path) -> str:
    (tmp / "data.csv").write_text('id,"instruction,response,fix\n' + "\n".join(csv_rows(3)) + "\n")
    return "data.csv"


def _markup_in_header(tmp: Path) -> str:
    (tmp / "data.csv").write_text("id,[/x],[/x],instruction,response,fix\nr0,a,b,c,d,\n")
    return "data.csv"


def _latin1_jsonl(tmp: Path) -> str:
    (tmp / "data.jsonl").write_bytes(
        b'{"id": "a", "instruction": "ok", "response": "r", "fix": null}\n'
        b'{"id": "b", "instruction": "caf\xe9"}\n'
    )
    return "data.jsonl"


def _shard_missing_column(tmp: Path) -> str:
    (tmp / "shards").mkdir()
    (tmp / "shards" / "part-0.csv").write_text(f"{HEADER}\n" + "\n".join(csv_rows(3)) + "\n")
    (tmp / "shards" / "part-1.csv").write_text("id,instruction,response\nr9,x,y\n")
    return "shards"


def _mixed_formats(tmp: Path) -> str:
    (tmp / "mixed").mkdir()
    pq.write_table(pa.Table.from_pylist([GOOD]), tmp / "mixed" / "train.parquet")
    (tmp / "mixed" / "more.jsonl").write_text(json.dumps({**GOOD, "id": "other"}) + "\n")
    return "mixed"


def _empty_auto(tmp: Path) -> str:
    (tmp / "empty.csv").write_text("")
    return "empty.csv"


FILE_ERRORS = {
    # name: (writer, spec layout table?, needles in the one error line)
    "CSV not UTF-8": (_latin1_csv, True, ["data.csv:2: not UTF-8 text (byte 0xe9"]),
    "CSV header names a column twice": (
        _duplicate_header,
        True,
        ["the CSV header names column 'instruction' twice"],
    ),
    "CSV header with an open quote": (_broken_header, True, ["data.csv", "cannot read the CSV header"]),
    "a column name that looks like markup": (_markup_in_header, True, ["names column '[/x]' twice"]),
    "JSON Lines not UTF-8": (_latin1_jsonl, True, ["data.jsonl:2: not UTF-8 text"]),
    "a table shard missing a mapped column": (
        _shard_missing_column,
        True,
        ["part-1.csv: missing column(s)", "columns.responses.fix -> 'fix'"],
    ),
    "a folder with Parquet and JSON Lines": (
        _mixed_formats,
        True,
        ["data files in several formats", "1 .jsonl (more.jsonl)", "1 .parquet"],
    ),
    "an empty file with layout auto": (_empty_auto, False, ["empty.csv: empty: no rows"]),
}


@pytest.mark.parametrize("case", list(FILE_ERRORS), ids=list(FILE_ERRORS))
def test_whole_file_errors(cli, tmp_path, case):
    writer, table, needles = FILE_ERRORS[case]
    data = writer(tmp_path)
    if table:
        spec = table_spec(tmp_path, data)
    else:
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            f"name: x\ntask: sft\nsource: {{path: {data}}}\n"
            "columns:\n  instruction: [{field: instruction}]\n  response: [{field: response}]\n"
        )
    result, out = export(cli, spec, tmp_path)
    assert_one_error(result, out, *needles)


# --- Argilla 2.x to_disk (records.json) ------------------------------------------------------


def _bent(records: list[dict[str, Any]]) -> list[Any]:
    records[1]["fields"]["original-response"] = 42  # a number in a text field
    records[2]["responses"]["new-response"] = [{"value": ["a", "list"], "user_id": "u1"}]
    records[3]["id"] = records[0]["id"]  # a duplicate id
    records[4] = ["not", "a", "record"]
    records[5] = {"id": "no-fields"}
    return records


def test_records_json_bad_elements_are_rejected_one_by_one(cli, tmp_path):
    records = _bent(dolly_records(12))
    disk_export(tmp_path, json.dumps(records, ensure_ascii=False))
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    # the spec rejects some intact records too (no counted answer): only ours are checked by reason
    assert_accounted(result, out, 12, dict(Counter(r["reason"] for r in rejects_of(out))))
    by_reason = {r["reason"]: r for r in rejects_of(out)}
    assert "expected text, found number 42" in by_reason["bad_value:original-response"]["detail"]
    assert by_reason["bad_value:original-response"]["record_id"] == records[1]["id"]
    assert "expected text, found list ['a', 'list']" in by_reason["bad_value:new-response"]["detail"]
    assert by_reason["duplicate_id"]["record_id"] == records[0]["id"]
    unreadable = sorted(r["record_id"] for r in rejects_of(out) if r["reason"] == "unreadable_row")
    assert unreadable == ["records.json[4]", "records.json[5]"]


MALFORMED_RECORDS = {  # element index -> (change, reason, words of the detail)
    1: (
        lambda r: r.update(metadata=[1, 2]),
        "bad_value:metadata",
        "metadata is list [1, 2], expected an object",
    ),
    2: (
        lambda r: r.update(responses="yes"),
        "bad_value:responses",
        "responses is text 'yes', expected an object",
    ),
    3: (lambda r: r.update(responses={"new-response": "yes"}), "bad_value:new-response", "expected a list"),
    4: (
        lambda r: r.update(responses={"new-response": [7]}),
        "bad_value:new-response",
        "response 0 is number 7",
    ),
    5: (lambda r: r.update(responses={"rate": []}), "bad_value:rate", "response to unknown question 'rate'"),
    6: (
        lambda r: r.update(suggestions={"new-response": "x"}),
        "bad_value:new-response",
        "expected an object",
    ),
    7: (
        lambda r: r.update(responses={"new-response": [{"value": "v", "user_id": "u", "status": 1}]}),
        "bad_value:new-response",
        "status number 1 is not one of submitted, discarded, draft",
    ),
}


def test_records_json_malformed_records_are_rejected_one_by_one(cli, tmp_path):
    records = dolly_records(12)
    for i, (change, _, _) in MALFORMED_RECORDS.items():
        change(records[i])
    disk_export(tmp_path, json.dumps(records, ensure_ascii=False))
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert_accounted(result, out, 12, dict(Counter(r["reason"] for r in rejects_of(out))))
    by_id = {r["record_id"]: r for r in rejects_of(out)}
    for i, (_, reason, words) in MALFORMED_RECORDS.items():
        reject = by_id[records[i]["id"]]
        assert reject["reason"] == reason and words in reject["detail"], (i, reject)


def test_records_json_integer_past_the_digit_limit_rejects_its_record_only(cli, tmp_path):
    """Valid JSON that Python will not read as a value (an integer of 5,000 digits) costs its own
    record, as in a JSON Lines file, not the whole export."""
    records = dolly_records(6)
    records[2]["responses"]["new-response"] = [{"value": "HUGE", "user_id": "u1"}]
    records[4]["metadata"] = {"count": "HUGE"}
    text = json.dumps(records, ensure_ascii=False).replace('"HUGE"', "9" * 5000)
    disk_export(tmp_path, text)
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert_accounted(result, out, 6, dict(Counter(r["reason"] for r in rejects_of(out))))
    unreadable = {r["record_id"]: r["detail"] for r in rejects_of(out) if r["reason"] == "unreadable_row"}
    assert sorted(unreadable) == ["records.json[2]", "records.json[4]"]
    assert all("digits" in detail and "element" in detail for detail in unreadable.values())


def test_records_json_element_nested_past_the_recursion_limit_rejects_its_record_only(cli, tmp_path):
    records = dolly_records(5)
    text = json.dumps(records, ensure_ascii=False)
    deep = '{"fields": ' + "[" * 5000 + '"]}"' + "]" * 5000 + "}"  # brackets in a string do not count
    disk_export(tmp_path, text[:-1] + ", " + deep + ", " + json.dumps(records[0] | {"id": "last"}) + "]")
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert_accounted(result, out, 7, dict(Counter(r["reason"] for r in rejects_of(out))))
    (reject,) = [r for r in rejects_of(out) if r["reason"] == "unreadable_row"]
    assert reject["record_id"] == "records.json[5]" and "nested deeper than 100 levels" in reject["detail"]


@pytest.mark.parametrize("chunk", [3, 64, 1 << 20])
def test_json_array_skips_an_unreadable_element_across_reads(chunk):
    """The element holding the integer ends where its JSON ends, wherever the reads cut the text."""
    import io

    elements = ['{"a": 1}', '{"b": [' + "7" * 4400 + ', {"c": "]}"}]}', '{"d": "x"}']
    elements.insert(2, "[" * 3000 + '"\\"]"' + "]" * 3000)  # too deep, with an escaped quote inside
    rows = list(
        _text.read_json_array(io.StringIO("[" + ", ".join(elements) + "]"), "f.json", "f.json", chunk)
    )
    assert rows[0] == {"a": 1} and rows[3] == {"d": "x"}
    assert isinstance(rows[1], _text.BadRow) and rows[1].locator == "f.json[1]"
    assert isinstance(rows[2], _text.BadRow) and "nested deeper than 100 levels" in rows[2].detail
    assert len(rows) == 4


RECORDS_JSON_ERRORS = {
    "truncated": (lambda text: text[: text.index("}, {") + 1], "records.json: JSON array is not closed"),
    "broken inside an element": (lambda text: text[: len(text) // 2], "invalid JSON in array element 1"),
    "an object, not an array": (lambda text: "{}", "records.json: expected a JSON array of records"),
    "data after the array": (lambda text: text + "\n[]", "data after the closing ']'"),
    "an element nested past the recursion limit, not closed": (
        lambda text: text[:-1] + ", " + "[" * 5000 + "]" * 4999 + "]",
        "records.json: JSON array is not closed",
    ),
}


@pytest.mark.parametrize("case", list(RECORDS_JSON_ERRORS), ids=list(RECORDS_JSON_ERRORS))
def test_records_json_whole_file_errors(cli, tmp_path, case):
    bend, needle = RECORDS_JSON_ERRORS[case]
    disk_export(tmp_path, bend(json.dumps(dolly_records(3))))
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert_one_error(result, out, needle)


@pytest.mark.parametrize("text", ["[]", "[\n]\n", ""], ids=["empty array", "array over lines", "empty file"])
def test_empty_records_json_is_zero_rows_said_clearly(tmp_path, text):
    folder = disk_export(tmp_path, text)
    source = open_source(SourceSpec(path=str(folder)), tmp_path)
    assert list(source) == [] and source.rows_read == 0
    assert any("records.json holds no records" in w for w in source.warnings)


@pytest.mark.parametrize("text", ["[]", None], ids=["records.json of zero records", "no records.json"])
def test_an_empty_to_disk_export_is_named_in_the_error(cli, tmp_path, text):
    """A to_disk folder with zero records, or one written with ``with_records=False`` (settings and
    dataset.json, no records.json): the export error names the folder, not a bare label."""
    folder = disk_export(tmp_path, text or "")
    (folder / ".argilla" / "dataset.json").write_text('{"name": "dolly"}')
    if text is None:
        (folder / "records.json").unlink()
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert_one_error(result, out, f"error: {folder}: the source has no records; nothing was written")
    result = cli("export", disk_spec(tmp_path), "--out", out, "-q", "--allow-empty")
    assert result.exit_code == 0, result.stderr
    assert manifest_of(out)["counts"]["input_records"] == 0


def test_a_folder_with_only_argilla_settings_is_not_taken_for_an_empty_export(tmp_path):
    """Without dataset.json beside the settings it is not a to_disk export: still an error."""
    folder = disk_export(tmp_path, "")
    (folder / "records.json").unlink()
    with pytest.raises(CurateError, match="no data files found"):
        open_source(SourceSpec(path=str(folder)), tmp_path)


def test_empty_csv_with_layout_table_is_zero_rows_said_clearly(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    spec = SourceSpec(path="empty.csv", layout="table", columns=TableColumns(**COLUMNS))
    source = open_source(spec, tmp_path)
    assert list(source) == [] and source.rows_read == 0
    assert source.warnings == ["empty.csv: no rows (the file is empty)"]


# --- Argilla 1.x shards ------------------------------------------------------------------------


def test_v1_shards_with_different_columns_are_refused(cli, tmp_path):
    data = tmp_path / "v1" / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(v1_rows(3, with_fix=False)), data / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(v1_rows(3, start=3)), data / "train-00001-of-00002.parquet")
    result, out = export(cli, fix_spec(tmp_path, f"{{path: {tmp_path / 'v1'}}}"), tmp_path)
    assert_one_error(
        result,
        out,
        "train-00001-of-00002.parquet: its columns differ from data/train-00000-of-00002.parquet",
        "adds fix",
        "read them one at a time",
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("fields: []\n", "malformed YAML: duplicate key 'fields'"),  # PyYAML kept the last: no fields
        (
            "x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(
                f"x{i}: &{n} [{', '.join(['*' + p] * 10)}]\n"
                for i, (p, n) in enumerate(zip("abcd", "bcde", strict=True))
            ),
            "the Argilla settings holds more than 100,000 values",
        ),
    ],
    ids=["duplicate-key", "alias-bomb"],
)
def test_an_exports_argilla_yaml_is_read_as_safely_as_a_spec(cli, tmp_path, extra, needle):
    """``argilla.yaml`` comes with a downloaded export: it goes through curate.yamlio too."""
    import shutil

    folder = tmp_path / "v1"
    shutil.copytree(DATA / "dolly-curated-v1", folder)
    settings = folder / "argilla.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + extra, encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: x\ntask: sft\nsource: {{path: {folder}}}\n"
        "columns:\n  instruction: [{field: original-instruction}]\n  response: [{field: original-response}]\n"
    )
    result, out = export(cli, spec, tmp_path)
    assert_one_error(result, out, str(settings), needle)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_v1_metadata_that_is_not_an_object_rejects_its_record(cli, tmp_path, fmt):
    rows = v1_rows(8)
    rows[1]["metadata"] = "[1, 2]"
    rows[2]["metadata"] = "{not json"
    rows[3]["metadata"] = '{"a":' * 50_000 + "1" + "}" * 50_000
    rows[4]["metadata"] = '{"a": "\\ud800"}'
    rows[5]["metadata"] = '{"topic": "ok"}'
    rows[6]["metadata"] = None
    data = tmp_path / "v1" / "data"
    data.mkdir(parents=True)
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), data / "train-00000-of-00001.parquet")
    else:
        lines = [json.dumps(r) for r in rows]
        (data / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, out = export(cli, fix_spec(tmp_path, f"{{path: {tmp_path / 'v1'}}}"), tmp_path)
    rejects = assert_accounted(result, out, len(rows), {"bad_value:metadata": 4})
    details = {r["record_id"]: r["detail"] for r in rejects}
    assert details["e1"] == "metadata is list, expected a JSON object"
    assert details["e2"].startswith("metadata is not JSON")
    assert details["e3"] == "metadata is nested deeper than 100 levels"
    assert "lone surrogate" in details["e4"]


def test_v1_rows_read_over_shards_and_positions_for_missing_external_ids(tmp_path):
    data = tmp_path / "v1" / "data"
    data.mkdir(parents=True)
    first, second = v1_rows(4), v1_rows(3, start=4)
    second[1]["external_id"] = None
    for i, rows in enumerate((first, second)):
        pq.write_table(pa.Table.from_pylist(rows), data / f"train-0000{i}-of-00002.parquet")
    source = open_source(SourceSpec(path=str(tmp_path / "v1")), tmp_path)
    items = list(source)
    assert source.rows_read == len(first) + len(second) == len(items)
    assert [r.id for r in items] == ["e0", "e1", "e2", "e3", "e4", "row-5", "e6"]
    assert source.unnamed_ids == 1 and any("without an id" in w for w in source.warnings)


def test_v1_jsonl_values_are_typed_per_question(tmp_path):
    rows = v1_rows(3)
    rows[1]["fix"][0]["value"] = ["a", "b"]
    rows[2]["prompt"] = 7
    path = tmp_path / "v1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = open_source(SourceSpec(path=str(path)), tmp_path)
    items = list(source)
    assert source.rows_read == 3 and source.rows_unreadable == 2
    bad = [i for i in items if isinstance(i, Unreadable)]
    assert [(b.record_id, b.reason) for b in bad] == [("e1", "bad_value:fix"), ("e2", "bad_value:prompt")]
    assert "response 0 (u1): expected text, found list ['a', 'b']" in bad[0].detail


# --- value kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("multi_label_selection", ["a", "b"], True),
        ("multi_label_selection", '["a", "b"]', True),
        ("multi_label_selection", [1, 2], False),
        ("ranking", ["x", "y"], True),
        ("ranking", [{"value": "x", "rank": 1}, {"value": "y", "rank": 2}], True),
        ("ranking", [{"value": 3, "rank": 1}], False),
        ("ranking", "x", False),
        ("span", [{"label": "L", "start": 0, "end": 2}], True),
        ("span", [{"label": "L", "start": "0", "end": 2}], False),
        ("label_selection", 1, False),
        ("rating", 4, True),
        ("rating", 10**400, False),  # an integer no float holds: means and medians would overflow
        ("rating", -(10**400), False),
    ],
)
def test_each_kind_checks_its_type(kind, value, ok):
    from curate.records import QuestionKind
    from curate.sources._argilla import normalize_value
    from curate.sources.base import BadValue

    if ok:
        assert normalize_value(QuestionKind(kind), value, "q", "response 0") is not None
    else:
        with pytest.raises(BadValue) as err:
            normalize_value(QuestionKind(kind), value, "q", "response 0")
        assert err.value.reason == "bad_value:q" and "expected" in err.value.detail


def test_a_rating_or_score_past_any_float_rejects_its_record(cli, tmp_path):
    """JSON holds integers of any size; a rating or suggestion score no float can hold is a bad
    value of its record, not an overflow that stops the export."""
    records = dolly_records(6)
    huge = "1" + "0" * 400
    records[2]["suggestions"] = {"new-response": {"value": "fine", "score": 0.5, "agent": "a"}}
    text = json.dumps(records).replace('"score": 0.5', f'"score": {huge}', 1)
    disk_export(tmp_path, text)
    result, out = export(cli, disk_spec(tmp_path), tmp_path)
    assert_accounted(result, out, 6, dict(Counter(r["reason"] for r in rejects_of(out))))
    reject = {r["record_id"]: r for r in rejects_of(out)}[records[2]["id"]]
    assert (
        reject["reason"] == "bad_value:new-response"
        and "suggestion score: expected a number" in reject["detail"]
    )


def test_stats_counts_unreadable_rows(cli, tmp_path):
    lines = [*csv_rows(5), 'r5,"open,a,', "r6,too,many,fields,here"]
    (tmp_path / "data.csv").write_text("\n".join([HEADER, *lines]) + "\n")
    result = cli("stats", table_spec(tmp_path, "data.csv"), "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["rows"] == 7 and stats["records"] == 5 and stats["unreadable"] == {"unreadable_row": 2}
    human = cli("stats", table_spec(tmp_path, "data.csv"))
    assert "unreadable rows" in human.stdout and "of 7 rows read" in human.stdout


def test_strict_readers_name_the_bad_row(tmp_path):
    """Callers with no reject file (``argilla log``, packing) get an error, never a silent skip."""
    from curate.sources.rows import find_data_files, iter_rows

    (tmp_path / "rows.jsonl").write_text('{"a": 1}\n[2]\n')
    with pytest.raises(CurateError, match=r"rows\.jsonl: line 2: a JSON array, expected an object"):
        list(iter_rows(find_data_files(tmp_path / "rows.jsonl")))


def test_class_label_suggestions_are_named_and_a_stray_index_rejected(tmp_path):
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    features = Features(
        {
            "id": Value("string"),
            "prompt": Value("string"),
            "quality.responses": Sequence(Value("string")),
            "quality.responses.users": Sequence(Value("string")),
            "quality.responses.status": Sequence(Value("string")),
            "quality.suggestion": ClassLabel(names=["bad", "good"]),
        }
    )
    rows = {
        "id": ["a", "b", "c", "d"],
        "prompt": ["p0", "p1", "p2", "p3"],
        "quality.responses": [["good"], [], [], []],
        "quality.responses.users": [["u1"], [], [], []],
        "quality.responses.status": [["submitted"], [], [], []],
        "quality.suggestion": [1, -1, 0, 0],
    }
    path = tmp_path / "flat.parquet"
    Dataset.from_dict(rows, features=features).to_parquet(str(path))
    table = pq.read_table(path)  # an index past the names, as a hand-edited file could hold
    column = table.schema.get_field_index("quality.suggestion")
    table = table.set_column(column, table.schema.field(column), pa.array([1, -1, 0, 7], pa.int64()))
    pq.write_table(table, path)
    source = open_source(SourceSpec(path=str(path), layout="argilla_v2_flat"), tmp_path)
    items = {item.id if not isinstance(item, Unreadable) else item.record_id: item for item in source}
    assert items["a"].suggestions["quality"].value == "good"
    assert "quality" not in items["b"].suggestions  # -1: `datasets`' "no label"
    assert items["c"].suggestions["quality"].value == "bad"
    assert isinstance(items["d"], Unreadable) and items["d"].reason == "bad_value:quality"
    assert "suggestion 7 is not a label index of 'quality' (0..1, or -1 for none)" in items["d"].detail


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_flat_response_columns_that_are_not_lists_reject_their_record(cli, tmp_path, fmt):
    rows = [
        {"id": f"r{i}", "prompt": f"p{i}", "fix.responses": [f"fixed {i}"], "fix.responses.users": ["u1"]}
        for i in range(5)
    ]
    rows[1]["fix.responses"] = 5
    rows[2]["fix.responses"], rows[2]["fix.responses.users"] = "ab", "uv"  # text, not a list
    rows[3]["fix.responses.users"] = {"u1": True}
    path = tmp_path / f"flat.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:  # a CSV cell holds a list as JSON text
        lines = ["id,prompt,fix.responses,fix.responses.users"]
        for r in rows:
            cells = [
                r["id"],
                r["prompt"],
                json.dumps(r["fix.responses"]),
                json.dumps(r["fix.responses.users"]),
            ]
            lines.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, out = export(cli, fix_spec(tmp_path, f"{{path: {path}, layout: argilla_v2_flat}}"), tmp_path)
    rejects = assert_accounted(result, out, 5, {"bad_value:fix": 3})
    details = {r["record_id"]: r["detail"] for r in rejects}
    assert (
        f"column 'fix.responses' is {'number 5' if fmt == 'jsonl' else 'text ' + repr('5')}, expected a list"
        in details["r1"]
    )
    assert "expected a list" in details["r2"] and "expected a list" in details["r3"]


def test_v1_question_cells_that_are_not_response_lists_reject_their_record(cli, tmp_path):
    rows = v1_rows(4)
    rows[1]["fix"] = 5
    rows[2]["fix"] = "abc"
    rows[3]["fix"] = {"user_id": "u1", "value": "one response as an object", "status": "submitted"}
    path = tmp_path / "v1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result, out = export(cli, fix_spec(tmp_path, f"{{path: {path}, layout: argilla_v1}}"), tmp_path)
    rejects = assert_accounted(result, out, 4, {"bad_value:fix": 2})
    details = {r["record_id"]: r["detail"] for r in rejects}
    assert details == {
        "e1": "question 'fix', response 0 is number 5, expected an object",
        "e2": "question 'fix', response 0 is text 'abc', expected an object",
    }
