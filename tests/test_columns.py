"""The column-wise build writes what the row-by-row build writes, byte for byte: on every shipped
spec, and on sources holding a hostile value in every place of real records (Argilla 2.x
``to_disk`` and the 1.x Hub layout as Parquet), on the Arrow shapes the 1.x reader meets, and on
seeded random records that mix several mutations each."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import DATA, HOSTILE, SPECS, assert_one_error, key_paths, manifest_of

from curate.api.loader import load_spec
from curate.build.columns import column_outcomes
from curate.build.quality import QualityStats
from curate.errors import CurateError
from curate.pipeline import run
from curate.pipeline.plan import plan_export
from curate.sources.open import open_spec_source

SHIPPED = sorted(SPECS.glob("*.yaml"))


def files_of(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def export_both(spec_path: Path, source: str | None, tmp: Path, fmt: str = "jsonl") -> dict[str, str]:
    """Export row by row and column-wise; the two folders' files (or one error) must be equal."""
    spec = load_spec(spec_path)
    results: list[Any] = []
    for column_wise in (False, True):
        out = tmp / f"out-{column_wise}"
        shutil.rmtree(out, ignore_errors=True)
        try:
            src = open_spec_source(spec, source)
            options = run.ExportOptions(out, fmt=fmt, allow_empty=True)  # type: ignore[arg-type]
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(run, "COLUMN_WISE", column_wise)
                run.run_export(plan_export(spec, src), src, options)
            results.append(files_of(out))
        except CurateError as err:
            results.append(str(err))
    assert results[0] == results[1]
    return results[0]  # type: ignore[no-any-return]


def column_batches_used(spec_path: Path, source: str | None) -> bool:
    spec = load_spec(spec_path)
    src = open_spec_source(spec, source)
    return src.column_scan() is not None if hasattr(src, "column_scan") else False


@pytest.mark.parametrize("spec_path", SHIPPED, ids=[p.stem for p in SHIPPED])
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_shipped_spec_gives_the_same_files(spec_path: Path, fmt: str, tmp_path: Path) -> None:
    files = export_both(spec_path, None, tmp_path, fmt)
    assert isinstance(files, dict) and "manifest.json" in files


def test_the_bundled_sources_are_read_column_wise() -> None:
    """Both layouts the benchmark measures take the column-wise path (else the test above compares
    the row-by-row build with itself)."""
    assert column_batches_used(SPECS / "dolly-curated.yaml", None)  # 1.x Hub layout, Parquet
    assert column_batches_used(SPECS / "chat-review.yaml", None)  # 2.x to_disk


# --- hostile values, all in one source: one record per (place, value) --------------------------------
def hostile_records(records: list[dict[str, Any]], id_key: str) -> list[dict[str, Any]]:
    out = [copy.deepcopy(r) for r in records]
    for index, record in enumerate(records):
        for path in list(key_paths(record)):
            for n, value in enumerate(HOSTILE):
                changed = copy.deepcopy(record)
                place: Any = changed
                for key in path[:-1]:
                    place = place[key]
                place[path[-1]] = copy.deepcopy(value)
                if path != (id_key,):
                    changed[id_key] = f"h-{index}-{'.'.join(map(str, path))}-{n}"
                out.append(changed)
    return out


def test_hostile_values_in_a_to_disk_export(tmp_path: Path) -> None:
    base = DATA / "dolly-curated-v2-disk"
    records = json.loads((base / "records.json").read_text(encoding="utf-8"))[:6]
    folder = tmp_path / "disk"
    shutil.copytree(base, folder)
    rows = hostile_records(records, "id")
    (folder / "records.json").write_text(json.dumps(rows), encoding="utf-8")
    files = export_both(SPECS / "dolly-curated.yaml", str(folder), tmp_path)
    assert isinstance(files, dict)
    counts = manifest_of(tmp_path / "out-True")["counts"]
    assert counts["input_records"] == len(rows)
    assert counts["rejected_records"] > 0
    # the source's own counts are kept alike: rows read, and rows that became no record
    spec = load_spec(SPECS / "dolly-curated.yaml")
    by_rows = open_spec_source(spec, str(folder))
    list(by_rows)
    by_columns = open_spec_source(spec, str(folder))
    plan = plan_export(spec, by_columns)
    outcomes = column_outcomes(plan.builder, plan.filters, by_columns, QualityStats(plan.builder))
    assert outcomes is not None and len(list(outcomes)) == len(rows)
    assert (by_columns.rows_read, by_columns.rows_unreadable) == (by_rows.rows_read, by_rows.rows_unreadable)
    assert by_rows.rows_unreadable > 0


