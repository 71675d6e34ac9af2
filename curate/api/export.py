"""The Python API behind the ``curate`` command line: export, stats, preview and push, one
function each, with the same checks and messages (the commands are thin layers over it).
``curate.load`` lives in :mod:`curate.api.load`, ``curate.Spec`` in :mod:`curate.api.spec`.

Errors are :class:`curate.errors.CurateError` with one line naming the file, record or key.
Keyword arguments are named like the flags (``max_length`` for ``--max-length``); messages name
them that way, and the command line's own flag names when a command calls the API.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from curate.api.spec import Spec, as_spec
from curate.arguments import arg, checked_arguments
from curate.errors import CurateError
from curate.spec import NO_LIVE, LiveOptions, SourceSpec, check_splits

if TYPE_CHECKING:
    from curate.build.reviewed import Reviews
    from curate.manifest import Manifest
    from curate.pipeline.plan import ExportPlan
    from curate.pipeline.run import ExportOptions
    from curate.recipes import WrittenRecipe
    from curate.sinks.files import Format
    from curate.sources.base import Source

SpecLike = Union[Spec, str, "os.PathLike[str]", Mapping[str, Any]]
#: ``None`` (the spec's own source), an export file or folder, a ``source:`` mapping such as
#: ``{"argilla": {"dataset": ..., "workspace": ...}}``, an ``argilla.Dataset`` or its records.
SourceLike = Any
Report = Callable[[str], None]


class CurateWarning(UserWarning):
    """What the command line prints as ``warning:`` (e.g. an export that lost response statuses)."""


def warn(message: str) -> None:
    # attributed to the caller's line, outside curate (as a notebook shows it)
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the whole curate package
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CurateWarning, stacklevel=level)


# --- argument parsing shared with the command line ----------------------------------------------
def parse_split(text: str | None) -> dict[str, float] | None:
    """``train=0.9,test=0.1`` -> ``{"train": 0.9, "test": 0.1}``.

    >>> parse_split("train=0.9,test=0.1")
    {'train': 0.9, 'test': 0.1}
    """
    if not text:
        return None
    where = arg("splits")
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            fraction = float(value)
        except ValueError:
            raise CurateError(f"{where}: {part!r} is not NAME=FRACTION (e.g. train=0.9,test=0.1)") from None
        if name.strip() in out:
            raise CurateError(f"{where}: split {name.strip()!r} is given twice")
        out[name.strip()] = fraction
    return _checked_splits(out)


def parse_splits(value: str | Mapping[str, float] | None) -> dict[str, float] | None:
    """``splits=`` as a mapping or as the command line's ``train=0.9,test=0.1``.

    >>> parse_splits({"train": 0.5, "dev": 0.5})
    {'train': 0.5, 'dev': 0.5}
    """
    if value is None or isinstance(value, str):
        return parse_split(value)
    return _checked_splits(dict(value))


def _checked_splits(fractions: dict[str, float]) -> dict[str, float]:
    try:
        check_splits(fractions)
    except ValueError as err:
        raise CurateError(f"{arg('splits')}: {err}") from None
    return fractions


def parse_format(text: str) -> Format:
    """``--format``, any case.

    >>> parse_format("JSONL")
    'jsonl'
    """
    fmt = text.strip().lower()
    if fmt not in ("parquet", "jsonl", "csv"):
        raise CurateError(f"{arg('format')}: got {text!r}, expected parquet, jsonl or csv")
    return fmt  # type: ignore[return-value]


def spec_train_on(spec: Spec) -> str:
    """What a spec trains in chats (``train_on``; tasks without one: every assistant turn)."""
    return str(getattr(spec.model, "train_on", "all_assistant"))


def spec_template_kwargs(spec: Spec) -> dict[str, Any]:
    """The variables the spec's chat template renders with (``template_kwargs:``)."""
    return dict(getattr(spec.model, "template_kwargs", None) or {})


# --- sources --------------------------------------------------------------------------------------
def _is_sdk(source: Any) -> bool:
    from curate.sources.argilla_sdk import is_sdk_object

    return is_sdk_object(source)


def reads_live(spec: Spec, source: SourceLike) -> bool:
    """Whether the records come from a running Argilla server (``since`` applies only there)."""
    if source is None:
        return spec.model.source is not None and spec.model.source.argilla is not None
    if isinstance(source, Mapping):
        return source.get("argilla") is not None
    return _is_sdk(source)


