"""``curate stats`` on what ``curate export`` wrote: a whole export folder or one split file.

Figures come from the export itself (its manifest and its rows), not from the Argilla source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.sinks.files import MANIFEST, _written_by_curate
from curate.stats import _length, _summary


def find_export(target: Path) -> tuple[Path, list[str] | None] | None:
    """``(export folder, the split files asked for or None for all)`` when ``target`` is an export
    folder or one of its split files; None otherwise."""
    if target.is_dir() and _written_by_curate(target) is not None:
        return target, None
    if target.is_file() and target.name != MANIFEST:
        manifest = _written_by_curate(target.parent)
        if manifest is not None and target.name in manifest["files"]:
            return target.parent, [target.name]
    return None


def export_stats(folder: Path, only: list[str] | None = None) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Rows per split, the manifest's counts, and character lengths of the task's text columns."""
    from curate.errors import CurateError
    from curate.sources._rows import iter_file_rows

    manifest = _written_by_curate(folder)
    assert manifest is not None
    task = str(manifest.get("task", ""))
    fmt = manifest.get("format", "parquet")
    splits = list((manifest.get("splits") or {}).get("fractions") or {})
    files = [f"{s}.{fmt}" for s in splits] if only is None else only
    from curate.tasks import TASKS

    columns = TASKS[task].text_columns if task in TASKS else ()
    lengths: dict[str, list[int]] = {c: [] for c in columns}
    rows: dict[str, int] = {}
    for name in files:
        path = folder / name
        if not path.is_file():
            raise CurateError(f"{path}: listed in the export's manifest but missing")
        n = 0
        for row in iter_file_rows(path):
            n += 1
            for column in columns:
                length = _length(row.get(column))
                if length is not None:
                    lengths[column].append(length)
        rows[name] = n
    counts = manifest.get("counts") or {}
    result = {
        "export": folder.name,
        "spec": (manifest.get("spec") or {}).get("name"),
        "task": task,
        "rows_per_file": rows,
        "input_records": counts.get("input_records"),
        "records_per_split": counts.get("records_per_split"),
        "rejects_by_reason": counts.get("rejects_by_reason"),
        "column_lengths_chars": {c: _summary(v) for c, v in lengths.items()},
    }
    return result, lengths
