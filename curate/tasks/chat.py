"""``task: chat``: a conversation (a ChatField or a JSON list of messages), an optional system
message and an optional corrected final reply, as TRL's ``messages`` column (order checked)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator

from curate.errors import CurateError
from curate.records import ChatExample, Message, check_messages
from curate.rows import RejectRecord, as_text, blank
from curate.spec import TRAIN_ON_HELP, Required, Sources, SpecModel, TaskSpec, TrainOn, as_list
from curate.tasks.base import Task, message_list

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext


class ChatColumns(SpecModel):
    messages: Required
    system: Sources
    reply: Sources

    _lists = field_validator("messages", "system", "reply", mode="before")(as_list)


class ChatSpec(TaskSpec):
    task: Literal["chat"]
    #: text columns of a row: what length filters may name
    text_columns: ClassVar[tuple[str, ...]] = ("messages",)
    columns: ChatColumns
    train_on: TrainOn = Field("all_assistant", description=TRAIN_ON_HELP)


def each_turn_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat row as one row per assistant turn, each ending with that turn (``train_on:
    each_turn_as_row``: every turn is trained against the history its template shows there).

    >>> rows = each_turn_rows({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...                                     {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]})
    >>> [len(r["messages"]) for r in rows]
    [2, 4]
    """
    messages = row["messages"]
    ends = [i + 1 for i, m in enumerate(messages) if m["role"] == "assistant"]
    return [{**row, "messages": messages[:end]} for end in ends] or [row]


class Chat(Task):
    name = "chat"
    spec_model = ChatSpec
    dedup_keys = ("messages",)
    trl_columns = ("messages",)
    trains = "messages"
    length_columns = ("messages",)
    trained_series = ("assistant turns",)
    card_tags = ("sft", "conversational")
    train_stage = "sft"

    def conversational(self, builder: Builder) -> bool:
        return False  # `messages` is always a message list; there is no prompt/completion style

    def fields(self, conversational: bool) -> list[pa.Field]:
        import pyarrow as pa

        return [pa.field("messages", message_list())]

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        cols = builder.spec.columns
        raw = builder.required(ctx, cols.messages, "messages")
        if not isinstance(raw, list):
            raise RejectRecord("invalid_messages", f"expected a list of messages, got {type(raw).__name__}")
        messages: list[Message] = [dict(m) if isinstance(m, Mapping) else m for m in raw]
        system = ctx.resolve(cols.system)
        if not blank(system) and not (
            messages and isinstance(messages[0], Mapping) and messages[0].get("role") == "system"
        ):
            messages.insert(0, {"role": "system", "content": as_text(system, "system")})
        reply = ctx.resolve(cols.reply)
        if not blank(reply):
            reply_text = as_text(reply, "reply")
            # The corrected reply completes the conversation: it replaces a final assistant turn
            # or follows a final user turn.
            if messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") == "assistant":
                messages[-1] = {"role": "assistant", "content": reply_text}
            else:
                messages.append({"role": "assistant", "content": reply_text})
        try:
            checked = check_messages(messages, "messages")
        except CurateError as err:
            raise RejectRecord("invalid_messages", str(err).removeprefix("messages: ")) from None
        if checked[-1]["role"] != "assistant":
            raise RejectRecord("no_assistant_reply", "the conversation does not end with an assistant turn")
        example = ChatExample(checked, ctx.provenance())
        row = {"messages": [dict(m) for m in example.messages]}
        return each_turn_rows(row) if builder.spec.train_on == "each_turn_as_row" else [row]
