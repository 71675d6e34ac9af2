"""The task registry and the two newer tasks, `text` and `unpaired`, checked against figures the
tests compute from the bundled Argilla exports themselves (not from curate's own counts)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import DATA, SPECS, manifest_of, rejects_of

from curate.spec import TaskSpec
from curate.tasks import TASKS, get_task, spec_adapter

PROVENANCE = ["record_id", "source", "annotators", "statuses", "agreement"]


def records_of(folder: str) -> list[dict]:
    return json.loads((DATA / folder / "records.json").read_text(encoding="utf-8"))


def export(cli, spec: str, out: Path) -> tuple[dict, dict[str, list[dict]]]:
    result = cli("export", SPECS / f"{spec}.yaml", "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    manifest = manifest_of(out)
    rows = {s: pq.read_table(out / f"{s}.parquet").to_pylist() for s in manifest["splits"]["fractions"]}
    return manifest, rows


def all_rows(rows: dict[str, list[dict]]) -> list[dict]:
    return [r for split in rows.values() for r in split]


def test_every_task_is_one_module_and_one_registry_line():
    import curate.tasks as package

    modules = {p.stem for p in Path(package.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert modules == set(TASKS)
    for name, task in TASKS.items():
        assert task.name == name and get_task(name) is task
        assert issubclass(task.spec_model, TaskSpec)
        assert task.spec_model.model_fields["task"].annotation.__args__ == (name,)  # type: ignore[union-attr]
        columns = [f.name for f in task.fields(False)]
        assert set(task.text_columns) <= set(columns) and set(task.dedup_keys) <= set(columns)
        assert set(task.trl_columns) <= set(columns)
        assert not set(columns) & set(PROVENANCE)
        # what stats draw and count comes from the task, not from tables keyed by task name
        assert task.length_columns and set(task.length_columns) <= set(task.text_columns)
        assert bool(task.trained_series) == (task.trains != "prompt")
    discriminators = spec_adapter().json_schema()["discriminator"]["mapping"]
    assert set(discriminators) == set(TASKS)
    from train.config import STAGES

    trained = {task for stage in STAGES.values() for task in stage.tasks}
    assert trained == set(TASKS), "every task's export has a train stage, read from the registry"


def test_text_export_follows_trls_language_modelling_format(cli, tmp_path):
    manifest, rows = export(cli, "domain-text", tmp_path / "out")
    source = records_of("domain-text-v2-disk")
    counts = manifest["counts"]
    assert counts["input_records"] == len(source)
    assert counts["kept_records"] + counts["rejected_records"] == len(source)
    kept = all_rows(rows)
    assert list(kept[0]) == ["text", *PROVENANCE]
    by_id = {r["id"]: r for r in source}
    prefix = "Generate a science explainer paragraph:\n"
    for row in kept:
        record = by_id[row["record_id"]]
        corrections = [r["value"] for r in record["responses"].get("corrected-content", [])]
        body = (
            corrections[0] if corrections else record["fields"]["content"]
        )  # first_submitted, else the field
        assert row["text"] == prefix + body
    empty = {r["id"] for r in source if not r["fields"].get("content") and not r["responses"]}
    rejects = rejects_of(tmp_path / "out")
    assert empty <= {r["record_id"] for r in rejects if r["reason"] == "missing:text"}
    assert manifest["task"] == "text" and manifest["columns"][:1] == ["text"]


def test_unpaired_labels_are_the_annotators_majority(cli, tmp_path):
    manifest, rows = export(cli, "answer-feedback-kto", tmp_path / "out")
    source = {r["id"]: r for r in records_of("answer-feedback-v2-disk")}
    kept = all_rows(rows)
    assert list(kept[0]) == ["prompt", "completion", "label", "score", *PROVENANCE]
    for row in kept:
        votes = Counter(r["value"] for r in source[row["record_id"]]["responses"]["helpful"])
        (top, n), *rest = votes.most_common()
        assert not rest or rest[0][1] < n  # ties were rejected, not guessed
        assert row["label"] is (top == "good")
        assert row["completion"] == source[row["record_id"]]["fields"]["response"]
        assert row["prompt"].endswith(f"{source[row['record_id']]['fields']['prompt']}\n\n### Response:\n")
        assert row["score"] is None
    ties = {
        rid
        for rid, r in source.items()
        if len(set(Counter(v["value"] for v in r["responses"].get("helpful", [])).values())) == 1
        and len(Counter(v["value"] for v in r["responses"].get("helpful", []))) == 2
    }
    rejects = rejects_of(tmp_path / "out")
    assert ties == {r["record_id"] for r in rejects if r["reason"] == "tie:helpful"}
    assert {True, False} == {r["label"] for r in kept}
    assert manifest["counts"]["input_records"] == len(source)


def test_unpaired_from_a_rating_threshold(cli, tmp_path):
    _, rows = export(cli, "answer-feedback-kto-rating", tmp_path / "out")
    source = {r["id"]: r for r in records_of("answer-feedback-v2-disk")}
    for row in all_rows(rows):
        mean = statistics.fmean(r["value"] for r in source[row["record_id"]]["responses"]["rating"])
        assert row["score"] == pytest.approx(mean) and row["label"] is (mean >= 4)


def test_unpaired_from_pairs_marks_the_best_desirable(cli, tmp_path):
    manifest, rows = export(cli, "ultrafeedback-kto", tmp_path / "out")
    kept = all_rows(rows)
    by_record: dict[str, list[dict]] = {}
    for row in kept:
        by_record.setdefault(row["record_id"], []).append(row)
    for group in by_record.values():
        best = [r for r in group if r["label"]]
        assert len(best) == 1 and len(group) >= 2
        assert all(best[0]["score"] >= r["score"] + 1.0 for r in group if not r["label"])
    assert manifest["counts"]["kept_records"] == len(by_record)


PAIRS_SPEC = """\
name: same-text
task: unpaired
source:
  path: data.jsonl
  layout: table
  columns: {id: id, fields: [prompt, a, b, c], responses: {ra: ra, rb: rb, rc: rc}}
