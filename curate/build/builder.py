"""One Argilla record -> canonical example row(s), as the spec says, or a rejection with a reason.

A spec column is an ordered list of value sources (a question's unified answer, a field, a
metadata key, a suggestion, a literal); the first that yields a non-blank value wins. A question
whose annotators cannot be unified (a tie, a disagreement) rejects the record: falling through
to the original text would hide the annotators' disagreement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from curate.build.reviewed import REVIEWED, ReviewAnswer, Reviews
from curate.build.unify import Unified, check_strategy, unify
from curate.errors import CurateError
from curate.records import (
    ArgillaRecord,
    DatasetSettings,
    FieldKind,
    Provenance,
    QuestionInfo,
    QuestionKind,
    RankItem,
    Response,
    check_messages,
)
from curate.rows import RejectRecord, as_text, blank
from curate.spec import SpecFile, ValueSource
from curate.templates import TemplateError, get_template

NO_ANSWER = Unified(None, (), None)  # no response to unify: the spec falls through to its next source


@dataclass
class StatusPolicy:
    counted: frozenset[str]
    unknown_as_submitted: bool

    def counts(self, response: Response) -> bool:
        return self.counts_status(response.status, response.user_id)

    def counts_status(self, status: str | None, user_id: str) -> bool:
        """Whether a response with ``status`` counts; a lost status (None) counts as submitted where
        the spec says so, else the record is rejected (``status_unknown``)."""
        if status is None:
            if not self.unknown_as_submitted:
                raise RejectRecord("status_unknown", f"annotator {user_id}")
            status = "submitted"
        return status in self.counted


class RecordContext:
    """Per-record cache of unified answers, and the annotators they came from."""

    def __init__(self, builder: Builder, record: ArgillaRecord):
        self.builder = builder
        self.record = record
        self.record_id = record.id
        self._unified: dict[tuple[str, str], Unified] = {}
        self.used: list[Unified] = []
        self._provenance: Provenance | None = None
        reviews = builder.reviews
        self.review: ReviewAnswer | None = None if reviews is None else reviews.get(record.id)

    def unified(self, question: str, strategy: str | None) -> Unified:
        review = self.review
        if review is not None and review.status == REVIEWED and question in review.values:
            return self._reviewed(question, strategy, review.values[question])
        if not self._answered(question):
            return NO_ANSWER  # nobody answered: nothing to unify, count or cache (the common case)
        strategy = strategy or self.builder.strategy_for(question)
        key = (question, strategy)
        result = self._unified.get(key)
        if result is None:
            result = self._unify(question, strategy)
            self._unified[key] = result
        if result.reason is not None:
            raise RejectRecord(f"{result.reason}:{question}", f"{len(result.responses)} annotators")
        if result.responses:
            self.used.append(result)
        return result

    def _answered(self, question: str) -> bool:
        return bool(self.record.responses.get(question))

    def _unify(self, question: str, strategy: str) -> Unified:
        """The responses that count, unified (``status_unknown`` where a status is lost and must not be)."""
        policy = self.builder.status_policy
        known = policy.counted
        counted = [
            r
            for r in self.record.responses[question]
            if (r.status in known if r.status is not None else policy.counts(r))
        ]
        return unify(counted, self.builder.kind_of(question), strategy)

    def _reviewed(self, question: str, strategy: str | None, value: Any) -> Unified:
        """The reviewer's answer wins; agreement stays the annotators' figure."""
        key = (question, "review")
        result = self._unified.get(key)
        if result is None:
            annotators = NO_ANSWER
            if self.record.responses.get(question):
                policy = self.builder.status_policy
                counted = [r for r in self.record.responses[question] if policy.counts(r)]
                annotators = unify(
                    counted, self.builder.kind_of(question), strategy or self.builder.strategy_for(question)
                )
            result = Unified(value, annotators.responses, annotators.agreement)
            self._unified[key] = result
            if result.responses:
                self.used.append(result)
        return result

    def resolve(self, sources: Sequence[ValueSource]) -> Any:
        for src in sources:
            value = self._one(src)
            if type(value) is str:  # the common case, without a call
                if value.strip():
                    return value
            elif not blank(value):
                return value
        return None

    def _one(self, src: ValueSource) -> Any:
        if src.question is not None:
            return answer_value(self.unified(src.question, src.strategy).value)
        if src.field is None and src.metadata is None and src.suggestion is None:
            return src.value  # a literal
        record = self.record
        if src.field is not None:
            return maybe_messages(record.fields.get(src.field))
        if src.metadata is not None:
            return record.metadata.get(src.metadata, record.fields.get(src.metadata))
        if src.suggestion is not None:
            s = record.suggestions.get(src.suggestion)
            if s is None or (src.min_score is not None and (s.score is None or s.score < src.min_score)):
                return None
            return list(s.value) if isinstance(s.value, tuple) else s.value
        return None

    def provenance(self) -> Provenance:
        if self._provenance is None:
            self._provenance = self._compute_provenance()
        return self._provenance

    def provenance_columns(self) -> dict[str, Any]:
        """The provenance columns each row ends with: ``provenance().columns()``, without the object."""
        if self._provenance is not None:
            return self._provenance.columns()
        return provenance_row(self.builder.source_name, self.record_id, self._annotators())

    def _compute_provenance(self) -> Provenance:
        users, statuses, agreement = self._annotators()
        return Provenance(
            source=self.builder.source_name,
            record_id=self.record_id,
            annotators=tuple(users),
            statuses=tuple(statuses),
            agreement=agreement,
        )

    def _annotators(self) -> tuple[list[str], list[str], float | None]:
        """The annotators of the questions the spec reads (sorted), their statuses, and the mean
        agreement over the answers used."""
        status_of: dict[str, str] = {}
        responses = self.record.responses
        for q in self.builder.questions_used:
            answers = responses.get(q)
            if answers:
                for r in answers:
                    status_of.setdefault(r.user_id, r.status or "unknown")
        return annotators_of(status_of, [u.agreement for u in self.used])


def answer_value(value: Any) -> Any:
    """A unified answer as a value source gives it: text as it is, a ranking as its options in
    order, other tuples (labels) as lists.

    >>> answer_value(("a", "b")), answer_value("x")
    (['a', 'b'], 'x')
    """
    if value is None or type(value) is str:
        return value
    if isinstance(value, tuple) and value and isinstance(value[0], RankItem):
        return [item.value for item in value]
    return list(value) if isinstance(value, tuple) else value


def provenance_row(
    source: str, record_id: str, annotators: tuple[list[str], list[str], float | None]
) -> dict[str, Any]:
    """The provenance columns of a row, from ``annotators_of``'s answer."""
    users, statuses, agreement = annotators
    return {
        "record_id": record_id,
        "source": source,
        "annotators": users,
        "statuses": statuses,
        "agreement": agreement,
    }


