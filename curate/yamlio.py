"""The one way curate reads a YAML file it is given (dataset specs, ``curate train`` configs):
bounded in size, nesting and alias expansion, duplicate keys refused, every failure one
:class:`~curate.errors.CurateError` line naming the file (and the line, for a syntax error).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from curate.errors import CurateError

#: Values a file may hold once YAML aliases are expanded; a spec or config holds a few hundred.
#: Aliases nested inside each other double the count at each level (a "billion laughs" file of a
#: few hundred bytes), so the count stops here rather than running out of memory.
MAX_VALUES = 100_000
#: Mappings and lists inside each other; a spec needs fewer than ten. Deeper input would only
#: reach Python's recursion limit somewhere later (validation, printing) without naming the file.
MAX_DEPTH = 100
#: Characters read at most; a spec or config is a few kilobytes (and /dev/zero never ends).
MAX_CHARS = 10_000_000


@dataclass(frozen=True)
class YamlText:
    """A YAML file as read: its text (what a spec's sha256 is computed from) and its value."""

    text: str
    data: Any


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML says
    keys are unique; PyYAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str) -> YamlText:
    """Read and parse the YAML file at ``path``; ``what`` (``spec``, ``config``) names it in errors.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.yaml").write_text("a: 1\\na: 2\\n")
    >>> read_yaml(folder / "a.yaml", "config")
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: .../a.yaml:2:1: malformed YAML: duplicate key 'a'
    """
    path = Path(path)
    try:
        # text mode, as Path.read_text: the same newlines, hence the same text and hash
        with path.open(encoding="utf-8") as fh:
            text = fh.read(MAX_CHARS + 1)
    except FileNotFoundError:
        raise CurateError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, a binary file, no permission
        raise CurateError(f"{path}: cannot read {what} ({err.__class__.__name__}: {err})") from None
    if len(text) > MAX_CHARS:
        raise CurateError(
            f"{path}: more than {MAX_CHARS:,} characters; a {what} file is a few kilobytes (the wrong file?)"
        )
    return YamlText(text, parse_yaml(text, str(path), what))


def parse_yaml(text: str, where: str, what: str) -> Any:
    """Parse YAML text with the checks of :func:`read_yaml`; ``where`` starts each message.

    >>> parse_yaml("a: [1, 2]", "x.yaml", "spec")
    {'a': [1, 2]}
    >>> parse_yaml("a: [1, 2", "x.yaml", "spec")
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: x.yaml:1:9: malformed YAML: expected ',' or ']', but got '<stream end>'
    """
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except RecursionError:
        raise CurateError(f"{where}: malformed YAML: nested too deeply") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CurateError(f"{where}{at}: malformed YAML: {problem}") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts (4,300)
        raise CurateError(f"{where}: malformed YAML: {str(err).split(';')[0]}") from None
    check_size(data, where, what)
    return data


def check_size(data: Any, where: str, what: str) -> None:
    """Refuse a value holding more than :data:`MAX_VALUES` values once aliases are expanded, or
    nested deeper than :data:`MAX_DEPTH` (stops counting there, so a recursive or exponential
    file costs no more than that).

    >>> check_size({"a": [[[1]]]}, "x.yaml", "spec")
    >>> check_size(eval("[" * 200 + "]" * 200), "x.yaml", "spec")
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: x.yaml: malformed YAML: nested too deeply
    """
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise CurateError(
                f"{where}: the {what} holds more than {MAX_VALUES:,} values once its YAML aliases "
                "are expanded (aliases repeated inside each other?)"
            )
        if depth > MAX_DEPTH:
            raise CurateError(f"{where}: malformed YAML: nested too deeply")
        if isinstance(value, dict):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
