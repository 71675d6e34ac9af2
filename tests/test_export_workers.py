"""``--num-proc N`` without a tokenizer: forked workers build the rows. Every file of the export
(rows, rejects, manifest) is byte-identical to one process's: for every shipped spec, for sources
full of hostile rows, duplicate and missing ids, and duplicates; errors are the same error at the
same place; a worker that dies or fails, Ctrl-C, and signals to a real `curate export` (to it, to
its process group, to a worker) stop it with one error line, leaving no process and nothing behind."""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA, HOSTILE, LAYOUTS, SPECS, key_paths, replaced

import curate
import curate.pipeline.build_workers as build_workers
from curate.errors import CurateError
from curate.pipeline import run
from curate.pipeline.executor import WORKER_NAME
from curate.sources import argilla_v2
from curate.sources import rows as file_readers

ID_KEYS = ("id", "external_id")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 4 rows, read in batches of 2 (column-wise, a chunk is a batch): every bundled
    source is many chunks, spread over the workers, and each worker reads the others' batches by
    their ids only."""
    monkeypatch.setattr(file_readers, "BATCH_ROWS", 2)
    monkeypatch.setattr(argilla_v2, "COLUMN_BATCH", 2)
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
    spec = curate.Spec.from_yaml(SPECS / name)
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


@pytest.mark.parametrize("column_wise", [True, False], ids=["column-wise", "row by row"])
@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
def test_hostile_rows_give_the_same_bytes(
    small_chunks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str, column_wise: bool
) -> None:
    """Workers build as one process does: column-wise where the source reads in batches (both the
    workers and one process), else row by row."""
    monkeypatch.setattr(run, "COLUMN_WISE", column_wise)
    spec_name, make = LAYOUTS[layout]
    records, write = make(tmp_path)
    rows = hostile_rows(records)
    folder = write(rows)
    results = export_both_ways(curate.Spec.from_yaml(SPECS / spec_name), tmp_path, source=str(folder))
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
    results = export_both_ways(
        curate.Spec.from_yaml(SPECS / "dolly-curated.yaml"), tmp_path, source=str(folder)
    )
    assert results[3] == results[1]
    kind, message, written, _ = results[3]
    assert kind == "error" and "invalid JSON in array element 200" in message and not written
    assert not list(tmp_path.glob(".out-*"))  # no temporary folder left
    assert not multiprocessing.active_children()


def _dies(self: Any, rows: Any) -> Any:
    os._exit(7)


def _fails(self: Any, rows: Any) -> Any:
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
    row_entries = build_workers.BuildWorkers._row_entries

    def faulty_on_one_record(self: Any, rows: list[dict[str, Any]]) -> Any:
        if any(row["record_id"] == "dolly-0007" for row in rows):  # in the worker building it
            return fault(self, rows)
        return row_entries(self, rows)

    monkeypatch.setattr(build_workers.BuildWorkers, "_row_entries", faulty_on_one_record)
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        curate.export(
            curate.Spec.from_yaml(SPECS / "dolly-curated.yaml"), out, num_proc=3, on_warning=lambda w: None
        )
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert not multiprocessing.active_children()


def test_ctrl_c_stops_the_workers_and_leaves_nothing(small_chunks: None, tmp_path: Path) -> None:
    from curate.api.export import prepare_export

    job = prepare_export(
        curate.Spec.from_yaml(SPECS / "dolly-curated.yaml"),
        tmp_path / "out",
        num_proc=3,
        on_warning=lambda w: None,
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
    results = export_both_ways(curate.Spec.from_yaml(SPECS / "dolly-curated.yaml"), tmp_path)
    files, notes = results[3]
    assert files == results[1][0]
    assert notes == ["num_proc 3: the rows are built in this process (forked workers are used on Linux only)"]


def test_a_source_that_changes_under_the_workers_is_an_error(
    small_chunks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = build_workers.BuildWorkers._work

    def one_worker_reads_a_row_less(self: Any, channel: Any) -> None:
        if channel.index == 1:  # in that forked process only: as if the file lost its last row meanwhile
            rows, columns = self.source._raw_rows, self.source._raw_columns
            self.source._raw_rows = lambda wanted: list(rows(wanted))[:-1]

            def a_row_less(wanted: Any) -> Any:  # the same, read column-wise
                batches = list(columns(wanted))
                batches[-1].ids.pop()
                return iter(batches)

            self.source._raw_columns = a_row_less
        work(self, channel)

    monkeypatch.setattr(build_workers.BuildWorkers, "_work", one_worker_reads_a_row_less)
    out = tmp_path / "out"
    with pytest.raises(
        CurateError, match=r"the source changed while it was read \(one read saw \d+ rows, another"
    ):
        curate.export(
            curate.Spec.from_yaml(SPECS / "dolly-curated.yaml"), out, num_proc=3, on_warning=lambda w: None
        )
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert not multiprocessing.active_children()


# ---------------------------------------------------------------- signals, in a real `curate export`
#
# Each case starts `curate export --num-proc 2` in a process of its own on a source big enough to
# be mid-run once both workers exist (readiness: the exporting process's worker children are there,
# not a sleep), sends one signal, and checks the exit code, that stderr is one `error:` line, that
# no process is left and that nothing (no --out, no temporary folder) is left behind. Each case
# runs REPEATS times: the orderings differ from run to run (where each process is when it lands).

REPEATS = 5
TOKENIZER_REPEATS = 3  # each run loads the tokenizer libraries in three processes: the slowest case
BIG_COPIES = 100  # copies of the bundled 300-record Dolly review: 30,000 records
WAIT_S = 120  # a bound for a busy machine to get somewhere; never a timing the test relies on


@pytest.fixture(scope="module")
def big_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dolly-curated.yaml without its filters (the copies are kept, not dropped as duplicates: there
    are many chunks to tokenize) over the bundled 1.x Dolly review repeated BIG_COPIES times under new ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("big")
    source = DATA / "dolly-curated-v1"
    (folder / "big-v1" / "data").mkdir(parents=True)
    shutil.copy(source / "argilla.yaml", folder / "big-v1" / "argilla.yaml")
    table = pq.read_table(source / "data" / "train-00000-of-00001.parquet")
    table = pa.concat_tables([table] * BIG_COPIES)
    ids = pa.array([f"big-{i:06d}" for i in range(table.num_rows)])
    table = table.set_column(table.schema.get_field_index("external_id"), "external_id", ids)
    pq.write_table(table, folder / "big-v1" / "data" / "train-00000-of-00001.parquet")
    text = (SPECS / "dolly-curated.yaml").read_text(encoding="utf-8")
    head, tail = text.split("filters:")
    head = head.replace("path: data/dolly-curated-v1", "path: big-v1")
    text = head + "filters:\n  dedup: none\n" + tail[tail.index("split:") :]
    (folder / "big.yaml").write_text(text, encoding="utf-8")
    return folder / "big.yaml"


def default_signals() -> None:
    """In the export's process, before exec: the dispositions a shell gives a command, whatever
    pytest was started with (under nohup SIGHUP is ignored, and an ignored signal stays ignored)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def start_export(spec: Path, out: Path, *flags: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "curate.commands.app",
        "export",
        str(spec),
        "--out",
        str(out),
        "-q",
        "--num-proc",
        "2",
    ]
    return subprocess.Popen(
        [*cmd, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: signals to this test's process group miss it
        preexec_fn=default_signals,
    )


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name, in brackets, may hold spaces
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def is_worker(pid: int) -> bool:
    """A worker that has taken its name, which it does once it has dropped the exporting process's
    signal handlers (not multiprocessing's resource tracker, nor a child about to exec)."""
    try:
        return Path(f"/proc/{pid}/comm").read_bytes().strip() == WORKER_NAME
    except OSError:
        return False


def wait_for_workers(proc: subprocess.Popen[str], n: int = 2) -> tuple[list[int], list[int]]:
    """The export's workers once all ``n`` exist, and all its children (the tracker too)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        kids = children(proc.pid)
        workers = [pid for pid in kids if is_worker(pid)]
        if len(workers) >= n:
            return workers, kids
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"no {n} workers came (exit {proc.poll()}): {proc.communicate()[1]}")


def gone(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is None or stat[0] == "Z"  # a zombie has ended (its new parent reaps it)


def assert_all_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and not all(gone(pid) for pid in pids):
        time.sleep(0.01)
    assert [pid for pid in pids if not gone(pid)] == []


def finish(proc: subprocess.Popen[str]) -> str:
    try:
        _, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the export hung after the signal: {proc.communicate()[1]}") from None
    return err


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def nothing_left(parent: Path) -> None:
    assert not (parent / "out").exists()
    assert not [p.name for p in parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("repeat", range(REPEATS))
@pytest.mark.parametrize(
    "target, sig",
    [
        ("export", signal.SIGTERM),
        ("group", signal.SIGTERM),  # what `timeout` sends: to the export's whole process group
        ("worker", signal.SIGTERM),
        ("worker", signal.SIGKILL),
    ],
)
def test_a_signal_mid_export_stops_everything_with_one_line(
    big_spec: Path, tmp_path: Path, target: str, sig: signal.Signals, repeat: int
) -> None:
    proc = start_export(big_spec, tmp_path / "out")
    workers, kids = wait_for_workers(proc)
    if target == "group":
        os.killpg(proc.pid, sig)  # its workers are in groups of their own: the export stops them
    else:
        os.kill(proc.pid if target == "export" else workers[repeat % 2], sig)
    err = finish(proc)
    line = one_error_line(err)
    if target in ("export", "group"):
        assert proc.returncode == 128 + sig, err
        assert line == f"error: stopped by {sig.name} (nothing half-written is left)"
    else:
        assert proc.returncode == 2, err
        assert re.fullmatch(
            rf"error: export worker [01] stopped unexpectedly \(killed by {sig.name}\); nothing was written",
            line,
        )
    assert_all_gone(kids)
    nothing_left(tmp_path)


@pytest.mark.parametrize("repeat", range(REPEATS))
def test_a_killed_export_takes_its_workers_with_it(big_spec: Path, tmp_path: Path, repeat: int) -> None:
    out = tmp_path / "out"
    proc = start_export(big_spec, out)
    _, kids = wait_for_workers(proc)
    proc.kill()
    assert finish(proc) == "" and proc.returncode == -signal.SIGKILL
    assert_all_gone(kids)  # the workers did not stay, blocked on a pipe nobody reads
    assert not out.exists()
    # What a SIGKILL leaves, the temporary folder, is curate's to clean up, and the next run does.
    left = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert [p.name for p in left] == [f".out.tmp-{proc.pid}"]
    notes: list[str] = []
    curate.export(
        curate.Spec.from_yaml(big_spec), out, source=str(DATA / "dolly-curated-v1"), on_note=notes.append
    )
    assert any(f".out.tmp-{proc.pid}" in note for note in notes), notes
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("repeat", range(TOKENIZER_REPEATS))
def test_a_killed_tokenizer_worker_stops_the_export_with_one_line(
    big_spec: Path, bpe_tokenizer: Path, tmp_path: Path, repeat: int
) -> None:
    proc = start_export(big_spec, tmp_path / "out", "--tokenizer", str(bpe_tokenizer))
    workers, kids = wait_for_workers(proc)
    os.kill(workers[repeat % 2], signal.SIGKILL)
    err = finish(proc)
    assert proc.returncode == 2, err
    line = one_error_line(err)
    assert re.fullmatch(
        r"error: export worker [01] stopped unexpectedly \(killed by SIGKILL\); nothing was written", line
    )
    assert_all_gone(kids)
    nothing_left(tmp_path)


def test_a_stop_signal_while_a_worker_starts_is_taken_once_it_has_started() -> None:
    """A handler run in the middle of a start would raise where the exception is lost (a fork's
    at-fork hooks) or leave a spawned child half-started: it runs right after instead."""
    import threading

    from curate.errors import Interrupted
    from curate.pipeline.executor import _signals_held

    def stop(signum: int, frame: Any) -> None:
        raise Interrupted(signum, "SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    steps = []
    try:
        with pytest.raises(Interrupted), _signals_held():
            os.kill(os.getpid(), signal.SIGTERM)  # this thread: blocked, waiting in the kernel
            other = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGTERM))
            other.start()  # another thread's: taken there, its handler held
            other.join()
            steps.append("started")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert steps == ["started"]