def open_source(spec: Spec, source: SourceLike = None, live: LiveOptions = NO_LIVE) -> Source:
    """The records a spec reads: its own source, or ``source`` instead (see :data:`SourceLike`);
    the one door every surface opens a source through. ``live`` applies to a live Argilla server
    only."""
    from curate.sources import open_source as open_path
    from curate.sources.base import Source
    from curate.sources.open import open_spec_source

    if isinstance(source, Source):
        return source
    if _is_sdk(source):
        from curate.sources.argilla_sdk import open_sdk_source

        own = spec.model.source.argilla if spec.model.source is not None else None
        return open_sdk_source(source, own, live)
    if isinstance(source, Mapping):
        from pydantic import ValidationError

        from curate.api.loader import format_validation_error, validation_context

        try:
            source_spec = SourceSpec.model_validate(dict(source), context=validation_context())
        except ValidationError as err:
            raise CurateError(format_validation_error(arg("source"), err)) from None
        return open_path(source_spec, Path.cwd(), None, live)
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise CurateError(
            f"{arg('source')}: got {type(source).__name__}, expected an export file or folder, a source "
            "mapping, or an argilla.Dataset (or its records)"
        )
    path = None if source is None else os.fspath(source)
    return open_spec_source(
        spec.spec_file, path, live, base_dir=spec.base_dir, source_arg=arg("source", "PATH")
    )


# --- check ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checked:
    """What :func:`check` found: the spec's task, and the source it was checked against."""

    task: str
    layout: str  # the source's layout
    questions: int  # questions the source's settings define

    def __str__(self) -> str:
        plural = "" if self.questions == 1 else "s"
        return f"{self.task}, checked against its {self.layout} source, {self.questions} question{plural}"


@checked_arguments()
def check(
    spec: SpecLike,
    *,
    source: SourceLike = None,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
) -> Checked:
    """Check a spec against its source (or ``source``), as ``curate validate`` does: every field,
    question and metadata name the spec reads must exist there with a kind the task can take.
    A mismatch raises :class:`curate.errors.CurateError` naming it; no record is read.

    >>> import curate
    >>> print(curate.check(curate.bundled_spec("dolly-curated.yaml")))
    sft, checked against its argilla_v1 source, 3 questions
    """
    from curate.pipeline.plan import plan_export

    spec = as_spec(spec)
    src = open_source(spec, source, LiveOptions(api_url=api_url, api_key=api_key, timeout=timeout))
    plan_export(spec.spec_file, src)  # the builder checks every name the spec reads
    return Checked(spec.task, src.layout, len(src.settings.questions))


def open_reviews(
    spec: Spec, src: Source, review: str | os.PathLike[str] | None, live: LiveOptions
) -> Reviews:
    """The reviewer's answers the export applies: from ``review`` (a review dataset's export), else
    from the review dataset the spec names on its server; checked against the spec's questions."""
    from curate.build.reviewed import read_reviews
    from curate.sources.open import open_review_source
    from curate.tasks import make_builder

    questions = make_builder(spec.spec_file, src.settings, src.name).questions_used
    path = None if review is None else os.fspath(review)
    review_source, where = open_review_source(spec.spec_file, path, live, review_arg=arg("review", "PATH"))
    try:
        return read_reviews(review_source, src.settings, questions, where)
    finally:
        close = getattr(review_source, "close", None)
        if close is not None:
            close()


# --- export -----------------------------------------------------------------------------------------
@dataclass
class ExportJob:
    """An export checked and ready to run (its source is open): ``run()`` writes it. The command
    line uses it to size its progress bar first; :func:`export` is prepare-and-run."""

    spec: Spec
    source: Source
    plan: ExportPlan
    options: ExportOptions
    on_warning: Report = warn
    shown: set[str] = field(default_factory=set)  # warnings reported before the run
    recipe: str | None = None  # a tool whose recipe is written next to the split files
    model: str | None = None  # the base model the recipe names
    written_recipe: WrittenRecipe | None = None

    def count(self) -> int | None:
        return self.source.count()

    def run(self, progress: Callable[[int], None] | None = None) -> Manifest:
        from curate.pipeline.run import run_export

        self.options.progress = progress
        manifest = run_export(self.plan, self.source, self.options)
        for warning in self.source.warnings:  # found while reading (e.g. records without an id)
            if warning not in self.shown:
                self.on_warning(warning)
        if self.recipe is not None:
            from curate.manifest import Manifest
            from curate.recipes import write_recipe

            try:
                self.written_recipe = write_recipe(self.options.out_dir, self.recipe, self.model)
            except CurateError as err:  # what the spec alone could not tell (e.g. a ChatField prompt)
                raise CurateError(f"{err}; the export is written, without a recipe") from None
            manifest = Manifest.read(self.options.out_dir)  # now listing the recipe's files
        return manifest


