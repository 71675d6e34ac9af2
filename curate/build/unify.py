"""Many annotators -> one answer. Strategies form a closed registry; all are deterministic:
ties are rejected with a reason, never broken at random.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from curate.build.agreement import pairwise_agreement
from curate.errors import CurateError
from curate.records import QuestionKind, RankItem, Response


@dataclass(frozen=True, slots=True)
class Unified:
    """The unified answer to one question of one record, or why there is none.

    ``value`` is None and ``reason`` is None when no response counted (the spec falls through to
    its next source); ``reason`` is set when responses exist but cannot be unified.
    """

    value: Any
    responses: tuple[Response, ...]
    agreement: float | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None and self.value is not None


class Tie(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _ordered(responses: Sequence[Response]) -> list[Response]:
    # Missing timestamps keep the export's order (Argilla lists responses in insertion order).
    if len(responses) < 2 or not any(r.updated_at for r in responses):
        return list(responses)  # already in that order: nothing to sort
    indexed = list(enumerate(responses))
    indexed.sort(key=lambda p: (p[1].updated_at or "", p[0]))
    return [r for _, r in indexed]


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def first_submitted(responses: Sequence[Response], kind: QuestionKind) -> Any:
    return _ordered(responses)[0].value


def latest(responses: Sequence[Response], kind: QuestionKind) -> Any:
    return _ordered(responses)[-1].value


def majority(responses: Sequence[Response], kind: QuestionKind) -> Any:
    if kind is QuestionKind.MULTI_LABEL:
        # A label is in the answer when more than half the annotators chose it.
        votes: Counter[str] = Counter(label for r in responses for label in r.value)
        return tuple(sorted(label for label, n in votes.items() if 2 * n > len(responses)))
    counts = Counter(_key(r.value) for r in responses)
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        raise Tie("tie")
    return ranked[0][0]


def unanimous(responses: Sequence[Response], kind: QuestionKind) -> Any:
    values = {_key(r.value) for r in responses}
    if len(values) > 1:
        raise Tie("disagreement")
    return next(iter(values))


def mean(responses: Sequence[Response], kind: QuestionKind) -> Any:
    values = [float(r.value) for r in responses]
    try:
        return statistics.fmean(values)
    except OverflowError:  # finite ratings whose sum passes a float's range: scale each first
        return math.fsum(v / len(values) for v in values)


def median(responses: Sequence[Response], kind: QuestionKind) -> Any:
    return float(statistics.median(float(r.value) for r in responses))


def mean_rank(responses: Sequence[Response], kind: QuestionKind) -> Any:
    """Average each option's position over annotators; equal averages share a rank.

    >>> from curate.records import Response, RankItem, QuestionKind
    >>> a = Response("u1", (RankItem("x", 1), RankItem("y", 2)), "submitted")
    >>> b = Response("u2", (RankItem("y", 1), RankItem("x", 2)), "submitted")
    >>> mean_rank([a, b], QuestionKind.RANKING)
    (RankItem(value='x', rank=1), RankItem(value='y', rank=1))
    """
    positions: dict[str, list[float]] = {}
    for r in responses:
        for pos, item in enumerate(r.value, 1):
            positions.setdefault(item.value, []).append(float(item.rank if item.rank is not None else pos))
    means = sorted((statistics.fmean(p), v) for v, p in positions.items())
    out: list[RankItem] = []
    rank = 0
    previous: float | None = None
    for m, value in means:
        if previous is None or m != previous:
            rank += 1
            previous = m
        out.append(RankItem(value, rank))
    return tuple(out)


STRATEGIES: dict[str, Callable[[Sequence[Response], QuestionKind], Any]] = {
    "first_submitted": first_submitted,
    "latest": latest,
    "majority": majority,
    "unanimous": unanimous,
    "mean": mean,
    "median": median,
    "mean_rank": mean_rank,
}

_GENERIC = {"first_submitted", "latest", "majority", "unanimous"}
ALLOWED: dict[QuestionKind, set[str]] = {
    QuestionKind.TEXT: _GENERIC,
    QuestionKind.LABEL: _GENERIC,
    QuestionKind.MULTI_LABEL: _GENERIC,
    QuestionKind.RATING: _GENERIC | {"mean", "median"},
    QuestionKind.RANKING: _GENERIC | {"mean_rank"},
    QuestionKind.SPAN: _GENERIC,
}


def check_strategy(strategy: str, kind: QuestionKind, where: str) -> None:
    if strategy not in ALLOWED[kind]:
        raise CurateError(
            f"{where}: strategy {strategy!r} does not apply to a {kind.value} question; "
            f"expected one of {', '.join(sorted(ALLOWED[kind]))}"
        )


def agreement_key(value: Any) -> Any:
    """A hashable form of an answer for agreement counts (a ranking by its order of options)."""
    if isinstance(value, tuple) and value and isinstance(value[0], RankItem):
        return tuple(i.value for i in value)
    return _key(value)


def unify(responses: Sequence[Response], kind: QuestionKind, strategy: str) -> Unified:
    """Apply a strategy to the counted responses of one question.

    >>> from curate.records import Response, QuestionKind
    >>> rs = [Response("u1", "a", "submitted"), Response("u2", "b", "submitted")]
    >>> unify(rs, QuestionKind.LABEL, "majority").reason
    'tie'
    >>> unify(rs, QuestionKind.LABEL, "latest").value
    'b'
    """
    answered = tuple(r for r in responses if r.value is not None and r.value != "" and r.value != ())
    if not answered:
        return Unified(None, (), None)
    agreement = pairwise_agreement([agreement_key(r.value) for r in answered]) if len(answered) > 1 else None
    try:
        value = STRATEGIES[strategy](answered, kind)
    except Tie as tie:
        return Unified(None, answered, agreement, tie.reason)
    return Unified(value, answered, agreement)
