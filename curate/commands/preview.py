"""``curate preview``: the tokens a spec's rows will train on, with a pre-flight summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curate.commands.core import SourceOpt, SpecArg


def register(app: typer.Typer) -> None:
    from curate.commands.app import user_errors

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
        truncation: Annotated[
            str, typer.Option(help="drop, cut_prompt, cut_completion or split (text rows)")
        ] = "drop",
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

        from curate.api import export as api

        result = api.preview(
            spec,
            tokenizer,
            source=source,
            template=template,
            max_length=max_length,
            truncation=truncation,
            train_on=train_on,
            n=n,
        )
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        else:
            result.show(Console())
