"""Each trainer reads curate's exports through the recipe curate wrote, with its own data loader
(``read_<tool>.py`` in its own virtualenv): the rows it yields are curate's rows, and where it
tokenizes, the tokens it trains are curate's ``labels`` - or differ exactly as the README's
"Training with other tools" says, which these tests pin. On the SFT export each tool also takes
one training run on the tiny model (CPU).

Run with ``make test-interop``; skipped where a tool's virtualenv is not named (conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from interop._tools import read_with_tool

pytestmark = [pytest.mark.interop, pytest.mark.slow]

IGNORE = -100
Rows = list[dict[str, Any]]


def trained(ids: list[int], labels: list[int]) -> list[int]:
    """The positions a row trains."""
    return [i for i, label in enumerate(labels) if label != IGNORE]


def same_rows_any_order(theirs: Rows, ours: Rows, keys: tuple[str, ...]) -> None:
    """The tool's rows are curate's, compared on ``keys`` (Axolotl shuffles its datasets)."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(tuple(v) if isinstance(v, list) else v for v in (row[k] for k in keys))

    assert len(theirs) == len(ours)
    assert sorted(map(key, theirs)) == sorted(map(key, ours))


def same_without_final_eos(
    theirs: Rows, ours: Rows, ids: str, labels: str | None, eos: int, our_ids: str
) -> None:
    """LLaMA-Factory's ``empty`` template appends no EOS: its ids (and labels) are curate's with
    the final EOS left out - the only difference."""
    assert len(theirs) == len(ours)
    for tool_row, row in zip(theirs, ours, strict=True):
        assert row[our_ids][-1] == eos
        assert tool_row[ids] == row[our_ids][:-1]
        if labels is not None:
            assert tool_row[labels] == row["labels"][:-1]


def expect_sft(tool: str, got: dict[str, Any], ours: Rows, tokenizer: Any) -> None:
    theirs = got["rows"]
    eos = tokenizer.eos_token_id
    if tool == "axolotl":  # the same ids, the same trained tokens
        same_rows_any_order(theirs, ours, ("input_ids", "labels"))
    elif tool == "llamafactory":
        same_without_final_eos(theirs, ours, "input_ids", "labels", eos, "input_ids")
    else:  # autotrain: curate's rendered text, trained whole (prompt included), EOS between texts
        assert got["trainer"] == "sft"
        assert [r["text"] for r in theirs] == [r["prompt"] + r["completion"] for r in ours]
        assert [r["input_ids"] for r in theirs] == [r["input_ids"][:-1] for r in ours]
        assert all(r["input_ids"][-1] == eos for r in ours)


def expect_chat(tool: str, got: dict[str, Any], ours: Rows, tokenizer: Any) -> None:
    theirs = got["rows"]
    if tool == "axolotl":
        same_rows_any_order(theirs, ours, ("input_ids", "labels"))
    elif tool == "llamafactory":
        # the same ids; LLaMA-Factory also trains the newline after each trained <|im_end|>
        newline = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("\n"))
        assert len(theirs) == len(ours)
        for tool_row, row in zip(theirs, ours, strict=True):
            assert tool_row["input_ids"] == row["input_ids"]
            ours_trained = set(trained(row["input_ids"], row["labels"]))
            extra = set(trained(tool_row["input_ids"], tool_row["labels"])) - ours_trained
            assert ours_trained <= set(trained(tool_row["input_ids"], tool_row["labels"]))
            assert extra and all(p - 1 in ours_trained and [row["input_ids"][p]] == newline for p in extra)
    else:  # autotrain renders with the model's own template: the same ids, every token trained
        assert [r["input_ids"] for r in theirs] == [r["input_ids"] for r in ours]


def expect_preference(tool: str, got: dict[str, Any], ours: Rows, tokenizer: Any) -> None:
    theirs = got["rows"]
    if tool == "llamafactory":  # tokenized pairs: curate's prompt + answer, without the final EOS
        same_without_final_eos(theirs, ours, "chosen_input_ids", None, tokenizer.eos_token_id, "chosen_ids")
        same_without_final_eos(
            theirs, ours, "rejected_input_ids", None, tokenizer.eos_token_id, "rejected_ids"
        )
    elif tool == "axolotl":  # TRL's DPO tokenizes these texts when it trains
        same_rows_any_order(theirs, ours, ("prompt", "chosen", "rejected"))
    else:
        assert [(r["prompt"], r["chosen"], r["rejected"]) for r in theirs] == [
            (r["prompt"], r["chosen"], r["rejected"]) for r in ours
        ]


def expect_unpaired(tool: str, got: dict[str, Any], ours: Rows, tokenizer: Any) -> None:
    theirs = got["rows"]
    if tool == "llamafactory":
        same_without_final_eos(theirs, ours, "input_ids", "labels", tokenizer.eos_token_id, "input_ids")
        assert [r["kto_tags"] for r in theirs] == [r["label"] for r in ours]
    else:  # axolotl: TRL's KTO tokenizes these texts when it trains
        same_rows_any_order(theirs, ours, ("prompt", "completion", "label"))


def expect_text(tool: str, got: dict[str, Any], ours: Rows, tokenizer: Any) -> None:
    theirs = got["rows"]
    if tool == "llamafactory":  # stage pt: the same ids (EOS included), every token trained
        assert [r["input_ids"] for r in theirs] == [r["input_ids"] for r in ours]
    elif tool == "axolotl":  # type completion: the same ids and trained tokens
        same_rows_any_order(theirs, ours, ("input_ids", "labels"))
    else:  # autotrain llm-generic: curate's text, which its default trainer tokenizes
        assert [r["text"] for r in theirs] == [r["text"] for r in ours]


EXPECT: dict[str, Callable[[str, dict[str, Any], Rows, Any], None]] = {
    "sft": expect_sft,
    "chat": expect_chat,
    "preference": expect_preference,
    "unpaired": expect_unpaired,
    "text": expect_text,
}
CASES = [
    ("autotrain", "sft"),
    ("autotrain", "chat"),
    ("autotrain", "preference"),
    ("axolotl", "sft"),
    ("axolotl", "chat"),
    ("axolotl", "preference"),
    ("axolotl", "unpaired"),
    ("llamafactory", "sft"),
    ("llamafactory", "chat"),
    ("llamafactory", "preference"),
    ("llamafactory", "unpaired"),
    ("autotrain", "text"),
    ("axolotl", "text"),
    ("llamafactory", "text"),
]


@pytest.mark.parametrize(("tool", "task"), CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_the_tool_reads_the_export_as_curate_meant_it(
    tool: str, task: str, exports: dict[str, tuple[Path, Path]], tiny_model: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    plain, tokenized = exports[task]
    got = read_with_tool(tool, plain, tiny_model, tmp_path, train_step=task == "sft")
    ours = pq.read_table(tokenized / "train.parquet").to_pylist()
    EXPECT[task](tool, got, ours, AutoTokenizer.from_pretrained(tiny_model))
    if task == "sft":
        assert got.get("trained_steps") == 1 or got.get("trained") is True
