"""Where records come from: Argilla exports on disk (a layout from ``layouts.LAYOUTS``, detected
or named), plain tables, and a live Argilla server. ``open_source`` is the one entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from curate.errors import CurateError
from curate.sources.base import Source, Unreadable
from curate.sources.layouts import LAYOUTS, Layout, detect_layout
from curate.spec import NO_LIVE, LiveOptions

if TYPE_CHECKING:
    from curate.spec import SourceSpec

__all__ = [
    "LAYOUTS",
    "NO_LIVE",
    "Layout",
    "LiveOptions",
    "Source",
    "Unreadable",
    "checked_path",
    "detect_layout",
    "open_source",
]


def open_source(
    spec: SourceSpec, base_dir: Path, path_override: str | None = None, live: LiveOptions = NO_LIVE
) -> Source:
    """Open the source a spec names (``path_override`` is ``--source``); ``live`` applies to a live
    Argilla server only."""
    if path_override is None and spec.argilla is not None:
        from curate.sources.argilla_live import ArgillaServerSource

        return ArgillaServerSource(spec.argilla, **live.server_kwargs())
    raw = path_override if path_override is not None else spec.path
    assert raw is not None
    path = Path(raw).expanduser()
    if not path.is_absolute() and path_override is None:
        path = base_dir / path
    source = _open_path(spec, checked_path(path))
    source.location = path
    return source


def checked_path(path: Path) -> Path:
    """``path``, once the system can look it up: a name it refuses (a part longer than 255
    bytes, a folder it may not search) is one error naming the path, not an ``OSError`` from
    whichever reader touches it first. A path that is just missing is left to the readers."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as err:
        raise CurateError(f"{path}: cannot be opened ({err.strerror or err})") from None
    return path


def _open_path(spec: SourceSpec, path: Path) -> Source:
    layout = spec.layout if spec.layout != "auto" else detect_layout(path, spec.split)
    return LAYOUTS[layout].open(path, spec)
