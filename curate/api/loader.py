"""The spec loader: a YAML file or a mapping into its task's validated spec model, with one error
line naming the file and the key path; and the spec's JSON Schema. It sits above the spec models
(``curate.spec``), the task registry and the source layouts, which it brings together."""

from __future__ import annotations

import hashlib
import re
import reprlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from curate.errors import CurateError
from curate.sources.layouts import LAYOUTS
from curate.spec import SpecFile, TaskSpec, did_you_mean
from curate.tasks import TASKS, spec_adapter
from curate.yamlio import read_yaml


def validation_context() -> dict[str, Any]:
    """What the spec models check against registries that live above them."""
    return {"layouts": tuple(LAYOUTS)}


def _format_loc(loc: tuple[Any, ...]) -> str:
    if "split" in loc and "fractions" in loc:  # `split: {train: 0.9}` is the shorthand users write
        loc = tuple(x for x in loc if x != "fractions")
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in _task_names() and not parts:
            continue  # the discriminator's branch name is noise for the reader
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def format_validation_error(where: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = _format_loc(tuple(first["loc"]))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "literal_error" and "expected" in first.get("ctx", {}):
        msg = f"got {_SHORT.repr(first['input'])}, expected {first['ctx']['expected']}"
    elif first["type"] in ("float_type", "int_type"):
        expected = "a number" if first["type"] == "float_type" else "an integer"
        msg = f"got {_SHORT.repr(first['input'])}, expected {expected}"
    elif first["type"] == "union_tag_invalid":
        given = first["input"].get("task") if isinstance(first["input"], dict) else first["input"]
        names = _task_names()
        hint = did_you_mean(given, names) if isinstance(given, str) else ""
        msg = f"unknown task {_SHORT.repr(given)}, expected one of {', '.join(names)}{hint}"
    elif first["type"] == "union_tag_not_found":
        msg = f"missing key 'task' (one of {', '.join(_task_names())})"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    if loc == "(top level)" and _KEY_PATH_FIRST.match(msg):  # a whole-spec check that names its key
        return f"{where}: {msg}{more}"
    return f"{where}: {loc}: {msg}{more}"


_KEY_PATH_FIRST = re.compile(r"[A-Za-z_][\w.\[\]-]*: ")
# A value quoted back in an error: short, however large (or alias-expanded) the value is.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 5, 5


def _task_names() -> tuple[str, ...]:
    return tuple(TASKS)


def parse_spec(data: Any, where: str = "<spec>") -> TaskSpec:
    """Validate a spec mapping into its task's spec model; raise :class:`CurateError` naming the key path."""
    if not isinstance(data, dict):
        raise CurateError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return spec_adapter().validate_python(data, context=validation_context())  # type: ignore[no-any-return]
    except ValidationError as err:
        raise CurateError(format_validation_error(where, err)) from None


def load_spec(path: str | Path) -> SpecFile:
    """Read and validate a YAML spec file (read by :func:`curate.yamlio.read_yaml`: bounded, no
    duplicate keys)."""
    path = Path(path)
    read = read_yaml(path, "spec")
    spec = parse_spec(read.data, str(path))
    return SpecFile(spec=spec, path=path, sha256=hashlib.sha256(read.text.encode("utf-8")).hexdigest())


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file (``curate schema`` prints it)."""
    schema = spec_adapter().json_schema(by_alias=True)
    schema["$defs"]["SourceSpec"]["properties"]["layout"]["enum"] = ["auto", *LAYOUTS]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "curate dataset spec"
    return schema
