"""``curate stats`` on what ``curate export`` wrote: a whole export folder or one split file, and
the trained-token lengths of export rows.

Figures come from the export itself (its manifest and its rows), not from the Argilla source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.manifest import Manifest
from curate.report.summary import summarize, text_length
from curate.sinks.files import split_file_rows
from curate.sinks.outdir import MANIFEST, written_by_curate
from curate.tasks import TASKS

IGNORE_INDEX = -100
#: What each task trains, as the trained-token series are named.


def find_export(target: Path) -> tuple[Path, list[str] | None] | None:
    """``(export folder, the split files asked for or None for all)`` when ``target`` is an export
    folder or one of its split files; None otherwise."""
    if target.is_dir() and written_by_curate(target) is not None:
        return target, None
    if target.is_file() and target.name != MANIFEST:
        manifest = written_by_curate(target.parent)
        if manifest is not None and target.name in manifest["files"]:
            return target.parent, [target.name]
    return None


def export_files(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The split files of an export (or the ones asked for), checked to exist."""
    manifest = Manifest.read(folder)
    names = [f"{s}.{manifest.format}" for s in manifest.split_names] if only is None else only
    paths = [folder / name for name in names]
    for path in paths:
        if not path.is_file():
            raise CurateError(f"{path}: listed in the export's manifest but missing")
    return paths


def iter_export_rows(folder: Path, only: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of an export's split files, each checked to hold what the trained-token counts
    read (a hand-edited JSON Lines file can hold anything): one error naming the file and row."""
    manifest = Manifest.read(folder)
    task = TASKS.get(manifest.task)
    columns = tuple(c for c in task.trl_columns if c in task.text_columns) if task else ()
    for path in export_files(folder, only):
        for i, row in enumerate(split_file_rows(path, manifest)):
            problem = row_problem(row, columns)
            if problem is not None:
                record = row.get("record_id")
                named = f" (record {record})" if isinstance(record, str) else ""
                raise CurateError(f"{path}: row {i}{named}: {problem}")
            yield row


def row_problem(row: dict[str, Any], text_columns: Iterable[str]) -> str | None:
    """What makes an export row unreadable for stats, or None: ``labels`` must be a list of token
    ids, and each of ``text_columns`` text or a list of ``{role, content}`` messages.

    >>> row_problem({"prompt": "Hi", "labels": [-100, 5]}, ["prompt"]) is None
    True
    >>> row_problem({"prompt": "Hi", "labels": "abc"}, ["prompt"])
    "labels: expected a list of token ids (integers), got text 'abc'"
    >>> row_problem({"prompt": [{"role": "user", "content": 3}]}, ["prompt"])
    "prompt: expected text or a list of {role, content} messages, got list [{'role': 'user', 'content': 3}]"
    """
    from curate.sources._argilla import describe_value

    labels = row.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(type(t) is int for t in labels)):
        return f"labels: expected a list of token ids (integers), got {describe_value(labels)}"
    for column in text_columns:
        value = row.get(column)
        if not (isinstance(value, str) or _is_messages(value)):
            return f"{column}: expected text or a list of {{role, content}} messages, got {describe_value(value)}"
    return None


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    )


def export_stats(folder: Path, only: list[str] | None = None) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Rows per split, the manifest's counts, and character lengths of the task's text columns."""
    manifest = Manifest.read(folder)
    task = manifest.task
    columns = TASKS[task].text_columns if task in TASKS else ()
    lengths: dict[str, list[int]] = {c: [] for c in columns}
    rows: dict[str, int] = {}
    for path in export_files(folder, only):
        n = 0
        for row in split_file_rows(path, manifest):
            n += 1
            for column in columns:
                length = text_length(row.get(column))
                if length is not None:
                    lengths[column].append(length)
        rows[path.name] = n
    counts = manifest.counts
    result = {
        "export": folder.name,
        "spec": manifest.spec.get("name"),
        "task": task,
        "rows_per_file": rows,
        "input_records": counts.input_records,
        "records_per_split": counts.records_per_split,
        "rows_per_split": counts.rows_per_split,
        "rejects_by_reason": counts.rejects_by_reason,
        "dropped_rows_by_reason": counts.dropped_rows_by_reason,
        "agreement": manifest.quality.get("agreement"),
        "tokenization": manifest.tokenization,
        "column_lengths_chars": {c: summarize(v) for c, v in lengths.items()},
    }
    if counts.reviewed_records is not None:
        result["review"] = review_figures(manifest)
    return result, lengths


def review_figures(manifest: Manifest) -> dict[str, Any]:
    """Where the spec names a review: records a reviewer decided (per question) and records still
    waiting for one (rejected for a tie or disagreement, per question; pending in the review
    dataset)."""
    counts, review = manifest.counts, manifest.review or {}
    awaiting: dict[str, int] = {}
    for reason, n in counts.rejects_by_reason.items():
        kind, _, question = reason.partition(":")
        if kind in ("tie", "disagreement") and question:
            awaiting[question] = awaiting.get(question, 0) + n
    return {
        "dataset": review.get("dataset"),
        "decided_records": counts.reviewed_records,
        "decided_by_question": counts.review_overrides_by_question or {},
        "awaiting_records": sum(awaiting.values()),
        "awaiting_by_question": dict(sorted(awaiting.items())),
        "pending_in_review_dataset": review.get("pending", 0),
        "undecidable": review.get("undecidable", 0),
        "answers_without_record": review.get("answers_without_record", 0),
    }


def trained_lengths(rows: Iterable[dict[str, Any]], task: str, transform: Any = None) -> dict[str, list[int]]:
    """Trained tokens per row (per answer for preference rows): from the rows' own ``labels``
    (a tokenized export), else from ``transform`` (a :class:`curate.tokens.tokenize.RowTransform`).

    Rows a tokenizer rejects are not counted; prompt-only rows train nothing (empty result).

    >>> trained_lengths([{"labels": [-100, -100, 7, 8]}, {"labels": [-100, 9]}], "sft")
    {'completion': [2, 1]}
    """
    names = TASKS[task].trained_series if task in TASKS else ()
    if not names:
        return {}
    out: dict[str, list[int]] = {name: [] for name in names}
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        for result in transform.batch(pending):
            if isinstance(result, list):  # a document split into chunks: one row, its tokens trained once
                out[names[0]].append(sum(_trained(part["labels"]) for part in result))
            elif isinstance(result, dict) and "labels" in result:
                out[names[0]].append(_trained(result["labels"]))
        pending.clear()

    for row in rows:
        if "labels" in row and row["labels"] is not None:
            out[names[0]].append(_trained(row["labels"]))
        elif transform is None:
            continue
        elif TASKS[task].trains == "pair":  # pairs carry no labels: count what each answer trains
            inspected = transform.inspect(row)
            if not isinstance(inspected, tuple):
                for name, seq in zip(names, inspected, strict=False):
                    out[name].append(seq.trainable)
        else:
            pending.append(row)
            if len(pending) >= 512:
                flush()
    if pending:
        flush()
    return {name: values for name, values in out.items() if values}


def _trained(labels: Iterable[int]) -> int:
    return sum(1 for label in labels if label != IGNORE_INDEX)
