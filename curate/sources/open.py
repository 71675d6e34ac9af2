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


def open_review_source(
    spec_file: SpecFile, path: str | None, live: LiveOptions = NO_LIVE, *, review_arg: str = "--review PATH"
) -> tuple[Source, str]:
    """The review dataset a spec names (``review:``) on its server, or its export read from
    ``path`` instead; with a label for messages and the manifest (workspace/name, or the export's
    folder name, never a full path)."""
    from curate.sources import open_source

    if path is not None:
        source = open_source(SourceSpec(path=path), Path.cwd(), path)
        return source, Path(path).name
    ref = spec_file.spec.review
    assert ref is not None
    from curate.sources.argilla_live import ArgillaServerSource
    from curate.spec import ArgillaServerRef

    server = ArgillaServerRef(dataset=ref.dataset, workspace=ref.workspace)
    try:
        source = ArgillaServerSource(server, **{**live.server_kwargs(), "since": None})
    except CurateError as err:
        if str(err).startswith("no Argilla server URL"):
            raise CurateError(
                f"review dataset {ref.dataset!r}: {err}, or pass {review_arg} (its to_disk export)"
            ) from None
        raise
    return source, source.name
