"""curate: Argilla annotation -> unified, filtered, TRL-ready training data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("curate")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
