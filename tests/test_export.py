"""`curate export` end to end: counts add up, output is reproducible and atomic, user mistakes
give one error line and no partial output."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
from helpers import DATA, SPECS, manifest_of, rejects_of

from curate.pipeline.run import assign_split

SPEC_NAMES = sorted(p.stem for p in SPECS.glob("*.yaml"))
TRL_COLUMNS = {
    "sft": ["instruction", "context", "response", "prompt", "completion"],
    "chat": ["messages"],
    "preference": ["prompt", "chosen", "rejected", "margin"],
    "prompt": ["prompt"],
    "text": ["text"],
    "unpaired": ["prompt", "completion", "label", "score"],
}
PROVENANCE = ["record_id", "source", "annotators", "statuses", "agreement"]


def _read_rows(out, split, fmt="parquet"):
    path = out / f"{split}.{fmt}"
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_every_record_is_accounted_for(cli, tmp_path, name):
    out = tmp_path / "out"
    result = cli("export", SPECS / f"{name}.yaml", "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    manifest = manifest_of(out)
    counts = manifest["counts"]
    rejects = rejects_of(out)
    record_rejects = [r for r in rejects if r.get("scope") != "row"]
    assert counts["input_records"] == counts["kept_records"] + counts["rejected_records"]
    assert counts["kept_records"] == sum(counts["records_per_split"].values())
    assert counts["rejected_records"] == len(record_rejects) == sum(counts["rejects_by_reason"].values())
    ids_by_split = {}
    for split in counts["records_per_split"]:
        rows = _read_rows(out, split)
        assert len(rows) == counts["rows_per_split"][split]
        ids_by_split[split] = {r["record_id"] for r in rows}
        assert len(ids_by_split[split]) == counts["records_per_split"][split]
        assert list(rows[0]) == TRL_COLUMNS[manifest["task"]] + PROVENANCE
    all_kept = set().union(*ids_by_split.values())
    assert sum(len(s) for s in ids_by_split.values()) == len(all_kept), "a record in two splits"
    rejected_ids = {r["record_id"] for r in record_rejects}
    assert not all_kept & rejected_ids
    assert all(r["reason"] and r["record_id"] for r in rejects)
    assert manifest["spec"]["sha256"] and manifest["fingerprint"]
    assert manifest["curate_version"]


def test_sft_rows_render_the_template_and_prefer_corrections(cli, tmp_path):
    out = tmp_path / "sft"
    assert cli("export", SPECS / "dolly-curated.yaml", "--out", out, "-q").exit_code == 0
    rows = {r["record_id"]: r for split in ("train", "test") for r in _read_rows(out, split)}
    source_rows = {r["external_id"]: r for r in pq.read_table(DATA / "dolly-curated-v1/data").to_pylist()}
    checked = 0
    for rid, row in rows.items():
        submitted = [r for r in source_rows[rid]["new-response"] if r["status"] == "submitted"]
        if submitted:
            assert row["response"] == submitted[-1]["value"]  # spec: text: latest
            checked += 1
        else:
            assert row["response"] == source_rows[rid]["original-response"]
        assert row["completion"] == row["response"]
        assert row["prompt"].endswith("### Response:\n")
        assert ("### Input:\n" in row["prompt"]) == bool(row["context"].strip())
        assert set(row["statuses"]) <= {"submitted", "draft", "discarded"}
        assert len(row["annotators"]) == len(row["statuses"])
    assert checked > 50


def test_drafts_and_discarded_never_count(cli, tmp_path):
    out = tmp_path / "sft"
    assert cli("export", SPECS / "dolly-curated.yaml", "--out", out, "-q").exit_code == 0
    source_rows = {r["external_id"]: r for r in pq.read_table(DATA / "dolly-curated-v1/data").to_pylist()}
    rows = [r for split in ("train", "test") for r in _read_rows(out, split)]
    draft_only = 0
    for row in rows:
        answers = source_rows[row["record_id"]]["new-response"]
        if answers and all(a["status"] != "submitted" for a in answers):
            draft_only += 1
            assert row["response"] == source_rows[row["record_id"]]["original-response"]
    assert draft_only > 0


def test_same_input_gives_byte_identical_output(cli, tmp_path):
    for fmt in ("parquet", "jsonl"):
        a, b = tmp_path / f"a-{fmt}", tmp_path / f"b-{fmt}"
        for out in (a, b):
            assert (
                cli(
                    "export", SPECS / "ultrafeedback-ranking.yaml", "--out", out, "--format", fmt, "-q"
                ).exit_code
                == 0
            )
        for path in sorted(a.iterdir()):
            assert path.read_bytes() == (b / path.name).read_bytes(), path.name


def test_fingerprint_is_format_independent(cli, tmp_path):
    manifests = []
    for fmt in ("parquet", "jsonl"):
        out = tmp_path / fmt
        assert cli("export", SPECS / "chat-review.yaml", "--out", out, "--format", fmt, "-q").exit_code == 0
        manifests.append(manifest_of(out))
    assert manifests[0]["fingerprint"] == manifests[1]["fingerprint"]
    assert _read_rows(tmp_path / "jsonl", "train", "jsonl") == _read_rows(tmp_path / "parquet", "train")


def test_preference_pairs_from_ranking(cli, tmp_path):
    out = tmp_path / "pairs"
    assert cli("export", SPECS / "ultrafeedback-ranking.yaml", "--out", out, "-q").exit_code == 0
    rows = _read_rows(out, "train") + _read_rows(out, "test")
    assert rows and all(r["margin"] >= 0.5 for r in rows)
    assert all(r["chosen"] != r["rejected"] for r in rows)
    # The demo's best response carries the domain explanation, the worst says "Not sure".
    assert sum("Not sure" in r["chosen"] for r in rows) < sum("Not sure" in r["rejected"] for r in rows) / 4


def test_chat_reply_completes_the_conversation(cli, tmp_path):
    out = tmp_path / "chat"
    assert cli("export", SPECS / "chat-review.yaml", "--out", out, "-q").exit_code == 0
    manifest = manifest_of(out)
    assert any("do not keep response status" in w for w in manifest["warnings"])
    assert manifest["quality"]["responses_by_status"].get("unknown", 0) > 0
    corrected = 0
    for row in _read_rows(out, "train"):
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert roles[1:] == ["user", "assistant"] * (len(roles) // 2)
        last = row["messages"][-1]["content"]
        assert last.startswith("It matters because") or last == "It just does."  # no counted correction
        corrected += last.startswith("It matters because")
    assert corrected > 50


def test_unknown_status_can_reject(cli, tmp_path):
    spec = tmp_path / "chat.yaml"
    text = (
        (SPECS / "chat-review.yaml")
        .read_text()
        .replace("unknown_status: submitted", "unknown_status: reject")
    )
    spec.write_text(text.replace("path: data/", f"path: {DATA}/"))
    out = tmp_path / "chat"
    assert cli("export", spec, "--out", out, "-q").exit_code == 0
    counts = manifest_of(out)["counts"]
    assert counts["rejects_by_reason"]["status_unknown"] > 0


def test_split_override_and_stability(cli, tmp_path):
    out = tmp_path / "o"
    assert (
        cli(
            "export", SPECS / "dolly-prompts.yaml", "--out", out, "--split", "train=0.5,dev=0.5", "-q"
        ).exit_code
        == 0
    )
    manifest = manifest_of(out)
    assert set(manifest["counts"]["records_per_split"]) == {"train", "dev"}
    for split in ("train", "dev"):
        for row in _read_rows(out, split):
            assert assign_split(row["record_id"], {"train": 0.5, "dev": 0.5}, 0) == split


def test_export_replaces_a_previous_export_only(cli, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = cli("export", SPECS / "dolly-prompts.yaml", "--out", out)
    assert result.exit_code == 2 and "holds files curate did not write there" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"
    shutil.rmtree(out)
    assert cli("export", SPECS / "dolly-prompts.yaml", "--out", out, "-q").exit_code == 0
    assert cli("export", SPECS / "dolly-prompts.yaml", "--out", out, "-q").exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failure_midway_leaves_no_partial_output(cli, tmp_path):
    """A records.json broken deep in the file: one error line naming where, nothing written."""
    src = tmp_path / "v2"
    shutil.copytree(DATA / "dolly-curated-v2-disk", src)
    records = json.loads((src / "records.json").read_text(encoding="utf-8"))
    text = json.dumps(records[:250], ensure_ascii=False)[:-1] + ', {"id": "dolly-0250", "fields": {'
    (src / "records.json").write_text(
        text + json.dumps(records[250:], ensure_ascii=False)[1:], encoding="utf-8"
    )
    out = tmp_path / "out"
    result = cli("export", SPECS / "dolly-curated.yaml", "--source", src, "--out", out)
    assert result.exit_code == 2
    assert "records.json: invalid JSON in array element 250" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3 and "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown_layout", "unknown layout"),
        ("missing_file", "no such file or folder"),
        ("malformed_yaml", "malformed YAML"),
        ("wrong_type", "split: split 'train': fraction must be a finite number, got 'lots'"),
        ("unknown_question", "unknown question 'new-reponse'"),
        ("bad_format", "--format: got 'xml', expected parquet, jsonl or csv"),
        ("bad_split", "--split: 'train' is not NAME=FRACTION"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(cli, tmp_path, setup, expected):
    spec = SPECS / "dolly-curated.yaml"
    args = []
    if setup == "unknown_layout":
        (tmp_path / "plain.jsonl").write_text('{"instruction": "hi", "output": "there"}\n')
        args = ["--source", tmp_path / "plain.jsonl"]
    elif setup == "missing_file":
        args = ["--source", tmp_path / "nope"]
    elif setup in ("malformed_yaml", "wrong_type", "unknown_question"):
        text = spec.read_text().replace("path: data/", f"path: {DATA}/")
        text = {
            "malformed_yaml": text.replace("columns:", "columns: [", 1),
            "wrong_type": text.replace("train: 0.9", "train: lots"),
            "unknown_question": text.replace("question: new-response", "question: new-reponse"),
        }[setup]
        spec = tmp_path / "spec.yaml"
        spec.write_text(text)
    elif setup == "bad_format":
        args = ["--format", "xml"]
    elif setup == "bad_split":
        args = ["--split", "train"]
    out = tmp_path / "out"
    result = cli("export", spec, "--out", out, *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert not out.exists()


def test_exports_from_two_checkouts_are_identical(cli, tmp_path):
    """Nothing machine-specific (absolute paths, times) leaks into the output."""
    outs = []
    for name in ("one", "two"):
        copy = tmp_path / name / "datasets_spec"
        shutil.copytree(SPECS, copy)
        out = tmp_path / name / "out"
        assert cli("export", copy / "chat-review.yaml", "--out", out, "-q").exit_code == 0
        outs.append(out)
    for path in sorted(outs[0].iterdir()):
        assert path.read_bytes() == (outs[1] / path.name).read_bytes(), path.name
