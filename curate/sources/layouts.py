"""The layouts curate reads from disk: a closed name -> layout registry, each a detector (is this
folder or file in my layout?) and an opener (a Source over it). ``source.layout: auto`` tries the
detectors in the registry's order.

Adding a layout is a reader module in ``curate/sources/`` plus one ``Layout`` line here.
Readers are imported when a layout is opened, so checking a spec stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curate.errors import CurateError

if TYPE_CHECKING:
    from curate.sources.base import Source
    from curate.sources.rows import DataFiles
    from curate.spec import SourceSpec


class Probe:
    """What detectors look at, computed once: the data files of a path and their columns."""

    def __init__(self, path: Path, split: str | None):
        self.path = path
        self.split = split

    @functools.cached_property
    def files(self) -> DataFiles:
        from curate.sources.rows import find_data_files

        return find_data_files(self.path, self.split)

    @functools.cached_property
    def columns(self) -> list[str]:
        from curate.sources.rows import file_columns, peek_columns

        columns = peek_columns(self.files)
        if not columns and all(not file_columns(f) for f in self.files.files):
            raise CurateError(
                f"{self.path}: empty: no rows and no columns to tell the layout from (nothing to export); "
                "with source.layout set, an empty file reads as zero records"
            )
        return columns


@dataclass(frozen=True)
class Layout:
    name: str
    #: what Argilla (or the user) writes in this layout, for messages and the README
    description: str
    #: recognises the layout for ``layout: auto``; None: only when named (a plain table)
    detect: Callable[[Probe], bool] | None
    open: Callable[[Path, SourceSpec], Source]


def _v2_disk(path: Path, spec: SourceSpec) -> Source:
    from curate.sources.argilla_v2 import ArgillaV2DiskSource

    return ArgillaV2DiskSource(path)


def _v2_flat(path: Path, spec: SourceSpec) -> Source:
    from curate.sources.argilla_v2 import ArgillaV2FlatSource
    from curate.sources.rows import find_data_files

    return ArgillaV2FlatSource(find_data_files(path, spec.split))


def _v1(path: Path, spec: SourceSpec) -> Source:
    from curate.sources.argilla_v1 import ArgillaV1Source
    from curate.sources.rows import find_data_files

    return ArgillaV1Source(find_data_files(path, spec.split))


def _table(path: Path, spec: SourceSpec) -> Source:
    from curate.sources.rows import find_data_files
    from curate.sources.table import TableSource

    if spec.columns is None:
        raise CurateError(f"{path}: layout 'table' needs source.columns in the spec")
    return TableSource(find_data_files(path, spec.split), spec.columns)


def _looks_like_v2_disk(probe: Probe) -> bool:
    """records.json, or Argilla's dataset and settings files with no data beside them (what
    ``to_disk(with_records=False)`` writes: a dataset without records)."""
    from curate.sources.rows import DATA_SUFFIXES

    path = probe.path
    if not path.is_dir():
        return False
    if (path / "records.json").exists():
        return True
    config = path / ".argilla"
    if not ((config / "settings.json").is_file() and (config / "dataset.json").is_file()):
        return False
    return not any(p.suffix.lower() in DATA_SUFFIXES for p in path.rglob("*") if config not in p.parents)


def _looks_like_v2_flat(probe: Probe) -> bool:
    from curate.sources.argilla_v2 import looks_like_v2_flat

    return looks_like_v2_flat(probe.columns)


def _looks_like_v1(probe: Probe) -> bool:
    from curate.sources.argilla_v1 import looks_like_v1

    return looks_like_v1(probe.columns)


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "argilla_v2_disk",
            "Argilla 2.x Dataset.to_disk: records.json + .argilla/settings.json",
            _looks_like_v2_disk,
            _v2_disk,
        ),
        Layout(
            "argilla_v2_flat",
            "Argilla 2.x records.to_datasets() / Dataset.to_hub: '<question>.responses' columns",
            _looks_like_v2_flat,
            _v2_flat,
        ),
        Layout(
            "argilla_v1",
            "Argilla 1.x FeedbackDataset export: '<question>-suggestion-metadata', external_id, metadata",
            _looks_like_v1,
            _v1,
        ),
        Layout("table", "any JSON Lines / CSV / Parquet table read through source.columns", None, _table),
    )
}


def detect_layout(path: Path, split: str | None = None) -> str:
    """Name the layout of a file or folder, or raise a clear error."""
    probe = Probe(path, split)
    for layout in LAYOUTS.values():
        if layout.detect is not None and layout.detect(probe):
            return layout.name
    columns = probe.columns
    tried = "; ".join(f"{layout.name}: {layout.description}" for layout in LAYOUTS.values() if layout.detect)
    named = " or ".join(name for name, layout in LAYOUTS.items() if layout.detect is None)
    raise CurateError(
        f"{path}: unknown layout: none of the detected layouts fits ({tried}); "
        f"for a plain table set source.layout: {named} with a columns mapping"
        f" (columns found: {', '.join(columns[:12])}{'...' if len(columns) > 12 else ''})"
    )
