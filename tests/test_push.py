"""`curate push` against the local Hub stand-in (tests/hub_standin.py, a test double: the Hub
cannot be reached from these machines). Real ``huggingface_hub`` calls, real exports."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from typer.testing import CliRunner

from curate.api.loader import load_spec
from curate.commands.app import app
from curate.errors import CurateError
from curate.manifest import Manifest
from curate.pipeline.plan import plan_export
from curate.pipeline.run import ExportOptions, run_export
from curate.records import ArgillaRecord, DatasetSettings, FieldInfo, QuestionInfo, QuestionKind, Response
from curate.sinks.hub import HubPublisher, HubTarget, PushJob, RetryPolicy, Stopped, push_every, push_once
from curate.sources.base import Source

sys.path.insert(0, str(Path(__file__).parent))
from _signals import default_stop_signals
from helpers import manifest_of
from hub_standin import HubStandIn

ROOT = Path(__file__).resolve().parents[1]
DOLLY = ROOT / "datasets_spec" / "dolly-curated.yaml"
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05)
PUSHED = {".gitattributes", "train.parquet", "test.parquet", "rejects.jsonl", "manifest.json", "README.md"}


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    return result


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a real Source over records held in memory (for incremental pushes) -------------------------

SETTINGS = DatasetSettings(
    fields={n: FieldInfo(n) for n in ("instruction", "context", "response")},
    questions={"answer": QuestionInfo("answer", QuestionKind.TEXT, required=False)},
)
TINY_SPEC = """\
name: tiny-sft
task: sft
license: mit
columns:
  instruction: [{field: instruction}]
  context: [{field: context}]
  response: [{question: answer}, {field: response}]
