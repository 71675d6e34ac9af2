"""Chat templates: a list of ``{role, content}`` messages becomes one text, and the text each
assistant turn trains is found, for ANY template, by rendering prefixes of the conversation
(the rule lives in :mod:`curate.templates.turns`).

Three kinds: templates written out here (``chatml``, ``zephyr``, ``llama2``), the tokenizer's own
chat template (``tokenizer``) and a user's Jinja file. Both Jinja kinds render in curate's guarded
sandbox (:mod:`curate.templates.sandbox`) with the variables ``apply_chat_template`` passes.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from curate.arguments import arg
from curate.errors import CurateError
from curate.templates.sandbox import (
    DEFAULT_LIMITS,
    FIXED_NOW,
    GuardedTemplate,
    RenderLimits,
    TemplateRaised,
    TemplateRunaway,
    TemplateTooLarge,
)
from curate.templates.text import PromptTemplate
from curate.templates.turn_rule import turn_openers
from curate.templates.turns import Message, RenderedChat, TemplateError, TrainOn, find_turns

__all__ = [
    "ChatML",
    "ChatTemplate",
    "JinjaTemplate",
    "Llama2",
    "RenderedChat",
    "TemplateError",
    "TokenizerTemplate",
    "TrainOn",
    "Zephyr",
]


class ChatTemplate(PromptTemplate):
    """Base class of templates that render a list of messages.

    Subclasses implement :meth:`render`. As a text template (``prompt``/``completion``), an SFT
    example becomes a user turn and an assistant turn; the completion is the assistant turn.
    """

    kind: ClassVar[Literal["text", "chat"]] = "chat"
    # Markers that must be single tokens of the tokenizer the template is used with.
    special_tokens: ClassVar[tuple[str, ...]] = ()
    # Markers that end an assistant turn (generation stops there), for templates written out here.
    stop_tokens: ClassVar[tuple[str, ...]] = ()
    _stops: tuple[str, ...] = ()
    # The tokenizer's special tokens, and those that open a turn (a turn's ending stops there).
    _specials: tuple[str, ...] = ()
    _openers: tuple[str, ...] = ()
    _kwargs: Mapping[str, Any] = MappingProxyType({})

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        raise NotImplementedError

    def bind(self, tokenizer: Any) -> ChatTemplate:
        """This template, ready to render for ``tokenizer`` (its BOS/EOS strings, its own template)."""
        bound = copy.copy(self)
        eos = getattr(tokenizer, "eos_token", None)
        bound._stops = tuple(dict.fromkeys((*self.stop_markers(), *((eos,) if eos else ()))))
        bound._find_turn_tokens(tokenizer)
        return bound

    def _find_turn_tokens(self, tokenizer: Any) -> None:
        self._specials = tuple(t for t in _added_tokens(tokenizer) if t.strip())
        self._openers = turn_openers(self.render, self._specials, self.stop_markers())

    def with_kwargs(self, kwargs: Mapping[str, Any] | None) -> ChatTemplate:
        """This template rendering with ``kwargs`` (``template_kwargs:``), before :meth:`bind`."""
        if not kwargs:
            return self
        raise CurateError(
            f"template_kwargs: template {self.name} takes none (only Jinja chat templates do: "
            "tokenizer or a .jinja file)"
        )

    @property
    def template_kwargs(self) -> dict[str, Any]:
        return dict(self._kwargs)

    def reads_date(self) -> bool:
        """Whether the template prints today's date (its ids then depend on the date)."""
        return False

    def stop_markers(self) -> tuple[str, ...]:
        """The texts that end an assistant turn: EOS and the template's turn terminator."""
        return self._stops or self.stop_tokens

    # --- text-template view of an SFT example ----------------------------------------------------

    def prompt(self, instruction: str, context: str = "") -> str:
        return self.render([{"role": "user", "content": self.user_turn(instruction, context)}], True)

    def completion(self, response: str) -> str:
        """The assistant turn through its end-of-turn marker, as it follows :meth:`prompt`.

        >>> from curate.templates import get_template
        >>> get_template("chatml").completion("Hi")
        'Hi<|im_end|>'
        """
        chat = self.assistant_spans(
            [{"role": "user", "content": "?"}, {"role": "assistant", "content": response}]
        )
        (_start, end), *_ = chat.spans
        return chat.text[chat.prompt_ends[0] : end]

    # --- exact assistant spans -------------------------------------------------------------------

    def assistant_spans(
        self, messages: Sequence[Message], train_on: TrainOn = "all_assistant", first_turn: int = 0
    ) -> RenderedChat:
        """Render ``messages`` and find the character span each trained assistant turn trains
        (the rule in :mod:`curate.templates.turns`). Only turns at ``first_turn`` or later count.

        >>> from curate.templates import get_template
        >>> chat = get_template("chatml").assistant_spans(
        ...     [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
        >>> [chat.text[s:e] for s, e in chat.spans]
        ['Hello<|im_end|>']
        """
        return find_turns(
            self.render,
            list(messages),
            self.stop_markers(),
            train_on,
            first_turn,
            self.describe(),
            self._specials,
            self._openers,
        )


