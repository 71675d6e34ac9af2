"""The adjudication loop against the real server: two annotators disagree (a label tie under
``majority``, a ranking disagreement), ``curate argilla review`` sends exactly those records to a
review dataset with both versions visible, a scripted reviewer answers some, and the next export
keeps them with the reviewer's values and provenance while the unreviewed ones stay rejected. The
same result from the ``to_disk`` exports of both datasets; re-running ``review`` neither
duplicates nor resets; mismatched review datasets, wrong-kind answers and a dead server are one
``error:`` line each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import argilla as rg
import pytest
from helpers import manifest_of, rejects_of, split_rows
from live_helpers import WORKSPACE, Server, record_ids, respond

pytestmark = pytest.mark.argilla_server

SOURCE, REVIEW = "pairs-live", "pairs-review"

SPEC = """\
name: review-live
task: preference
source:
  argilla: {{dataset: {source}, workspace: {workspace}}}
unify:
  ranking: majority        # two annotators ranking differently tie
columns:
  prompt: {{field: prompt}}
  context: {{question: topic}}
pairs:
  from: ranking
  question: rank
  candidates:
    a: {{text: {{field: a}}}}
    b: {{text: {{field: b}}}}
review: {{dataset: {review}, workspace: {workspace}}}
template: alpaca
"""

GEO_AB = {"topic": "geo", "rank": [{"value": "a", "rank": 1}, {"value": "b", "rank": 2}]}
PROMPTS = {f"p{i}": f"Question {i}?" for i in range(1, 7)}
# (record, ann1's answers, ann2's answers): p1 agree; p2 topic tie; p3 ranking tie; p4 both; p5 one
# annotator; p6 a topic tie nobody reviews
ANSWERS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("p1", GEO_AB, GEO_AB),
    ("p2", GEO_AB, {**GEO_AB, "topic": "math"}),
    ("p3", GEO_AB, {**GEO_AB, "rank": [{"value": "b", "rank": 1}, {"value": "a", "rank": 2}]}),
    ("p4", GEO_AB, {"topic": "math", "rank": [{"value": "b", "rank": 1}, {"value": "a", "rank": 2}]}),
    ("p5", GEO_AB, None),
    ("p6", {**GEO_AB, "topic": "math"}, GEO_AB),
]
# the reviewer's answers (p6 is left alone)
REVIEWED = {
    "p2": {"topic": "math"},
    "p3": {"rank": [{"value": "b", "rank": 1}, {"value": "a", "rank": 2}]},
    "p4": {"topic": "other", "rank": [{"value": "a", "rank": 1}, {"value": "b", "rank": 2}]},
}


def settings() -> rg.Settings:
    return rg.Settings(
        fields=[rg.TextField(name="prompt"), rg.TextField(name="a"), rg.TextField(name="b")],
        questions=[
            rg.LabelQuestion(name="topic", labels=["geo", "math", "other"]),
            rg.RankingQuestion(name="rank", values=["a", "b"]),
        ],
    )


@pytest.fixture(scope="module")
def pairs(argilla: Server) -> rg.Dataset:
    client = argilla.client()
    dataset = rg.Dataset(name=SOURCE, workspace=WORKSPACE, settings=settings(), client=client).create()
    dataset.records.log(
        [
            rg.Record(id=rid, fields={"prompt": text, "a": f"A to {rid}", "b": f"B to {rid}"})
            for rid, text in PROMPTS.items()
        ]
    )
    ids = record_ids(argilla, dataset)
    for rid, first, second in ANSWERS:
        respond(argilla, "ann1", ids[rid], first, "submitted")
        if second is not None:
            respond(argilla, "ann2", ids[rid], second, "submitted")
    return dataset


def auth(argilla: Server) -> list[str]:
    return ["--api-url", argilla.url, "--api-key", argilla.api_key]


def review_records(argilla: Server) -> dict[str, dict[str, Any]]:
    """The review dataset's records by external id, with responses and suggestions."""
    client = argilla.client()
    dataset = client.datasets(REVIEW, workspace=WORKSPACE)
    with argilla.http() as http:
        page = http.get(
            f"/api/v1/datasets/{dataset.id}/records",
            params={"limit": 1000, "include": "responses,suggestions"},
        ).json()
    return {item["external_id"]: item for item in page["items"]}


def rows(folder: Path) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in split_rows(folder, "train")}


def rejects(folder: Path) -> dict[str, str]:
    return {r["record_id"]: r["reason"] for r in rejects_of(folder) if r.get("scope") != "row"}


