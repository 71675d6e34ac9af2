"""Where records come from: Argilla exports on disk (layout auto-detected), plain tables, and a
live Argilla server. ``open_source`` is the one entry point.
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.sources._rows import file_columns, find_data_files, peek_columns
from curate.sources.argilla_v1 import ArgillaV1Source, looks_like_v1
from curate.sources.argilla_v2 import ArgillaV2DiskSource, ArgillaV2FlatSource, looks_like_v2_flat
from curate.sources.base import Source, Unreadable
from curate.sources.table import TableSource
from curate.spec import SourceSpec

LAYOUTS: tuple[str, ...] = ("argilla_v1", "argilla_v2_disk", "argilla_v2_flat", "table")

__all__ = ["LAYOUTS", "Source", "Unreadable", "detect_layout", "open_source"]


def detect_layout(path: Path, split: str | None = None) -> str:
    """Name the Argilla layout of a file or folder, or raise a clear error."""
    if path.is_dir() and (path / "records.json").exists():
        return "argilla_v2_disk"
    files = find_data_files(path, split)
    columns = peek_columns(files)
    if not columns and all(not file_columns(f) for f in files.files):
        raise CurateError(
            f"{path}: empty: no rows and no columns to tell the layout from (nothing to export); "
            "with source.layout set, an empty file reads as zero records"
        )
    if looks_like_v2_flat(columns):
        return "argilla_v2_flat"
    if looks_like_v1(columns):
        return "argilla_v1"
    raise CurateError(
        f"{path}: unknown layout: not an Argilla 1.x FeedbackDataset export (no '<question>-suggestion-metadata' "
        "or external_id/metadata columns), not an Argilla 2.x export (no '<question>.responses' columns, "
        "no records.json); for a plain table set source.layout: table with a columns mapping"
        f" (columns found: {', '.join(columns[:12])}{'...' if len(columns) > 12 else ''})"
    )


def open_source(
    spec: SourceSpec,
    base_dir: Path,
    path_override: str | None = None,
    *,
    since: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Source:
    """Open the source a spec names (``path_override`` is ``--source``).

    ``since``, ``api_url``, ``api_key``, ``timeout`` (seconds per request) and ``deadline``
    (seconds for the whole read) apply to a live Argilla server only (flags override the spec
    and the ``ARGILLA_API_URL`` / ``ARGILLA_API_KEY`` environment).
    """
    if path_override is None and spec.argilla is not None:
        from curate.sources.argilla_live import ArgillaServerSource

        return ArgillaServerSource(
            spec.argilla, api_url=api_url, api_key=api_key, since=since, timeout=timeout, deadline=deadline
        )
    raw = path_override if path_override is not None else spec.path
    assert raw is not None
    path = Path(raw).expanduser()
    if not path.is_absolute() and path_override is None:
        path = base_dir / path
    source = _open_path(spec, path)
    source.location = path
    return source


def _open_path(spec: SourceSpec, path: Path) -> Source:
    layout = spec.layout if spec.layout != "auto" else detect_layout(path, spec.split)
    if layout == "argilla_v2_disk":
        return ArgillaV2DiskSource(path)
    files = find_data_files(path, spec.split)
    if layout == "argilla_v1":
        return ArgillaV1Source(files)
    if layout == "argilla_v2_flat":
        return ArgillaV2FlatSource(files)
    if spec.columns is None:
        raise CurateError(f"{path}: layout 'table' needs source.columns in the spec")
    return TableSource(files, spec.columns)
