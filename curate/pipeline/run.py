"""The export job: source -> build (unify) -> filters -> split -> files, every record accounted for.

Both run an ``ExportPlan`` (``curate.pipeline.plan``): ``iter_outcomes`` yields, per input record,
either its canonical rows or its rejection; ``run_export`` writes them and a manifest whose counts
add up: ``input_records == sum(records_per_split) + rejected_records``.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.arguments import arg, switch
from curate.build.columns import column_outcomes, outcome_of, unreadable
from curate.build.quality import QualityStats
from curate.build.reviewed import PENDING
from curate.errors import CurateError
from curate.manifest import Counts, Manifest, Splits
from curate.pipeline.executor import Executor
from curate.rows import Kept, Outcome, Rejected, Rejection, RowTransform, TransformResult
from curate.sinks.files import CacheFormat, ExportWriter, Format, packed_path
from curate.sources.base import RowSource, Source, Unreadable
from curate.spec import spec_summary
from curate.version import __version__

if TYPE_CHECKING:
    from curate.build.reviewed import Reviews
    from curate.pipeline.build_workers import BuildWorkers
    from curate.pipeline.plan import ExportPlan


def assign_split(record_id: str, fractions: dict[str, float], seed: int) -> str:
    """The split of a record: a pure function of its id and the seed (stable across runs).

    >>> assign_split("r1", {"train": 1.0}, 0)
    'train'
    """
    return split_assigner(fractions, seed)(record_id)


def split_assigner(fractions: dict[str, float], seed: int) -> Callable[[str], str]:
    """``assign_split`` for one export's splits and seed, with what every record shares worked out
    once: the hash's seed prefix and the cumulative fractions."""
    prefix = f"{seed}\x1f".encode()
    bounds: list[tuple[float, str]] = []
    cumulative = 0.0
    for name in fractions:
        cumulative += fractions[name]
        bounds.append((cumulative, name))
    last = bounds[-1][1]
    sha256 = hashlib.sha256

    def split_of(record_id: str) -> str:
        point = int.from_bytes(sha256(prefix + record_id.encode()).digest()[:8], "big") / 2**64
        for bound, name in bounds:
            if point < bound:
                return name
        return last

    return split_of


def iter_outcomes(plan: ExportPlan, source: Source) -> Iterator[Outcome]:
    """Build every record of the source in this process; filters run here too, so preview sees
    what export writes."""
    builder, filters = plan.builder, plan.filters
    for record in source:
        if isinstance(record, Unreadable):
            yield unreadable(record)
        else:
            yield outcome_of(builder, filters, record)


#: Whether exports build column-wise where they can (tests turn it off to compare with the
#: row-by-row build; the outputs are the same).
COLUMN_WISE = True
TRANSFORM_BATCH = 1024  # records per batched tokenizer call (bounded memory, fast tokenizer path)


@dataclass
class ExportOptions:
    out_dir: Path
    fmt: Format | CacheFormat = "parquet"
    row_transform: RowTransform | None = None  # e.g. curate.tokens.tokenize.RowTransform (token ids, labels)
    pack_max_length: int | None = None
    progress: Callable[[int], None] | None = None
    allow_empty: bool = False  # write an export that keeps no record (else it is an error)
    num_proc: int = (
        1  # worker processes for the row transform (same bytes as 1); the plan's build_workers build rows
    )
    on_note: Callable[[str], None] | None = None  # told e.g. of stale temporary folders cleaned up


_GC_LOCK = threading.Lock()
_gc_streams = 0  # exports streaming now (the API may run several at once, in threads)
_gc_saved: tuple[tuple[int, ...], bool] = ((700, 10, 10), False)


