"""Push back to annotators: create review datasets from templates, and log examples into them.

Templates are a closed registry (``TEMPLATES``): each names its fields, questions, guidelines and
how a row of curate's canonical columns (or a model's generations) becomes a record. Records are
keyed by the row's ``id`` / ``record_id`` (else a hash of the row's field values), and logging
upserts by that key, so running ``curate argilla log`` twice does not duplicate anything.

A row from ``curate generate --export`` carries a ``generation`` (with ``agent`` and ``score``): it
is shown as the response and pre-filled in the template's reply question as a suggestion, which the
annotator accepts or edits; the next ``curate export`` reads the submitted answers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import argilla as rg

from curate.errors import CurateError
from curate.sources.argilla_api import connect, find_dataset, resolve_credentials
from curate.sources.rows import find_data_files, iter_rows

BATCH = 256


def _text(value: Any, where: str, column: str) -> str:
    """A text field's value; a conversation is written one ``role: content`` line per message."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and all(isinstance(m, Mapping) and "content" in m for m in value):
        if len(value) == 1:
            return str(value[0]["content"])
        return "\n\n".join(f"{m.get('role', 'user')}: {m['content']}" for m in value)
    raise CurateError(f"{where}: column {column!r} is {type(value).__name__}, expected text or messages")


def _first(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    guidelines: str
    settings: Callable[[int], rg.Settings]
    fields: Callable[[Mapping[str, Any], str, int], dict[str, Any]]
    reply_question: str | None = None  # where a model's generation goes as a suggestion


# --- sft-review -----------------------------------------------------------------------------------
SFT_GUIDELINES = """\
Review a model's response to an instruction.

1. Read the **instruction** (and the **context**, when there is one) and the **response**.
2. Rate the response's **quality** from 1 (wrong or harmful) to 5 (correct, complete, well written).
3. If the response can be fixed, write the corrected response in **corrected_response**; leave it
   empty when the response is already good.
4. Discard records whose instruction cannot be answered or is not in scope.
"""


def _sft_settings(_n: int) -> rg.Settings:
    return rg.Settings(
        guidelines=SFT_GUIDELINES,
        fields=[
            rg.TextField(name="instruction", title="Instruction", use_markdown=True),
            rg.TextField(name="context", title="Context", required=False, use_markdown=True),
            rg.TextField(name="response", title="Response", use_markdown=True),
        ],
        questions=[
            rg.RatingQuestion(
                name="quality",
                title="Quality of the response (1 = bad, 5 = excellent)",
                values=[1, 2, 3, 4, 5],
            ),
            rg.TextQuestion(
                name="corrected_response",
                title="Corrected response (leave empty if the response is good)",
                required=False,
                use_markdown=True,
            ),
        ],
    )


def _sft_fields(row: Mapping[str, Any], where: str, _n: int) -> dict[str, Any]:
    instruction = _first(row, "instruction", "prompt")
    if "generation" in row and row["generation"] in (None, ""):
        raise CurateError(f"{where}: the generation is empty: nothing for annotators to review")
    response = _first(row, "generation", "response", "completion")
    if instruction is None or response is None:
        raise CurateError(f"{where}: sft-review needs instruction (or prompt) and response (or completion)")
    out = {
        "instruction": _text(instruction, where, "instruction"),
        "response": _text(response, where, "response"),
    }
    context = _text(row.get("context"), where, "context")
    if context:
        out["context"] = context
    return out


# --- preference -----------------------------------------------------------------------------------
PREFERENCE_GUIDELINES = """\
Compare the responses to the prompt.

Rank them in **ranking** from best (1) to worst. Judge helpfulness and correctness first, then
clarity. Give two responses the same rank only when you truly cannot prefer one. Discard records
whose prompt is broken or whose responses are all unusable.
"""


def _response_names(n: int) -> list[str]:
    return [f"response_{i}" for i in range(1, n + 1)]


def _preference_settings(n: int) -> rg.Settings:
    names = _response_names(n)
    return rg.Settings(
        guidelines=PREFERENCE_GUIDELINES,
        fields=[
            rg.TextField(name="prompt", title="Prompt", use_markdown=True),
            *[rg.TextField(name=f, title=f"Response {i}", use_markdown=True) for i, f in enumerate(names, 1)],
        ],
        questions=[
            rg.RankingQuestion(name="ranking", title="Rank the responses (1 = best)", values=names),
            rg.TextQuestion(name="notes", title="Why? (optional)", required=False),
        ],
    )


def _preference_fields(row: Mapping[str, Any], where: str, n: int) -> dict[str, Any]:
    prompt = _first(row, "prompt", "instruction")
    if prompt is None:
        raise CurateError(f"{where}: preference needs a prompt column")
    responses = row.get("responses")
    if responses is None and all(f in row for f in _response_names(n)):
        responses = [row[f] for f in _response_names(n)]
    if responses is None and row.get("chosen") is not None and row.get("rejected") is not None:
        responses = [row["chosen"], row["rejected"]]
    if not isinstance(responses, Sequence) or isinstance(responses, str) or len(responses) != n:
        got = len(responses) if isinstance(responses, Sequence) and not isinstance(responses, str) else 0
        raise CurateError(
            f"{where}: preference with {n} responses needs a 'responses' list of {n}, "
            f"columns response_1..response_{n}, or chosen + rejected (got {got})"
        )
    out = {"prompt": _text(prompt, where, "prompt")}
    for name, value in zip(_response_names(n), responses, strict=True):
        out[name] = _text(value, where, name)
    return out


# --- chat-review ----------------------------------------------------------------------------------
CHAT_GUIDELINES = """\
Review the assistant's last reply in a conversation.

Read the **conversation** and the **reply**. Rate the reply's **quality** from 1 to 5, and write a
better reply in **corrected_reply** when it can be improved (leave it empty when it is good).
"""


def _chat_settings(_n: int) -> rg.Settings:
    return rg.Settings(
        guidelines=CHAT_GUIDELINES,
        fields=[
            rg.ChatField(name="conversation", title="Conversation"),
            rg.TextField(name="reply", title="Assistant reply", use_markdown=True),
        ],
        questions=[
            rg.RatingQuestion(
                name="quality", title="Quality of the reply (1 = bad, 5 = excellent)", values=[1, 2, 3, 4, 5]
            ),
            rg.TextQuestion(
                name="corrected_reply",
                title="Corrected reply (leave empty if the reply is good)",
                required=False,
                use_markdown=True,
            ),
        ],
    )


def _chat_fields(row: Mapping[str, Any], where: str, _n: int) -> dict[str, Any]:
    from curate.records import check_messages

    messages = list(check_messages(_first(row, "messages", "prompt"), f"{where}: messages"))
    reply = _first(row, "generation", "reply", "completion", "response")
    if reply is None:
        if messages[-1]["role"] != "assistant":
            raise CurateError(
                f"{where}: chat-review needs a reply: a last assistant message or a reply column"
            )
        reply = messages.pop()["content"]
    if not messages:
        raise CurateError(f"{where}: chat-review needs at least one message before the reply")
    return {"conversation": messages, "reply": _text(reply, where, "reply")}


TEMPLATES: dict[str, Template] = {
    "sft-review": Template(
        "sft-review", "instruction/context/response; quality rating + corrected response", SFT_GUIDELINES,
        _sft_settings, _sft_fields, "corrected_response",
    ),
    "preference": Template(
        "preference", "prompt + N responses; ranking question", PREFERENCE_GUIDELINES,
        _preference_settings, _preference_fields,
    ),
    "chat-review": Template(
        "chat-review", "conversation + reply; quality rating + corrected reply", CHAT_GUIDELINES,
        _chat_settings, _chat_fields, "corrected_reply",
    ),
}  # fmt: skip


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise CurateError(f"unknown template {name!r}, expected one of {', '.join(TEMPLATES)}") from None


def record_id(row: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
    """The row's own id, else a stable hash of its field values (so re-logging finds it again)."""
    own = _first(row, "id", "record_id")
    if own is not None:
        return str(own)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f"sha256-{digest[:32]}"


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSON Lines, JSON, CSV or Parquet file (curate's export columns or a model's generations)."""
    return iter_rows(find_data_files(path))


def client(api_url: str | None, api_key: str | None) -> rg.Argilla:
    """An SDK client after curate's own checks (version, key), so failures are one clear line."""
    url, key = resolve_credentials(None, api_url, api_key)
    http, _version = connect(url, key)
    http.close()
    return rg.Argilla(api_url=url, api_key=key)


def _workspace_name(sdk: rg.Argilla, workspace: str | None, url: str) -> str:
    names = [w.name for w in sdk.workspaces]
    if workspace is None:
        if len(names) != 1:
            raise CurateError(f"{url}: give --workspace (workspaces: {', '.join(sorted(names)) or 'none'})")
        return str(names[0])
    if workspace not in names:
        raise CurateError(
            f"{url}: no workspace {workspace!r} (workspaces: {', '.join(sorted(names)) or 'none'})"
        )
    return workspace


def create_dataset(
    sdk: rg.Argilla, template: Template, name: str, workspace: str | None, responses: int = 2
) -> tuple[rg.Dataset, bool]:
    """Create the dataset; an existing one with the same name is returned as is (created=False)."""
    url = str(sdk.api_url)
    ws = _workspace_name(sdk, workspace, url)
    existing = sdk.datasets(name=name, workspace=ws)
    if existing is not None:
        return existing, False
    if template.name == "preference" and responses < 2:
        raise CurateError("--responses: a preference dataset needs at least 2 responses")
    dataset = rg.Dataset(name=name, workspace=ws, settings=template.settings(responses), client=sdk)
    return dataset.create(), True


def template_of(field_names: Sequence[str], dataset: str) -> tuple[Template, int]:
    """Which template a dataset was created from, by its field names."""
    names = list(field_names)
    if names[:1] == ["instruction"]:
        return TEMPLATES["sft-review"], 0
    if names[:1] == ["conversation"]:
        return TEMPLATES["chat-review"], 0
    if names[:1] == ["prompt"] and len(names) > 2 and all(n.startswith("response_") for n in names[1:]):
        return TEMPLATES["preference"], len(names) - 1
    raise CurateError(
        f"dataset {dataset!r} has fields {', '.join(names)}: not one curate created "
        f"(templates: {', '.join(TEMPLATES)})"
    )


class LogTarget:
    """An existing dataset to upsert records into, over the server's bulk API (with retries)."""

    def __init__(self, api_url: str | None, api_key: str | None, name: str, workspace: str | None):
        url, key = resolve_credentials(None, api_url, api_key)
        self.http, _version = connect(url, key)
        data, self.workspace = find_dataset(self.http, name, workspace)
        self.name = name
        self.dataset_id = str(data["id"])
        fields = self.http.request("GET", f"/api/v1/datasets/{self.dataset_id}/fields", "read fields")[
            "items"
        ]
        self.template, self.n = template_of([f["name"] for f in fields], name)
        questions = self.http.request(
            "GET", f"/api/v1/datasets/{self.dataset_id}/questions", "read questions"
        )["items"]
        self.question_ids = {q["name"]: str(q["id"]) for q in questions}

    def suggestion(self, row: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """A model's generation as a suggestion on the reply question (value, score, agent)."""
        generation = row.get("generation")
        question = self.template.reply_question
        if generation in (None, "") or question is None or question not in self.question_ids:
            return None
        out: dict[str, Any] = {
            "question_id": self.question_ids[question],
            "value": str(generation),
            "type": "model",
        }
        score = row.get("score")
        if score is not None:
            if not isinstance(score, (int, float)) or not 0 <= score <= 1:
                raise CurateError(f"{where}: score must be a number in [0, 1], got {score!r}")
            out["score"] = float(score)
        if row.get("agent"):
            out["agent"] = str(row["agent"])
        return out

    def upsert(self, batch: list[dict[str, Any]]) -> None:
        self.http.request(
            "PUT",
            f"/api/v1/datasets/{self.dataset_id}/records/bulk",
            f"log {len(batch)} records to {self.workspace}/{self.name}",
            json={"items": batch},
        )

    def close(self) -> None:
        self.http.close()


def log_rows(
    target: LogTarget,
    rows: Iterator[dict[str, Any]],
    where: str,
    on_batch: Callable[[int], None] = lambda n: None,
) -> dict[str, int]:
    """Upsert rows as records keyed by id (``external_id`` on the server); returns counts."""
    seen: set[str] = set()
    batch: list[dict[str, Any]] = []
    counts = {"rows": 0, "logged": 0, "duplicates": 0, "suggested": 0}

    def flush() -> None:
        if batch:
            target.upsert(batch)
            counts["logged"] += len(batch)
            on_batch(counts["logged"])
            batch.clear()

    for index, row in enumerate(rows):
        counts["rows"] += 1
        fields = target.template.fields(row, f"{where}: row {index + 1}", target.n)
        rid = record_id(row, fields)
        if rid in seen:
            counts["duplicates"] += 1  # the same id twice in one file: the first wins
            continue
        seen.add(rid)
        item: dict[str, Any] = {"external_id": rid, "fields": fields}
        suggestion = target.suggestion(row, f"{where}: row {index + 1}")
        if suggestion is not None:
            item["suggestions"] = [suggestion]
            counts["suggested"] += 1
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    flush()
    return counts
