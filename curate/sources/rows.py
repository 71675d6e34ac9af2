"""Streaming row readers for the files Argilla and ``datasets`` write: Parquet, JSON Lines, JSON
arrays, CSV, Arrow (``save_to_disk``), and folders of them (Hub snapshots, ``data/`` shards).

Rows come out one at a time, read in bounded batches, so memory stays flat. ``read_rows`` gives
every raw row, a dict or a ``BadRow`` (what the sources turn into rejects); ``iter_rows`` and
``iter_file_rows`` are for callers with no reject file: a row they cannot read is an error. A folder
is read whole (one split, one format, shards with one set of columns) or is an error, never partly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.arguments import arg
from curate.errors import CurateError
from curate.sources._text import BadRow, csv_header, read_csv, read_json, unique_columns

__all__ = ["BadRow", "DataFiles", "find_data_files", "iter_file_rows", "iter_rows", "read_rows"]

BATCH_ROWS = 1000
DATA_SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".arrow")
# Metadata `datasets` and Argilla write beside the data (older `datasets` pushes: dataset_infos.json).
_SKIP_JSON = {
    "dataset_info.json",
    "dataset_infos.json",
    "state.json",
    "dataset_dict.json",
    "settings.json",
    "dataset.json",
}


@dataclass
class DataFiles:
    """The data files of one split of an export, plus what the folder says about them."""

    root: Path
    files: list[Path]
    hf_features: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.root.name

    def relative(self, path: Path) -> str:
        """A file's name relative to the export (what reject locators use: no absolute paths)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name


def _split_of(path: Path, root: Path) -> str:
    """The split a data file belongs to, by the names `datasets` gives shards and folders."""
    name = path.name
    stem = name.split(".")[0]
    for sep in ("-", "_"):
        if sep in stem:
            head = stem.split(sep)[0]
            if head in {"train", "test", "validation", "valid", "dev", "eval"}:
                return head
    rel = path.relative_to(root).parts
    if len(rel) > 1 and rel[-2] not in ("data",):
        return rel[-2]
    return stem if stem in {"train", "test", "validation"} else "train"


def find_data_files(path: Path, split: str | None = None) -> DataFiles:
    """Resolve a file or folder to the ordered data files of one split."""
    if not path.exists():
        raise CurateError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in DATA_SUFFIXES:
            raise CurateError(
                f"{path}: unsupported file type {path.suffix!r}, expected one of {', '.join(DATA_SUFFIXES)}"
            )
        return DataFiles(path.parent, [path], _features_of(path))
    candidates = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in DATA_SUFFIXES
        and p.name not in _SKIP_JSON
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and p.name != "records.json"
    )
    if not candidates:
        raise CurateError(f"{path}: no data files found (expected {', '.join(DATA_SUFFIXES)})")
    by_split: dict[str, list[Path]] = {}
    for p in candidates:
        by_split.setdefault(_split_of(p, path), []).append(p)
    if split is None:
        if len(by_split) > 1:
            names = sorted(by_split)
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            raise CurateError(
                f"{path}: several splits found ({shown}); name one with source.split in the spec"
            )
        split = next(iter(by_split))
    if split not in by_split:
        raise CurateError(f"{path}: no split {split!r}; found {', '.join(sorted(by_split)[:8])}")
    files = by_split[split]
    _one_format(path, files)
    features = _features_of(files[0])
    if not features:
        info = path / "dataset_info.json"
        for candidate in (info, files[0].parent / "dataset_info.json"):
            if candidate.exists():
                try:
                    info_data = json.loads(candidate.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError, RecursionError):
                    raise CurateError(
                        f"{candidate}: not valid JSON (a `datasets` dataset_info.json)"
                    ) from None
                features = _usable_features(info_data, "features")
                break
    return DataFiles(path, files, features)


