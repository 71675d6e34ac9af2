"""``task: prompt``: prompts only (TRL's prompt-only format), for online RL (PPO, GRPO, RLOO),
rendered with the same template as the SFT export so the policy sees the format it was tuned on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import field_validator

from curate.records import PromptExample
from curate.spec import Required, Sources, SpecModel, TemplatedSpec, as_list
from curate.tasks.base import Task, text_or_messages

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext


class PromptColumns(SpecModel):
    prompt: Required
    context: Sources

    _lists = field_validator("prompt", "context", mode="before")(as_list)


class PromptSpec(TemplatedSpec):
    task: Literal["prompt"]
    #: text columns of a row: what length filters may name
    text_columns: ClassVar[tuple[str, ...]] = ("prompt",)
    columns: PromptColumns


class Prompt(Task):
    name = "prompt"
    spec_model = PromptSpec
    dedup_keys = ("prompt",)
    trl_columns = ("prompt",)
    trains = "prompt"
    length_columns = ("prompt",)
    card_tags = ("prompts", "ppo")
    train_stage = "ppo"

    def fields(self, conversational: bool) -> list[pa.Field]:
        import pyarrow as pa

        return [pa.field("prompt", text_or_messages(conversational))]

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        cols = builder.spec.columns
        prompt = builder.prompt_value(ctx, cols.prompt, cols.context)
        return [{"prompt": PromptExample(prompt, ctx.provenance()).prompt}]