@contextlib.contextmanager
def streaming_gc() -> Iterator[None]:
    """Cyclic garbage collection tuned for a record stream, restored afterwards.

    A stream makes many short-lived containers (rows, responses) and few cycles; with the default
    thresholds the collector keeps walking every module, class and function already loaded (about
    a tenth of an export's time). Here what exists before the stream is frozen out of collections
    and the youngest generation is collected every 10,000 allocations instead of 700. Cycles are
    still collected, so memory stays bounded. The first stream in sets this, the last one out
    restores what it found (a caller's own freeze is left alone).
    """
    global _gc_streams, _gc_saved
    with _GC_LOCK:
        if _gc_streams == 0:
            thresholds = gc.get_threshold()
            freeze = gc.get_freeze_count() == 0
            _gc_saved = (thresholds, freeze)
            if freeze:
                gc.freeze()
            gc.set_threshold(10_000, *thresholds[1:])
        _gc_streams += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_streams -= 1
            if _gc_streams == 0:
                saved, unfreeze = _gc_saved
                gc.set_threshold(*saved)
                if unfreeze:
                    gc.unfreeze()


def run_export(plan: ExportPlan, source: Source, options: ExportOptions) -> Manifest:
    """Write an export folder; returns its manifest. Nothing is left behind when it fails."""
    try:
        with streaming_gc():
            return _run_export(plan, source, options)
    except OSError as err:  # a full disk, a file vanishing, a folder made read-only mid-way
        where = err.filename or arg("out", str(options.out_dir))
        raise CurateError(f"{where}: {err.strerror or err}; nothing was written") from None


def _run_export(plan: ExportPlan, source: Source, options: ExportOptions) -> Manifest:
    spec = plan.spec_file.spec
    builder, fractions, schema = plan.builder, plan.fractions, plan.schema
    transform = options.row_transform
    reviews = plan.reviews
    stats = QualityStats(builder)
    records_per_split: Counter[str] = Counter({name: 0 for name in fractions})
    rows_per_split: Counter[str] = Counter({name: 0 for name in fractions})
    rejects: Counter[str] = Counter()
    dropped_rows: Counter[str] = Counter()
    n_input = 0
    first_reject: Rejected | None = None
    reviewed_records = 0
    overrides: Counter[str] = Counter()
    unmatched = set(reviews.answers) if reviews is not None else set()
    split_of = split_assigner(fractions, plan.seed)

    def emit(kept: Kept, rows: Sequence[dict[str, Any] | bytes], failures: list[Rejection]) -> None:
        nonlocal first_reject, reviewed_records
        record_id = kept.record_id
        if not rows:  # every row failed the transform: the record is rejected
            if first_reject is None:
                first_reject = Rejected(record_id, failures[0], kept.record)
            rejects[failures[0].reason] += 1
            writer.reject(record_id, failures[0].reason, failures[0].detail)
            return
        for failure in failures:
            dropped_rows[failure.reason] += 1
            writer.reject(record_id, failure.reason, failure.detail, scope="row")
        if reviews is not None:
            decided = reviews.overrides(record_id)
            if decided:
                reviewed_records += 1
                overrides.update(decided)
        split = split_of(record_id)
        records_per_split[split] += 1
        for row in rows:
            writer.write(split, row)
            rows_per_split[split] += 1

    def write_outcome(outcome: Outcome, results: Sequence[TransformResult] | None) -> None:
        nonlocal first_reject
        if isinstance(outcome, Rejected):
            if first_reject is None:
                first_reject = outcome
            rejects[outcome.reason] += 1
            writer.reject(outcome.record_id, outcome.reason, outcome.detail)
            return
        for failure in outcome.dropped:
            dropped_rows[failure.reason] += 1
            writer.reject(outcome.record_id, failure.reason, failure.detail, scope="row")
        if results is None:
            emit(outcome, outcome.rows, [])
            return
        ok = [
            {**row, **part}
            for row, r in zip(outcome.rows, results, strict=True)
            if not isinstance(r, Rejection)
            for part in (r if isinstance(r, list) else [r])  # a list: the row became these rows
        ]
        emit(outcome, ok, [r for r in results if isinstance(r, Rejection)])

    def write_chunk(chunk: list[Outcome], results: Sequence[TransformResult]) -> None:
        """A chunk's outcomes in input order, each kept record with its rows' transform results."""
        start = 0
        for outcome in chunk:
            if isinstance(outcome, Kept):
                write_outcome(outcome, results[start : start + len(outcome.rows)])
                start += len(outcome.rows)
            else:
                write_outcome(outcome, None)

    protected = [source.location] if source.location is not None else []  # --out must stay clear of it
    with (
        ExportWriter(options.out_dir, options.fmt, schema, list(fractions), protected) as writer,
        _ChunkRunner(transform, options.num_proc, write_chunk) as runner,
        contextlib.ExitStack() as stack,
    ):
        for note in writer.notes:
            if options.on_note is not None:
                options.on_note(note)
        workers = _forked_workers(plan, source, stats)
        columns = None
        if workers is not None:
            stack.enter_context(workers)
            outcomes = workers.outcomes()  # the workers' share of the quality figures included
        else:
            columns = _column_outcomes(plan, source, stats)  # the quality figures included
            outcomes = columns if columns is not None else iter_outcomes(plan, source)
        counted = workers is not None or columns is not None
        for outcome in outcomes:
            n_input += 1
            if unmatched:
                unmatched.discard(outcome.record_id)
            if options.progress is not None:
                options.progress(n_input)
            if not counted:
                stats.add(outcome.record)
            if transform is None:
                write_outcome(outcome, None)
            else:
                # with a transform, outcomes wait in input order for their chunk's batched call
                runner.add(outcome)
        runner.finish()
        paths = writer.close_files()
        packing = None
        if options.pack_max_length:
            packing = _pack_splits(writer, paths, options)
        n_kept = sum(records_per_split.values())
        n_rejected = sum(rejects.values())
        if n_kept == 0 and not options.allow_empty:
            where = (
                str(source.location) if source.location is not None else source.name
            )  # a path, not a label
            raise CurateError(_nothing_kept(where, n_input, rejects, first_reject))
        manifest = Manifest(
            curate_version=__version__,
            spec=spec_summary(plan.spec_file),
            source=source.describe(),
            task=spec.task,
            template=getattr(spec, "template", None),
            style="conversational" if builder.output_conversational else "text",
            format=options.fmt,
            columns=schema.names,
            splits=Splits(fractions, plan.seed),
            counts=Counts(
                input_records=n_input,
                kept_records=n_kept,
                rejected_records=n_rejected,
                records_per_split=dict(records_per_split),
                rows_per_split=dict(rows_per_split),
                rejects_by_reason=dict(sorted(rejects.items())),
                dropped_rows_by_reason=dict(sorted(dropped_rows.items())),
                source_rows=source.rows_read,
                reviewed_records=reviewed_records if reviews is not None else None,
                review_overrides_by_question=dict(sorted(overrides.items())) if reviews is not None else None,
            ),
            quality=stats.summary(),
            # Sources word warnings without absolute paths: manifests match across checkouts.
            warnings=list(source.warnings),
            fingerprint=writer.content_fingerprint(),
            tokenization=transform.summary() if transform is not None else None,
            packing=packing,
            review=_review_summary(reviews, unmatched) if reviews is not None else None,
        )
        writer.finish(manifest)
    return manifest