def _roles(messages: Sequence[Message]) -> list[str]:
    return [m["role"] for m in messages]


class ChatML(ChatTemplate):
    name = "chatml"
    description = "ChatML (<|im_start|>role ... <|im_end|>), as Qwen and many fine-tunes use"
    special_tokens = ("<|im_start|>", "<|im_end|>")
    stop_tokens = ("<|im_end|>",)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class Zephyr(ChatTemplate):
    name = "zephyr"
    description = "Zephyr (<|system|> / <|user|> / <|assistant|>, turns closed by </s>)"
    special_tokens = ("<|system|>", "<|user|>", "<|assistant|>", "</s>")
    stop_tokens = ("</s>",)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        text = "".join(f"<|{m['role']}|>\n{m['content']}</s>\n" for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")


class Llama2(ChatTemplate):
    name = "llama2"
    description = "Llama 2 chat (<s>[INST] <<SYS>> ... [/INST] answer </s>)"
    special_tokens = ("<s>", "</s>")
    stop_tokens = ("</s>",)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        # The generation prompt is the closing [/INST] itself: nothing to add.
        system = ""
        if messages and messages[0]["role"] == "system":
            system = f"<<SYS>>\n{messages[0]['content']}\n<</SYS>>\n\n"
            messages = messages[1:]
        parts: list[str] = []
        for i, m in enumerate(messages):
            expected = "user" if i % 2 == 0 else "assistant"
            if m["role"] != expected:
                raise TemplateError(
                    f"llama2: message roles must alternate user/assistant, got {_roles(messages)}",
                    "template_refused",
                )
            if m["role"] == "user":
                parts.append(f"<s>[INST] {system if i == 0 else ''}{m['content'].strip()} [/INST]")
            else:
                parts.append(f" {m['content'].strip()} </s>")
        return "".join(parts)


_PROBE = "curate probe 7f3a"

# The ``template_kwargs`` key that sets the date ``strftime_now`` gives templates (YYYY-MM-DD).
DATE_KEY = "strftime_now"


def template_date(kwargs: Mapping[str, Any]) -> datetime:
    """The date templates print: ``kwargs["strftime_now"]``, else the fixed default (so the same
    input gives byte-identical output on any day).

    >>> template_date({}).date().isoformat(), template_date({"strftime_now": "2025-03-01"}).day
    ('2024-07-26', 1)
    """
    value = kwargs.get(DATE_KEY)
    if value is None:
        return FIXED_NOW
    try:
        return datetime.strptime(str(value), "%Y-%m-%d")
    except ValueError:
        raise CurateError(f"template_kwargs.{DATE_KEY}: expected a date YYYY-MM-DD, got {value!r}") from None


class _HFJinja(ChatTemplate):
    """A Hugging Face style Jinja chat template, rendered in the guarded sandbox with the variables
    ``apply_chat_template`` passes (``messages``, ``tools``, ``documents``,
    ``add_generation_prompt`` and the tokenizer's special tokens)."""

    source: str
    origin: str
    limits: RenderLimits = DEFAULT_LIMITS
    _variables: dict[str, Any]
    _content_parts: bool = False

    def _compile(self) -> None:
        self._compiled = GuardedTemplate(self.source, self.origin, self.limits)

    def with_kwargs(self, kwargs: Mapping[str, Any] | None) -> ChatTemplate:
        if not kwargs:
            return self
        reserved = sorted(set(kwargs) & {"messages", "tools", "documents", "add_generation_prompt"})
        if reserved:
            raise CurateError(
                f"template_kwargs: {', '.join(reserved)} is set by curate, not a template option"
            )
        template_date(kwargs)  # checked here: one error line, before any row
        bound = copy.copy(self)
        bound._kwargs = MappingProxyType(dict(kwargs))
        return bound

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        msgs: list[dict[str, Any]] = [dict(m) for m in messages]
        if self._content_parts:  # multimodal templates read content as a list of parts
            msgs = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in msgs]
        now = template_date(self._kwargs)
        variables = {**self._variables, **{k: v for k, v in self._kwargs.items() if k != DATE_KEY}}
        try:
            return self._compiled.render(
                **variables,
                strftime_now=lambda fmt: now.strftime(str(fmt)),
                messages=msgs,
                tools=None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
            )
        except (TemplateError, TemplateRunaway):
            raise
        except TemplateRaised as err:
            raise TemplateError(
                f"{self.origin}: the chat template refused the conversation: {err}", "template_refused"
            ) from None
        except TemplateTooLarge as err:
            raise TemplateError(str(err), "template_too_large") from None
        except Exception as err:  # jinja errors, RecursionError, MemoryError, TypeError from the template
            raise TemplateError(
                f"{self.origin}: rendering failed ({err.__class__.__name__}: {err})"
            ) from None

    def _bind_to(self, tokenizer: Any) -> None:
        """Variables from ``tokenizer``; check the template on a plain conversation; find its
        content format and stop markers."""
        special = getattr(tokenizer, "special_tokens_map", None) or {}
        self._variables = {
            k: v for k, v in dict(special).items() if k not in ("messages", "tools", "documents")
        }
        self._variables.setdefault("bos_token", getattr(tokenizer, "bos_token", None) or "")
        self._variables.setdefault("eos_token", getattr(tokenizer, "eos_token", None) or "")
        user = [{"role": "user", "content": _PROBE}]
        pair = [*user, {"role": "assistant", "content": _PROBE + " reply"}]
        failure: TemplateError | None = None
        for parts in (False, True):  # text content first; multimodal templates read a list of parts
            self._content_parts = parts
            try:
                if _PROBE in self.render(pair) and self.render(user, True):
                    failure = None
                    break
            except TemplateError as err:
                failure = failure or err
        else:
            if failure is not None:
                cause = str(failure).removeprefix(f"{self.origin}: ")
                raise CurateError(
                    f"{self.origin}: the chat template fails on a one-turn user/assistant chat: {cause}"
                ) from None
            raise CurateError(f"{self.origin}: the chat template does not render message content")
        eos = getattr(tokenizer, "eos_token", None) or ""
        stops = [eos] if eos else []
        stops += _generation_stops(tokenizer)
        terminator = self._terminator(tokenizer, user)
        if terminator:
            stops.append(terminator)
        self._stops = tuple(dict.fromkeys(s for s in stops if s))
        self._find_turn_tokens(tokenizer)

    def reads_date(self) -> bool:
        """Whether the template prints the date (``strftime_now``): its ids then depend on it."""
        return "strftime_now" in self.source

    def _terminator(self, tokenizer: Any, user: list[dict[str, str]]) -> str | None:
        """The marker that closes a user turn (``<|im_end|>``, ``<end_of_turn>``, ...): the first
        added token after the user's text when the conversation ends there."""
        try:
            text = self.render(user)
        except TemplateError:
            return None
        after = text[text.find(_PROBE) + len(_PROBE) :]
        added = [t for t in _added_tokens(tokenizer) if t.strip()]
        best: tuple[int, int, str] | None = None
        for token in added:
            pos = after.find(token)
            if pos >= 0 and (best is None or (pos, -len(token)) < (best[0], best[1])):
                best = (pos, -len(token), token)
        return best[2] if best else None