split: {train: 0.5, test: 0.5}
template: alpaca
"""


def record(rid: str, answer: str | None, updated: datetime, response: str = "") -> ArgillaRecord:
    responses = {}
    if answer is not None:
        responses["answer"] = (Response("ann-1", answer, "submitted", updated.isoformat()),)
    fields = {"instruction": f"instruction of {rid}", "context": "some context", "response": response}
    return ArgillaRecord(
        rid, fields, responses=responses, updated_at=updated.replace(tzinfo=None).isoformat()
    )


class MemorySource(Source):
    """Records in memory; ``since`` keeps those updated after it, as the live Argilla source does."""

    layout = "memory"

    def __init__(self, records: list[ArgillaRecord], since: str | None = None):
        super().__init__()
        self.settings = SETTINGS
        self.records = records
        self.since = (
            datetime.fromisoformat(since).astimezone(timezone.utc).replace(tzinfo=None) if since else None
        )

    @property
    def name(self) -> str:
        return "memory"

    def __iter__(self) -> Iterator[ArgillaRecord]:
        self.rows_read = 0  # a source counts what it reads (the manifest checks it)
        for r in self.records:
            if self.since is None or datetime.fromisoformat(r.updated_at or "") > self.since:
                self.rows_read += 1
                yield r


class MemoryExport:
    """An ExportFn over a MemorySource; remembers each ``since`` it was asked for."""

    def __init__(self, spec_path: Path, records: list[ArgillaRecord]):
        self.spec_file = load_spec(spec_path)
        self.records = records
        self.calls: list[tuple[str | None, int]] = []

    def __call__(self, out: Path, since: str | None) -> Manifest:
        source = MemorySource(self.records, since)
        options = ExportOptions(out_dir=out, allow_empty=since is not None)
        manifest = run_export(plan_export(self.spec_file, source), source, options)
        self.calls.append((since, manifest.counts.input_records))
        return manifest


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC, encoding="utf-8")
    return path


def memory_job(spec: Path, records: list[ArgillaRecord], **kw: Any) -> tuple[PushJob, MemoryExport]:
    export = MemoryExport(spec, records)
    job = PushJob(HubTarget("org/tiny"), export=export, spec_sha256=export.spec_file.sha256, **kw)
    return job, export


def rows_by_id(files: dict[str, bytes], tmp: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for split in ("train", "test"):
        path = tmp / f"{split}.parquet"
        path.write_bytes(files[f"{split}.parquet"])
        for row in pq.read_table(path).to_pylist():
            out.setdefault(row["record_id"], []).append({**row, "split": split})
    return out


# --- tests ---------------------------------------------------------------------------------------


def test_push_makes_one_commit_then_none_when_unchanged(hub: HubStandIn, tmp_path: Path) -> None:
    first = cli("push", str(DOLLY), "--repo", "org/dolly")
    assert first.exit_code == 0, first.output
    assert "pushed: org/dolly@main" in first.stdout
    commits = hub.commits_to("org/dolly")
    assert len(commits) == 1
    assert {op["path"] for op in commits[0].operations} == PUSHED - {".gitattributes"}
    assert {op["key"] for op in commits[0].operations if op["path"].endswith(".parquet")} == {"lfsFile"}

    # the Parquet files on the Hub are byte for byte what `curate export` writes
    local = tmp_path / "export"
    assert cli("export", str(DOLLY), "--out", str(local), "-q").exit_code == 0
    files = hub.files("org/dolly")
    assert set(files) == PUSHED
    for split in ("train", "test"):
        assert sha256(files[f"{split}.parquet"]) == sha256((local / f"{split}.parquet").read_bytes())
    assert files["rejects.jsonl"] == (local / "rejects.jsonl").read_bytes()

    again = cli("push", str(DOLLY), "--repo", "org/dolly")
    assert again.exit_code == 0, again.output
    assert "unchanged: org/dolly@main" in again.stdout and "no commit made" in again.stdout
    # the same data from an export folder is recognised too
    from_dir = cli("push", "--from-export", str(local), "--repo", "org/dolly")
    assert from_dir.exit_code == 0 and "unchanged" in from_dir.stdout
    assert len(hub.commits_to("org/dolly")) == 1
    # --always skips the fingerprint check: the manifest differs (no watermark), so a commit is made;
    # byte-identical files again make none (huggingface_hub never makes an empty commit)
    forced = cli("push", "--from-export", str(local), "--repo", "org/dolly", "--always")
    assert forced.exit_code == 0 and "pushed" in forced.stdout and len(hub.commits_to("org/dolly")) == 2
    same = cli("push", "--from-export", str(local), "--repo", "org/dolly", "--always")
    assert same.exit_code == 0 and "unchanged" in same.stdout and len(hub.commits_to("org/dolly")) == 2


def test_card_metadata_counts_and_loading(hub: HubStandIn, tmp_path: Path) -> None:
    assert cli("push", str(DOLLY), "--repo", "org/dolly").exit_code == 0
    files = hub.files("org/dolly")
    manifest = json.loads(files["manifest.json"])
    card = DatasetCard(files["README.md"].decode())
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-sa-3.0"
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert {"curate", "argilla", "trl", "sft"} <= set(meta["tags"])
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "train.parquet"},
                {"split": "test", "path": "test.parquet"},
            ],
        }
    ]
    assert meta["curate"]["fingerprint"] == manifest["fingerprint"]
    assert meta["curate"]["spec_sha256"] == load_spec(DOLLY).sha256
    body = card.text
    assert "300 records in, 297 kept, 3 rejected" in body
    assert "| train | 265 | 265 |" in body and "| test | 32 | 32 |" in body
    assert "| duplicate | 1 |" in body and "| missing:response | 2 |" in body
    assert "| new-response | krippendorff_alpha_nominal | 0.482 | 95 |" in body
    assert "| 2 | 87 |" in body  # 87 records had two annotators
    for text in (
        manifest["fingerprint"],
        load_spec(DOLLY).sha256,
        "template: `alpaca`",
        "text: `latest`",
        "dolly-curated-v1",
        'load_dataset("org/dolly")',
        "curate train sft",
    ):
        assert text in body
    assert manifest["hub"]["mode"] == "full" and manifest["hub"]["watermark"]
    assert manifest["counts"]["input_records"] == 300

    # the card's data_files load with `datasets` once downloaded
    from datasets import load_dataset

    for name in ("train.parquet", "test.parquet"):
        (tmp_path / name).write_bytes(files[name])
    ds = load_dataset(
        "parquet",
        data_files={s["split"]: str(tmp_path / s["path"]) for s in meta["configs"][0]["data_files"]},
    )
    assert ds["train"].num_rows == 265 and ds["test"].num_rows == 32
    assert {"prompt", "completion", "record_id"} <= set(ds["train"].column_names)


def test_no_token_in_uploads_or_output(
    hub: HubStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argilla_key = "argilla-key-0123456789"
    monkeypatch.setenv("ARGILLA_API_KEY", argilla_key)
    results = [
        cli("push", str(DOLLY), "--repo", "org/dolly", "--private"),
        cli("push", str(DOLLY), "--repo", "org/dolly"),
    ]
    other = tmp_path / "other"  # different content, so the third push reaches the commit endpoint
    assert (
        cli("export", str(DOLLY), "--out", str(other), "--split", "train=0.5,test=0.5", "-q").exit_code == 0
    )
    hub.fail("POST", "/commit/", 500, times=5)
    results.append(cli("push", "--from-export", str(other), "--repo", "org/dolly", "--retries", "1"))
    assert [r.exit_code for r in results] == [0, 0, 2]
    assert hub.repos["org/dolly"].private
    for secret in (hub.token, argilla_key):
        for r in results:
            assert secret not in r.output
        for commit in hub.objects.values():
            assert secret not in commit.message
            assert all(secret.encode() not in data for data in commit.files.values())
        assert all(secret.encode() not in blob for blob in hub.lfs.values())
    # and a private repo is invisible without the token
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).repo_info("org/dolly", repo_type="dataset")


def test_refuses_to_publish_a_credential(hub: HubStandIn, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert cli("export", str(DOLLY), "--out", str(out), "-q").exit_code == 0
    manifest = manifest_of(out)
    manifest["source"]["name"] = f"leaked {hub.token}"  # e.g. a source that put its key in a name
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = cli("push", "--from-export", str(out), "--repo", "org/leak")
    assert result.exit_code == 2
    assert "manifest.json: contains a credential" in result.output and hub.token not in result.output
    assert hub.commits == []


@pytest.mark.parametrize(
    "change", ["rows edited", "rejects emptied", "rejects removed", "split swapped for a link"]
)
def test_refuses_to_publish_an_export_changed_since_it_was_written(
    hub: HubStandIn, tmp_path: Path, change: str
) -> None:
    out = tmp_path / "export"
    assert cli("export", str(DOLLY), "--out", str(out), "-q").exit_code == 0
    if change == "rows edited":
        table = pq.read_table(out / "train.parquet")
        pq.write_table(table.slice(1), out / "train.parquet")  # a row dropped by hand
        changed = "train.parquet"
    elif change == "rejects emptied":
        (out / "rejects.jsonl").write_text("")
        changed = "rejects.jsonl"
    elif change == "rejects removed":
        (out / "rejects.jsonl").unlink()
        changed = "rejects.jsonl"
    else:
        (out / "train.parquet").rename(tmp_path / "elsewhere.parquet")
        (out / "train.parquet").symlink_to(tmp_path / "elsewhere.parquet")
        changed = "train.parquet"
    result = cli("push", "--from-export", str(out), "--repo", "org/edited")
    assert result.exit_code == 2, result.output
    assert f"{changed} differs from what curate wrote" in result.output and "Traceback" not in result.output
    assert hub.commits == [] and hub.requests == []  # refused before the Hub was asked anything


def _edit_manifest(out: Path, change: str) -> str:
    """Edit an export's manifest.json by hand (its files untouched); return the key that lies."""
    manifest = manifest_of(out)
    counts = manifest["counts"]
    if change == "train rows inflated":
        counts["rows_per_split"]["train"] += 1000
        key = "counts.rows_per_split.train"
    elif change == "a reject reason renamed":
        _, n = counts["rejects_by_reason"].popitem()
        counts["rejects_by_reason"]["reviewed_ok"] = n
        key = "counts.rejects_by_reason"
    elif change == "records moved from rejected to kept":  # totals kept consistent, as a forger would
        counts["rejected_records"] -= 1
        counts["kept_records"] += 1
        key = "counts.rejected_records"
    else:
        manifest["fingerprint"] = "0" * 64
        key = "fingerprint"
    (out / "manifest.json").write_text(json.dumps(manifest))
    return key


