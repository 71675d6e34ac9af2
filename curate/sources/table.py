"""Plain tables (JSON Lines, CSV, Parquet) read through a column mapping in the spec."""

from __future__ import annotations

from collections.abc import Iterator

from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings, FieldInfo, QuestionInfo, Response
from curate.sources._argilla import field_value, kind_from_value, normalize_value
from curate.sources._rows import DataFiles, count_rows, iter_rows, peek_columns
from curate.sources.base import Source
from curate.spec import TableColumns


def _mapping(spec: list[str] | dict[str, str]) -> dict[str, str]:
    return {name: name for name in spec} if isinstance(spec, list) else dict(spec)


class TableSource(Source):
    layout = "table"

    def __init__(self, files: DataFiles, columns: TableColumns):
        super().__init__()
        self.files = files
        self.fields = _mapping(columns.fields)
        self.metadata = _mapping(columns.metadata)
        self.responses = dict(columns.responses)
        self.id_column = columns.id
        present = set(peek_columns(files))
        wanted = {
            **{f"columns.fields.{k}": v for k, v in self.fields.items()},
            **{f"columns.metadata.{k}": v for k, v in self.metadata.items()},
            **{f"columns.responses.{k}": v for k, v in self.responses.items()},
        }
        if self.id_column:
            wanted["columns.id"] = self.id_column
        missing = [f"{key} -> {col!r}" for key, col in wanted.items() if col not in present]
        if missing:
            raise CurateError(
                f"{files.files[0]}: missing column(s): {', '.join(missing)}; the file has {', '.join(sorted(present))}"
            )
        first = next(iter_rows(files), {})
        self.settings = DatasetSettings(
            fields={k: FieldInfo(k) for k in self.fields},
            questions={
                q: QuestionInfo(q, kind_from_value(first.get(col))) for q, col in self.responses.items()
            },
            metadata=tuple(self.metadata),
        )

    @property
    def name(self) -> str:
        return self.files.files[0].name if len(self.files.files) == 1 else self.files.label

    def count(self) -> int | None:
        return count_rows(self.files)

    def __iter__(self) -> Iterator[ArgillaRecord]:
        for index, row in enumerate(iter_rows(self.files)):
            record_id = str(row.get(self.id_column)) if self.id_column else f"row-{index}"
            where = f"{self.name}: record {record_id}"
            responses = {}
            for q, col in self.responses.items():
                value = normalize_value(
                    self.settings.questions[q].kind, row.get(col), f"{where}, column {col}"
                )
                responses[q] = (Response("table", value, "submitted"),) if value not in (None, "") else ()
            yield ArgillaRecord(
                id=record_id,
                fields={k: field_value(row.get(col)) for k, col in self.fields.items()},
                metadata={k: row.get(col) for k, col in self.metadata.items()},
                responses=responses,
            )
