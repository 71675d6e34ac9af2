"""Chat templates: a list of ``{role, content}`` messages becomes one text, and every assistant
turn's character span in it is found, for ANY template, by rendering prefixes of the conversation.

Three kinds: templates written out here (``chatml``, ``zephyr``, ``llama2``), the tokenizer's own
chat template (``tokenizer``, via ``apply_chat_template``) and a user's Jinja file, rendered in a
sandbox.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from curate.errors import CurateError
from curate.templates.text import PromptTemplate

Message = dict[str, str]
TrainOn = Literal["all_assistant", "last_assistant"]


class TemplateError(Exception):
    """A conversation this template cannot render with exact assistant spans (a row is rejected)."""


@dataclass(frozen=True)
class RenderedChat:
    """A rendered conversation and the character spans the model is trained on.

    Each span covers one assistant turn's text and the template's end-of-turn marker (the model
    must learn to stop), without whitespace the template puts after the marker.
    """

    text: str
    spans: tuple[tuple[int, int], ...]
    turns: tuple[int, ...]


class ChatTemplate(PromptTemplate):
    """Base class of templates that render a list of messages.

    Subclasses implement :meth:`render`. As a text template (``prompt``/``completion``), an SFT
    example becomes a user turn and an assistant turn; the completion is the assistant turn.
    """

    kind: ClassVar[Literal["text", "chat"]] = "chat"
    # Markers that must be single tokens of the tokenizer the template is used with.
    special_tokens: ClassVar[tuple[str, ...]] = ()

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        raise NotImplementedError

    def bind(self, tokenizer: Any) -> ChatTemplate:
        """This template, ready to render for ``tokenizer`` (its BOS/EOS strings, its own template)."""
        return self

    # --- text-template view of an SFT example ----------------------------------------------------

    def prompt(self, instruction: str, context: str = "") -> str:
        return self.render([{"role": "user", "content": self.user_turn(instruction, context)}], True)

    def completion(self, response: str) -> str:
        """The assistant turn with its end-of-turn marker, as it follows :meth:`prompt`.

        >>> from curate.templates import get_template
        >>> get_template("chatml").completion("Hi")
        'Hi<|im_end|>'
        """
        user = [{"role": "user", "content": "?"}]
        before = self.render(user, True)
        through = self.render([*user, {"role": "assistant", "content": response}])
        if not through.startswith(before):
            raise CurateError(
                f"template {self.describe()}: the assistant turn does not follow the generation prompt"
            )
        return through[len(before) :].rstrip()

    # --- exact assistant spans -------------------------------------------------------------------

    def assistant_spans(
        self, messages: Sequence[Message], train_on: TrainOn = "all_assistant", first_turn: int = 0
    ) -> RenderedChat:
        """Render ``messages`` and find the character span of each trained assistant turn.

        A turn's span starts where the conversation rendered up to it with the generation prompt
        ends, and ends where the conversation rendered through it ends (less trailing whitespace).
        Both renderings must be prefixes of the full text; templates that rewrite earlier turns
        (dropping reasoning, say) fail here with :class:`TemplateError` rather than mis-mask.
        Only assistant turns at index ``first_turn`` or later are trained.

        >>> from curate.templates import get_template
        >>> chat = get_template("chatml").assistant_spans(
        ...     [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
        >>> [chat.text[s:e] for s, e in chat.spans]
        ['Hello<|im_end|>']
        """
        full = self.render(messages)
        candidates = [i for i, m in enumerate(messages) if m["role"] == "assistant" and i >= first_turn]
        if train_on == "last_assistant":
            candidates = candidates[-1:]
        spans: list[tuple[int, int]] = []
        for i in candidates:
            before = self.render(messages[:i], True)
            through = self._without_trailer(self.render(messages[: i + 1]), messages, i, full)
            if not full.startswith(before) or not full.startswith(through):
                raise TemplateError(
                    f"template {self.describe()} renders turn {i} differently in the full conversation "
                    "than in its prefix (it rewrites earlier turns), so turn boundaries are not exact"
                )
            start, end = len(before), len(through.rstrip())
            content = messages[i]["content"].strip()
            if end <= start or content not in full[start:end]:
                raise TemplateError(
                    f"template {self.describe()}: assistant turn {i} is not rendered after its generation prompt"
                )
            spans.append((start, end))
        return RenderedChat(full, tuple(spans), tuple(candidates))

    def trailers(self) -> tuple[str, ...]:
        """Text some templates append once after the last message (Phi-3 appends EOS)."""
        return ()

    def _without_trailer(self, through: str, messages: Sequence[Message], i: int, full: str) -> str:
        """``through`` less a trailer the template adds only after the last message."""
        stripped = through.rstrip()
        trailer = next((t for t in self.trailers() if t and stripped.endswith(t)), None)
        if trailer is None:
            return through
        # What follows turn i when the conversation goes on: the full text, or for the last
        # turn, the conversation with one more user turn.
        if i + 1 < len(messages):
            following = full
        else:
            try:
                following = self.render([*messages, {"role": "user", "content": "…"}])
            except TemplateError:
                return through
        if following.startswith(through):
            return through  # the marker ends every turn (Zephyr's </s>): it is trained
        return stripped[: -len(trailer)]


def _roles(messages: Sequence[Message]) -> list[str]:
    return [m["role"] for m in messages]


class ChatML(ChatTemplate):
    name = "chatml"
    description = "ChatML (<|im_start|>role ... <|im_end|>), as Qwen and many fine-tunes use"
    special_tokens = ("<|im_start|>", "<|im_end|>")

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class Zephyr(ChatTemplate):
    name = "zephyr"
    description = "Zephyr (<|system|> / <|user|> / <|assistant|>, turns closed by </s>)"
    special_tokens = ("<|system|>", "<|user|>", "<|assistant|>", "</s>")

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        text = "".join(f"<|{m['role']}|>\n{m['content']}</s>\n" for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")


class Llama2(ChatTemplate):
    name = "llama2"
    description = "Llama 2 chat (<s>[INST] <<SYS>> ... [/INST] answer </s>)"
    special_tokens = ("<s>", "</s>")

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
                    f"llama2: message roles must alternate user/assistant, got {_roles(messages)}"
                )
            if m["role"] == "user":
                parts.append(f"<s>[INST] {system if i == 0 else ''}{m['content'].strip()} [/INST]")
            else:
                parts.append(f" {m['content'].strip()} </s>")
        return "".join(parts)


def _sandbox() -> Any:
    """The Jinja environment chat templates run in: sandboxed, with the helpers HF templates use."""
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        # `{% generation %}` marks assistant text in training templates; spans come from
        # prefix rendering here, so the tag only has to render its body.
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            return str(caller())

    def raise_exception(message: str) -> None:
        raise TemplateError(f"the chat template refused the conversation: {message}")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols]
    )
    import json

    env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: json.dumps(
        x, indent=indent, ensure_ascii=ensure_ascii
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


class JinjaTemplate(ChatTemplate):
    """A chat template from a Jinja file the user gives, rendered in a sandbox."""

    name = "jinja"
    description = "a Jinja chat template file (sandboxed)"

    def __init__(self, source: str, origin: str, bos_token: str = "", eos_token: str = ""):
        self.source = source
        self.origin = origin
        self.bos_token = bos_token
        self.eos_token = eos_token
        try:
            self._compiled = _sandbox().from_string(source)
        except Exception as err:  # jinja2.TemplateSyntaxError and friends
            line = getattr(err, "lineno", None)
            at = f":{line}" if line else ""
            raise CurateError(f"{origin}{at}: not a valid Jinja chat template ({err})") from None

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
        bound = JinjaTemplate.__new__(JinjaTemplate)
        bound.__dict__.update(self.__dict__)
        bound.bos_token = getattr(tokenizer, "bos_token", None) or ""
        bound.eos_token = getattr(tokenizer, "eos_token", None) or ""
        return bound

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        try:
            return str(
                self._compiled.render(
                    messages=list(messages),
                    add_generation_prompt=add_generation_prompt,
                    bos_token=self.bos_token,
                    eos_token=self.eos_token,
                )
            )
        except TemplateError:
            raise
        except Exception as err:
            raise TemplateError(
                f"{self.origin}: rendering failed ({err.__class__.__name__}: {err})"
            ) from None

    def trailers(self) -> tuple[str, ...]:
        return (self.eos_token,) if self.eos_token else ()

    def describe(self) -> str:
        digest = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:12]
        return f"{Path(self.origin).name} (sha256 {digest})"


class TokenizerTemplate(ChatTemplate):
    """The tokenizer's own chat template, rendered by ``apply_chat_template``."""

    name = "tokenizer"
    description = "the tokenizer's own chat template (apply_chat_template)"

    def __init__(self, tokenizer: Any = None):
        self.tokenizer = tokenizer

    def bind(self, tokenizer: Any) -> TokenizerTemplate:
        if not getattr(tokenizer, "chat_template", None):
            path = getattr(tokenizer, "name_or_path", "the tokenizer")
            raise CurateError(
                f"{path}: the tokenizer has no chat template; pass --template chatml, zephyr, llama2 or a .jinja file"
            )
        return TokenizerTemplate(tokenizer)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        if self.tokenizer is None:
            raise CurateError(
                "template 'tokenizer' renders with a tokenizer's own chat template; pass --tokenizer PATH"
            )
        try:
            text = self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except TemplateError:
            raise
        except Exception as err:  # the template's raise_exception, jinja errors
            raise TemplateError(f"the tokenizer's chat template failed: {err}") from None
        return str(text)

    def trailers(self) -> tuple[str, ...]:
        eos = getattr(self.tokenizer, "eos_token", None)
        return (eos,) if eos else ()

    def describe(self) -> str:
        if self.tokenizer is None:
            return self.name
        digest = hashlib.sha256(str(self.tokenizer.chat_template).encode("utf-8")).hexdigest()[:12]
        return f"tokenizer (chat_template sha256 {digest})"
