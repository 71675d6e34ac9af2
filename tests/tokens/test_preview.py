"""``curate preview``: the pre-flight report (stable JSON) and the highlighted rendering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from curate.commands.app import app
from curate.testing import tiny
from curate.tokens.preview import json_report, preview, render
from curate.tokens.tokenize import RowTransform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def char(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny.char_tokenizer(tmp_path_factory.mktemp("tok") / "char")


ROWS = [
    {"record_id": "a", "prompt": "Q: hi\nA:", "completion": " yo"},
    {"record_id": "b", "prompt": "Q: " + "x" * 30 + "\nA:", "completion": " no"},
    {"record_id": "c", "prompt": "Q:", "completion": " café"},
]


def test_report_counts_and_examples(char: Any) -> None:
    report = json_report(
        preview(ROWS, RowTransform("sft", char, max_length=16, truncation="cut_prompt"), n=3)
    )
    assert report == {
        "tokenizer": "char",
        "template": None,
        "task": "sft",
        "max_length": 16,
        "truncation": "cut_prompt",
        "rows": 3,
        "rows_ok": 2,
        "tokens": 28,
        "trainable_tokens": 8,
        "trainable_token_share": round(8 / 28, 6),
        "over_max_length": 1,
        "truncated": 1,
        "nothing_to_train": 0,
        "rejected_by_reason": {"decode_mismatch": 1},
        "records_rejected_before_tokenizing": 0,
        "template_check": None,
        "examples": [
            {
                "record_id": "a",
                "status": "ok",
                "sequences": [
                    {
                        "name": "sft",
                        "tokens": 12,
                        "trainable_tokens": 4,
                        "truncated": False,
                        "trained_text": [" yo</s>"],
                    }
                ],
            },
            {
                "record_id": "b",
                "status": "ok",
                "sequences": [
                    {
                        "name": "sft",
                        "tokens": 16,
                        "trainable_tokens": 4,
                        "truncated": True,
                        "trained_text": [" no</s>"],
                    }
                ],
            },
            {
                "record_id": "c",
                "status": "rejected",
                "reason": "decode_mismatch",
                "detail": "trained tokens decode to ' caf<unk></s>', expected ' café</s>' (the tokenizer does not round-trip this text)",
            },
        ],
    }


def test_rendering_highlights_trained_tokens(char: Any) -> None:
    report = preview(ROWS[:1], RowTransform("sft", char), n=1)
    console = Console(record=True, width=80, color_system="truecolor", force_terminal=True)
    render(report, console)
    text = console.export_text()
    assert "trainable tokens" in text and "4 of 12 (33.3%)" in text
    assert "Q: hi" in text and "yo</s>" in text
    html = console.export_html(inline_styles=True)
    assert "background-color" in html  # trained tokens carry a background


def test_cli_json_on_demo_data(tmp_path: Path, bpe_tokenizer: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "preview",
            str(ROOT / "datasets_spec" / "dolly-curated.yaml"),
            "--tokenizer",
            str(bpe_tokenizer),
            "-n",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] > 0 and report["rows_ok"] == report["rows"]
    assert 0 < report["trainable_token_share"] < 1
    assert [e["status"] for e in report["examples"]] == ["ok", "ok"]
    assert report["examples"][0]["sequences"][0]["trained_text"][0].endswith("<|endoftext|>")


def test_cli_error_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "preview",
            str(ROOT / "datasets_spec" / "dolly-curated.yaml"),
            "--tokenizer",
            str(tmp_path / "none"),
        ],
    )
    assert result.exit_code == 2
    assert "tokenizer folder not found" in result.output


def test_template_check_shows_the_rule_on_a_multi_turn_chat(tmp_path: Path) -> None:
    """With a chat template, preview shows what each assistant turn of a built-in 3-turn chat
    trains, or why it does not (Qwen3 rewrites history; each_turn_as_row trains every turn)."""
    tok = tiny.chat_tokenizer(tmp_path / "qwen3", "qwen3")
    report = preview([], RowTransform("chat", tok), n=0)
    check = json_report(report)["template_check"]
    assert check["stop_markers"] == ["<|im_end|>"]
    assert [t["status"] for t in check["turns"]] == ["not trained", "not trained", "trained"]
    assert check["turns"][0]["reason"] == "history_rewritten"
    assert check["turns"][2]["text"] == "<think>\n\n</think>\n\nYou are welcome.<|im_end|>"
    each = json_report(preview([], RowTransform("chat", tok, train_on="each_turn_as_row"), n=0))
    assert [t["text"] for t in each["template_check"]["turns"]] == [
        "<think>\n\n</think>\n\nParis.<|im_end|>",
        "<think>\n\n</think>\n\nRome.<|im_end|>",
        "<think>\n\n</think>\n\nYou are welcome.<|im_end|>",
    ]
    console = Console(record=True, width=120, color_system="truecolor", force_terminal=True)
    render(report, console)
    text = console.export_text()
    assert "template check: tokenizer (chat_template sha256" in text
    assert "turn 2: not trained (history_rewritten" in text and "turn 6: trains" in text


def test_template_check_uses_the_template_kwargs(tmp_path: Path) -> None:
    """With enable_thinking off, Qwen3's generation prompt already holds the empty think block:
    the last turn trains the reply and its end marker only, and the check says which kwargs."""
    tok = tiny.chat_tokenizer(tmp_path / "qwen3", "qwen3")
    transform = RowTransform("chat", tok, template_kwargs={"enable_thinking": False})
    check = json_report(preview([], transform, n=0))["template_check"]
    assert check["template_kwargs"] == {"enable_thinking": False}
    assert check["turns"][2] == {
        "turn": 6,
        "status": "trained",
        "text": "You are welcome.<|im_end|>",
        "note": None,
    }


def test_cli_train_on_each_turn_as_row(tmp_path: Path) -> None:
    tok = tmp_path / "qwen3"
    tiny.chat_tokenizer(tok, "qwen3")
    args = [
        "preview",
        str(ROOT / "datasets_spec" / "chat-review.yaml"),
        "--tokenizer",
        str(tok),
        "-n",
        "1",
        "--json",
    ]
    result = CliRunner().invoke(app, [*args, "--train-on", "each_turn_as_row"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["template_check"]["train_on"] == "each_turn_as_row"
    assert report["rows_ok"] >= report["examples"].__len__() and report["rejected_by_reason"] == {}
