"""Tokenizing in worker processes for ``curate export --num-proc`` with a tokenizer: each builds the
same row transform the parent built (from its recipe) and tokenizes whole chunks; the parent writes
them in input order and sums their counts, so the output is the same for any number of workers.
The processes themselves (start, signals, stop) are ``curate.pipeline.executor``'s."""

from __future__ import annotations

import os
from typing import Any

from curate.pipeline.executor import Channel
from curate.rows import TransformResult
from curate.tokens.tokenize import RowTransform, TokenCounts, build_row_transform

_WORKER: RowTransform | None = None


def worker_init(recipe: tuple[Any, ...]) -> None:
    """In a worker process: build the same transform the parent built (from its recipe)."""
    global _WORKER
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the workers are the parallelism
    _WORKER = build_row_transform(*recipe)


def worker_batch(rows: list[dict[str, Any]]) -> tuple[list[TransformResult], TokenCounts]:
    """In a worker process: one chunk's rows, and the counts they added (the parent sums them)."""
    assert _WORKER is not None, "worker_init was not called"
    _WORKER.counts = TokenCounts()
    return _WORKER.batch(rows), _WORKER.counts


def tokenize_worker(channel: Channel, recipe: tuple[Any, ...]) -> None:
    """A worker's life (``curate.pipeline.executor`` runs it): chunks of rows in, (results, counts) out, in
    the order the chunks came, until the exporting process has no more."""
    worker_init(recipe)
    while (rows := channel.receive()) is not None:
        channel.send(worker_batch(rows))
