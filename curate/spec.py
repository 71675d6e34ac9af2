"""Declarative dataset specs (YAML in ``datasets_spec/``), validated into typed models.

A spec says where records come from, which responses count, how several annotators are unified,
where each canonical value is taken from (an ordered list of sources), how rows are filtered and
split, and which template renders the prompt. Errors name the file, the key path and what was
expected.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator, model_validator

Strategy = Literal["first_submitted", "latest", "majority", "unanimous", "mean", "median", "mean_rank"]
Status = Literal["submitted", "discarded", "draft"]


# YAML reads `yes`, `no`, `on`, `off` as booleans, and pydantic's lax mode takes a boolean as 1 or 0
# (`threshold: yes` made every rating desirable). Every number in a spec is one of these strict
# types: a boolean or a string is refused with the key's name; an integer is a fine Number.
Number = Annotated[float, Strict()]
Integer = Annotated[int, Strict()]


class SpecModel(BaseModel):
    """The base of every spec model: unknown keys refused, values frozen once read."""

    # NaN or infinity in a threshold, score or margin would compare false against everything
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ValueSource(SpecModel):
    """One place a canonical value may come from; the first that gives a non-blank value wins."""

    question: str | None = None
    field: str | None = None
    metadata: str | None = None
    suggestion: str | None = None
    value: str | None = None
    strategy: Strategy | None = Field(None, description="unification strategy for this question")
    min_score: Number | None = Field(None, description="only take a suggestion with at least this score")

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueSource:
        kinds = [
            k
            for k in ("question", "field", "metadata", "suggestion", "value")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError("give exactly one of question, field, metadata, suggestion, value")
        if self.strategy is not None and self.question is None:
            raise ValueError("strategy applies to a question source only")
        if self.min_score is not None and self.suggestion is None:
            raise ValueError("min_score applies to a suggestion source only")
        return self

    @property
    def kind(self) -> str:
        for k in ("question", "field", "metadata", "suggestion", "value"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("unreachable")

    @property
    def name(self) -> str:
        return str(getattr(self, self.kind))

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"


def as_list(value: Any) -> Any:
    # A single source may be written without the list around it.
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Sources = Annotated[list[ValueSource], Field(default_factory=list)]
# A column every row needs: at least one source, no default.
Required = Annotated[list[ValueSource], Field(min_length=1)]


class TableColumns(SpecModel):
    """Column mapping for a plain table (JSONL / CSV / Parquet without Argilla structure)."""

    id: str | None = None
    fields: list[str] | dict[str, str] = Field(default_factory=list)
    metadata: list[str] | dict[str, str] = Field(default_factory=list)
    responses: dict[str, str] = Field(
        default_factory=dict, description="question name -> column holding one submitted answer"
    )


class ArgillaServerRef(SpecModel):
    dataset: str
    workspace: str | None = None
    api_url: str | None = Field(
        None, description="defaults to $ARGILLA_API_URL; the key comes from $ARGILLA_API_KEY"
    )
    page_size: Integer = Field(1000, ge=1, le=1000)
    response_status: list[Status] | None = Field(
        None,
        description="server-side filter: pull only records with a response in one of these statuses "
        "(records not pulled are not counted as input)",
    )
    since: str | None = Field(None, description="ISO 8601 time: pull only records updated after it")
    timeout: Number = Field(
        30.0, gt=0, description="seconds to wait for one answer from the server before retrying it"
    )
    deadline: Number | None = Field(
        None,
        gt=0,
        description="seconds the whole read from the server may take, retries included; "
        "past it curate stops with an error (default: no overall limit)",
    )


class ReviewRef(SpecModel):
    """The Argilla dataset where a reviewer settles the annotators' disagreements
    (``curate argilla review`` fills it); its submitted answers win over unification."""

    dataset: str = Field(min_length=1, description="the review dataset's name on the Argilla server")
    workspace: str | None = None


@dataclass(frozen=True)
class LiveOptions:
    """What only a live Argilla server reads, however the source is opened: records updated after
    ``since``, the URL and key (they override the spec's and ``ARGILLA_API_URL`` /
    ``ARGILLA_API_KEY``), seconds to wait for each answer and for the whole read."""

    since: str | None = None
    api_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = None
    deadline: float | None = None

    def server_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``ArgillaServerSource``."""
        return {
            "api_url": self.api_url,
            "api_key": self.api_key,
            "since": self.since,
            "timeout": self.timeout,
            "deadline": self.deadline,
        }


