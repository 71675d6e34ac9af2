"""An export decided once, before any record is read: the ``ExportPlan``.

The task is resolved, its builder made for the source's settings, the filters built, the output
schema laid out, the split fractions fixed, and who builds the rows decided (this process or
forked workers, and why not workers when ``num_proc`` asked for them). ``curate.pipeline.run``
executes a plan; the API makes one per export, preview or push round, and nothing below decides
any of these again.

A plan is used for one run: its duplicate filter remembers the rows it has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from curate.build.filters import RowFilter, build_filters
from curate.sinks.files import REVIEW_PROVENANCE, schema_for
from curate.tasks import get_task, make_builder

if TYPE_CHECKING:
    from curate.build.builder import Builder
    from curate.build.reviewed import Reviews
    from curate.rows import RowTransform
    from curate.sources.base import Source
    from curate.spec import SpecFile
    from curate.tasks.base import Task


@dataclass(frozen=True)
class ExportPlan:
    spec_file: SpecFile
    task: Task
    builder: Builder
    filters: list[RowFilter]
    schema: pa.Schema  # the split files' columns: the task's, the review's (if any), then the row transform's
    fractions: dict[str, float]
    seed: int
    build_workers: int  # processes that build the rows; 1: this one
    why_not_workers: str | None  # why this process builds the rows although more were asked for
    reviews: Reviews | None = None  # a reviewer's answers that win over unification (the spec's review)


def plan_export(
    spec_file: SpecFile,
    source: Source,
    *,
    fractions: dict[str, float] | None = None,
    row_transform: RowTransform | None = None,
    num_proc: int = 1,
    reviews: Reviews | None = None,
) -> ExportPlan:
    """The plan of exporting ``source`` with ``spec_file``: ``fractions`` override the spec's
    splits; ``num_proc`` above 1 asks for worker processes, which build the rows when no row
    transform takes them (a transform's workers tokenize instead) and the source allows it.
    ``reviews`` are a reviewer's answers: the builder uses them instead of unifying, and the rows
    get ``reviewed_by`` and ``review_status``."""
    spec = spec_file.spec
    task = get_task(spec.task)
    builder = make_builder(spec_file, source.settings, source.name)
    builder.reviews = reviews
    extra = list(REVIEW_PROVENANCE) if reviews is not None else []
    extra += row_transform.fields() if row_transform is not None else []
    schema = schema_for(task.fields(builder.output_conversational), extra)
    workers, why = 1, None
    if num_proc > 1 and row_transform is None:
        from curate.pipeline.build_workers import why_not_forked

        why = why_not_forked(source)
        workers = num_proc if why is None else 1
    return ExportPlan(
        spec_file=spec_file,
        task=task,
        builder=builder,
        filters=build_filters(spec.filters, task.dedup_keys),
        schema=schema,
        fractions=dict(fractions or spec.split.fractions),
        seed=spec.split.seed,
        build_workers=workers,
        why_not_workers=why,
        reviews=reviews,
    )
