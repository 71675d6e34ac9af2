"""What a task is: its spec model, how a record becomes rows, its output columns (TRL's column
contract first, then provenance), the columns filters and dedup read, what the tokenizer trains,
and how the dataset card and the train stages name it. One module per task implements it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from curate.spec import TaskSpec

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext
    from curate.build.columns import BatchView

#: What the tokenizer trains in a row of the task:
#: ``completion`` - prompt masked, completion + EOS trained (``prompt``/``completion``);
#: ``messages`` - the assistant turns of ``messages``;
#: ``pair`` - ``chosen`` and ``rejected`` each tokenized after ``prompt``;
#: ``prompt`` - prompt ids only, nothing trained (generation prompts for online RL);
#: ``all`` - every token of ``text`` (language modelling).
Trains = Literal["completion", "messages", "pair", "prompt", "all"]


class Task(ABC):
    """One kind of training data; subclasses are registered in ``curate.tasks.TASKS``."""

    name: ClassVar[str]
    spec_model: ClassVar[type[TaskSpec]]
    #: columns two rows must share to be duplicates
    dedup_keys: ClassVar[tuple[str, ...]]
    #: the columns a TRL trainer reads from a row (what `train/` stages look for)
    trl_columns: ClassVar[tuple[str, ...]]
    trains: ClassVar[Trains]
    #: the text columns whose lengths ``curate stats`` draws
    length_columns: ClassVar[tuple[str, ...]]
    #: the series of trained-token counts ``curate stats`` reports (one per trained answer kind);
    #: none where nothing is trained
    trained_series: ClassVar[tuple[str, ...]] = ()
    #: what the dataset card says about the rows
    card_tags: ClassVar[tuple[str, ...]]
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)
    #: the `curate train` stage the card suggests for an export of this task
    train_stage: ClassVar[str]

    @property
    def text_columns(self) -> tuple[str, ...]:
        """Text columns of a row: what length filters may name (the spec model holds them, so the
        spec checks its filters without the task registry)."""
        return self.spec_model.text_columns

    @property
    def takes_train_on(self) -> bool:
        """Whether the task's spec says which assistant turns train (``train_on``)."""
        return "train_on" in self.spec_model.model_fields

    def conversational(self, builder: Builder) -> bool:
        """Whether prompts/completions are ``{role, content}`` lists rather than text:
        ``style: conversational``, or a prompt taken from a ChatField (a conversation stays one)."""
        if getattr(builder.spec, "style", "text") == "conversational":
            return True
        prompt = getattr(builder.spec.columns, "prompt", None)
        return prompt is not None and builder.is_chat_field(prompt)

    @abstractmethod
    def fields(self, conversational: bool) -> list[pa.Field]:
        """The task's own output columns, in TRL's column contract (provenance follows)."""

    @abstractmethod
    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        """The rows of one record (without provenance); raises ``RejectRecord``."""

    def build_columns(self, builder: Builder, view: BatchView) -> dict[int, list[dict[str, Any]]] | None:
        """The rows (without provenance) of the rows standing in ``view``, built column by column,
        by row number; rows rejected on the way are in ``view.rejected``. None where the task
        builds row by row only (``build``, through a ``ColumnContext``). A task that has this
        builds exactly what ``build`` builds (``tests/test_columns.py`` compares them)."""
        return None

    def check(self, builder: Builder) -> None:
        """Task-specific checks of the spec against the dataset's settings (before any work)."""
        return None

    def questions(self, spec: Any) -> list[tuple[str, str]]:
        """``(key path, question)`` pairs the task reads besides its value sources."""
        return []


def message_list() -> pa.DataType:
    """The Arrow type of a ``[{role, content}, ...]`` column."""
    import pyarrow as pa

    return pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))


def text_or_messages(conversational: bool) -> pa.DataType:
    import pyarrow as pa

    return message_list() if conversational else pa.string()