NO_LIVE = LiveOptions()


class SourceSpec(SpecModel):
    path: str | None = None
    layout: str = Field(
        "auto",
        description="auto (detected) or a layout name (curate/sources/layouts.py)",
    )
    split: str | None = Field(None, description="which split of a multi-split folder to read")
    columns: TableColumns | None = None
    argilla: ArgillaServerRef | None = None

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, value: str, info: ValidationInfo) -> str:
        # the layout registry sits above these models: the spec loader passes its names in
        names = list((info.context or {}).get("layouts", ()))
        if names and value != "auto" and value not in names:
            raise ValueError(
                f"got {value!r}, expected auto or one of {', '.join(names)}{did_you_mean(value, names)}"
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.path is None) == (self.argilla is None):
            raise ValueError("give either path (an export on disk) or argilla (a live server)")
        if self.layout == "table" and self.columns is None:
            raise ValueError("layout 'table' needs a columns mapping")
        return self


class ResponsesSpec(SpecModel):
    statuses: list[Status] = Field(default_factory=lambda: list[Status](["submitted"]))
    unknown_status: Literal["submitted", "reject"] = Field(
        "submitted",
        description="how to treat responses whose status the export lost (Argilla 2.x to_disk): "
        "count them as submitted (a warning and the manifest say so) or reject the record",
    )

    @field_validator("statuses")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one status must count")
        return v


class UnifySpec(SpecModel):
    """Default strategy per question kind, and per-question overrides."""

    text: Strategy = "latest"
    label_selection: Strategy = "majority"
    multi_label_selection: Strategy = "majority"
    rating: Strategy = "mean"
    ranking: Strategy = "mean_rank"
    span: Strategy = "first_submitted"
    questions: dict[str, Strategy] = Field(default_factory=dict)


class FiltersSpec(SpecModel):
    record_status: list[Literal["pending", "completed"]] | None = Field(
        None, description="keep only records with one of these Argilla record statuses"
    )
    min_chars: dict[str, Integer] = Field(default_factory=dict)
    max_chars: dict[str, Integer] = Field(default_factory=dict)
    dedup: Literal["none", "exact", "normalized"] = "normalized"


SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
RESERVED_NAMES = ("rejects", "manifest")  # files every export writes beside the splits


def check_splits(fractions: dict[str, Any]) -> None:
    """Split names become file names: a closed character set, no reserved or clashing names, and
    finite fractions > 0 adding up to 1. Raises ``ValueError`` saying what is wrong.

    >>> check_splits({"train": 0.9, "test": 0.1})
    >>> check_splits({"../x": 1.0})
    Traceback (most recent call last):
    ...
    ValueError: split name '../x': use letters, digits, '_' and '-' (at most 64, starting with a letter or digit)
    """
    if not fractions:
        raise ValueError("name at least one split")
    seen: dict[str, str] = {}
    for name, value in fractions.items():
        if not isinstance(name, str) or not SPLIT_NAME.fullmatch(name):
            raise ValueError(
                f"split name {name!r}: use letters, digits, '_' and '-' (at most 64, starting with a letter or digit)"
            )
        if name.lower() in RESERVED_NAMES:
            raise ValueError(f"split name {name!r} is taken by the export's {name.lower()} file")
        if name.lower() in seen:
            raise ValueError(f"split names {seen[name.lower()]!r} and {name!r} differ only in case")
        seen[name.lower()] = name
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"split {name!r}: fraction must be a finite number, got {value!r}")
        if value <= 0:
            raise ValueError(f"split {name!r}: fraction must be > 0, got {value!r}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must add up to 1, got {total:g}")


