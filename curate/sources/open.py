"""Opening the source a spec names: its own ``source:``, or a path given instead (``--source``)."""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.sources.base import Source
from curate.spec import NO_LIVE, LiveOptions, SourceSpec, SpecFile


def open_spec_source(
    spec_file: SpecFile,
    source: str | None,
    live: LiveOptions = NO_LIVE,
    *,
    base_dir: Path | None = None,
    source_arg: str = "--source PATH",
) -> Source:
    """The spec's source, or the export file/folder ``source`` read instead of it.

    ``live`` applies to a live Argilla server only. A relative path is read from ``base_dir`` (default: the spec file's folder). ``source_arg`` is
    how the error for a spec with no source names the way to give one (the Python API says
    ``source=PATH``).
    """
    from curate.sources import open_source

    spec = spec_file.spec
    if spec.source is None and source is None:
        where = str(spec_file.path) if spec_file.path is not None else f"spec {spec.name!r}"
        raise CurateError(f"{where}: the spec has no source; pass {source_arg}")
    source_spec = spec.source or SourceSpec(path=source)
    return open_source(source_spec, spec_file.base_dir if base_dir is None else base_dir, source, live)
