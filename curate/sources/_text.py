"""Text row readers (CSV, JSON Lines, JSON arrays) that never merge, bend or drop a row: each raw
row comes out as a dict or as a :class:`BadRow` naming its line and what is wrong with it.

Whole-file errors (:class:`CurateError`): not UTF-8, a CSV header that cannot be read or names a
column twice, a JSON array that is truncated, syntactically broken or followed by other data
(a broken element cannot be told from its neighbours). Per-row rejects (``BadRow``): a CSV row
with more or fewer fields than the header, a quote left open (the row's first line is rejected and
the lines after it are read again, so an unbalanced quote costs one row, not the rest of the file),
a CSV field over :data:`CSV_FIELD_LIMIT`, a JSON line that is not valid JSON, a JSON line or
array element that is not an object or holds an integer literal past Python's digit limit (4,300
digits), JSON nested deeper than :data:`MAX_DEPTH`, and text holding a lone surrogate
(``"\\ud800"``: valid JSON, but not Unicode that can be written back out).
"""

from __future__ import annotations

import csv
import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from curate.errors import CurateError

#: Deepest nesting of lists/objects a row may have (Argilla rows nest about 5 deep); deeper rows
#: are rejected before anything downstream can recurse on them.
MAX_DEPTH = 100
#: Largest CSV field, in characters. Python's default (128 KiB) is below long texts; past this a
#: field is much more likely an open quote swallowing the file than one value.
CSV_FIELD_LIMIT = 32 * 2**20
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(frozen=True, slots=True)
class BadRow:
    """A raw row that could not be read: ``locator`` is ``file:line`` or ``file[element]``."""

    locator: str
    detail: str


Row = dict[str, Any]


def problem_in(obj: Any, text: str) -> str | None:
    """Why a parsed JSON value cannot be used as a row (too deep, lone surrogate), else None.

    Both checks cost nothing for ordinary rows: depth can only exceed ``MAX_DEPTH`` where the
    text holds more brackets than that, and a lone surrogate only comes from a ``\\uD8xx`` escape.

    >>> problem_in({"a": "ok"}, '{"a": "ok"}') is None
    True
    >>> problem_in({"a": "\\ud800"}, '{"a": "\\\\ud800"}')
    "text at 'a' holds a lone surrogate (\\\\ud800), not valid Unicode"
    """
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(obj) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if _SURROGATE_ESCAPE.search(text):
        return problem_in_value(obj, depth=False)
    return None


def problem_in_value(obj: Any, depth: bool = True) -> str | None:
    """:func:`problem_in` for a value decoded elsewhere (an HTTP answer): walks it whole.

    >>> problem_in_value({"a": [["x"]]}) is None
    True
    """
    if depth and _depth(obj) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    where = _surrogate_at(obj)
    if where is not None:
        path, char = where
        return f"text at {path!r} holds a lone surrogate (\\u{ord(char):04x}), not valid Unicode"
    return None


def _bad_char(text: str) -> str | None:
    try:
        text.encode("utf-8")  # C speed; fails exactly on surrogates
    except UnicodeEncodeError as err:
        return text[err.start]
    return None


def _depth(obj: Any) -> int:
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _surrogate_at(obj: Any) -> tuple[str, str] | None:
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            bad = _bad_char(value)
            if bad is not None:
                return path or "(value)", bad
        elif isinstance(value, dict):
            for key, child in value.items():
                bad = _bad_char(str(key))
                if bad is not None:
                    return f"{path}.{key!a}".lstrip("."), bad
                stack.append((child, f"{path}.{key}".lstrip(".")))
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))
    return None


