"""Core commands: ``export``, ``validate``, ``stats``, ``schema``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from curate.manifest import Manifest

# The library is imported inside each command: `curate --help` builds every command's options
# from these signatures and must not pay for the spec models, pyarrow or the sources.

SpecArg = Annotated[Path, typer.Argument(help="dataset spec (YAML), e.g. datasets_spec/dolly-curated.yaml")]
# Argilla credentials: flags or the environment; the key is never shown (not even as a default).
ApiUrlOpt = Annotated[
    str | None,
    typer.Option("--api-url", envvar="ARGILLA_API_URL", help="Argilla server URL", show_default=False),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="ARGILLA_API_KEY", help="Argilla API key", show_default=False),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", help="live Argilla only: seconds to wait for each answer (default 30)"),
]
DeadlineOpt = Annotated[
    float | None, typer.Option("--deadline", help="live Argilla only: seconds for the whole read")
]
RecipeOpt = Annotated[
    str | None,
    typer.Option("--for", help="also write that trainer's recipe: autotrain, axolotl or llamafactory"),
]
ModelOpt = Annotated[str | None, typer.Option(help="with --for: the base model the recipe names")]
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="export file or folder to read instead of the spec's source")
]


@contextmanager
def progress_bar(label: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields a callback taking the number of items done."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def update(n: int) -> None:
            if n % 200 == 0:
                progress.update(task, completed=n)

        yield update


def register(app: typer.Typer) -> None:
    from curate.commands.app import err_console, user_errors

    @app.command()
    @user_errors
    def export(
        spec: SpecArg,
        out: Annotated[Path, typer.Option("--out", "-o", help="output folder (replaced atomically)")],
        source: SourceOpt = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet, jsonl or csv")] = "parquet",
        split: Annotated[
            str | None, typer.Option(help="override the spec's splits, e.g. train=0.9,test=0.1")
        ] = None,
        since: Annotated[
            str | None, typer.Option(help="live Argilla only: records updated after this ISO time")
        ] = None,
        api_url: ApiUrlOpt = None,
        api_key: ApiKeyOpt = None,
        timeout: TimeoutOpt = None,
        deadline: DeadlineOpt = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or summary")] = False,
        tokenizer: Annotated[
            Path | None, typer.Option(help="add input_ids/attention_mask/labels with this tokenizer folder")
        ] = None,
        template: Annotated[
            str | None, typer.Option(help="with --tokenizer: template name or .jinja file to tokenize with")
        ] = None,
        max_length: Annotated[
            int | None, typer.Option("--max-length", help="with --tokenizer: tokens per row")
        ] = None,
        truncation: Annotated[
            str | None,
            typer.Option(
                help="drop, cut_prompt, cut_completion or split (text: a long document becomes "
                "consecutive chunks; the default with --pack), else drop"
            ),
        ] = None,
        pack: Annotated[
            bool, typer.Option(help="also write __packed__/<split>.parquet (needs --max-length)")
        ] = False,
        allow_empty: Annotated[
            bool, typer.Option("--allow-empty", help="write the export even when it keeps no record")
        ] = False,
        num_proc: Annotated[
            int,
            typer.Option(
                "--num-proc",
                help="worker processes that tokenize (with --tokenizer) or else build the rows; same output as 1",
            ),
        ] = 1,
        recipe: RecipeOpt = None,
        model: ModelOpt = None,
        review: Annotated[
            Path | None,
            typer.Option(
                help="a review dataset's to_disk export: its submitted answers win over unification "
                "(default: the review dataset the spec names, read from its server)"
            ),
        ] = None,
    ) -> None:
        """Export a spec's records as training data: <out>/<split>.<format>, rejects.jsonl, manifest.json."""
        from rich.markup import escape

        from curate.api import export as api

        job = api.prepare_export(
            spec,
            out,
            source=source,
            format=fmt,
            splits=split,
            since=since,
            api_url=api_url,
            api_key=api_key,
            timeout=timeout,
            deadline=deadline,
            tokenizer=tokenizer,
            template=template,
            max_length=max_length,
            truncation=truncation,
            pack=pack,
            allow_empty=allow_empty,
            num_proc=num_proc,
            recipe=recipe,
            model=model,
            review=review,
            on_warning=lambda warning: err_console().print(
                f"[yellow]warning:[/] {escape(warning)}", highlight=False
            ),
            on_note=lambda note: err_console().print(f"[yellow]note:[/] {escape(note)}", highlight=False),
        )
        with progress_bar("exporting", job.count(), not quiet) as update:
            manifest = job.run(update)
        if not quiet:
            _print_summary(err_console(), manifest, out)
        if job.written_recipe is not None and not quiet:
            _print_recipe(job.written_recipe, out)

    @app.command()
    @user_errors
    def recipe(
        export: Annotated[Path, typer.Argument(help="a folder written by curate export")],
        tool: Annotated[str, typer.Option("--for", help="autotrain, axolotl or llamafactory")],
        model: ModelOpt = None,
    ) -> None:
        """Write what another trainer needs to read an export as curate meant it: EXPORT/__recipes__/<tool>/."""
        from curate.api.recipe import recipe as write_recipe

        written = write_recipe(export, tool, model=model)
        _print_recipe(written, export)

    @app.command()
    @user_errors
    def validate(
        specs: Annotated[list[Path], typer.Argument(help="spec files to check")],
        source: SourceOpt = None,
        offline: Annotated[bool, typer.Option(help="check the spec only, not against its source")] = False,
    ) -> None:
        """Validate specs (and, unless --offline, their names against the source's settings)."""
        import curate

        for path in specs:
            spec = curate.Spec.from_yaml(path)
            checked = f"{spec.task}, spec only"
            spec_source = spec.model.source
            live = source is None and spec_source is not None and spec_source.argilla is not None
            if not offline and not live and (spec_source is not None or source is not None):
                checked = str(curate.check(spec, source=source))
            typer.echo(f"ok: {path} ({checked})")

    @app.command()
    def schema() -> None:
        """Print the JSON Schema of dataset spec files."""
        from curate.api.loader import spec_json_schema

        typer.echo(json.dumps(spec_json_schema(), indent=2, sort_keys=True))

    @app.command()
    @user_errors
    def stats(
        target: Annotated[
            Path,
            typer.Argument(
                help="a spec (YAML), an Argilla export file/folder, or a curate export folder or split file"
            ),
        ],
        source: SourceOpt = None,
        png: Annotated[
            Path | None,
            typer.Option(help="write the pictures: into a folder (one PNG each) or one overview FILE.png"),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
        tokenizer: Annotated[
            Path | None, typer.Option(help="add trained-token lengths (a spec or a curate export)")
        ] = None,
        template: Annotated[
            str | None, typer.Option(help="with --tokenizer: template to tokenize with")
        ] = None,
        max_length: Annotated[
            int | None, typer.Option("--max-length", help="with --tokenizer: tokens per row")
        ] = None,
        review: Annotated[
            Path | None,
            typer.Option(help="a spec's review dataset export (default: the spec's review, from its server)"),
        ] = None,
    ) -> None:
        """Counts, statuses per annotator, agreement (per question and annotator pair), rejects,
        rows per split and lengths of a dataset; --png draws them."""
        from curate.api import stats as api_stats  # figures and pictures: imported when asked for

        job = api_stats.prepare_stats(
            target,
            source=source,
            tokenizer=tokenizer,
            template=template,
            max_length=max_length,
            review=review,
            on_warning=lambda warning: None,  # stats reports figures, not export warnings
        )
        with progress_bar("reading", job.count(), not as_json and job.kind != "export") as update:
            result = job.run(update)
        data = dict(result.to_dict())
        if png is not None:
            written = result.plot().save(png)
            data["histogram"] = str(png)  # the name scripts read before pictures replaced it
            data["pictures"] = [str(p) for p in written]
        if as_json:
            typer.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False))
        elif result.kind == "export":
            _print_export_stats(data)
        else:
            _print_stats(data)


