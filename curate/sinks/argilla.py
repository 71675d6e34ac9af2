"""Push back to annotators: create review datasets from templates, and log examples into them.

Templates are a closed registry (``TEMPLATES``): each names its fields, questions, guidelines and
how a row of curate's canonical columns (or a model's generations) becomes a record. Records are
keyed by the row's ``id`` / ``record_id`` (else a hash of the row's field values), and logging
upserts by that key, so running ``curate argilla log`` twice does not duplicate anything.

A row from ``curate generate --export`` carries a ``generation`` (with ``agent`` and ``score``): it
is shown as the response and pre-filled in the template's reply question as a suggestion, which the
annotator accepts or edits; the next ``curate export`` reads the submitted answers. An empty
generation is still logged, so annotators see that the model said nothing: its response reads
``(empty generation)``, it gets no suggestion, and its ``flag`` metadata is ``empty_generation``.

Every request goes through :class:`curate.sources.argilla_api.ArgillaHttp`, the client the live source
uses: bounded waits and retries, an optional deadline, and every answer checked for shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.sources.argilla_api import ArgillaHttp, connect, find_dataset, resolve_credentials
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


#: What an empty generation is logged as: Argilla refuses empty text, and annotators should see it.
EMPTY_GENERATION = "(empty generation)"
#: The terms metadata property curate's templates carry, and its value for an empty generation.
FLAG, EMPTY_FLAG = "flag", "empty_generation"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def empty_generation(row: Mapping[str, Any]) -> bool:
    """Whether the row is a model's generation that came out empty (or only whitespace).

    >>> empty_generation({"generation": " "}), empty_generation({"generation": "Hi"}), empty_generation({})
    (True, False, False)
    """
    return "generation" in row and _blank(row["generation"])


@dataclass(frozen=True)
class Settings:
    """A dataset's settings as the server's v1 API takes them (one payload per field, question and
    metadata property), so creating one needs no SDK objects bound to a default client."""

    guidelines: str
    fields: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    metadata: list[dict[str, Any]]


def _text_field(name: str, title: str, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "required": required,
        "settings": {"type": "text", "use_markdown": True},
    }


def _chat_field(name: str, title: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "required": True,
        "settings": {"type": "chat", "use_markdown": True},
    }


def _rating(name: str, title: str, values: Sequence[int]) -> dict[str, Any]:
    options = [{"value": v} for v in values]
    return {
        "name": name,
        "title": title,
        "required": True,
        "settings": {"type": "rating", "options": options},
    }


def _text_question(name: str, title: str, markdown: bool = False) -> dict[str, Any]:
    settings = {"type": "text", "use_markdown": markdown}
    return {"name": name, "title": title, "required": False, "settings": settings}


def _ranking(name: str, title: str, values: Sequence[str]) -> dict[str, Any]:
    options = [{"value": v, "text": v, "description": None} for v in values]
    return {
        "name": name,
        "title": title,
        "required": True,
        "settings": {"type": "ranking", "options": options},
    }


# annotators can filter on it; a model's empty generation is flagged with it
FLAG_PROPERTY = {
    "name": FLAG,
    "title": "Flag",
    "settings": {"type": "terms", "values": [EMPTY_FLAG]},
    "visible_for_annotators": True,
}


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    guidelines: str
    settings: Callable[[int], Settings]
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


def _sft_settings(_n: int) -> Settings:
    return Settings(
        SFT_GUIDELINES,
        [
            _text_field("instruction", "Instruction"),
            _text_field("context", "Context", required=False),
            _text_field("response", "Response"),
        ],
        [
            _rating("quality", "Quality of the response (1 = bad, 5 = excellent)", [1, 2, 3, 4, 5]),
            _text_question(
                "corrected_response", "Corrected response (leave empty if the response is good)", True
            ),
        ],
        [FLAG_PROPERTY],
    )


def _sft_fields(row: Mapping[str, Any], where: str, _n: int) -> dict[str, Any]:
    instruction = _first(row, "instruction", "prompt")
    if empty_generation(row):
        response: Any = EMPTY_GENERATION
    else:
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


def _preference_settings(n: int) -> Settings:
    names = _response_names(n)
    return Settings(
        PREFERENCE_GUIDELINES,
        [
            _text_field("prompt", "Prompt"),
            *[_text_field(f, f"Response {i}") for i, f in enumerate(names, 1)],
        ],
        [
            _ranking("ranking", "Rank the responses (1 = best)", names),
            _text_question("notes", "Why? (optional)"),
        ],
        [],
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


def _chat_settings(_n: int) -> Settings:
    return Settings(
        CHAT_GUIDELINES,
        [_chat_field("conversation", "Conversation"), _text_field("reply", "Assistant reply")],
        [
            _rating("quality", "Quality of the reply (1 = bad, 5 = excellent)", [1, 2, 3, 4, 5]),
            _text_question("corrected_reply", "Corrected reply (leave empty if the reply is good)", True),
        ],
        [FLAG_PROPERTY],
    )


def _chat_fields(row: Mapping[str, Any], where: str, _n: int) -> dict[str, Any]:
    from curate.records import check_messages

    messages = list(check_messages(_first(row, "messages", "prompt"), f"{where}: messages"))
    reply = (
        EMPTY_GENERATION
        if empty_generation(row)
        else _first(row, "generation", "reply", "completion", "response")
    )
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


def open_http(
    api_url: str | None, api_key: str | None, timeout: float | None = None, deadline: float | None = None
) -> ArgillaHttp:
    """A checked connection (Argilla 2.x, the key works) through the live source's client."""
    for flag, value in (("--timeout", timeout), ("--deadline", deadline)):
        if value is not None and not value > 0:
            raise CurateError(f"{flag}: got {value}, expected a number of seconds above 0")
    url, key = resolve_credentials(None, api_url, api_key)
    http, _version = connect(url, key, timeout=timeout, deadline=deadline)
    return http


