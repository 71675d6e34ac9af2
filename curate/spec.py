"""Declarative dataset specs (YAML in ``datasets_spec/``), validated into typed models.

A spec says where records come from, which responses count, how several annotators are unified,
where each canonical value is taken from (an ordered list of sources), how rows are filtered and
split, and which template renders the prompt. Errors name the file, the key path and what was
expected.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curate.errors import CurateError

Strategy = Literal["first_submitted", "latest", "majority", "unanimous", "mean", "median", "mean_rank"]
Layout = Literal["auto", "argilla_v1", "argilla_v2_disk", "argilla_v2_flat", "table"]
Status = Literal["submitted", "discarded", "draft"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueSource(_Model):
    """One place a canonical value may come from; the first that gives a non-blank value wins."""

    question: str | None = None
    field: str | None = None
    metadata: str | None = None
    suggestion: str | None = None
    value: str | None = None
    strategy: Strategy | None = Field(None, description="unification strategy for this question")
    min_score: float | None = Field(None, description="only take a suggestion with at least this score")

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


def _as_list(value: Any) -> Any:
    # A single source may be written without the list around it.
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


Sources = Annotated[list[ValueSource], Field(default_factory=list)]
# A column every row needs: at least one source, no default.
Required = Annotated[list[ValueSource], Field(min_length=1)]


class TableColumns(_Model):
    """Column mapping for a plain table (JSONL / CSV / Parquet without Argilla structure)."""

    id: str | None = None
    fields: list[str] | dict[str, str] = Field(default_factory=list)
    metadata: list[str] | dict[str, str] = Field(default_factory=list)
    responses: dict[str, str] = Field(
        default_factory=dict, description="question name -> column holding one submitted answer"
    )


class ArgillaServerRef(_Model):
    dataset: str
    workspace: str | None = None
    api_url: str | None = Field(
        None, description="defaults to $ARGILLA_API_URL; the key comes from $ARGILLA_API_KEY"
    )
    page_size: int = Field(1000, ge=1, le=1000)
    response_status: list[Status] | None = Field(
        None,
        description="server-side filter: pull only records with a response in one of these statuses "
        "(records not pulled are not counted as input)",
    )
    since: str | None = Field(None, description="ISO 8601 time: pull only records updated after it")


class SourceSpec(_Model):
    path: str | None = None
    layout: Layout = "auto"
    split: str | None = Field(None, description="which split of a multi-split folder to read")
    columns: TableColumns | None = None
    argilla: ArgillaServerRef | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.path is None) == (self.argilla is None):
            raise ValueError("give either path (an export on disk) or argilla (a live server)")
        if self.layout == "table" and self.columns is None:
            raise ValueError("layout 'table' needs a columns mapping")
        return self


class ResponsesSpec(_Model):
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


class UnifySpec(_Model):
    """Default strategy per question kind, and per-question overrides."""

    text: Strategy = "latest"
    label_selection: Strategy = "majority"
    multi_label_selection: Strategy = "majority"
    rating: Strategy = "mean"
    ranking: Strategy = "mean_rank"
    span: Strategy = "first_submitted"
    questions: dict[str, Strategy] = Field(default_factory=dict)


class LengthBounds(_Model):
    min_chars: dict[str, int] = Field(default_factory=dict)
    max_chars: dict[str, int] = Field(default_factory=dict)


class FiltersSpec(_Model):
    record_status: list[Literal["pending", "completed"]] | None = Field(
        None, description="keep only records with one of these Argilla record statuses"
    )
    min_chars: dict[str, int] = Field(default_factory=dict)
    max_chars: dict[str, int] = Field(default_factory=dict)
    dedup: Literal["none", "exact", "normalized"] = "normalized"


class SplitSpec(_Model):
    """Named fractions; a record's split is a pure function of its id and the seed."""

    fractions: dict[str, float] = Field(default_factory=lambda: {"train": 1.0})
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `split: {train: 0.9, test: 0.1}` is the short form of `split: {fractions: {...}}`.
        if isinstance(data, dict) and data and "fractions" not in data:
            seed = data.get("seed", 0)
            return {"fractions": {k: v for k, v in data.items() if k != "seed"}, "seed": seed}
        return data

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitSpec:
        if not self.fractions:
            raise ValueError("name at least one split")
        if any(v <= 0 for v in self.fractions.values()):
            raise ValueError("split fractions must be > 0")
        total = sum(self.fractions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must add up to 1, got {total:g}")
        return self


class _TaskBase(_Model):
    name: str
    description: str | None = None
    source: SourceSpec | None = None
    responses: ResponsesSpec = Field(default_factory=ResponsesSpec)
    unify: UnifySpec = Field(default_factory=UnifySpec)
    filters: FiltersSpec = Field(default_factory=FiltersSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    license: str | None = None


class SFTColumns(_Model):
    instruction: Required
    context: Sources
    response: Required

    _lists = field_validator("instruction", "context", "response", mode="before")(_as_list)


TrainOnField = Literal["all_assistant", "last_assistant", "each_turn_as_row"]
_TRAIN_ON_HELP = (
    "which assistant turns train (with --tokenizer): all_assistant, last_assistant, or "
    "each_turn_as_row (one row per assistant turn, trained against the history shown at that turn)"
)


class SFTSpec(_TaskBase):
    task: Literal["sft"]
    columns: SFTColumns
    template: str = "alpaca"
    style: Literal["text", "conversational"] = "text"
    train_on: TrainOnField = Field("all_assistant", description=_TRAIN_ON_HELP)


class ChatColumns(_Model):
    messages: Required
    system: Sources
    reply: Sources

    _lists = field_validator("messages", "system", "reply", mode="before")(_as_list)


class ChatSpec(_TaskBase):
    task: Literal["chat"]
    columns: ChatColumns
    train_on: TrainOnField = Field("all_assistant", description=_TRAIN_ON_HELP)


class Candidate(_Model):
    text: Required
    rating: str | None = Field(
        None, description="rating question scoring this candidate (pairs from ratings)"
    )

    _lists = field_validator("text", mode="before")(_as_list)


class PairsSpec(_Model):
    """Better/poorer pairs from a ranking question, or from one rating question per candidate."""

    source: Literal["ranking", "rating"] = Field(alias="from")
    question: str | None = Field(None, description="the ranking question (source: ranking)")
    candidates: dict[str, Candidate]
    mode: Literal["best_vs_worst", "best_vs_rest", "all_pairs"] = "best_vs_worst"
    min_margin: float = 0.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> PairsSpec:
        if len(self.candidates) < 2:
            raise ValueError("pairs need at least two candidates")
        if self.source == "ranking" and not self.question:
            raise ValueError("pairs from a ranking need `question`")
        if self.source == "rating":
            missing = [k for k, c in self.candidates.items() if c.rating is None]
            if missing:
                raise ValueError(
                    f"pairs from ratings need `rating` on every candidate (missing: {', '.join(missing)})"
                )
        return self


class PreferenceColumns(_Model):
    prompt: Required
    context: Sources
    chosen: Sources
    rejected: Sources

    _lists = field_validator("prompt", "context", "chosen", "rejected", mode="before")(_as_list)


class PreferenceSpec(_TaskBase):
    task: Literal["preference"]
    columns: PreferenceColumns
    pairs: PairsSpec | None = None
    template: str = "alpaca"
    style: Literal["text", "conversational"] = "text"

    @model_validator(mode="after")
    def _pairs_or_columns(self) -> PreferenceSpec:
        has_columns = bool(self.columns.chosen or self.columns.rejected)
        if self.pairs is None and not (self.columns.chosen and self.columns.rejected):
            raise ValueError("give columns.chosen and columns.rejected, or pairs")
        if self.pairs is not None and has_columns:
            raise ValueError("give either columns.chosen/rejected or pairs, not both")
        return self


class PromptColumns(_Model):
    prompt: Required
    context: Sources

    _lists = field_validator("prompt", "context", mode="before")(_as_list)


class PromptSpec(_TaskBase):
    task: Literal["prompt"]
    columns: PromptColumns
    template: str = "alpaca"
    style: Literal["text", "conversational"] = "text"


Spec = Annotated[Union[SFTSpec, ChatSpec, PreferenceSpec, PromptSpec], Field(discriminator="task")]


class SpecFile(BaseModel):
    """A validated spec and where it came from (its text's hash goes into every manifest)."""

    spec: Spec
    path: Path | None
    sha256: str

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()


def _format_loc(loc: tuple[Any, ...]) -> str:
    if "split" in loc and "fractions" in loc:  # `split: {train: 0.9}` is the shorthand users write
        loc = tuple(x for x in loc if x != "fractions")
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("sft", "chat", "preference", "prompt") and not parts:
            continue  # the discriminator's branch name is noise for the reader
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _format_validation_error(where: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = _format_loc(tuple(first["loc"]))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "literal_error" and "expected" in first.get("ctx", {}):
        msg = f"got {first['input']!r}, expected {first['ctx']['expected']}"
    elif first["type"] == "union_tag_invalid":
        msg = f"unknown task {first['input'].get('task') if isinstance(first['input'], dict) else first['input']!r}, expected 'sft', 'chat', 'preference' or 'prompt'"
    elif first["type"] == "union_tag_not_found":
        msg = "missing key 'task' (one of sft, chat, preference, prompt)"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    return f"{where}: {loc}: {msg}{more}"


def parse_spec(data: Any, where: str = "<spec>") -> Any:
    """Validate a spec mapping; raise :class:`CurateError` naming the key path."""
    from pydantic import TypeAdapter

    if not isinstance(data, dict):
        raise CurateError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return TypeAdapter(Spec).validate_python(data)
    except ValidationError as err:
        raise CurateError(_format_validation_error(where, err)) from None


def load_spec(path: str | Path) -> SpecFile:
    """Read and validate a YAML spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CurateError(f"{path}: spec file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CurateError(f"{path}: cannot read spec ({err.__class__.__name__}: {err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CurateError(f"{path}{at}: malformed YAML: {problem}") from None
    spec = parse_spec(data, str(path))
    return SpecFile(spec=spec, path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file (``curate schema`` prints it)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(Spec).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "curate dataset spec"
    return schema


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