def annotators_of(
    status_of: dict[str, str], agreements: Sequence[float | None]
) -> tuple[list[str], list[str], float | None]:
    """A record's annotators (sorted) with their statuses, from each one's first status seen, and
    the mean agreement over the answers used (None where none has one).

    >>> annotators_of({"u2": "draft", "u1": "submitted"}, [0.5, None, 1.0])
    (['u1', 'u2'], ['submitted', 'draft'], 0.75)
    """
    users = sorted(status_of) if len(status_of) > 1 else list(status_of)
    known = [a for a in agreements if a is not None]
    agreement = round(sum(known) / len(known), 6) if known else None
    return users, [status_of[u] for u in users], agreement


def review_columns(review: ReviewAnswer | None) -> dict[str, Any]:
    """``reviewed_by`` and ``review_status`` of a row (only where the spec names a review)."""
    if review is None:
        return {"reviewed_by": None, "review_status": None}
    return {"reviewed_by": review.reviewer, "review_status": review.status}


def maybe_messages(value: Any) -> Any:
    # Some exports keep a chat conversation as a JSON string in a text column.
    if isinstance(value, str) and value.startswith("[{") and '"role"' in value:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value
        return parsed
    return value


def _sources_in(spec: Any) -> Iterator[tuple[str, ValueSource]]:
    for column, sources in spec.columns:
        for i, src in enumerate(sources):
            yield f"columns.{column}[{i}]", src
    pairs = getattr(spec, "pairs", None)
    if pairs is not None:
        for name, cand in pairs.candidates.items():
            for i, src in enumerate(cand.text):
                yield f"pairs.candidates.{name}.text[{i}]", src


class RowMaker(Protocol):
    """What the builder asks of a task (``curate.tasks.base.Task`` is one): whether its rows are
    conversations, its checks of the spec, and the rows of one record."""

    def conversational(self, builder: Builder) -> bool: ...

    def check(self, builder: Builder) -> None: ...

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]: ...

    def build_columns(self, builder: Builder, view: Any) -> dict[int, list[dict[str, Any]]] | None: ...


