"""``curate argilla``: create review datasets for annotators, log examples into them, and send the
annotators' disagreements to a reviewer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curate.commands.core import ApiKeyOpt, ApiUrlOpt, SourceOpt

WorkspaceOpt = Annotated[
    str | None, typer.Option("--workspace", "-w", help="workspace (default: the only one the key sees)")
]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="seconds to wait for each answer (default 30)")
]
DeadlineOpt = Annotated[
    float | None, typer.Option("--deadline", help="seconds for the whole command's requests")
]


def register(app: typer.Typer) -> None:
    from curate.commands.app import HELP_MARKUP, err_console, user_errors

    group = typer.Typer(
        help="Push work back to annotators: create review datasets, log examples into them, "
        "send disagreements to a reviewer.",
        no_args_is_help=True,
        rich_markup_mode=HELP_MARKUP,
    )
    app.add_typer(group, name="argilla")

    @group.command("create")
    @user_errors
    def create(
        name: Annotated[str, typer.Argument(help="dataset name")],
        template: Annotated[
            str, typer.Option("--template", "-t", help="sft-review, preference or chat-review")
        ] = "sft-review",
        workspace: WorkspaceOpt = None,
        responses: Annotated[int, typer.Option(help="responses per record (preference)")] = 2,
        api_url: ApiUrlOpt = None,
        api_key: ApiKeyOpt = None,
        timeout: TimeoutOpt = None,
        deadline: DeadlineOpt = None,
    ) -> None:
        """Create a dataset with the template's fields, questions and guidelines (idempotent)."""
        from curate.sinks import argilla as sink

        chosen = sink.get_template(template)
        http = sink.open_http(api_url, api_key, timeout, deadline)
        try:
            made = sink.create_dataset(http, chosen, name, workspace, responses)
        finally:
            http.close()
        verb = "created" if made.created else "exists:"
        err_console().print(f"{verb} {made.workspace}/{made.name} ({chosen.name}: {chosen.description})")
        typer.echo(made.id)

    @group.command("log")
    @user_errors
    def log(
        dataset: Annotated[str, typer.Argument(help="dataset name (made with curate argilla create)")],
        file: Annotated[Path, typer.Argument(help="JSON Lines or Parquet rows (curate export columns)")],
        workspace: WorkspaceOpt = None,
        api_url: ApiUrlOpt = None,
        api_key: ApiKeyOpt = None,
        timeout: TimeoutOpt = None,
        deadline: DeadlineOpt = None,
    ) -> None:
        """Upsert the file's rows as records keyed by id: re-running does not duplicate. Rows from
        `curate generate --export` pre-fill the reply question with the generation (a suggestion);
        an empty generation is logged as "(empty generation)", flagged, and counted."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from curate.sinks import argilla as sink

        target = sink.LogTarget(api_url, api_key, dataset, workspace, timeout=timeout, deadline=deadline)
        try:
            rows = list(sink.read_rows(file))
            columns = [
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            ]
            with Progress(
                *columns, console=err_console(), transient=True, disable=len(rows) <= sink.BATCH
            ) as progress:
                task = progress.add_task(f"logging to {dataset}", total=len(rows))
                counts = sink.log_rows(
                    target, iter(rows), str(file), on_batch=lambda n: progress.update(task, completed=n)
                )
        finally:
            target.close()
        extra = f", {counts['duplicates']} repeated ids skipped" if counts["duplicates"] else ""
        if counts["suggested"]:
            question = target.template.reply_question
            extra += f", {counts['suggested']} generations suggested in {question}"
        if counts["empty"]:
            flagged = f", flagged {sink.FLAG}={sink.EMPTY_FLAG}" if target.flags else ""
            extra += f", {counts['empty']} empty generations logged as {sink.EMPTY_GENERATION!r}{flagged}"
        err_console().print(
            f"logged {counts['logged']} records from {counts['rows']} rows to {target.workspace}/{dataset}{extra}",
            soft_wrap=True,
        )

    @group.command("review")
    @user_errors
    def review(
        spec: Annotated[Path, typer.Argument(help="dataset spec (YAML)")],
        to: Annotated[
            str | None,
            typer.Option(
                "--to", help="review dataset name (default: the spec's review.dataset); created if missing"
            ),
        ] = None,
        workspace: WorkspaceOpt = None,
        below: Annotated[
            float | None,
            typer.Option(help="also send kept records whose row agreement (0-1) is under this share"),
        ] = None,
        limit: Annotated[
            int | None, typer.Option(help="send at most N records, least-agreeing first")
        ] = None,
        again: Annotated[
            bool, typer.Option("--again", help="also refresh records a reviewer already answered")
        ] = False,
        source: SourceOpt = None,
        api_url: ApiUrlOpt = None,
        api_key: ApiKeyOpt = None,
        timeout: TimeoutOpt = None,
        deadline: DeadlineOpt = None,
    ) -> None:
        """Send the records the spec's unification rejects for a tie or disagreement (and, with
        --below, low-agreement ones) to a review dataset: every annotator's answer side by side,
        the strategy's answer as suggestion. Re-running updates in place; the next export uses the
        reviewer's submitted answers."""
        from curate.api.review import review as run_review

        report = run_review(
            spec,
            to,
            workspace=workspace,
            below=below,
            limit=limit,
            again=again,
            source=source,
            api_url=api_url,
            api_key=api_key,
            timeout=timeout,
            deadline=deadline,
        )
        err_console().print(report.summary(), soft_wrap=True, highlight=False)
        for record_id in report.sent:
            typer.echo(record_id)
