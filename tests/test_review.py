"""The adjudication loop offline, on the bundled thumbs-up/down data (two annotators, 20 ties under
``majority``): which records go to review and in what order, what the reviewer reads, and a
review dataset's ``to_disk`` export (written here the way Argilla writes one) whose submitted
answers win in the export. The live server's side is ``tests/argilla/test_review_live.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import curate
from curate.build.review import render_value, select, versions, versions_text
from curate.pipeline.plan import plan_export
from curate.pipeline.run import iter_outcomes
from curate.records import QuestionKind, RankItem, Response
from curate.sources import open_source
from curate.spec import SourceSpec

SPEC = "answer-feedback-kto.yaml"
REVIEWER = "0b5c2f0e-0000-4000-8000-00000000beef"


def kto() -> curate.Spec:
    return curate.bundled_spec(SPEC)


def outcomes_and_builder() -> tuple[list[Any], Any]:
    spec = kto()
    src = open_source(spec.model.source, spec.base_dir)
    plan = plan_export(spec.spec_file, src)
    return list(iter_outcomes(plan, src)), plan.builder


def ties() -> list[str]:
    outcomes, _ = outcomes_and_builder()
    return sorted(o.record_id for o in outcomes if getattr(o, "reason", "") == "tie:helpful")


def review_export(
    folder: Path, answers: dict[str, dict[str, Any]], questions: list[dict[str, Any]] | None = None
) -> Path:
    """A review dataset's ``to_disk`` export: settings with the spec's question and the decision,
    one record per source record id, the reviewer's response per question."""
    (folder / ".argilla").mkdir(parents=True)
    decision = {"name": "review_decision", "title": "decide", "required": True, "type": "label_selection",
                "settings": {"type": "label_selection", "options": [{"value": "decided", "text": "decided"},
                                                                     {"value": "undecidable", "text": "undecidable"}]}}  # fmt: skip
    helpful = {"name": "helpful", "title": "Helpful", "required": False, "type": "label_selection",
               "settings": {"type": "label_selection", "options": [{"value": "good", "text": "good"}, {"value": "bad", "text": "bad"}]}}  # fmt: skip
    settings = {
        "guidelines": "review",
        "questions": questions if questions is not None else [helpful, decision],
        "fields": [{"name": "prompt", "title": "Prompt", "required": False, "settings": {"type": "text"}}],
        "metadata": [],
    }
    (folder / ".argilla" / "settings.json").write_text(json.dumps(settings))
    (folder / ".argilla" / "dataset.json").write_text(json.dumps({"name": "fb-review"}))
    records = [
        {
            "id": rid,
            "fields": {"prompt": f"record {rid}"},
            "metadata": {},
            "suggestions": {},
            "responses": {q: [{"value": v, "user_id": REVIEWER}] for q, v in values.items()},
        }
        for rid, values in answers.items()
    ]
    (folder / "records.json").write_text(json.dumps(records))
    return folder


def rows(out: Path) -> dict[str, dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "train.parquet").to_pylist() + pq.read_table(out / "test.parquet").to_pylist()
    return {r["record_id"]: r for r in table}


def rejects(out: Path) -> dict[str, str]:
    return {
        r["record_id"]: r["reason"] for r in map(json.loads, (out / "rejects.jsonl").read_text().splitlines())
    }


def test_select_takes_the_ties_least_agreeing_first_deterministically() -> None:
    outcomes, builder = outcomes_and_builder()
    items, skipped = select(outcomes, builder)
    assert sorted(i.record_id for i in items) == ties() and len(items) == 20 and skipped == 0
    assert {i.why for i in items} == {"tie:helpful"}
    keys = [(i.agreement, i.record_id) for i in items]
    assert keys == sorted(keys)
    first, _ = select(outcomes, builder, limit=5)
    assert [i.record_id for i in first] == [i.record_id for i in items[:5]]
    rest, skipped = select(outcomes, builder, skip=[i.record_id for i in first])
    assert skipped == 5 and [i.record_id for i in rest] == [i.record_id for i in items[5:]]
    # --below: kept records whose row agreement is under the share join, still least agreeing first
    wider, _ = select(outcomes, builder, below=1.0)
    assert len(wider) > 20 and {i.why for i in wider} == {"tie:helpful", "agreement_below:1"}
    assert all(i.agreement is not None and i.agreement < 1 for i in wider)