def prepare_export(
    spec: SpecLike,
    out: str | os.PathLike[str],
    *,
    source: SourceLike = None,
    format: str = "parquet",
    splits: str | Mapping[str, float] | None = None,
    since: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    tokenizer: str | os.PathLike[str] | None = None,
    template: str | None = None,
    max_length: int | None = None,
    truncation: str | None = None,
    pack: bool = False,
    allow_empty: bool = False,
    num_proc: int = 1,
    recipe: str | None = None,
    model: str | None = None,
    review: str | os.PathLike[str] | None = None,
    on_warning: Report | None = None,
    on_note: Report | None = None,
) -> ExportJob:
    """Check everything :func:`export` is given and open its source (see :class:`ExportJob`)."""
    from curate.pipeline.plan import plan_export
    from curate.pipeline.run import ExportOptions

    fmt = parse_format(format)
    options = ExportOptions(out_dir=Path(out), fmt=fmt, allow_empty=allow_empty, num_proc=num_proc)
    fractions = parse_splits(splits)
    if num_proc < 1:
        raise CurateError(f"{arg('num_proc')}: got {num_proc}, expected 1 or more")
    spec = as_spec(spec)
    if recipe is not None:
        from curate.api.recipe import check_recipe_before_export

        check_recipe_before_export(recipe, spec, fmt, template, tokenizer is not None)
    elif model is not None:
        raise CurateError(f"{arg('model')} names the base model of a recipe; it needs {arg('recipe')}")
    if not reads_live(spec, source):
        review_live = review is None and spec.model.review is not None  # the review is read from a server
        for name, value in (("since", since), ("timeout", timeout), ("deadline", deadline)):
            if value is not None and not (review_live and name != "since"):
                raise CurateError(
                    f"{arg(name)}: applies to a live Argilla source only; this export reads a file"
                    + (", which has no update times to filter on" if name == "since" else "")
                )
    src = open_source(spec, source, LiveOptions(since, api_url, api_key, timeout, deadline))
    report = on_warning or warn
    for warning in src.warnings:
        report(warning)
    reviews = None
    if review is not None or spec.model.review is not None:
        reviews = open_reviews(spec, src, review, LiveOptions(None, api_url, api_key, timeout, deadline))
        for warning in reviews.warnings:
            report(warning)
    options.on_note = on_note or warn
    cpus = os.cpu_count() or 1
    # More workers than CPUs only cost memory (each loads the tokenizer or reads the source).
    if num_proc > cpus:
        options.on_note(
            f"{arg('num_proc')} {num_proc}: this machine has {cpus} CPU{'s' if cpus > 1 else ''}; using {cpus}"
        )
        options.num_proc = cpus
    if tokenizer is not None:
        from curate.tokens.tokenize import build_row_transform, default_truncation

        chosen = truncation if truncation is not None else default_truncation(spec.task, pack)
        options.row_transform = build_row_transform(
            spec.task,
            os.fspath(tokenizer),
            template,
            max_length,
            chosen,
            spec_train_on(spec),
            spec_template_kwargs(spec),
        )
    elif template or max_length or pack:
        raise CurateError(f"{arg('template')}, {arg('max_length')} and {arg('pack')} need {arg('tokenizer')}")
    if pack:
        if options.fmt == "csv":  # the bins are read back from the split files as token ids
            raise CurateError(
                f"{arg('pack')} packs Parquet or JSONL splits; export with {arg('format', 'parquet')}"
            )
        if max_length is None:
            raise CurateError(f"{arg('pack')} needs {arg('max_length')} (the bin size)")
        options.pack_max_length = max_length
    plan = plan_export(
        spec.spec_file,
        src,
        fractions=fractions,
        row_transform=options.row_transform,
        num_proc=options.num_proc,
        reviews=reviews,
    )
    if plan.why_not_workers is not None:
        options.on_note(
            f"{arg('num_proc')} {options.num_proc}: the rows are built in this process ({plan.why_not_workers})"
        )
    return ExportJob(spec, src, plan, options, report, set(src.warnings), recipe, model)


