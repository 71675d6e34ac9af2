"""A library's log records held back while a call runs: shown as usual when it succeeds, dropped
when it fails, so a failure reads as curate's one ``error:`` line and not a loader's warnings
before it (``transformers`` logs "You are using a model of type ..." on its way to an error)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Hold(logging.Filter):
    """Keeps each record a handler would have written, to write later (or never)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False


@contextmanager
def held_logs(name: str) -> Iterator[None]:
    """Hold the records of logger ``name`` (and its children) that its handlers (and, where it
    propagates, the root logger's) would write; write them after the block only if it succeeds.

    >>> import sys
    >>> log = logging.getLogger("curate.doctest.held")
    >>> log.propagate = False
    >>> log.addHandler(logging.StreamHandler(sys.stdout))
    >>> with held_logs("curate.doctest.held"):
    ...     log.warning("written after the block")
    ...     print("the block")
    the block
    written after the block
    >>> with held_logs("curate.doctest.held"):
    ...     log.warning("never written")
    ...     raise ValueError("the block failed")
    Traceback (most recent call last):
    ...
    ValueError: the block failed
    """
    logger = logging.getLogger(name)
    handlers = list(logger.handlers)
    if logger.propagate:
        handlers += [h for h in logging.getLogger().handlers if h not in handlers]
    if not handlers and logging.lastResort is not None:
        handlers = [logging.lastResort]  # what logging writes with when no handler is set up
    holds = [(handler, _Hold()) for handler in handlers]
    for handler, hold in holds:
        handler.addFilter(hold)
    try:
        yield
    except BaseException:
        for handler, hold in holds:
            handler.removeFilter(hold)
        raise
    for handler, hold in holds:
        handler.removeFilter(hold)
        for record in hold.records:
            handler.handle(record)
