"""The column-wise build: records read in batches, column by column (``RowSource.column_scan``),
made into rows without an ``ArgillaRecord`` or ``Response`` object per record.

One implementation of every rule: the spec's task builds the rows (``Builder.build_in``), through a
:class:`ColumnContext` that answers what a ``RecordContext`` answers, from the batch's columns. A
question's answer is the one response that counts where only one does (what every strategy gives
for one answer); two or more go through ``unify`` itself. A row the source could not take as it is
(``ColumnBatch.simple`` false) is made into a record and built the row-by-row way, in its place.
``tests/test_columns.py`` checks the outputs against the row-by-row build on every shipped spec and
on hostile values in every place of real records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from curate.build.builder import NO_ANSWER, Builder, RecordContext, maybe_messages
from curate.build.quality import QualityStats
from curate.build.unify import Unified, unify
from curate.records import ArgillaRecord, Provenance, RankItem, Response
from curate.rows import Kept, Outcome, Rejected, Rejection, RejectRecord, blank
from curate.sources.base import Answers, ColumnBatch, Item, RowSource, Unreadable
from curate.spec import ValueSource

RowFilter = Callable[[dict[str, Any]], "Rejection | None"]


def outcome_of(builder: Builder, filters: Sequence[RowFilter], record: ArgillaRecord) -> Outcome:
    """One record built and filtered, row by row."""
    try:
        rows = builder.build(record)
    except RejectRecord as rej:
        return Rejected(record.id, rej.rejection, record)
    return filtered(record.id, rows, filters, record)


def filtered(
    record_id: str, rows: list[dict[str, Any]], filters: Sequence[RowFilter], record: ArgillaRecord | None
) -> Outcome:
    """A record's rows through the spec's filters: kept (with the rows dropped), or rejected."""
    kept: list[dict[str, Any]] = []
    dropped: list[Rejection] = []
    for row in rows:
        verdict = None
        for f in filters:
            verdict = f(row)
            if verdict is not None:
                break
        if verdict is None:
            kept.append(row)
        else:
            dropped.append(verdict)
    if kept:
        return Kept(record_id, kept, dropped, record)
    return Rejected(record_id, dropped[0], record)


def unreadable(item: Unreadable) -> Rejected:
    return Rejected(item.record_id, Rejection(item.reason, item.detail))


def column_outcomes(
    builder: Builder, filters: Sequence[RowFilter], source: RowSource, stats: QualityStats
) -> Iterator[Outcome] | None:
    """Every record's outcome, in input order, built column-wise (the quality figures added to
    ``stats`` on the way); None where the source reads row by row only."""
    batches = source.column_scan()
    if batches is None:
        return None
    return _outcomes(builder, filters, source, stats, batches)


def _outcomes(
    builder: Builder,
    filters: Sequence[RowFilter],
    source: RowSource,
    stats: QualityStats,
    batches: Iterator[ColumnBatch],
) -> Iterator[Outcome]:
    for batch in batches:
        for k, record_id in enumerate(batch.ids):
            if isinstance(record_id, Unreadable):
                yield unreadable(record_id)
            elif not batch.simple[k]:
                item = source.make_record(batch.row(k), record_id)
                if isinstance(item, Unreadable):
                    yield unreadable(item)
                else:
                    stats.add(item)
                    yield outcome_of(builder, filters, item)
            else:
                ctx = ColumnContext(builder, batch, k, record_id, source)
                stats.add_part(ctx.stats_part(stats))
                try:
                    rows = builder.build_in(ctx, None if batch.status is None else batch.status[k])
                except RejectRecord as rej:
                    yield Rejected(record_id, rej.rejection)
                    continue
                yield filtered(record_id, rows, filters, None)


class ColumnContext(RecordContext):
    """A ``RecordContext`` for row ``k`` of a column batch: the same answers, read from columns.

    What the columns do not hold (metadata, suggestions) comes from the record made row by row,
    made only when a spec asks for it.
    """

    def __init__(self, builder: Builder, batch: ColumnBatch, k: int, record_id: str, source: RowSource):
        self.builder = builder
        self.batch = batch
        self.k = k
        self.record_id = record_id
        self.source = source
        self._unified: dict[tuple[str, str], Unified] = {}
        self.used: list[Unified] = []
        self._provenance: Provenance | None = None
        self.review = None  # a spec with a review is built row by row
        self._record: ArgillaRecord | None = None

    @property
    def record(self) -> ArgillaRecord:  # type: ignore[override]
        if self._record is None:
            item: Item = self.source.make_record(self.batch.row(self.k), self.record_id)
            assert not isinstance(item, Unreadable), item  # the source took this row as it is
            self._record = item
        return self._record

    def unified(self, question: str, strategy: str | None) -> Unified:
        answers = self.batch.answers.get(question)
        k = self.k
        if answers is None or answers.starts[k] == answers.starts[k + 1]:
            return NO_ANSWER  # nobody answered
        strategy = strategy or self.builder.strategy_for(question)
        key = (question, strategy)
        result = self._unified.get(key)
        if result is None:
            result = self._unify(question, answers, strategy)
            self._unified[key] = result
        if result.reason is not None:
            raise RejectRecord(f"{result.reason}:{question}", f"{len(result.responses)} annotators")
        if result.responses:
            self.used.append(result)
        return result

    def _unify(self, question: str, answers: Answers, strategy: str) -> Unified:
        policy = self.builder.status_policy
        known = policy.counted
        statuses, values = answers.statuses, answers.values
        counted: list[int] = []
        for j in range(answers.starts[self.k], answers.starts[self.k + 1]):
            status = statuses[j]
            if status is None:
                if not policy.unknown_as_submitted:
                    raise RejectRecord("status_unknown", f"annotator {answers.users[j]}")
                status = "submitted"
            if status in known:
                counted.append(j)
        answered = [j for j in counted if values[j] is not None and values[j] != ""]
        if not answered:
            return NO_ANSWER
        if len(answered) == 1:  # what every strategy gives for one answer, with no agreement
            j = answered[0]
            return Unified(values[j], (self._response(answers, j),), None)
        responses = [self._response(answers, j) for j in counted]
        return unify(responses, self.builder.kind_of(question), strategy)

    @staticmethod
    def _response(answers: Answers, j: int) -> Response:
        updated = None if answers.updated is None else answers.updated[j]
        return Response(answers.users[j], answers.values[j], answers.statuses[j], updated)

    def resolve(self, sources: Sequence[ValueSource]) -> Any:
        """``RecordContext.resolve``, with a field's value read here (the common case, without a call)."""
        k = self.k
        for src in sources:
            if src.field is not None:
                column = self.batch.fields.get(src.field)
                value = None if column is None else column[k]
                if type(value) is str:
                    if value.startswith("[{"):
                        value = maybe_messages(value)
                    elif value.strip():
                        return value
                    else:
                        continue
            else:
                value = self._one(src)
                if type(value) is str:
                    if value.strip():
                        return value
                    continue
            if not blank(value):
                return value
        return None

    def _one(self, src: ValueSource) -> Any:
        if src.question is not None:
            value = self.unified(src.question, src.strategy).value
            if value is None or type(value) is str:
                return value
            if isinstance(value, tuple) and value and isinstance(value[0], RankItem):
                return [item.value for item in value]
            return list(value) if isinstance(value, tuple) else value
        if src.field is not None:
            column = self.batch.fields.get(src.field)
            return None if column is None else maybe_messages(column[self.k])
        if src.metadata is not None or src.suggestion is not None:
            return super()._one(src)  # from the record made row by row
        return src.value

    def provenance_columns(self) -> dict[str, Any]:
        if self._provenance is not None:
            return self._provenance.columns()
        users, statuses, agreement = self._annotators()
        return {
            "record_id": self.record_id,
            "source": self.builder.source_name,
            "annotators": users,
            "statuses": statuses,
            "agreement": agreement,
        }

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
        status_of: dict[str, str] = {}
        k = self.k
        for q in self.builder.questions_used:
            answers = self.batch.answers.get(q)
            if answers is not None:
                for j in range(answers.starts[k], answers.starts[k + 1]):
                    status_of.setdefault(answers.users[j], answers.statuses[j] or "unknown")
        users = sorted(status_of) if len(status_of) > 1 else list(status_of)
        used = self.used
        agreements = [u.agreement for u in used if u.agreement is not None] if used else None
        agreement = round(sum(agreements) / len(agreements), 6) if agreements else None
        return users, [status_of[u] for u in users], agreement

    def stats_part(self, stats: QualityStats) -> Any:
        """What ``QualityStats.part`` gives for this row's record."""
        k = self.k
        users: dict[str, str] = {}
        for answers in self.batch.answers.values():
            for j in range(answers.starts[k], answers.starts[k + 1]):
                users.setdefault(answers.users[j], answers.statuses[j] or "unknown")
        if not users:
            return (), ()
        values_per_question: list[list[Any] | None] = []
        for q in stats.alpha:
            of_q = self.batch.answers.get(q)
            start, end = (0, 0) if of_q is None else (of_q.starts[k], of_q.starts[k + 1])
            if of_q is None or end - start < 2:
                values_per_question.append(None)
            else:
                values_per_question.append(stats.values(of_q.statuses[start:end], of_q.values[start:end]))
        return tuple(users.values()), tuple(values_per_question)
