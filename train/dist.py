"""Rank awareness for ``accelerate launch`` / ``torchrun`` runs: which process is the main one, a
barrier, and leaving the process group at the end of a run. One process (no launcher) is the main
process, and the barrier returns at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def session() -> Iterator[None]:
    """Around a whole launched run (``curate train``, ``python -m train.<stage>``): each process
    leaves the process group before the interpreter exits.

    A gloo process group still alive at exit can abort a process that finished its work
    ("terminate called without an active exception", exit -6), failing a run that succeeded. On
    success the processes first wait for each other, then leave. After an error there is no
    barrier (the others may never reach it), and only a gloo group is left: leaving is local to
    the process there, whereas tearing down NCCL while other ranks are inside a collective can hang.
    """
    try:
        yield
    except BaseException:
        _leave(after_error=True)
        raise
    wait_for_everyone()
    _leave()


def _leave(after_error: bool = False) -> None:
    if not launched():
        return
    import torch.distributed

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if after_error and torch.distributed.get_backend() != "gloo":
        return
    torch.distributed.destroy_process_group()