@pytest.mark.parametrize(
    "change",
    [
        "train rows inflated",
        "a reject reason renamed",
        "records moved from rejected to kept",
        "fingerprint zeroed",
    ],
)
def test_refuses_to_publish_a_manifest_edited_by_hand(hub: HubStandIn, tmp_path: Path, change: str) -> None:
    out = tmp_path / "export"
    assert cli("export", str(DOLLY), "--out", str(out), "-q").exit_code == 0
    key = _edit_manifest(out, change)
    result = cli("push", "--from-export", str(out), "--repo", "org/edited")
    assert result.exit_code == 2, result.output
    assert f"manifest.json: {key} says" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert hub.commits == [] and hub.requests == []


def test_429_then_success_is_exactly_one_commit(hub: HubStandIn, tiny_spec: Path) -> None:
    now = datetime.now(timezone.utc)
    job, _ = memory_job(
        tiny_spec, [record(f"r{i}", f"answer {i}", now - timedelta(days=1)) for i in range(6)]
    )
    hub.fail("POST", "/commit/", 429, headers={"Retry-After": "0"})
    log: list[str] = []
    result = push_once(job, HubPublisher(job.target), FAST, log.append)
    assert result.status == "pushed"
    assert len(hub.commits) == 1
    assert [s for m, p, s in hub.requests if m == "POST" and "/commit/" in p] == [429, 200]
    assert any("HTTP 429" in line and "retry 1/3" in line for line in log)


