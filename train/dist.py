"""Rank awareness for ``accelerate launch`` / ``torchrun`` runs: which process is the main one, and
a barrier. One process (no launcher) is the main process, and the barrier returns at once.
"""

from __future__ import annotations

import os
from typing import Any


def _state() -> Any:
    import torch
    from accelerate import PartialState

    # On a machine without CUDA the processes talk over gloo (accelerate's MULTI_CPU); the Trainer
    # later reuses this same (singleton) state.
    return PartialState(cpu=not torch.cuda.is_available())


def init() -> None:
    """Join the process group now when launched with several processes (before TRL builds its own).

    Without CUDA, ``ACCELERATE_USE_CPU`` tells transformers' ``TrainingArguments`` (which resets and
    rebuilds accelerate's state) to keep the processes on CPU over gloo rather than fall back to
    one process each.
    """
    if launched():
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("ACCELERATE_USE_CPU", "true")
        _state()


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
