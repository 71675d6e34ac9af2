"""CSV split files (``--format csv``): RFC 4180 text that pandas, ``datasets`` and spreadsheet-fed
trainers (AutoTrain) read as they are, and the reader that turns it back into curate's rows.

The encoding, written down in the manifest's ``csv`` entry:

- UTF-8 without a byte order mark, comma separated, ``"`` quoted (a quote inside is doubled),
  every record ending in CRLF; a header row names the columns in schema order;
- every text value is quoted, so an empty text is ``""`` and a null is an empty unquoted field;
- numbers as JSON writes them (``1.5``, ``NaN``), booleans ``true``/``false``;
- list and nested columns (``messages``, conversational ``prompt``, ``input_ids``, ``labels``,
  ``annotators``) as JSON text, quoted, listed under ``json_columns``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate.errors import CurateError

LINE_END = b"\r\n"
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def is_json_type(kind: pa.DataType) -> bool:
    """Whether a column of this Arrow type is written as JSON text (lists, structs, maps)."""
    return bool(pa.types.is_nested(kind))


def csv_layout(schema: pa.Schema) -> dict[str, Any]:
    """What the manifest says about a CSV export's files (how to read them back exactly).

    >>> csv_layout(pa.schema([("messages", pa.list_(pa.string())), ("margin", pa.float64())]))["json_columns"]
    ['messages']
    """
    return {
        "dialect": "RFC 4180: comma, double quotes (doubled inside), CRLF, header row",
        "encoding": "utf-8",
        "json_columns": [f.name for f in schema if is_json_type(f.type)],
        "null": "an empty unquoted field; every text value is quoted",
        "types": {f.name: _type_name(f.type) for f in schema},
    }


def _type_name(kind: pa.DataType) -> str:
    if is_json_type(kind):
        return "json"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_floating(kind):
        return "float"
    return "string"


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def cell(value: Any) -> str:
    '''One value as a CSV field.

    >>> print(" ".join(cell(v) for v in ('say "hi"', "", None, 1.5, True, [1, 2], {"role": "user"})))
    "say ""hi""" ""  1.5 true "[1,2]" "{""role"":""user""}"
    '''
    if value is None:
        return ""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _JSON.encode(value)
    return _quote(_JSON.encode(value))


def header_line(names: tuple[str, ...]) -> bytes:
    r"""The header record.

    >>> header_line(("prompt", "completion"))
    b'"prompt","completion"\r\n'
    """
    return ",".join(_quote(n) for n in names).encode("utf-8") + LINE_END


def csv_lines(lines: list[bytes]) -> bytes:
    r"""Rows given as canonical JSON lines (columns in schema order) as CSV records.

    >>> csv_lines([b'{"text":"a\\nb","score":null}'])
    b'"a\nb",\r\n'
    """
    out = []
    for line in lines:
        row = json.loads(line)
        out.append(",".join(cell(v) for v in row.values()))
    return ("\r\n".join(out)).encode("utf-8") + LINE_END if out else b""


def read_csv_rows(path: Path, layout: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The rows of a CSV split file curate wrote, decoded by the manifest's ``csv`` entry to the
    values the Parquet export holds (text, numbers, booleans, nulls, JSON columns)."""
    import pyarrow.csv as pacsv

    types: dict[str, str] = layout.get("types", {})
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in types},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, OSError) as err:
        raise CurateError(f"{path}: not a CSV split file curate wrote ({err})") from None
    if set(table.column_names) != set(types):
        raise CurateError(f"{path}: columns {table.column_names} differ from the manifest's {list(types)}")
    for i, row in enumerate(table.to_pylist()):
        try:
            yield {name: decode(value, types[name]) for name, value in row.items()}
        except ValueError as err:
            raise CurateError(f"{path}: row {i}: {err}") from None


def decode(text: str | None, kind: str) -> Any:
    """A CSV field back to its value, by the column's type in the manifest.

    >>> [decode("1.5", "float"), decode("true", "bool"), decode('[{"role":"user"}]', "json"), decode(None, "string")]
    [1.5, True, [{'role': 'user'}], None]
    """
    if text is None or kind == "string":
        return text
    if kind == "json":
        return json.loads(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r:.40}")
        return text == "true"
    if kind == "int":
        return int(text)
    return float(text)
