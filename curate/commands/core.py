"""Core commands: ``export``, ``validate``, ``stats``, ``schema``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from curate.errors import CurateError
from curate.manifest import Manifest
from curate.sinks.files import Format
from curate.sources.open import open_spec_source
from curate.spec import SourceSpec, SpecFile, check_splits, load_spec, spec_json_schema

__all__ = ["open_spec_source"]  # command modules take it from here with the shared options

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
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="export file or folder to read instead of the spec's source")
]


def parse_split(text: str | None) -> dict[str, float] | None:
    """``train=0.9,test=0.1`` -> ``{"train": 0.9, "test": 0.1}``.

    >>> parse_split("train=0.9,test=0.1")
    {'train': 0.9, 'test': 0.1}
    """
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            fraction = float(value)
        except ValueError:
            raise CurateError(f"--split: {part!r} is not NAME=FRACTION (e.g. train=0.9,test=0.1)") from None
        if name.strip() in out:
            raise CurateError(f"--split: split {name.strip()!r} is given twice")
        out[name.strip()] = fraction
    try:
        check_splits(out)
    except ValueError as err:
        raise CurateError(f"--split: {err}") from None
    return out


def parse_format(text: str) -> Format:
    """``--format``, any case.

    >>> parse_format("JSONL")
    'jsonl'
    """
    fmt = text.strip().lower()
    if fmt not in ("parquet", "jsonl"):
        raise CurateError(f"--format: got {text!r}, expected parquet or jsonl")
    return fmt  # type: ignore[return-value]


@contextmanager
def progress_bar(label: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields a callback taking the number of items done."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def update(n: int) -> None:
            if n % 200 == 0:
                progress.update(task, completed=n)

        yield update


def _reads_live(spec_file: SpecFile, source: str | None) -> bool:
    spec_source = spec_file.spec.source
    return source is None and spec_source is not None and spec_source.argilla is not None


def register(app: typer.Typer) -> None:
    from curate.cli import console, user_errors

    @app.command()
    @user_errors
    def export(
        spec: SpecArg,
        out: Annotated[Path, typer.Option("--out", "-o", help="output folder (replaced atomically)")],
        source: SourceOpt = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl")] = "parquet",
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
        truncation: Annotated[str, typer.Option(help="drop, cut_prompt or cut_completion")] = "drop",
        pack: Annotated[
            bool, typer.Option(help="also write __packed__/<split>.parquet (needs --max-length)")
        ] = False,
        allow_empty: Annotated[
            bool, typer.Option("--allow-empty", help="write the export even when it keeps no record")
        ] = False,
    ) -> None:
        """Export a spec's records as training data: <out>/<split>.<format>, rejects.jsonl, manifest.json."""
        from curate.pipeline import ExportOptions, run_export

        options = ExportOptions(
            out_dir=out, fmt=parse_format(fmt), split_fractions=parse_split(split), allow_empty=allow_empty
        )
        spec_file = load_spec(spec)
        if not _reads_live(spec_file, source):
            for flag, value in (("--since", since), ("--timeout", timeout), ("--deadline", deadline)):
                if value is not None:
                    raise CurateError(
                        f"{flag}: applies to a live Argilla source only; this export reads a file"
                        + (", which has no update times to filter on" if flag == "--since" else "")
                    )
        src = open_spec_source(spec_file, source, since, api_url, api_key, timeout=timeout, deadline=deadline)
        for warning in src.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        shown = set(src.warnings)
        options.on_note = lambda note: console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        if tokenizer is not None:
            from curate.tokenize import build_row_transform

            options.row_transform = build_row_transform(
                spec_file.spec.task,
                str(tokenizer),
                template,
                max_length,
                truncation,
                getattr(spec_file.spec, "train_on", "all_assistant"),
            )
        elif template or max_length or pack:
            raise CurateError("--template, --max-length and --pack need --tokenizer")
        if pack:
            if max_length is None:
                raise CurateError("--pack needs --max-length (the bin size)")
            options.pack_max_length = max_length
        with progress_bar("exporting", src.count(), not quiet) as update:
            options.progress = update
            manifest = run_export(spec_file, src, options)
        for warning in src.warnings:  # found while reading (e.g. records without an id)
            if warning not in shown:
                console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if not quiet:
            _print_summary(console, manifest, out)

    @app.command()
    @user_errors
    def validate(
        specs: Annotated[list[Path], typer.Argument(help="spec files to check")],
        source: SourceOpt = None,
        offline: Annotated[bool, typer.Option(help="check the spec only, not against its source")] = False,
    ) -> None:
        """Validate specs (and, unless --offline, their names against the source's settings)."""
        from curate.build import Builder

        for path in specs:
            spec_file = load_spec(path)
            checked = "spec only"
            spec_source = spec_file.spec.source
            live = _reads_live(spec_file, source)
            if not offline and not live and (spec_source is not None or source is not None):
                src = open_spec_source(spec_file, source)
                Builder(spec_file, src.settings, src.name)
                checked = f"checked against its {src.layout} source, {len(src.settings.questions)} questions"
            typer.echo(f"ok: {path} ({spec_file.spec.task}, {checked})")

    @app.command()
    def schema() -> None:
        """Print the JSON Schema of dataset spec files."""
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
        png: Annotated[Path | None, typer.Option(help="write a histogram of text lengths here")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    ) -> None:
        """Counts, statuses, annotators per record, agreement and text lengths of a dataset."""
        from curate.export_stats import export_stats, find_export
        from curate.sources import open_source
        from curate.stats import compute_stats, write_histogram

        export = None if target.suffix in (".yaml", ".yml") else find_export(target)
        if export is not None:
            result, lengths = export_stats(*export)
            title = f"{result['export']}: text lengths"
        else:
            if target.suffix in (".yaml", ".yml"):
                src = open_spec_source(load_spec(target), source)
            else:
                src = open_source(SourceSpec(path=str(target)), Path.cwd(), str(target))
            with progress_bar("reading", src.count(), not as_json) as update:
                result, lengths = compute_stats(src, src.settings, update)
            result = {"source": src.describe(), **result}
            title = f"{src.name}: text lengths"
        if png is not None:
            try:
                write_histogram(lengths, png, title)
            except OSError as err:
                raise CurateError(f"--png {png}: cannot write ({err.strerror or err})") from None
            result["histogram"] = str(png)
        if as_json:
            typer.echo(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False))
        elif export is not None:
            _print_export_stats(result)
        else:
            _print_stats(result)


def _print_export_stats(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result['export']}[/] (curate export of {result['spec']}, task {result['task']})")
    console.print(f"input records: {result['input_records']}; per split: {result['records_per_split']}")
    console.print(f"rejects by reason: {result['rejects_by_reason']}")
    console.print(f"rows per file: {result['rows_per_file']}")
    lengths = Table("column", "count", "min", "median", "p90", "max", "empty")
    for c, s in result["column_lengths_chars"].items():
        lengths.add_row(c, *(str(s.get(k, "-")) for k in ("count", "min", "median", "p90", "max", "empty")))
    console.print(lengths)
    if "histogram" in result:
        console.print(f"histogram: {result['histogram']}")


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
    typer.echo(f"wrote {out}")


def _print_stats(result: dict[str, Any]) -> None:
    from rich.console import Console
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
    if "histogram" in result:
        console.print(f"histogram: {result['histogram']}")
