"""``curate push --incremental`` from the real Argilla server to the local Hub stand-in: a record
deleted in Argilla (say, for personal data) leaves the published snapshot at the next
incremental round, without waiting for a full push."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from live_helpers import WORKSPACE, Server, build_sft, record_ids

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_standin import HubStandIn

pytestmark = pytest.mark.argilla_server

SPEC = """\
name: live-push
task: sft
source:
  argilla: {{dataset: {dataset}, workspace: {workspace}}}
responses:
  statuses: [submitted, draft, discarded]
unify:
  text: first_submitted
columns:
  instruction: {{field: instruction}}
  context: {{field: context}}
  response: [{{question: corrected_response}}, {{field: response}}]
split: {{train: 1.0}}
"""


def published(hub: HubStandIn, tmp_path: Path) -> tuple[list[str], dict[str, Any]]:
    files = hub.files("org/live")
    (tmp_path / "train.parquet").write_bytes(files["train.parquet"])
    ids = sorted(pq.read_table(tmp_path / "train.parquet").column("record_id").to_pylist())
    rejected = [json.loads(line)["record_id"] for line in files["rejects.jsonl"].decode().splitlines()]
    return ids + [f"rejected:{r}" for r in sorted(rejected)], json.loads(files["manifest.json"])


def test_incremental_push_drops_a_record_deleted_in_argilla(
    argilla: Server, hub: HubStandIn, cli: Any, tmp_path: Path
) -> None:
    dataset = build_sft(argilla, "push-live")  # its own dataset: this test deletes from it
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(dataset="push-live", workspace=WORKSPACE))
    auth = ["--api-url", argilla.url, "--api-key", argilla.api_key]
    first = cli("push", spec, "--repo", "org/live", "--incremental", *auth)
    assert first.exit_code == 0, first.stderr
    before, _ = published(hub, tmp_path)
    assert "r3" in before and len(before) == 5, before

    with argilla.http() as http:
        gone = http.delete(f"/api/v1/records/{record_ids(argilla, dataset)['r3']}")
    assert gone.status_code == 200, gone.text
    second = cli("push", spec, "--repo", "org/live", "--incremental", *auth)
    assert second.exit_code == 0, second.stderr
    assert "incremental: 1 records no longer in the source dropped from the snapshot" in second.stderr
    assert "pushed: org/live@main" in second.stdout and "(incremental," in second.stdout
    after, manifest = published(hub, tmp_path)
    assert after == [r for r in before if r != "r3"]
    assert manifest["incremental"]["deleted_records"] == 1
    assert manifest["counts"]["input_records"] == 4 and manifest["hub"]["mode"] == "incremental"
    # the published rows are those of a full export now
    full = tmp_path / "full"
    assert cli("export", spec, "--out", full, "-q", *auth).exit_code == 0

    def by_id(path: Path) -> dict[str, dict[str, Any]]:
        return {row["record_id"]: row for row in pq.read_table(path).to_pylist()}

    assert by_id(tmp_path / "train.parquet") == by_id(full / "train.parquet")
