"""Shared Argilla conventions: settings files, question kinds, and response values as the
1.x and 2.x exports spell them (list-of-dicts and dict-of-lists, ranks with and without numbers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.records import (
    RESPONSE_STATUSES,
    DatasetSettings,
    FieldInfo,
    FieldKind,
    QuestionInfo,
    QuestionKind,
    RankItem,
    Response,
    Span,
    Suggestion,
    describe_value,
)
from curate.sources._text import MAX_DEPTH, problem_in
from curate.sources.base import BadValue
from curate.yamlio import read_yaml

_KIND_ALIASES = {k.value: k for k in QuestionKind}
_FIELD_ALIASES = {k.value: k for k in FieldKind}


def _options(raw: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[Any, ...]:
    opts = settings.get("options") or raw.get("options")
    if opts:
        return tuple(o.get("value") if isinstance(o, Mapping) else o for o in opts)
    for key in ("values", "labels"):
        vals = settings.get(key) or raw.get(key)
        if isinstance(vals, Mapping):
            return tuple(vals.keys())
        if vals:
            return tuple(v.get("value") if isinstance(v, Mapping) else v for v in vals)
    return ()


def settings_from_dict(data: Mapping[str, Any], where: str) -> DatasetSettings:
    """Parse Argilla settings: 2.x ``.argilla/settings.json`` or 1.x ``argilla.yaml``.

    Both list fields and questions with a ``type`` either at top level or under ``settings``.
    """
    fields: dict[str, FieldInfo] = {}
    questions: dict[str, QuestionInfo] = {}
    try:
        for raw in data.get("fields") or []:
            s = raw.get("settings") or {}
            field_kind = _FIELD_ALIASES.get(str(s.get("type") or raw.get("type") or "text"), FieldKind.CUSTOM)
            fields[raw["name"]] = FieldInfo(raw["name"], field_kind, bool(raw.get("required", True)))
        for raw in data.get("questions") or []:
            s = raw.get("settings") or {}
            type_name = str(s.get("type") or raw.get("type") or "")
            kind = _KIND_ALIASES.get(type_name)
            if kind is None:
                raise CurateError(f"{where}: question {raw.get('name')!r} has unknown type {type_name!r}")
            questions[raw["name"]] = QuestionInfo(
                name=raw["name"],
                kind=kind,
                options=_options(raw, s),
                required=bool(raw.get("required", True)),
                title=raw.get("title"),
            )
        metadata = tuple(m["name"] for m in data.get("metadata") or data.get("metadata_properties") or [])
    except (KeyError, TypeError, AttributeError) as err:
        raise CurateError(f"{where}: not Argilla settings (missing or malformed {err})") from None
    return DatasetSettings(
        fields=fields, questions=questions, metadata=metadata, guidelines=data.get("guidelines")
    )


def load_settings_file(path: Path) -> DatasetSettings:
    if path.suffix in (".yaml", ".yml"):  # an export's argilla.yaml: untrusted, read as specs are
        data = read_yaml(path, "Argilla settings").data
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CurateError(f"{path}: cannot read Argilla settings ({err.__class__.__name__})") from None
    if not isinstance(data, Mapping):
        raise CurateError(f"{path}: Argilla settings must be a mapping")
    return settings_from_dict(data, str(path))


def _list_inner(feature: Any) -> Any:
    """The element feature of a list-like `datasets` feature (``[f]``, List, Sequence), else None."""
    if isinstance(feature, list) and feature:
        return feature[0]
    if isinstance(feature, Mapping) and feature.get("_type") in ("List", "Sequence", "LargeList"):
        return feature.get("feature")
    return None


def kind_from_hf_feature(feature: Any) -> QuestionKind | None:
    """Guess a question kind from the `datasets` feature of a 1.x response column.

    The column is a list of ``{user_id, value, status}``; the kind follows from ``value``'s
    feature. Handles the JSON shapes several `datasets` releases write (``[..]``, ``List``,
    ``Sequence``; a Sequence of a struct is stored as a struct of lists).
    """
    inner = _list_inner(feature)
    if not isinstance(inner, Mapping) or "value" not in inner:
        return None
    value = inner["value"]
    if isinstance(value, Mapping) and value.get("_type") == "Value":
        dtype = str(value.get("dtype", ""))
        return QuestionKind.RATING if dtype.startswith(("int", "uint")) else QuestionKind.TEXT
    if isinstance(value, Mapping) and "rank" in value:
        return QuestionKind.RANKING
    element = _list_inner(value)
    if isinstance(element, Mapping) and "rank" in element:
        return QuestionKind.RANKING
    if isinstance(element, Mapping) and "start" in element:
        return QuestionKind.SPAN
    if element is not None:
        return QuestionKind.MULTI_LABEL
    return None


def kind_from_value(value: Any) -> QuestionKind:
    """Guess a question kind from an answer value (used only without settings)."""
    if isinstance(value, bool):
        return QuestionKind.LABEL
    if isinstance(value, int):
        return QuestionKind.RATING
    if isinstance(value, Mapping) and "rank" in value:
        return QuestionKind.RANKING
    if isinstance(value, (list, tuple)):
        first = value[0] if value else None
        if isinstance(first, Mapping) and "rank" in first:
            return QuestionKind.RANKING
        if isinstance(first, Mapping) and "start" in first:
            return QuestionKind.SPAN
        return QuestionKind.MULTI_LABEL
    return QuestionKind.TEXT


def dict_of_lists_to_list(value: Any) -> list[Any]:
    """Turn `datasets`' Sequence-of-struct form ``{"a": [..], "b": [..]}`` into ``[{"a", "b"}, ..]``;
    a list stays a list, and anything else is one item (for the caller to check).

    >>> dict_of_lists_to_list({"value": ["x", "y"], "user_id": ["u1", "u2"]})
    [{'value': 'x', 'user_id': 'u1'}, {'value': 'y', 'user_id': 'u2'}]
    >>> dict_of_lists_to_list(5), dict_of_lists_to_list(None)
    ([5], [])
    """
    if isinstance(value, Mapping):
        keys = list(value.keys())
        columns = [value[k] or [] for k in keys]
        if all(isinstance(c, (list, tuple)) for c in columns):
            return [dict(zip(keys, row, strict=False)) for row in zip(*columns, strict=False)]
        return [dict(value)]
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


_EXPECTED = {
    QuestionKind.TEXT: "text",
    QuestionKind.LABEL: "a label (text)",
    QuestionKind.RATING: "a number",
    QuestionKind.MULTI_LABEL: "a list of labels (text)",
    QuestionKind.RANKING: "a ranking (option names, or {value, rank} items)",
    QuestionKind.SPAN: "spans ({label, start, end} items)",
}


def listed_value(value: Any) -> Any:
    """A list held as JSON text (how CSV cells carry lists), else the value itself."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def normalize_value(kind: QuestionKind | None, value: Any, question: str, what: str) -> Any:
    """Bring an answer or suggestion value to the canonical Python form for its question kind.

    text/label -> str, rating -> int (float where not whole), multi-label -> sorted tuple of str,
    ranking -> tuple of RankItem in rank order (position order where ranks are missing), span ->
    tuple of Span. A value of another type raises :class:`BadValue` (``bad_value:<question>``):
    a list or number in a text question is never turned into text.

    >>> normalize_value(QuestionKind.RATING, "4", "q", "response 0")
    4
    >>> normalize_value(QuestionKind.TEXT, ["a", "b"], "q", "response 0")
    Traceback (most recent call last):
    ...
    curate.sources.base.BadValue: response 0: expected text, found list ['a', 'b']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind is None:
        kind = kind_from_value(value)

    def bad() -> BadValue:
        return BadValue(
            f"bad_value:{question}", f"{what}: expected {_EXPECTED[kind]}, found {describe_value(value)}"
        )

    if kind in (QuestionKind.TEXT, QuestionKind.LABEL):
        if isinstance(value, str):
            return value
        raise bad()
    if kind is QuestionKind.RATING:
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise bad() from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise bad()
        try:
            finite = math.isfinite(number)
        except OverflowError:  # an integer past any float (hundreds of digits): no rating
            finite = False
        if not finite:
            raise bad()
        return int(number) if isinstance(number, float) and number.is_integer() else number
    if kind is QuestionKind.MULTI_LABEL:
        labels = listed_value(value)
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, (list, tuple)) or not all(isinstance(v, str) for v in labels):
            raise bad()
        return tuple(sorted(labels))
    if kind is QuestionKind.RANKING:
        items = listed_value(value)
        if not isinstance(items, (list, tuple, Mapping)):
            raise bad()
        ranked = []
        for item in dict_of_lists_to_list(items):
            if isinstance(item, str):
                ranked.append(RankItem(item, None))
                continue
            if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
                raise bad()
            rank = item.get("rank")
            if rank is not None and not _is_int(rank):
                raise bad()
            ranked.append(RankItem(item["value"], int(rank) if rank is not None else None))
        if all(r.rank is not None for r in ranked):
            ranked.sort(key=lambda r: (r.rank, r.value))  # type: ignore[arg-type,return-value]
        return tuple(ranked)
    if kind is QuestionKind.SPAN:
        items = listed_value(value)
        if not isinstance(items, (list, tuple, Mapping)):
            raise bad()
        spans = []
        for s in dict_of_lists_to_list(items):
            if not (
                isinstance(s, Mapping)
                and isinstance(s.get("label"), str)
                and _is_int(s.get("start"))
                and _is_int(s.get("end"))
            ):
                raise bad()
            spans.append(Span(s["label"], int(s["start"]), int(s["end"])))
        return tuple(spans)
    raise AssertionError(kind)


_TEXT_FIELDS = (FieldKind.TEXT, FieldKind.IMAGE)
#: question kinds whose answers are text as they come (``make_responses`` keeps them as they are)
TEXT_KINDS = (QuestionKind.TEXT, QuestionKind.LABEL)
#: response statuses as Argilla spells them (any other spelling goes through ``normalize_status``)
STATUSES = frozenset(RESPONSE_STATUSES)


def check_field(info: FieldInfo | None, value: Any, name: str) -> Any:
    """A field value as the record keeps it, or :class:`BadValue` where its type does not fit
    the field (text and image fields hold text; chat fields a list of messages; custom anything).

    >>> check_field(FieldInfo("prompt"), "Hi", "prompt")
    'Hi'
    """
    if type(value) is str and info is not None and info.kind in _TEXT_FIELDS:
        return value  # the common case, checked first: text in a text field
    value = field_value(value)
    if value is None or info is None:
        return value
    if info.kind in _TEXT_FIELDS:
        ok = isinstance(value, str)
        expected = "text"
    elif info.kind is FieldKind.CHAT:
        ok = isinstance(value, (list, str))
        expected = "a list of {role, content} messages"
    else:
        ok, expected = True, ""
    if not ok:
        raise BadValue(
            f"bad_value:{name}", f"field {name!r}: expected {expected}, found {describe_value(value)}"
        )
    return value


def normalize_status(raw: Any, what: str, question: str) -> str | None:
    """A response status in lower case; anything else rejects the record (``bad_value:<question>``).

    >>> normalize_status("Submitted", "response 0", "q")
    'submitted'
    """
    if raw is None:
        return None
    status = raw.lower() if isinstance(raw, str) else None
    if status not in RESPONSE_STATUSES:
        raise BadValue(
            f"bad_value:{question}",
            f"{what}: status {describe_value(raw)} is not one of {', '.join(RESPONSE_STATUSES)}",
        )
    return status


def make_responses(
    items: Sequence[Mapping[str, Any]], kind: QuestionKind | None, question: str
) -> tuple[Response, ...]:
    """Responses from ``[{user_id, value, status, updated_at?}]`` items, one per annotator."""
    out: list[Response] = []
    text = kind in TEXT_KINDS
    for i, item in enumerate(items):
        if type(item) is not dict and not isinstance(item, Mapping):
            raise BadValue(
                f"bad_value:{question}",
                f"question {question!r}, response {i} is {describe_value(item)}, expected an object",
            )
        user = item.get("user_id")
        user_id = str(user) if user is not None and user != "" else "anonymous"
        value = item.get("value")
        # Text answers and well-spelled statuses are already canonical (the common case);
        # anything else goes through the full normalisation, which also words the errors.
        if not (text and type(value) is str):
            value = normalize_value(kind, value, question, f"question {question!r}, response {i} ({user_id})")
        status = item.get("status")
        if status is not None and not (type(status) is str and status in STATUSES):
            status = normalize_status(status, f"question {question!r}, response {i} ({user_id})", question)
        updated = item.get("updated_at")
        out.append(Response(user_id, value, status, str(updated) if updated else None))  # type: ignore[arg-type]
    return tuple(out)


def make_suggestion(
    value: Any, score: Any, agent: Any, type_: Any, kind: QuestionKind | None, question: str
) -> Suggestion | None:
    if value is None:
        return None
    value = normalize_value(kind, value, question, f"question {question!r}, suggestion")
    if value is None or value == () or value == "":
        return None
    try:
        if isinstance(score, (list, tuple)):
            # ranking / multi-label suggestions may carry one score per option; keep the best
            numbers = [float(s) for s in score if s is not None]
            score = max(numbers) if numbers else None
        elif score is not None:
            score = float(score)
            if math.isnan(score):
                score = None
    except (TypeError, ValueError, OverflowError):
        raise BadValue(
            f"bad_value:{question}",
            f"question {question!r}, suggestion score: expected a number, found {describe_value(score)}",
        ) from None
    return Suggestion(value=value, score=score, agent=agent or None, type=type_ or None)


_DECODER = json.JSONDecoder()


def parse_metadata(raw: Any) -> dict[str, Any]:
    """1.x stores metadata as a JSON string (``"{}"`` or ``{}`` when empty). Anything but a JSON
    object (or JSON nested too deep, or holding a lone surrogate) rejects the record
    (``bad_value:metadata``), as an ill-typed answer does.

    >>> parse_metadata('{"source": "web"}'), parse_metadata("{}"), parse_metadata(None)
    ({'source': 'web'}, {}, {})
    >>> parse_metadata("[1, 2]")
    Traceback (most recent call last):
    ...
    curate.sources.base.BadValue: metadata is list, expected a JSON object
    """
    if raw is None or raw == "" or raw == "{}":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        raise BadValue("bad_value:metadata", f"metadata is {describe_value(raw)}, expected a JSON object")
    try:
        parsed = _DECODER.decode(raw)
    except ValueError:
        raise BadValue("bad_value:metadata", f"metadata is not JSON: {raw!r:.80}") from None
    except RecursionError:
        raise BadValue("bad_value:metadata", f"metadata is nested deeper than {MAX_DEPTH} levels") from None
    if parsed is None:
        return {}
    if type(parsed) is not dict:
        raise BadValue("bad_value:metadata", f"metadata is {type(parsed).__name__}, expected a JSON object")
    problem = problem_in(parsed, raw)
    if problem is not None:
        raise BadValue("bad_value:metadata", f"metadata: {problem}")
    return parsed


def field_value(value: Any) -> Any:
    """Field values: text stays text; a chat field stays a list of {role, content} dicts."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value