def _review_summary(reviews: Reviews, unmatched: set[str]) -> dict[str, Any]:
    """The review dataset read, what its answers said, and how many name a record the source no
    longer holds (counted, never applied)."""
    answered = sum(reviews.answers[i].status != PENDING for i in unmatched)  # pending: nothing to apply
    return {**reviews.describe(), "answers_without_record": answered, "warnings": list(reviews.warnings)}


class _ChunkRunner:
    """Outcomes in chunks of ``TRANSFORM_BATCH`` kept records, each chunk's rows transformed in
    one batched call — here, or in ``num_proc`` worker processes with a bounded window of chunks
    in flight — and written strictly in input order, so the output is the same for any
    ``num_proc``."""

    def __init__(
        self,
        transform: RowTransform | None,
        num_proc: int,
        write: Callable[[list[Outcome], Sequence[TransformResult]], None],
    ):
        self.transform = transform
        self.write = write
        self.chunk: list[Outcome] = []
        self.kept = 0
        self.window: deque[tuple[list[Outcome], int | None]] = deque()  # a chunk, the worker on it
        self.num_proc = num_proc
        self.sent = 0
        self.pool: Executor | None = None
        if num_proc > 1 and transform is not None:
            from curate.pipeline.workers import tokenize_worker

            recipe = getattr(transform, "recipe", None)
            if recipe is None:
                raise CurateError(f"{arg('num_proc')}: this row transform cannot run in worker processes")
            # spawned: a fork would copy the tokenizer's threads
            self.pool = Executor(num_proc, tokenize_worker, (recipe,), start="spawn")

    def __enter__(self) -> _ChunkRunner:
        if self.pool is not None:
            self.pool.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.__exit__(*exc)

    def add(self, outcome: Outcome) -> None:
        self.chunk.append(outcome)
        if isinstance(outcome, Kept):
            self.kept += 1
            if self.kept >= TRANSFORM_BATCH:
                self._submit()

    def finish(self) -> None:
        if self.chunk:
            self._submit()
        while self.window:
            self._drain_one()

    def _submit(self) -> None:
        chunk, self.chunk, self.kept = self.chunk, [], 0
        rows = [row for outcome in chunk if isinstance(outcome, Kept) for row in outcome.rows]
        assert self.transform is not None
        if self.pool is None:
            self.write(chunk, self.transform.batch(rows) if rows else [])
            return
        worker = None
        if rows:  # chunk i goes to worker i % num_proc, which hands its chunks back in order
            worker = self.sent % self.num_proc
            self.sent += 1
            self.pool.send(worker, rows)
        self.window.append((chunk, worker))
        while len(self.window) > 2 * self.num_proc:  # bounded memory: at most this many chunks wait
            self._drain_one()

    def _drain_one(self) -> None:
        chunk, worker = self.window.popleft()
        results: Sequence[TransformResult] = []
        if worker is not None:
            assert self.pool is not None
            results, counts = self.pool.receive(worker)
            self.transform.add_counts(counts)  # type: ignore[union-attr]
        self.write(chunk, results)


