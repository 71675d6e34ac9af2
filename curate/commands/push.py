"""``curate push``: export a spec (or take an export folder) and publish it to the Hugging Face Hub,
once or on a schedule (``--every``), in one commit per change."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from curate.commands.core import ApiKeyOpt, ApiUrlOpt
from curate.errors import CurateError


def _log(message: str) -> None:
    typer.echo(f"{datetime.now().astimezone().isoformat(timespec='seconds')} {message}", err=True)


def register(app: typer.Typer) -> None:
    from curate.commands.app import user_errors

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
        from curate.api.push import prepare_push
        from curate.sinks.hub import failure_line, hub_errors, push_once, summary_line

        def quiet_uploads() -> None:
            if not sys.stderr.isatty():  # upload bars would flood logs of cron and CI jobs
                from huggingface_hub.utils import disable_progress_bars

                disable_progress_bars()

        plan = prepare_push(
            spec,
            repo=repo,
            from_export=from_export,
            source=source,
            private=private,
            branch=branch,
            if_changed=if_changed,
            every=every,
            since=since,
            incremental=incremental,
            retries=retries,
            api_url=api_url,
            api_key=api_key,
            log=_log,
            before_hub=quiet_uploads,
        )
        job, publisher, policy = plan.job, plan.publisher, plan.policy
        if plan.interval is not None:
            raise typer.Exit(_run_every(job, publisher, plan.interval, policy))
        try:
            result = push_once(job, publisher, policy, log=_log)
        except hub_errors() as err:
            raise CurateError(
                f"push to {repo}@{branch} failed, nothing committed: "
                f"{failure_line(err, publisher.api.endpoint)}"
            ) from None
        typer.echo(summary_line(result, job.target))


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
