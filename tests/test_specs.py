"""Every shipped spec loads, validates and checks against its bundled source; bad specs fail
with one line naming the file and the key path."""

from __future__ import annotations

import json

import pytest
from _paths import SPECS

from curate.build import Builder
from curate.errors import CurateError
from curate.sources.open import open_spec_source
from curate.spec import load_spec, spec_json_schema

SHIPPED = sorted(SPECS.glob("*.yaml"))


def test_specs_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert {"dolly-curated", "dolly-curated-preference", "chat-review", "dolly-prompts"} <= names
    assert {"ultrafeedback-ranking", "ultrafeedback-ratings"} <= names
    assert {"domain-text", "answer-feedback-kto", "answer-feedback-kto-rating", "ultrafeedback-kto"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_spec_validates_against_its_source(path):
    spec_file = load_spec(path)
    source = open_spec_source(spec_file, None)
    builder = Builder(spec_file, source.settings, source.name)
    assert builder.questions_used, "every shipped spec reads at least one annotated question"


def test_json_schema_file_is_current():
    committed = json.loads((SPECS / "spec.schema.json").read_text())
    assert committed == spec_json_schema(), "run: curate schema > datasets_spec/spec.schema.json"


def _write(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ntask: sft\ncolumns: [\n", "bad.yaml:4:1: malformed YAML"),
        ("- 1\n- 2\n", "expected a mapping at the top level"),
        ("name: x\ncolumns: {}\n", "missing key 'task'"),
        ("name: x\ntask: rlhf\ncolumns: {}\n", "unknown task 'rlhf'"),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\nsplit: {train: 0.5}\n",
            "split: split fractions must add up to 1, got 0.5",
        ),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\nunify: {text: vote}\n",
            "unify.text: got 'vote', expected",
        ),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {field: a, question: b}, response: {field: b}}\n",
            "columns.instruction[0]: give exactly one of question, field",
        ),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\nfliters: {}\n",
            "fliters: unknown key",
        ),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\nfilters: {min_chars: {response: many}}\n",
            "filters.min_chars.response: Input should be a valid integer",
        ),
    ],
)
def test_bad_spec_names_file_and_key(tmp_path, text, expected):
    with pytest.raises(CurateError) as err:
        load_spec(_write(tmp_path, text))
    message = str(err.value)
    assert message.startswith(str(tmp_path / "bad.yaml"))
    assert expected in message
    assert "\n" not in message


def test_unknown_question_is_named_against_the_source(tmp_path):
    text = (
        (SPECS / "dolly-curated.yaml").read_text().replace("question: new-response", "question: new-reponse")
    )
    spec_path = tmp_path / "dolly.yaml"
    spec_path.write_text(text.replace("path: data/", f"path: {SPECS}/data/"))
    spec_file = load_spec(spec_path)
    source = open_spec_source(spec_file, None)
    with pytest.raises(
        CurateError, match=r"columns\.response\[0\]: unknown question 'new-reponse'; the dataset has"
    ):
        Builder(spec_file, source.settings, source.name)


def test_strategy_must_fit_the_question_kind(tmp_path):
    text = (SPECS / "dolly-curated.yaml").read_text().replace("text: latest", "text: mean")
    spec_path = tmp_path / "dolly.yaml"
    spec_path.write_text(text.replace("path: data/", f"path: {SPECS}/data/"))
    spec_file = load_spec(spec_path)
    source = open_spec_source(spec_file, None)
    with pytest.raises(CurateError, match="strategy 'mean' does not apply to a text question"):
        Builder(spec_file, source.settings, source.name)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ("{instruction: {field: a}}", "columns.response: Field required"),
        ("{instruction: [], response: {field: b}}", "columns.instruction: List should have at least 1 item"),
    ],
)
def test_required_columns_need_a_source(tmp_path, columns, expected):
    with pytest.raises(CurateError, match=expected):
        load_spec(_write(tmp_path, f"name: x\ntask: sft\ncolumns: {columns}\n"))
