"""``curate preview``: what a model will be trained on, before training.

A pre-flight summary over every row (trainable-token share, rows over the max length, rows
with nothing to train, rejects by reason, the template), a *template check* (the labeling rule
applied to the chat template, with the spec's ``template_kwargs``, on one built-in multi-turn
conversation: what each assistant turn trains, or why it does not) and N examples rendered token by token with the trained tokens
highlighted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from curate.templates import TemplateError
from curate.tokens.labels import IGNORE_INDEX, Labeler, Segment
from curate.tokens.tokenize import Inspection, RowTransform, token_pieces

# The conversation the template check renders: a system message and three assistant turns.
EXAMPLE = (
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome."},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "You are welcome."},
)

# Trained tokens alternate two backgrounds so token boundaries stay visible.
_TRAINED = ("bold black on green3", "bold black on dark_sea_green2")
_MASKED = "grey50"
_CUT = "strike red"


def preview(
    rows: Iterable[dict[str, Any]], transform: RowTransform, n: int, upstream_rejects: int = 0
) -> dict[str, Any]:
    """Run ``transform`` over every row and inspect the first ``n``; a JSON-ready report.

    ``upstream_rejects``: records the pipeline rejected before tokenizing (reported as is).
    """
    examples: list[dict[str, Any]] = []
    shown: list[list[Inspection] | None] = []
    rest: list[dict[str, Any]] = []
    for row in rows:
        if len(examples) >= n:
            rest.append(row)
            if len(rest) == 512:
                for _ in transform.map(rest):  # counted in the summary
                    pass
                rest = []
            continue
        rid = str(row.get("record_id", len(examples)))
        result = transform(row)
        inspected = transform.inspect(row)
        if isinstance(result, tuple) or isinstance(inspected, tuple):
            reason, detail = result if isinstance(result, tuple) else inspected  # type: ignore[misc]
            examples.append({"record_id": rid, "status": "rejected", "reason": reason, "detail": detail})
            shown.append(None)
        else:
            examples.append(
                {"record_id": rid, "status": "ok", "sequences": [_describe(s) for s in inspected]}
            )
            shown.append(inspected)
    for _ in transform.map(rest):
        pass
    summary = transform.summary()
    report = {
        "tokenizer": summary["tokenizer"],
        "template": summary["template"],
        "task": summary["task"],
        "max_length": summary["max_length"],
        "truncation": summary["truncation"],
        "rows": summary["rows"],
        "rows_ok": summary["rows_ok"],
        "tokens": summary["tokens"],
        "trainable_tokens": summary["trainable_tokens"],
        "trainable_token_share": summary["trainable_token_share"],
        "over_max_length": summary["over_max_length"],
        "truncated": summary["truncated"],
        "nothing_to_train": summary["fully_masked"],
        "rejected_by_reason": summary["rejected_by_reason"],
        "records_rejected_before_tokenizing": upstream_rejects,
        "template_check": template_check(transform),
        "examples": examples,
    }
    report["_inspections"] = shown  # for render(); dropped from JSON output
    return report


def template_check(transform: RowTransform) -> dict[str, Any] | None:
    """The labeling rule on the transform's chat template, for :data:`EXAMPLE`: per assistant
    turn, the text it trains or why it is not trained (None without a chat template)."""
    template = transform.chat_template
    if template is None:
        return None
    messages = [dict(m) for m in EXAMPLE]
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    # One sequence for the whole conversation, or one per turn (each_turn_as_row).
    if transform.train_on == "each_turn_as_row":
        plans = [(messages[: i + 1], "last_assistant") for i in assistant]
    else:
        plans = [(messages, transform.train_on)]
    sequences: list[dict[str, Any]] = []
    turns: dict[int, dict[str, Any]] = {}
    for msgs, train_on in plans:
        try:
            chat = template.assistant_spans(msgs, train_on)  # type: ignore[arg-type]
        except TemplateError as err:
            turns.setdefault(
                len(msgs) - 1,
                {"turn": len(msgs) - 1, "status": "rejected", "reason": err.reason, "detail": str(err)},
            )
            continue
        encoded = Labeler(transform.tokenizer, keep_offsets=True).encode(
            [Segment(chat.text, chat.spans, False)]
        )[0]
        if isinstance(encoded, tuple):
            turns.setdefault(
                len(msgs) - 1,
                {"turn": len(msgs) - 1, "status": "rejected", "reason": encoded[0], "detail": encoded[1]},
            )
            continue
        assert encoded.offsets is not None
        trained = [lab != IGNORE_INDEX for lab in encoded.labels]
        pieces = token_pieces(transform.tokenizer, chat.text, encoded.input_ids, encoded.offsets, trained)
        sequences.append({"pieces": pieces, "tokens": len(pieces), "trained": sum(trained)})
        for turn, (start, end) in zip(chat.turns, chat.spans, strict=True):
            note = "no end marker after it" if turn in chat.open_ended else None
            turns[turn] = {"turn": turn, "status": "trained", "text": chat.text[start:end], "note": note}
        for turn, reason, detail in chat.masked:
            turns.setdefault(
                turn, {"turn": turn, "status": "not trained", "reason": reason, "detail": detail}
            )
    last_only = transform.train_on == "last_assistant"
    for i in assistant:
        turns.setdefault(
            i,
            {
                "turn": i,
                "status": "not trained",
                "reason": "train_on",
                "detail": "last_assistant trains the last turn only",
            }
            if last_only
            else {"turn": i, "status": "not trained"},
        )
    return {
        "template": template.describe(),
        "train_on": transform.train_on,
        "template_kwargs": transform.template_kwargs,
        "stop_markers": list(template.stop_markers()),
        "turns": [turns[i] for i in assistant],
        "_sequences": sequences,
    }


def _describe(seq: Inspection) -> dict[str, Any]:
    runs: list[str] = []
    current: list[str] = []
    for i, (piece, trained) in enumerate(seq.pieces):
        kept = i < seq.kept[0] or i >= seq.kept[1]
        if trained and kept:
            current.append(piece)
        elif current:
            runs.append("".join(current))
            current = []
    if current:
        runs.append("".join(current))
    return {
        "name": seq.name,
        "tokens": seq.tokens,
        "trainable_tokens": seq.trainable,
        "truncated": seq.kept[1] != seq.kept[0] or seq.kept[0] != seq.kept[2],
        "trained_text": runs,
    }


def json_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report without display-only data: stable keys for machines."""
    out = {k: v for k, v in report.items() if not k.startswith("_")}
    if out.get("template_check"):
        out["template_check"] = {k: v for k, v in out["template_check"].items() if not k.startswith("_")}
    return out