def _column_outcomes(plan: ExportPlan, source: Source, stats: QualityStats) -> Iterator[Outcome] | None:
    """The column-wise build's outcomes (``curate.build.columns``), where the source reads in
    batches and the spec names no review; else None."""
    if not _column_wise(plan) or not isinstance(source, RowSource):
        return None
    return column_outcomes(plan.builder, plan.filters, source, stats)


def _column_wise(plan: ExportPlan) -> bool:
    """Whether the plan's records may be built column-wise (where the source reads in batches)."""
    return COLUMN_WISE and plan.reviews is None


def _forked_workers(plan: ExportPlan, source: Source, stats: QualityStats) -> BuildWorkers | None:
    """The worker processes that build the rows, where the plan has them; else None."""
    if plan.build_workers < 2:
        return None
    from curate.pipeline.build_workers import BuildWorkers

    assert isinstance(source, RowSource)  # the plan checked it
    return BuildWorkers(
        source,
        plan.builder,
        plan.filters,
        stats,
        tuple(plan.schema.names),
        plan.build_workers,
        column_wise=_column_wise(plan),
    )


def _nothing_kept(source: str, n_input: int, rejects: Counter[str], first: Rejected | None) -> str:
    if n_input == 0:
        return f"{source}: the source has no records; nothing was written ({switch('allow_empty')} writes an empty export)"
    reasons = ", ".join(f"{reason} {n}" for reason, n in rejects.most_common(3))
    example = f"; first: record {first.record_id}: {first.reason}: {first.detail}" if first else ""
    return (
        f"{source}: no record kept, all {n_input} rejected ({reasons}){example}; nothing was written "
        f"({switch('allow_empty')} writes the export with its rejects.jsonl anyway)"
    )


def _pack_splits(writer: ExportWriter, paths: dict[str, Path], options: ExportOptions) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from curate.sources.rows import iter_file_rows
    from curate.tokens.pack import pack_rows  # packing needs token columns from the row transform

    if options.row_transform is None:
        raise CurateError(f"{arg('pack')} needs {arg('tokenizer')}: packing works on token ids")
    assert options.pack_max_length is not None
    chunked = any(f.name == "chunk" for f in options.row_transform.fields())  # --truncation split
    stats = {}
    for split, path in paths.items():
        table, split_stats = pack_rows(iter_file_rows(path), options.pack_max_length, chunked)
        pq.write_table(table, writer.add_file(packed_path(split)), compression="zstd")
        stats[split] = split_stats
    return {"max_length": options.pack_max_length, "splits": stats}
