"""What one record of the live Argilla server's API looks like, and how it becomes an
:class:`ArgillaRecord`; plus the time helpers the live source uses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings, Response, Suggestion
from curate.sources._argilla import check_field, make_responses, make_suggestion
from curate.sources.base import BadValue


def parse_since(value: str, where: str) -> datetime:
    """An ISO 8601 time as naive UTC (how the server writes its timestamps).

    >>> parse_since("2026-01-02T03:04:05+01:00", "--since")
    datetime.datetime(2026, 1, 2, 2, 4, 5)
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CurateError(f"{where}: {value!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def _stamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def record_shape_problem(raw: Mapping[str, Any]) -> tuple[str, Any] | None:
    """What a record from the server lacks to be one (what was expected, what was found), or None.

    >>> record_shape_problem({"id": "x", "responses": "none"})
    ("record x 'responses' to be a list of objects", 'none')
    """
    if raw.get("id") in (None, ""):
        return "each record to have an 'id'", raw
    for key in ("fields", "metadata"):
        if raw.get(key) is not None and not isinstance(raw[key], Mapping):
            return f"record {raw['id']} '{key}' to be an object", raw[key]
    for key in ("responses", "suggestions"):
        value = raw.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value)
        ):
            return f"record {raw['id']} '{key}' to be a list of objects", value
    for resp in raw.get("responses") or ():
        values = resp.get("values")
        if values is not None and not isinstance(values, Mapping):
            return f"record {raw['id']} response 'values' to be an object", values
    return None


def changed_since(raw: Mapping[str, Any], since: datetime) -> bool:
    """Whether the record, one of its responses or suggestions changed after ``since``."""
    stamps = [raw.get("updated_at")]
    stamps += [r.get("updated_at") for r in raw.get("responses") or ()]
    stamps += [s.get("updated_at") for s in raw.get("suggestions") or ()]
    return any((moment := _stamp(s)) is not None and moment > since for s in stamps)


def record_from_raw(
    raw: Mapping[str, Any], settings: DatasetSettings, question_names: Mapping[str, str]
) -> ArgillaRecord:
    """A checked server record as an ArgillaRecord. A response without any value (a discard
    without answers) becomes a ``value=None`` response to every question, so its status counts."""
    questions = settings.questions
    items: dict[str, list[Mapping[str, Any]]] = {}
    for resp in raw.get("responses") or ():
        base = {
            "user_id": resp.get("user_id"),
            "status": resp.get("status"),
            "updated_at": resp.get("updated_at"),
        }
        values = resp.get("values") or {}
        if not values:
            for q in questions:
                items.setdefault(q, []).append({**base, "value": None})
            continue
        for q, answer in values.items():
            if q not in questions:
                raise BadValue(f"bad_value:{q}", f"response to unknown question {q!r}")
            value = answer.get("value") if isinstance(answer, Mapping) else answer
            items.setdefault(q, []).append({**base, "value": value})
    responses: dict[str, tuple[Response, ...]] = {
        q: make_responses(lst, questions[q].kind, q) for q, lst in items.items()
    }
    suggestions: dict[str, Suggestion] = {}
    for s in raw.get("suggestions") or ():
        qname = question_names.get(str(s.get("question_id")))
        if qname is None:
            raise BadValue(
                "bad_value:suggestions", f"suggestion for unknown question id {s.get('question_id')}"
            )
        sug = make_suggestion(
            s.get("value"), s.get("score"), s.get("agent"), s.get("type"), questions[qname].kind, qname
        )
        if sug is not None:
            suggestions[qname] = sug
    fields = raw.get("fields") or {}
    return ArgillaRecord(
        id=str(raw.get("external_id") or raw["id"]),
        fields={k: check_field(settings.fields.get(k), v, k) for k, v in fields.items()},
        metadata=dict(raw.get("metadata") or {}),
        suggestions=suggestions,
        responses=responses,
        status=raw.get("status"),
        server_id=str(raw["id"]),
        updated_at=raw.get("updated_at"),
    )
