"""``--format csv``: every shipped spec's CSV export reads back (curate's reader, pandas and
``datasets``) to the values of its Parquet export, hostile text survives, the bytes are the same
on every run, and the content fingerprint is the one Parquet and JSON Lines exports carry."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import SPECS, table_spec

from curate.manifest import Manifest
from curate.sinks.files import split_file_rows

SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))


def export(cli: Any, spec: Path, out: Path, fmt: str, *extra: Any) -> Manifest:
    result = cli("export", spec, "--out", out, "--format", fmt, "-q", *extra)
    assert result.exit_code == 0, result.stderr
    return Manifest.read(out)


def same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (a float column may hold it)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def parquet_rows(folder: Path, split: str) -> list[dict[str, Any]]:
    return pq.read_table(folder / f"{split}.parquet").to_pylist()


def pandas_rows(path: Path, layout: dict[str, Any]) -> list[dict[str, Any]]:
    """What pandas reads, told only what the manifest says: text and JSON columns as text (no
    "NA"/"null" guessing), an empty field as null in number columns, JSON columns decoded."""
    import pandas as pd

    types = layout["types"]
    text = [c for c, t in types.items() if t in ("string", "json")]
    frame = pd.read_csv(
        path,
        dtype={c: str for c in text},
        keep_default_na=False,
        na_values={c: [""] for c, t in types.items() if t not in ("string", "json")},
    )
    rows = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {}
        for column, value in record.items():
            kind = types[column]
            if kind == "json":
                row[column] = json.loads(value)
            elif kind == "float":
                row[column] = None if math.isnan(value) else float(value)
            elif kind == "bool":
                row[column] = bool(value)
            elif kind == "int":
                row[column] = int(value)
            else:
                row[column] = value
        rows.append(row)
    return rows


def datasets_rows(path: Path, layout: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``datasets.load_dataset("csv")`` reads with features from the manifest's types."""
    from datasets import Features, Value, load_dataset

    kinds = {"string": "string", "json": "string", "float": "float64", "bool": "bool", "int": "int64"}
    types = layout["types"]
    header = next(iter(path.open(encoding="utf-8"))).strip().replace('"', "").split(",")
    features = Features({c: Value(kinds[types[c]]) for c in header})
    ds = load_dataset(
        "csv",
        data_files=str(path),
        split="train",
        features=features,
        keep_default_na=False,
        na_values={c: [""] for c, t in types.items() if t not in ("string", "json")},
        cache_dir=str(path.parent.parent / f"hf-cache-{path.stem}"),
    )
    return [{c: json.loads(v) if types[c] == "json" else v for c, v in row.items()} for row in ds.to_list()]


def nan_as_none(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pandas and ``datasets`` have one null for floats: NaN and null both read as missing."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()} for row in rows
    ]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_spec_round_trips_through_csv(cli: Any, tmp_path: Path, name: str) -> None:
    spec = SPECS / name
    parquet = export(cli, spec, tmp_path / "parquet", "parquet")
    csv = export(cli, spec, tmp_path / "csv", "csv")
    assert csv.fingerprint == parquet.fingerprint  # the same rows, whatever the file format
    assert csv.counts == parquet.counts and csv.columns == parquet.columns
    assert csv.csv is not None and set(csv.csv["types"]) == set(csv.columns)
    for split in csv.split_names:
        expected = parquet_rows(tmp_path / "parquet", split)
        path = tmp_path / "csv" / f"{split}.csv"
        assert (
            list(path.read_text(encoding="utf-8").splitlines()[0].replace('"', "").split(",")) == csv.columns
        )
        ours = list(split_file_rows(path, csv))
        assert same(ours, expected), split
        assert same(pandas_rows(path, csv.csv), nan_as_none(expected)), split
        assert same(datasets_rows(path, csv.csv), nan_as_none(expected)), split


def test_csv_bytes_are_the_same_on_every_run(cli: Any, tmp_path: Path) -> None:
    spec = SPECS / "chat-review.yaml"
    export(cli, spec, tmp_path / "a", "csv")
    export(cli, spec, tmp_path / "b", "csv")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


