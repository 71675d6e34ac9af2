"""A reviewer's answers, read back from the review dataset: for each record, the one reviewer
response that counts, and per question the value that wins over unifying the annotators.

The review dataset (made by ``curate argilla review``) carries the spec's questions with the same
names and kinds, plus ``review_decision`` (required: Argilla publishes no dataset without a
required question): ``decided`` applies the reviewer's answers, ``undecidable`` leaves the record
to the annotators' unification (a tie stays rejected). Its records carry the source record's id as
their id, so a review answer finds its record again in the export.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings, QuestionKind, Response
from curate.sources.base import Source, Unreadable

#: The review dataset's own required question, and its two answers.
DECISION = "review_decision"
DECIDED, UNDECIDABLE = "decided", "undecidable"

#: ``review_status`` of a row: the reviewer's answers were used for at least one question; the
#: reviewer said the record cannot be decided; the record waits in the review dataset.
REVIEWED, PENDING = "reviewed", "pending"
#: the statuses of a reviewer response that count (``None``: a ``to_disk`` export lost it)
COUNTED = ("submitted", None)


@dataclass(frozen=True)
class ReviewAnswer:
    """What the review dataset says about one source record.

    ``status`` is ``reviewed``, ``undecidable`` or ``pending``; ``values`` the reviewer's answer
    per question (only for ``reviewed``); ``bad`` a reject reason and detail where the review
    record holds a value that does not fit its question.
    """

    record_id: str
    status: str
    reviewer: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    bad: tuple[str, str] | None = None


@dataclass
class Reviews:
    """Every review answer of one review dataset, by source record id, and what was read."""

    answers: dict[str, ReviewAnswer]
    where: str  # the review dataset (workspace/name) or its export's folder name
    questions: tuple[str, ...]  # the spec's questions the reviewer may answer
    warnings: list[str] = field(default_factory=list)

    def get(self, record_id: str) -> ReviewAnswer | None:
        return self.answers.get(record_id)

    def overrides(self, record_id: str) -> list[str]:
        """The questions whose answer the reviewer decided for this record."""
        answer = self.answers.get(record_id)
        if answer is None or answer.status != REVIEWED:
            return []
        return [q for q in self.questions if q in answer.values]

    def describe(self) -> dict[str, Any]:
        statuses = [a.status for a in self.answers.values() if a.bad is None]
        return {
            "dataset": self.where,
            "records_in_review": len(self.answers),
            "reviewed": statuses.count(REVIEWED),
            "undecidable": statuses.count(UNDECIDABLE),
            "pending": statuses.count(PENDING),
            "bad_values": sum(a.bad is not None for a in self.answers.values()),
        }


def check_review_settings(
    review: DatasetSettings, source: DatasetSettings, questions: Iterable[str], where: str
) -> None:
    """The review dataset must ask the spec's questions with the same kinds (and options), and
    carry ``review_decision``; anything else is one error naming the first mismatch."""
    problems: list[str] = []
    for name in questions:
        mine, theirs = source.questions[name], review.questions.get(name)
        if theirs is None:
            problems.append(f"no question {name!r}")
        elif theirs.kind is not mine.kind:
            problems.append(f"question {name!r} is {theirs.kind.value}, the source's is {mine.kind.value}")
        elif mine.options and set(theirs.options) != set(mine.options):
            problems.append(
                f"question {name!r} has options {list(theirs.options)}, the source's {list(mine.options)}"
            )
    decision = review.questions.get(DECISION)
    if decision is None or decision.kind is not QuestionKind.LABEL:
        problems.append(f"no label question {DECISION!r}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CurateError(
            f"review dataset {where}: not a review dataset for this spec: {problems[0]}{more}; "
            "make it with `curate argilla review`"
        )


def _latest(responses: Iterable[tuple[int, Response]]) -> str | None:
    """The user whose response is the latest (by ``updated_at``, then order), or None."""
    best: tuple[str, int] | None = None
    user = None
    for position, r in responses:
        key = (r.updated_at or "", position)
        if best is None or key >= best:
            best, user = key, r.user_id
    return user


def answer_of(record: ArgillaRecord, questions: tuple[str, ...]) -> ReviewAnswer:
    """The review answer one review record holds: the latest counted reviewer response (one
    reviewer decides a record; several are resolved by time, never at random)."""
    counted = [
        (i, r)
        for i, r in enumerate(r for rs in record.responses.values() for r in rs)
        if r.status in COUNTED and r.value is not None
    ]
    reviewer = _latest(counted)
    if reviewer is None:
        return ReviewAnswer(record.id, PENDING)
    mine = {q: r.value for q, rs in record.responses.items() for r in rs if r.user_id == reviewer}
    if mine.get(DECISION) == UNDECIDABLE:
        return ReviewAnswer(record.id, UNDECIDABLE, reviewer)
    values = {q: mine[q] for q in questions if mine.get(q) not in (None, "", ())}
    if not values:
        return ReviewAnswer(record.id, PENDING, reviewer)
    return ReviewAnswer(record.id, REVIEWED, reviewer, values)


def read_reviews(
    source: Source, source_settings: DatasetSettings, questions: Iterable[str], where: str
) -> Reviews:
    """Every answer of the review dataset ``source`` (live or a ``to_disk`` export), checked
    against the spec's source settings and questions."""
    names = tuple(questions)
    check_review_settings(source.settings, source_settings, names, where)
    answers: dict[str, ReviewAnswer] = {}
    unreadable = 0
    for item in source:
        if isinstance(item, Unreadable):
            if item.reason.startswith("bad_value:"):
                question = item.reason.removeprefix("bad_value:")
                answers[item.record_id] = ReviewAnswer(
                    item.record_id, PENDING, bad=(f"bad_value:review:{question}", item.detail)
                )
            else:
                unreadable += 1
            continue
        answers[item.id] = answer_of(item, names)
    reviews = Reviews(answers, where, names, list(source.warnings))
    if unreadable:
        reviews.warnings.append(
            f"review dataset {where}: {unreadable} record(s) could not be read; not applied"
        )
    return reviews
