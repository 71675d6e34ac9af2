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

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from curate.build.builder import (
    NO_ANSWER,
    Builder,
    RecordContext,
    annotators_of,
    answer_value,
    maybe_messages,
    provenance_row,
)
from curate.build.quality import QualityStats
from curate.build.unify import Unified, unify
from curate.records import ArgillaRecord, Provenance, Response
from curate.rows import Kept, Outcome, Rejected, Rejection, RejectRecord, as_text, blank
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
    return batch_outcomes(builder, filters, source, stats, batches)


def batch_outcomes(
    builder: Builder,
    filters: Sequence[RowFilter],
    source: RowSource,
    stats: QualityStats,
    batches: Iterable[ColumnBatch],
) -> Iterator[Outcome]:
    """The outcomes of the records of named batches (``RowSource.column_scan``), in order; each
    record's share of the quality figures goes to ``stats`` before its outcome is yielded (none
    for an unreadable row)."""
    for batch in batches:
        ids = batch.ids
        simple_rows = [k for k, ok in enumerate(batch.simple) if ok and not isinstance(ids[k], Unreadable)]
        view = BatchView(builder, batch, simple_rows)
        built = builder.task.build_columns(builder, view)
        # the statuses the quality counts gather (every question) serve the provenance too when
        # the spec reads every question, in the same order
        shared = list(batch.answers) == builder.questions_used
        for k, record_id in enumerate(ids):
            if isinstance(record_id, Unreadable):
                yield unreadable(record_id)
            elif not batch.simple[k]:
                item = source.make_record(batch.row(k), record_id)
                if isinstance(item, Unreadable):
                    source.rows_unreadable += 1  # as ``scan`` counts it
                    yield unreadable(item)
                else:
                    stats.add(item)
                    yield outcome_of(builder, filters, item)
            elif built is not None:
                users = first_statuses(batch, k, batch.answers)  # record.annotator_statuses()
                stats.add_part(stats_part(batch, k, stats, users))
                rejection = view.rejected.get(k)
                if rejection is not None:
                    yield Rejected(record_id, rejection)
                    continue
                rows = built[k]
                provenance = view.provenance(k, record_id, users if shared else None)
                for row in rows:
                    row.update(provenance)
                yield filtered(record_id, rows, filters, None)
            else:
                ctx = ColumnContext(builder, batch, k, record_id, source)
                stats.add_part(stats_part(batch, k, stats, first_statuses(batch, k, batch.answers)))
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

    def _answered(self, question: str) -> bool:
        answers = self.batch.answers.get(question)
        return answers is not None and answers.starts[self.k] != answers.starts[self.k + 1]

    def _unify(self, question: str, strategy: str) -> Unified:
        return unify_row(self.builder, self.batch.answers[question], self.k, question, strategy)

    def _one(self, src: ValueSource) -> Any:
        if src.field is not None:
            column = self.batch.fields.get(src.field)
            return None if column is None else maybe_messages(column[self.k])
        return super()._one(src)  # questions (through _answered/_unify), literals; metadata and
        # suggestions from the record made row by row

    def _annotators(self) -> tuple[list[str], list[str], float | None]:
        return annotators_of(
            first_statuses(self.batch, self.k, self.builder.questions_used), [u.agreement for u in self.used]
        )


def first_statuses(batch: ColumnBatch, k: int, questions: Iterable[str]) -> dict[str, str]:
    """Each annotator of ``questions`` on row ``k``, with the first status seen in that order
    ("unknown" where the export lost it): ``record.annotator_statuses()`` over every question,
    what ``RecordContext._annotators`` gathers over the questions the spec reads."""
    status_of: dict[str, str] = {}
    for q in questions:
        answers = batch.answers.get(q)
        if answers is not None and answers.starts[k] != answers.starts[k + 1]:
            users, statuses = answers.users, answers.statuses
            for j in range(answers.starts[k], answers.starts[k + 1]):
                status_of.setdefault(users[j], statuses[j] or "unknown")
    return status_of


