"""``curate argilla``: create review datasets for annotators and log examples into them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curate.commands.core import ApiKeyOpt, ApiUrlOpt

WorkspaceOpt = Annotated[
    str | None, typer.Option("--workspace", "-w", help="workspace (default: the only one the key sees)")
]


def register(app: typer.Typer) -> None:
    from curate.cli import console, user_errors

    group = typer.Typer(
        help="Push work back to annotators: create review datasets, log examples into them.",
        no_args_is_help=True,
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
    ) -> None:
        """Create a dataset with the template's fields, questions and guidelines (idempotent)."""
        from curate.sinks import argilla as sink

        chosen = sink.get_template(template)
        sdk = sink.client(api_url, api_key)
        dataset, created = sink.create_dataset(sdk, chosen, name, workspace, responses)
        verb = "created" if created else "exists:"
        console.print(f"{verb} {dataset.workspace.name}/{dataset.name} ({chosen.name}: {chosen.description})")
        typer.echo(str(dataset.id))

    @group.command("log")
    @user_errors
    def log(
        dataset: Annotated[str, typer.Argument(help="dataset name (made with curate argilla create)")],
        file: Annotated[Path, typer.Argument(help="JSON Lines or Parquet rows (curate export columns)")],
        workspace: WorkspaceOpt = None,
        api_url: ApiUrlOpt = None,
        api_key: ApiKeyOpt = None,
    ) -> None:
        """Upsert the file's rows as records keyed by id: re-running does not duplicate. Rows from
        `curate generate --export` pre-fill the reply question with the generation (a suggestion)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from curate.sinks import argilla as sink

        target = sink.LogTarget(api_url, api_key, dataset, workspace)
        try:
            rows = list(sink.read_rows(file))
            columns = [
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            ]
            with Progress(
                *columns, console=console, transient=True, disable=len(rows) <= sink.BATCH
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
        console.print(
            f"logged {counts['logged']} records from {counts['rows']} rows to {target.workspace}/{dataset}{extra}",
            soft_wrap=True,
        )
