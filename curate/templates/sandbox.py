"""The Jinja sandbox every Jinja chat template renders in (a user's ``.jinja`` file and a
tokenizer's own template alike): the globals transformers gives chat templates, plus hard limits
on loop steps, time and output size, so a runaway template stops instead of hanging an export.

The limits need no threads or signals (they work in any worker): every ``for`` loop's iterable,
every call and every ``+ * ** %`` goes through a counter that checks a step budget and, every
1024 steps, the clock; strings built by calls, filters, ``~`` and the operators are size-checked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from curate.errors import CurateError

# Templates that print today's date (Llama 3.x's ``strftime_now``) get this fixed instant: the
# same input and spec must give byte-identical output on any day. It is the date Llama 3.1's
# own template falls back to when no clock is available.
FIXED_NOW = datetime(2024, 7, 26)


@dataclass(frozen=True)
class RenderLimits:
    """Per-render budget. ``steps`` is the deterministic guard (loop items, calls, operators);
    ``seconds`` only backs it up; output may be ``chars`` plus ``chars_per_input`` per input char."""

    steps: int = 2_000_000
    seconds: float = 20.0
    chars: int = 4_000_000
    chars_per_input: int = 16


DEFAULT_LIMITS = RenderLimits()


class TemplateRunaway(CurateError):
    """A template that ran past its step or time budget: the export stops (one error line)."""


class TemplateTooLarge(Exception):
    """A render whose output (or a string it builds) is over the size limit: the row is rejected."""


class TemplateRaised(Exception):
    """The template called ``raise_exception(message)``."""


class _Budget:
    __slots__ = ("deadline", "limits", "max_chars", "origin", "steps")

    def __init__(self, limits: RenderLimits, origin: str, input_chars: int):
        self.limits = limits
        self.origin = origin
        self.steps = 0
        self.deadline = time.monotonic() + limits.seconds
        self.max_chars = limits.chars + limits.chars_per_input * input_chars

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise TemplateRunaway(
                f"{self.origin}: the chat template ran past {self.limits.steps:,} loop steps in one "
                "render (a runaway loop?); rendering stopped"
            )
        if not self.steps & 1023 and time.monotonic() > self.deadline:
            raise TemplateRunaway(
                f"{self.origin}: the chat template ran past {self.limits.seconds:g} s in one render "
                "(a runaway loop?); rendering stopped"
            )

    def size(self, value: Any) -> Any:
        if isinstance(value, (str, list, tuple)):
            self.check_len(len(value))
        return value

    def check_len(self, n: int) -> None:
        if n > self.max_chars:
            raise TemplateTooLarge(
                f"{self.origin}: the chat template built a value of {n:,} items, over the limit of "
                f"{self.max_chars:,}"
            )


_BUDGET: ContextVar[_Budget | None] = ContextVar("curate_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # rendering outside GuardedTemplate.render: refuse rather than run unguarded
        raise RuntimeError("chat templates render only through GuardedTemplate.render")
    return budget


class _Steps:
    """A ``for`` loop's iterable that counts one step per item (keeps ``len`` for ``loop.length``)."""

    __slots__ = ("_items",)

    def __init__(self, items: Any):
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        budget = _budget()
        for item in self._items:
            budget.tick()
            yield item

    def __len__(self) -> int:
        return len(self._items)


