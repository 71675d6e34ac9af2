"""What every source gives the pipeline: dataset settings and a stream of ArgillaRecords."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from curate.records import ArgillaRecord, DatasetSettings


class Source(ABC):
    """A stream of feedback records plus what is known about the dataset."""

    layout: ClassVar[str]
    #: False where the export lost response statuses (Argilla 2.x ``to_disk``).
    status_known: ClassVar[bool] = True
    #: The file or folder read (None for a live server): an export may not be written over it.
    location: Path | None = None

    def __init__(self) -> None:
        self.settings = DatasetSettings()
        self.warnings: list[str] = []

    @property
    @abstractmethod
    def name(self) -> str:
        """A short label for provenance columns (never contains credentials)."""

    @abstractmethod
    def __iter__(self) -> Iterator[ArgillaRecord]: ...

    def count(self) -> int | None:
        """Number of records where cheap to know (for progress bars); None otherwise."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the manifest and the dataset card record about this source."""
        return {"layout": self.layout, "name": self.name}
