"""Argilla 2.x exports.

* ``Dataset.to_disk`` folder: ``records.json`` (a JSON array of records with nested fields,
  metadata, suggestions ``{q: {value, score, agent}}`` and responses ``{q: [{value, user_id}]}``)
  and ``.argilla/settings.json``. Response statuses are not in this export.
* The flat ``records.to_datasets()`` / ``Dataset.to_hub`` layout: ``id``, ``status``,
  ``_server_id``, fields and metadata as top-level columns, ``<q>.responses``,
  ``<q>.responses.users``, ``<q>.responses.status``, ``<q>.suggestion``,
  ``<q>.suggestion.score``, ``<q>.suggestion.agent``. Label suggestions may be ``ClassLabel``
  integers whose names live in the `datasets` features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any, cast

from curate.errors import CurateError
from curate.records import (
    ArgillaRecord,
    DatasetSettings,
    FieldInfo,
    FieldKind,
    QuestionInfo,
    QuestionKind,
    Suggestion,
    describe_value,
)
from curate.sources._argilla import (
    STATUSES,
    TEXT_KINDS,
    check_field,
    kind_from_value,
    listed_value,
    load_settings_file,
    make_responses,
    make_suggestion,
)
from curate.sources._text import read_json
from curate.sources.base import Answers, BadValue, ColumnBatch, RowSource
from curate.sources.rows import (
    BadRow,
    DataFiles,
    Wanted,
    count_rows,
    read_rows,
    sample_rows,
    shard_columns,
)

RESERVED_FLAT = {"id", "status", "_server_id", "score"}


COLUMN_BATCH = 1000  # records.json elements per column-wise batch


def _settings_near(folder: Path) -> DatasetSettings | None:
    for candidate in (folder / ".argilla" / "settings.json", folder.parent / ".argilla" / "settings.json"):
        if candidate.exists():
            return load_settings_file(candidate)
    return None


class ArgillaV2DiskSource(RowSource):
    """A ``Dataset.to_disk`` folder."""

    layout = "argilla_v2_disk"
    status_known = False

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.records_path = folder / "records.json"
        settings = _settings_near(folder)
        if not self.records_path.exists():
            if settings is None or not (folder / ".argilla" / "dataset.json").exists():
                raise CurateError(f"{folder}: no records.json (an Argilla to_disk export has one)")
            # to_disk(with_records=False) writes the settings and no records.json
            self.warnings.append(
                f"{folder}: no records.json: the dataset was exported without records (with_records=False)"
            )
        if settings is None:
            raise CurateError(f"{folder}: no .argilla/settings.json beside records.json")
        self.settings = settings
        if self.records_path.exists():  # no records, no statuses to have lost
            self.warnings.append(
                f"{folder.name}/records.json: Argilla to_disk exports do not keep response status "
                "(submitted/draft/discarded); see responses.unknown_status in the spec"
            )

    @property
    def name(self) -> str:
        return self.folder.name

    def _raw_rows(self, wanted: Wanted) -> Iterator[Mapping[str, Any] | BadRow]:
        # one JSON array: every row is read whole, whatever is wanted
        if not self.records_path.exists():
            return  # exported without records (the warning says so)
        empty = True
        for index, row in enumerate(read_json(self.records_path, "records.json", array_only=True)):
            empty = False
            if isinstance(row, BadRow):
                yield row
            elif not isinstance(row.get("fields"), Mapping):
                # Argilla writes every record with a "fields" object; anything else is not a record.
                yield BadRow(
                    f"records.json[{index}]",
                    f"element {index}: no 'fields' object ({', '.join(sorted(map(str, row))) or 'empty'}), "
                    "not an Argilla record",
                )
            else:
                yield row
        if empty:
            note = f"{self.records_path} holds no records"
            if note not in self.warnings:
                self.warnings.append(note)

    def _raw_id(self, row: Mapping[str, Any]) -> Any:
        return row.get("id") or row.get("_server_id")

    # --- column-wise reading ---------------------------------------------------------------------

    def _raw_columns(self, wanted: Callable[[int], bool] | None) -> Iterator[ColumnBatch] | None:
        return self._column_batches(wanted)

    def _column_batches(self, wanted: Callable[[int], bool] | None) -> Iterator[ColumnBatch]:
        rows = self._raw_rows(None)
        index = 0
        while chunk := list(islice(rows, COLUMN_BATCH)):
            if wanted is None or wanted(index):
                yield self._columns(chunk)
            else:
                yield ColumnBatch.ids_only(self._raw_ids(chunk))
            index += 1

    def _columns(self, chunk: list[Mapping[str, Any] | BadRow]) -> ColumnBatch:
        """Records of ``records.json`` column by column; a record whose values ``_build`` would check
        or change further is left to it (``simple`` false)."""
        settings = self.settings
        questions = list(settings.questions)
        ids: list[Any] = []
        simple: list[bool] = []
        status: list[Any] = []
        fields: dict[str, list[Any]] = {name: [] for name in settings.fields}
        answers = {q: Answers([0], [], [], [], []) for q in questions}
        columns = list(fields.items())
        parts = [
            (q, a, a.users, a.values, a.statuses, cast(list[Any], a.updated)) for q, a in answers.items()
        ]
        for row in chunk:
            if isinstance(row, BadRow):
                ids.append(row)
                canonical = None
            else:
                ids.append(self._raw_id(row))
                canonical = self._canonical_fields(row)
                if canonical is not None and not self._simple(row, questions):
                    canonical = None
            if canonical is None:  # made into a record row by row
                simple.append(False)
                status.append(None)
                for _, column in columns:
                    column.append(None)
                for _, a, users, *_rest in parts:
                    a.starts.append(len(users))
                continue
            simple.append(True)
            row = cast(Mapping[str, Any], row)
            status.append(row.get("status"))
            for name, column in columns:
                column.append(canonical.get(name))
            given = row.get("responses") or {}
            for q, a, users, values, statuses, updated in parts:
                items = given.get(q)
                if items:
                    for item in items:
                        users.append(item.get("user_id") or "anonymous")
                        values.append(item.get("value"))
                        statuses.append(item.get("status"))
                        updated.append(item.get("updated_at") or None)
                a.starts.append(len(users))
        for a in answers.values():
            if not any(a.updated or ()):
                a.updated = None

        def row_of(k: int) -> Mapping[str, Any]:
            return cast(Mapping[str, Any], chunk[k])

        return ColumnBatch(ids, simple, fields, answers, status, row_of)

    def _canonical_fields(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The record's fields as ``_build`` keeps them; None where one would reject it."""
        known = self.settings.fields
        try:
            return {k: check_field(known.get(k), v, k) for k, v in row["fields"].items()}
        except BadValue:
            return None

    def _simple(self, row: Mapping[str, Any], questions: list[str]) -> bool:
        """Whether ``_build`` takes the row's responses, suggestions and metadata as they are."""
        settings = self.settings
        metadata = row.get("metadata")
        if metadata and not isinstance(metadata, Mapping):
            return False
        given = row.get("responses")
        if given:
            if not isinstance(given, Mapping):
                return False
            if any(q not in settings.questions for q in given):
                return False  # an unknown question rejects the record
            # Another order than the settings' matters where statuses are given: each annotator's
            # first status seen counts (without statuses, every one is "unknown" whatever the order).
            ordered = list(given) == [q for q in questions if q in given]
            for q, items in given.items():
                if items is None:
                    continue
                if type(items) is not list or (items and settings.questions[q].kind not in TEXT_KINDS):
                    return False
                for item in items:
                    if type(item) is not dict:
                        return False
                    value, user, state, updated = (
                        item.get("value"),
                        item.get("user_id"),
                        item.get("status"),
                        item.get("updated_at"),
                    )
                    if not (
                        (value is None or type(value) is str)
                        and (user is None or type(user) is str)
                        and (state is None or (ordered and type(state) is str and state in STATUSES))
                        and (updated is None or type(updated) is str)
                    ):
                        return False
        suggestions = row.get("suggestions")
        if suggestions:
            if not isinstance(suggestions, Mapping):
                return False
            for q, s in suggestions.items():
                info = settings.questions.get(q)
                if info is None or not isinstance(s, Mapping):
                    return False
                try:
                    make_suggestion(
                        s.get("value"), s.get("score"), s.get("agent"), s.get("type"), info.kind, q
                    )
                except BadValue:
                    return False
        return True

    def _build(self, raw: Mapping[str, Any], record_id: str) -> ArgillaRecord:
        settings = self.settings
        responses: dict[str, Any] = {}
        for q, items in _mapping(raw, "responses").items():
            info = _known(settings, q, "response to")
            if not isinstance(items, (list, type(None))):
                raise BadValue(
                    f"bad_value:{q}", f"responses to {q!r} are {describe_value(items)}, expected a list"
                )
            responses[q] = make_responses(list(items or []), info.kind, q)
        suggestions: dict[str, Suggestion] = {}
        for q, s in _mapping(raw, "suggestions").items():
            info = _known(settings, q, "suggestion for")
            if not isinstance(s, Mapping):
                raise BadValue(
                    f"bad_value:{q}", f"suggestion for {q!r} is {describe_value(s)}, expected an object"
                )
            sug = make_suggestion(s.get("value"), s.get("score"), s.get("agent"), s.get("type"), info.kind, q)
            if sug is not None:
                suggestions[q] = sug
        return ArgillaRecord(
            id=record_id,
            fields={k: check_field(settings.fields.get(k), v, k) for k, v in raw["fields"].items()},
            metadata=_mapping(raw, "metadata"),
            suggestions=suggestions,
            responses=responses,
            status=raw.get("status"),
            server_id=raw.get("_server_id"),
        )


