"""``curate.review``: send the records the annotators disagree on to a reviewer, as
``curate argilla review SPEC --to DATASET`` does. The reviewer's submitted answers then win in
the next export (the spec's ``review:``, or ``--review PATH`` for a review dataset's export)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from curate.api.export import SourceLike, SpecLike, open_source
from curate.api.spec import as_spec
from curate.arguments import arg, checked_arguments
from curate.errors import CurateError
from curate.spec import LiveOptions


@dataclass(frozen=True)
class ReviewReport:
    """What :func:`review` did: the review dataset (``workspace/name``), whether it was created
    now, the records sent (ids, least-agreeing first) with the reasons they need a reviewer, and
    how many records already reviewed were left alone."""

    dataset: str
    created: bool
    sent: list[str]
    by_reason: dict[str, int] = field(default_factory=dict)
    already_reviewed: int = 0

    def summary(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in self.by_reason.items()) or "none"
        kept = f"; {self.already_reviewed} already reviewed left alone" if self.already_reviewed else ""
        verb = "created" if self.created else "updated"
        n = len(self.sent)
        return f"{verb} {self.dataset}: {n} record{'' if n == 1 else 's'} sent to review ({reasons}){kept}"


@checked_arguments()
def review(
    spec: SpecLike,
    to: str | None = None,
    *,
    workspace: str | None = None,
    below: float | None = None,
    limit: int | None = None,
    again: bool = False,
    source: SourceLike = None,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
) -> ReviewReport:
    """Upsert the spec's disagreements into the review dataset ``to`` (default: the spec's
    ``review.dataset``), creating it when missing: records the spec's unification rejects for a
    tie or disagreement, and with ``below`` kept records whose row agreement is under it; least
    agreeing first, at most ``limit``. Records a reviewer already answered are left alone unless
    ``again`` (they are then refreshed; the reviewer's answer stays)."""
    from curate.build.review import select
    from curate.build.reviewed import PENDING, read_reviews
    from curate.pipeline.plan import plan_export
    from curate.pipeline.run import iter_outcomes
    from curate.sinks.argilla import open_http
    from curate.sinks.argilla_review import ReviewDataset
    from curate.sources.argilla_live import ArgillaServerSource
    from curate.spec import ArgillaServerRef

    spec = as_spec(spec)
    own = spec.model.review
    if to is None:
        if own is None:
            raise CurateError(
                f"{arg('to', 'DATASET')}: name the review dataset (the spec names none in review:)"
            )
        to, workspace = own.dataset, workspace or own.workspace
    if below is not None and not 0 < below <= 1:
        raise CurateError(f"{arg('below')}: got {below}, expected an agreement share above 0, at most 1")
    if limit is not None and limit < 1:
        raise CurateError(f"{arg('limit')}: got {limit}, expected 1 or more")
    live = LiveOptions(None, api_url, api_key, timeout, deadline)
    src = open_source(spec, source, live)
    plan = plan_export(spec.spec_file, src)  # the annotators' unification, without any review
    builder = plan.builder
    http = open_http(api_url, api_key, timeout, deadline)
    try:
        target = ReviewDataset(http, builder, to, workspace)
        ref = ArgillaServerRef(dataset=to, workspace=target.made.workspace)
        reviewed: set[str] = set()
        review_source = ArgillaServerSource(ref, **{**live.server_kwargs(), "since": None})
        try:  # also checks an existing review dataset asks the spec's questions
            answers = read_reviews(review_source, src.settings, builder.questions_used, target.where)
        finally:
            review_source.close()
        if not again:
            reviewed = {rid for rid, a in answers.answers.items() if a.status != PENDING}
        items, skipped = select(iter_outcomes(plan, src), builder, below=below, limit=limit, skip=reviewed)
        target.upsert(items)
    finally:
        http.close()
        close = getattr(src, "close", None)
        if close is not None:
            close()
    reasons = Counter(i.why for i in items)
    return ReviewReport(
        target.where,
        target.made.created,
        [i.record_id for i in items],
        dict(sorted(reasons.items())),
        skipped,
    )