columns:
  prompt: {field: prompt}
pairs:
  from: rating
  candidates:
    a: {text: {field: a}, rating: ra}
    b: {text: {field: b}, rating: rb}
    c: {text: {field: c}, rating: rc}
  mode: best_vs_rest
split: {train: 1.0}
template: alpaca
"""


def test_unpaired_pairs_never_label_one_text_both_ways(cli, tmp_path):
    """Candidates with the same text (whitespace aside) on opposite sides reject the record; on the
    same side they are one row, with the best-ranked candidate's score."""
    rows = [
        {
            "id": "clash",
            "prompt": "p1",
            "a": "Same.",
            "b": " Same. ",
            "c": "Other.",
            "ra": 5,
            "rb": 1,
            "rc": 2,
        },
        {"id": "agree", "prompt": "p2", "a": "Best.", "b": "Poor.", "c": "Poor.", "ra": 5, "rb": 1, "rc": 2},
        {"id": "plain", "prompt": "p3", "a": "Best.", "b": "Mid.", "c": "Poor.", "ra": 5, "rb": 3, "rc": 1},
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "spec.yaml").write_text(PAIRS_SPEC)
    out = tmp_path / "out"
    result = cli("export", tmp_path / "spec.yaml", "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    kept = pq.read_table(out / "train.parquet").to_pylist()
    got = sorted((r["record_id"], r["completion"], r["label"], r["score"]) for r in kept)
    assert got == [
        ("agree", "Best.", True, 5.0),
        ("agree", "Poor.", False, 2.0),
        ("plain", "Best.", True, 5.0),
        ("plain", "Mid.", False, 3.0),
        ("plain", "Poor.", False, 1.0),
    ]
    rejects = rejects_of(out)
    assert [(r["record_id"], r["reason"]) for r in rejects] == [("clash", "contradictory_labels")]
    assert "'a' and 'b' have the same text" in rejects[0]["detail"]
    counts = manifest_of(out)["counts"]
    assert counts["input_records"] == 3 and counts["rejected_records"] == 1


@pytest.mark.parametrize(
    "body, expected",
    [
        ("label: {question: helpful, positive: [good], threshold: 4}", "give positive labels"),
        ("label: {question: helpful}", "give positive labels"),
        (
            "label: {question: helpful, positive: [good], negative: [good]}",
            "both positive and negative: good",
        ),
        (
            "label: {question: rating, positive: [good]}",
            "'rating' is a rating question, positive labels need",
        ),
        ("label: {question: helpful, threshold: 3}", "'helpful' is a label_selection question, a threshold"),
        ("label: {question: helpful, positive: [great]}", "'great' not among the labels of 'helpful'"),
        ("label: {question: helpfull, positive: [good]}", "label.question: unknown question 'helpfull'"),
    ],
)
def test_unpaired_spec_mistakes(cli, tmp_path, body, expected):
    spec = tmp_path / "kto.yaml"
    spec.write_text(
        f"name: x\ntask: unpaired\nsource: {{path: {DATA / 'answer-feedback-v2-disk'}}}\n"
        f"columns: {{prompt: {{field: prompt}}, completion: {{field: response}}}}\n{body}\n"
    )
    result = cli("export", spec, "--out", tmp_path / "out")
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_unpaired_pairs_refuse_all_pairs_and_a_completion_column(cli, tmp_path):
    base = (SPECS / "ultrafeedback-kto.yaml").read_text().replace("path: data/", f"path: {DATA}/")
    for text, expected in [
        (base.replace("mode: best_vs_rest", "mode: all_pairs"), "all_pairs makes a middle candidate"),
        (
            base.replace("prompt: {field: prompt}", "prompt: {field: prompt}\n  completion: {field: prompt}"),
            "the candidates of pairs are the completions",
        ),
    ]:
        spec = tmp_path / "s.yaml"
        spec.write_text(text)
        result = cli("validate", "--offline", spec)
        assert result.exit_code == 2 and expected in result.stderr, result.stderr


def test_text_rows_train_every_token_and_pack(cli, tmp_path, bpe_tokenizer):
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    args = ("export", SPECS / "domain-text.yaml", "--out", out, "-q", "--tokenizer", bpe_tokenizer)
    result = cli(*args, "--max-length", "256", "--truncation", "cut_completion", "--pack")
    assert result.exit_code == 0, result.stderr
    tokenizer = AutoTokenizer.from_pretrained(bpe_tokenizer)
    rows = pq.read_table(out / "train.parquet").to_pylist()
    for row in rows:
        ids, labels = row["input_ids"], row["labels"]
        skip = 1 if tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id else 0
        assert labels[:skip] == [-100] * skip and labels[skip:] == ids[skip:]  # all text + EOS trained
        if len(ids) < 256:
            assert tokenizer.decode(ids[skip:]) == row["text"] + tokenizer.eos_token
    packed = pq.read_table(out / "__packed__" / "train.parquet").to_pylist()
    assert sum(sum(p["seq_lengths"]) for p in packed) == sum(len(r["input_ids"]) for r in rows)
    assert all(len(p["input_ids"]) <= 256 for p in packed)
    manifest = manifest_of(out)
    assert manifest["tokenization"]["trainable_token_share"] > 0.9


def test_unpaired_rows_train_the_completion_only(cli, tmp_path, bpe_tokenizer):
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    result = cli(
        "export", SPECS / "answer-feedback-kto.yaml", "--out", out, "-q", "--tokenizer", bpe_tokenizer
    )
    assert result.exit_code == 0, result.stderr
    tokenizer = AutoTokenizer.from_pretrained(bpe_tokenizer)
    for row in pq.read_table(out / "train.parquet").to_pylist():
        trained = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
        assert tokenizer.decode(trained) == row["completion"] + tokenizer.eos_token
        assert isinstance(row["label"], bool)
