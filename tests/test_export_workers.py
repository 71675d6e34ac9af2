"""``--num-proc N`` without a tokenizer: forked workers build the rows. Every file of the export
(rows, rejects, manifest) is byte-identical to one process's: for every shipped spec, for sources
full of hostile rows, duplicate and missing ids, and duplicates; errors are the same error at the
same place; a worker that dies or fails, and Ctrl-C, leave nothing behind."""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from _paths import DATA, SPECS
from test_hostile_records import HOSTILE, LAYOUTS, key_paths, replaced

import curate
import curate.pipeline.build_workers as build_workers
from curate.api.loader import load_spec
from curate.errors import CurateError
from curate.sources import rows as file_readers

ID_KEYS = ("id", "external_id")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 4 rows, read in batches of 2: every bundled source is many chunks, spread over
    the workers, and each worker reads the others' batches by their ids only."""
    monkeypatch.setattr(file_readers, "BATCH_ROWS", 2)
    monkeypatch.setattr(build_workers, "CHUNK", 4)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # three workers even on a small machine


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def export_both_ways(spec: Any, tmp_path: Path, workers: int = 3, **options: Any) -> dict[int, Any]:
    """The export's files (or its error) with one process and with ``workers``; notes included."""
    results: dict[int, Any] = {}
    for n in (1, workers):
        out = tmp_path / f"out-{n}"
        notes: list[str] = []
        try:
            curate.export(spec, out, num_proc=n, on_note=notes.append, on_warning=lambda w: None, **options)
        except CurateError as err:
            results[n] = ("error", str(err), out.exists(), notes)
        else:
            results[n] = (files_of(out), notes)
    return results