def _print_export_stats(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result['export']}[/] (curate export of {result['spec']}, task {result['task']})")
    console.print(f"input records: {result['input_records']}; per split: {result['records_per_split']}")
    console.print(f"rejects by reason: {result['rejects_by_reason']}")
    console.print(f"rows per file: {result['rows_per_file']}")
    _print_review(console, result.get("review"))
    lengths = Table("column", "count", "min", "median", "p90", "max", "empty")
    for c, s in result["column_lengths_chars"].items():
        lengths.add_row(c, *(str(s.get(k, "-")) for k in ("count", "min", "median", "p90", "max", "empty")))
    console.print(lengths)
    if "pictures" in result:
        console.print(f"pictures: {', '.join(result['pictures'])}")


def _print_recipe(written: Any, out: Path) -> None:
    typer.echo(f"wrote {out / written.folder.relative_to(written.folder.parent.parent)}")
    typer.echo(f"train with, from {out.parent}: {written.command}")


def _print_review(console: Any, review: dict[str, Any] | None) -> None:
    """Where the spec names a review: decided and awaiting records, per question."""
    if not review:
        return
    console.print(
        f"review {review['dataset']}: {review['decided_records']} record(s) decided by a reviewer "
        f"{review['decided_by_question']}, {review['awaiting_records']} still rejected for a disagreement "
        f"{review['awaiting_by_question']}; in the review dataset {review['pending_in_review_dataset']} "
        f"pending, {review['undecidable']} undecidable",
        highlight=False,
        soft_wrap=True,
    )


