"""The incremental push's merge: a new full snapshot from the previous one on the Hub and the
records exported since its watermark, by ``record_id`` (an updated record's rows replace its old
rows, or its new rejection replaces them; new records are added; records the source no longer
holds are dropped and counted; nothing is duplicated)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curate.arguments import arg
from curate.errors import CurateError
from curate.manifest import Counts, Manifest
from curate.sinks.files import ExportWriter

REJECTS = "rejects.jsonl"


def _rejects(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def merge_snapshot(
    previous: Path,
    previous_manifest: Manifest,
    delta: Path,
    delta_manifest: Manifest,
    out: Path,
    since: str,
    current: Collection[str] | None = None,
) -> Manifest:
    """A new full snapshot: the previous one with every record the delta exported replaced by its
    new rows (or its new rejection), in place, and records new to the snapshot appended.

    ``current``: the ids the source holds now; a previous record neither among them nor in the
    delta was deleted at the source, and its rows and rejects leave the snapshot (counted as
    ``deleted_records``). None keeps every previous record.

    Replacing in place keeps an unchanged record's rows where they were, so re-exporting records
    that did not change yields the same content fingerprint (and no commit).
    """
    splits = delta_manifest.split_names
    old_splits = sorted(previous_manifest.split_names)
    if old_splits != sorted(splits):
        raise CurateError(
            f"incremental: splits changed from {old_splits} to {sorted(splits)}; push without {arg('since')}/{arg('incremental')}"
        )
    schema = pq.read_schema(delta / f"{splits[0]}.parquet")
    for split in splits:
        old_schema = pq.read_schema(previous / f"{split}.parquet")
        if not old_schema.equals(schema, check_metadata=False):
            raise CurateError(
                f"incremental: {split}.parquet on the Hub has columns {old_schema.names}, the export now writes "
                f"{schema.names}; push without {arg('since')}/{arg('incremental')}"
            )
    delta_rows = {s: pq.read_table(delta / f"{s}.parquet").to_pylist() for s in splits}
    delta_rejects = _rejects(delta / REJECTS)
    touched = {r["record_id"] for rows in delta_rows.values() for r in rows} | {
        r["record_id"] for r in delta_rejects
    }
    previous_ids: set[str] = set()
    keep = None if current is None else touched | set(current)
    deleted: set[str] = set()

    with ExportWriter(out, "parquet", schema, splits) as writer:
        for split in splits:
            _merge_in_place(
                pq.read_table(previous / f"{split}.parquet").to_pylist(),
                delta_rows[split],
                touched,
                previous_ids,
                functools.partial(writer.write, split),
                keep,
                deleted,
            )
        _merge_in_place(
            _rejects(previous / REJECTS),
            delta_rejects,
            touched,
            previous_ids,
            lambda r: writer.reject(r.pop("record_id"), r.pop("reason"), r.pop("detail"), **r),
            keep,
            deleted,
        )
        writer.close_files()
        records_per_split, rows_per_split = {}, {}
        for split in splits:
            ids = pq.read_table(writer.tmp / f"{split}.parquet", columns=["record_id"]).column(0).to_pylist()
            records_per_split[split], rows_per_split[split] = len(set(ids)), len(ids)
        rejects = _rejects(writer.tmp / REJECTS)
        by_reason = Counter(r["reason"] for r in rejects if r.get("scope") != "row")
        dropped = Counter(r["reason"] for r in rejects if r.get("scope") == "row")
        kept, rejected = sum(records_per_split.values()), sum(by_reason.values())
        delta_counts = delta_manifest.counts
        manifest = dataclasses.replace(
            delta_manifest,
            counts=Counts(
                input_records=kept + rejected,
                kept_records=kept,
                rejected_records=rejected,
                records_per_split=records_per_split,
                rows_per_split=rows_per_split,
                rejects_by_reason=dict(sorted(by_reason.items())),
                dropped_rows_by_reason=dict(sorted(dropped.items())),
            ),
            fingerprint=writer.content_fingerprint(),
            files={},
            extra={
                **delta_manifest.extra,
                "quality_scope": (
                    f"the {delta_counts.input_records} records updated since {since} (incremental push; "
                    "a full push recomputes them over all records)"
                ),
                "incremental": {
                    "since": since,
                    "delta_counts": delta_counts.to_dict(),
                    "replaced_records": len(touched & previous_ids),
                    "new_records": len(touched - previous_ids),
                    "deleted_records": len(deleted),
                    "previous_fingerprint": previous_manifest.fingerprint,
                },
            },
        )
        writer.finish(manifest)
    return manifest


def _merge_in_place(
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    touched: set[str],
    previous_ids: set[str],
    emit: Callable[[dict[str, Any]], None],
    keep: set[str] | None,
    deleted: set[str],
) -> None:
    """Emit ``old`` with the entries of each touched record swapped for its ``new`` entries at the
    place of its first old entry, and those of records not in ``keep`` (when given) left out and
    added to ``deleted``; then the ``new`` entries of records ``old`` did not have."""
    new_by_id: dict[str, list[dict[str, Any]]] = {}
    for item in new:
        new_by_id.setdefault(item["record_id"], []).append(item)
    placed: set[str] = set()
    for item in old:
        rid = item["record_id"]
        previous_ids.add(rid)
        if keep is not None and rid not in keep:
            deleted.add(rid)
        elif rid not in touched:
            emit(item)
        elif rid not in placed:
            placed.add(rid)
            for replacement in new_by_id.get(rid, ()):
                emit(dict(replacement))
    for item in new:
        if item["record_id"] not in placed:
            emit(dict(item))