def v1_folder(tmp: Path, table: pa.Table, name: str = "v1") -> Path:
    folder = tmp / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    shutil.copy(DATA / "dolly-curated-v1" / "argilla.yaml", folder / "argilla.yaml")
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet", row_group_size=7)
    return folder


def parquet_groups(rows: list[dict[str, Any]], schema: pa.Schema) -> Iterator[pa.Table]:
    """The hostile rows in as few tables as Arrow can type: a row whose value does not fit the
    real schema is typed on its own (its column takes whatever type Arrow infers)."""
    fitting: list[pa.Table] = []
    for row in rows:
        try:
            fitting.append(pa.Table.from_pylist([row], schema=schema))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            try:
                yield pa.Table.from_pylist([row])
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
                continue  # Parquet cannot hold this value at all
    yield pa.concat_tables(fitting)


@pytest.mark.parametrize("spec_name", ["dolly-curated.yaml", "dolly-curated-preference.yaml"])
def test_hostile_values_in_a_v1_parquet_export(spec_name: str, tmp_path: Path) -> None:
    table = pq.read_table(DATA / "dolly-curated-v1" / "data")
    records = table.to_pylist()[:4]
    rows = hostile_records(records, "external_id")
    written = 0
    for n, part in enumerate(parquet_groups(rows, table.schema)):
        try:
            folder = v1_folder(tmp_path, part, f"v1-{n}")
        except pa.ArrowNotImplementedError:
            continue  # a type Parquet cannot write (a struct with no fields)
        export_both(SPECS / spec_name, str(folder), tmp_path)
        written += 1
    assert written > 5  # the rows that fit the real schema, and the odd types each in a file of its own


def v1_table(responses: pa.Array, **columns: Any) -> pa.Table:
    n = len(responses)
    base = {
        "original-instruction": pa.array([f"Explain topic {i}." for i in range(n)]),
        "original-context": pa.array([""] * n),
        "original-response": pa.array([f"Answer {i}." for i in range(n)]),
        "category": pa.array(["open_qa"] * n),
        "new-instruction": pa.array([None] * n, pa.list_(pa.struct([("user_id", pa.string())]))),
        "new-context": pa.array([None] * n, pa.list_(pa.struct([("user_id", pa.string())]))),
        "new-response": responses,
        "external_id": pa.array([f"r{i}" for i in range(n)]),
        "metadata": pa.array(["{}"] * n),
    }
    base.update(columns)
    return pa.table(base)


