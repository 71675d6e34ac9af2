"""``curate push``: export a spec (or take an export folder) and publish it to the Hugging Face Hub,
once or on a schedule (``--every``), in one commit per change."""

from __future__ import annotations

import re
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from curate.manifest import Manifest

from curate.commands.core import ApiKeyOpt, ApiUrlOpt
from curate.errors import CurateError

_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """``--every`` as seconds: ``30m``, ``1h30m``, ``45s``, ``2d`` or plain seconds.

    >>> parse_interval("30m"), parse_interval("1h30m"), parse_interval("90")
    (1800.0, 5400.0, 90.0)
    """
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _INTERVAL.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise CurateError(f"--every: {text!r} is not a duration like 30m, 1h30m, 45s or 2d") from None
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise CurateError(f"--every: {text!r} must be longer than zero")
    return seconds


def _log(message: str) -> None:
    typer.echo(f"{datetime.now().astimezone().isoformat(timespec='seconds')} {message}", err=True)


def register(app: typer.Typer) -> None:
    from curate.cli import user_errors

    @app.command()
    @user_errors
    def push(
        spec: Annotated[
            Path | None, typer.Argument(help="dataset spec (YAML); omit with --from-export")
        ] = None,
        repo: Annotated[str, typer.Option("--repo", help="Hub dataset repo, ORG/NAME")] = "",
        source: Annotated[
            str | None,
            typer.Option("--source", help="export file or folder to read instead of the spec's source"),
        ] = None,
        from_export: Annotated[
            Path | None, typer.Option("--from-export", help="publish this `curate export` folder as is")
        ] = None,
        private: Annotated[bool, typer.Option("--private", help="create the repo private")] = False,
        branch: Annotated[
            str, typer.Option("--branch", help="branch to commit to (created if missing)")
        ] = "main",
        if_changed: Annotated[
            bool,
            typer.Option("--if-changed/--always", help="commit only when the content fingerprint changed"),
        ] = True,
        every: Annotated[
            str | None, typer.Option("--every", help="keep running; push every interval (30m, 1h, ...)")
        ] = None,
        since: Annotated[
            str | None,
            typer.Option("--since", help="merge records updated after this ISO time into the Hub snapshot"),
        ] = None,
        incremental: Annotated[
            bool,
            typer.Option("--incremental", help="like --since, from the watermark stored by the last push"),
        ] = False,
        retries: Annotated[
            int, typer.Option("--retries", help="attempts per Hub call on 429/5xx", min=1)
        ] = 5,
        api_url: ApiUrlOpt = None,
        api_key: ApiKeyOpt = None,
    ) -> None:
        """Publish a spec's export (or --from-export DIR) to a Hub dataset repo: Parquet splits,
        rejects, manifest and a provenance card in one commit; no commit when nothing changed."""
        from huggingface_hub.errors import HfHubHTTPError

        from curate.sinks.hub import (
            HubPublisher,
            HubTarget,
            PushJob,
            RetryPolicy,
            describe_error,
            push_once,
            summary_line,
            transport_errors,
        )

        if not repo:
            raise CurateError("--repo ORG/NAME is required")
        if (spec is None) == (from_export is None):
            raise CurateError("give either a SPEC or --from-export DIR (exactly one)")
        if since is not None and incremental:
            raise CurateError("--since and --incremental exclude each other")
        if from_export is not None and (since is not None or incremental or source is not None):
            raise CurateError(
                "--from-export publishes a finished export; --since, --incremental and --source need a SPEC"
            )
        interval = parse_interval(every) if every is not None else None
        if since is not None:
            from curate.sources.argilla_live import parse_since

            parse_since(since, "--since")
        target = HubTarget(repo, branch, private)
        job = PushJob(
            target, from_export=from_export, since=since, incremental=incremental, always=not if_changed
        )
        if spec is not None:
            job.export, job.spec_sha256 = _exporter(spec, source, api_url, api_key)
        if not sys.stderr.isatty():  # upload bars would flood logs of cron and CI jobs
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        publisher = HubPublisher(target)
        publisher.check_token()
        policy = RetryPolicy(attempts=retries)
        if interval is not None:
            raise typer.Exit(_run_every(job, publisher, interval, policy))
        hub_errors: tuple[type[BaseException], ...] = (HfHubHTTPError, *transport_errors())
        try:
            result = push_once(job, publisher, policy, log=_log)
        except hub_errors as err:
            raise CurateError(
                f"push to {repo}@{branch} failed, nothing committed: {describe_error(err)}"
            ) from None
        typer.echo(summary_line(result, target))


def _exporter(spec: Path, source: str | None, api_url: str | None, api_key: str | None) -> tuple[Any, str]:
    from curate.pipeline import ExportOptions, run_export
    from curate.sources.open import open_spec_source
    from curate.spec import load_spec

    spec_file = load_spec(spec)  # checked once, before any Hub call

    def export(out: Path, since: str | None) -> Manifest:
        src = open_spec_source(spec_file, source, since, api_url, api_key)
        for warning in src.warnings:
            _log(f"warning: {warning}")
        # an incremental round may find nothing new: that is not an error
        return run_export(spec_file, src, ExportOptions(out_dir=out, allow_empty=since is not None))

    return export, spec_file.sha256


def _run_every(job: Any, publisher: Any, interval: float, policy: Any) -> int:
    """The scheduled loop; SIGINT/SIGTERM stop it between steps (a commit in flight completes)."""
    from curate.sinks.hub import push_every

    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        _log(f"{signal.Signals(signum).name}: stopping; no new commit will start (send again to force)")
        for sig, handler in previous.items():  # a second signal acts as usual
            signal.signal(sig, handler)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    _log(
        f"pushing to {job.target.repo_id}@{job.target.branch} every {interval:g}s; stop with Ctrl-C or SIGTERM"
    )
    try:
        failures = push_every(job, publisher, interval, stop, policy, log=_log)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _log(f"stopped ({failures} failed rounds)")
    sys.stdout.flush()
    return 0