def _generation_stops(tokenizer: Any) -> list[str]:
    """The stop tokens a model folder's ``generation_config.json`` lists (``eos_token_id``):
    ``--tokenizer`` often points at the model itself, whose config says where generation ends."""
    import json

    folder = Path(str(getattr(tokenizer, "name_or_path", "") or ""))
    try:
        config = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    ids = config.get("eos_token_id") if isinstance(config, dict) else None
    ids = ids if isinstance(ids, list) else [ids]
    tokens = [
        tokenizer.convert_ids_to_tokens(i) for i in ids if isinstance(i, int) and 0 <= i < len(tokenizer)
    ]
    return [t for t in tokens if isinstance(t, str) and t in _added_tokens(tokenizer)]


def _added_tokens(tokenizer: Any) -> list[str]:
    try:
        return list(tokenizer.get_added_vocab())
    except Exception:  # a tokenizer without added-token support
        return []


class JinjaTemplate(_HFJinja):
    """A chat template from a Jinja file the user gives, rendered in the guarded sandbox."""

    name = "jinja"
    description = "a Jinja chat template file (sandboxed)"

    def __init__(self, source: str, origin: str, bos_token: str = "", eos_token: str = ""):
        self.source = source
        self.origin = origin
        self._variables = {"bos_token": bos_token, "eos_token": eos_token}
        self._stops = (eos_token,) if eos_token else ()
        self._compile()

    @classmethod
    def from_file(cls, path: str | Path) -> JinjaTemplate:
        path = Path(path)
        try:
            return cls(path.read_text(encoding="utf-8"), str(path))
        except FileNotFoundError:
            raise CurateError(f"{path}: template file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise CurateError(f"{path}: cannot read template ({err.__class__.__name__})") from None

    def bind(self, tokenizer: Any) -> JinjaTemplate:
        bound = copy.copy(self)
        bound._bind_to(tokenizer)
        return bound

    def describe(self) -> str:
        digest = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:12]
        return f"{Path(self.origin).name} (sha256 {digest})"


