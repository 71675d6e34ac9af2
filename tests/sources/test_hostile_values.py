"""Values a well-formed Argilla export may hold that break arithmetic or a template: each costs its
own record (a reject with a reason), never the export, and every figure written stays valid JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import assert_accounted, manifest_of, rejects_of

SETTINGS = {
    "fields": [{"name": n, "settings": {"type": "text"}} for n in ("prompt", "a", "b")],
    "questions": [
        {"name": n, "settings": {"type": "rating", "options": [{"value": i} for i in range(1, 6)]}}
        for n in ("rating-a", "rating-b")
    ],
}


def disk(tmp: Path, records: list[dict[str, Any]]) -> Path:
    folder = tmp / "disk"
    (folder / ".argilla").mkdir(parents=True)
    (folder / ".argilla" / "settings.json").write_text(json.dumps(SETTINGS))
    (folder / "records.json").write_text(json.dumps(records))
    return folder


def record(i: int, a: float, b: float) -> dict[str, Any]:
    answers = lambda v: [{"value": v, "user_id": "u1"}, {"value": v, "user_id": "u2"}]  # noqa: E731
    return {
        "id": f"r{i}",
        "fields": {"prompt": f"Question {i}?", "a": f"answer a {i}", "b": f"answer b {i}"},
        "responses": {"rating-a": answers(a), "rating-b": answers(b)},
    }


def spec(tmp: Path, source: Path, body: str) -> Path:
    path = tmp / "spec.yaml"
    path.write_text(
        f"name: values\nsource: {{path: {source}}}\nresponses: {{unknown_status: submitted}}\n{body}"
    )
    return path


PAIRS = """task: preference
unify: {rating: mean}
columns: {prompt: {field: prompt}}
pairs:
  from: rating
  candidates:
    a: {text: {field: a}, rating: rating-a}
    b: {text: {field: b}, rating: rating-b}
template: alpaca
"""


def test_ratings_too_far_apart_for_a_margin_reject_their_record(cli, tmp_path):
    records = [record(i, 5, 1) for i in range(4)] + [record(4, 1e308, -1e308)]
    out = tmp_path / "out"
    result = cli(
        "export", spec(tmp_path, disk(tmp_path, records), PAIRS), "--out", out, "--format", "jsonl", "-q"
    )
    (reject,) = assert_accounted(result, out, 5, {"bad_value:rating-a": 1})
    assert reject["record_id"] == "r4" and "too far apart for a margin" in reject["detail"]
    for line in (out / "train.jsonl").read_text().splitlines():  # strict JSON: no Infinity or NaN
        json.loads(line, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def test_agreement_over_huge_ratings_is_null_not_nan(cli, tmp_path):
    records = [record(i, 5, 1) for i in range(4)] + [record(4, 1e200, 1)]
    records[4]["responses"]["rating-a"][1]["value"] = 1e200 / 3
    out = tmp_path / "out"
    result = cli("export", spec(tmp_path, disk(tmp_path, records), PAIRS), "--out", out, "-q")
    assert result.exit_code == 0, result.stderr
    manifest = manifest_of(out)  # strict: the writer refuses NaN
    assert manifest["quality"]["agreement"]["rating-a"]["alpha"] is None
    stats = cli("stats", tmp_path / "disk", "--json")
    assert stats.exit_code == 0 and "NaN" not in stats.stdout


def test_a_template_refusing_some_conversations_rejects_only_those(cli, tmp_path):
    """Without a tokenizer the template renders the prompt text: a refusal is the record's reject."""
    template = tmp_path / "strict.jinja"
    template.write_text(
        "{% for m in messages %}{% if 'forbidden' in m.content %}"
        "{{ raise_exception('no forbidden words') }}{% endif %}"
        "<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    records = [record(i, 5, 1) for i in range(4)]
    records[2]["fields"]["prompt"] = "a forbidden question"
    body = f"task: sft\ncolumns: {{instruction: {{field: prompt}}, response: {{field: a}}}}\ntemplate: {template}\n"
    out = tmp_path / "out"
    result = cli(
        "export", spec(tmp_path, disk(tmp_path, records), body), "--out", out, "--format", "jsonl", "-q"
    )
    (reject,) = assert_accounted(result, out, 4, {"template_refused": 1})
    assert reject["record_id"] == "r2" and "no forbidden words" in reject["detail"]
    assert len(rejects_of(out)) == 1
