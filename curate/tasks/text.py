"""``task: text``: plain text for continued pre-training / domain adaptation (TRL's language
modelling format: one ``text`` column), optionally behind a scope phrase such as
"Generate a medical paper abstract:"; every token is trained, and ``--pack`` fills fixed-length blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from curate.rows import as_text
from curate.spec import Required, SpecModel, TaskSpec, as_list
from curate.tasks.base import Task

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext


class TextColumns(SpecModel):
    text: Required

    _lists = field_validator("text", mode="before")(as_list)


class TextSpec(TaskSpec):
    task: Literal["text"]
    #: text columns of a row: what length filters may name
    text_columns: ClassVar[tuple[str, ...]] = ("text",)
    columns: TextColumns
    prefix: str | None = Field(
        None, description="a scope phrase put before every text, e.g. 'Generate a medical paper abstract:'"
    )
    separator: str = Field("\n", description="between the prefix and the text")


def with_prefix(text: str, prefix: str | None, separator: str) -> str:
    """The row's text: the scope phrase, the separator, then the curated text.

    >>> with_prefix("Aspirin lowers fever.", "Generate a medical paper abstract:", " ")
    'Generate a medical paper abstract: Aspirin lowers fever.'
    >>> with_prefix("Plain.", None, " ")
    'Plain.'
    """
    return f"{prefix}{separator}{text}" if prefix else text


class Text(Task):
    name = "text"
    spec_model = TextSpec
    dedup_keys = ("text",)
    trl_columns = ("text",)
    trains = "all"
    length_columns = ("text",)
    trained_series = ("text",)
    card_tags = ("pretraining", "language-modeling")
    train_stage = "sft"

    def conversational(self, builder: Builder) -> bool:
        return False

    def fields(self, conversational: bool) -> list[pa.Field]:
        import pyarrow as pa

        return [pa.field("text", pa.string())]

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        spec = builder.spec
        text = as_text(builder.required(ctx, spec.columns.text, "text"), "text")
        return [{"text": with_prefix(text, spec.prefix, spec.separator)}]
