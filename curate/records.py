"""Typed records: the Argilla feedback record (transport-independent) and the canonical examples.

Every source turns its input into :class:`ArgillaRecord`; tasks check their rows through the
canonical examples (:class:`ChatExample`, :class:`PreferenceExample`, :class:`PromptExample`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Union

from curate.errors import CurateError

ResponseStatus = Literal["submitted", "discarded", "draft"]
RESPONSE_STATUSES: tuple[str, ...] = ("submitted", "discarded", "draft")
ROLES: tuple[str, ...] = ("system", "user", "assistant")


class QuestionKind(str, Enum):
    """The Argilla question types (names as the Argilla API spells them)."""

    TEXT = "text"
    RATING = "rating"
    LABEL = "label_selection"
    MULTI_LABEL = "multi_label_selection"
    RANKING = "ranking"
    SPAN = "span"


class FieldKind(str, Enum):
    TEXT = "text"
    CHAT = "chat"
    IMAGE = "image"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class RankItem:
    """One option of a ranking answer; ``rank`` is None where the export lost rank numbers."""

    value: str
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Response:
    """One annotator's answer to one question.

    ``status`` is None when the export does not carry it (Argilla 2.x ``Dataset.to_disk``).
    """

    user_id: str
    value: Any
    status: ResponseStatus | None
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    value: Any
    score: float | None = None
    agent: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class QuestionInfo:
    name: str
    kind: QuestionKind
    options: tuple[Any, ...] = ()
    required: bool = True
    title: str | None = None


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = True


@dataclass(frozen=True)
class DatasetSettings:
    """Fields, questions and metadata properties of a dataset, where the source knows them."""

    fields: Mapping[str, FieldInfo] = field(default_factory=dict)
    questions: Mapping[str, QuestionInfo] = field(default_factory=dict)
    metadata: tuple[str, ...] = ()
    guidelines: str | None = None


@dataclass(frozen=True, slots=True)
class ArgillaRecord:
    """A feedback record as Argilla holds it: fields, metadata, suggestions, every response."""

    id: str
    fields: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    suggestions: Mapping[str, Suggestion] = field(default_factory=dict)
    responses: Mapping[str, tuple[Response, ...]] = field(default_factory=dict)
    status: str | None = None
    server_id: str | None = None
    updated_at: str | None = None

    def annotator_statuses(self) -> dict[str, str]:
        """Each annotator's status on this record ("unknown" where the export lost it); Argilla
        keeps one status per user response, so the first seen stands for all questions."""
        users: dict[str, str] = {}
        for responses in self.responses.values():
            for r in responses:
                users.setdefault(r.user_id, r.status or "unknown")
        return users


# --- canonical examples -------------------------------------------------------------------------

Message = dict[str, str]
Prompt = Union[str, tuple[Message, ...]]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an example came from: enough to find the record and its annotators again."""

    source: str
    record_id: str
    annotators: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    agreement: float | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "source": self.source,
            "annotators": list(self.annotators),
            "statuses": list(self.statuses),
            "agreement": self.agreement,
        }


@dataclass(frozen=True, slots=True)
class ChatExample:
    messages: tuple[Message, ...]
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class PreferenceExample:
    prompt: Prompt
    chosen: str
    rejected: str
    provenance: Provenance
    margin: float | None = None


@dataclass(frozen=True, slots=True)
class PromptExample:
    prompt: Prompt
    provenance: Provenance


def check_messages(messages: Any, where: str) -> tuple[Message, ...]:
    """Validate a chat conversation and return it as a tuple of ``{"role", "content"}`` dicts.

    Rules: roles are system/user/assistant; at most one system message, and only first;
    after it, user and assistant alternate starting with user.

    >>> check_messages([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "r1")
    ({'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello'})
    >>> check_messages([{"role": "assistant", "content": "Hello"}], "r1")
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: r1: message 0 has role 'assistant', expected 'user'
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise CurateError(f"{where}: expected a non-empty list of {{role, content}} messages")
    out: list[Message] = []
    expected = "user"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise CurateError(f"{where}: message {i} is not a {{role, content}} mapping")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise CurateError(f"{where}: message {i} has role {role!r}, expected one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise CurateError(f"{where}: message {i} content is {type(content).__name__}, expected text")
        if role == "system":
            if i != 0:
                raise CurateError(f"{where}: message {i} is a system message; only the first may be")
        elif role != expected:
            raise CurateError(f"{where}: message {i} has role {role!r}, expected {expected!r}")
        else:
            expected = "assistant" if role == "user" else "user"
        out.append({"role": role, "content": content})
    return tuple(out)


def describe_value(value: Any) -> str:
    """A value's type as the JSON world names it, with a short preview (for reject details).

    >>> describe_value(["a", "b"]), describe_value(True), describe_value(3)
    ("list ['a', 'b']", 'boolean True', 'number 3')
    """
    if isinstance(value, str):
        kind = "text"
    elif isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, (int, float)):
        kind = "number"
    elif isinstance(value, (list, tuple)):
        kind = "list"
    elif isinstance(value, Mapping):
        kind = "object"
    else:
        kind = type(value).__name__
    preview = repr(list(value) if isinstance(value, tuple) else value)
    return f"{kind} {preview[:60]}{'...' if len(preview) > 60 else ''}"
