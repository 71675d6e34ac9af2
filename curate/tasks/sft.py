"""``task: sft``: instruction, optional context and response, rendered with a prompt template
into TRL's ``prompt``/``completion`` (text, or ``{role, content}`` lists with
``style: conversational``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from curate.rows import as_text, blank
from curate.spec import TRAIN_ON_HELP, Required, Sources, SpecModel, TemplatedSpec, TrainOn, as_list
from curate.tasks.base import Task, text_or_messages
from curate.templates import TemplateError

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext
    from curate.build.columns import BatchView


class SFTColumns(SpecModel):
    instruction: Required
    context: Sources
    response: Required

    _lists = field_validator("instruction", "context", "response", mode="before")(as_list)


class SFTSpec(TemplatedSpec):
    task: Literal["sft"]
    #: text columns of a row: what length filters may name
    text_columns: ClassVar[tuple[str, ...]] = ("instruction", "context", "response", "prompt", "completion")
    columns: SFTColumns
    train_on: TrainOn = Field("all_assistant", description=TRAIN_ON_HELP)


class SFT(Task):
    name = "sft"
    spec_model = SFTSpec
    dedup_keys = ("instruction", "context", "response")
    trl_columns = ("prompt", "completion")
    trains = "completion"
    length_columns = ("prompt", "completion")
    trained_series = ("completion",)
    card_tags = ("sft", "instruction-tuning")
    train_stage = "sft"

    def fields(self, conversational: bool) -> list[pa.Field]:
        import pyarrow as pa

        text = text_or_messages(conversational)
        return [
            pa.field("instruction", pa.string()),
            pa.field("context", pa.string()),
            pa.field("response", pa.string()),
            pa.field("prompt", text),
            pa.field("completion", text),
        ]

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        cols = builder.spec.columns
        instruction = as_text(builder.required(ctx, cols.instruction, "instruction"), "instruction")
        context_value = ctx.resolve(cols.context)
        context = "" if blank(context_value) else as_text(context_value, "context")
        response = as_text(builder.required(ctx, cols.response, "response"), "response")
        template = builder.template
        assert template is not None
        prompt: Any
        completion: Any
        if builder.output_conversational:
            prompt = [{"role": "user", "content": template.user_turn(instruction, context)}]
            completion = [{"role": "assistant", "content": response}]
        else:
            prompt = template.prompt(instruction, context)
            completion = template.completion(response)
        return [
            {
                "instruction": instruction,
                "context": context,
                "response": response,
                "prompt": prompt,
                "completion": completion,
            }
        ]

    def build_columns(self, builder: Builder, view: BatchView) -> dict[int, list[dict[str, Any]]] | None:
        if not view.takes(builder.spec):
            return None
        cols = builder.spec.columns
        instruction = view.text(view.required(cols.instruction, "instruction"), "instruction")
        context = view.text(view.resolve(cols.context), "context", blank_as="")
        response = view.text(view.required(cols.response, "response"), "response")
        template = builder.template
        assert template is not None
        conversational = builder.output_conversational
        rows: dict[int, list[dict[str, Any]]] = {}
        for k in view.alive:
            i, c, r = instruction[k], context[k], response[k]
            prompt: Any
            completion: Any
            try:
                if conversational:
                    prompt = [{"role": "user", "content": template.user_turn(i, c)}]
                    completion = [{"role": "assistant", "content": r}]
                else:
                    prompt = template.prompt(i, c)
                    completion = template.completion(r)
            except TemplateError as err:
                view.reject(k, err.reason, str(err))
                continue
            rows[k] = [
                {"instruction": i, "context": c, "response": r, "prompt": prompt, "completion": completion}
            ]
        return rows
