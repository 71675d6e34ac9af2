"""A live Argilla server that misbehaves: 500s, HTML, garbage, truncated bodies, slow or no
answers, missing keys and wrong types. Each ends in one ``error:`` line naming the server (never
the key) and the endpoint, after bounded, announced retries, or in rejects with a reason.

The real server cannot be made to misbehave on cue, so a small stand-in speaking the same HTTP
API runs on 127.0.0.1 in a thread. Waits are kept short through the timeout and deadline
settings; tests assert outcomes, and durations only against generous bounds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import manifest_of

from curate.errors import CurateError
from curate.sources import LiveOptions, argilla_api, argilla_live, open_source
from curate.sources.base import Unreadable
from curate.spec import ArgillaServerRef, SourceSpec

KEY = "sk-very-secret-key-123"
DS = "ds-1"
NEW = "ds-new"  # the dataset `curate argilla create` makes
PATHS = {
    "version": "/api/v1/version",
    "me": "/api/v1/me",
    "workspaces": "/api/v1/me/workspaces",
    "datasets": "/api/v1/me/datasets",
    "fields": f"/api/v1/datasets/{DS}/fields",
    "questions": f"/api/v1/datasets/{DS}/questions",
    "metadata": f"/api/v1/me/datasets/{DS}/metadata-properties",
    "records": f"/api/v1/datasets/{DS}/records",
    "search": f"/api/v1/datasets/{DS}/records/search",
    "bulk": f"/api/v1/datasets/{DS}/records/bulk",  # curate argilla log's upserts
    # curate argilla create: the new dataset, its settings, publishing it, removing it
    "create": "/api/v1/datasets",
    "new_dataset": f"/api/v1/datasets/{NEW}",
    "new_fields": f"/api/v1/datasets/{NEW}/fields",
    "new_questions": f"/api/v1/datasets/{NEW}/questions",
    "new_metadata": f"/api/v1/datasets/{NEW}/metadata-properties",
    "publish": f"/api/v1/datasets/{NEW}/publish",
}


def record(i: int, fix: Any = None, **extra: Any) -> dict[str, Any]:
    """A record as the server's list endpoint returns it (responses and suggestions included)."""
    responses = []
    if fix is not None:
        responses.append(
            {
                "id": f"resp-{i}",
                "values": {"fix": {"value": fix}},
                "status": "submitted",
                "user_id": "user-1",
                "updated_at": "2026-01-01T00:00:00",
            }
        )
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "external_id": f"r{i}",
        "fields": {"instruction": f"do task {i}", "response": f"answer {i}"},
        "metadata": {},
        "responses": responses,
        "suggestions": [],
        "status": "completed" if fix is not None else "pending",
        "updated_at": "2026-01-01T00:00:00",
        **extra,
    }


def default_answer(route: str, query: dict[str, list[str]], records: list[dict[str, Any]]) -> Any:
    if route == "version":
        return {"version": "2.8.0"}
    if route == "me":
        return {"id": "user-1", "username": "owner", "role": "owner"}
    if route == "workspaces":
        return {"items": [{"id": "ws-1", "name": "argilla"}]}
    if route == "datasets":
        return {"items": [{"id": DS, "name": "sft", "workspace_id": "ws-1", "guidelines": None}]}
    if route == "fields":
        return {
            "items": [
                {"id": "f1", "name": name, "required": True, "settings": {"type": "text"}}
                for name in ("instruction", "response")
            ]
        }
    if route == "questions":
        return {"items": [{"id": "q1", "name": "fix", "required": False, "settings": {"type": "text"}}]}
    if route == "metadata":
        return {"items": []}
    if route in ("create", "publish", "new_dataset"):
        return {"id": NEW, "name": "review", "status": "ready" if route == "publish" else "draft"}
    if route.startswith("new_"):
        return {"id": f"{route}-1", "name": "x"}
    if route == "bulk":
        return {"items": []}
    offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["1000"])[0])
    page = records[offset : offset + limit]
    if route == "search":
        return {"items": [{"record": r, "query_score": None} for r in page], "total": len(records)}
    return {"items": page, "total": len(records)}