class Builder:
    """Turns records into canonical rows for one spec and one source's settings; the spec's task
    (``curate.tasks``, given as ``task``) says what a row is. ``curate.tasks.make_builder`` finds
    the task the spec names."""

    def __init__(self, spec_file: SpecFile, task: RowMaker, settings: DatasetSettings, source_name: str):
        self.spec: Any = spec_file.spec
        self.task = task
        self.where = str(spec_file.path) if spec_file.path else "<spec>"
        self.settings = settings
        self.source_name = source_name
        responses = self.spec.responses
        self.status_policy = StatusPolicy(
            frozenset(responses.statuses), responses.unknown_status == "submitted"
        )
        self.questions_used: list[str] = []
        self._strategies: dict[str, str] = {}
        #: a reviewer's answers that win over unification (the spec's ``review``), when read
        self.reviews: Reviews | None = None
        self._check_names()
        self.template = get_template(self.spec.template) if hasattr(self.spec, "template") else None
        #: whether prompts/completions are message lists (a chat field, or ``style: conversational``)
        self.output_conversational: bool = self.task.conversational(self)

    # --- validation against the dataset settings -------------------------------------------------

    def _check_names(self) -> None:
        s = self.settings
        for key, src in _sources_in(self.spec):
            if src.question is not None:
                self.use_question(src.question, src.strategy, key)
            elif src.suggestion is not None:
                self._known_question(src.suggestion, key)
            elif src.field is not None and src.field not in s.fields:
                raise CurateError(
                    f"{self.where}: {key}: unknown field {src.field!r}; the dataset has {', '.join(s.fields)}"
                )
        for q, strategy in self.spec.unify.questions.items():
            if q not in s.questions:
                raise CurateError(f"{self.where}: unify.questions.{q}: unknown question {q!r}")
            check_strategy(strategy, s.questions[q].kind, f"{self.where}: unify.questions.{q}")
        self.task.check(self)

    def _known_question(self, name: str, key: str) -> QuestionInfo:
        info = self.settings.questions.get(name)
        if info is None:
            raise CurateError(
                f"{self.where}: {key}: unknown question {name!r}; the dataset has "
                f"{', '.join(self.settings.questions) or 'no questions'}"
            )
        return info

    def use_question(self, name: str, strategy: str | None, key: str) -> QuestionInfo:
        """Check that the spec may read question ``name`` with ``strategy`` (else the kind's
        default); it then counts for agreement and provenance."""
        info = self._known_question(name, key)
        check_strategy(strategy or self.strategy_for(name), info.kind, f"{self.where}: {key}")
        if name not in self.questions_used:
            self.questions_used.append(name)
        return info

    def strategy_for(self, question: str) -> str:
        strategy = self._strategies.get(question)
        if strategy is None:
            override = self.spec.unify.questions.get(question)
            strategy = override or str(getattr(self.spec.unify, self.kind_of(question).value))
            self._strategies[question] = strategy
        return strategy

    def kind_of(self, question: str) -> QuestionKind:
        return self.settings.questions[question].kind

    def is_chat_field(self, sources: Sequence[ValueSource]) -> bool:
        return any(
            src.field is not None and self.settings.fields[src.field].kind is FieldKind.CHAT
            for src in sources
        )

    # --- building ----------------------------------------------------------------------------------

    def build(self, record: ArgillaRecord) -> list[dict[str, Any]]:
        """Rows for one record (a preference record may give several pairs); raises RejectRecord."""
        return self.build_in(RecordContext(self, record), record.status)

    def build_in(self, ctx: RecordContext, status: str | None) -> list[dict[str, Any]]:
        """Rows for the record ``ctx`` reads (whose record status is ``status``); raises RejectRecord."""
        spec = self.spec
        review = ctx.review
        if review is not None and review.bad is not None:
            raise RejectRecord(*review.bad)
        if spec.filters.record_status is not None and status not in spec.filters.record_status:
            raise RejectRecord("record_status", f"status {status!r}")
        try:
            rows = self.task.build(self, ctx)
        except TemplateError as err:  # the spec's template refuses or fails on this conversation
            raise RejectRecord(err.reason, str(err)) from None
        provenance = ctx.provenance_columns()
        if self.reviews is not None:
            provenance.update(review_columns(review))
        for row in rows:  # the task's fresh rows, then the provenance columns
            row.update(provenance)
        return rows

    def required(self, ctx: RecordContext, sources: Sequence[ValueSource], column: str) -> Any:
        """The first non-blank value of ``sources``; a record without one is rejected."""
        value = ctx.resolve(sources)
        if blank(value):
            raise RejectRecord(f"missing:{column}", "no source gave a value")
        return value

    def prompt_value(
        self,
        ctx: RecordContext,
        prompt_sources: Sequence[ValueSource],
        context_sources: Sequence[ValueSource],
    ) -> Any:
        """A prompt: a message list as given (ending before the reply being judged), or text
        rendered with the spec's template (a user turn in the conversational style)."""
        raw = self.required(ctx, prompt_sources, "prompt")
        context_value = ctx.resolve(context_sources)
        context = "" if blank(context_value) else as_text(context_value, "context")
        if isinstance(raw, list):
            try:
                messages = check_messages(raw, "prompt")
            except CurateError as err:
                raise RejectRecord("invalid_messages", str(err).removeprefix("prompt: ")) from None
            if messages[-1]["role"] == "assistant":
                messages = messages[:-1]  # a prompt ends before the reply being judged
            if not messages:
                raise RejectRecord("invalid_messages", "prompt has no user turn")
            return [dict(m) for m in messages]
        text = as_text(raw, "prompt")
        assert self.template is not None
        if self.output_conversational:
            return [{"role": "user", "content": self.template.user_turn(text, context)}]
        return self.template.prompt(text, context)