def parse_object(text: str, locator: str, where: str) -> Row | BadRow:
    """One JSON object (a JSON Lines line), or the reason it is not a usable row.

    >>> parse_object('{"a": 1}', "f.jsonl:1", "line 1")
    {'a': 1}
    >>> parse_object('[1]', "f.jsonl:2", "line 2").detail
    'line 2: a JSON array, expected an object (one record per line)'
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return BadRow(locator, f"{where}: invalid JSON ({err.msg} at column {err.colno})")
    except RecursionError:
        return BadRow(locator, f"{where}: nested deeper than {MAX_DEPTH} levels")
    except ValueError as err:  # e.g. an integer literal over Python's digit limit
        return BadRow(locator, f"{where}: invalid JSON ({err})")
    return _as_row(obj, text, locator, where, "one record per line")


_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _as_row(obj: Any, text: str, locator: str, where: str, hint: str) -> Row | BadRow:
    if not isinstance(obj, dict):
        kind = "null" if obj is None else _JSON_TYPES.get(type(obj), type(obj).__name__)
        return BadRow(locator, f"{where}: a JSON {kind}, expected an object ({hint})")
    problem = problem_in(obj, text)
    return BadRow(locator, f"{where}: {problem}") if problem else obj


class _Lines:
    """Physical lines of a file, decoded one by one (so a decoding error names its line), with
    the lines the csv reader took for the current record and lines pushed back to read again."""

    def __init__(self, fh: IO[bytes], path: Path):
        self._fh = fh
        self._path = path
        self._no = 0
        self.pending: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            item = self.pending.popleft()
        else:
            raw = self._fh.readline()
            if not raw:
                raise StopIteration
            self._no += 1
            item = (self._no, decode_line(raw, self._path, self._no))
        self.taken.append(item)
        return item[1]


def decode_line(raw: bytes, path: Path, lineno: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CurateError(
            f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
            "save the file as UTF-8"
        ) from None
    return text[1:] if lineno == 1 and text.startswith("\ufeff") else text


def _lines_label(taken: list[tuple[int, str]]) -> str:
    return f"line {taken[0][0]}" if len(taken) == 1 else f"lines {taken[0][0]}-{taken[-1][0]}"


def read_csv(path: Path, label: str) -> Iterator[Row | BadRow]:
    """Rows of a CSV file with a header line; blank lines are skipped (they are not rows)."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with path.open("rb") as fh:
        lines = _Lines(fh, path)
        header: list[str] | None = None
        reader = csv.reader(lines, strict=True)
        while True:
            lines.taken.clear()
            try:
                fields = next(reader)
                error = None
            except StopIteration:
                return
            except csv.Error as err:
                fields, error = [], str(err)
            taken = list(lines.taken)
            if error is None and (not fields or (len(taken) == 1 and not taken[0][1].strip())):
                continue  # a blank line
            if header is None:
                if error is not None:
                    raise CurateError(f"{path}:{taken[0][0]}: cannot read the CSV header ({error})")
                header = unique_columns(fields, path, "CSV header")
                continue
            if error is None and len(fields) == len(header):
                yield dict(zip(header, fields, strict=True))
                continue
            first = taken[0][0]
            if error is not None and len(taken) > 1:
                why = f"a quote opened on this line is not closed where a field ends (csv: {error})"
            elif error is not None:
                why = f"malformed quoting or an oversized field (csv: {error})"
            elif len(taken) > 1:
                why = (
                    f"a quoted field runs over {_lines_label(taken)} and the row has {len(fields)} "
                    f"fields where the header has {len(header)} (an unbalanced quote?)"
                )
            else:
                why = f"{len(fields)} fields where the header has {len(header)}"
            yield BadRow(f"{label}:{first}", f"line {first}: {why}")
            if len(taken) > 1:
                # Reject only the line the bad quote opened on; the lines it swallowed are rows too.
                lines.pending.extendleft(reversed(taken[1:]))
                reader = csv.reader(lines, strict=True)


def unique_columns(names: list[str], path: Path, where: str) -> list[str]:
    """Column names, where a name given twice is an error naming ``where`` ("CSV header",
    "Parquet schema"): a row read as a mapping keeps only the last, so the others would vanish."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise CurateError(f"{path}: the {where} names column {name!r} twice")
        seen.add(name)
    return names


def csv_header(path: Path) -> list[str]:
    """The header of a CSV file ([] for an empty file)."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with path.open("rb") as fh:
        lines = _Lines(fh, path)
        reader = csv.reader(lines, strict=True)
        try:
            for fields in reader:
                if fields and any(text.strip() for _, text in lines.taken):
                    return unique_columns(fields, path, "CSV header")
                lines.taken.clear()
        except csv.Error as err:
            raise CurateError(f"{path}: cannot read the CSV header ({err})") from None
    return []


#: Always JSON Lines: a first line holding an array is that line's reject, not an array file.
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


