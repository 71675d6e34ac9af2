"""``curate.push``: publish a spec's export (or an export folder) to a Hugging Face Hub dataset
repo in one commit, as ``curate push`` does (the command adds the ``--every`` loop)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.api.export import Report, SourceLike, SpecLike, open_source, reads_live
from curate.api.spec import Spec, as_spec
from curate.arguments import arg, checked_arguments, cli_called
from curate.errors import CurateError
from curate.spec import LiveOptions

if TYPE_CHECKING:
    from curate.manifest import Manifest
    from curate.sinks.hub import PushResult


# --- push -------------------------------------------------------------------------------------------
#: ``--every`` bounds: a loop pushing many times a second is a typo (``nan``, ``1e-9``), and waits
#: past a month are one too (``inf`` overflowed the timer after the first push).
MIN_INTERVAL_S = 0.1
MAX_INTERVAL_S = 31 * 86400.0


def parse_interval(text: str) -> float:
    """``every`` as seconds: ``30m``, ``1h30m``, ``45s``, ``2d`` or plain seconds, finite and
    between 0.1 s and 31 days.

    >>> parse_interval("30m"), parse_interval("1h30m"), parse_interval("90")
    (1800.0, 5400.0, 90.0)
    >>> parse_interval("nan")
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: every: 'nan' is not a finite number of seconds
    """
    import math
    import re

    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise CurateError(
                f"{arg('every')}: {text!r} is not a duration like 30m, 1h30m, 45s or 2d"
            ) from None
        seconds = sum(float(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise CurateError(f"{arg('every')}: {text!r} is not a finite number of seconds")
    if seconds <= 0:
        raise CurateError(f"{arg('every')}: {text!r} must be longer than zero")
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise CurateError(
            f"{arg('every')}: {text!r} is {seconds:g} s; expected {MIN_INTERVAL_S:g} s to 31 days"
        )
    return seconds


@dataclass
class PushPlan:
    """A push checked and ready: the job, the Hub client (token checked) and the retry policy."""

    job: Any  # curate.sinks.hub.PushJob
    publisher: Any  # curate.sinks.hub.HubPublisher
    policy: Any  # curate.sinks.hub.RetryPolicy
    interval: float | None = None


def prepare_push(
    spec: SpecLike | None = None,
    *,
    repo: str = "",
    from_export: str | os.PathLike[str] | None = None,
    source: SourceLike = None,
    private: bool = False,
    branch: str = "main",
    if_changed: bool = True,
    every: str | None = None,
    since: str | None = None,
    incremental: bool = False,
    retries: int = 5,
    api_url: str | None = None,
    api_key: str | None = None,
    log: Report | None = None,
    before_hub: Callable[[], None] | None = None,
) -> PushPlan:
    """Check what :func:`push` is given, in the command line's order (see :class:`PushPlan`)."""
    from curate.sinks.hub import HubPublisher, HubTarget, PushJob, RetryPolicy, read_export

    cli = cli_called()
    if not repo:
        raise CurateError(f"{arg('repo')} ORG/NAME is required")
    if (spec is None) == (from_export is None):
        what = "a SPEC or --from-export DIR" if cli else "a spec or from_export=DIR"
        raise CurateError(f"give either {what} (exactly one)")
    if since is not None and incremental:
        raise CurateError(f"{arg('since')} and {arg('incremental')} exclude each other")
    if from_export is not None and (since is not None or incremental or source is not None):
        raise CurateError(
            f"{arg('from_export')} publishes a finished export; {arg('since')}, {arg('incremental')} and "
            f"{arg('source')} need a {'SPEC' if cli else 'spec'}"
        )
    interval = parse_interval(every) if every is not None else None
    if since is not None:
        from curate.sources.argilla_live import parse_since

        parse_since(since, arg("since"))
    target = HubTarget(repo, branch, private)
    job = PushJob(
        target,
        from_export=Path(from_export) if from_export is not None else None,
        since=since,
        incremental=incremental,
        always=not if_changed,
    )
    if spec is not None:
        checked = as_spec(spec)
        job.export, job.spec_sha256 = _exporter(checked, source, api_url, api_key, log or _stderr)
        job.filters_since = reads_live(checked, source)
        if job.filters_since:
            job.list_ids = _id_lister(checked, source, api_url, api_key)
    else:
        assert job.from_export is not None
        read_export(job.from_export)  # the folder is checked before the Hub is asked anything
    if before_hub is not None:
        before_hub()
    publisher = HubPublisher(target)
    publisher.check_token()
    return PushPlan(job, publisher, RetryPolicy(attempts=retries), interval)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _exporter(
    spec: Spec, source: SourceLike, api_url: str | None, api_key: str | None, log: Report
) -> tuple[Callable[[Path, str | None], Manifest], str]:
    from curate.pipeline.plan import plan_export
    from curate.pipeline.run import ExportOptions, run_export

    def export(out: Path, since: str | None) -> Manifest:
        src = open_source(spec, source, LiveOptions(since, api_url, api_key))
        for warning in src.warnings:
            log(f"warning: {warning}")
        # an incremental round may find nothing new: that is not an error
        options = ExportOptions(out_dir=out, allow_empty=since is not None)
        return run_export(plan_export(spec.spec_file, src), src, options)

    return export, spec.sha256


def _id_lister(
    spec: Spec, source: SourceLike, api_url: str | None, api_key: str | None
) -> Callable[[], Collection[str]]:
    def record_ids() -> Collection[str]:
        src = open_source(spec, source, LiveOptions(api_url=api_url, api_key=api_key))
        lister = getattr(src, "record_ids", None)
        if lister is None:  # only a live server filters by time; it lists its records too
            raise CurateError(f"{src.name}: cannot list the records of this source for an incremental push")
        try:
            ids: Collection[str] = lister()
        finally:
            getattr(src, "close", lambda: None)()
        return ids

    return record_ids


@checked_arguments(options_of=prepare_push)
def push(spec: SpecLike | None = None, *, repo: str, log: Report | None = None, **options: Any) -> PushResult:
    """Publish a spec's export (or ``from_export=DIR``) to a Hub dataset repo in one commit, as
    ``curate push`` does once; no commit when the content fingerprint is unchanged.

    Options: ``from_export``, ``source``, ``private``, ``branch``, ``if_changed`` (False is
    ``--always``), ``since``, ``incremental``, ``retries``, ``api_url``, ``api_key``. The token
    comes from ``HF_TOKEN`` or ``hf auth login``. ``log`` receives progress lines (default: stderr).
    """
    from curate.sinks.hub import failure_line, hub_errors, push_once

    if "every" in options:
        raise CurateError(
            "every: the scheduled loop is the command line's (curate push --every); call push() on a timer"
        )
    plan = prepare_push(spec, repo=repo, log=log, **options)
    try:
        return push_once(plan.job, plan.publisher, plan.policy, log=log or _stderr)
    except hub_errors() as err:
        target = plan.job.target
        raise CurateError(
            f"push to {target.repo_id}@{target.branch} failed, nothing committed: "
            f"{failure_line(err, plan.publisher.api.endpoint)}"
        ) from None