def unify_row(builder: Builder, answers: Answers, k: int, question: str, strategy: str) -> Unified:
    """What ``RecordContext.unified`` computes for row ``k``'s answers to ``question`` (which has
    some): the one answer that counts where only one does (what every strategy gives for one
    answer, with no agreement), else ``unify`` itself. Raises ``status_unknown`` as it does."""
    start, end = answers.starts[k], answers.starts[k + 1]
    if end - start == 1:
        value = only_answer(builder, answers, start)
        return NO_ANSWER if value is None else Unified(value, (_response(answers, start),), None)
    counted = [j for j in range(start, end) if _counts(builder, answers, j)]
    values = answers.values
    answered = [j for j in counted if values[j] is not None and values[j] != ""]
    if not answered:
        return NO_ANSWER
    if len(answered) == 1:
        j = answered[0]
        return Unified(values[j], (_response(answers, j),), None)
    return unify([_response(answers, j) for j in counted], builder.kind_of(question), strategy)


def only_answer(builder: Builder, answers: Answers, j: int) -> Any:
    """The answer of response ``j``, a row's only response to a question: its value where its
    status counts and it holds one, else None. Raises ``status_unknown`` as ``unify_row`` does."""
    value = answers.values[j]
    return value if _counts(builder, answers, j) and value is not None and value != "" else None


def _counts(builder: Builder, answers: Answers, j: int) -> bool:
    """Whether response ``j``'s status counts (``StatusPolicy.counts``, read from the columns)."""
    return builder.status_policy.counts_status(answers.statuses[j], answers.users[j])


def _response(answers: Answers, j: int) -> Response:
    updated = None if answers.updated is None else answers.updated[j]
    return Response(answers.users[j], answers.values[j], answers.statuses[j], updated)


