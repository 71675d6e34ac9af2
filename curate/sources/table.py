"""Plain tables (JSON Lines, CSV, Parquet) read through a column mapping in the spec."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings, FieldInfo, FieldKind, QuestionInfo, Response
from curate.sources._argilla import check_field, kind_from_value, normalize_value
from curate.sources.base import RowSource
from curate.sources.rows import BadRow, DataFiles, Wanted, count_rows, file_columns, read_rows, sample_rows
from curate.spec import TableColumns

INFER_ROWS = 1000


def _mapping(spec: list[str] | dict[str, str]) -> dict[str, str]:
    return {name: name for name in spec} if isinstance(spec, list) else dict(spec)


def _is_chat(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], Mapping) and "role" in value[0]


class TableSource(RowSource):
    """Rows of any table; a CSV cell left empty is no answer (CSV cannot tell empty from null)."""

    layout = "table"

    def __init__(self, files: DataFiles, columns: TableColumns):
        super().__init__()
        self.files = files
        self.fields = _mapping(columns.fields)
        self.metadata = _mapping(columns.metadata)
        self.responses = dict(columns.responses)
        self.id_column = columns.id
        self.has_ids = bool(columns.id)
        self.id_columns = (columns.id,) if columns.id else ()
        wanted = {
            **{f"columns.fields.{k}": v for k, v in self.fields.items()},
            **{f"columns.metadata.{k}": v for k, v in self.metadata.items()},
            **{f"columns.responses.{k}": v for k, v in self.responses.items()},
        }
        if self.id_column:
            wanted["columns.id"] = self.id_column
        # Every shard is checked: a later shard without a mapped column would lose its values.
        empty = 0
        for path in files.files:
            present = set(file_columns(path))
            if not present:
                empty += 1  # no header and no rows: nothing to lose
                continue
            missing = [f"{key} -> {col!r}" for key, col in wanted.items() if col not in present]
            if missing:
                raise CurateError(
                    f"{path}: missing column(s): {', '.join(missing)}; the file has {', '.join(sorted(present))}"
                )
        if empty == len(files.files):
            self.warnings.append(f"{self.name}: no rows (the file is empty)")
        samples: dict[str, Any] = {}
        for i, row in enumerate(sample_rows(files)):
            for col in {*self.responses.values(), *self.fields.values()}:
                if samples.get(col) in (None, "") and row.get(col) not in (None, ""):
                    samples[col] = row[col]
            if i >= INFER_ROWS or len(samples) == len(self.responses) + len(self.fields):
                break
        self.settings = DatasetSettings(
            fields={
                k: FieldInfo(k, FieldKind.CHAT if _is_chat(samples.get(col)) else FieldKind.TEXT)
                for k, col in self.fields.items()
            },
            questions={
                q: QuestionInfo(q, kind_from_value(samples.get(col))) for q, col in self.responses.items()
            },
            metadata=tuple(self.metadata),
        )

    @property
    def name(self) -> str:
        return self.files.files[0].name if len(self.files.files) == 1 else self.files.label

    def count(self) -> int | None:
        return count_rows(self.files)

    def _raw_rows(self, wanted: Wanted) -> Iterator[Mapping[str, Any] | BadRow]:
        return read_rows(self.files, wanted, self.id_columns)

    def _raw_id(self, row: Mapping[str, Any]) -> Any:
        return row.get(self.id_column) if self.id_column else None

    def _build(self, row: Mapping[str, Any], record_id: str) -> ArgillaRecord:
        responses = {}
        for q, col in self.responses.items():
            raw = row.get(col)
            value = normalize_value(
                self.settings.questions[q].kind,
                None if raw == "" else raw,
                q,
                f"question {q!r} (column {col!r})",
            )
            responses[q] = (Response("table", value, "submitted"),) if value not in (None, "") else ()
        return ArgillaRecord(
            id=record_id,
            fields={
                k: check_field(self.settings.fields[k], row.get(col), k) for k, col in self.fields.items()
            },
            metadata={k: row.get(col) for k, col in self.metadata.items()},
            responses=responses,
        )
