"""The loop back to annotators against the real server: export -> train -> generate -> log (the
generation pre-filled as a suggestion on the reply question, agent = model and checkpoint) ->
annotators accept or edit it through the API -> the next export reads their answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import manifest_of
from live_helpers import WORKSPACE, Server, record_ids, respond
from train_fixtures import FAST, write_table_spec

pytest.importorskip("trl")

pytestmark = [pytest.mark.argilla_server, pytest.mark.slow]

QA = [("France", "Paris"), ("Spain", "Madrid"), ("Japan", "Tokyo"), ("Peru", "Lima"), ("Chile", "Santiago"),
      ("Kenya", "Nairobi"), ("Nepal", "Kathmandu"), ("Egypt", "Cairo"), ("Italy", "Rome"), ("Cuba", "Havana")]  # fmt: skip

REVIEW_SPEC = """\
name: loop-review
task: sft
source:
  argilla: {{dataset: loop-review, workspace: {workspace}}}
responses:
  statuses: [submitted]
columns:
  instruction: {{field: instruction}}
  context: {{field: context}}
  response: [{{question: corrected_response}}, {{field: response}}]
split: {{train: 1.0}}
template: alpaca
"""


def test_export_train_generate_log_annotate_export(
    argilla: Server, tiny_base: Path, cli: Any, tmp_path: Path
) -> None:
    from train import sft

    auth = ["--api-url", argilla.url, "--api-key", argilla.api_key]
    rows = [{"id": f"cap-{c.lower()}", "instruction": f"Capital of {c}?", "response": city} for c, city in QA]
    columns = "  instruction: {field: instruction}\n  response: {field: response}"
    spec = write_table_spec(tmp_path / "toy", "capitals", "sft", rows, columns, "{train: 0.5, test: 0.5}")
    spec.write_text(spec.read_text().replace("template: raw", "template: alpaca"))

    # export -> train
    export = tmp_path / "export"
    assert cli("export", spec, "--out", export, "-q").exit_code == 0
    model = tmp_path / "sft"
    result = sft.main(
        [f"model.model_name_or_path={tiny_base}", f"data.export={export}", f"output_dir={model}",
         "max_steps=2", "max_length=128", *FAST]
    )  # fmt: skip
    assert result is not None

    # generate for the test split, keeping record ids and prompts
    generations = tmp_path / "generations.jsonl"
    made = cli(
        "generate", model, "--export", export, "--split", "test", "--out", generations,
        "--limit", "3", "--max-new-tokens", "6", "--temperature", "1.0", "--top-k", "0", "--seed", "0",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    generated = [json.loads(line) for line in generations.read_text().splitlines()]
    assert len(generated) == 3
    test_rows = {r["record_id"]: r for r in map(json.loads, _jsonl_of(export / "test.parquet"))}
    for g in generated:
        assert g["record_id"] in test_rows and g["prompt"] == test_rows[g["record_id"]]["prompt"]
        assert g["instruction"] == test_rows[g["record_id"]]["instruction"]
        assert 0 <= g["score"] <= 1 and g["agent"].startswith(f"{tiny_base.name}/sft:")

    # log into a review dataset: the generation is the response shown and the suggested correction
    assert cli("argilla", "create", "loop-review", "--template", "sft-review", *auth).exit_code == 0
    logged = cli("argilla", "log", "loop-review", generations, *auth)
    assert logged.exit_code == 0, logged.stderr
    assert (
        "logged 3 records" in logged.stderr
        and "3 generations suggested in corrected_response" in logged.stderr
    )
    dataset = argilla.client().datasets(name="loop-review", workspace=WORKSPACE)
    by_id = {g["record_id"]: g for g in generated}
    for record in dataset.records(with_suggestions=True):
        g = by_id[record.id]
        suggestion = record.suggestions["corrected_response"]
        assert (suggestion.value, suggestion.agent) == (g["generation"], g["agent"])
        assert suggestion.score == pytest.approx(g["score"])
        assert record.fields["response"] == g["generation"]

    # annotators: one accepts the suggestion, one edits it, the third record stays untouched
    accepted, edited, untouched = (g["record_id"] for g in generated)
    ids = record_ids(argilla, dataset)
    respond(
        argilla,
        "ann1",
        ids[accepted],
        {"quality": 4, "corrected_response": by_id[accepted]["generation"]},
        "submitted",
    )
    respond(
        argilla,
        "ann2",
        ids[edited],
        {"quality": 2, "corrected_response": "The capital is here."},
        "submitted",
    )

    # the next export reads their answers
    review_spec = tmp_path / "loop-review.yaml"
    review_spec.write_text(REVIEW_SPEC.format(workspace=WORKSPACE))
    again = tmp_path / "again"
    done = cli("export", review_spec, "--out", again, "--format", "jsonl", "-q", *auth)
    assert done.exit_code == 0, done.stderr
    kept = {r["record_id"]: r for r in map(json.loads, (again / "train.jsonl").read_text().splitlines())}
    assert kept[accepted]["completion"] == by_id[accepted]["generation"]
    assert kept[edited]["completion"] == "The capital is here."
    assert kept[edited]["instruction"] == by_id[edited]["instruction"]
    manifest = manifest_of(again)
    assert manifest["counts"]["input_records"] == 3
    assert manifest["counts"]["kept_records"] + manifest["counts"]["rejected_records"] == 3
    assert untouched not in kept or kept[untouched]["completion"] == by_id[untouched]["generation"]


def _jsonl_of(parquet: Path) -> list[str]:
    import pyarrow.parquet as pq

    return [json.dumps(r) for r in pq.read_table(parquet).to_pylist()]
