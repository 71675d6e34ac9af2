"""Rank awareness for ``accelerate launch`` / ``torchrun`` runs: which process is the main one, and
a barrier. One process (no launcher) is the main process, and the barrier returns at once.
"""

from __future__ import annotations

import os
from typing import Any


def _state() -> Any:
    from accelerate import PartialState

    return PartialState()


def launched() -> bool:
    """Started by a launcher with more than one process (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """The process that writes shared files (exports, cards, provenance); rank 0 of the world."""
    if not launched():
        return True
    return bool(_state().is_main_process)


def wait_for_everyone() -> None:
    """Every process waits here until all reach it (no-op for one process)."""
    if launched():
        _state().wait_for_everyone()


def num_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))