def read_json(path: Path, label: str, array_only: bool = False) -> Iterator[Row | BadRow]:
    """Objects of a JSON Lines file, or of a file holding one JSON array (``records.json``, a
    ``.json`` file starting with ``[``; ``array_only``: anything but an array, or nothing, is an
    error)."""
    with path.open("rb") as fh:
        start, block = b"", fh.read(1 << 12).removeprefix(b"\xef\xbb\xbf")
        while block and not start:
            start = block.lstrip(b" \t\r\n")[:1]
            block = fh.read(1 << 12)
        fh.seek(0)
        if array_only and start not in (b"[", b""):
            raise CurateError(
                f"{path}: expected a JSON array of records, found {start.decode('latin-1')!r}..."
            )
        if start == b"[" and (array_only or path.suffix.lower() not in JSON_LINES_SUFFIXES):
            import io

            text = io.TextIOWrapper(fh, encoding="utf-8-sig")
            try:
                yield from read_json_array(text, path, label)
            except UnicodeDecodeError:
                raise CurateError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
            return
        for lineno, raw in enumerate(fh, 1):
            line = decode_line(raw, path, lineno)
            if line.strip():
                yield parse_object(line, f"{label}:{lineno}", f"line {lineno}")


# Parses numbers without converting them: finds where an element ends whose integers Python refuses.
_DIGITS_AS_TEXT = json.JSONDecoder(parse_int=str)


def read_json_array(
    fh: Any, path: Path | str, label: str, chunk: int = 1 << 20, opened: bool = False
) -> Iterator[Row | BadRow]:
    """Stream the elements of a top-level JSON array without loading it whole (``opened``: the
    ``[`` was already read). An element that is not a usable object (or holds an integer past
    Python's digit limit) is a ``BadRow`` (``label[index]``); broken JSON is a whole-file error."""
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    index = 0
    eof = False
    while True:
        while True:  # skip whitespace and separators, reading more as needed
            while pos < len(buf) and (buf[pos].isspace() or (opened and buf[pos] == ",")):
                pos += 1
            if pos < len(buf) or eof:
                break
            more = fh.read(chunk)
            eof = not more
            buf, pos = buf[pos:] + more, 0
        if not opened:
            if buf[pos : pos + 1] != "[":
                raise CurateError(f"{path}: expected a JSON array of records")
            opened, pos = True, pos + 1
            continue
        if pos >= len(buf):
            raise CurateError(f"{path}: JSON array is not closed (file truncated?)")
        if buf[pos] == "]":
            _expect_end(fh, buf[pos + 1 :], path)
            return
        unusable: str | None = None  # why the element is rejected; then it is only skipped
        skip: Callable[[str, int], tuple[Any, int]] = _DIGITS_AS_TEXT.raw_decode
        while True:
            try:
                if unusable is None:
                    obj, end = decoder.raw_decode(buf, pos)
                else:
                    _, end = skip(buf, pos)
                break
            except json.JSONDecodeError as err:
                if eof:
                    raise CurateError(f"{path}: invalid JSON in array element {index} ({err.msg})") from None
                more = fh.read(chunk)
                eof = not more
                buf, pos = buf[pos:] + more, 0
            except RecursionError:  # deeper than Python parses: skipped by counting brackets
                unusable, skip = f"element {index}: nested deeper than {MAX_DEPTH} levels", _skip_nested
            except ValueError as err:
                # Valid JSON Python will not turn into a value (an integer literal over its digit
                # limit): this element is rejected, and read again, digits kept as text, to skip it.
                unusable = f"element {index}: invalid JSON ({err})"
        locator = f"{label}[{index}]"
        if unusable is not None:
            yield BadRow(locator, unusable)
        else:
            yield _as_row(obj, buf[pos:end], locator, f"element {index}", "one record per element")
        index += 1
        pos = end
        if pos > chunk:
            buf, pos = buf[pos:], 0


def _skip_nested(text: str, pos: int) -> tuple[None, int]:
    """Where the array or object starting at ``pos`` ends, found without recursion (for an element
    nested too deeply to parse); ``JSONDecodeError`` when the text ends first (read more)."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        c = text[i]
        if c == '"':  # a string: brackets inside it do not count
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return None, i + 1
        i += 1
    raise json.JSONDecodeError("element not closed", text, pos)


def _expect_end(fh: Any, rest: str, path: Path | str) -> None:
    while True:
        if rest.strip():
            raise CurateError(f"{path}: data after the closing ']' of the JSON array")
        rest = fh.read(1 << 16)
        if not rest:
            return
