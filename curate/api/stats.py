"""``curate.stats`` / ``curate stats``: what a target is (a spec, an Argilla export or dataset, a
``curate export`` folder) and one streaming pass over it.

A spec's figures come from the export it makes: the export runs into a temporary folder while
every record it reads is counted on the way (one pass over the source, also for a live server),
so rejects by reason, rows per split and trained tokens are exactly what ``curate export`` gives.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.api.export import (
    Report,
    SourceLike,
    open_reviews,
    open_source,
    reads_live,
    spec_template_kwargs,
    spec_train_on,
    warn,
)
from curate.api.spec import Spec, as_spec
from curate.arguments import arg, checked_arguments
from curate.errors import CurateError
from curate.report.stats import SourceStats, Stats
from curate.report.summary import summarize
from curate.sources.base import Item, Source
from curate.spec import LiveOptions, SourceSpec, SpecFile

if TYPE_CHECKING:
    from curate.build.reviewed import Reviews


def _is_spec(target: Any) -> bool:
    if isinstance(target, (Spec, SpecFile, Mapping)):
        return True
    return isinstance(target, (str, os.PathLike)) and Path(target).suffix in (".yaml", ".yml")


def prepare(
    target: Any,
    *,
    source: SourceLike,
    tokenizer: str | os.PathLike[str] | None,
    template: str | None,
    max_length: int | None,
    truncation: str,
    train_on: str | None,
    since: str | None,
    api_url: str | None,
    api_key: str | None,
    on_warning: Report,
    review: str | os.PathLike[str] | None = None,
) -> StatsJob:
    from curate.report.export_stats import find_export
    from curate.sources.argilla_sdk import is_sdk_object, open_sdk_source

    def transform_for(task: str, own: str = "all_assistant", kwargs: dict[str, Any] | None = None) -> Any:
        if tokenizer is None:
            return None
        from curate.tokens.tokenize import build_row_transform

        chosen = train_on or own
        return build_row_transform(
            task, os.fspath(tokenizer), template, max_length, truncation, chosen, kwargs
        )

    tokenizer_name = Path(tokenizer).name if tokenizer is not None else None
    if review is not None and not _is_spec(target):
        raise CurateError(f"{arg('review')}: applies to a spec (a review wins over the spec's unification)")
    if _is_spec(target):
        spec = as_spec(target)
        if since is not None and not reads_live(spec, source):
            raise CurateError(f"{arg('since')}: applies to a live Argilla source only")
        src = open_source(spec, source, LiveOptions(since, api_url, api_key))
        for warning in src.warnings:
            on_warning(warning)
        reviews = None
        if review is not None or spec.model.review is not None:
            reviews = open_reviews(spec, src, review, LiveOptions(None, api_url, api_key))
        return StatsJob(
            "spec",
            target,
            src,
            spec,
            transform=transform_for(spec.task, spec_train_on(spec), spec_template_kwargs(spec)),
            tokenizer_name=tokenizer_name,
            reviews=reviews,
        )
    if is_sdk_object(target):
        src = open_sdk_source(target, None, LiveOptions(since))
    else:
        from curate.sources import checked_path

        if not isinstance(target, (str, os.PathLike)):
            raise CurateError(
                f"{arg('target')}: got {type(target).__name__}, expected a curate.Spec, a mapping of spec "
                "keys, an export or annotation file or folder, or an argilla.Dataset"
            )
        path = checked_path(Path(os.fspath(target)))
        export = find_export(path)
        if export is not None:
            from curate.manifest import Manifest

            task = Manifest.read(export[0]).task
            return StatsJob(
                "export", target, export=export, transform=transform_for(task), tokenizer_name=tokenizer_name
            )
        from curate.sources import open_source as open_path

        src = open_path(SourceSpec(path=str(path)), Path.cwd(), str(path))
    if tokenizer is not None:
        raise CurateError(
            f"{arg('tokenizer')}: {target}: annotation without a spec has no training rows to tokenize; "
            "give a spec or a curate export"
        )
    for warning in src.warnings:
        on_warning(warning)
    return StatsJob("source", target, src)


def run_stats(job: StatsJob, progress: Callable[[int], None] | None = None) -> Stats:
    if job.kind == "export":
        assert job.export is not None
        return _export_stats(job)
    assert job.source is not None
    acc = SourceStats(job.source.settings)
    if job.kind == "source":
        for record in job.source:
            acc.add(record)
            if progress is not None:
                progress(acc.rows)
        return Stats("source", {"source": job.source.describe(), **acc.result()}, lengths=acc.lengths)
    return _spec_stats(job, acc, progress)


def _export_stats(job: StatsJob) -> Stats:
    from curate.report.export_stats import export_stats, iter_export_rows, trained_lengths

    assert job.export is not None
    folder, only = job.export
    result, lengths = export_stats(folder, only)
    trained = trained_lengths(iter_export_rows(folder, only), result["task"], job.transform)
    if trained:
        result["trained_tokens"] = _trained_summary(trained, job, result.get("tokenization"))
    return Stats("export", result, lengths=lengths, trained=trained)


def _spec_stats(job: StatsJob, acc: SourceStats, progress: Callable[[int], None] | None) -> Stats:
    from curate.pipeline.plan import plan_export
    from curate.pipeline.run import ExportOptions, run_export
    from curate.report.export_stats import export_stats, iter_export_rows, trained_lengths

    assert job.source is not None and job.spec is not None
    with tempfile.TemporaryDirectory(prefix="curate-stats-") as tmp:
        folder = Path(tmp) / "export"
        options = ExportOptions(
            out_dir=folder, allow_empty=True, row_transform=job.transform, progress=progress
        )
        counted = _Counted(job.source, acc.add)
        plan = plan_export(job.spec.spec_file, counted, row_transform=job.transform, reviews=job.reviews)
        manifest = run_export(plan, counted, options)
        result, lengths = export_stats(folder)
        trained = trained_lengths(iter_export_rows(folder), job.spec.task, job.transform)
    export = {k: v for k, v in result.items() if k not in ("export", "rows_per_file")}
    export["dropped_rows_by_reason"] = manifest.counts.dropped_rows_by_reason
    if trained:
        export["trained_tokens"] = _trained_summary(trained, job, manifest.tokenization)
    data = {"source": job.source.describe(), **acc.result(), "export": export}
    return Stats("spec", data, lengths=lengths, trained=trained)


def _trained_summary(trained: dict[str, list[int]], job: StatsJob, tokenization: Any) -> dict[str, Any]:
    tokenizer = job.tokenizer_name or (tokenization or {}).get("tokenizer")
    return {"tokenizer": tokenizer, **{name: summarize(values) for name, values in trained.items()}}


class _Counted(Source):
    """A source that hands every record it yields to ``on_record`` too (one pass, two uses)."""

    layout = "counted"

    def __init__(self, inner: Source, on_record: Callable[[Item], None]):
        super().__init__()
        self.inner = inner
        self.on_record = on_record
        self.settings = inner.settings
        self.warnings = inner.warnings
        self.location = inner.location

    @property
    def name(self) -> str:
        return self.inner.name

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def count(self) -> int | None:
        return self.inner.count()

    def __iter__(self) -> Iterator[Item]:
        for item in self.inner:
            self.on_record(item)
            yield item
        # what the pipeline reads back once the stream is consumed
        self.rows_read = self.inner.rows_read
        self.rows_unreadable = self.inner.rows_unreadable
        self.unnamed_ids = self.inner.unnamed_ids


# --- the public face: curate.stats ------------------------------------------------------------
@dataclass
class StatsJob:
    """What :func:`stats` reads, opened and checked; ``run()`` computes the :class:`Stats`."""

    kind: str  # "source", "spec" or "export"
    target: Any
    source: Source | None = None
    spec: Spec | None = None
    export: tuple[Path, list[str] | None] | None = None
    transform: Any = None
    tokenizer_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reviews: Reviews | None = None  # a reviewer's answers the spec's export applies

    def count(self) -> int | None:
        return self.source.count() if self.source is not None else None

    def run(self, progress: Callable[[int], None] | None = None) -> Stats:
        return run_stats(self, progress)


def prepare_stats(
    target: Any,
    *,
    source: SourceLike = None,
    tokenizer: str | os.PathLike[str] | None = None,
    template: str | None = None,
    max_length: int | None = None,
    truncation: str = "drop",
    train_on: str | None = None,
    since: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    review: str | os.PathLike[str] | None = None,
    on_warning: Report | None = None,
) -> StatsJob:
    """Open what :func:`stats` reads (see :class:`StatsJob`)."""
    return prepare(
        target,
        source=source,
        tokenizer=tokenizer,
        template=template,
        max_length=max_length,
        truncation=truncation,
        train_on=train_on,
        since=since,
        api_url=api_url,
        api_key=api_key,
        on_warning=on_warning or warn,
        review=review,
    )


@checked_arguments(options_of=prepare_stats)
def stats(target: Any, **options: Any) -> Stats:
    """Figures and pictures of a dataset, as ``curate stats TARGET`` computes them.

    ``target``: a spec (:class:`Spec`, YAML path or mapping: its source's annotation, and the
    export it makes: rejects by reason, rows per split, lengths), an Argilla export file or
    folder (or an ``argilla.Dataset``), or a ``curate export`` folder or split file. Options:
    ``source``, ``tokenizer`` (adds trained-token lengths), ``template``, ``max_length``,
    ``truncation``, ``train_on``, ``since``, ``api_url``, ``api_key``, ``review`` (a review
    dataset's export whose answers the spec's export applies; default: the spec's ``review``),
    ``on_warning``.

    >>> import curate
    >>> s = curate.stats(curate.bundled_spec("dolly-curated.yaml"))
    >>> s["records"], sorted(s.plot())
    (300, ['agreement', 'annotators', 'lengths', 'rejects', 'splits'])
    """
    return prepare_stats(target, **options).run()