@pytest.fixture(scope="module")
def loop(argilla: Server, pairs: rg.Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Export before review, send to review, a scripted reviewer answers, export again."""
    from typer.testing import CliRunner

    from curate.commands.app import app

    runner = CliRunner()

    def cli(*args: Any) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    tmp = tmp_path_factory.mktemp("review-loop")
    spec = tmp / "review-live.yaml"
    spec.write_text(SPEC.format(source=SOURCE, review=REVIEW, workspace=WORKSPACE))
    plain = tmp / "plain.yaml"  # the same spec before it names a review
    plain.write_text(
        "\n".join(line for line in spec.read_text().splitlines() if not line.startswith("review:"))
    )
    before = tmp / "before"
    assert cli("export", plain, "--out", before, "--format", "jsonl", "-q", *auth(argilla)).exit_code == 0
    sent = cli("argilla", "review", spec, "--to", REVIEW, *auth(argilla))
    assert sent.exit_code == 0, sent.stderr
    shown = review_records(argilla)
    # the reviewer answers as the UI does: one response per record, with their own key
    ids = {rid: item["id"] for rid, item in shown.items()}
    for rid, values in REVIEWED.items():
        respond(argilla, "ann3", ids[rid], {**values, "review_decision": "decided"}, "submitted")
    after = tmp / "after"
    done = cli("export", spec, "--out", after, "--format", "jsonl", "-q", *auth(argilla))
    assert done.exit_code == 0, done.stderr
    again = cli("argilla", "review", spec, *auth(argilla))
    return {"tmp": tmp, "spec": spec, "before": before, "sent": sent, "shown": shown, "after": after,
            "again": again, "cli": cli}  # fmt: skip


def test_review_sends_exactly_the_disagreements_with_both_versions(
    argilla: Server, loop: dict[str, Any]
) -> None:
    assert rejects(loop["before"]) == {
        "p2": "tie:topic",
        "p3": "tie:rank",
        "p4": "tie:topic",
        "p6": "tie:topic",
    }
    shown = loop["shown"]
    assert sorted(shown) == ["p2", "p3", "p4", "p6"]
    assert "4 records sent to review (tie:rank 1, tie:topic 3)" in loop["sent"].stderr
    p4 = shown["p4"]
    assert p4["fields"]["prompt"] == "Question 4?" and p4["fields"]["a"] == "A to p4"
    topic = p4["fields"]["versions_topic"]
    assert "**ann1** (submitted): geo" in topic and "**ann2** (submitted): math" in topic
    assert "majority: no answer (tie)" in topic
    rank = p4["fields"]["versions_rank"]
    assert "**ann1** (submitted): 1. a · 2. b" in rank and "**ann2** (submitted): 1. b · 2. a" in rank
    assert p4["metadata"] == {"annotator_agreement": 0.0, "review_reason": "tie:topic"}
    # p3's topic is agreed: the strategy's answer is the suggestion the reviewer may accept
    with argilla.http() as http:
        dataset = argilla.client().datasets(REVIEW, workspace=WORKSPACE)
        questions = {
            q["id"]: q["name"] for q in http.get(f"/api/v1/datasets/{dataset.id}/questions").json()["items"]
        }
    suggested = {questions[s["question_id"]]: (s["value"], s["agent"]) for s in shown["p3"]["suggestions"]}
    assert suggested == {"topic": ("geo", "curate:majority")}
    assert shown["p3"]["metadata"]["annotator_agreement"] == 0.5


def test_reviewed_answers_win_and_the_rest_stay_rejected(argilla: Server, loop: dict[str, Any]) -> None:
    after = loop["after"]
    kept, rejected = rows(after), rejects(after)
    assert rejected == {"p6": "tie:topic"}
    assert sorted(kept) == ["p1", "p2", "p3", "p4", "p5"]  # every input record in a split or rejected
    ann3 = argilla.annotators["ann3"]
    assert kept["p2"]["prompt"].count("math") == 1 and kept["p2"]["chosen"] == "A to p2"
    assert kept["p3"]["chosen"] == "B to p3" and kept["p3"]["rejected"] == "A to p3"
    assert "other" in kept["p4"]["prompt"] and kept["p4"]["chosen"] == "A to p4"
    for rid in ("p2", "p3", "p4"):
        assert kept[rid]["reviewed_by"] == ann3 and kept[rid]["review_status"] == "reviewed"
    assert kept["p1"]["reviewed_by"] is None and kept["p1"]["review_status"] is None
    assert kept["p2"]["agreement"] == 0.5 and kept["p4"]["agreement"] == 0.0  # still the annotators'
    manifest = manifest_of(after)
    counts = manifest["counts"]
    assert counts["input_records"] == 6 == counts["kept_records"] + counts["rejected_records"]
    assert counts["reviewed_records"] == 3
    assert counts["review_overrides_by_question"] == {"rank": 2, "topic": 2}
    assert manifest["review"]["dataset"] == f"{WORKSPACE}/{REVIEW}"
    assert manifest["review"]["pending"] == 1 and manifest["review"]["answers_without_record"] == 0
    assert manifest["columns"][-2:] == ["reviewed_by", "review_status"]


def test_review_again_neither_duplicates_nor_resets(argilla: Server, loop: dict[str, Any]) -> None:
    again = loop["again"]
    assert again.exit_code == 0, again.stderr
    assert "1 record sent to review (tie:topic 1); 3 already reviewed left alone" in again.stderr
    assert again.stdout.split() == ["p6"]
    shown = review_records(argilla)
    assert sorted(shown) == ["p2", "p3", "p4", "p6"]
    for rid in REVIEWED:
        (response,) = shown[rid]["responses"]
        assert (
            response["status"] == "submitted" and response["values"]["review_decision"]["value"] == "decided"
        )


def test_again_refreshes_reviewed_records_and_limit_takes_the_least_agreeing(
    argilla: Server, loop: dict[str, Any]
) -> None:
    cli = loop["cli"]
    again = cli("argilla", "review", loop["spec"], "--again", *auth(argilla))
    assert again.exit_code == 0, again.stderr
    assert "4 records sent to review" in again.stderr and "already reviewed" not in again.stderr
    shown = review_records(argilla)
    assert sorted(shown) == ["p2", "p3", "p4", "p6"]
    assert all(len(shown[rid]["responses"]) == 1 for rid in REVIEWED)  # the reviewer's answers stay
    limited = cli(
        "argilla",
        "review",
        loop["spec"],
        "--to",
        "pairs-limited",
        "--limit",
        "2",
        "--below",
        "1",
        *auth(argilla),
    )
    assert limited.exit_code == 0, limited.stderr
    assert limited.stdout.split() == ["p4", "p2"]  # agreement 0.0, then 0.5 (p2 before p3 and p6 by id)


def test_the_same_from_to_disk_exports(argilla: Server, pairs: rg.Dataset, loop: dict[str, Any]) -> None:
    tmp, cli = loop["tmp"], loop["cli"]
    source_disk, review_disk = tmp / "source-disk", tmp / "review-disk"
    source_disk.mkdir()
    review_disk.mkdir()
    pairs.to_disk(str(source_disk))
    argilla.client().datasets(REVIEW, workspace=WORKSPACE).to_disk(str(review_disk))

    def export_offline(out: Path) -> None:
        """The spec's export from the two to_disk folders (JSON Lines)."""
        result = cli("export", loop["spec"], "--source", source_disk, "--review", review_disk, "--out", out,
                     "--format", "jsonl", "-q")  # fmt: skip
        assert result.exit_code == 0, result.stderr

    offline = tmp / "offline"
    export_offline(offline)
    live, disk = rows(loop["after"]), rows(offline)
    assert sorted(disk) == sorted(live)
    for rid in live:
        for column in ("prompt", "chosen", "rejected", "margin", "agreement", "reviewed_by", "review_status"):
            assert disk[rid][column] == live[rid][column], (rid, column)
    assert rejects(offline) == rejects(loop["after"])
    manifest = manifest_of(offline)
    assert manifest["counts"]["reviewed_records"] == 3
    assert manifest["counts"]["review_overrides_by_question"] == {"rank": 2, "topic": 2}

    # a review answer of the wrong kind is that record's reject, counted
    records = json.loads((review_disk / "records.json").read_text())
    for record in records:
        if record["id"] == "p2":
            record["responses"]["topic"][0]["value"] = 5
    (review_disk / "records.json").write_text(json.dumps(records))
    bad = tmp / "bad"
    export_offline(bad)
    assert rejects(bad) == {"p2": "bad_value:review:topic", "p6": "tie:topic"}

    # a record the source no longer holds: its answer is counted, not applied
    records = [r for r in json.loads((source_disk / "records.json").read_text()) if r["id"] != "p4"]
    (source_disk / "records.json").write_text(json.dumps(records))
    fewer = tmp / "fewer"
    export_offline(fewer)
    manifest = manifest_of(fewer)
    assert manifest["review"]["answers_without_record"] == 1 and "p4" not in rows(fewer)


def test_a_review_dataset_that_does_not_match_is_one_error(argilla: Server, loop: dict[str, Any]) -> None:
    cli, tmp = loop["cli"], loop["tmp"]
    made = cli(
        "argilla",
        "create",
        "not-a-review",
        "--template",
        "sft-review",
        "--workspace",
        WORKSPACE,
        *auth(argilla),
    )
    assert made.exit_code == 0, made.stderr
    for args in (("argilla", "review", loop["spec"], "--to", "not-a-review"),):
        result = cli(*args, *auth(argilla))
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: review dataset argilla/not-a-review: ")
        assert "no question 'topic'" in lines[0]
    spec = tmp / "mismatch.yaml"
    spec.write_text(loop["spec"].read_text().replace(f"dataset: {REVIEW}", "dataset: not-a-review"))
    result = cli("export", spec, "--out", tmp / "mismatch", "-q", *auth(argilla))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not a review dataset for this spec" in result.stderr and not (tmp / "mismatch").exists()


def test_an_unreachable_server_is_one_error(loop: dict[str, Any]) -> None:
    result = loop["cli"]("argilla", "review", loop["spec"], "--api-url", "http://127.0.0.1:9", "--api-key", "k",
                         "--timeout", "0.2", "--deadline", "1")  # fmt: skip
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("error: http://127.0.0.1:9")
        and len([ln for ln in lines if ln.startswith("error:")]) == 1
    )