ITEM = pa.struct([("user_id", pa.string()), ("value", pa.string()), ("status", pa.string())])
ODD_SHAPES = {
    "statuses spelled otherwise, null items and lists, blank users": v1_table(
        pa.array(
            [
                [{"user_id": "u1", "value": "Fixed.", "status": "Submitted"}],
                [None, {"user_id": "u1", "value": "Fixed.", "status": "submitted"}],
                None,
                [],
                [{"user_id": "", "value": "Fixed.", "status": None}],
                [{"user_id": "u1", "value": None, "status": "submitted"}],
                [
                    {"user_id": "u1", "value": "A.", "status": "submitted"},
                    {"user_id": "u2", "value": "B.", "status": "submitted"},
                ],
                [{"user_id": "u1", "value": "Fixed.", "status": "pending"}],
            ],
            pa.list_(ITEM),
        )
    ),
    "the older {user_id: [..], value: [..]} form": v1_table(
        pa.array(
            [{"user_id": ["u1", "u2"], "value": ["A.", "B."], "status": ["submitted", "draft"]}] * 3,
            pa.struct(
                [
                    ("user_id", pa.list_(pa.string())),
                    ("value", pa.list_(pa.string())),
                    ("status", pa.list_(pa.string())),
                ]
            ),
        )
    ),
    "numbers where text is expected": v1_table(
        pa.array([[{"user_id": 7, "value": 3, "status": "submitted"}]] * 3),
        **{"original-instruction": pa.array([1, 2, None])},
    ),
    "ids: missing, blank, repeated, numbers": v1_table(
        pa.array([[{"user_id": "u1", "value": "Fixed.", "status": "submitted"}]] * 5, pa.list_(ITEM)),
        external_id=pa.array([None, " ", "same", "same", None]),
    ),
    "a null list backed by items": v1_table(
        pa.ListArray.from_arrays(
            pa.array([0, 1, 2, 3], pa.int32()),
            pa.array(
                [{"user_id": "u1", "value": f"Fixed {i}.", "status": "submitted"} for i in range(3)], ITEM
            ),
            mask=pa.array([False, True, False]),
        )
    ),
    "numeric ids": v1_table(pa.array([None] * 3, pa.list_(ITEM)), external_id=pa.array([1, 2, 1])),
    # a whole read cannot turn row 1 into Python (year past 9999): it is unreadable, and its id
    # is not taken, even though no column the spec reads holds the value
    "a value Python cannot hold, in a column no spec reads": v1_table(
        pa.array([None] * 4, pa.list_(ITEM)),
        external_id=pa.array(["r0", "same", "same", "r3"]),
        when=pa.array([0, 10**15, 0, 0], pa.timestamp("s")),
    ),
    "metadata and suggestions that do not fit": v1_table(
        pa.array([None] * 4, pa.list_(ITEM)),
        metadata=pa.array(['{"a": 1}', "[1]", "not json", None]),
        **{
            "new-response-suggestion": pa.array(["Suggested.", "x", None, ""]),
            "new-response-suggestion-metadata": pa.array(
                [{"score": "0.5"}, {"score": "high"}, None, {"score": None}],
                pa.struct([("score", pa.string())]),
            ),
        },
    ),
}


@pytest.mark.parametrize("shape", list(ODD_SHAPES), ids=list(ODD_SHAPES))
def test_odd_arrow_shapes_in_the_1x_layout(shape: str, tmp_path: Path) -> None:
    folder = v1_folder(tmp_path, ODD_SHAPES[shape])
    files = export_both(SPECS / "dolly-curated.yaml", str(folder), tmp_path)
    assert isinstance(files, dict), files  # the rows were read and built, not refused whole


# --- the SFT column-wise build against the row-by-row one, on spec variants ------------------------
SFT_VARIANTS = {
    "majority, submitted and drafts, sources in another order": """
responses: {statuses: [submitted, draft]}
unify: {text: majority}
columns:
  instruction: [{value: "   "}, {question: new-instruction}, {field: original-instruction}]
  context: [{field: original-context}, {question: new-context, strategy: unanimous}]
  response: [{question: new-response}, {question: new-response, strategy: first_submitted}, {field: original-response}]
""",
    "unanimous, a literal context, conversational": """
unify: {text: unanimous}
style: conversational
columns:
  instruction: [{question: new-instruction}, {field: original-instruction}]
  context: [{value: "Fixed context."}]
  response: [{question: new-response}, {field: original-response}]
""",
    "unknown statuses rejected, completed records only": """
responses: {unknown_status: reject}
filters: {record_status: [completed], min_chars: {response: 30}}
columns:
  instruction: [{field: original-instruction}]
  response: [{question: new-response}, {field: original-response}]
""",
    "metadata and suggestions (built through a ColumnContext)": """
columns:
  instruction: [{question: new-instruction}, {field: original-instruction}]
  context: [{metadata: source_row}]
  response: [{suggestion: new-response, min_score: 0.5}, {question: new-response}, {field: original-response}]
""",
}