def render(report: dict[str, Any], console: Console) -> None:
    """Print the pre-flight summary and the examples with trained tokens highlighted."""
    table = Table(title="pre-flight", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    share = report["trainable_token_share"]
    table.add_row("tokenizer", str(report["tokenizer"]))
    table.add_row("template", str(report["template"] or "rows' own prompt/completion"))
    table.add_row(
        "max length", f"{report['max_length']} ({report['truncation']})" if report["max_length"] else "none"
    )
    table.add_row("rows tokenized", f"{report['rows_ok']} of {report['rows']}")
    table.add_row("trainable tokens", f"{report['trainable_tokens']} of {report['tokens']} ({share:.1%})")
    table.add_row("rows over max length", _warn(report["over_max_length"]))
    table.add_row("rows truncated", str(report["truncated"]))
    table.add_row("rows with nothing to train", _warn(report["nothing_to_train"]))
    for reason, count in report["rejected_by_reason"].items():
        table.add_row(f"[red]rejected: {reason}[/]", str(count))
    if report["records_rejected_before_tokenizing"]:
        table.add_row("records rejected by the spec", str(report["records_rejected_before_tokenizing"]))
    console.print(table)
    legend = Text.assemble(
        ("trained", _TRAINED[0]), "  ", ("masked", _MASKED), "  ", ("cut by truncation", _CUT)
    )
    console.print(legend)
    if report.get("template_check"):
        console.print(_template_panel(report["template_check"]))
    for example, inspections in zip(report["examples"], report["_inspections"], strict=True):
        rid = example["record_id"]
        if inspections is None:
            console.print(
                Panel(
                    Text(example["detail"]),
                    title=f"{rid}: rejected ({example['reason']})",
                    border_style="red",
                )
            )
            continue
        parts = []
        for seq, info in zip(inspections, example["sequences"], strict=True):
            header = Text(
                f"{seq.name}: {seq.tokens} tokens, {seq.trainable} trained"
                + (" (truncated)" if info["truncated"] else ""),
                style="bold",
            )
            parts.extend([header, _token_text(seq)])
        console.print(Panel(Group(*parts), title=rid, title_align="left"))


def _template_panel(check: dict[str, Any]) -> Panel:
    """The template check: the example conversation with trained tokens highlighted, then one
    line per assistant turn saying what it trains or why it does not."""
    parts: list[Any] = [
        Text(f"stop markers: {', '.join(check['stop_markers']) or 'none'}   train_on: {check['train_on']}")
    ]
    if check.get("template_kwargs"):
        parts.append(Text(f"template_kwargs: {check['template_kwargs']}"))
    for seq in check["_sequences"]:
        n = seq["tokens"]
        parts.append(_token_text(Inspection("example", "", seq["pieces"], (n, n, n), n, seq["trained"])))
    for turn in check["turns"]:
        if turn["status"] == "trained":
            note = f"  ({turn['note']})" if turn.get("note") else ""
            parts.append(Text(f"turn {turn['turn']}: trains {turn['text']!r}{note}"))
        else:
            why = f"{turn.get('reason', '')}: {turn.get('detail', '')}".strip(": ")
            parts.append(Text(f"turn {turn['turn']}: {turn['status']} ({why})", style="yellow"))
    title = f"template check: {check['template']} on a built-in 3-turn chat"
    return Panel(Group(*parts), title=title, title_align="left")


def _warn(count: int) -> str:
    return f"[yellow]{count}[/]" if count else "0"


def _token_text(seq: Inspection) -> Text:
    text = Text()
    flip = 0
    for i, (piece, trained) in enumerate(seq.pieces):
        cut = seq.kept[0] <= i < seq.kept[1]
        if cut:
            style = _CUT
        elif trained:
            style = _TRAINED[flip]
            flip ^= 1
        else:
            style = _MASKED
        text.append(piece, style=style)
    return text
