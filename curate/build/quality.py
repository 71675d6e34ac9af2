"""The quality figures an export's manifest records, gathered while streaming: response
statuses, annotators per record, and Krippendorff's alpha per question the spec reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from curate.build.agreement import Alpha
from curate.build.builder import Builder
from curate.build.unify import agreement_key
from curate.records import ArgillaRecord, QuestionKind

#: One record's share of the quality figures: its annotators' statuses, and per question the
#: agreement keys of its counted answers (None where fewer than two annotators answered).
RecordStats = tuple[tuple[str, ...], tuple[list[Any] | None, ...]]


class QualityStats:
    """Dataset-level figures gathered while streaming: response statuses, annotators per record,
    and Krippendorff's alpha per question the spec reads."""

    def __init__(self, builder: Builder):
        self.builder = builder
        self.by_status: Counter[str] = Counter()
        self.annotators_per_record: Counter[int] = Counter()
        self.alpha = {
            q: Alpha("interval" if builder.kind_of(q) is QuestionKind.RATING else "nominal")
            for q in builder.questions_used
        }

    def add(self, record: ArgillaRecord | None) -> None:
        if record is not None:  # an unreadable row has no annotators or answers to count
            self.add_part(self.part(record))

    def part(self, record: ArgillaRecord) -> RecordStats:
        """What one record adds (export workers compute it; ``add_part`` adds it up in order)."""
        users = record.annotator_statuses()
        if not users:
            return (), ()  # nobody answered: no status to count, no pair to agree
        values_per_question: list[list[Any] | None] = []
        for q in self.alpha:
            responses = record.responses.get(q, ())
            if len(responses) < 2:
                values_per_question.append(None)  # one answer or none: no pair (alpha skips it)
            else:
                values_per_question.append(
                    self.values([r.status for r in responses], [r.value for r in responses])
                )
        return tuple(users.values()), tuple(values_per_question)

    def values(self, statuses: Sequence[str | None], values: Sequence[Any]) -> list[Any]:
        """The agreement keys of one question's counted answers (two or more responses)."""
        policy = self.builder.status_policy
        unknown = "submitted" if policy.unknown_as_submitted else None
        counted = policy.counted
        return [
            agreement_key(value)
            for status, value in zip(statuses, values, strict=True)
            if (status or unknown) in counted and value is not None
        ]

    def add_part(self, part: RecordStats) -> None:
        statuses, values_per_question = part
        self.annotators_per_record[len(statuses)] += 1
        if not statuses:
            return  # nobody answered: no status to count, no pair to agree
        for status in statuses:
            self.by_status[status] += 1
        for alpha, values in zip(self.alpha.values(), values_per_question, strict=False):
            if values is not None:
                alpha.add(values)

    def summary(self) -> dict[str, Any]:
        return {
            "responses_by_status": dict(sorted(self.by_status.items())),
            "annotators_per_record": {str(k): v for k, v in sorted(self.annotators_per_record.items())},
            "agreement": {
                q: {
                    "metric": f"krippendorff_alpha_{a.metric}",
                    "alpha": None if a.value() is None else round(a.value() or 0.0, 6),
                    "units": a.units,
                }
                for q, a in self.alpha.items()
            },
        }