@checked_arguments(options_of=prepare_export)
def export(spec: SpecLike, out: str | os.PathLike[str], **options: Any) -> Manifest:
    """Write an export folder, as ``curate export SPEC --out OUT`` does; returns its manifest.

    ``out/<split>.<format>``, ``out/rejects.jsonl`` and ``out/manifest.json``, replaced
    atomically. Options (all keyword): ``source``, ``format`` (``parquet``, ``jsonl`` or ``csv``),
    ``splits`` (``{"train": 0.9, "test": 0.1}``), ``since``, ``api_url``, ``api_key``,
    ``timeout`` and ``deadline`` (live Argilla: seconds per request, for the whole read),
    ``tokenizer`` (a tokenizer folder: adds ``input_ids``/``attention_mask``/``labels``),
    ``template``, ``max_length``, ``truncation`` (default ``split`` for a packed ``text``
    export, else ``drop``), ``pack``, ``allow_empty``, ``num_proc``
    (worker processes that tokenize, or else build the rows; the same bytes as one process),
    ``recipe`` (``autotrain``, ``axolotl`` or ``llamafactory``: also write that tool's recipe,
    see :func:`curate.recipe`; checked before any work), ``model`` (the base model it names),
    ``review`` (a review dataset's ``to_disk`` export whose submitted answers win; default: the
    review dataset the spec names, read from its server),
    ``on_warning``, ``on_note`` (callables taking a message; default: Python warnings).

    >>> import curate, tempfile
    >>> m = curate.export(curate.bundled_spec("dolly-curated.yaml"), tempfile.mkdtemp() + "/sft")
    >>> m.counts.input_records == m.counts.kept_records + m.counts.rejected_records
    True
    """
    return prepare_export(spec, out, **options).run()


# --- stats ------------------------------------------------------------------------------------------
# --- preview ----------------------------------------------------------------------------------------
@dataclass
class Preview:
    """What :func:`preview` returns: ``to_dict()`` is ``curate preview --json``; ``show()`` prints
    the highlighted tokens; in a notebook it renders itself as HTML."""

    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from curate.tokens.preview import json_report

        return json_report(self.report)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def show(self, console: Any = None) -> None:
        from rich.console import Console

        from curate.tokens.preview import render

        render(self.report, console or Console())

    def __repr__(self) -> str:
        r = self.report
        return (
            f"Preview(task={r['task']!r}, tokenizer={r['tokenizer']!r}, rows_ok={r['rows_ok']} of {r['rows']}, "
            f"trainable_token_share={r['trainable_token_share']})"
        )

    def _repr_html_(self) -> str:
        import io

        from rich.console import Console

        # force_jupyter=False: render into the recording, not straight into the notebook
        console = Console(
            record=True, file=io.StringIO(), width=110, force_terminal=True, force_jupyter=False
        )
        self.show(console)
        return console.export_html(inline_styles=True, code_format="<pre style='font-size:12px'>{code}</pre>")


@checked_arguments()
def preview(
    spec: SpecLike,
    tokenizer: str | os.PathLike[str],
    *,
    source: SourceLike = None,
    template: str | None = None,
    max_length: int | None = None,
    truncation: str = "drop",
    train_on: str | None = None,
    n: int = 3,
) -> Preview:
    """The tokens a spec's rows will train on, as ``curate preview``: a pre-flight summary over
    every row and ``n`` examples. ``train_on`` defaults to the spec's."""
    from curate.pipeline.plan import plan_export
    from curate.pipeline.run import iter_outcomes
    from curate.rows import Rejected
    from curate.tasks.chat import each_turn_rows
    from curate.tokens.preview import preview as run_preview
    from curate.tokens.tokenize import build_row_transform

    if n < 0:
        raise CurateError(f"{arg('n')}: got {n}, expected 0 or more")
    spec = as_spec(spec)
    src = open_source(spec, source)
    own = spec_train_on(spec)
    train_on = train_on or own
    transform = build_row_transform(
        spec.task,
        os.fspath(tokenizer),
        template,
        max_length,
        truncation,
        train_on,
        spec_template_kwargs(spec),
    )
    # The export splits chats into one row per assistant turn when the spec says so; asking for
    # each_turn_as_row on another spec splits them the same way here.
    split_here = train_on == "each_turn_as_row" != own and spec.task == "chat"
    upstream = {"rejected": 0}

    def rows() -> Iterator[dict[str, Any]]:
        for outcome in iter_outcomes(plan_export(spec.spec_file, src), src):
            if isinstance(outcome, Rejected):
                upstream["rejected"] += 1
                continue
            for row in outcome.rows:
                yield from each_turn_rows(row) if split_here else [row]

    report = run_preview(rows(), transform, n)
    report["records_rejected_before_tokenizing"] = upstream["rejected"]
    return Preview(report)
