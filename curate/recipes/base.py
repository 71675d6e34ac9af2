"""What every recipe reads from an export (:class:`ExportFacts`, from its manifest only) and what
a recipe is: a tool's files that read the export's split files with curate's meaning intact, or
one line saying why the tool cannot take the export."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from curate.manifest import Manifest

#: Where an export keeps its recipes: ``__recipes__/<tool>/``. A folder starting with ``__``
#: is skipped by ``datasets``' split discovery, so ``load_dataset(data_dir=OUT)`` still sees rows only.
RECIPES_DIR = "__recipes__"
#: What the recipe files name the model when none is given (``--model``).
MODEL_PLACEHOLDER = "MODEL_NAME_OR_PATH"


@dataclass(frozen=True)
class ExportFacts:
    """What a recipe needs to know about an export, all read from its manifest."""

    name: str  # the export folder's name (paths in the recipe start with it)
    spec_name: str
    task: str
    style: str  # "text" or "conversational"
    format: str  # parquet, jsonl or csv
    text_template: str | None  # the prompt template the rendered columns used (sft, preference, ...)
    chat_template: str | None  # the chat template the export was tokenized with, if it was
    train_on: str  # which assistant turns train (chat and conversational sft)
    columns: tuple[str, ...]
    splits: tuple[str, ...]
    json_columns: tuple[str, ...]  # CSV exports: columns written as JSON text

    @classmethod
    def from_manifest(cls, manifest: Manifest, folder_name: str) -> ExportFacts:
        resolved: dict[str, Any] = manifest.spec.get("resolved") or {}
        tokenization = manifest.tokenization or {}
        template = tokenization.get("template")
        return cls(
            name=folder_name,
            spec_name=manifest.name,
            task=manifest.task,
            style=manifest.style,
            format=manifest.format,
            text_template=manifest.template,
            chat_template=str(template) if template is not None else None,
            train_on=str(resolved.get("train_on") or "all_assistant"),
            columns=tuple(manifest.columns),
            splits=tuple(manifest.split_names),
            json_columns=tuple((manifest.csv or {}).get("json_columns", ())),
        )

    def split_file(self, split: str) -> str:
        """A split file's path as the recipe's command sees it (run from the export's parent)."""
        return f"{self.name}/{split}.{self.format}"

    @property
    def recipe_dir(self) -> str:
        return f"{self.name}/{RECIPES_DIR}"

    @property
    def train_split(self) -> str:
        return "train" if "train" in self.splits else self.splits[0]

    @property
    def eval_split(self) -> str | None:
        others = [s for s in self.splits if s != self.train_split]
        return others[0] if others else None

    def needs_json(self, columns: tuple[str, ...]) -> str | None:
        """Why a CSV export cannot give these columns to a tool that reads CSV text as text."""
        held = [c for c in columns if c in self.json_columns]
        if self.format == "csv" and held:
            return (
                f"a CSV export holds {', '.join(held)} as JSON text, which the tool reads as plain text; "
                "export with --format parquet or jsonl"
            )
        return None


@dataclass(frozen=True)
class RecipeFiles:
    """What a recipe writes: files under ``__recipes__/<tool>/`` (name -> text, or rows to write
    as a CSV file) and the one command line that trains, run from the export's parent folder."""

    files: dict[str, str]
    command: str
    #: derived split files written as JSON Lines: name -> (columns, rows) (AutoTrain's text column)
    tables: dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]] | None = None
    notes: tuple[str, ...] = ()


def dump_yaml(data: dict[str, Any]) -> str:
    """A recipe's YAML: keys in the order given, text as it is (byte-identical on every run).

    >>> print(dump_yaml({"stage": "sft", "dataset": "qa_train"}), end="")
    stage: sft
    dataset: qa_train
    """
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000))


class Recipe(ABC):
    """One tool. ``refusal`` says in one line why an export cannot be read by it with curate's
    meaning intact (None: it can); ``build`` derives the files from the export's facts."""

    tool: ClassVar[str]
    #: the tool's release the recipe was checked against (the Makefile pins the same)
    version: ClassVar[str]
    #: which tasks the tool takes, and what it does with each
    takes: ClassVar[dict[str, str]]

    def refusal(self, facts: ExportFacts) -> str | None:
        if facts.task not in self.takes:
            return self.why_not(facts.task)
        return self.refuse(facts)

    @abstractmethod
    def why_not(self, task: str) -> str:
        """Why the tool takes no export of this task."""

    def refuse(self, facts: ExportFacts) -> str | None:
        """Why this export of a task the tool takes cannot be read as curate meant it."""
        return None

    @abstractmethod
    def build(self, facts: ExportFacts, model: str, rows: RowReader) -> RecipeFiles:
        """The recipe's files for an export the tool can take."""


class RowReader(ABC):
    """The rows of an export's splits (for recipes that derive a column, AutoTrain's ``text``)."""

    @abstractmethod
    def rows(self, split: str) -> list[dict[str, Any]]: ...
