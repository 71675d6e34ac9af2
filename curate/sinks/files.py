"""Export directory writer: ``<split>.parquet|jsonl``, ``rejects.jsonl``, ``manifest.json``.

Everything is written into a temporary sibling folder and renamed into place at the end, so a
failed or interrupted export never leaves a half-written output. Rows are streamed in batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import CurateError

Format = Literal["parquet", "jsonl"]
MESSAGES = pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))
PROVENANCE = [
    pa.field("record_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("annotators", pa.list_(pa.string())),
    pa.field("statuses", pa.list_(pa.string())),
    pa.field("agreement", pa.float64()),
]
BATCH = 1000


def schema_for(task: str, conversational: bool, extra: list[pa.Field] | None = None) -> pa.Schema:
    """The output columns of a task, in TRL's column contract, then provenance."""
    text = MESSAGES if conversational else pa.string()
    if task == "sft":
        fields = [
            pa.field("instruction", pa.string()),
            pa.field("context", pa.string()),
            pa.field("response", pa.string()),
            pa.field("prompt", text),
            pa.field("completion", text),
        ]
    elif task == "chat":
        fields = [pa.field("messages", MESSAGES)]
    elif task == "preference":
        fields = [
            pa.field("prompt", text),
            pa.field("chosen", text),
            pa.field("rejected", text),
            pa.field("margin", pa.float64()),
        ]
    elif task == "prompt":
        fields = [pa.field("prompt", text)]
    else:
        raise AssertionError(task)
    return pa.schema([*fields, *PROVENANCE, *(extra or [])])


def canonical_json(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


class _SplitFile:
    def __init__(self, path: Path, fmt: Format, schema: pa.Schema):
        self.path = path
        self.fmt = fmt
        self.schema = schema
        self.rows = 0
        self.content = hashlib.sha256()
        self._buffer: list[dict[str, Any]] = []
        self._parquet: pq.ParquetWriter | None = None
        self._jsonl = path.open("w", encoding="utf-8") if fmt == "jsonl" else None

    def write(self, row: dict[str, Any]) -> None:
        ordered = {name: row.get(name) for name in self.schema.names}
        line = canonical_json(ordered)
        self.content.update(line.encode("utf-8"))
        self.content.update(b"\n")
        self.rows += 1
        if self._jsonl is not None:
            self._jsonl.write(line + "\n")
            return
        self._buffer.append(ordered)
        if len(self._buffer) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        try:
            table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise CurateError(f"{self.path.name}: a row does not fit the output schema ({err})") from None
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._parquet.write_table(table, row_group_size=BATCH)
        self._buffer = []

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            return
        self._flush()
        if self._parquet is None:  # an empty split still gets a file with the schema
            self._parquet = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._parquet.close()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a previous curate export (fail before any work)."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise CurateError(f"{out_dir}: exists and is not a folder")
        if any(out_dir.iterdir()) and not (out_dir / "manifest.json").exists():
            raise CurateError(
                f"{out_dir}: exists, is not empty and is not a curate export; choose another --out"
            )


class ExportWriter:
    """Writes one export atomically; use as a context manager and call ``finish`` on success."""

    def __init__(self, out_dir: Path, fmt: Format, schema: pa.Schema, splits: list[str]):
        check_out_dir(out_dir)
        self.out_dir = out_dir
        self.fmt = fmt
        self.schema = schema
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        self.splits = {name: _SplitFile(self.tmp / f"{name}.{fmt}", fmt, schema) for name in splits}
        self._rejects = (self.tmp / "rejects.jsonl").open("w", encoding="utf-8")
        self.rejects_hash = hashlib.sha256()
        self._done = False

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self._abort()

    def write(self, split: str, row: dict[str, Any]) -> None:
        self.splits[split].write(row)

    def reject(self, record_id: str, reason: str, detail: str, **extra: Any) -> None:
        line = canonical_json({"record_id": record_id, "reason": reason, "detail": detail, **extra})
        self.rejects_hash.update(line.encode("utf-8") + b"\n")
        self._rejects.write(line + "\n")

    def close_files(self) -> dict[str, Path]:
        """Close the split files (so later steps can read them back); returns split -> path."""
        for split in self.splits.values():
            split.close()
        self._rejects.close()
        return {name: s.path for name, s in self.splits.items()}

    def add_file(self, name: str) -> Path:
        """A path inside the export for an extra file (e.g. packed splits)."""
        return self.tmp / name

    def content_fingerprint(self) -> str:
        """A hash of the rows themselves (format-independent), split by split."""
        h = hashlib.sha256()
        for name in sorted(self.splits):
            h.update(f"{name}\n".encode())
            h.update(self.splits[name].content.digest())
        h.update(b"rejects\n" + self.rejects_hash.digest())
        return h.hexdigest()

    def finish(self, manifest: dict[str, Any]) -> Path:
        files = {}
        for path in sorted(self.tmp.iterdir()):
            files[path.name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        manifest["files"] = files
        (self.tmp / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        old = None
        if self.out_dir.exists():
            old = self.out_dir.parent / f".{self.out_dir.name}.old-{os.getpid()}"
            os.replace(self.out_dir, old)
        os.replace(self.tmp, self.out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._done = True
        return self.out_dir

    def _abort(self) -> None:
        for split in self.splits.values():
            with contextlib.suppress(Exception):
                split.close()
        self._rejects.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