def test_lost_commit_reply_is_not_committed_twice(hub: HubStandIn, tiny_spec: Path) -> None:
    now = datetime.now(timezone.utc)
    job, _ = memory_job(tiny_spec, [record(f"r{i}", f"answer {i}", now) for i in range(4)])
    hub.fail("POST", "/commit/", 502, after=True)  # the commit lands, its reply does not
    result = push_once(job, HubPublisher(job.target), FAST, lambda m: None)
    assert result.status == "pushed"
    assert len(hub.commits) == 1 and result.commit == hub.commits[0].oid


def test_failure_midway_leaves_previous_snapshot(hub: HubStandIn, tmp_path: Path) -> None:
    assert cli("push", str(DOLLY), "--repo", "org/dolly").exit_code == 0
    before = hub.head("org/dolly")
    other = tmp_path / "other"  # different content: a different split
    assert (
        cli("export", str(DOLLY), "--out", str(other), "--split", "train=0.5,test=0.5", "-q").exit_code == 0
    )
    hub.fail("POST", "/commit/", 500, times=10)
    result = cli("push", "--from-export", str(other), "--repo", "org/dolly", "--retries", "2")
    assert result.exit_code == 2
    assert "failed, nothing committed: HTTP 500" in result.output
    assert len(result.output.strip().splitlines()[-1]) > 0 and "Traceback" not in result.output
    # the new Parquet files reached LFS storage (the push got that far), yet the branch is untouched
    assert sha256((other / "train.parquet").read_bytes()) in hub.lfs
    assert hub.head("org/dolly").oid == before.oid
    assert hub.files("org/dolly") == before.files
    assert len(hub.commits) == 1