def _environment() -> Any:
    """A sandboxed environment with the helpers and options transformers renders templates with."""
    from jinja2 import nodes
    from jinja2.exceptions import SecurityError
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace

    class Generation(Extension):
        # `{% generation %}` marks assistant text in TRL's training templates; curate finds the
        # trained text by rendering prefixes, so the tag only has to render its body.
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            return str(caller())

    class Guarded(ImmutableSandboxedEnvironment):  # type: ignore[misc]
        intercepted_binops = frozenset({"+", "*", "**", "%", "//"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            budget = _budget()
            budget.tick()
            big_power = isinstance(right, int) and abs(right) > 1024
            if operator == "**" and big_power and isinstance(left, (int, float)) and abs(left) > 1:
                raise TemplateTooLarge(f"{budget.origin}: the chat template computes {left!r} ** {right}")
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                        budget.check_len(len(seq) * max(n, 0))  # before building it
            return budget.size(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            budget = _budget()
            budget.tick()
            return budget.size(super().call(__context, __obj, *args, **kwargs))

    def raise_exception(message: str) -> None:
        raise TemplateRaised(str(message))

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: Any = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    class TemplateDict:
        # As in transformers: `dict(...)` without access to the type itself.
        def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
            return dict(*args, **kwargs)

        def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(Namespace):  # type: ignore[misc]
        # Namespaces refuse underscore attributes (no route to interpreter internals).
        def __init__(*args: Any, **kwargs: Any) -> None:
            self, rest = args[0], args[1:]
            attrs = dict(*rest, **kwargs)
            for name in attrs:
                TemplateNamespace._check(name)
            Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            TemplateNamespace._check(name)
            Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise SecurityError(f"chat templates cannot set underscore attributes ({name!r})")

    env = Guarded(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(str(fmt))
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    env.globals["__curate_steps"] = _Steps
    env.globals["__curate_size"] = lambda value: _budget().size(value)
    return env


def _guard_tree(tree: Any) -> Any:
    """Route every loop's iterable through the step counter and size-check filters and ``~``."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    def call(name: str, node: Any) -> Any:
        return nodes.Call(nodes.Name(name, "load"), [node], [], None, None, lineno=node.lineno)

    class Guard(NodeTransformer):  # type: ignore[misc]
        def visit_For(self, node: Any) -> Any:
            self.generic_visit(node)
            node.iter = call("__curate_steps", node.iter)
            return node

        def visit_Filter(self, node: Any) -> Any:
            self.generic_visit(node)
            # A filter block's filter has no operand (node is None); only expressions are wrapped.
            return call("__curate_size", node) if node.node is not None else node

        def visit_FilterBlock(self, node: Any) -> Any:
            node.body = [self.visit(n) for n in node.body]
            return node

        def visit_Concat(self, node: Any) -> Any:
            self.generic_visit(node)
            return call("__curate_size", node)

    return Guard().visit(tree)


class GuardedTemplate:
    """A compiled chat template that renders within :class:`RenderLimits`.

    >>> t = GuardedTemplate("{% for m in messages %}{{ m.content }};{% endfor %}", "demo.jinja")
    >>> t.render(messages=[{"content": "a"}, {"content": "b"}])
    'a;b;'
    >>> GuardedTemplate("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    ...                 "loop.jinja").render()
    Traceback (most recent call last):
    ...
    curate.templates.sandbox.TemplateRunaway: loop.jinja: the chat template ran past 2,000,000 loop steps in one render (a runaway loop?); rendering stopped
    """

    def __init__(self, source: str, origin: str, limits: RenderLimits = DEFAULT_LIMITS):
        env = _environment()
        self.origin = origin
        self.limits = limits
        try:
            tree = env.parse(source)
            self._template = env.from_string(_guard_tree(tree))
        except Exception as err:  # jinja2.TemplateSyntaxError and friends
            line = getattr(err, "lineno", None)
            at = f":{line}" if line else ""
            raise CurateError(f"{origin}{at}: not a valid Jinja chat template ({err})") from None

    def render(self, **variables: Any) -> str:
        """The template's output; raises :class:`TemplateRunaway`, :class:`TemplateTooLarge`,
        :class:`TemplateRaised` or the template's own error."""
        budget = _Budget(self.limits, self.origin, _input_chars(variables.get("messages")))
        token = _BUDGET.set(budget)
        try:
            out: list[str] = []
            total = 0
            for chunk in self._template.generate(**variables):
                total += len(chunk)
                if total > budget.max_chars:
                    raise TemplateTooLarge(
                        f"{self.origin}: the chat template's output passed {budget.max_chars:,} characters"
                    )
                out.append(chunk)
            return "".join(out)
        finally:
            _BUDGET.reset(token)


def _input_chars(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    total = 0
    for m in messages:
        if isinstance(m, Mapping):
            content = m.get("content")
            total += len(content) if isinstance(content, str) else len(json.dumps(content, default=str))
    return total