def variant_spec(tmp: Path, body: str) -> Path:
    spec = tmp / "variant.yaml"
    spec.write_text(
        "name: variant\ntask: sft\ntemplate: alpaca\nsplit: {train: 0.8, test: 0.2}\n" + body,
        encoding="utf-8",
    )
    return spec


@pytest.mark.parametrize("variant", list(SFT_VARIANTS), ids=list(SFT_VARIANTS))
def test_sft_spec_variants_give_the_same_files(variant: str, tmp_path: Path) -> None:
    spec = variant_spec(tmp_path, SFT_VARIANTS[variant])
    disk = tmp_path / "disk"
    shutil.copytree(DATA / "dolly-curated-v2-disk", disk)
    for source in (str(DATA / "dolly-curated-v1"), str(disk)):
        files = export_both(spec, source, tmp_path)
        assert isinstance(files, dict), files


def test_to_disk_records_with_statuses_in_any_question_order(tmp_path: Path) -> None:
    """Each annotator's first status seen counts: with statuses given, a record listing its
    questions in another order than the settings is built the row-by-row way, to the same bytes."""
    base = DATA / "dolly-curated-v2-disk"
    records = json.loads((base / "records.json").read_text(encoding="utf-8"))[:40]
    for n, record in enumerate(records):
        first = {
            "user_id": "u1",
            "value": f"Answer {n}.",
            "status": ["submitted", "draft", "discarded"][n % 3],
        }
        second = {"user_id": "u1", "value": f"Instruction {n}.", "status": ["draft", "submitted"][n % 2]}
        other = {"user_id": "u2", "value": f"Other {n}."}
        order = [("new-response", [first, other]), ("new-instruction", [second])]
        record["responses"] = dict(order if n % 2 else order[::-1])
    folder = tmp_path / "disk"
    shutil.copytree(base, folder)
    (folder / "records.json").write_text(json.dumps(records), encoding="utf-8")
    spec = variant_spec(
        tmp_path,
        """
responses: {statuses: [submitted, draft]}
columns:
  instruction: [{question: new-instruction}, {field: original-instruction}]
  response: [{question: new-response}, {field: original-response}]
""",
    )
    export_both(spec, str(folder), tmp_path)
    quality = manifest_of(tmp_path / "out-True")["quality"]
    assert set(quality["responses_by_status"]) >= {"submitted", "draft", "unknown"}


@pytest.mark.parametrize("column_wise", [False, True], ids=["row by row", "column-wise"])
def test_a_damaged_parquet_page_is_one_error_line(
    column_wise: bool, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data page Arrow cannot decode (the footer intact) stops the export with one line naming
    the file, whichever build reads it; nothing is written."""
    folder = v1_folder(tmp_path, pq.read_table(DATA / "dolly-curated-v1" / "data"))
    path = folder / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table, path, row_group_size=50, compression="zstd")  # Arrow's answer spans lines
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = b"\x07" * 400
    path.write_bytes(bytes(data))
    monkeypatch.setattr(run, "COLUMN_WISE", column_wise)
    out = tmp_path / "out"
    result = cli("export", SPECS / "dolly-curated.yaml", "--source", folder, "--out", out, "-q")
    assert_one_error(result, out, f"{path}: cannot read (")
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


# --- seeded random records, several mutations each -------------------------------------------------
# One hostile value in one place (above) misses what mixes: each record here takes up to four
# mutations at once (answers rebuilt with repeated, blank or missing users, statuses spelled any
# way, Unicode that normalises, repeated and missing ids, suggestions and metadata that fit or do
# not, a hostile value anywhere), in the 2.x ``to_disk`` and the 1.x Parquet layouts.

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