class TokenizerTemplate(_HFJinja):
    """The tokenizer's own chat template, rendered as ``apply_chat_template`` renders it."""

    name = "tokenizer"
    description = "the tokenizer's own chat template (apply_chat_template)"

    def __init__(self, tokenizer: Any = None):
        self.tokenizer = tokenizer

    def bind(self, tokenizer: Any) -> TokenizerTemplate:
        path = str(getattr(tokenizer, "name_or_path", "") or "the tokenizer")
        source = getattr(tokenizer, "chat_template", None)
        if isinstance(source, dict):  # named templates: apply_chat_template uses "default"
            source = source.get("default")
        if not source:
            raise CurateError(
                f"{path}: the tokenizer has no chat template; pass {arg('template')} chatml, zephyr, llama2 or a .jinja file"
            )
        bound = TokenizerTemplate(tokenizer)
        bound._kwargs = self._kwargs
        bound.source = str(source)
        bound.origin = f"{path} (chat template)"
        bound._compile()
        bound._bind_to(tokenizer)
        return bound

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        if self.tokenizer is None:
            raise CurateError(
                "template 'tokenizer' renders with a tokenizer's own chat template; pass "
                + arg("tokenizer", "PATH")
            )
        return super().render(messages, add_generation_prompt)

    def describe(self) -> str:
        if self.tokenizer is None:
            return self.name
        digest = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:12]
        return f"tokenizer (chat_template sha256 {digest})"
