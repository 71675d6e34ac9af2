"""``curate export`` from the live server: same export as from the dataset's ``to_disk`` folder,
clear errors (wrong key, server killed mid-export) and no partial output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import argilla as rg
import pytest
from helpers import manifest_of
from live_helpers import WORKSPACE, Server

from curate.sources import argilla_api, argilla_live

pytestmark = pytest.mark.argilla_server

SPEC = """\
name: live-sft
task: sft
source:
  argilla: {{dataset: sft-live, workspace: {workspace}, page_size: {page_size}}}
responses:
  statuses: [submitted, draft, discarded]   # to_disk loses statuses: count all of them on both sides
  unknown_status: submitted
unify:
  text: first_submitted
columns:
  instruction: {{field: instruction}}
  context: {{field: context}}
  response: [{{question: corrected_response}}, {{field: response}}]
"""


def write_spec(tmp_path: Path, page_size: int = 1000) -> Path:
    spec = tmp_path / "live-sft.yaml"
    spec.write_text(SPEC.format(workspace=WORKSPACE, page_size=page_size))
    return spec


def rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "train.jsonl").read_text().splitlines()]


def test_live_export_equals_to_disk_export(
    argilla: Server, sft_dataset: rg.Dataset, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # --num-proc 2 is not capped on a 1-CPU machine
    spec = write_spec(tmp_path)
    live = tmp_path / "live"
    result = cli(
        "export",
        spec,
        "--out",
        live,
        "--format",
        "jsonl",
        "--api-url",
        argilla.url,
        "--api-key",
        argilla.api_key,
        "-q",
        "--num-proc",
        "2",
    )
    assert result.exit_code == 0, result.stderr
    # workers would each read the server again: one process builds the rows
    assert (
        "--num-proc 2: the rows are built in this process (each worker would read the live server again)"
        in " ".join(result.stderr.split())
    )
    disk = tmp_path / "disk"
    disk.mkdir()
    sft_dataset.to_disk(str(disk))
    from_disk = tmp_path / "from-disk"
    result = cli(
        "export", spec, "--source", disk, "--out", from_disk, "--format", "jsonl", "-q", "--num-proc", "2"
    )
    assert result.exit_code == 0 and "--num-proc" not in result.stderr, (
        result.stderr
    )  # forked workers built them
    live_rows, disk_rows = rows(live), rows(from_disk)
    assert [r["record_id"] for r in live_rows] == ["r1", "r2", "r3", "r4", "r5"]
    by_id = {r["record_id"]: r for r in live_rows}
    assert by_id["r2"]["response"] == "4"  # ann1's submitted correction (first_submitted)
    assert by_id["r1"]["response"] == "Paris."  # no correction: the field
    # the same canonical rows; only where they came from and the statuses (lost by to_disk) differ
    differ = {"source", "statuses"}
    assert [{k: v for k, v in r.items() if k not in differ} for r in live_rows] == [
        {k: v for k, v in r.items() if k not in differ} for r in disk_rows
    ]
    assert sorted(by_id["r2"]["statuses"]) == ["discarded", "draft", "submitted"]
    manifest = manifest_of(live)
    text = json.dumps(manifest)
    assert argilla.api_key not in text and argilla.url in text


def test_wrong_key_exits_2_without_printing_the_key(argilla: Server, tmp_path: Path, cli: Any) -> None:
    wrong = "curate.not-the-key-987654321"
    out = tmp_path / "out"
    result = cli("export", write_spec(tmp_path), "--out", out, "--api-url", argilla.url, "--api-key", wrong)
    assert result.exit_code == 2
    assert "API key was rejected (HTTP 401)" in result.stderr
    assert wrong not in result.stderr + result.stdout
    assert not out.exists()


def test_server_killed_mid_export_leaves_no_output(
    argilla: Server, sft_dataset: rg.Dataset, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(argilla_api, "BACKOFF_BASE_S", 0.01)
    seen: list[str] = []
    original = argilla_live.ArgillaServerSource.to_record

    def to_record_then_crash(self: Any, raw: Any) -> Any:
        seen.append(raw["external_id"])
        if len(seen) == 2:
            argilla.harness.kill_server()  # the real server dies between pages
        return original(self, raw)

    monkeypatch.setattr(argilla_live.ArgillaServerSource, "to_record", to_record_then_crash)
    out = tmp_path / "out"
    try:
        result = cli("export", write_spec(tmp_path, page_size=1), "--out", out, "--api-url", argilla.url,
                     "--api-key", argilla.api_key, "-q")  # fmt: skip
    finally:
        argilla.harness.start_server()
    assert result.exit_code == 2, result.stdout
    assert "failed after 5 attempts" in result.stderr and "is the server up?" in result.stderr
    assert argilla.api_key not in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live-sft.yaml"]  # no temp folder left either
