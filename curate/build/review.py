"""Which records a reviewer should see, and what they see: the records the spec's unification
rejected for a disagreement (``tie:*``, ``disagreement:*``), optionally kept records whose row
agreement is under a threshold, least-agreeing first; and for each, every annotator's answer to
each of the spec's questions, rendered readably, beside the strategy's own answer where there is
one. The order is deterministic: agreement, then record id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from curate.build.builder import Builder
from curate.build.unify import unify
from curate.records import ArgillaRecord, QuestionKind, RankItem, Response, Span
from curate.rows import Kept, Outcome, Rejected, RejectRecord

#: the reject reasons a reviewer can settle
DISAGREEMENT_REASONS = ("tie:", "disagreement:")


@dataclass(frozen=True)
class QuestionVersions:
    """One question of one record: every annotator's response, and what the strategy made of the
    counted ones (``answer`` None where it could not decide: ``reason`` says why)."""

    question: str
    kind: QuestionKind
    responses: tuple[Response, ...]
    strategy: str
    answer: Any
    reason: str | None
    agreement: float | None

    @property
    def disagrees(self) -> bool:
        return self.agreement is not None and self.agreement < 1


@dataclass(frozen=True)
class ReviewItem:
    """A record to review: why, the annotators' agreement, and each question's versions."""

    record: ArgillaRecord
    why: str
    agreement: float | None
    questions: tuple[QuestionVersions, ...]

    @property
    def record_id(self) -> str:
        return self.record.id


def why_review(outcome: Outcome, below: float | None) -> str | None:
    """Why a record needs a reviewer (its disagreement reject, or its agreement under ``below``),
    else None.

    >>> from curate.rows import Rejected, Rejection
    >>> why_review(Rejected("r1", Rejection("tie:quality", "2 annotators")), None)
    'tie:quality'
    >>> why_review(Rejected("r2", Rejection("missing:response", "")), 0.5) is None
    True
    """
    if isinstance(outcome, Rejected):
        return outcome.reason if outcome.reason.startswith(DISAGREEMENT_REASONS) else None
    if below is not None and isinstance(outcome, Kept) and outcome.rows:
        agreement = outcome.rows[0].get("agreement")
        if agreement is not None and agreement < below:
            return f"agreement_below:{below:g}"
    return None


def versions(builder: Builder, record: ArgillaRecord) -> tuple[tuple[QuestionVersions, ...], float | None]:
    """Each spec question's responses and unified answer, and the record's mean agreement."""
    out: list[QuestionVersions] = []
    policy = builder.status_policy
    for question in builder.questions_used:
        responses = tuple(record.responses.get(question) or ())
        strategy = builder.strategy_for(question)
        try:
            counted = [r for r in responses if policy.counts(r)]
        except RejectRecord:
            counted = []
        unified = unify(counted, builder.kind_of(question), strategy)
        answer = unified.value if unified.reason is None else None
        out.append(
            QuestionVersions(
                question,
                builder.kind_of(question),
                responses,
                strategy,
                answer,
                unified.reason,
                unified.agreement,
            )
        )
    figures = [q.agreement for q in out if q.agreement is not None]
    agreement = round(sum(figures) / len(figures), 6) if figures else None
    return tuple(out), agreement


def select(
    outcomes: Iterable[Outcome],
    builder: Builder,
    *,
    below: float | None = None,
    limit: int | None = None,
    skip: Iterable[str] = (),
) -> tuple[list[ReviewItem], int]:
    """The records to review (least-agreeing first, then by id; at most ``limit``), leaving out
    the ids in ``skip`` (already reviewed); returns them and how many were left out for ``skip``."""
    skipped_ids = set(skip)
    items: list[ReviewItem] = []
    skipped = 0
    for outcome in outcomes:
        why = why_review(outcome, below)
        record = outcome.record
        if why is None or record is None:
            continue
        if record.id in skipped_ids:
            skipped += 1
            continue
        questions, agreement = versions(builder, record)
        items.append(ReviewItem(record, why, agreement, questions))
    items.sort(key=lambda i: (i.agreement is None, i.agreement or 0.0, i.record_id))
    return (items if limit is None else items[:limit]), skipped


# --- what the reviewer reads ---------------------------------------------------------------------
def render_value(value: Any, kind: QuestionKind) -> str:
    """An answer as a reviewer reads it.

    >>> from curate.records import RankItem, QuestionKind
    >>> render_value((RankItem("b", 1), RankItem("a", 2)), QuestionKind.RANKING)
    '1. b · 2. a'
    >>> render_value(("toxic", "wrong"), QuestionKind.MULTI_LABEL), render_value(4, QuestionKind.RATING)
    ('toxic, wrong', '4')
    """
    if value is None or value == "" or value == ():
        return "(no answer)"
    if kind is QuestionKind.RANKING:
        return " · ".join(
            f"{item.rank if item.rank is not None else i}. {item.value}"
            for i, item in enumerate(value, 1)
            if isinstance(item, RankItem)
        )
    if kind is QuestionKind.SPAN:
        return ", ".join(f"{s.label} [{s.start}:{s.end}]" for s in value if isinstance(s, Span))
    if kind is QuestionKind.MULTI_LABEL:
        return ", ".join(str(v) for v in value)
    if kind is QuestionKind.RATING and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines() or [""])


def versions_text(item: QuestionVersions, names: Mapping[str, str]) -> str:
    """Markdown listing every annotator's answer to one question: annotator, status, value (a
    text answer quoted below its annotator's line), then the strategy's answer or why there is
    none. ``names`` maps user ids to user names where they are known."""
    lines: list[str] = []
    for r in item.responses:
        who = names.get(r.user_id, r.user_id)
        shown = render_value(r.value, item.kind)
        head = f"- **{who}** ({r.status or 'status unknown'})"
        if item.kind is QuestionKind.TEXT and r.value:
            lines.append(f"{head}:\n\n{_quoted(shown)}\n")
        else:
            lines.append(f"{head}: {shown}")
    if item.reason is not None:
        verdict = f"{item.strategy}: no answer ({item.reason})"
    elif item.answer is not None:
        verdict = f"{item.strategy}: {render_value(item.answer, item.kind)}"
    else:
        verdict = f"{item.strategy}: nothing to unify"
    agreement = "" if item.agreement is None else f", agreement {item.agreement:.2f}"
    return "\n".join(lines) + f"\n\n*{verdict}{agreement}*"
