"""File sources read Argilla exports as Argilla and `datasets` write them."""

from __future__ import annotations

import io
import json

import pytest
from datasets import Dataset, Features, Sequence, Value
from helpers import DATA

from curate.errors import CurateError
from curate.records import QuestionKind, RankItem
from curate.sources import Unreadable, detect_layout, open_source
from curate.sources._text import read_json_array
from curate.spec import SourceSpec, TableColumns

U1, U2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def _open(path, **kw):
    return open_source(SourceSpec(path=str(path), **kw), path.parent)


def _v1_dataset(old_sequence_form: bool = False) -> Dataset:
    """A tiny Argilla 1.x FeedbackDataset in its `datasets` form (Features as Argilla 1.x declares)."""
    resp = {"user_id": Value("string"), "value": Value("string"), "status": Value("string")}
    rank = Sequence({"rank": Value("uint8"), "value": Value("string")})
    rating = {"user_id": Value("string"), "value": Value("int32"), "status": Value("string")}
    ranking = {"user_id": Value("string"), "value": rank, "status": Value("string")}
    meta = {"type": Value("string"), "score": Value("float32"), "agent": Value("string")}
    features = Features(
        {
            "prompt": Value("string"),
            "fix": Sequence(resp) if old_sequence_form else [resp],
            "fix-suggestion": Value("string"),
            "fix-suggestion-metadata": meta,
            "score": [rating],
            "score-suggestion": Value("int32"),
            "score-suggestion-metadata": meta,
            "rank": [ranking],
            "rank-suggestion": rank,
            "rank-suggestion-metadata": meta,
            "external_id": Value("string"),
            "metadata": Value("string"),
        }
    )
    no_meta = {"type": None, "score": None, "agent": None}
    rows = {
        "prompt": ["Hi ☃", "Second"],
        "fix": [
            [
                {"user_id": U1, "value": "Hello ☃", "status": "submitted"},
                {"user_id": U2, "value": "Hey", "status": "draft"},
            ],
            [],
        ],
        "fix-suggestion": ["Hello", None],
        "fix-suggestion-metadata": [{"type": "model", "score": 0.5, "agent": "m1"}, no_meta],
        "score": [
            [{"user_id": U1, "value": 4, "status": "submitted"}],
            [{"user_id": U2, "value": 2, "status": "discarded"}],
        ],
        "score-suggestion": [None, 3],
        "score-suggestion-metadata": [no_meta, {"type": "model", "score": None, "agent": "m2"}],
        "rank": [
            # `datasets` takes a Sequence-of-struct value as a dict of lists
            [{"user_id": U1, "value": {"rank": [2, 1], "value": ["a", "b"]}, "status": "submitted"}],
            [],
        ],
        "rank-suggestion": [None, None],
        "rank-suggestion-metadata": [no_meta, no_meta],
        "external_id": ["ext-1", None],
        "metadata": ['{"lang": "en"}', "{}"],
    }
    if old_sequence_form:
        rows["fix"] = [{k: [d[k] for d in v] for k in ("user_id", "value", "status")} for v in rows["fix"]]
    return Dataset.from_dict(rows, features=features)


def _check_v1(records):
    first, second = records
    assert first.id == "ext-1" and second.id == "row-1"
    assert first.fields == {"prompt": "Hi ☃"}
    assert [(r.user_id, r.value, r.status) for r in first.responses["fix"]] == [
        (U1, "Hello ☃", "submitted"),
        (U2, "Hey", "draft"),
    ]
    assert first.responses["score"][0].value == 4
    assert first.responses["rank"][0].value == (RankItem("b", 1), RankItem("a", 2))
    assert first.suggestions["fix"].value == "Hello" and first.suggestions["fix"].agent == "m1"
    assert first.suggestions["fix"].score == pytest.approx(0.5)
    assert first.metadata == {"lang": "en"}
    assert second.metadata == {} and second.responses["fix"] == ()
    assert second.responses["score"][0].status == "discarded"
    assert second.suggestions["score"].value == 3 and second.suggestions["score"].score is None


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "save_to_disk"])
def test_argilla_v1_layouts(tmp_path, fmt):
    ds = _v1_dataset()
    if fmt == "parquet":
        path = tmp_path / "data" / "train-00000-of-00001.parquet"
        path.parent.mkdir()
        ds.to_parquet(path)
        path = tmp_path
    elif fmt == "jsonl":
        path = tmp_path / "export.jsonl"
        ds.to_json(path)
    else:
        path = tmp_path / "saved"
        ds.save_to_disk(str(path))
    assert detect_layout(path) == "argilla_v1"
    source = _open(path)
    kinds = {q: i.kind for q, i in source.settings.questions.items()}
    assert kinds == {"fix": QuestionKind.TEXT, "score": QuestionKind.RATING, "rank": QuestionKind.RANKING}
    _check_v1(list(source))


def test_argilla_v1_dict_of_lists_rows(tmp_path):
    """`datasets` hands a Sequence-of-struct value out as a dict of lists; older Argilla 1.x used
    Sequence for the response columns, so JSON dumped from Python rows has that shape."""
    ds = _v1_dataset(old_sequence_form=True)
    path = tmp_path / "rows.jsonl"
    with path.open("w") as fh:
        for row in ds:  # python formatting: dict-of-lists for Sequence features
            fh.write(json.dumps(row) + "\n")
    first_line = json.loads(path.read_text().splitlines()[0])
    assert isinstance(first_line["fix"], dict) and isinstance(first_line["rank"][0]["value"], dict)
    _check_v1(list(_open(path)))


