"""``curate preview``: the tokens a spec's rows will train on, with a pre-flight summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from curate.commands.core import SourceOpt, SpecArg, open_spec_source
from curate.errors import CurateError
from curate.spec import load_spec


def register(app: typer.Typer) -> None:
    from curate.cli import user_errors

    @app.command()
    @user_errors
    def preview(
        spec: SpecArg,
        tokenizer: Annotated[Path, typer.Option("--tokenizer", help="tokenizer folder (save_pretrained)")],
        source: SourceOpt = None,
        template: Annotated[
            str | None,
            typer.Option(
                help="chat or text template name, or a .jinja file (default: the rows' own text, "
                "chats with the tokenizer's template)"
            ),
        ] = None,
        max_length: Annotated[int | None, typer.Option("--max-length", help="tokens per sequence")] = None,
        truncation: Annotated[str, typer.Option(help="drop, cut_prompt or cut_completion")] = "drop",
        train_on: Annotated[
            str | None,
            typer.Option(
                "--train-on",
                help="all_assistant, last_assistant or each_turn_as_row (default: the spec's train_on)",
            ),
        ] = None,
        n: Annotated[int, typer.Option("-n", help="examples to show")] = 3,
        as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON only")] = False,
    ) -> None:
        """Show N examples with trained tokens highlighted, and a pre-flight summary over all rows."""
        from rich.console import Console

        from curate.pipeline import Rejected, iter_outcomes
        from curate.preview import json_report, render
        from curate.preview import preview as run_preview
        from curate.tasks.chat import each_turn_rows
        from curate.tokenize import build_row_transform

        if n < 0:
            raise CurateError(f"-n: got {n}, expected 0 or more")
        spec_file = load_spec(spec)
        src = open_spec_source(spec_file, source)
        spec_train_on = getattr(spec_file.spec, "train_on", "all_assistant")
        train_on = train_on or spec_train_on
        transform = build_row_transform(
            spec_file.spec.task, str(tokenizer), template, max_length, truncation, train_on
        )
        # The export splits chats into one row per assistant turn when the spec says so; a
        # --train-on each_turn_as_row preview of another spec splits them the same way here.
        split_here = train_on == "each_turn_as_row" != spec_train_on and spec_file.spec.task == "chat"
        upstream = {"rejected": 0}

        def rows() -> Iterator[dict[str, Any]]:
            for outcome in iter_outcomes(spec_file, src):
                if isinstance(outcome, Rejected):
                    upstream["rejected"] += 1
                    continue
                for row in outcome.rows:
                    yield from each_turn_rows(row) if split_here else [row]

        report = run_preview(rows(), transform, n)
        report["records_rejected_before_tokenizing"] = upstream["rejected"]
        if as_json:
            typer.echo(json.dumps(json_report(report), indent=2, sort_keys=True, ensure_ascii=False))
        else:
            render(report, Console())
