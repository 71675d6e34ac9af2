"""Argilla 1.x ``FeedbackDataset`` Hub layout (``push_to_huggingface`` / ``format_as("datasets")``).

One column per field; per question ``<q>`` a list of ``{user_id, value, status}`` (older
releases: one ``{user_id: [..], value: [..], status: [..]}``); ``<q>-suggestion`` and
``<q>-suggestion-metadata`` ``{type, score, agent}``; ``external_id``; ``metadata`` as a JSON
string. The dataset config, when present, is ``argilla.yaml`` (or the older ``argilla.cfg``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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
    check_field,
    dict_of_lists_to_list,
    kind_from_hf_feature,
    kind_from_value,
    load_settings_file,
    make_responses,
    make_suggestion,
    parse_metadata,
)
from curate.sources.base import RowSource
from curate.sources.rows import BadRow, DataFiles, Wanted, count_rows, read_rows, sample_rows, shard_columns

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
            meta = row.get(meta_column) or {}
            if isinstance(meta, Mapping):
                meta = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in meta.items()}
            else:
                meta = {}
            s = make_suggestion(value, meta.get("score"), meta.get("agent"), meta.get("type"), info.kind, q)
            if s is not None:
                suggestions[q] = s
        return ArgillaRecord(
            id=record_id,
            fields=fields,
            metadata=parse_metadata(row.get("metadata")),
            suggestions=suggestions,
            responses=responses,
        )
