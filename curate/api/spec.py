"""``curate.Spec``: a dataset spec built in Python or read from YAML, validated by the same models
and with the same error messages as ``curate validate``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from curate.arguments import checked_arguments
from curate.errors import CurateError
from curate.spec import SpecFile, TaskSpec

# Keys first in this order when a spec is written out; the rest follow in the model's order.
_KEY_ORDER = ("name", "description", "task", "license", "source", "responses", "unify", "columns")


class Spec:
    """A validated dataset spec.

    Build one from keyword arguments (the keys of a spec file), from a mapping, or from a YAML
    file; a mistake raises :class:`curate.errors.CurateError` naming the key path, exactly as
    ``curate validate`` words it.

    >>> spec = Spec(
    ...     name="qa", task="sft", source={"path": "qa.jsonl", "layout": "table",
    ...     "columns": {"id": "id", "fields": ["q", "a"]}},
    ...     columns={"instruction": {"field": "q"}, "response": {"field": "a"}},
    ... )
    >>> spec.name, spec.task, spec.model.template
    ('qa', 'sft', 'alpaca')
    >>> print(spec.to_yaml().splitlines()[0])
    name: qa
    >>> Spec(name="qa", task="sft", columns={"instruction": {"field": "q"}})
    Traceback (most recent call last):
    ...
    curate.errors.CurateError: Spec(...): columns.response: Field required
    """

    __slots__ = ("_base_dir", "_file")

    @checked_arguments(advice={"mapping": "a YAML file is read by Spec.from_yaml(path)"})
    def __init__(self, mapping: Mapping[str, Any] | None = None, /, **keys: Any):
        if mapping is not None and keys:
            raise CurateError("Spec(): give a mapping or keyword arguments, not both")
        from curate.api.loader import parse_spec  # the task registry: imported when a spec is read

        data = dict(mapping if mapping is not None else keys)
        model = parse_spec(data, "Spec(...)")
        self._file = SpecFile(spec=model, path=None, sha256=_sha256(_dump(model)))
        # A relative source path is read from where the spec was built (as a file's: beside it).
        self._base_dir = Path.cwd()

    @classmethod
    @checked_arguments()
    def from_yaml(cls, path: str | os.PathLike[str]) -> Spec:
        """Read and validate a spec file (the file's hash goes into every manifest, as with the CLI)."""
        from curate.api.loader import load_spec

        return cls._wrap(load_spec(os.fspath(path)))

    @classmethod
    def _wrap(cls, spec_file: SpecFile) -> Spec:
        spec = cls.__new__(cls)
        spec._file = spec_file
        spec._base_dir = spec_file.base_dir
        return spec

    # --- what it says ---------------------------------------------------------------------------
    @property
    def model(self) -> TaskSpec:
        """The validated spec model (``curate/tasks/<task>.py`` defines one per task)."""
        return self._file.spec

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def path(self) -> Path | None:
        """The YAML file it was read from; None for a spec built in Python."""
        return self._file.path

    @property
    def sha256(self) -> str:
        """Hash of the file's text, or of :meth:`to_yaml` for a spec built in Python."""
        return self._file.sha256

    @property
    def base_dir(self) -> Path:
        """Where a relative ``source.path`` is read from."""
        return self._base_dir

    @property
    def spec_file(self) -> SpecFile:
        return self._file

    # --- writing it out -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The keys given (defaults left out), in the order a spec file is usually written."""
        return _dump(self.model)

    @checked_arguments()
    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The spec as YAML; also written to ``path`` when given. ``Spec.from_yaml`` reads it back
        to an equal spec."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        if path is not None:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as err:
                raise CurateError(f"{path}: cannot write the spec ({err.strerror or err})") from None
        return text

    def replace(self, **changes: Any) -> Spec:
        """A new spec with top-level keys replaced (e.g. ``source={"path": ...}``), validated again.

        >>> Spec(name="a", task="prompt", columns={"prompt": {"field": "q"}}).replace(name="b").name
        'b'
        """
        spec = Spec({**self.to_dict(), **changes})
        spec._base_dir = self._base_dir
        return spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Spec(name={self.name!r}, task={self.task!r}{where})"


def _dump(model: TaskSpec) -> dict[str, Any]:
    data = model.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    data["task"] = model.task  # a discriminator is always given, but keep it even if not "set"
    ordered = {k: data[k] for k in _KEY_ORDER if k in data}
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return ordered


def _sha256(data: dict[str, Any]) -> str:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_spec(spec: Spec | str | os.PathLike[str] | Mapping[str, Any] | SpecFile) -> Spec:
    """A :class:`Spec` from what API callers pass: a Spec, a YAML path, a mapping or a SpecFile."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, SpecFile):
        return Spec._wrap(spec)
    if isinstance(spec, (str, os.PathLike)):
        return Spec.from_yaml(os.fspath(spec))
    if isinstance(spec, Mapping):
        return Spec(spec)
    raise CurateError(
        f"spec: got {type(spec).__name__}, expected a curate.Spec, a YAML file path or a mapping of spec keys"
    )


@checked_arguments()
def bundled_spec(file_name: str) -> Spec:
    """A spec shipped in ``datasets_spec/`` of a source checkout, with its bundled demo data (for
    examples, doctests and the notebooks).

    >>> bundled_spec("dolly-curated.yaml").name
    'dolly-curated-sft'
    """
    folder = Path(__file__).resolve().parents[2] / "datasets_spec"
    path = folder / file_name
    if not path.is_file():
        shipped = ", ".join(sorted(p.name for p in folder.glob("*.yaml"))) or "none (not a source checkout?)"
        raise CurateError(f"{path}: no such bundled spec; shipped: {shipped}")
    return Spec.from_yaml(path)