Behaviour = Callable[["Handler", Any], None]


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout case) leaves the answer unsent: that is the point, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeArgilla:
    """The Argilla 2.x endpoints curate reads, each answering like the real server unless
    ``behave[route]`` says otherwise; every request is logged by route."""

    def __init__(self, records: list[dict[str, Any]], behave: dict[str, Behaviour]):
        self.records = records
        self.behave = behave
        self.hits: list[str] = []
        self.requests: list[str] = []  # "METHOD route"
        self.release = threading.Event()  # ends handlers told to hang, at teardown
        fake = self

        class _Handler(Handler):
            server_fake = fake

        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FakeArgilla:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Handler(BaseHTTPRequestHandler):
    server_fake: FakeArgilla
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _route(self) -> tuple[str | None, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        route = next((name for name, path in PATHS.items() if path == parts.path), None)
        return route, parse_qs(parts.query)

    def _handle(self) -> None:
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.headers.get("X-Argilla-Api-Key") != KEY:
            return self.send(401, {"detail": "Could not validate credentials"})
        route, query = self._route()
        if route is None:
            return self.send(404, {"detail": "Not Found"})
        fake.hits.append(route)
        fake.requests.append(f"{self.command} {route}")
        answer = default_answer(route, query, fake.records)
        behaviour = fake.behave.get(route)
        if behaviour is None:
            return self.send(200, answer)
        return behaviour(self, answer)

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle

    def send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --- behaviours --------------------------------------------------------------------------------


def status(code: int, times: int | None = None) -> Behaviour:
    """Answer HTTP ``code`` (the first ``times`` requests only, when given)."""
    seen = {"n": 0}

    def run(h: Handler, answer: Any) -> None:
        seen["n"] += 1
        if times is not None and seen["n"] > times:
            return h.send(200, answer)
        h.send(code, {"detail": "Internal Server Error"})

    return run


def body(data: bytes, content_type: str = "application/json") -> Behaviour:
    return lambda h, answer: h.send(200, data, content_type)


def replace(make: Callable[[Any], Any]) -> Behaviour:
    """Answer the usual JSON bent by ``make``."""
    return lambda h, answer: h.send(200, make(answer))


def truncated_json(h: Handler, answer: Any) -> None:
    text = json.dumps(answer).encode()
    h.send(200, text[: len(text) // 2])


def cut_connection(h: Handler, answer: Any) -> None:
    """Promise a long body, send a few bytes, close: the client sees a truncated transfer."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b'{"items": [')
    h.wfile.flush()
    h.close_connection = True


def slow(seconds: float) -> Behaviour:
    def run(h: Handler, answer: Any) -> None:
        h.server_fake.release.wait(seconds)
        h.send(200, answer)

    return run


def trickle(every_s: float) -> Behaviour:
    """Send the headers at once, then the body one byte every ``every_s`` seconds: each read is
    quick, so a per-read timeout never fires (stops when the test tears the server down)."""

    def run(h: Handler, answer: Any) -> None:
        data = json.dumps(answer).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        for i in range(len(data)):
            h.wfile.write(data[i : i + 1])
            h.wfile.flush()
            if h.server_fake.release.wait(every_s):
                return

    return run


def hang(h: Handler, answer: Any) -> None:
    h.server_fake.release.wait(30)  # never answers while the test runs


def echo_key(h: Handler, answer: Any) -> None:
    h.send(400, {"detail": f"bad request from key {KEY}"})


PROXY_PASSWORD = "proxy-pa55word-xyz"


def echo_headers(h: Handler, answer: Any) -> None:
    """A proxy quoting the request back: the key in its header form, cut into halves where a naive
    scrubber that only replaces the exact key would miss it, plus a proxy's own credentials."""
    import base64

    basic = base64.b64encode(f"user:{PROXY_PASSWORD}".encode()).decode()
    h.send(
        400,
        {
            "detail": f"headers {{'x-argilla-api-key': '{KEY}', 'Proxy-Authorization': 'Basic {basic}'}} "
            f"upstream http://user:{PROXY_PASSWORD}@10.0.0.1/ said no"
        },
    )


def first_item(change: Callable[[dict[str, Any]], Any]) -> Behaviour:
    def make(answer: Any) -> Any:
        items = list(answer["items"])
        items[0] = change(dict(items[0]))
        return {**answer, "items": items}

    return replace(make)


def _set(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda item: {**item, **changes}


def _drop(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda item: {k: v for k, v in item.items() if k != key}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(argilla_api, "BACKOFF_BASE_S", 0.001)


def open_live(url: str, timeout: float | None = None, deadline: float | None = None, **ref: Any) -> Any:
    """The live source through ``open_source``; timeout and deadline as its keyword arguments
    (what the CLI flags pass), other settings through the spec's ``source.argilla``."""
    spec = SourceSpec(argilla=ArgillaServerRef(dataset="sft", **ref))
    return open_source(
        spec, Path.cwd(), None, LiveOptions(api_url=url, api_key=KEY, timeout=timeout, deadline=deadline)
    )


RECORDS = [record(i, fix=f"fixed {i}" if i % 2 else None) for i in range(5)]

# name: (route, behaviour, settings, needles in the error, retry notes on stderr)
ERRORS: dict[str, tuple[str, Behaviour, dict[str, Any], list[str], int]] = {
    "version answers 500": ("version", status(500), {}, ["read the server version failed after 5 attempts (HTTP 500)"], 4),
    "version answers HTML": ("version", body(b"<html><body>proxy login</body></html>", "text/html"), {},
                             ["not an Argilla 2.x server"], 0),
    "version answers garbage": ("version", body(b"\x00garbage{{"), {}, ["not an Argilla 2.x server"], 0),
    "version without a version": ("version", replace(lambda a: {"name": "argilla"}), {},
                                  ["GET /api/v1/version gave an unexpected answer", "expected an object with a 'version'"], 0),
    "version 1.x": ("version", replace(lambda a: {"version": "1.29.0"}), {}, ["server version 1.29.0, expected 2.x"], 0),
    "version hangs past the deadline": ("version", hang, {"timeout": 5, "deadline": 0.5},
                                        ["read the server version: gave up at the 0.5 s deadline"], 0),
    "me answers 401": ("me", status(401), {}, ["the Argilla API key was rejected (HTTP 401)"], 0),
    "workspaces as a list": ("workspaces", replace(lambda a: a["items"]), {},
                             ["GET /api/v1/me/workspaces gave an unexpected answer",
                              "expected an object with an 'items' list, found list"], 0),
    "workspace without a name": ("workspaces", first_item(_drop("name")), {},
                                 ["GET /api/v1/me/workspaces", "expected item 0 to have 'name'"], 0),
    "dataset without workspace_id": ("datasets", first_item(_drop("workspace_id")), {},
                                     ["GET /api/v1/me/datasets", "item 0 to have 'workspace_id'"], 0),
    "question without settings": ("questions", first_item(_drop("settings")), {},
                                  [f"GET /api/v1/datasets/{DS}/questions", "item 0 to have 'settings'"], 0),
    "question of an unknown type": ("questions", first_item(_set(settings={"type": "emoji"})), {},
                                    ["question 'fix' has unknown type 'emoji'"], 0),
    "records answer garbage": ("records", body(b"<<<not json>>>"), {},
                               [f"(GET /api/v1/datasets/{DS}/records) returned non-JSON"], 0),
    "records answer HTML": ("records", body(b"<!doctype html><title>502</title>", "text/html"), {},
                            ["returned non-JSON", "is this an Argilla server?"], 0),
    "records JSON cut in half": ("records", truncated_json, {}, ["returned non-JSON"], 0),
    "records transfer cut off": ("records", cut_connection, {},
                                 ["failed after 5 attempts (RemoteProtocolError)", "is the server up?"], 4),
    "records answer 503": ("records", status(503), {}, ["read records 0..1000 of argilla/sft failed after 5 attempts (HTTP 503)"], 4),
    "records 400 echoing the key": ("records", echo_key, {}, ["failed with HTTP 400", "bad request from key ***"], 0),
    "records 400 echoing headers": ("records", echo_headers, {},
                                    ["failed with HTTP 400", "'x-argilla-api-key': '***'", "'Proxy-Authorization': 'Basic ***'"], 0),
    "records items an object": ("records", replace(lambda a: {"items": {"a": 1}}), {},
                                ["expected an object with an 'items' list, found object"], 0),
    "a record that is a string": ("records", replace(lambda a: {"items": ["r0"], "total": 1}), {},
                                  ["item 0 to be an object, found text 'r0'"], 0),
    "a record without id": ("records", first_item(_drop("id")), {}, ["each record to have an 'id'"], 0),
    "record responses a string": ("records", first_item(_set(responses="none")), {},
                                  ["'responses' to be a list of objects, found text 'none'"], 0),
    "response values a list": ("records", first_item(_set(responses=[{"values": ["x"], "status": "submitted"}])), {},
                               ["response 'values' to be an object"], 0),
    "total a string": ("records", replace(lambda a: {**a, "total": "five"}), {},
                       ["'total' to be a whole number, found text 'five'"], 0),
    "records slower than the timeout": ("records", slow(3), {"timeout": 0.2},
                                        ["failed after 5 attempts (ReadTimeout, no answer within 0.2 s)"], 4),
    "records hang past the deadline": ("records", hang, {"timeout": 0.3, "deadline": 1.5},
                                       ["read records 0..1000 of argilla/sft: gave up at the 1.5 s deadline",
                                        "(raise it with deadline or source.argilla.deadline)"], -1),
    "search item without its record": ("search", first_item(_drop("record")), {"response_status": ["submitted"]},
                                       [f"POST /api/v1/datasets/{DS}/records/search", "item 0 to hold a 'record' object"], 0),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_misbehaving_server_is_one_error(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    route, behaviour, settings, needles, notes = ERRORS[case]
    started = time.monotonic()
    with FakeArgilla(RECORDS, {route: behaviour}) as fake, pytest.raises(CurateError) as err:
        list(open_live(fake.url, **settings))
    elapsed = time.monotonic() - started
    message = str(err.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert fake.url in message and KEY not in message and PROXY_PASSWORD not in message
    assert "\n" not in message
    retries = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Argilla at ")]
    if notes >= 0:
        assert len(retries) == notes, retries
    assert all(fake.url in line and KEY not in line and "attempt" in line for line in retries)
    assert elapsed < 30  # bounded: the old client could wait over ten minutes


def test_a_retry_is_announced_and_then_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeArgilla(RECORDS, {"records": status(503, times=1)}) as fake:
        source = open_live(fake.url)
        items = list(source)
    assert [r.id for r in items] == [f"r{i}" for i in range(5)] and source.rows_read == 5
    (note,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Argilla at ")]
    assert note.startswith(
        f"Argilla at {fake.url} answered HTTP 503 to 'read records 0..1000 of argilla/sft' (attempt 1/5), retrying in "
    )
    assert fake.hits.count("records") == 2


def test_the_deadline_cuts_off_an_answer_trickling_in(cli: Any, tmp_path: Path) -> None:
    """A byte every 250 ms keeps each read under the 1 s timeout; the 6 s deadline still stops the
    read mid-answer (even the one-record count answer would take a minute). One error, nothing
    written."""
    with FakeArgilla(RECORDS, {"records": trickle(0.25)}) as fake:
        out = tmp_path / "out"
        started = time.monotonic()
        result = cli("export", write_spec(tmp_path, fake.url, timeout=1), "--out", out, "--api-key", KEY,
                     "--deadline", 6, "-q")  # fmt: skip
        elapsed = time.monotonic() - started
    assert len(json.dumps(default_answer("records", {"limit": ["1"]}, RECORDS))) * 0.25 > 60
    assert result.exit_code == 2 and "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gave up at the 6 s deadline" in errors[0], result.stderr
    assert "the answer was still arriving after" in errors[0]
    assert fake.hits.count("records") >= 1 and KEY not in result.stderr
    assert not out.exists()
    assert elapsed < 6 + 30  # stopped near the deadline (a generous margin for a busy machine)


def test_a_slow_answer_within_the_timeout_is_waited_for() -> None:
    with FakeArgilla(RECORDS, {"records": slow(0.05)}) as fake:
        source = open_live(fake.url, timeout=10)
        assert len(list(source)) == 5
    assert fake.hits.count("records") == 1  # no retry


def test_a_connection_refused_gives_up_after_bounded_attempts(capsys: pytest.CaptureFixture[str]) -> None:
    from curate.testing.argilla_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        CurateError, match=r"read the server version failed after 5 attempts \(ConnectError\)"
    ):
        open_live(url, timeout=1)
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Argilla at ")]
    assert len(notes) == 4 and all(f"Argilla at {url} did not answer (ConnectError)" in n for n in notes)
    assert [n.split("(attempt ")[1][:3] for n in notes] == ["1/5", "2/5", "3/5", "4/5"]


def test_pages_count_rows_and_records_are_checked_one_by_one() -> None:
    records = [
        record(0, fix="ok"),
        record(1, fix=["a", "list"]),  # a list answer in a text question
        record(2, fix=7),  # a number answer in a text question
        record(3, fix="ok", fields={"instruction": {"nested": 1}, "response": "r"}),
        record(4, fix="ok", external_id="r0"),  # a duplicate id
        record(5, fix=None),
        record(6, fix="ok"),
        record(7, fix="ok", suggestions=[{"question_id": "q9", "value": "x"}]),  # no such question
        record(8, fix="ok"),
    ]
    records[8]["responses"][0]["status"] = "approved"  # not an Argilla status
    with FakeArgilla(records, {}) as fake:
        source = open_live(fake.url, page_size=2)
        items = list(source)
    assert source.rows_read == len(records) == len(items)
    assert fake.hits.count("records") == 5  # pages of 2: 2 + 2 + 2 + 2 + 1
    bad = {i.record_id: (i.reason, i.detail) for i in items if isinstance(i, Unreadable)}
    assert bad == {
        "r1": (
            "bad_value:fix",
            "question 'fix', response 0 (user-1): expected text, found list ['a', 'list']",
        ),
        "r2": ("bad_value:fix", "question 'fix', response 0 (user-1): expected text, found number 7"),
        "r3": ("bad_value:instruction", "field 'instruction': expected text, found object {'nested': 1}"),
        "r0": ("duplicate_id", "id 'r0' already used by row 0 (0-based over the source); the first is kept"),
        "r7": ("bad_value:suggestions", "suggestion for unknown question id q9"),
        "r8": (
            "bad_value:fix",
            "question 'fix', response 0 (user-1): status text 'approved' is not one of submitted, discarded, draft",
        ),
    }


def test_text_no_file_can_hold_is_rejected_per_record() -> None:
    deep: list[Any] = []
    for _ in range(150):
        deep = [deep]
    records = [
        record(0, fix="ok"),
        record(1, fix="broken \ud800 text"),  # valid JSON (an escape), not valid Unicode
        record(2, fix="ok", metadata={"trace": deep}),
        record(3, fix="ok"),
    ]
    with FakeArgilla(records, {}) as fake:
        source = open_live(fake.url)
        items = list(source)
    assert source.rows_read == 4 and source.rows_unreadable == 2
    bad = {i.record_id: i for i in items if isinstance(i, Unreadable)}
    assert set(bad) == {"r1", "r2"} and {i.reason for i in bad.values()} == {"unreadable_row"}
    assert "lone surrogate (\\ud800)" in bad["r1"].detail
    assert "nested deeper than 100 levels" in bad["r2"].detail


def test_an_answer_nested_past_the_recursion_limit_is_one_error() -> None:
    nested = b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with FakeArgilla(RECORDS, {"records": body(nested)}) as fake, pytest.raises(CurateError) as err:
        list(open_live(fake.url))
    assert "returned JSON nested too deeply to read" in str(err.value) and fake.url in str(err.value)


def write_spec(tmp: Path, url: str, **argilla: Any) -> Path:
    spec = tmp / "live.yaml"
    settings = ", ".join(f"{k}: {v}" for k, v in {"dataset": "sft", "api_url": url, **argilla}.items())
    spec.write_text(
        f"name: live\ntask: sft\nsource: {{argilla: {{{settings}}}}}\n"
        "columns:\n  instruction: [{field: instruction}]\n  response: [{question: fix}, {field: response}]\n"
    )
    return spec


def test_export_from_a_server_that_stops_answering(cli: Any, tmp_path: Path) -> None:
    """The spec's timeout bounds each wait; retries are announced; one error, nothing written."""
    with FakeArgilla(RECORDS, {"records": hang}) as fake:
        out = tmp_path / "out"
        started = time.monotonic()
        result = cli(
            "export", write_spec(tmp_path, fake.url, timeout=0.2), "--out", out, "--api-key", KEY, "-q"
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 2 and "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "failed after 5 attempts (ReadTimeout, no answer within 0.2 s)" in errors[0]
    notes = [line for line in result.stderr.splitlines() if line.startswith("Argilla at ")]
    assert len(notes) == 4 and "did not answer (ReadTimeout" in notes[0]
    assert KEY not in result.stderr + result.stdout
    assert not out.exists() and elapsed < 30


def test_export_with_bad_values_from_the_server(cli: Any, tmp_path: Path) -> None:
    records = [record(i, fix=f"fixed {i}") for i in range(4)] + [record(4, fix=["x"]), record(5, fix=True)]
    with FakeArgilla(records, {}) as fake:
        out = tmp_path / "out"
        result = cli("export", write_spec(tmp_path, fake.url), "--out", out, "--api-key", KEY,
                     "--format", "jsonl", "-q")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    counts = manifest_of(out)["counts"]
    assert counts["input_records"] == 6 and counts["kept_records"] == 4
    assert counts["rejects_by_reason"] == {"bad_value:fix": 2}


@pytest.mark.parametrize(("flag", "value"), [("timeout", 0), ("deadline", -1)])
def test_timeout_and_deadline_must_be_positive(flag: str, value: float) -> None:
    with pytest.raises(CurateError, match=rf"^{flag}: got {value}, expected a number of seconds above 0"):
        argilla_live.ArgillaServerSource(
            ArgillaServerRef(dataset="x"), api_url="http://127.0.0.1:9", api_key=KEY, **{flag: value}
        )


def test_spec_rejects_a_non_positive_timeout(cli: Any, tmp_path: Path) -> None:
    result = cli("validate", write_spec(tmp_path, "http://127.0.0.1:9", timeout=0), "--offline")
    assert result.exit_code == 2 and "timeout" in result.stderr and "Traceback" not in result.stderr


# --- curate argilla log / create: the same client, the same shape checks ---------------------------

# name: (route, behaviour, needles in the one error line)
LOG_ERRORS: dict[str, tuple[str, Behaviour, list[str]]] = {
    "fields as a list": ("fields", replace(lambda a: a["items"]),
                         [f"GET /api/v1/datasets/{DS}/fields gave an unexpected answer",
                          "expected an object with an 'items' list, found list"]),
    "field without a name": ("fields", first_item(_drop("name")), ["item 0 to have 'name'"]),
    "field name a number": ("fields", first_item(_set(name=7)), [f"GET /api/v1/datasets/{DS}/fields",
                                                                 "expected 'name' to be text, found number 7"]),
    "questions an object": ("questions", replace(lambda a: {"items": {"fix": 1}}),
                            [f"GET /api/v1/datasets/{DS}/questions", "an 'items' list, found object"]),
    "question without id": ("questions", first_item(_drop("id")), ["item 0 to have 'id'"]),
    "metadata items text": ("metadata", replace(lambda a: {"items": ["flag"]}), ["item 0 to be an object"]),
    "workspaces null": ("workspaces", replace(lambda a: None), ["GET /api/v1/me/workspaces", "found NoneType None"]),
    "bulk answers HTML": ("bulk", body(b"<!doctype html><title>502</title>", "text/html"),
                          [f"(PUT /api/v1/datasets/{DS}/records/bulk) returned non-JSON"]),
}  # fmt: skip


def one_error(result: Any) -> str:
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout and KEY not in result.stderr + result.stdout
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize("case", list(LOG_ERRORS), ids=list(LOG_ERRORS))
def test_argilla_log_checks_the_answers_shape(case: str, cli: Any, tmp_path: Path) -> None:
    route, behaviour, needles = LOG_ERRORS[case]
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "a", "instruction": "hi", "response": "hello"}) + "\n")
    with FakeArgilla(RECORDS, {route: behaviour}) as fake:
        line = one_error(cli("argilla", "log", "sft", rows, "--api-url", fake.url, "--api-key", KEY))
    for needle in needles:
        assert needle in line, (needle, line)
    assert fake.url in line


CREATE_ERRORS: dict[str, tuple[str, Behaviour, list[str]]] = {
    "workspaces as a list": ("workspaces", replace(lambda a: a["items"]),
                             ["GET /api/v1/me/workspaces gave an unexpected answer"]),
    "workspace without an id": ("workspaces", first_item(_drop("id")), ["item 0 to have 'id'"]),
    "datasets items numbers": ("datasets", replace(lambda a: {"items": [1]}),
                               ["GET /api/v1/me/datasets", "item 0 to be an object, found number 1"]),
    "created dataset without id": ("create", replace(lambda a: {"name": "review"}),
                                   ["POST /api/v1/datasets gave an unexpected answer", "an object with 'id'"]),
    "a field refused": ("new_fields", status(422), ["add fields 'instruction' to argilla/review failed with HTTP 422"]),
    "publish answers garbage": ("publish", body(b"\x00garbage{{"), [f"(PUT /api/v1/datasets/{NEW}/publish) returned non-JSON"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CREATE_ERRORS), ids=list(CREATE_ERRORS))
def test_argilla_create_checks_the_answers_shape(case: str, cli: Any) -> None:
    route, behaviour, needles = CREATE_ERRORS[case]
    with FakeArgilla(RECORDS, {route: behaviour}) as fake:
        line = one_error(cli("argilla", "create", "review", "--api-url", fake.url, "--api-key", KEY))
    for needle in needles:
        assert needle in line, (needle, line)
    made = "POST create" in fake.requests
    # a dataset it created and could not finish is removed again, never left half-made
    assert ("DELETE new_dataset" in fake.requests) == (made and route != "create")


def test_argilla_create_through_the_shared_client() -> None:
    """The happy path against the stand-in: fields, questions and the flag property, then publish."""
    from curate.sinks import argilla as sink

    with FakeArgilla(RECORDS, {}) as fake:
        http = sink.open_http(fake.url, KEY)
        made = sink.create_dataset(http, sink.get_template("sft-review"), "review", None)
        again = sink.create_dataset(http, sink.get_template("sft-review"), "sft", "argilla")
        http.close()
    assert made == sink.Created(NEW, "argilla", "review", True)
    assert again == sink.Created(DS, "argilla", "sft", False)
    posts = [r for r in fake.requests if r.startswith(("POST new_", "PUT publish"))]
    assert posts == ["POST new_fields"] * 3 + ["POST new_questions"] * 2 + [
        "POST new_metadata",
        "PUT publish",
    ]


def test_argilla_log_deadline_cuts_off_a_trickling_answer(cli: Any, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "a", "instruction": "hi", "response": "hello"}) + "\n")
    with FakeArgilla(RECORDS, {"bulk": trickle(1.0)}) as fake:
        started = time.monotonic()
        result = cli("argilla", "log", "sft", rows, "--api-url", fake.url, "--api-key", KEY, "--deadline", 6)
        elapsed = time.monotonic() - started
    line = one_error(result)
    assert "gave up at the 6 s deadline" in line and "the answer was still arriving" in line
    assert elapsed < 6 + 30  # the trickled answer ({"items": []}) alone takes 13 s; generous margin


def test_record_ids_are_listed_page_by_page_and_checked() -> None:
    """What an incremental push compares its snapshot with: ids only, every page, shape checked."""
    with FakeArgilla(RECORDS, {}) as fake:
        source = open_live(fake.url, page_size=2)
        assert source.record_ids() == {f"r{i}" for i in range(5)}
        source.close()
    assert fake.hits.count("records") == 3  # 2 + 2 + 1
    with (
        FakeArgilla(RECORDS, {"records": first_item(_drop("id"))}) as fake,
        pytest.raises(CurateError) as err,
    ):
        open_live(fake.url).record_ids()
    assert "each record to have an 'id'" in str(err.value) and fake.url in str(err.value)
