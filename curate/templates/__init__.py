"""Prompt templates: a closed name -> class registry (``get_template``); the chosen name is
written to the manifest and the dataset card.

A template renders an SFT example's prompt (instruction + optional context) and completion, and
the user turn used when an SFT example becomes a chat.
"""

from __future__ import annotations

from typing import ClassVar

from curate.errors import CurateError


class PromptTemplate:
    """Base class: subclasses set ``name`` and the prompt formats."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    with_context: ClassVar[str]
    without_context: ClassVar[str]

    def prompt(self, instruction: str, context: str = "") -> str:
        """The text before the completion. An empty context drops the context section.

        >>> get_template("alpaca").prompt("Say hi", "")[-16:]
        'hi\\n\\n### Response:\\n'
        """
        if context.strip():
            return self.with_context.format(instruction=instruction, context=context)
        return self.without_context.format(instruction=instruction)

    def completion(self, response: str) -> str:
        return response

    def user_turn(self, instruction: str, context: str = "") -> str:
        """An SFT example as one user message: the instruction, then the context."""
        return f"{instruction}\n\n{context}" if context.strip() else instruction


_ALPACA_INTRO = "Below is an instruction that describes a task"


class Alpaca(PromptTemplate):
    name = "alpaca"
    description = "Stanford Alpaca (### Instruction / ### Input / ### Response)"
    with_context = (
        f"{_ALPACA_INTRO}, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n"
    )
    without_context = (
        f"{_ALPACA_INTRO}. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Response:\n"
    )


class Dolly(PromptTemplate):
    name = "dolly"
    description = "Databricks Dolly (### Instruction / ### Context / ### Response)"
    with_context = (
        f"{_ALPACA_INTRO}. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Context:\n{context}\n\n### Response:\n"
    )
    without_context = (
        f"{_ALPACA_INTRO}. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Response:\n"
    )


class Raw(PromptTemplate):
    name = "raw"
    description = "the instruction, a blank line and the context; no markers"
    with_context = "{instruction}\n\n{context}"
    without_context = "{instruction}"


TEMPLATES: dict[str, type[PromptTemplate]] = {t.name: t for t in (Alpaca, Dolly, Raw)}


def register(template: type[PromptTemplate]) -> type[PromptTemplate]:
    """Add a template class to the registry (used by this package's own modules)."""
    TEMPLATES[template.name] = template
    return template


def get_template(name: str) -> PromptTemplate:
    try:
        return TEMPLATES[name]()
    except KeyError:
        raise CurateError(f"unknown template {name!r}, expected one of {', '.join(sorted(TEMPLATES))}") from None
