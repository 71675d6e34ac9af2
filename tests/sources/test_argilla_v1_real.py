"""Argilla 1.x exports written by Argilla's own 1.x SDK (``tests/fixtures/make_argilla_v1_export.py``)
read back value for value: a Hub snapshot with ``argilla.yaml``, and the JSON Lines that
``datasets`` writes (no config beside it: kinds inferred)."""

from __future__ import annotations

import pytest
from helpers import REPO, rejects_of

from curate.records import QuestionKind, RankItem
from curate.sources import detect_layout, open_source
from curate.spec import SourceSpec

FIXTURES = REPO / "tests" / "fixtures"
U1, U2, U3 = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))


@pytest.mark.parametrize("name", ["argilla_v1_real", "argilla_v1_real.jsonl"])
def test_real_v1_export(name):
    path = FIXTURES / name
    assert detect_layout(path) == "argilla_v1"
    source = open_source(SourceSpec(path=str(path)), FIXTURES)
    kinds = {q: i.kind for q, i in source.settings.questions.items()}
    assert kinds == {
        "corrected": QuestionKind.TEXT,
        "quality": QuestionKind.RATING,
        "topic": QuestionKind.LABEL
        if name == "argilla_v1_real"
        else QuestionKind.TEXT,  # same values either way
        "flags": QuestionKind.MULTI_LABEL,
        "preference": QuestionKind.RANKING,
    }
    if name == "argilla_v1_real":
        assert source.settings.questions["topic"].options == ("geo", "math")
        assert source.settings.guidelines == "Correct and rank the answers."
    records = list(source)
    assert [r.id for r in records] == ["v1-1", "v1-2", "row-2"]
    first, second, third = records

    def answers(record, q):
        return [(r.user_id, r.value, r.status) for r in record.responses[q]]

    assert first.fields == {"prompt": "Capital of France?", "answer-a": "Lyon.", "answer-b": "Paris."}
    assert first.metadata == {"origin": "dolly"}
    assert answers(first, "quality") == [(U1, 2, "submitted"), (U2, 1, "submitted"), (U3, 5, "draft")]
    assert answers(first, "corrected") == [(U1, "Paris is the capital of France.", "submitted")]
    assert answers(first, "flags") == [(U1, ("wrong",), "submitted")]
    ranking = (RankItem("answer-b", 1), RankItem("answer-a", 2))
    assert answers(first, "preference") == [(U1, ranking, "submitted"), (U2, ranking, "submitted")]
    assert first.suggestions["topic"].value == "geo" and first.suggestions["topic"].agent == "clf-v1"
    assert (
        first.suggestions["topic"].score == pytest.approx(0.9) and first.suggestions["topic"].type == "model"
    )
    assert first.suggestions["corrected"].value == "Paris." and first.suggestions["corrected"].score is None
    # a discard without values is not in the 1.x export at all (Argilla drops it)
    assert answers(second, "quality") == [(U2, 4, "submitted")]
    assert second.metadata == {} and second.fields["prompt"] == "2 + 2 = ? ✓"
    assert third.fields["answer-b"] is None and all(v == () for v in third.responses.values())


def test_pairs_from_a_real_v1_ranking(cli, tmp_path):
    import json

    spec = tmp_path / "pairs.yaml"
    spec.write_text(
        "name: v1-pairs\ntask: preference\n"
        f"source: {{path: {FIXTURES / 'argilla_v1_real'}}}\n"
        "columns: {prompt: {field: prompt}}\n"
        "pairs:\n  from: ranking\n  question: preference\n"
        "  candidates: {answer-a: {text: {field: answer-a}}, answer-b: {text: {field: answer-b}}}\n"
        "template: raw\n"
    )
    out = tmp_path / "out"
    assert cli("export", spec, "--out", out, "--format", "jsonl", "-q").exit_code == 0
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [(r["record_id"], r["chosen"], r["rejected"], r["margin"]) for r in rows] == [
        ("v1-1", "Paris.", "Lyon.", 1.0),
        ("v1-2", "4", "5", 1.0),
    ]
    # provenance lists the annotators of the questions the spec read (U3 only rated quality)
    assert rows[0]["annotators"] == [U1, U2] and rows[0]["statuses"] == ["submitted", "submitted"]
    rejects = rejects_of(out)
    assert rejects == [{"record_id": "row-2", "reason": "missing:preference", "detail": "no counted ranking"}]
