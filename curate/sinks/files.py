"""Export directory writer: ``<split>.parquet|jsonl|csv``, ``rejects.jsonl``, ``manifest.json``.

Everything is written into a temporary sibling folder and renamed into place at the end, so a
failed or interrupted export never leaves a half-written output. Rows are streamed in batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from curate.arguments import arg
from curate.errors import CurateError
from curate.manifest import Manifest
from curate.sinks.csvfile import csv_layout, csv_lines, header_line
from curate.sinks.outdir import (
    MANIFEST,
    TEMP_MARK,
    check_out_dir,
    describe_entries,
    file_sha256,
    foreign_entries,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

Format = Literal["parquet", "jsonl", "csv"]
#: what ``curate.load`` writes into its cache (not a ``--format``): Arrow IPC streams that
#: ``datasets`` memory-maps as they are, so every row is encoded once
CacheFormat = Literal["arrow"]
PROVENANCE = [
    pa.field("record_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("annotators", pa.list_(pa.string())),
    pa.field("statuses", pa.list_(pa.string())),
    pa.field("agreement", pa.float64()),
]
#: where the spec names a review: who decided the row's answers, and the review's state
REVIEW_PROVENANCE = [
    pa.field("reviewed_by", pa.string()),
    pa.field("review_status", pa.string()),
]
BATCH = 1000


def schema_for(fields: list[pa.Field], extra: list[pa.Field] | None = None) -> pa.Schema:
    """A task's output columns (TRL's column contract), then provenance, then any extra columns."""
    return pa.schema([*fields, *PROVENANCE, *(extra or [])])


# One encoder for every row: json.dumps with non-default arguments would build one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _fast_encode() -> Callable[[Any], str]:
    """``_ENCODER.encode``, with the C encoder made once instead of on every call (what
    ``JSONEncoder.encode`` does). Rows are trees (parsed data, fresh lists), so the check for
    circular references is left out. Where this Python has no C encoder, or it answers a sample
    differently from ``_ENCODER.encode``, the plain ``encode`` is used."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    try:
        c_encode = make(None, _ENCODER.default, encoder.encode_basestring, None, ":", ",", False, False, True)

        def encode(row: Any) -> str:
            return "".join(c_encode(row, 0))

        sample = {
            "text": 'Héllo "x"\n\t\x00\u2028 \U0001f600',
            "numbers": [0, -1, 10**30, 1.5, -0.0, 1e-7, 1e16, float("nan"), float("inf"), True, False, None],
            "nested": [{"role": "user", "content": ""}, [], {}],
        }
        if encode(sample) != _ENCODER.encode(sample):
            return _ENCODER.encode
    except Exception:  # a C encoder with another signature: the plain one is right by definition
        return _ENCODER.encode
    return encode


_encode = _fast_encode()


def canonical_json(row: dict[str, Any]) -> str:
    """A row as one line of JSON, in the order given (what the fingerprint hashes).

    >>> canonical_json({"prompt": "Héllo", "margin": 1.5, "statuses": []})
    '{"prompt":"Héllo","margin":1.5,"statuses":[]}'
    """
    return _encode(row)


def row_line(row: dict[str, Any], names: tuple[str, ...]) -> bytes:
    """A row's line in a split file: its columns in schema order (``names``), as canonical JSON.

    >>> row_line({"b": 1, "a": "x"}, ("a", "b"))
    b'{"a":"x","b":1}'
    """
    if tuple(row) != names:  # rows come in schema order unless a transform added columns
        row = {name: row.get(name) for name in names}
    return canonical_json(row).encode("utf-8")


def table_from_lines(lines: list[bytes], schema: pa.Schema) -> pa.Table:
    """Rows given as canonical JSON lines, parsed by Arrow into ``schema`` (no Python objects per
    value; the same table ``pa.Table.from_pylist`` builds from the rows). Lines Arrow's JSON reader
    does not take (``NaN``/``Infinity``) fall back to ``from_pylist``.

    >>> table_from_lines([b'{"a":"x","b":1.5}', b'{"a":null,"b":NaN}'], pa.schema([("a", pa.string()), ("b", pa.float64())])).num_rows
    2
    """
    import pyarrow.json as pajson

    data = b"\n".join(lines)
    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            read_options=pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(data) + 1)),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.Table.from_pylist([json.loads(line) for line in lines], schema=schema)
    return table.select(schema.names).cast(schema)


