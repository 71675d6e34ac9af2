"""Argilla 1.x ``FeedbackDataset`` Hub layout (``push_to_huggingface`` / ``format_as("datasets")``).

One column per field; per question ``<q>`` a list of ``{user_id, value, status}`` (older
releases: one ``{user_id: [..], value: [..], status: [..]}``); ``<q>-suggestion`` and
``<q>-suggestion-metadata`` ``{type, score, agent}``; ``external_id``; ``metadata`` as a JSON
string. The dataset config, when present, is ``argilla.yaml`` (or the older ``argilla.cfg``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from curate.errors import CurateError
from curate.records import (
    ArgillaRecord,
    DatasetSettings,
    FieldInfo,
    FieldKind,
    QuestionInfo,
    QuestionKind,
    Response,
    Suggestion,
)
from curate.sources._argilla import (
    STATUSES,
    TEXT_KINDS,
    check_field,
    dict_of_lists_to_list,
    kind_from_hf_feature,
    kind_from_value,
    load_settings_file,
    make_responses,
    make_suggestion,
    parse_metadata,
)
from curate.sources.base import Answers, BadValue, ColumnBatch, RowSource
from curate.sources.rows import (
    BadRow,
    DataFiles,
    Wanted,
    batch_rows,
    count_rows,
    id_rows,
    read_batches,
    read_rows,
    sample_rows,
    shard_columns,
    unreadable_rows,
)

RESERVED = {"external_id", "metadata", "vectors", "id"}
SUGGESTION = "-suggestion"
SUGGESTION_META = "-suggestion-metadata"


def looks_like_v1(columns: list[str]) -> bool:
    return any(c.endswith(SUGGESTION_META) for c in columns) or (
        "external_id" in columns and "metadata" in columns
    )


def _find_config(files: DataFiles) -> Path | None:
    for folder in (files.root, files.files[0].parent, files.files[0].parent.parent):
        for name in ("argilla.yaml", "argilla.cfg"):
            if (folder / name).exists():
                return folder / name
    return None


class ArgillaV1Source(RowSource):
    layout = "argilla_v1"
    id_columns = ("external_id",)

    def __init__(self, files: DataFiles):
        super().__init__()
        self.files = files
        columns = shard_columns(files)
        config = _find_config(files)
        if config is not None:
            self.settings = load_settings_file(config)
        else:
            self.settings = self._infer_settings(columns)
            self.warnings.append(
                f"{files.root.name}: no argilla.yaml beside the data; question kinds inferred from the data"
            )
        missing = [q for q in self.settings.questions if q not in columns]
        if missing:
            raise CurateError(
                f"{files.files[0]}: question column(s) {', '.join(missing)} named in the settings are missing"
            )
        missing = [f for f in self.settings.fields if f not in columns]
        if missing and columns:
            raise CurateError(
                f"{files.files[0]}: field column(s) {', '.join(missing)} named in the settings are missing"
            )
        self._columns = columns
        self.source_label = str(files.files[0] if len(files.files) == 1 else files.root)
        # per question: its info and the names of its suggestion columns (named once, not per row)
        self._question_columns = [
            (q, info, f"{q}{SUGGESTION}", f"{q}{SUGGESTION_META}")
            for q, info in self.settings.questions.items()
        ]

    @property
    def name(self) -> str:
        return self.files.label

    def count(self) -> int | None:
        return count_rows(self.files)

    def _infer_settings(self, columns: list[str]) -> DatasetSettings:
        questions = [c[: -len(SUGGESTION_META)] for c in columns if c.endswith(SUGGESTION_META)]
        # Columns holding lists of {user_id, value, status} are questions even without suggestions.
        first: dict[str, Any] = next(sample_rows(self.files), {})
        for c in columns:
            v = first.get(c)
            items = dict_of_lists_to_list(v) if isinstance(v, (list, Mapping)) else []
            if c not in questions and items and isinstance(items[0], Mapping) and "user_id" in items[0]:
                questions.append(c)
        taken = (
            set(questions)
            | {f"{q}{SUGGESTION}" for q in questions}
            | {f"{q}{SUGGESTION_META}" for q in questions}
        )
        fields = [c for c in columns if c not in taken and c not in RESERVED]
        infos: dict[str, QuestionInfo] = {}
        for q in questions:
            kind = kind_from_hf_feature(self.files.hf_features.get(q))
            if kind is None:
                kind = self._kind_from_rows(q)
            infos[q] = QuestionInfo(q, kind)
        # A column of text (or empty) is a text field; anything else is kept as it is, unchecked.
        kinds = {
            f: FieldKind.TEXT if isinstance(first.get(f), (str, type(None))) else FieldKind.CUSTOM
            for f in fields
        }
        return DatasetSettings(fields={f: FieldInfo(f, kinds[f]) for f in fields}, questions=infos)

    def _kind_from_rows(self, question: str) -> QuestionKind:
        for i, row in enumerate(sample_rows(self.files)):
            for item in dict_of_lists_to_list(row.get(question)):
                if isinstance(item, Mapping) and item.get("value") is not None:
                    return kind_from_value(item["value"])
            suggestion = row.get(f"{question}{SUGGESTION}")
            if suggestion is not None:
                return kind_from_value(suggestion)
            if i > 200:
                break
        return QuestionKind.TEXT

    def _raw_rows(self, wanted: Wanted) -> Iterator[Mapping[str, Any] | BadRow]:
        return read_rows(self.files, wanted, self.id_columns)

    def _raw_id(self, row: Mapping[str, Any]) -> Any:
        return row.get("external_id")

    def _build(self, row: Mapping[str, Any], record_id: str) -> ArgillaRecord:
        settings = self.settings
        fields = {name: check_field(info, row.get(name), name) for name, info in settings.fields.items()}
        responses: dict[str, tuple[Response, ...]] = {}
        suggestions: dict[str, Suggestion] = {}
        for q, info, suggestion_column, meta_column in self._question_columns:
            raw = row.get(q)
            if raw is None or (type(raw) is list and not raw):
                responses[q] = ()  # no annotator answered: the common case, nothing to normalise
            else:
                items = dict_of_lists_to_list(raw)
                responses[q] = make_responses(items, info.kind, q)
            value = row.get(suggestion_column)
            if value is None:
                continue  # no suggestion: its metadata (whatever it holds) describes nothing
            s = _suggestion(value, row.get(meta_column), info, q)
            if s is not None:
                suggestions[q] = s
        return ArgillaRecord(
            id=record_id,
            fields=fields,
            metadata=parse_metadata(row.get("metadata")),
            suggestions=suggestions,
            responses=responses,
        )

    # --- column-wise reading ---------------------------------------------------------------------

    def _raw_columns(self, wanted: Callable[[int], bool] | None) -> Iterator[ColumnBatch] | None:
        batches = read_batches(self.files)
        if batches is None:
            return None
        return (
            self._column_batch(batch, label, first)
            if wanted is None or wanted(index)
            else self._id_batch(batch, label, first)
            for index, (batch, label, first) in enumerate(batches)
        )

    def _id_batch(self, batch: pa.RecordBatch, label: str, first: int) -> ColumnBatch:
        """A batch by its ids only, with the rows a whole read finds unreadable as ``BadRow``."""
        return ColumnBatch.ids_only(self._raw_ids(id_rows(batch, label, first, self.id_columns)))

    def _column_batch(self, batch: pa.RecordBatch, label: str, first: int) -> ColumnBatch:
        """A Parquet or Arrow batch column by column; a row whose values ``_build`` would check or
        change further (another type, a status spelled otherwise, metadata or a suggestion that
        might not fit) is left to it (``simple`` false)."""
        n = batch.num_rows
        rows: list[Any] = []

        def row(k: int) -> Mapping[str, Any]:
            if not rows:
                rows.extend(batch_rows(batch, label, first))
            return cast(Mapping[str, Any], rows[k])

        try:
            columns = self._simple_columns(batch, row)
        except (OverflowError, ValueError, _RowByRow):  # a value Python cannot hold, or a type
            pass  # the reader does not take as it is: the rows say what each holds
        else:
            # a row a whole read cannot turn into Python, by a column not read here, is unreadable
            # as ``_raw_rows`` finds it (its id is not taken)
            for k, bad in unreadable_rows(batch, label, first).items():
                columns.ids[k] = bad
            return columns
        every = batch_rows(batch, label, first)
        return ColumnBatch(
            self._raw_ids(every), [False] * n, {}, {}, None, lambda k: cast(Mapping[str, Any], every[k])
        )

    def _simple_columns(self, batch: pa.RecordBatch, row: Callable[[int], Mapping[str, Any]]) -> ColumnBatch:
        n = batch.num_rows
        names = set(batch.schema.names)
        simple = [True] * n
        ids = batch.column("external_id").to_pylist() if "external_id" in names else [None] * n
        fields: dict[str, list[Any]] = {}
        for name in self.settings.fields:
            if name not in names:
                fields[name] = [None] * n
                continue
            column = batch.column(name)
            if not _is_text(column.type):
                raise _RowByRow  # check_field decides what a value of another type becomes
            fields[name] = column.to_pylist()
        answers: dict[str, Answers] = {}
        for q, info, suggestion_column, meta_column in self._question_columns:
            if q not in names:
                answers[q] = Answers.unanswered(n)
            else:
                answers[q] = _answers(batch.column(q), info.kind, simple)
            if suggestion_column in names:
                self._check_suggestions(batch, suggestion_column, meta_column, info, q, simple)
        if "metadata" in names:
            for k, raw in enumerate(batch.column("metadata").to_pylist()):
                if raw is not None and raw != "" and raw != "{}" and simple[k]:
                    try:
                        parse_metadata(raw)
                    except BadValue:
                        simple[k] = False
        return ColumnBatch(ids, simple, fields, answers, None, row)

    def _check_suggestions(
        self,
        batch: pa.RecordBatch,
        column: str,
        meta_column: str,
        info: QuestionInfo,
        q: str,
        simple: list[bool],
    ) -> None:
        """A row whose suggestion ``make_suggestion`` would refuse is left to ``_build``."""
        values = batch.column(column)
        if values.null_count == len(values):
            return
        metas = batch.column(meta_column).to_pylist() if meta_column in batch.schema.names else None
        for k, value in enumerate(values.to_pylist()):
            if value is not None and simple[k]:
                try:
                    _suggestion(value, None if metas is None else metas[k], info, q)
                except BadValue:
                    simple[k] = False


class _RowByRow(Exception):
    """A batch whose column types the column-wise reader does not take: every row goes to ``_build``."""


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind))


_ITEM_KEYS = {"user_id", "value", "status", "updated_at"}


def _answers(column: pa.Array, kind: QuestionKind, simple: list[bool]) -> Answers:
    """A question column of ``[{user_id, value, status}]`` lists, flattened; rows holding a null
    item, or a status not spelled as Argilla spells it, are marked not simple."""
    kind_type = column.type
    if pa.types.is_null(kind_type):
        return Answers.unanswered(len(column))
    if not (pa.types.is_list(kind_type) or pa.types.is_large_list(kind_type)):
        raise _RowByRow  # the older {user_id: [..], value: [..]} form, or no list at all
    item_type = kind_type.value_type
    if not pa.types.is_struct(item_type) or kind not in TEXT_KINDS:
        raise _RowByRow
    item_fields = {item_type.field(i).name: item_type.field(i).type for i in range(item_type.num_fields)}
    if any(name in _ITEM_KEYS and not _is_text(t) for name, t in item_fields.items()):
        raise _RowByRow  # a number or timestamp where text is expected: make_responses decides
    offsets = column.offsets.to_pylist()
    starts = [o - offsets[0] for o in offsets]
    if column.null_count:
        items = column.flatten()  # without what a null list may hide
    else:
        items = column.values.slice(offsets[0], starts[-1])
    if starts[-1] != len(items):
        raise _RowByRow  # a null list backed by items: the rows say what it holds
    parts = dict(zip(item_fields, items.flatten(), strict=True))
    size = len(items)

    def of(name: str) -> list[Any]:
        return parts[name].to_pylist() if name in parts else [None] * size

    users = [u if u else "anonymous" for u in of("user_id")]
    values = of("value")
    statuses = of("status")
    updated = [u or None for u in of("updated_at")] if "updated_at" in parts else None
    nulls = items.null_count
    k = 0
    for j, status in enumerate(statuses):
        if (status is not None and status not in STATUSES) or (nulls and not items[j].is_valid):
            while starts[k + 1] <= j:
                k += 1
            simple[k] = False
    return Answers(starts, users, values, statuses, updated)


def _suggestion(value: Any, meta: Any, info: QuestionInfo, q: str) -> Suggestion | None:
    """A row's suggestion for ``q`` from its value and its ``-suggestion-metadata`` cell."""
    meta = meta or {}
    if isinstance(meta, Mapping):
        meta = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in meta.items()}
    else:
        meta = {}
    return make_suggestion(value, meta.get("score"), meta.get("agent"), meta.get("type"), info.kind, q)
