"""Every shipped spec loads, validates and checks against its bundled source; bad specs fail
with one line naming the file and the key path."""

from __future__ import annotations

import json

import pytest
from helpers import SPECS

from curate.api.loader import load_spec, spec_json_schema
from curate.errors import CurateError
from curate.sources.open import open_spec_source
from curate.tasks import make_builder

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
    builder = make_builder(spec_file, source.settings, source.name)
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
            "filters.min_chars.response: got 'many', expected an integer",
        ),
        (  # it titles cards and tables: a 100 KB name took minutes to print
            "name: " + "x" * 201 + "\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\n",
            "name: String should have at most 200 characters",
        ),
        (  # an integer Python will not convert (over 4,300 digits)
            "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\nsplit: {train: 1.0, seed: "
            + "9" * 5000
            + "}\n",
            "malformed YAML: Exceeds the limit (4300 digits)",
        ),
        (  # NaN would compare false against every score: every row undesirable
            "name: x\ntask: unpaired\ncolumns: {prompt: {field: a}, completion: {field: b}}\nlabel: {question: r, threshold: .nan}\n",
            "label.threshold: Input should be a finite number",
        ),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {suggestion: a, min_score: .inf}, response: {field: b}}\n",
            "columns.instruction[0].min_score: Input should be a finite number",
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


SFT = "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\n"
PAIRS = (
    "pairs: {from: rating, candidates: {a: {text: {field: a}, rating: ra}, b: {text: {field: b}, rating: rb}}"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # YAML reads yes/no/on/off/true/false as booleans; lax pydantic read them as 1 and 0
        (
            "name: x\ntask: unpaired\ncolumns: {prompt: {field: a}, completion: {field: b}}\n"
            "label: {question: r, threshold: yes}\n",
            "label.threshold: got True, expected a number",
        ),
        (
            "name: x\ntask: unpaired\ncolumns: {prompt: {field: a}}\n" + PAIRS + ", min_margin: on}\n",
            "pairs.min_margin: got True, expected a number",
        ),
        (
            "name: x\ntask: preference\ncolumns: {prompt: {field: a}}\n" + PAIRS + ", min_margin: no}\n",
            "pairs.min_margin: got False, expected a number",
        ),
        (
            "name: x\ntask: sft\ncolumns: {instruction: {suggestion: a, min_score: yes}, response: {field: b}}\n",
            "columns.instruction[0].min_score: got True, expected a number",
        ),
        (
            SFT + "filters: {max_chars: {response: no}}\n",
            "filters.max_chars.response: got False, expected an integer",
        ),
        (
            SFT + "filters: {min_chars: {response: on}}\n",
            "filters.min_chars.response: got True, expected an integer",
        ),
        (SFT + "split: {train: 1.0, seed: yes}\n", "split.seed: got True, expected an integer"),
        (SFT + "split: {train: yes}\n", "split: split 'train': fraction must be a finite number, got True"),
        (
            SFT + "source: {argilla: {dataset: d, page_size: true}}\n",
            "source.argilla.page_size: got True, expected an integer",
        ),
        (
            SFT + "source: {argilla: {dataset: d, timeout: yes}}\n",
            "source.argilla.timeout: got True, expected a number",
        ),
        (
            SFT + "source: {argilla: {dataset: d, deadline: on}}\n",
            "source.argilla.deadline: got True, expected a number",
        ),
        (
            SFT + "source: {argilla: {dataset: d, timeout: '30'}}\n",
            "source.argilla.timeout: got '30', expected a number",
        ),
    ],
)
def test_a_boolean_is_never_a_number(tmp_path, text, expected):
    with pytest.raises(CurateError) as err:
        load_spec(_write(tmp_path, text))
    assert str(err.value) == f"{tmp_path / 'bad.yaml'}: {expected}"


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
        make_builder(spec_file, source.settings, source.name)


def test_strategy_must_fit_the_question_kind(tmp_path):
    text = (SPECS / "dolly-curated.yaml").read_text().replace("text: latest", "text: mean")
    spec_path = tmp_path / "dolly.yaml"
    spec_path.write_text(text.replace("path: data/", f"path: {SPECS}/data/"))
    spec_file = load_spec(spec_path)
    source = open_spec_source(spec_file, None)
    with pytest.raises(CurateError, match="strategy 'mean' does not apply to a text question"):
        make_builder(spec_file, source.settings, source.name)


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


def billion_laughs(depth: int, where: str) -> str:
    """A spec whose ``where`` value is a YAML alias bomb: 10**depth strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, depth + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    body = "\n".join(f"x-{line}" for line in lines).replace("x-a", "anchor_a")
    return (
        f"{body}\nname: x\ntask: sft\ncolumns: {{instruction: {{field: a}}, response: {{field: b}}}}\n"
        f"{where}: *a{depth}\n"
    )


@pytest.mark.parametrize("where", ["filters", "unify"])
def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, where):
    """Nine levels are a billion values: refused at the first 100,000 counted, in well under a second of
    work, with a short message (the value is never quoted whole)."""
    with pytest.raises(CurateError) as err:
        load_spec(_write(tmp_path, billion_laughs(9, where)))
    message = str(err.value)
    assert "more than 100,000 values once its YAML aliases are expanded" in message and len(message) < 300


def test_a_value_nested_past_the_limit_names_the_file(tmp_path):
    """150 levels pass PyYAML; curate.yamlio refuses them as it refuses 5,000, before validation
    or printing a value could reach Python's recursion limit (a few hundred levels on)."""
    text = "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\n"
    path = _write(tmp_path, text + "description: " + "[" * 150 + "]" * 150 + "\n")
    with pytest.raises(CurateError, match=r"bad\.yaml: malformed YAML: nested too deeply$"):
        load_spec(path)


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    import curate.yamlio

    # the limit is ten million characters; a smaller one here keeps the test's file small
    monkeypatch.setattr(curate.yamlio, "MAX_CHARS", 1_000)
    path = _write(tmp_path, "name: x\ndescription: " + "y" * 2_000 + "\n")
    with pytest.raises(CurateError, match=r"bad\.yaml: more than 1,000 characters; a spec file is a few"):
        load_spec(path)


def test_a_spec_repeating_an_anchored_block_is_fine(tmp_path):
    text = (
        "name: x\ntask: sft\ncolumns:\n  instruction: &src [{field: a}]\n  response: [{field: b}]\n"
        "  context: *src\n"
    )
    assert load_spec(_write(tmp_path, text)).spec.columns.context[0].field == "a"


def test_a_long_wrong_value_is_quoted_short(tmp_path):
    text = (
        "name: x\ntask: sft\ncolumns: {instruction: {field: a}, response: {field: b}}\nunify: {text: "
        + "v" * 100_000
        + "}\n"
    )
    with pytest.raises(CurateError) as err:
        load_spec(_write(tmp_path, text))
    assert "unify.text: got 'vvvv" in str(err.value) and len(str(err.value)) < 400