def _print_summary(console: Any, manifest: Manifest, out: Path) -> None:
    from rich.table import Table

    counts = manifest.counts
    table = Table(title=f"{manifest.name} ({manifest.task})", show_header=True)
    table.add_column("split / reason")
    table.add_column("records", justify="right")
    for split, n in counts.records_per_split.items():
        table.add_row(split, str(n))
    for reason, n in counts.rejects_by_reason.items():
        table.add_row(f"[red]rejected: {reason}[/]", str(n))
    table.add_row("[bold]input[/]", f"[bold]{counts.input_records}[/]")
    console.print(table)
    for q, a in manifest.quality["agreement"].items():
        if a["alpha"] is not None:
            console.print(f"agreement {q}: {a['metric']} = {a['alpha']:.3f} over {a['units']} records")
    if counts.reviewed_records is not None and manifest.review is not None:
        review = manifest.review
        per_question = ", ".join(f"{q} {n}" for q, n in (counts.review_overrides_by_question or {}).items())
        console.print(
            f"review {review['dataset']}: {counts.reviewed_records} record{'' if counts.reviewed_records == 1 else 's'} decided by a reviewer"
            + (f" ({per_question})" if per_question else "")
            + f", {review['pending']} pending in the review dataset, {review['undecidable']} undecidable"
            + (
                f", {review['answers_without_record']} answers for records no longer in the source (not applied)"
                if review["answers_without_record"]
                else ""
            ),
            highlight=False,
            soft_wrap=True,
        )
    typer.echo(f"wrote {out}")


def _print_stats(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{result['source']['name']}[/] ({result['source']['layout']}): {result['records']} records"
    )
    if result.get("unreadable"):  # rows the source could not read: counted, never skipped silently
        console.print(
            f"[red]unreadable rows:[/] {escape(str(result['unreadable']))} of {result['rows']} rows read"
        )
    console.print(f"record status: {result['record_status']}")
    console.print(f"annotator responses by status: {result['annotator_responses_by_status']}")
    console.print(f"annotators per record: {result['annotators_per_record']}")
    table = Table("question", "kind", "responses by status", "alpha", "units")
    for q, info in result["questions"].items():
        agreement = info["agreement"] or {}
        alpha = agreement.get("alpha")
        table.add_row(
            q,
            str(info["kind"]),
            str(info["responses_by_status"]),
            "-" if alpha is None else f"{alpha:.3f}",
            str(agreement.get("units", "-")),
        )
    console.print(table)
    lengths = Table("field", "count", "min", "median", "p90", "max", "empty")
    for f, s in result["field_lengths_chars"].items():
        lengths.add_row(f, *(str(s.get(k, "-")) for k in ("count", "min", "median", "p90", "max", "empty")))
    console.print(lengths)
    export = result.get("export")
    if export is not None:
        console.print(f"export of {export['spec']}: rows per split {export['rows_per_split']}")
        console.print(f"rejects by reason: {export['rejects_by_reason']}")
        _print_review(console, export.get("review"))
        for name, summary in (export.get("trained_tokens") or {}).items():
            if isinstance(summary, dict):
                console.print(
                    f"trained tokens ({name}): median {summary.get('median')}, max {summary.get('max')}"
                )
    if "pictures" in result:
        console.print(f"pictures: {', '.join(result['pictures'])}")