class SplitSpec(SpecModel):
    """Named fractions; a record's split is a pure function of its id and the seed."""

    fractions: dict[str, Number] = Field(default_factory=lambda: {"train": 1.0})
    seed: Integer = 0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `split: {train: 0.9, test: 0.1}` is the short form of `split: {fractions: {...}}`.
        if isinstance(data, dict) and data and "fractions" not in data:
            seed = data.get("seed", 0)
            return {"fractions": {k: v for k, v in data.items() if k != "seed"}, "seed": seed}
        return data

    @field_validator("fractions", mode="before")
    @classmethod
    def _names_and_numbers(cls, value: Any) -> Any:
        if isinstance(value, dict):
            check_splits(value)
        return value


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A hint for a mistyped name.

    >>> did_you_mean("respnse", ["instruction", "response"])
    " (did you mean 'response'?)"
    """
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


TEMPLATE_KWARGS_HELP = (
    "variables the chat template renders with (with --tokenizer; also used by curate preview, "
    "generate and chat), e.g. enable_thinking: false; strftime_now: YYYY-MM-DD sets the date "
    "templates print (default 2024-07-26, fixed so exports are byte-identical on any day)"
)


class TaskSpec(SpecModel):
    """What every task's spec has: name, source, which responses count, unification, filters,
    splits. Each task module (``curate/tasks/``) adds ``task``, ``columns`` and its own keys."""

    name: str = Field(max_length=200, description="the dataset's name (in the manifest, card and titles)")
    description: str | None = None
    source: SourceSpec | None = None
    responses: ResponsesSpec = Field(default_factory=ResponsesSpec)
    unify: UnifySpec = Field(default_factory=UnifySpec)
    filters: FiltersSpec = Field(default_factory=FiltersSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    review: ReviewRef | None = Field(
        None,
        description="the review dataset whose submitted answers override the annotators' unified "
        "answer, question by question (curate argilla review fills it)",
    )
    license: str | None = None
    template_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description=TEMPLATE_KWARGS_HELP,
    )
    task: str  # each task's model narrows it to its name (the union's discriminator)

    #: text columns of a row: what length filters may name (each task's model sets them)
    text_columns: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _filter_columns(self) -> TaskSpec:
        task = getattr(self, "task", "")
        allowed = self.text_columns
        for bound in ("min_chars", "max_chars"):
            for column, value in getattr(self.filters, bound).items():
                if column not in allowed:
                    raise ValueError(
                        f"filters.{bound}.{column}: not a text column of a {task} row, expected one of "
                        f"{', '.join(allowed)}{did_you_mean(column, allowed)}"
                    )
                if value < 0:
                    raise ValueError(f"filters.{bound}.{column}: must be >= 0, got {value}")
        template = getattr(self, "template", None)
        if template is not None:
            _check_template_name(template)
        _check_template_kwargs(self.template_kwargs)
        return self


def _check_template_kwargs(kwargs: dict[str, Any]) -> None:
    import datetime as dt

    reserved = sorted(set(kwargs) & {"messages", "tools", "documents", "add_generation_prompt"})
    if reserved:
        raise ValueError(f"template_kwargs.{reserved[0]}: set by curate, not a template option")
    date = kwargs.get("strftime_now")
    if date is not None:
        try:
            dt.datetime.strptime(str(date), "%Y-%m-%d")
        except ValueError:
            raise ValueError(
                f"template_kwargs.strftime_now: expected a date YYYY-MM-DD, got {date!r}"
            ) from None


def _check_template_name(name: str) -> None:
    from curate.templates import TEMPLATES  # lazy: a spec check need not import the renderers

    if name in TEMPLATES or name.endswith((".jinja", ".j2")):
        return
    names = sorted(TEMPLATES)
    raise ValueError(
        f"template: unknown template {name!r}, expected one of {', '.join(names)} or a .jinja file"
        f"{did_you_mean(name, names)}"
    )


TrainOn = Literal["all_assistant", "last_assistant", "each_turn_as_row"]
TRAIN_ON_HELP = (
    "which assistant turns train (with --tokenizer): all_assistant, last_assistant, or "
    "each_turn_as_row (one row per assistant turn, trained against the history shown at that turn)"
)


class TemplatedSpec(TaskSpec):
    """A task whose prompts are rendered with a template (text) or given as messages."""

    template: str = "alpaca"
    style: Literal["text", "conversational"] = "text"


class SpecFile(BaseModel):
    """A validated spec and where it came from (its text's hash goes into every manifest)."""

    spec: TaskSpec
    path: Path | None
    sha256: str

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def spec_summary(spec_file: SpecFile) -> dict[str, Any]:
    """What a manifest or card records about the spec."""
    spec = spec_file.spec
    return {
        "name": spec.name,
        "task": spec.task,
        "path": spec_file.path.name if spec_file.path else None,
        "sha256": spec_file.sha256,
        "resolved": json.loads(spec.model_dump_json(by_alias=True, exclude_none=True)),
    }
