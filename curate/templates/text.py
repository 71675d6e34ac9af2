"""Text prompt templates: an SFT example's instruction and context become a prompt string, its
response the completion string that follows it.
"""

from __future__ import annotations

from typing import ClassVar, Literal


class PromptTemplate:
    """Base class: subclasses set ``name`` and the prompt formats."""

    name: ClassVar[str]
    kind: ClassVar[Literal["text", "chat"]] = "text"
    description: ClassVar[str] = ""
    with_context: ClassVar[str]
    without_context: ClassVar[str]
    # Text put before the response in the completion. Templates whose prompt ends with a marker
    # like ``### Assistant:`` put the separating space here, on the completion's side: a prompt
    # ending in a space tokenizes differently alone than followed by the response.
    completion_prefix: ClassVar[str] = ""

    def prompt(self, instruction: str, context: str = "") -> str:
        """The text before the completion. An empty context drops the context section.

        >>> from curate.templates import get_template
        >>> get_template("alpaca").prompt("Say hi", "")[-18:]
        'hi\\n\\n### Response:\\n'
        """
        if context.strip():
            return self.with_context.format(instruction=instruction, context=context)
        return self.without_context.format(instruction=instruction)

    def completion(self, response: str) -> str:
        """The text the model is trained to produce after the prompt.

        >>> from curate.templates import get_template
        >>> get_template("guanaco").completion("Hello")
        ' Hello'
        """
        return self.completion_prefix + response

    def user_turn(self, instruction: str, context: str = "") -> str:
        """An SFT example as one user message: the instruction, then the context."""
        return f"{instruction}\n\n{context}" if context.strip() else instruction

    def describe(self) -> str:
        return self.name


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


class Guanaco(PromptTemplate):
    name = "guanaco"
    description = "OpenAssistant Guanaco (### Human: / ### Assistant:)"
    with_context = "### Human: {instruction}\n\n{context}\n### Assistant:"
    without_context = "### Human: {instruction}\n### Assistant:"
    completion_prefix = " "


class QA(PromptTemplate):
    name = "qa"
    description = "question and answer (### Question: / ### Answer:)"
    with_context = "### Question: {instruction}\n\n{context}\n### Answer:"
    without_context = "### Question: {instruction}\n### Answer:"
    completion_prefix = " "


class Raw(PromptTemplate):
    name = "raw"
    description = "the instruction, a blank line and the context; no markers"
    with_context = "{instruction}\n\n{context}"
    without_context = "{instruction}"