def _one_format(root: Path, files: list[Path]) -> None:
    """Data in several formats in one folder is an error, never a choice made in silence: no
    Argilla or `datasets` writer puts two formats side by side (Hub snapshots, ``save_to_disk``
    and ``to_disk`` folders each hold one), so either the rows are there twice or one of the sets
    would go unread."""
    by_suffix: dict[str, list[Path]] = {}
    for p in files:
        by_suffix.setdefault(p.suffix.lower(), []).append(p)
    if len(by_suffix) > 1:
        listing = "; ".join(
            f"{len(ps)} {suffix} ({', '.join(p.relative_to(root).as_posix() for p in ps[:3])}"
            f"{', ...' if len(ps) > 3 else ''})"
            for suffix, ps in sorted(by_suffix.items())
        )
        raise CurateError(
            f"{root}: data files in several formats: {listing}; curate reads one export at a time, "
            f"so point source.path (or {arg('source')}) at one file or at a folder holding one format"
        )


def _features_of(path: Path) -> dict[str, Any]:
    """The `datasets` Features stored in a Parquet file's schema metadata, if any."""
    if path.suffix.lower() != ".parquet":
        return {}
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as err:
        raise CurateError(f"{path}: not a readable Parquet file ({err})") from None
    raw = meta.get(b"huggingface")
    if not raw:
        return {}
    try:
        return _usable_features(_usable_features(json.loads(raw), "info"), "features")
    except (ValueError, RecursionError):
        return {}


def _usable_features(container: Any, key: str) -> dict[str, Any]:
    """``container[key]`` where it is an object, else ``{}``: `datasets` metadata is only a hint
    (for kinds and ClassLabel names), so a malformed one leaves the data read without it.

    >>> _usable_features({"features": {"q": {"_type": "Value"}}}, "features"), _usable_features({"features": [1, 2]}, "features")
    ({'q': {'_type': 'Value'}}, {})
    """
    value = container.get(key) if isinstance(container, dict) else None
    return value if isinstance(value, dict) else {}


