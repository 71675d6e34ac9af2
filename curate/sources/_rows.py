"""Streaming row readers for the files Argilla and ``datasets`` write: Parquet, JSON Lines, JSON
arrays, CSV, Arrow (``save_to_disk``), and folders of them (Hub snapshots, ``data/`` shards).

Rows come out one dict at a time, read in bounded batches, so memory stays flat.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import CurateError

BATCH_ROWS = 1000
DATA_SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".arrow")
_SKIP_JSON = {"dataset_info.json", "state.json", "dataset_dict.json", "settings.json", "dataset.json"}


@dataclass
class DataFiles:
    """The data files of one split of an export, plus what the folder says about them."""

    root: Path
    files: list[Path]
    hf_features: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.root.name


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
    # One format per folder: the same rows are sometimes saved twice (Parquet and JSON Lines).
    suffixes = {p.suffix.lower() for p in candidates}
    preferred = next(s for s in (".parquet", ".arrow", ".jsonl", ".ndjson", ".json", ".csv") if s in suffixes)
    candidates = [p for p in candidates if p.suffix.lower() == preferred]
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
    features = _features_of(files[0])
    if not features:
        info = path / "dataset_info.json"
        for candidate in (info, files[0].parent / "dataset_info.json"):
            if candidate.exists():
                features = json.loads(candidate.read_text(encoding="utf-8")).get("features") or {}
                break
    return DataFiles(path, files, features)


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
        return json.loads(raw).get("info", {}).get("features", {}) or {}
    except (ValueError, AttributeError):
        return {}


def peek_columns(files: DataFiles) -> list[str]:
    """Column names of the first file (the first row's keys for JSON and CSV)."""
    first = files.files[0]
    suffix = first.suffix.lower()
    if suffix == ".parquet":
        return list(pq.read_schema(first).names)
    if suffix == ".arrow":
        with pa.memory_map(str(first)) as source:
            return list(_open_arrow(source, first).schema.names)
    for row in iter_file_rows(first):
        return list(row.keys())
    return []


def iter_rows(files: DataFiles) -> Iterator[dict[str, Any]]:
    for path in files.files:
        yield from iter_file_rows(path)


def iter_file_rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            yield from _iter_parquet(path)
        elif suffix == ".arrow":
            yield from _iter_arrow(path)
        elif suffix == ".csv":
            yield from _iter_csv(path)
        else:
            yield from _iter_json(path)
    except (pa.ArrowInvalid, pa.ArrowIOError) as err:
        raise CurateError(f"{path}: cannot read ({err})") from None
    except UnicodeDecodeError:
        raise CurateError(f"{path}: not UTF-8 text") from None


def _iter_parquet(path: Path) -> Iterator[dict[str, Any]]:
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=BATCH_ROWS):
        yield from batch.to_pylist()


def _open_arrow(source: Any, path: Path) -> Any:
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        try:
            return pa.ipc.open_file(source)
        except pa.ArrowInvalid as err:
            raise CurateError(f"{path}: not an Arrow stream or file ({err})") from None


def _iter_arrow(path: Path) -> Iterator[dict[str, Any]]:
    with pa.memory_map(str(path)) as source:
        reader = _open_arrow(source, path)
        if hasattr(reader, "num_record_batches"):
            for i in range(reader.num_record_batches):
                yield from reader.get_batch(i).to_pylist()
        else:
            for batch in reader:
                yield from batch.to_pylist()


def _iter_csv(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        yield from csv.DictReader(fh)


def _iter_json(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        head = fh.read(1)
        while head and head.isspace():
            head = fh.read(1)
        if not head:
            return
        if head == "[":
            yield from _iter_json_array(fh, path)
            return
        fh.seek(0)
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise CurateError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise CurateError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield row


def _iter_json_array(fh: Any, path: Path, chunk: int = 1 << 20) -> Iterator[dict[str, Any]]:
    """Stream the objects of a top-level JSON array (``records.json``) without loading it whole."""
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    index = 0
    eof = False
    while True:
        # skip separators
        while True:
            while pos < len(buf) and (buf[pos].isspace() or buf[pos] == ","):
                pos += 1
            if pos < len(buf) or eof:
                break
            more = fh.read(chunk)
            if not more:
                eof = True
            buf, pos = buf[pos:] + more, 0
        if pos >= len(buf):
            raise CurateError(f"{path}: JSON array is not closed (file truncated?)")
        if buf[pos] == "]":
            return
        while True:
            try:
                obj, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as err:
                if eof:
                    raise CurateError(f"{path}: invalid JSON in array element {index} ({err.msg})") from None
                more = fh.read(chunk)
                if not more:
                    eof = True
                buf, pos = buf[pos:] + more, 0
        if not isinstance(obj, dict):
            raise CurateError(f"{path}: array element {index} is {type(obj).__name__}, expected an object")
        yield obj
        index += 1
        pos = end
        if pos > chunk:
            buf, pos = buf[pos:], 0


def count_rows(files: DataFiles) -> int | None:
    """Row count where it is cheap (Parquet footers); None otherwise."""
    total = 0
    for path in files.files:
        if path.suffix.lower() != ".parquet":
            return None
        total += pq.ParquetFile(path).metadata.num_rows
    return total
