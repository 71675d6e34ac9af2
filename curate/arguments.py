"""Arguments as the caller names them: the Python API's keyword arguments, checked at the boundary
against the function's own annotations (:func:`checked_arguments`), and the vocabulary messages use
for them (:func:`arg`: ``max_length`` in Python, ``--max-length`` when the command line calls).
"""

from __future__ import annotations

import collections.abc
import difflib
import functools
import inspect
import os
import reprlib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ForwardRef, Literal, TypeVar, Union

from curate.errors import CurateError

F = TypeVar("F", bound=Callable[..., Any])


# --- the caller's vocabulary -------------------------------------------------------------------------
@dataclass(frozen=True)
class Vocabulary:
    """How messages name a caller's arguments: keyword names (the Python API, the default), or
    the command line's flags (``--`` + the name with dashes, unless ``flags`` says otherwise)."""

    as_flags: bool = False
    flags: Mapping[str, str] = field(default_factory=dict)

    def name(self, key: str) -> str:
        if not self.as_flags:
            return key
        return self.flags.get(key, "--" + key.replace("_", "-"))

    def with_value(self, key: str, meta: str) -> str:
        return f"{self.name(key)} {meta}" if self.as_flags else f"{key}={meta}"


KEYWORDS = Vocabulary()
_VOCABULARY: ContextVar[Vocabulary] = ContextVar("curate_vocabulary", default=KEYWORDS)


@contextmanager
def vocabulary(words: Vocabulary) -> Iterator[None]:
    """Within this block, messages name arguments the way ``words`` does (a surface passes its own)."""
    token = _VOCABULARY.set(words)
    try:
        yield
    finally:
        _VOCABULARY.reset(token)


def arg(key: str, meta: str | None = None) -> str:
    """How a message names argument ``key`` (with a placeholder ``meta`` for its value) for the
    caller at hand.

    >>> arg("max_length"), arg("source", "PATH")
    ('max_length', 'source=PATH')
    >>> with vocabulary(Vocabulary(as_flags=True, flags={"splits": "--split"})):
    ...     arg("max_length"), arg("splits"), arg("source", "PATH")
    ('--max-length', '--split', '--source PATH')
    """
    words = _VOCABULARY.get()
    return words.name(key) if meta is None else words.with_value(key, meta)


def switch(key: str) -> str:
    """How a message names turning on a yes/no argument.

    >>> switch("allow_empty")
    'allow_empty=True'
    """
    words = _VOCABULARY.get()
    return words.name(key) if words.as_flags else f"{key}=True"


def cli_called() -> bool:
    """Whether the command line is the caller (for wording that is not an argument name)."""
    return _VOCABULARY.get().as_flags


# --- checking arguments against annotations ----------------------------------------------------------
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


def checked_arguments(
    options_of: Callable[..., Any] | None = None, advice: Mapping[str, str] | None = None
) -> Callable[[F], F]:
    """Check a public function's arguments against its annotations before it runs; a value of the
    wrong type, a missing or unknown argument is one :class:`CurateError` naming the keyword.

    ``options_of``: the function whose keyword arguments the decorated one's ``**options`` are;
    ``advice``: a hint added to the message about an argument (what to call instead, say).
    Only types are checked here (``int``, ``str | os.PathLike[str] | None``, ...); values (a
    negative count, an unknown format) are the function's own to check and word.

    >>> @checked_arguments()
    ... def head(path: str | os.PathLike[str], *, n: int = 3) -> int:
    ...     return n
    >>> head("a.jsonl", n="3")
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: head(): n: expected an int, got '3'
    >>> head(None)
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: head(): path: expected a str or a path, got None
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        title = func.__qualname__.removesuffix(".__init__") + "()"

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError as err:  # too many positional arguments, an unknown keyword
                raise CurateError(f"{title}: {_binding_problem(err, signature)}") from None
            missing = [
                name
                for name, p in signature.parameters.items()
                if p.default is p.empty and p.kind not in _VARIADIC and name not in bound.arguments
            ]
            if missing:
                raise CurateError(f"{title}: {', '.join(missing)}: required")
            hints = _hints(func)
            for name, value in bound.arguments.items():
                kind = signature.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    _check_options(title, value, options_of)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    _check(title, name, value, hints.get(name, Any), (advice or {}).get(name))
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@functools.cache
def _keyword_only(func: Callable[..., Any]) -> tuple[str, ...]:
    params = inspect.signature(func).parameters.items()
    return tuple(name for name, p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _check_options(title: str, options: dict[str, Any], options_of: Callable[..., Any] | None) -> None:
    if options_of is None:
        return
    known = _keyword_only(options_of)
    hints = _hints(options_of)
    for name, value in options.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; expected one of {', '.join(known)}"
            raise CurateError(f"{title}: {name}: unknown keyword argument{hint}")
        _check(title, name, value, hints.get(name, Any))


def _binding_problem(err: TypeError, signature: inspect.Signature) -> str:
    text = str(err)
    if "unexpected keyword argument" in text:
        name = text.split("'")[1] if "'" in text else "?"
        return f"{name}: unknown keyword argument; expected one of {', '.join(signature.parameters)}"
    return text  # too many positional arguments: Python's own words say it best


def _check(title: str, name: str, value: Any, hint: Any, advice: str | None = None) -> None:
    if not _fits(value, hint):
        more = f" ({advice})" if advice else ""
        raise CurateError(f"{title}: {name}: expected {_describe(hint)}, got {_SHORT.repr(value)}{more}")


@functools.cache
def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Each parameter's annotation, evaluated; one naming a type imported only for type checkers
    is not checked (``Any``)."""
    out: dict[str, Any] = {}
    namespace = getattr(func, "__globals__", {})
    for name, param in inspect.signature(func).parameters.items():
        annotation = param.annotation
        if annotation is inspect.Parameter.empty:
            continue
        out[name] = _evaluate(annotation, namespace)
    return out


def _evaluate(annotation: Any, namespace: dict[str, Any]) -> Any:
    if isinstance(annotation, ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, namespace)
        except Exception:
            return Any
    return annotation


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        # a Union's quoted member ("os.PathLike[str]") stays a ForwardRef: evaluated here
        return any(_fits(value, _evaluate(a, {"os": os})) for a in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if isinstance(hint, (ForwardRef, str)):
        return True  # not resolvable here: left to the function
    base = origin or hint
    if base is collections.abc.Callable:
        return callable(value)
    if not isinstance(base, type):
        return True
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, base)


_NAMES = {
    str: "a str",
    int: "an int",
    float: "a number",
    bool: "True or False",
    os.PathLike: "a path",
    collections.abc.Mapping: "a mapping",
    dict: "a mapping",
    list: "a list",
    collections.abc.Callable: "a callable",
}


def _describe(hint: Any) -> str:
    hint = _evaluate(hint, {"os": os})
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if hint is None or hint is type(None):
        return "None"
    base = origin or hint
    return _NAMES.get(base) or f"a {getattr(base, '__name__', base)}"