@pytest.mark.parametrize("name", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_every_shipped_spec_gives_the_same_bytes(small_chunks: None, tmp_path: Path, name: str) -> None:
    spec = load_spec(SPECS / name)
    for fmt in ("parquet", "jsonl"):
        results = export_both_ways(spec, tmp_path / fmt, format=fmt)
        one, (files, notes) = results[1], results[3]
        assert not notes, notes  # the workers did build the rows
        assert files == one[0]
        manifest = json.loads(files["manifest.json"])
        assert manifest["counts"]["input_records"] > 2 * build_workers.CHUNK * 3  # chunks for every worker


def hostile_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with each place set to some of the hostile values (each under an id of its
    own unless the id is what was replaced), then the records again under their own ids
    (duplicate ids), under new ids (duplicate rows) and with no id at all (row-<n>)."""
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        for path in key_paths(record):
            for value in HOSTILE[len(rows) % 3 :: 3]:
                row = replaced(records, index, path, value)[index]
                if path[0] not in ID_KEYS:
                    for key in ID_KEYS:
                        if key in row:
                            row[key] = f"h{len(rows)}"
                rows.append(row)
    for record in records:
        rows.append(copy.deepcopy(record))
        again = copy.deepcopy(record)
        for key in ID_KEYS:
            if key in again:
                again[key] = f"again-{len(rows)}"
        rows.append(again)
        unnamed = copy.deepcopy(record)
        for key in ID_KEYS:
            unnamed.pop(key, None)
        rows.append(unnamed)
    return rows


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
def test_hostile_rows_give_the_same_bytes(small_chunks: None, tmp_path: Path, layout: str) -> None:
    spec_name, make = LAYOUTS[layout]
    records, write = make(tmp_path)
    rows = hostile_rows(records)
    folder = write(rows)
    results = export_both_ways(load_spec(SPECS / spec_name), tmp_path, source=str(folder))
    assert results[3] == results[1]
    files, _ = results[3]
    manifest = json.loads(files["manifest.json"])
    counts = manifest["counts"]
    assert counts["input_records"] == len(rows)
    reasons = {**counts["rejects_by_reason"], **counts["dropped_rows_by_reason"]}
    assert "duplicate_id" in reasons, reasons
    assert any(r.startswith("bad_value:") for r in reasons), reasons
    assert counts["kept_records"] > 0


def broken_records_json(tmp_path: Path) -> Path:
    """A 2.x to_disk folder whose records.json breaks off in element 200 of 300."""
    folder = tmp_path / "broken"
    shutil.copytree(DATA / "dolly-curated-v2-disk", folder)
    text = json.dumps(json.loads((folder / "records.json").read_text(encoding="utf-8")))
    (folder / "records.json").write_text(text[: len(text) * 2 // 3] + '}}}, {"fields": ', encoding="utf-8")
    return folder


def test_an_error_mid_source_is_the_same_error(small_chunks: None, tmp_path: Path) -> None:
    folder = broken_records_json(tmp_path)
    results = export_both_ways(load_spec(SPECS / "dolly-curated.yaml"), tmp_path, source=str(folder))
    assert results[3] == results[1]
    kind, message, written, _ = results[3]
    assert kind == "error" and "invalid JSON in array element 200" in message and not written
    assert not list(tmp_path.glob(".out-*"))  # no temporary folder left
    assert not multiprocessing.active_children()


def _dies(self: Any, item: Any) -> Any:
    os._exit(7)


def _fails(self: Any, item: Any) -> Any:
    raise ValueError("a bug in the build")


@pytest.mark.parametrize(
    "fault, error, message",
    [
        (_dies, CurateError, r"export worker \d stopped unexpectedly \(exit code 7\); nothing was written"),
        (_fails, RuntimeError, r"(?s)export worker \d failed:.*ValueError: a bug in the build"),
    ],
    ids=["dies", "raises"],
)
def test_a_worker_that_dies_or_fails_stops_the_export(
    small_chunks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Any, error: type, message: str
) -> None:
    entry = build_workers.BuildWorkers._entry

    def faulty_on_one_record(self: Any, item: Any) -> Any:
        if getattr(item, "id", None) == "dolly-0007":  # in the worker building it (a forked process)
            return fault(self, item)
        return entry(self, item)

    monkeypatch.setattr(build_workers.BuildWorkers, "_entry", faulty_on_one_record)
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        curate.export(load_spec(SPECS / "dolly-curated.yaml"), out, num_proc=3, on_warning=lambda w: None)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert not multiprocessing.active_children()


def test_ctrl_c_stops_the_workers_and_leaves_nothing(small_chunks: None, tmp_path: Path) -> None:
    from curate.api.export import prepare_export

    job = prepare_export(
        load_spec(SPECS / "dolly-curated.yaml"), tmp_path / "out", num_proc=3, on_warning=lambda w: None
    )

    def interrupt(n: int) -> None:
        if n == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.run(progress=interrupt)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    assert not multiprocessing.active_children()


def test_where_workers_cannot_read_the_source_one_process_builds_with_a_note(
    small_chunks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_workers.sys, "platform", "darwin")
    results = export_both_ways(load_spec(SPECS / "dolly-curated.yaml"), tmp_path)
    files, notes = results[3]
    assert files == results[1][0]
    assert notes == ["num_proc 3: the rows are built in this process (forked workers are used on Linux only)"]


def test_a_source_that_changes_under_the_workers_is_an_error(
    small_chunks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = build_workers.BuildWorkers._work

    def one_worker_reads_a_row_less(self: Any, channel: Any) -> None:
        if channel.index == 1:  # in that forked process only: as if the file lost its last row meanwhile
            rows = self.source._raw_rows
            self.source._raw_rows = lambda wanted: list(rows(wanted))[:-1]
        work(self, channel)

    monkeypatch.setattr(build_workers.BuildWorkers, "_work", one_worker_reads_a_row_less)
    out = tmp_path / "out"
    with pytest.raises(
        CurateError, match=r"the source changed while it was read \(one read saw \d+ rows, another"
    ):
        curate.export(load_spec(SPECS / "dolly-curated.yaml"), out, num_proc=3, on_warning=lambda w: None)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert not multiprocessing.active_children()