def test_incremental_merges_by_record_id(hub: HubStandIn, tiny_spec: Path, tmp_path: Path) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=1)
    records = [record(f"r{i}", f"answer {i}", old) for i in range(1, 7)]
    job, export = memory_job(tiny_spec, records, incremental=True)
    publisher = HubPublisher(job.target)
    logs: list[str] = []
    first = push_once(job, publisher, FAST, logs.append)
    assert first.status == "pushed" and first.mode == "full"
    assert export.calls == [(None, 6)]
    assert "no previous curate snapshot" in logs[0]
    before = rows_by_id(hub.files("org/tiny"), tmp_path)

    # annotators change r2, make r3 unusable (answer removed, no fallback) and add r7
    now = datetime.now(timezone.utc)
    export.records[1] = record("r2", "answer 2, corrected", now)
    export.records[2] = record("r3", None, now)
    export.records.append(record("r7", "answer 7", now))
    second = push_once(job, publisher, FAST, logs.append)
    assert second.status == "pushed" and second.mode == "incremental"
    since, exported = export.calls[-1]
    assert since is not None and exported == 3  # only the records updated after the watermark
    files = hub.files("org/tiny")
    after = rows_by_id(files, tmp_path)
    assert sorted(after) == ["r1", "r2", "r4", "r5", "r6", "r7"]
    assert all(len(rows) == 1 for rows in after.values())  # no duplicates
    assert after["r2"][0]["response"] == "answer 2, corrected"
    for rid in ("r1", "r4", "r5", "r6"):
        assert after[rid] == before[rid]
    rejects = [json.loads(line) for line in files["rejects.jsonl"].decode().splitlines()]
    assert [(r["record_id"], r["reason"]) for r in rejects] == [("r3", "missing:response")]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["input_records"] == 7
    assert (manifest["counts"]["kept_records"], manifest["counts"]["rejected_records"]) == (6, 1)
    assert sum(manifest["counts"]["rows_per_split"].values()) == 6
    assert manifest["incremental"]["replaced_records"] == 2 and manifest["incremental"]["new_records"] == 1
    assert manifest["hub"]["mode"] == "incremental"
    assert "incremental snapshot" in files["README.md"].decode()

    # the merged snapshot holds the same rows as a full export of the current records
    full = tmp_path / "full"
    export(full, None)
    full_rows = {
        r["record_id"]: r for s in ("train", "test") for r in pq.read_table(full / f"{s}.parquet").to_pylist()
    }
    assert {
        rid: {k: v for k, v in rows[0].items() if k != "split"} for rid, rows in after.items()
    } == full_rows

    # nothing changed since: the overlap re-exports r2, r3, r7, the merge yields the same fingerprint
    third = push_once(job, publisher, FAST, logs.append)
    assert third.status == "unchanged" and export.calls[-1][1] == 3
    assert len(hub.commits) == 2


def test_since_needs_a_previous_snapshot(hub: HubStandIn, tiny_spec: Path) -> None:
    job, _ = memory_job(
        tiny_spec, [record("r1", "a", datetime.now(timezone.utc))], since="2026-01-01T00:00:00Z"
    )
    with pytest.raises(CurateError, match="no previous curate snapshot"):
        push_once(job, HubPublisher(job.target), FAST, lambda m: None)
    assert hub.commits == []


def test_stop_signal_before_commit_starts_none(hub: HubStandIn, tiny_spec: Path) -> None:
    job, export = memory_job(tiny_spec, [record("r1", "a", datetime.now(timezone.utc))])
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        push_once(job, HubPublisher(job.target), FAST, lambda m: None, stop)
    assert export.calls and hub.commits == []  # it exported, then did not start the commit


def test_every_survives_a_failed_round(hub: HubStandIn, tiny_spec: Path) -> None:
    job, _ = memory_job(tiny_spec, [record("r1", "a", datetime.now(timezone.utc))])
    hub.fail("POST", "/commit/", 503, times=2)
    stop = threading.Event()
    logs: list[str] = []

    def log(message: str) -> None:
        logs.append(message)
        if sum(m.startswith(("pushed", "unchanged", "push failed")) for m in logs) == 3:
            stop.set()

    failures = push_every(
        job, HubPublisher(job.target), 0.01, stop, RetryPolicy(attempts=2, base_s=0.01), log
    )
    rounds = [m.split(":")[0] for m in logs if m.startswith(("pushed", "unchanged", "push failed"))]
    assert rounds == ["push failed", "pushed", "unchanged"]
    assert failures == 1 and len(hub.commits) == 1


