"""The manifest every export writes (``manifest.json``): what was read, how, and where every
input record went. One typed contract for the pipeline that writes it and the card, the Hub
sink, ``curate stats`` and ``train/`` that read it back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import NoneType
from typing import Any

from curate.errors import CurateError

FILE = "manifest.json"
FORMATS = ("parquet", "jsonl", "csv")  # the split files' formats (curate.sinks.files.Format)


@dataclass(frozen=True)
class Counts:
    """Where the input records went: ``input_records == kept_records + rejected_records``."""

    input_records: int
    kept_records: int
    rejected_records: int
    records_per_split: dict[str, int]
    rows_per_split: dict[str, int]
    rejects_by_reason: dict[str, int]
    dropped_rows_by_reason: dict[str, int]
    #: raw rows the source counted as it read them, apart from record building (None: not read
    #: from a source, e.g. a merged Hub snapshot)
    source_rows: int | None = None
    #: where the spec names a review (else absent): kept records whose answers a reviewer decided,
    #: and per question how many of them took the reviewer's answer
    reviewed_records: int | None = None
    review_overrides_by_question: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The counts as written: the review counts only where the spec names a review."""
        out = asdict(self)
        for key in _REVIEW_COUNTS:
            if out[key] is None:
                del out[key]
        return out

    def __post_init__(self) -> None:
        if self.kept_records + self.rejected_records != self.input_records:  # the promise of every export
            raise AssertionError(
                f"{self.input_records} input records but {self.kept_records} kept + {self.rejected_records} rejected"
            )
        if self.source_rows is not None and self.source_rows != self.input_records:
            raise AssertionError(
                f"the source read {self.source_rows} rows but {self.input_records} reached the export"
            )


@dataclass(frozen=True)
class Splits:
    fractions: dict[str, float]
    seed: int


@dataclass
class Manifest:
    """An export's manifest. ``extra`` keeps keys other writers add (the Hub sink's ``hub``,
    ``incremental``, ``quality_scope``) as they are."""

    curate_version: str
    spec: dict[str, Any]  # name, task, path, sha256, the resolved spec
    source: dict[str, Any]  # layout, name, and what the source says about itself
    task: str
    template: str | None
    style: str
    format: str
    columns: list[str]
    splits: Splits
    counts: Counts
    quality: dict[str, Any]
    warnings: list[str]
    fingerprint: str
    tokenization: dict[str, Any] | None = None
    packing: dict[str, Any] | None = None
    #: CSV exports only: the dialect, the JSON columns and each column's type (sinks/csvfile.py)
    csv: dict[str, Any] | None = None
    review: dict[str, Any] | None = None  # the review dataset read and its answers' fate
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def split_names(self) -> list[str]:
        return list(self.splits.fractions)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in ("tokenization", "packing", "csv", "review"):
                continue
            if f.name == "counts":
                out[f.name] = self.counts.to_dict()
            else:
                out[f.name] = asdict(value) if f.name == "splits" else value
        if not self.files:
            out.pop("files")
        return {**out, **self.extra}

    def to_json(self) -> str:
        return (
            json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False) + "\n"
        )

    @classmethod
    def from_dict(cls, data: Any, where: str = FILE) -> Manifest:
        """A manifest read back (from disk or the Hub): every key checked for the type curate
        writes, so a damaged or hand-made one is one error naming the key, never a crash later."""
        problem = _problem(data)
        if problem is not None:
            raise CurateError(f"{where}: not a manifest written by `curate export` ({problem})")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in data.items() if k in known}
        values["splits"] = Splits(**data["splits"])
        try:
            values["counts"] = Counts(**data["counts"])
        except AssertionError as err:
            raise CurateError(f"{where}: not a manifest written by `curate export` (counts: {err})") from None
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CurateError(f"{folder}: no {FILE}; expected a folder written by `curate export`") from None
        except (OSError, ValueError) as err:
            raise CurateError(f"{path}: cannot read ({err})") from None
        if not isinstance(data, dict):
            raise CurateError(f"{path}: expected a JSON object")
        return cls.from_dict(data, str(path))


# What curate writes under each key (``extra`` keys are kept as they are).
_TYPES: dict[str, tuple[type, ...]] = {
    "curate_version": (str,),
    "spec": (dict,),
    "source": (dict,),
    "task": (str,),
    "template": (str, NoneType),
    "style": (str,),
    "format": (str,),
    "columns": (list,),
    "splits": (dict,),
    "counts": (dict,),
    "quality": (dict,),
    "warnings": (list,),
    "fingerprint": (str,),
    "tokenization": (dict, NoneType),
    "packing": (dict, NoneType),
    "csv": (dict, NoneType),
    "review": (dict, NoneType),
    "files": (dict,),
}
_OPTIONAL = ("tokenization", "packing", "csv", "review", "files")
_REVIEW_COUNTS = ("reviewed_records", "review_overrides_by_question")
_JSON_NAMES = {dict: "an object", list: "a list", str: "text", NoneType: "null"}
_JSON_FOUND = {**_JSON_NAMES, bool: "a boolean", int: "a number", float: "a number"}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _problem(data: Any) -> str | None:
    """What in ``data`` is not as curate writes a manifest, else None."""
    from curate.spec import check_splits

    if not isinstance(data, dict):
        return "expected a JSON object"
    for key, types in _TYPES.items():
        if key not in data:
            if key in _OPTIONAL:
                continue
            return f"{key!r} is missing"
        if not isinstance(data[key], types):
            expected = " or ".join(_JSON_NAMES[t] for t in types)
            return f"{key!r}: expected {expected}, found {_JSON_FOUND.get(type(data[key]), 'another value')}"
    if data["format"] not in FORMATS:
        return f"'format': expected one of {', '.join(FORMATS)}, found {data['format']!r:.40}"
    if not all(isinstance(c, str) for c in data["columns"]):
        return "'columns': expected a list of names"
    if not all(isinstance(entry, dict) for entry in data.get("files", {}).values()):
        return "'files': expected an object per file"
    splits = data["splits"]
    if set(splits) != {"fractions", "seed"} or not isinstance(splits["fractions"], dict):
        return "'splits': expected {fractions: {name: fraction}, seed}"
    if not isinstance(splits["seed"], int) or isinstance(splits["seed"], bool):
        return "'splits.seed': expected an integer"
    try:
        check_splits(splits["fractions"])
    except ValueError as err:
        return f"'splits.fractions': {err}"
    counts = data["counts"]
    for f in fields(Counts):
        if f.name not in counts:
            if f.name == "source_rows" or f.name in _REVIEW_COUNTS:
                continue
            return f"'counts.{f.name}' is missing"
        value = counts[f.name]
        if value is None and f.name in _REVIEW_COUNTS:
            continue
        if str(f.type).startswith("dict"):
            ok = isinstance(value, dict) and all(
                isinstance(k, str) and _is_count(v) for k, v in value.items()
            )
            expected = "an object of counts"
        else:
            ok = _is_count(value) or (f.name == "source_rows" and value is None)
            expected = "a count"
        if not ok:
            return f"'counts.{f.name}': expected {expected}"
    unknown = set(counts) - {f.name for f in fields(Counts)}
    if unknown:
        return f"'counts': unknown key {sorted(unknown)[0]!r}"
    return None