def _known(settings: DatasetSettings, question: str, what: str) -> QuestionInfo:
    """A question the settings name; one they do not name rejects the record (``bad_value:<q>``)."""
    info = settings.questions.get(question)
    if info is None:
        raise BadValue(
            f"bad_value:{question}",
            f"{what} unknown question {question!r}; the settings name {', '.join(settings.questions) or 'none'}",
        )
    return info


def _listed_column(row: Mapping[str, Any], column: str, question: str) -> list[Any]:
    """A ``<q>.responses*`` cell: a list (one item per annotator; JSON text of one, as a CSV cell
    holds it), empty when missing; anything else rejects the record.

    >>> _listed_column({"q.responses": '["a", "b"]'}, "q.responses", "q")
    ['a', 'b']
    """
    value = listed_value(row.get(column))
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadValue(
            f"bad_value:{question}", f"column {column!r} is {describe_value(value)}, expected a list"
        )
    return value


def _label_name(names: list[str], index: int, question: str) -> str | None:
    """A ``ClassLabel`` suggestion's name; -1 is `datasets`' "no label". Any other index outside
    the names rejects the record.

    >>> _label_name(["bad", "good"], 1, "q"), _label_name(["bad", "good"], -1, "q")
    ('good', None)
    """
    if index == -1:
        return None
    if not 0 <= index < len(names):
        raise BadValue(
            f"bad_value:{question}",
            f"suggestion {index} is not a label index of {question!r} (0..{len(names) - 1}, or -1 for none)",
        )
    return names[index]