def test_every_stops_cleanly_on_sigterm(hub: HubStandIn, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": hub.token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    cmd = [
        sys.executable,
        "-m",
        "curate.commands.app",
        "push",
        str(DOLLY),
        "--repo",
        "org/dolly",
        "--every",
        "0.2s",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_stop_signals,  # whatever the test run's own signal set-up
    )

    def count(path: str) -> int:
        return sum(p == path for _, p, _ in hub.requests)

    def wait_for(condition: Callable[[], bool]) -> None:
        # generous bounds for a busy machine: each wait asserts it got there instead of going on
        deadline = time.monotonic() + 300
        while not condition() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert condition(), "the push loop did not get there"

    try:
        wait_for(lambda: count("/api/datasets/org/dolly/commit/main") >= 1)
        reads = count("/api/datasets/org/dolly/revision/main")
        # the next round has started: the signal lands inside the loop
        wait_for(lambda: count("/api/datasets/org/dolly/revision/main") >= reads + 2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in err and "stopped (0 failed rounds)" in err
    assert "pushed: org/dolly@main" in err
    assert len(hub.commits) == 1  # later rounds found nothing new; the stop started no commit
    assert hub.token not in out + err


def test_branch_and_cli_errors(hub: HubStandIn) -> None:
    result = cli("push", str(DOLLY), "--repo", "org/dolly", "--branch", "nightly")
    assert result.exit_code == 0, result.output
    assert "manifest.json" in hub.files("org/dolly", "nightly")
    assert set(hub.files("org/dolly", "main")) == {".gitattributes"}
    for args, message in [
        (["push", str(DOLLY), "--repo", "dolly"], "--repo: 'dolly' is not ORG/NAME"),
        (["push", "--repo", "org/x"], "give either a SPEC or --from-export"),
        (
            ["push", str(DOLLY), "--repo", "org/x", "--since", "2026-01-01", "--incremental"],
            "exclude each other",
        ),
        (["push", str(DOLLY), "--repo", "org/x", "--every", "soon"], "--every: 'soon' is not a duration"),
        (
            ["push", str(DOLLY), "--repo", "org/x", "--since", "yesterday"],
            "--since: 'yesterday' is not an ISO",
        ),
    ]:
        r = cli(*args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)


def test_no_token_is_a_clear_error(hub: HubStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    r = cli("push", str(DOLLY), "--repo", "org/dolly")
    assert r.exit_code == 2 and "no Hugging Face token" in r.output
    assert hub.requests == []


@pytest.mark.parametrize("status", [400, 500])
def test_a_hub_quoting_the_authorization_header_never_prints_the_token(hub: HubStandIn, status: int) -> None:
    # A 400 is the final error line; a 500 is first retried (one log line per retry), then final.
    hub.fail("POST", "/commit/", status, times=5, echo_auth=True)
    r = cli("push", str(DOLLY), "--repo", "org/dolly", "--retries", "2")
    assert r.exit_code == 2, r.output
    assert any("Authorization: Bearer ***" in line for line in r.output.splitlines()), r.output
    assert hub.token not in r.output
    assert hub.commits == []


@pytest.mark.parametrize("repo", ["org/..", "org/a..b", "org/x-", "org/" + "n" * 97])
def test_a_repo_id_the_hub_refuses_is_one_error_before_any_request(hub: HubStandIn, repo: str) -> None:
    r = cli("push", str(DOLLY), "--repo", repo)
    assert r.exit_code == 2, r.output
    assert f"--repo: {repo!r} is not a Hub repo id" in r.output and "Traceback" not in r.output
    assert r.output.count("\n") == 1 and hub.requests == []


@pytest.mark.parametrize("every", ["inf", "-inf", "nan", "1e400", "0", "-5", "0s", "32d", "1e-9"])
def test_every_must_be_a_finite_sane_interval(hub: HubStandIn, every: str) -> None:
    r = cli("push", str(DOLLY), "--repo", "org/dolly", "--every", every)
    assert r.exit_code == 2, r.output
    assert f"--every: {every!r}" in r.output and "Traceback" not in r.output
    assert r.output.count("\n") == 1 and hub.requests == []


HTML = b"<!doctype html><html><body><h1>Sign in to the proxy</h1></body></html>"


@pytest.mark.parametrize("where", ["repo create", "repo info", "preupload", "commit"])
def test_a_hub_answering_html_is_one_error(hub: HubStandIn, where: str) -> None:
    method, path = {
        "repo create": ("POST", "/api/repos/create"),
        "repo info": ("GET", "/api/datasets/org/dolly"),
        "preupload": ("POST", "/preupload/"),
        "commit": ("POST", "/commit/"),
    }[where]
    hub.fail(method, path, 200, times=10, headers={"Content-Type": "text/html"}, raw=HTML)
    r = cli("push", str(DOLLY), "--repo", "org/dolly", "--retries", "2")
    assert r.exit_code == 2, r.output
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("error: push to org/dolly@main failed, nothing committed"), r.output
    assert "not JSON" in last and "Traceback" not in r.output
    assert hub.commits == []


def test_incremental_drops_records_deleted_at_the_source(
    hub: HubStandIn, tiny_spec: Path, tmp_path: Path
) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=1)
    records = [record(f"r{i}", f"answer {i}", old) for i in range(1, 7)]
    records[2] = record("r3", None, old)  # rejected (missing:response): it sits in rejects.jsonl
    job, export = memory_job(tiny_spec, records, incremental=True)
    job.list_ids = lambda: {r.id for r in export.records}  # what the source holds now, ids only
    publisher = HubPublisher(job.target)
    logs: list[str] = []
    assert push_once(job, publisher, FAST, logs.append).mode == "full"

    # r4 is removed in Argilla (say, for personal data), r3 too; r7 is new
    export.records[:] = [r for r in export.records if r.id not in ("r3", "r4")]
    export.records.append(record("r7", "answer 7", datetime.now(timezone.utc)))
    second = push_once(job, publisher, FAST, logs.append)
    assert second.status == "pushed" and second.mode == "incremental"
    assert export.calls[-1][1] == 1  # the delta held only r7: the deletions came from the id listing
    files = hub.files("org/tiny")
    assert sorted(rows_by_id(files, tmp_path)) == ["r1", "r2", "r5", "r6", "r7"]
    assert files["rejects.jsonl"] == b""
    manifest = json.loads(files["manifest.json"])
    assert manifest["incremental"]["deleted_records"] == 2 and manifest["incremental"]["new_records"] == 1
    assert manifest["counts"]["input_records"] == 5 and manifest["counts"]["rejected_records"] == 0
    assert "incremental: 2 records no longer in the source dropped from the snapshot" in logs


def test_incremental_from_a_source_that_ignores_since_drops_what_it_no_longer_holds(
    hub: HubStandIn, tiny_spec: Path, tmp_path: Path
) -> None:
    """A file source re-reads everything (it has no update times): its delta is the whole source,
    so a record gone from the file is gone from the snapshot too."""
    old = datetime.now(timezone.utc) - timedelta(days=1)
    job, export = memory_job(tiny_spec, [record(f"r{i}", f"answer {i}", old) for i in range(1, 5)])
    job.incremental, job.filters_since = True, False
    job.export = lambda out, since: export(out, None)
    publisher = HubPublisher(job.target)
    assert push_once(job, publisher, FAST, lambda m: None).mode == "full"
    del export.records[1]
    assert push_once(job, publisher, FAST, lambda m: None).mode == "incremental"
    files = hub.files("org/tiny")
    assert sorted(rows_by_id(files, tmp_path)) == ["r1", "r3", "r4"]
    assert json.loads(files["manifest.json"])["incremental"]["deleted_records"] == 1