def _workspace(http: ArgillaHttp, workspace: str | None) -> tuple[str, str]:
    """The workspace's id and name: the one given, else the only one the key sees."""
    listed = http.items("GET", "/api/v1/me/workspaces", "list workspaces", ("id", "name"))
    by_name = {str(w["name"]): str(w["id"]) for w in listed}
    names = ", ".join(sorted(by_name)) or "none"
    if workspace is None:
        if len(by_name) != 1:
            raise CurateError(f"{http.url}: give --workspace (workspaces: {names})")
        workspace = next(iter(by_name))
    if workspace not in by_name:
        raise CurateError(f"{http.url}: no workspace {workspace!r} (workspaces: {names})")
    return by_name[workspace], workspace


@dataclass(frozen=True)
class Created:
    id: str
    workspace: str
    name: str
    created: bool  # False: it existed already and was left as it was


def create_dataset(
    http: ArgillaHttp, template: Template, name: str, workspace: str | None, responses: int = 2
) -> Created:
    """Create and publish the dataset; an existing published one with that name is left as is.

    A failure after the dataset was created deletes it again (it is curate's own, made moments
    ago), so a retry does not find a half-made draft."""
    if template.name == "preference" and responses < 2:
        raise CurateError("--responses: a preference dataset needs at least 2 responses")
    return create_with_settings(http, template.settings(responses), name, workspace)


def create_with_settings(http: ArgillaHttp, settings: Settings, name: str, workspace: str | None) -> Created:
    """Create and publish a dataset with these settings; an existing published one with that name
    is left as is (``created`` False). A failure after the dataset was created deletes it again."""
    ws_id, ws_name = _workspace(http, workspace)
    listed = http.items("GET", "/api/v1/me/datasets", "list datasets", ("id", "name", "workspace_id"))
    for d in listed:
        if d["name"] == name and str(d["workspace_id"]) == ws_id:
            if d.get("status", "ready") != "ready":
                raise CurateError(
                    f"{http.url}: dataset {ws_name}/{name} exists but is not published (status "
                    f"{d.get('status')!r}); delete it in Argilla or choose another name"
                )
            return Created(str(d["id"]), ws_name, name, False)
    body = {"name": name, "guidelines": settings.guidelines, "workspace_id": ws_id}
    made = http.object("POST", "/api/v1/datasets", f"create dataset {ws_name}/{name}", ("id",), json=body)
    dataset_id = str(made["id"])
    base = f"/api/v1/datasets/{dataset_id}"
    try:
        for kind, payloads in (
            ("fields", settings.fields),
            ("questions", settings.questions),
            ("metadata-properties", settings.metadata),
        ):
            for payload in payloads:
                what = f"add {kind} {payload['name']!r} to {ws_name}/{name}"
                http.object("POST", f"{base}/{kind}", what, ("id",), json=payload)
        http.object("PUT", f"{base}/publish", f"publish {ws_name}/{name}", ("id",))
    except BaseException as err:
        try:
            http.request("DELETE", base, f"remove the half-made dataset {ws_name}/{name}")
        except CurateError:
            if isinstance(err, CurateError):  # the first error is the cause; say what is left
                raise CurateError(
                    f"{err}; the unpublished dataset {ws_name}/{name} could not be removed: delete it in Argilla"
                ) from None
        raise
    return Created(dataset_id, ws_name, name, True)


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

    def __init__(
        self,
        api_url: str | None,
        api_key: str | None,
        name: str,
        workspace: str | None,
        *,
        timeout: float | None = None,
        deadline: float | None = None,
    ):
        self.http = open_http(api_url, api_key, timeout, deadline)
        try:
            self._read_settings(name, workspace)
        except BaseException:
            self.http.close()
            raise

    def _read_settings(self, name: str, workspace: str | None) -> None:
        http = self.http
        data, self.workspace = find_dataset(http, name, workspace)
        self.name = name
        self.dataset_id = str(data["id"])
        base = f"/api/v1/datasets/{self.dataset_id}"
        fields = http.items("GET", f"{base}/fields", "read the dataset's fields", ("name",))
        self.template, self.n = template_of(
            [http.text(f, "name", f"GET {base}/fields") for f in fields], name
        )
        questions = http.items("GET", f"{base}/questions", "read the dataset's questions", ("id", "name"))
        self.question_ids = {http.text(q, "name", f"GET {base}/questions"): str(q["id"]) for q in questions}
        metadata = http.items(
            "GET",
            f"/api/v1/me/datasets/{self.dataset_id}/metadata-properties",
            "read metadata properties",
            ("name",),
        )
        # datasets made before curate's templates had the flag property get the placeholder only
        self.flags = any(m["name"] == FLAG for m in metadata)

    def suggestion(self, row: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        """A model's generation as a suggestion on the reply question (value, score, agent)."""
        generation = row.get("generation")
        question = self.template.reply_question
        if _blank(generation) or question is None or question not in self.question_ids:
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
    counts = {"rows": 0, "logged": 0, "duplicates": 0, "suggested": 0, "empty": 0}

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
        empty = empty_generation(row)
        counts["empty"] += empty  # logged with a visible placeholder, never a blocker for the file
        if target.flags:  # an upsert replaces the metadata: a fixed generation loses its old flag
            item["metadata"] = {FLAG: EMPTY_FLAG} if empty else {}
        suggestion = target.suggestion(row, f"{where}: row {index + 1}")
        if suggestion is not None:
            item["suggestions"] = [suggestion]
            counts["suggested"] += 1
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    flush()
    return counts