class BatchView:
    """The simple rows of a column batch, built column by column by a task that can
    (``Task.build_columns``): the same steps as ``Builder.build_in`` with a ``RecordContext``, in the
    same order for every row, each step over all rows still standing. A row is rejected at its
    first failing step (``rejected``); the rest go on.

    Sources read here: questions, fields and literal values (a spec reading metadata or suggestions
    is built row by row, through a ``ColumnContext``).
    """

    def __init__(self, builder: Builder, batch: ColumnBatch, rows: list[int]):
        self.builder = builder
        self.batch = batch
        self.rejected: dict[int, Rejection] = {}
        #: per row, the agreement of each answer the build used (what ``RecordContext.used`` holds)
        self.used: dict[int, list[float | None]] = {}
        self._unified: dict[tuple[str, str, int], Unified] = {}
        allowed = builder.spec.filters.record_status
        if allowed is not None:
            status = batch.status or [None] * len(batch.ids)
            for k in rows:
                if status[k] not in allowed:
                    self.reject(k, "record_status", f"status {status[k]!r}")
        self.alive = [k for k in rows if k not in self.rejected]

    @staticmethod
    def takes(spec: Any) -> bool:
        """Whether every value source of ``spec``'s columns is one this view reads."""
        return all(
            src.metadata is None and src.suggestion is None for _, sources in spec.columns for src in sources
        )

    def reject(self, k: int, reason: str, detail: str) -> None:
        self.rejected[k] = Rejection(reason, detail)

    def _drop_rejected(self) -> None:
        self.alive = [k for k in self.alive if k not in self.rejected]

    def resolve(self, sources: Sequence[ValueSource]) -> dict[int, Any]:
        """``RecordContext.resolve`` for every row standing: its first non-blank value, else None."""
        result: dict[int, Any] = {}
        pending = self.alive
        for src in sources:
            if not pending:
                break
            still: list[int] = []
            for k, value in zip(pending, self._values(src, pending), strict=True):
                if value is _REJECTED:
                    continue
                if blank(value):
                    still.append(k)
                else:
                    result[k] = value
            pending = still
        for k in pending:
            result[k] = None
        self._drop_rejected()
        return result

    def required(self, sources: Sequence[ValueSource], column: str) -> dict[int, Any]:
        """``Builder.required``: a row without a value is rejected (``missing:<column>``)."""
        values = self.resolve(sources)
        for k in self.alive:
            if blank(values[k]):
                self.reject(k, f"missing:{column}", "no source gave a value")
        self._drop_rejected()
        return values

    def text(self, values: dict[int, Any], column: str, blank_as: str | None = None) -> dict[int, str]:
        """``as_text`` of each row's value (``blank_as`` where given and the value is blank)."""
        out: dict[int, str] = {}
        for k in self.alive:
            value = values[k]
            if blank_as is not None and blank(value):
                out[k] = blank_as
            else:
                try:
                    out[k] = as_text(value, column)
                except RejectRecord as rej:
                    self.reject(k, rej.reason, rej.detail)
        self._drop_rejected()
        return out

    def _values(self, src: ValueSource, rows: list[int]) -> list[Any]:
        if src.field is not None:
            column = self.batch.fields.get(src.field)
            if column is None:
                return [None] * len(rows)
            return [maybe_messages(column[k]) for k in rows]
        if src.question is None:
            return [src.value] * len(rows)
        question = src.question
        strategy = src.strategy or self.builder.strategy_for(question)
        answers = self.batch.answers.get(question)
        if answers is None:
            return [None] * len(rows)  # nobody answered
        out: list[Any] = []
        starts = answers.starts
        used = self.used
        for k in rows:
            start = starts[k]
            end = starts[k + 1]
            if start == end:
                out.append(None)  # nobody answered
                continue
            if end - start == 1:  # one response: what ``unify_row`` gives, without a Unified
                try:
                    value = only_answer(self.builder, answers, start)
                except RejectRecord as rej:
                    self.reject(k, rej.reason, rej.detail)
                    out.append(_REJECTED)
                    continue
                if value is not None:
                    used.setdefault(k, []).append(None)  # one answer: no agreement
                out.append(answer_value(value))
                continue
            key = (question, strategy, k)
            result = self._unified.get(key)
            if result is None:
                try:
                    result = unify_row(self.builder, answers, k, question, strategy)
                except RejectRecord as rej:
                    self.reject(k, rej.reason, rej.detail)
                    out.append(_REJECTED)
                    continue
                self._unified[key] = result
            if result.reason is not None:
                self.reject(k, f"{result.reason}:{question}", f"{len(result.responses)} annotators")
                out.append(_REJECTED)
                continue
            if result.responses:
                used.setdefault(k, []).append(result.agreement)
            out.append(answer_value(result.value))
        return out

    def provenance(self, k: int, record_id: str, status_of: dict[str, str] | None = None) -> dict[str, Any]:
        """Row ``k``'s provenance columns (``RecordContext.provenance_columns``); ``status_of``:
        ``first_statuses`` over the questions the spec reads, where the caller has it."""
        if status_of is None:
            status_of = first_statuses(self.batch, k, self.builder.questions_used)
        return provenance_row(
            self.builder.source_name, record_id, annotators_of(status_of, self.used.get(k, ()))
        )


_REJECTED = object()  # a row rejected while its value was read


def stats_part(batch: ColumnBatch, k: int, stats: QualityStats, users: dict[str, str]) -> Any:
    """What ``QualityStats.part`` gives for row ``k``'s record, whose annotators' first statuses
    over every question (``record.annotator_statuses()``) are ``users``."""
    if not users:
        return (), ()
    values_per_question: list[list[Any] | None] = []
    for q in stats.alpha:
        of_q = batch.answers.get(q)
        start, end = (0, 0) if of_q is None else (of_q.starts[k], of_q.starts[k + 1])
        if of_q is None or end - start < 2:
            values_per_question.append(None)
        else:
            values_per_question.append(stats.values(of_q.statuses[start:end], of_q.values[start:end]))
    return tuple(users.values()), tuple(values_per_question)