def test_the_reviewer_reads_every_version_and_the_strategy_answer() -> None:
    outcomes, builder = outcomes_and_builder()
    record = next(o.record for o in outcomes if getattr(o, "reason", "") == "tie:helpful")
    (helpful,), agreement = versions(builder, record)
    assert helpful.question == "helpful" and helpful.reason == "tie" and agreement == 0.0
    text = versions_text(helpful, {r.user_id: f"user{i}" for i, r in enumerate(helpful.responses)})
    assert "- **user0** (status unknown): " in text and "- **user1** (status unknown): " in text
    assert text.endswith("*majority: no answer (tie), agreement 0.00*")
    ranking = (RankItem("b", 1), RankItem("a", 2))
    assert render_value(ranking, QuestionKind.RANKING) == "1. b · 2. a"
    long = Response("u", "line one\nline two", "draft")
    from curate.build.review import QuestionVersions

    shown = versions_text(QuestionVersions("fix", QuestionKind.TEXT, (long,), "latest", "x", None, None), {})
    assert "- **u** (draft):\n\n> line one\n> line two" in shown


def test_reviewed_answers_win_from_a_review_export(tmp_path: Path) -> None:
    tied = ties()
    decided = {tied[0]: "good", tied[1]: "bad"}
    answers = {rid: {"helpful": v, "review_decision": "decided"} for rid, v in decided.items()}
    answers[tied[2]] = {"review_decision": "undecidable"}
    answers[tied[3]] = {}  # sent to review, not answered yet
    answers["fb-gone"] = {"helpful": "good", "review_decision": "decided"}  # no longer in the source
    review = review_export(tmp_path / "review", answers)
    out = tmp_path / "out"
    manifest = curate.export(kto(), out, review=review, on_warning=lambda w: None)
    kept, rejected = rows(out), rejects(out)
    assert kept[tied[0]]["label"] is True and kept[tied[1]]["label"] is False
    for rid in decided:
        assert kept[rid]["reviewed_by"] == REVIEWER and kept[rid]["review_status"] == "reviewed"
        assert kept[rid]["agreement"] == 0.0  # the annotators' figure
    assert rejected[tied[2]] == "tie:helpful" and rejected[tied[3]] == "tie:helpful"
    assert sum(reason == "tie:helpful" for reason in rejected.values()) == 18
    other = next(r for r in kept.values() if r["record_id"] not in decided)
    assert other["reviewed_by"] is None and other["review_status"] is None
    counts = manifest.counts
    assert counts.input_records == 160 == counts.kept_records + counts.rejected_records
    assert counts.reviewed_records == 2 and counts.review_overrides_by_question == {"helpful": 2}
    assert manifest.review is not None
    assert manifest.review["dataset"] == "review"
    assert (manifest.review["reviewed"], manifest.review["undecidable"], manifest.review["pending"]) == (
        3,
        1,
        1,
    )
    assert manifest.review["answers_without_record"] == 1
    written = json.loads((out / "manifest.json").read_text())
    assert written["counts"]["reviewed_records"] == 2 and written["columns"][-2:] == [
        "reviewed_by",
        "review_status",
    ]


