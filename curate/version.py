"""The installed curate's version, in a module of its own: manifests and cards record it, and
importing it must not import the package's public face."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("curate")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