def test_argilla_v1_yaml_config_gives_kinds(tmp_path):
    ds = _v1_dataset()
    ds.to_parquet(tmp_path / "train.parquet")
    (tmp_path / "argilla.yaml").write_text(
        "fields:\n- name: prompt\n  required: true\n  type: text\n"
        "questions:\n- name: fix\n  type: text\n- name: score\n  type: rating\n  values: [1, 2, 3, 4, 5]\n"
        "- name: rank\n  type: ranking\n  values: {a: A, b: B}\n"
    )
    source = _open(tmp_path)
    assert source.settings.questions["rank"].options == ("a", "b")
    assert source.settings.questions["score"].options == (1, 2, 3, 4, 5)
    assert not source.warnings
    _check_v1(list(source))


def test_argilla_v2_disk(tmp_path):
    folder = DATA / "dolly-curated-v2-disk"
    assert detect_layout(folder) == "argilla_v2_disk"
    source = _open(folder)
    assert not source.status_known and "do not keep response status" in source.warnings[0]
    records = list(source)
    assert len(records) == 300
    first = records[0]
    assert first.id == "dolly-0000" and first.server_id
    assert all(r.status is None for rs in first.responses.values() for r in rs)
    assert first.suggestions["new-response"].agent == "demo-corrector-v1"
    assert first.status in ("pending", "completed")


def test_v1_and_v2_disk_hold_the_same_answers():
    v1 = {r.id: r for r in _open(DATA / "dolly-curated-v1")}
    v2 = {r.id: r for r in _open(DATA / "dolly-curated-v2-disk")}
    assert v1.keys() == v2.keys()
    for rid, r1 in v1.items():
        r2 = v2[rid]
        for q in ("new-instruction", "new-context", "new-response"):
            assert [(x.user_id, x.value) for x in r1.responses.get(q, ())] == [
                (x.user_id, x.value) for x in r2.responses.get(q, ())
            ], (rid, q)


def test_argilla_v2_flat_hub_snapshot_decodes_class_labels():
    folder = DATA / "ultrafeedback-v2"
    assert detect_layout(folder) == "argilla_v2_flat"
    source = _open(folder)
    assert source.settings.questions["response-ranking"].kind is QuestionKind.RANKING
    records = list(source)
    assert {r.suggestions["safe"].value for r in records} == {"yes", "no"}
    annotated = next(r for r in records if r.responses["response-ranking"])
    ranking = annotated.responses["response-ranking"][0].value
    assert next(i.value for i in ranking).startswith("response-") and all(i.rank is None for i in ranking)
    assert annotated.metadata["domain"]
    assert {r.status for r in records} <= {"pending", "completed"}


def test_table_layout_with_mapping(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        "uid,question,answer,score\nq1,What is 2+2?,4,5\nq2,Name a colour,blau,3\n", encoding="utf-8"
    )
    spec = SourceSpec(
        path=str(path),
        layout="table",
        columns=TableColumns(id="uid", fields=["question", "answer"], responses={"quality": "score"}),
    )
    records = list(open_source(spec, tmp_path))
    assert [r.id for r in records] == ["q1", "q2"]
    assert records[1].fields == {"question": "Name a colour", "answer": "blau"}
    assert records[0].responses["quality"][0].status == "submitted"


def test_table_layout_missing_column_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n')
    spec = SourceSpec(path=str(path), layout="table", columns=TableColumns(fields=["instruction"]))
    with pytest.raises(
        CurateError, match=r"t\.jsonl: missing column\(s\): columns\.fields\.instruction -> 'instruction'"
    ):
        open_source(spec, tmp_path)


def test_unknown_layout_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text('{"instruction": "x", "output": "y"}\n')
    with pytest.raises(CurateError, match=r"unknown layout.*layout: table"):
        detect_layout(path)


def test_a_bad_status_rejects_its_record_only(tmp_path):
    ds = _v1_dataset()
    rows = ds.to_list()
    rows[0]["fix"][0]["status"] = "approved"
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = list(_open(path))
    assert len(items) == len(rows)
    bad = [i for i in items if isinstance(i, Unreadable)]
    assert [(i.record_id, i.reason) for i in bad] == [("ext-1", "bad_value:fix")]
    assert "status text 'approved' is not one of submitted, discarded, draft" in bad[0].detail


def test_json_array_streams_across_chunk_boundaries():
    items = [{"id": i, "text": "ünïcode " * (i % 7), "nested": {"a": [i, {"b": "]"}]}} for i in range(200)]
    text = " [\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in items) + "\n]\n"
    got = list(read_json_array(io.StringIO(text[2:]), "mem", "mem", chunk=17, opened=True))
    assert got == items


def test_truncated_records_json_is_reported(tmp_path):
    folder = tmp_path / "export"
    (folder / ".argilla").mkdir(parents=True)
    (folder / ".argilla" / "settings.json").write_text(
        (DATA / "dolly-curated-v2-disk/.argilla/settings.json").read_text()
    )
    full = (DATA / "dolly-curated-v2-disk/records.json").read_text()
    (folder / "records.json").write_text(full[: len(full) // 2])
    with pytest.raises(
        CurateError, match=r"records\.json: (JSON array is not closed|invalid JSON in array element)"
    ):
        list(_open(folder))