def test_worker_processes_apply_the_review_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    tied = ties()
    review = review_export(tmp_path / "review", {tied[0]: {"helpful": "bad", "review_decision": "decided"}})
    one = curate.export(kto(), tmp_path / "one", review=review, on_warning=lambda w: None)
    two = curate.export(
        kto(), tmp_path / "two", review=review, num_proc=2, on_warning=lambda w: None, on_note=lambda n: None
    )
    assert one.fingerprint == two.fingerprint and two.counts.reviewed_records == 1
    for name in ("train.parquet", "test.parquet", "rejects.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_without_a_review_nothing_changes(tmp_path: Path) -> None:
    manifest = curate.export(kto(), tmp_path / "out", on_warning=lambda w: None)
    written = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "reviewed_records" not in written["counts"] and "review" not in written
    assert "reviewed_by" not in manifest.columns and manifest.counts.reviewed_records is None


def test_a_review_answer_of_the_wrong_kind_rejects_its_record(tmp_path: Path) -> None:
    tied = ties()
    review = review_export(tmp_path / "review", {tied[0]: {"helpful": 5, "review_decision": "decided"}})
    out = tmp_path / "out"
    manifest = curate.export(kto(), out, review=review, on_warning=lambda w: None)
    assert rejects(out)[tied[0]] == "bad_value:review:helpful"
    assert manifest.counts.rejects_by_reason["bad_value:review:helpful"] == 1
    assert manifest.review is not None and manifest.review["bad_values"] == 1


def test_a_review_export_that_does_not_match_the_spec_is_one_error(tmp_path: Path, cli: Any) -> None:
    rating = {"name": "helpful", "title": "Helpful", "required": True, "type": "rating",
              "settings": {"type": "rating", "options": [{"value": 1}, {"value": 2}]}}  # fmt: skip
    review = review_export(tmp_path / "review", {}, questions=[rating])
    with pytest.raises(curate.CurateError, match=r"^review dataset review: not a review dataset for this spec: "
                       r"question 'helpful' is rating, the source's is label_selection \(and 1 more\)"):  # fmt: skip
        curate.export(kto(), tmp_path / "out", review=review, on_warning=lambda w: None)
    assert not (tmp_path / "out").exists()
    spec = Path(kto().spec_file.path or "")
    result = cli("export", spec, "--review", review, "--out", tmp_path / "out", "-q")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1
    assert errors[0].startswith("error: review dataset review: not a review dataset for this spec")
    missing = cli("export", spec, "--review", tmp_path / "nowhere", "--out", tmp_path / "out", "-q")
    assert missing.exit_code == 2 and "error: " in missing.stderr and "nowhere" in missing.stderr


def test_a_spec_review_without_a_server_or_an_export_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    spec = kto().replace(review={"dataset": "fb-review"})
    with pytest.raises(
        curate.CurateError, match=r"review dataset 'fb-review': no Argilla server URL.*review=PATH"
    ):
        curate.export(spec, tmp_path / "out", on_warning=lambda w: None)


def test_review_arguments_are_checked() -> None:
    with pytest.raises(curate.CurateError, match=r"^to=DATASET: name the review dataset"):
        curate.review(kto())
    with pytest.raises(curate.CurateError, match=r"^below: got 1.5"):
        curate.review(kto(), "fb-review", below=1.5)
    with pytest.raises(curate.CurateError, match=r"^limit: got 0"):
        curate.review(kto(), "fb-review", limit=0)


def test_source_spec_for_review_exports_reads_to_disk(tmp_path: Path) -> None:
    review = review_export(tmp_path / "review", {"fb-0000": {"review_decision": "decided"}})
    src = open_source(SourceSpec(path=str(review)), tmp_path)
    assert src.layout == "argilla_v2_disk" and "review_decision" in src.settings.questions


def test_stats_and_card_say_what_a_reviewer_decided(tmp_path: Path, cli: Any) -> None:
    from curate.manifest import Manifest
    from curate.sinks.card import render_card

    tied = ties()
    review = review_export(
        tmp_path / "review", {tied[0]: {"helpful": "good", "review_decision": "decided"}, tied[1]: {}}
    )
    figures = curate.stats(kto(), review=review, on_warning=lambda w: None)
    shown = figures["export"]["review"]
    assert (shown["decided_records"], shown["decided_by_question"]) == (1, {"helpful": 1})
    assert (shown["awaiting_records"], shown["awaiting_by_question"]) == (19, {"helpful": 19})
    assert shown["pending_in_review_dataset"] == 1
    assert "agreement" in figures.plot()
    plain = curate.stats(kto(), on_warning=lambda w: None)
    assert "review" not in plain["export"]
    spec = Path(kto().spec_file.path or "")
    out = tmp_path / "out"
    result = cli("export", spec, "--review", review, "--out", out)
    assert "review review: 1 record decided by a reviewer (helpful 1), 1 pending" in result.stderr
    folder_stats = cli("stats", out, "--json")
    assert json.loads(folder_stats.stdout)["review"]["decided_records"] == 1
    card = str(render_card(Manifest.read(out), "org/kto", {"train": "train.parquet", "test": "test.parquet"}))
    assert "- review: a reviewer decided 1 of the 118 kept records" in card
    assert "answers used per question: helpful: 1" in card
    with pytest.raises(curate.CurateError, match=r"^review: applies to a spec"):
        curate.stats(out, review=review)
