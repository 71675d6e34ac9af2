"""``curate argilla create`` / ``log``: template datasets and idempotent logging by record id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from live_helpers import WORKSPACE, Server

from curate.sources.argilla_live import ArgillaServerSource
from curate.spec import ArgillaServerRef

pytestmark = pytest.mark.argilla_server


def read_back(server: Server, name: str) -> dict[str, dict[str, Any]]:
    source = ArgillaServerSource(
        ArgillaServerRef(dataset=name, workspace=WORKSPACE), api_url=server.url, api_key=server.api_key
    )
    return {r.id: dict(r.fields) for r in source}


def settings_of(server: Server, name: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, bool]], str]:
    ds = server.client().datasets(name=name, workspace=WORKSPACE)
    fields = [(f.name, f.type) for f in ds.settings.fields]
    questions = [(q.name, q.type, q.required) for q in ds.settings.questions]
    return fields, questions, ds.settings.guidelines


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def auth(argilla: Server) -> list[str]:
    return ["--api-url", argilla.url, "--api-key", argilla.api_key]


def test_templates_have_fitting_fields_and_questions(argilla: Server, cli: Any, auth: list[str]) -> None:
    for template, name in (
        ("sft-review", "review-sft"),
        ("preference", "review-pref"),
        ("chat-review", "review-chat"),
    ):
        result = cli("argilla", "create", name, "--template", template, "--workspace", WORKSPACE, *auth)
        assert result.exit_code == 0, result.stderr
        assert f"created {WORKSPACE}/{name}" in result.stderr
    fields, questions, guidelines = settings_of(argilla, "review-sft")
    assert fields == [("instruction", "text"), ("context", "text"), ("response", "text")]
    assert questions == [("quality", "rating", True), ("corrected_response", "text", False)]
    assert "corrected_response" in guidelines
    fields, questions, _ = settings_of(argilla, "review-pref")
    assert fields == [("prompt", "text"), ("response_1", "text"), ("response_2", "text")]
    assert questions == [("ranking", "ranking", True), ("notes", "text", False)]
    fields, questions, _ = settings_of(argilla, "review-chat")
    assert fields == [("conversation", "chat"), ("reply", "text")]
    assert questions == [("quality", "rating", True), ("corrected_reply", "text", False)]
    # creating again changes nothing and says so
    again = cli(
        "argilla", "create", "review-sft", "--template", "sft-review", "--workspace", WORKSPACE, *auth
    )
    assert again.exit_code == 0 and f"exists: {WORKSPACE}/review-sft" in again.stderr
    bad = cli("argilla", "create", "x", "--template", "nope", *auth)
    assert (
        bad.exit_code == 2
        and "unknown template 'nope', expected one of sft-review, preference, chat-review" in bad.stderr
    )


def test_log_is_idempotent_by_record_id(argilla: Server, cli: Any, auth: list[str], tmp_path: Path) -> None:
    assert cli("argilla", "create", "gen-sft", "--template", "sft-review", *auth).exit_code == 0
    rows = [
        {"record_id": "a1", "instruction": "Capital of Spain?", "context": "", "response": "Madrid."},
        {"record_id": "a2", "prompt": "2 + 3?", "completion": "5"},  # TRL prompt/completion columns
        {"instruction": "No id here", "response": "hashed id"},
    ]
    jsonl = write_jsonl(tmp_path / "gen.jsonl", rows)
    for _ in range(2):
        result = cli("argilla", "log", "gen-sft", jsonl, *auth)
        assert result.exit_code == 0, result.stderr
        assert "logged 3 records from 3 rows to argilla/gen-sft" in result.stderr
    got = read_back(argilla, "gen-sft")
    assert len(got) == 3
    assert got["a1"] == {"instruction": "Capital of Spain?", "response": "Madrid."}
    assert got["a2"] == {"instruction": "2 + 3?", "response": "5"}
    hashed = [k for k in got if k.startswith("sha256-")]
    assert len(hashed) == 1 and got[hashed[0]] == {"instruction": "No id here", "response": "hashed id"}
    # a new generation for a1 updates it in place; the same file as Parquet adds nothing
    table = pa.Table.from_pylist(
        [{"record_id": "a1", "instruction": "Capital of Spain?", "context": None, "response": "Madrid!"}]
    )
    pq.write_table(table, tmp_path / "gen.parquet")
    assert cli("argilla", "log", "gen-sft", tmp_path / "gen.parquet", *auth).exit_code == 0
    got = read_back(argilla, "gen-sft")
    assert len(got) == 3 and got["a1"]["response"] == "Madrid!"


def test_log_preference_and_chat(argilla: Server, cli: Any, auth: list[str], tmp_path: Path) -> None:
    assert (
        cli("argilla", "create", "gen-pref", "--template", "preference", "--responses", "3", *auth).exit_code
        == 0
    )
    pref = write_jsonl(
        tmp_path / "pref.jsonl",
        [
            {"id": "p1", "prompt": "Say hi", "responses": ["Hi", "Hello", "Hey"]},
            {
                "id": "p2",
                "prompt": [{"role": "user", "content": "Hi?"}],
                "response_1": "a",
                "response_2": "b",
                "response_3": "c",
            },
        ],
    )
    result = cli("argilla", "log", "gen-pref", pref, *auth)
    assert result.exit_code == 0, result.stderr
    got = read_back(argilla, "gen-pref")
    assert got == {
        "p1": {"prompt": "Say hi", "response_1": "Hi", "response_2": "Hello", "response_3": "Hey"},
        "p2": {"prompt": "Hi?", "response_1": "a", "response_2": "b", "response_3": "c"},
    }
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "p3", "prompt": "x", "chosen": "a", "rejected": "b"}])
    result = cli("argilla", "log", "gen-pref", bad, *auth)
    assert result.exit_code == 2
    assert f"{bad}: row 1: preference with 3 responses needs a 'responses' list of 3" in result.stderr

    assert cli("argilla", "create", "gen-chat", "--template", "chat-review", *auth).exit_code == 0
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]
    chat = write_jsonl(tmp_path / "chat.jsonl", [{"record_id": "c1", "messages": messages}])
    assert cli("argilla", "log", "gen-chat", chat, *auth).exit_code == 0
    assert read_back(argilla, "gen-chat") == {"c1": {"conversation": messages[:3], "reply": "Rome."}}


def test_log_errors(argilla: Server, cli: Any, auth: list[str], tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "x.jsonl", [{"instruction": "a", "response": "b"}])
    result = cli("argilla", "log", "no-such-dataset", jsonl, *auth)
    assert result.exit_code == 2 and "no dataset 'no-such-dataset' in any workspace" in result.stderr
    result = cli(
        "argilla", "log", "sft-live", jsonl, "--api-url", argilla.url, "--api-key", "wrong-key-abcdef"
    )
    assert result.exit_code == 2 and "rejected" in result.stderr and "wrong-key-abcdef" not in result.stderr


def test_log_keeps_empty_generations_visible(
    argilla: Server, cli: Any, auth: list[str], tmp_path: Path
) -> None:
    """An empty generation is a model output worth reviewing: it is logged with a visible
    placeholder and the flag metadata, without a suggestion, and never blocks the other rows."""
    assert cli("argilla", "create", "gen-empty", "--template", "sft-review", *auth).exit_code == 0
    rows = [
        {"record_id": "e1", "instruction": "Say hi.", "generation": "Hi!", "score": 0.9, "agent": "m1"},
        {"record_id": "e2", "instruction": "Say bye.", "generation": "", "score": 0.1, "agent": "m1"},
        {"record_id": "e3", "instruction": "Count.", "generation": " \n", "agent": "m1"},
        {"record_id": "e4", "instruction": "Name a colour.", "generation": "Blue.", "agent": "m1"},
    ]
    result = cli("argilla", "log", "gen-empty", write_jsonl(tmp_path / "gen.jsonl", rows), *auth)
    assert result.exit_code == 0, result.stderr
    assert "logged 4 records from 4 rows to argilla/gen-empty" in result.stderr
    assert "2 generations suggested in corrected_response" in result.stderr
    assert (
        "2 empty generations logged as '(empty generation)', flagged flag=empty_generation" in result.stderr
    )
    source = ArgillaServerSource(
        ArgillaServerRef(dataset="gen-empty", workspace=WORKSPACE),
        api_url=argilla.url,
        api_key=argilla.api_key,
    )
    got = {r.id: r for r in source}
    assert {rid: r.fields["response"] for rid, r in got.items()} == {
        "e1": "Hi!", "e2": "(empty generation)", "e3": "(empty generation)", "e4": "Blue.",
    }  # fmt: skip
    assert {rid: r.metadata.get("flag") for rid, r in got.items()} == {
        "e1": None, "e2": "empty_generation", "e3": "empty_generation", "e4": None,
    }  # fmt: skip
    assert {rid for rid, r in got.items() if r.suggestions} == {"e1", "e4"}
    # the model's next try fills e2: re-logging replaces the placeholder and clears the flag
    fixed = write_jsonl(tmp_path / "fixed.jsonl", [{**rows[1], "generation": "Bye!"}])
    result = cli("argilla", "log", "gen-empty", fixed, *auth)
    assert result.exit_code == 0 and "empty generations" not in result.stderr
    got = {r.id: r for r in source}
    assert got["e2"].fields["response"] == "Bye!" and got["e2"].metadata.get("flag") is None
    assert got["e2"].suggestions["corrected_response"].value == "Bye!"