NASTY = [
    'quotes "inside" and ""doubled""',
    '"',
    '""',
    "comma, separated, text",
    "line one\nline two",
    "windows\r\nline end",
    "a lone \r carriage return",
    "trailing newline\n",
    "  leading and trailing spaces  ",
    "\ttab first",
    "NA",
    "null",
    "NaN",
    "None",
    "N/A",
    "-nan",
    "#N/A",
    "true",
    "007",
    "1e5",
    "=1+1",
    "Grüße, 東京, مرحبا, 😀",
    "\u2028line separator\u2029paragraph separator",
    "\ufeffbyte order mark first",
    "back\\slash \\n not a newline",
    "x" * 200_000,
]


def test_nasty_strings_survive_a_csv_export(cli: Any, tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "instruction": f"task {i}: {text}", "response": text, "fix": None}
        for i, text in enumerate(NASTY)
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    spec = table_spec(tmp_path, str(data))
    parquet = export(cli, spec, tmp_path / "parquet", "parquet")
    csv = export(cli, spec, tmp_path / "csv", "csv")
    assert csv.counts.kept_records == len(NASTY) and csv.fingerprint == parquet.fingerprint
    assert csv.csv is not None
    seen = set()
    for split in csv.split_names:
        expected = parquet_rows(tmp_path / "parquet", split)
        path = tmp_path / "csv" / f"{split}.csv"
        assert same(list(split_file_rows(path, csv)), expected)
        assert same(pandas_rows(path, csv.csv), expected)
        assert same(datasets_rows(path, csv.csv), expected)
        seen.update(row["response"] for row in expected)
    assert seen == set(NASTY)


def test_tokenized_csv_keeps_token_columns_as_json(cli: Any, tmp_path: Path, bpe_tokenizer: Path) -> None:
    spec = SPECS / "dolly-curated.yaml"
    options = ("--tokenizer", bpe_tokenizer, "--max-length", "512")
    parquet = export(cli, spec, tmp_path / "parquet", "parquet", *options)
    csv = export(cli, spec, tmp_path / "csv", "csv", *options)
    assert csv.csv is not None and {"input_ids", "labels"} <= set(csv.csv["json_columns"])
    assert csv.fingerprint == parquet.fingerprint
    for split in csv.split_names:
        rows = list(split_file_rows(tmp_path / "csv" / f"{split}.csv", csv))
        assert same(rows, parquet_rows(tmp_path / "parquet", split))


def test_stats_read_a_csv_export_as_its_parquet_twin(cli: Any, tmp_path: Path) -> None:
    spec = SPECS / "dolly-curated-preference.yaml"
    export(cli, spec, tmp_path / "parquet", "parquet")
    export(cli, spec, tmp_path / "csv", "csv")
    a = json.loads(cli("stats", tmp_path / "parquet", "--json").stdout)
    b = json.loads(cli("stats", tmp_path / "csv", "--json").stdout)
    assert a.pop("rows_per_file") == {
        k.replace(".csv", ".parquet"): v for k, v in b.pop("rows_per_file").items()
    }
    assert a.pop("export") == "parquet" and b.pop("export") == "csv"
    assert a == b


def test_pack_and_push_refuse_a_csv_export_in_one_line(cli: Any, tmp_path: Path, bpe_tokenizer: Path) -> None:
    spec = SPECS / "domain-text.yaml"
    args = ("--format", "csv", "--tokenizer", bpe_tokenizer, "--max-length", "64", "--pack")
    result = cli("export", spec, "--out", tmp_path / "packed", "-q", *args)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --pack packs Parquet or JSONL splits; export with --format parquet"]
    assert not (tmp_path / "packed").exists()
    export(cli, spec, tmp_path / "csv", "csv")
    result = cli("push", "--from-export", tmp_path / "csv", "--repo", "org/name")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith(
        "format is 'csv'; push publishes Parquet, export with --format parquet"
    )