def file_columns(path: Path) -> list[str]:
    """Column names of one data file: the schema for Parquet and Arrow, the header for CSV, the
    first readable object's keys for JSON ([] for a file without rows)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return unique_columns(pq.read_schema(path).names, path, "Parquet schema")
        if suffix == ".arrow":
            with pa.memory_map(str(path)) as source:
                return unique_columns(_open_arrow(source, path).schema.names, path, "Arrow schema")
    except (pa.ArrowInvalid, OSError) as err:
        raise cannot_read(path, err) from None
    if suffix == ".csv":
        return csv_header(path)
    for row in read_json(path, path.name):
        if not isinstance(row, BadRow):
            return list(row.keys())
    return []


def peek_columns(files: DataFiles) -> list[str]:
    """Column names of the first file."""
    return file_columns(files.files[0])


def cannot_read(path: Path, err: Exception) -> CurateError:
    """The one error line for a data file Arrow cannot read (Arrow's own message may span lines).

    >>> str(cannot_read(Path("d.parquet"), OSError("No more data.\\nPage header failed.\\n")))
    'd.parquet: cannot read (No more data. Page header failed.)'
    """
    return CurateError(f"{path}: cannot read ({' '.join(str(err).split())})")


def shard_columns(files: DataFiles) -> list[str]:
    """The columns every shard shares, or an error naming the first shard that differs: reading
    shards of different shapes with one file's columns would lose what the others hold."""
    columns = file_columns(files.files[0])
    for path in files.files[1:]:
        other = file_columns(path)
        if set(other) != set(columns):
            missing = [c for c in columns if c not in other]
            extra = [c for c in other if c not in columns]
            parts = ([f"lacks {', '.join(missing[:8])}"] if missing else []) + (
                [f"adds {', '.join(extra[:8])}"] if extra else []
            )
            raise CurateError(
                f"{path}: its columns differ from {files.relative(files.files[0])} ({'; '.join(parts)}); "
                f"the shards of one export share one schema: read them one at a time ({arg('source', 'FILE')})"
            )
    return columns


#: Which rows (by 0-based position over all files) are wanted whole; None: all of them.
Wanted = Callable[[int], bool] | None


def read_rows(
    files: DataFiles, wanted: Wanted = None, id_columns: tuple[str, ...] = ()
) -> Iterator[dict[str, Any] | BadRow]:
    """Every raw row of every file, in order: a dict, or a ``BadRow`` where it cannot be read.

    A Parquet or Arrow batch none of whose rows is ``wanted`` gives its rows with the
    ``id_columns`` only (an export worker still names every row, but builds only its own).
    """
    if wanted is None:
        for path in files.files:
            yield from read_file_rows(path, files.relative(path))
        return
    start = 0  # positions count only where some rows are not wanted whole
    for path in files.files:
        for row in read_file_rows(path, files.relative(path), start, wanted, id_columns):
            start += 1
            yield row


def read_batches(files: DataFiles) -> Iterator[tuple[pa.RecordBatch, str, int]] | None:
    """Every Parquet or Arrow file's record batches in order, each with its file's label and its
    first row's number in that file (for locators); None where some file is another format (it is
    read row by row)."""
    if not files.files or any(p.suffix.lower() not in (".parquet", ".arrow") for p in files.files):
        return None
    return _batches_of(files)


def _batches_of(files: DataFiles) -> Iterator[tuple[pa.RecordBatch, str, int]]:
    for path in files.files:
        label, first = files.relative(path), 0
        batches = (
            _iter_parquet_batches(path) if path.suffix.lower() == ".parquet" else _iter_arrow_batches(path)
        )
        try:
            for batch in batches:
                yield batch, label, first
                first += batch.num_rows
        except (pa.ArrowInvalid, pa.ArrowIOError) as err:
            raise cannot_read(path, err) from None


def batch_rows(batch: pa.RecordBatch, label: str, first: int) -> list[dict[str, Any] | BadRow]:
    """A batch's rows as ``read_rows`` gives them."""
    return _pylist(batch, label, first)


def sample_rows(files: DataFiles) -> Iterator[dict[str, Any]]:
    """The readable rows only (for guessing kinds; never for the record stream)."""
    for row in read_rows(files):
        if not isinstance(row, BadRow):
            yield row


def iter_rows(files: DataFiles) -> Iterator[dict[str, Any]]:
    """Every row, where a row that cannot be read is an error (for callers with no reject file)."""
    for path in files.files:
        yield from iter_file_rows(path)


def iter_file_rows(path: Path) -> Iterator[dict[str, Any]]:
    for row in read_file_rows(path, path.name):
        if isinstance(row, BadRow):
            raise CurateError(f"{path}: {row.detail}")
        yield row


def read_file_rows(
    path: Path, label: str, start: int = 0, wanted: Wanted = None, id_columns: tuple[str, ...] = ()
) -> Iterator[dict[str, Any] | BadRow]:
    """The rows of one file; ``start`` is its first row's position (for ``wanted``, see ``read_rows``)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            yield from _rows_of(_iter_parquet_batches(path), label, start, wanted, id_columns)
        elif suffix == ".arrow":
            yield from _rows_of(_iter_arrow_batches(path), label, start, wanted, id_columns)
        elif suffix == ".csv":
            yield from read_csv(path, label)
        else:
            yield from read_json(path, label)
    except (pa.ArrowInvalid, pa.ArrowIOError) as err:
        raise cannot_read(path, err) from None
    except UnicodeDecodeError:
        raise CurateError(f"{path}: not UTF-8 text") from None


def _rows_of(
    batches: Iterator[pa.RecordBatch],
    label: str,
    start: int,
    wanted: Wanted,
    id_columns: tuple[str, ...],
) -> Iterator[dict[str, Any] | BadRow]:
    first = 0  # the batch's first row in this file, for locators
    for batch in batches:
        n = batch.num_rows
        if wanted is None or any(wanted(p) for p in range(start, start + n)):
            yield from _pylist(batch, label, first)
        else:
            yield from id_rows(batch, label, first, id_columns)
        start += n
        first += n


def _pylist(batch: pa.RecordBatch, label: str, first: int) -> list[dict[str, Any] | BadRow]:
    """A batch's rows as Python objects. A value Python cannot hold (a timestamp, date or
    duration past ``datetime``'s years 1..9999) fails the whole batch's conversion; only then
    is it done again row by row, so that just the rows holding such a value become ``BadRow``."""
    try:
        return batch.to_pylist()  # type: ignore[no-any-return]
    except (OverflowError, ValueError):
        return [_one_row(batch, i, label, first) for i in range(batch.num_rows)]


def _one_row(batch: pa.RecordBatch, i: int, label: str, first: int) -> dict[str, Any] | BadRow:
    row = batch.slice(i, 1)
    try:
        return row.to_pylist()[0]  # type: ignore[no-any-return]
    except (OverflowError, ValueError) as err:
        where = next(
            (
                f"column {name!r} holds a {column.type} value"
                for name, column in zip(row.schema.names, row.columns, strict=True)
                if not _converts(column)
            ),
            "a value",
        )
        return BadRow(
            f"{label}[{first + i}]",
            f"row {first + i}: {where} outside what Python can represent ({err})",
        )


def _converts(column: pa.Array) -> bool:
    try:
        column.to_pylist()
    except (OverflowError, ValueError):
        return False
    return True


def id_rows(
    batch: pa.RecordBatch, label: str, first: int, id_columns: tuple[str, ...]
) -> list[dict[str, Any] | BadRow]:
    """A batch's rows with their ids only, where the rows that a whole read would find
    unreadable are ``BadRow`` too: every export worker must see the same rows and ids. Only the
    columns that can hold such a value (dates, times, durations) are converted to find them."""
    names = batch.schema.names
    rows = _pylist(batch.select([c for c in id_columns if c in names]), label, first)
    for k, bad in unreadable_rows(batch, label, first).items():
        rows[k] = bad
    return rows


def unreadable_rows(batch: pa.RecordBatch, label: str, first: int) -> dict[int, BadRow]:
    """The rows of a batch that a whole read (``batch_rows``) finds unreadable, by their index in
    the batch, for a reader that converts only some of its columns: only the columns that can hold
    such a value (dates, times, durations) are converted to find them."""
    fragile = [j for j, f in enumerate(batch.schema) if _has_dates(f.type)]
    if not fragile:
        return {}
    checked = _pylist(batch.select(fragile), label, first)
    return {k: row for k, row in enumerate(checked) if isinstance(row, BadRow)}


def _has_dates(kind: pa.DataType) -> bool:
    """Whether a column's values can hold a date, time or duration, at any depth."""
    if pa.types.is_temporal(kind):
        return True
    if isinstance(kind, pa.DictionaryType):
        return _has_dates(kind.value_type)
    if isinstance(kind, pa.BaseExtensionType):
        return _has_dates(kind.storage_type)
    return any(_has_dates(kind.field(j).type) for j in range(kind.num_fields))


def _iter_parquet_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The batches of a Parquet file; the next one is read and decompressed on a helper thread
    (Arrow releases the GIL) while this one's rows are used."""
    from concurrent.futures import ThreadPoolExecutor

    parquet = pq.ParquetFile(path)
    unique_columns(parquet.schema_arrow.names, path, "Parquet schema")
    batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="curate-read") as reader:
        upcoming = reader.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            yield batch


def _open_arrow(source: Any, path: Path) -> Any:
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        try:
            return pa.ipc.open_file(source)
        except pa.ArrowInvalid as err:
            raise CurateError(f"{path}: not an Arrow stream or file ({err})") from None


def _iter_arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.memory_map(str(path)) as source:
        reader = _open_arrow(source, path)
        unique_columns(reader.schema.names, path, "Arrow schema")
        if hasattr(reader, "num_record_batches"):
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        else:
            yield from reader


def count_rows(files: DataFiles) -> int | None:
    """Row count where it is cheap (Parquet footers); None otherwise."""
    total = 0
    for path in files.files:
        if path.suffix.lower() != ".parquet":
            return None
        total += pq.ParquetFile(path).metadata.num_rows
    return total