def _mapping(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A record's ``responses``/``suggestions``/``metadata`` object; anything else rejects the
    record (``bad_value:<key>``)."""
    value = raw.get(key)
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise BadValue(f"bad_value:{key}", f"{key} is {describe_value(value)}, expected an object")
    return dict(value)


def looks_like_v2_flat(columns: list[str]) -> bool:
    return "_server_id" in columns or any(c.endswith((".responses", ".suggestion")) for c in columns)


INFER_ROWS = 1000


def _infer_kind(answers: list[Any]) -> QuestionKind:
    """A question's kind from sample answers. A list of names is a ranking when every answer
    orders the same full set of options (Argilla makes annotators rank them all), else labels.

    Answers of any other shape give a kind too (never an error): the records whose values do not
    fit it are then rejected when read, as any ill-typed value is.

    >>> _infer_kind([["b", "a", "c"], ["a", "b", "c"]]).value, _infer_kind([["x"], ["x", "y"]]).value
    ('ranking', 'multi_label_selection')
    >>> _infer_kind([[["x", "y"]], [["y", "x"]]]).value
    'multi_label_selection'
    """
    if not answers:
        return QuestionKind.TEXT
    kind = kind_from_value(answers[0])
    if kind is QuestionKind.MULTI_LABEL and all(isinstance(a, list) for a in answers):
        try:
            option_sets = {frozenset(a) for a in answers}
        except TypeError:  # lists or objects inside an answer: no option names to rank
            return kind
        if len(option_sets) == 1 and all(len(a) == len(set(a)) >= 2 for a in answers):
            return QuestionKind.RANKING
    return kind


def _is_chat(value: Any) -> bool:
    # A list of {role, content} is a chat field; a list of numbers is a vector.
    return isinstance(value, list) and bool(value) and isinstance(value[0], Mapping) and "role" in value[0]


def _field_kind(sample: Any) -> FieldKind:
    """Text where the column holds text; a non-text column (numbers, vectors) is kept unchecked."""
    if _is_chat(sample):
        return FieldKind.CHAT
    return FieldKind.TEXT if isinstance(sample, (str, type(None))) else FieldKind.CUSTOM


def _class_label_names(features: Mapping[str, Any], column: str) -> list[str] | None:
    """A ``ClassLabel`` column's names (text, or null where an index has no label); None where
    the features give no usable list of names (the column's integers are then checked as they
    are, never mapped through a guess).

    >>> _class_label_names({"q.suggestion": {"_type": "ClassLabel", "names": ["bad", "good", None]}}, "q.suggestion")
    ['bad', 'good', None]
    >>> _class_label_names({"q.suggestion": {"_type": "ClassLabel", "names": 5}}, "q.suggestion") is None
    True
    """
    feature = features.get(column)
    if not isinstance(feature, Mapping) or feature.get("_type") != "ClassLabel":
        return None
    names = feature.get("names") or []
    # The SDK's to_datasets() lists a null name too (an index with no label): kept as it is.
    if not isinstance(names, list) or not all(name is None or isinstance(name, str) for name in names):
        return None
    return names


class ArgillaV2FlatSource(RowSource):
    """The flat ``to_datasets()`` / Hub layout, as Parquet, JSON Lines or a ``datasets`` folder."""

    layout = "argilla_v2_flat"
    id_columns = ("id", "_server_id")

    def __init__(self, files: DataFiles):
        super().__init__()
        self.files = files
        columns = shard_columns(files)
        settings = _settings_near(files.root) or _settings_near(files.files[0].parent)
        questions = sorted(
            {c.split(".")[0] for c in columns if c.endswith((".responses", ".suggestion"))}
            | {c.rsplit(".responses", 1)[0] for c in columns if ".responses" in c}
        )
        if settings is None:
            self.warnings.append(
                f"{files.root.name}: no .argilla/settings.json; question kinds inferred, "
                "and non-question columns treated as fields"
            )
            settings = self._infer_settings(columns, questions)
        self.settings = settings
        self._columns = set(columns)
        self.label = str(files.files[0] if len(files.files) == 1 else files.root)
        self._field_names = list(settings.fields)
        self._meta_names = [m for m in settings.metadata if m in self._columns]
        self._label_names = {
            q: names
            for q in settings.questions
            if (names := _class_label_names(files.hf_features, f"{q}.suggestion")) is not None
        }

    @property
    def name(self) -> str:
        return self.files.label

    def count(self) -> int | None:
        return count_rows(self.files)

    def _infer_settings(self, columns: list[str], questions: list[str]) -> DatasetSettings:
        """Kinds from the answers themselves, sampled over the first rows (not just the first one)."""
        q_columns = {c for c in columns if c.split(".")[0] in questions and "." in c}
        fields = [c for c in columns if c not in q_columns and c not in RESERVED_FLAT]
        answers: dict[str, list[Any]] = {q: [] for q in questions}
        field_sample: dict[str, Any] = {}
        for i, row in enumerate(sample_rows(self.files)):
            for q in questions:
                cell = row.get(f"{q}.responses")  # not a list: the record is rejected when read
                values = [v for v in cell if v is not None] if isinstance(cell, list) else []
                answers[q].extend(
                    values or ([row[f"{q}.suggestion"]] if row.get(f"{q}.suggestion") is not None else [])
                )
            for f in fields:
                if field_sample.get(f) is None:
                    field_sample[f] = row.get(f)
            if i >= INFER_ROWS:
                break
        infos = {q: QuestionInfo(q, _infer_kind(answers[q])) for q in questions}
        field_infos = {f: FieldInfo(f, _field_kind(field_sample.get(f))) for f in fields}
        return DatasetSettings(fields=field_infos, questions=infos, metadata=tuple(fields))

    def _raw_rows(self, wanted: Wanted) -> Iterator[Mapping[str, Any] | BadRow]:
        return read_rows(self.files, wanted, self.id_columns)

    def _raw_id(self, row: Mapping[str, Any]) -> Any:
        return row.get("id") or row.get("_server_id")

    def _build(self, row: Mapping[str, Any], record_id: str) -> ArgillaRecord:
        settings = self.settings
        responses = {}
        suggestions: dict[str, Suggestion] = {}
        for q, info in settings.questions.items():
            values, users, statuses = (
                _listed_column(row, f"{q}{suffix}", q)
                for suffix in (".responses", ".responses.users", ".responses.status")
            )
            if len(users) != len(values) or (statuses and len(statuses) != len(values)):
                raise BadValue(
                    f"bad_value:{q}",
                    f"question {q!r}: {len(values)} responses but {len(users)} users and {len(statuses)} statuses",
                )
            items = [
                {"value": v, "user_id": u, "status": statuses[i] if statuses else None}
                for i, (v, u) in enumerate(zip(values, users, strict=False))
            ]
            responses[q] = make_responses(items, info.kind, q)
            value = row.get(f"{q}.suggestion")
            names = self._label_names.get(q)
            if names is not None and isinstance(value, int) and not isinstance(value, bool):
                value = _label_name(names, value, q)
            sug = make_suggestion(
                value, row.get(f"{q}.suggestion.score"), row.get(f"{q}.suggestion.agent"), None, info.kind, q
            )
            if sug is not None:
                suggestions[q] = sug
        return ArgillaRecord(
            id=record_id,
            fields={f: check_field(settings.fields.get(f), row.get(f), f) for f in self._field_names},
            metadata={m: row.get(m) for m in self._meta_names},
            suggestions=suggestions,
            responses=responses,
            status=row.get("status"),
            server_id=row.get("_server_id"),
        )