class _Background:
    """One thread that hashes and writes the split files' batches (Parquet row groups parsed by
    Arrow, or JSON lines), in the order they were handed over.

    Hashing, Arrow's parsing and compression, and file writes release the GIL, so they run beside
    the Python work on the next rows instead of after it. At most ``WINDOW`` batches wait (bounded
    memory); an error in one comes back to the exporting thread at the next hand-over or drain.
    """

    WINDOW = 2

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curate-write")
        self._pending: deque[Future[None]] = deque()

    def submit(self, job: Callable[[], None]) -> None:
        while len(self._pending) >= self.WINDOW:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(job))

    def drain(self) -> None:
        """Wait until every batch handed over is written (raising the first error)."""
        while self._pending:
            self._pending.popleft().result()

    def stop(self) -> None:
        """Drop what has not started, wait for what has (an aborted export's files stay closed)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()


class _ArrowStream:
    """An Arrow IPC stream file (the layout ``datasets`` memory-maps), written as a ParquetWriter is."""

    def __init__(self, path: Path, schema: pa.Schema):
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema)

    def write_table(self, table: pa.Table, row_group_size: int | None = None) -> None:
        self._writer.write_table(table, max_chunksize=row_group_size)

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._sink.close()


class _SplitFile:
    def __init__(
        self, path: Path, fmt: Format | CacheFormat, schema: pa.Schema, background: _Background | None = None
    ):
        self.path = path
        self.schema = schema
        self.names = tuple(schema.names)
        self.rows = 0
        self.content = hashlib.sha256()  # of the canonical lines, each ending in "\n"
        self._buffer: list[bytes] = []  # canonical JSON lines not yet hashed and written
        self._background = background
        self._arrow = fmt == "arrow"
        self._parquet: pq.ParquetWriter | _ArrowStream | None = None  # the columnar writer, either format
        self._jsonl = path.open("wb") if fmt in ("jsonl", "csv") else None
        self._csv = fmt == "csv"  # written through the same handle, as CSV records (sinks/csvfile.py)
        if self._csv:
            assert self._jsonl is not None
            self._jsonl.write(header_line(self.names))

    def write(self, row: dict[str, Any] | bytes) -> None:
        """One row: a dict, or its line as ``row_line`` made it (in an export worker)."""
        self._buffer.append(row if type(row) is bytes else row_line(row, self.names))  # type: ignore[arg-type]
        self.rows += 1
        if len(self._buffer) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        lines = self._buffer
        self._buffer = []
        if self._background is not None:
            self._background.submit(lambda: self._write_group(lines))
        else:
            self._write_group(lines)

    def _write_group(self, lines: list[bytes]) -> None:
        """Hash and write one batch of lines (groups of a file arrive in row order)."""
        data = b"\n".join(lines) + b"\n"
        self.content.update(data)
        if self._jsonl is not None:
            self._jsonl.write(csv_lines(lines) if self._csv else data)
            return
        try:
            table = table_from_lines(lines, self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise CurateError(f"{self.path.name}: a row does not fit the output schema ({err})") from None
        if self._parquet is None:
            self._parquet = self._columnar()
        self._parquet.write_table(table, row_group_size=BATCH)

    def _columnar(self) -> pq.ParquetWriter | _ArrowStream:
        if self._arrow:
            return _ArrowStream(self.path, self.schema)
        return pq.ParquetWriter(self.path, self.schema, compression="zstd")

    def close(self) -> None:
        self._flush()
        if self._background is not None:
            self._background.drain()
        if self._jsonl is not None:
            self._jsonl.close()
            return
        if self._parquet is None:  # an empty split still gets a file with the schema
            self._parquet = self._columnar()
        self._parquet.close()

    def abandon(self) -> None:
        """Close the file without writing what is buffered (the export is being thrown away)."""
        for handle in (self._jsonl, self._parquet):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()


REJECTS = "rejects.jsonl"
PACKED_DIR = (
    "__packed__"  # datasets' split discovery skips "__" folders: load_dataset(data_dir=OUT) sees rows only
)


def packed_path(split: str) -> str:
    """Where an export keeps the packed bins of a split, relative to the export folder.

    >>> packed_path("train")
    '__packed__/train.parquet'
    """
    return f"{PACKED_DIR}/{split}.parquet"


class ExportWriter:
    """Writes one export atomically; use as a context manager and call ``finish`` on success.

    ``protected`` are paths ``out_dir`` must stay clear of (the source being read).
    """

    def __init__(
        self,
        out_dir: Path,
        fmt: Format | CacheFormat,
        schema: pa.Schema,
        splits: list[str],
        protected: list[Path] | tuple[Path, ...] = (),
    ):
        self.notes = check_out_dir(out_dir, protected)
        self.out_dir = out_dir
        self.fmt = fmt
        self.schema = schema
        self.tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
        self._done = False
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            if self.tmp.exists():  # our own pid: a previous export in this process was interrupted
                shutil.rmtree(self.tmp)
            self.tmp.mkdir()
            (self.tmp / TEMP_MARK).write_text(f"{os.getpid()}\n", encoding="utf-8")
            self._background = _Background()
            self.splits = {
                name: _SplitFile(self.tmp / f"{name}.{fmt}", fmt, schema, self._background) for name in splits
            }
            self._rejects = (self.tmp / REJECTS).open("w", encoding="utf-8")
        except OSError as err:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise CurateError(f"{arg('out', str(out_dir))}: cannot write ({err.strerror or err})") from None
        self.rejects_hash = hashlib.sha256()

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self._abort()

    def write(self, split: str, row: dict[str, Any] | bytes) -> None:
        self.splits[split].write(row)

    def reject(self, record_id: str, reason: str, detail: str, **extra: Any) -> None:
        line = canonical_json({"record_id": record_id, "reason": reason, "detail": detail, **extra})
        self.rejects_hash.update(line.encode("utf-8") + b"\n")
        self._rejects.write(line + "\n")

    def close_files(self) -> dict[str, Path]:
        """Close the split files (so later steps can read them back); returns split -> path."""
        for split in self.splits.values():
            split.close()
        self._background.stop()
        self._rejects.close()
        return {name: s.path for name, s in self.splits.items()}

    def add_file(self, name: str) -> Path:
        """A path inside the export for an extra file (e.g. packed splits)."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def content_fingerprint(self) -> str:
        """A hash of the rows themselves (format-independent), split by split."""
        return fingerprint(
            {name: s.content.digest() for name, s in self.splits.items()}, self.rejects_hash.digest()
        )

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest and move the export into place (replacing only curate's own export)."""
        (self.tmp / TEMP_MARK).unlink()
        files = {}
        for path in sorted(p for p in self.tmp.rglob("*") if p.is_file()):
            name = path.relative_to(self.tmp).as_posix()
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        manifest.files = files
        if self.fmt == "csv":  # how to read the text back to the same values
            manifest.csv = csv_layout(self.schema)
        (self.tmp / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        old = None
        if self.out_dir.exists() or self.out_dir.is_symlink():
            # checked again: files may have been added while the export ran
            foreign = [] if self.out_dir.is_symlink() else foreign_entries(self.out_dir)
            if self.out_dir.is_symlink() or foreign:
                raise CurateError(
                    f"{arg('out', str(self.out_dir))}: changed while the export ran ({describe_entries(foreign) or 'now a link'}); "
                    "nothing was replaced"
                )
            old = self.out_dir.parent / f".{self.out_dir.name}.old-{os.getpid()}"
            os.replace(self.out_dir, old)
        os.replace(self.tmp, self.out_dir)
        self._done = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out_dir

    def _abort(self) -> None:
        background = getattr(self, "_background", None)
        if background is not None:
            background.stop()  # before anything is removed: nothing is written after this
        for split in getattr(self, "splits", {}).values():
            split.abandon()
        with contextlib.suppress(Exception):
            self._rejects.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def split_file_rows(path: Path, manifest: Manifest) -> Iterator[dict[str, Any]]:
    """The rows of one split file of an export, as the export holds them: a CSV export's text
    decoded by its manifest (JSON columns, numbers, nulls), other formats as they are read."""
    if manifest.format == "csv" and manifest.csv is not None:
        from curate.sinks.csvfile import read_csv_rows

        return read_csv_rows(path, manifest.csv)
    from curate.sources.rows import iter_file_rows

    return iter_file_rows(path)


def fingerprint(split_digests: dict[str, bytes], rejects_digest: bytes) -> str:
    """An export's content fingerprint: each split's sha256 of its canonical row lines, in split
    name order, then that of ``rejects.jsonl`` (the writer makes it, ``push`` checks it)."""
    h = hashlib.sha256()
    for name in sorted(split_digests):
        h.update(f"{name}\n".encode())
        h.update(split_digests[name])
    h.update(b"rejects\n" + rejects_digest)
    return h.hexdigest()


def check_export_files(folder: Path, manifest: Manifest) -> None:
    """Check a Parquet export's manifest against its files before anything trusts it (a manifest
    edited by hand could claim other counts or another fingerprint over unchanged files): rows and
    records per split, rejects per reason, and the content fingerprint, all re-derived from the
    split files and ``rejects.jsonl``. One error names the first figure that does not match."""
    from collections import Counter

    where = folder / MANIFEST
    counts = manifest.counts
    digests: dict[str, bytes] = {}
    kept_ids: int | None = 0
    for split in sorted(manifest.split_names):
        parquet = pq.ParquetFile(folder / f"{split}.parquet")
        names = tuple(parquet.schema_arrow.names)
        content = hashlib.sha256()
        rows = 0
        ids: set[Any] = set()
        for batch in parquet.iter_batches(batch_size=BATCH):
            lines = [row_line(row, names) for row in batch.to_pylist()]
            if lines:
                content.update(b"\n".join(lines) + b"\n")
            rows += batch.num_rows
            if "record_id" in names:
                ids.update(batch.column("record_id").to_pylist())
        _same(where, f"counts.rows_per_split.{split}", counts.rows_per_split.get(split), rows)
        if "record_id" in names:
            _same(where, f"counts.records_per_split.{split}", counts.records_per_split.get(split), len(ids))
            kept_ids = None if kept_ids is None else kept_ids + len(ids)
        else:
            kept_ids = None
        digests[split] = content.digest()
    rejects_path = folder / REJECTS
    data = rejects_path.read_bytes() if rejects_path.is_file() else b""
    records, rows_dropped = Counter[str](), Counter[str]()
    for line in data.splitlines():
        reject = json.loads(line)
        (rows_dropped if reject.get("scope") == "row" else records)[str(reject.get("reason"))] += 1
    _same(
        where,
        "counts.rejects_by_reason",
        dict(sorted(counts.rejects_by_reason.items())),
        dict(sorted(records.items())),
    )
    _same(
        where,
        "counts.dropped_rows_by_reason",
        dict(sorted(counts.dropped_rows_by_reason.items())),
        dict(sorted(rows_dropped.items())),
    )
    _same(where, "counts.rejected_records", counts.rejected_records, sum(records.values()))
    if kept_ids is not None:
        _same(where, "counts.kept_records", counts.kept_records, kept_ids)
    _same(where, "fingerprint", manifest.fingerprint, fingerprint(digests, hashlib.sha256(data).digest()))


def _same(where: Path, key: str, claimed: Any, found: Any) -> None:
    if claimed != found:
        raise CurateError(
            f"{where}: {key} says {claimed!r} but the files give {found!r}; the manifest was changed "
            "after curate wrote it: export again"
        )
