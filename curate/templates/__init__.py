"""Prompt and chat templates: a closed name -> class registry (``get_template``); the chosen name
is written to the manifest and the dataset card.

Text templates (:class:`PromptTemplate`: ``alpaca``, ``dolly``, ``guanaco``, ``qa``, ``raw``)
render an SFT example's prompt and completion. Chat templates (:class:`ChatTemplate`:
``chatml``, ``zephyr``, ``llama2``, ``tokenizer``, or a ``.jinja`` file) render a list of
messages and give the exact character span of every assistant turn.
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.templates.chat import (
    ChatML,
    ChatTemplate,
    JinjaTemplate,
    Llama2,
    RenderedChat,
    TemplateError,
    TokenizerTemplate,
    Zephyr,
)
from curate.templates.text import QA, Alpaca, Dolly, Guanaco, PromptTemplate, Raw

__all__ = [
    "TEMPLATES",
    "ChatTemplate",
    "JinjaTemplate",
    "PromptTemplate",
    "RenderedChat",
    "TemplateError",
    "get_template",
    "register",
]

TEMPLATES: dict[str, type[PromptTemplate]] = {
    t.name: t for t in (Alpaca, Dolly, Guanaco, QA, Raw, ChatML, Zephyr, Llama2, TokenizerTemplate)
}


def get_template(name: str) -> PromptTemplate:
    """A registered template by name, or a Jinja chat template file (``*.jinja``, sandboxed).

    >>> get_template("zephyr").render([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    '<|user|>\\nHi</s>\\n<|assistant|>\\n'
    """
    if name in TEMPLATES:
        return TEMPLATES[name]()
    if name.endswith((".jinja", ".j2")) or Path(name).is_file():
        return JinjaTemplate.from_file(name)
    raise CurateError(
        f"unknown template {name!r}, expected one of {', '.join(sorted(TEMPLATES))} or a .jinja file"
    )
