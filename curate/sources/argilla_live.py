"""A live Argilla 2.x server as a source: every record with all responses (value, annotator,
status, time), suggestions and metadata, streamed page by page.

Reads the server's v1 HTTP API (the one the ``argilla`` SDK wraps) with an ``httpx`` client rather
than SDK record objects: the SDK reader crashes on discarded responses without values and drops
nothing we need here, but builds a Python object per record and makes an extra request per page;
``benchmarks/bench_argilla_export.py`` measures both. Pages of ``page_size`` (1000, the server's
maximum) are fetched one ahead of the consumer, so memory holds at most two pages.

* A response without any value (a discard without answers) becomes a ``value=None`` response to
  every question, so its status still counts and no answer is invented.
* ``response_status`` filters on the server (``/records/search``); ``since`` keeps records whose
  record, responses or suggestions changed after that time (the server cannot filter on response
  times, so this filter runs here, after transfer).
* Waits are bounded: each request waits ``timeout`` seconds (default 30) for an answer; network
  errors, timeouts, 429 and 5xx are retried ``MAX_ATTEMPTS`` times with jittered exponential
  backoff, each retry announced on stderr; an optional overall ``deadline`` caps the whole read.
  Giving up, auth failure, unknown workspace or dataset, a server that is not Argilla 2.x, and an
  answer of the wrong shape (HTML, garbage, missing keys, wrong types) raise one
  :class:`CurateError` line naming the server and the endpoint. The API key lives only in a
  request header: never in a message.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings
from curate.sources._argilla import describe_value, settings_from_dict
from curate.sources._live_records import (
    changed_since,
    parse_since,
    public_url,
    record_from_raw,
    record_shape_problem,
)
from curate.sources._text import BadRow, problem_in_value
from curate.sources.base import RowSource
from curate.spec import ArgillaServerRef

SUPPORTED_MAJOR = 2
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
TIMEOUT_S = 30.0
RETRY_STATUS = {429, 500, 502, 503, 504}


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class _Http:
    """One server connection: bounded waits and retries, answers checked for shape, and errors
    that name the server and endpoint but never the key."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float | None = None,
        deadline: float | None = None,
        notify: Callable[[str], None] | None = None,
    ):
        self.url = public_url(url)
        self.timeout = float(timeout or TIMEOUT_S)
        self.deadline = deadline
        self._deadline_at = time.monotonic() + deadline if deadline else None
        self._notify = notify or _to_stderr
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"X-Argilla-Api-Key": api_key, "Accept": "application/json"},
            timeout=self.timeout,
        )
        self._key = api_key

    def close(self) -> None:
        self._client.close()

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _left(self) -> float | None:
        return None if self._deadline_at is None else self._deadline_at - time.monotonic()

    def _past_deadline(self, what: str, attempts: int, last: str) -> CurateError:
        tried = f"; {attempts} attempt(s), last: {last}" if attempts else ""
        return CurateError(
            f"{self.url}: {what}: gave up at the {self.deadline:g} s deadline{tried}; "
            "is the server up? (raise it with --deadline or source.argilla.deadline)"
        )

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """JSON of a successful response; retry transient failures; CurateError otherwise."""
        last = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            timeout = self.timeout
            left = self._left()
            if left is not None:
                if left <= 0:
                    raise self._past_deadline(what, attempt - 1, last)
                timeout = min(timeout, left)
            silent = False
            try:
                resp = self._client.request(method, path, timeout=timeout, **kwargs)
            except httpx.TimeoutException as err:
                last = f"{type(err).__name__}, no answer within {timeout:.3g} s"
                if timeout < self.timeout:  # the deadline cut this wait short: it is spent
                    raise self._past_deadline(what, attempt, last) from None
            except httpx.TransportError as err:
                last = type(err).__name__
            else:
                if resp.status_code not in RETRY_STATUS:
                    return self._answer(resp, method, path, what)
                last, silent = f"HTTP {resp.status_code}", True
            if attempt == MAX_ATTEMPTS:
                break
            # full jitter: spread retries of many clients, bounded by the cap
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            left = self._left()
            if left is not None and delay >= left:
                raise self._past_deadline(what, attempt, last)
            problem = f"answered {last}" if silent else f"did not answer ({last})"
            self._notify(
                f"Argilla at {self.url} {problem} to {what!r} (attempt {attempt}/{MAX_ATTEMPTS}), "
                f"retrying in {delay:.1f} s"
            )
            time.sleep(delay)
        raise CurateError(
            f"{self.url}: {what} failed after {MAX_ATTEMPTS} attempts ({last}); is the server up?"
        )

    def _answer(self, resp: httpx.Response, method: str, path: str, what: str) -> Any:
        if resp.status_code == 401:
            raise CurateError(
                f"{self.url}: the Argilla API key was rejected (HTTP 401); check --api-key or ARGILLA_API_KEY"
            )
        if resp.status_code == 403:
            raise CurateError(
                f"{self.url}: the API key's user may not {what} (HTTP 403); an owner or admin can"
            )
        if resp.status_code >= 400:
            detail = self._scrub(resp.text[:200])
            raise CurateError(f"{self.url}: {what} failed with HTTP {resp.status_code}: {detail}")
        try:
            return resp.json()
        except RecursionError:
            raise CurateError(
                f"{self.url}: {what} ({method} {path.split('?')[0]}) returned JSON nested too deeply to read"
            ) from None
        except ValueError:
            raise CurateError(
                f"{self.url}: {what} ({method} {path.split('?')[0]}) returned non-JSON "
                f"({self._scrub(resp.text[:40])!r}...; is this an Argilla server?)"
            ) from None

    def items(
        self, method: str, path: str, what: str, keys: tuple[str, ...] = (), **kwargs: Any
    ) -> list[Mapping[str, Any]]:
        """The ``items`` of a list endpoint, each an object with ``keys``; any other shape is one
        error naming the endpoint and what was expected."""
        answer = self.request(method, path, what, **kwargs)
        endpoint = f"{method} {path}"
        items = answer.get("items") if isinstance(answer, Mapping) else None
        if not isinstance(items, list):
            raise self.unexpected(endpoint, "an object with an 'items' list", answer)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise self.unexpected(endpoint, f"item {i} to be an object", item)
            missing = [k for k in keys if k not in item]
            if missing:
                raise self.unexpected(endpoint, f"item {i} to have {', '.join(map(repr, missing))}", item)
        return items

    def unexpected(self, endpoint: str, expected: str, found: Any) -> CurateError:
        return CurateError(
            f"{self.url}: {endpoint} gave an unexpected answer: expected {expected}, found "
            f"{self._scrub(describe_value(found))}"
        )


def resolve_credentials(ref_url: str | None, api_url: str | None, api_key: str | None) -> tuple[str, str]:
    """URL: flag, else spec, else ``ARGILLA_API_URL``; key: flag, else ``ARGILLA_API_KEY``."""
    url = api_url or ref_url or os.environ.get("ARGILLA_API_URL")
    key = api_key or os.environ.get("ARGILLA_API_KEY")
    if not url:
        raise CurateError(
            "no Argilla server URL: pass --api-url, set source.argilla.api_url or ARGILLA_API_URL"
        )
    if not url.startswith(("http://", "https://")):
        raise CurateError(f"Argilla server URL {public_url(url)!r} must start with http:// or https://")
    if not key:
        raise CurateError(f"{public_url(url)}: no Argilla API key: pass --api-key or set ARGILLA_API_KEY")
    return url, key


def connect(
    url: str,
    key: str,
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[_Http, str]:
    """Open a connection, check it is an Argilla 2.x server and the key works; return its version."""
    http = _Http(url, key, timeout=timeout, deadline=deadline, notify=notify)
    try:
        info = http.request("GET", "/api/v1/version", "read the server version")
    except CurateError as err:
        if "HTTP 404" in str(err) or "non-JSON" in str(err):
            http.close()
            raise CurateError(
                f"{http.url}: not an Argilla {SUPPORTED_MAJOR}.x server (no /api/v1/version); "
                "Argilla 1.x datasets are read from their exports"
            ) from None
        http.close()
        raise
    if not isinstance(info, Mapping) or not isinstance(info.get("version"), str):
        http.close()
        raise http.unexpected(
            "GET /api/v1/version", "an object with a 'version' (is this an Argilla server?)", info
        )
    version = info["version"]
    if version.split(".")[0] != str(SUPPORTED_MAJOR):
        http.close()
        raise CurateError(
            f"{http.url}: Argilla server version {version or '?'}, expected {SUPPORTED_MAJOR}.x"
        )
    try:
        http.request("GET", "/api/v1/me", "authenticate")
    except CurateError:
        http.close()
        raise
    return http, version


def find_dataset(http: _Http, dataset: str, workspace: str | None) -> tuple[dict[str, Any], str]:
    """The dataset's JSON and its workspace name; clear errors for unknown names."""
    listed = http.items("GET", "/api/v1/me/workspaces", "list workspaces", ("id", "name"))
    workspaces = {w["id"]: str(w["name"]) for w in listed}
    if workspace is not None and workspace not in workspaces.values():
        known = ", ".join(sorted(workspaces.values())) or "none"
        raise CurateError(f"{http.url}: no workspace {workspace!r} visible to this key (workspaces: {known})")
    items = http.items("GET", "/api/v1/me/datasets", "list datasets", ("id", "name", "workspace_id"))
    matches = [
        d
        for d in items
        if d["name"] == dataset and (workspace is None or workspaces.get(d["workspace_id"]) == workspace)
    ]
    if not matches:
        names = sorted(f"{workspaces.get(d['workspace_id'], '?')}/{d['name']}" for d in items)
        where = f"workspace {workspace!r}" if workspace else "any workspace"
        listing = ", ".join(names[:20]) + ("..." if len(names) > 20 else "") if names else "none"
        raise CurateError(f"{http.url}: no dataset {dataset!r} in {where} (datasets: {listing})")
    if len(matches) > 1:
        spaces = ", ".join(sorted(workspaces.get(d["workspace_id"], "?") for d in matches))
        raise CurateError(
            f"{http.url}: dataset {dataset!r} exists in several workspaces ({spaces}); set workspace"
        )
    return dict(matches[0]), workspaces.get(matches[0]["workspace_id"], "?")


class ArgillaServerSource(RowSource):
    """Records of one dataset on a running Argilla 2.x server.

    ``timeout`` (seconds per request) and ``deadline`` (seconds for the whole read) override the
    spec's ``source.argilla.timeout`` / ``deadline``; ``notify`` receives the one-line retry notes
    (default: stderr).
    """

    layout = "argilla_server"

    def __init__(
        self,
        ref: ArgillaServerRef,
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        since: str | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        notify: Callable[[str], None] | None = None,
    ):
        super().__init__()
        self.ref = ref
        url, key = resolve_credentials(ref.api_url, api_url, api_key)
        since_text = since if since is not None else ref.since
        self.since_text = since_text
        self.since = (
            parse_since(since_text, "--since" if since is not None else "source.argilla.since")
            if since_text
            else None
        )
        for flag, value in (("--timeout", timeout), ("--deadline", deadline)):
            if value is not None and not value > 0:
                raise CurateError(f"{flag}: got {value}, expected a number of seconds above 0")
        self._http, self.server_version = connect(
            url,
            key,
            timeout=timeout if timeout is not None else ref.timeout,
            deadline=deadline if deadline is not None else ref.deadline,
            notify=notify,
        )
        self.url = self._http.url
        data, self.workspace = find_dataset(self._http, ref.dataset, ref.workspace)
        self.dataset_id = str(data["id"])
        self.settings, self._question_names = self._read_settings(data)
        self.page_size = ref.page_size
        self.statuses = list(ref.response_status) if ref.response_status else None
        base = f"/api/v1/datasets/{self.dataset_id}/records"
        self._endpoint = f"GET {base}" if self.statuses is None else f"POST {base}/search"
        self.pulled = 0

    @property
    def name(self) -> str:
        return f"{self.workspace}/{self.ref.dataset}"

    def describe(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "name": self.name,
            "api_url": self.url,
            "workspace": self.workspace,
            "dataset": self.ref.dataset,
            "dataset_id": self.dataset_id,
            "server_version": self.server_version,
            "response_status": self.statuses,
            "since": self.since.isoformat() if self.since else None,
        }

    def _read_settings(self, data: Mapping[str, Any]) -> tuple[DatasetSettings, dict[str, str]]:
        base = f"/api/v1/datasets/{self.dataset_id}"
        fields = self._http.items("GET", f"{base}/fields", "read the dataset's fields", ("name",))
        questions = self._http.items(
            "GET", f"{base}/questions", "read the dataset's questions", ("id", "name", "settings")
        )
        metadata = self._http.items(
            "GET",
            f"/api/v1/me/datasets/{self.dataset_id}/metadata-properties",
            "read metadata properties",
            ("name",),
        )
        settings = settings_from_dict(
            {
                "fields": fields,
                "questions": questions,
                "metadata": metadata,
                "guidelines": data.get("guidelines"),
            },
            f"{self.url}: dataset {self.name}",
        )
        return settings, {str(q["id"]): str(q["name"]) for q in questions}

    # --- paging ---------------------------------------------------------------------------------
    def _page(self, offset: int, limit: int, include: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if include:
            params["include"] = "responses,suggestions"
        what = f"read records {offset}..{offset + limit} of {self.name}"
        if self.statuses is None:
            path = f"/api/v1/datasets/{self.dataset_id}/records"
            answer = self._http.request("GET", path, what, params=params)
            items = self._page_items(answer, path, "GET")
            return {"items": items, "total": self._total(answer)}
        body = {
            "filters": {
                "and": [
                    {
                        "type": "terms",
                        "scope": {"entity": "response", "property": "status"},
                        "values": self.statuses,
                    }
                ]
            },
            "sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}],
        }
        path = f"/api/v1/datasets/{self.dataset_id}/records/search"
        answer = self._http.request("POST", path, what, params=params, json=body)
        found = self._page_items(answer, path, "POST")
        records = []
        for i, item in enumerate(found):
            if not isinstance(item.get("record"), Mapping):
                raise self._http.unexpected(f"POST {path}", f"item {i} to hold a 'record' object", item)
            records.append(item["record"])
        return {"items": records, "total": self._total(answer)}

    def _page_items(self, answer: Any, path: str, method: str) -> list[Mapping[str, Any]]:
        items = answer.get("items") if isinstance(answer, Mapping) else None
        if not isinstance(items, list):
            raise self._http.unexpected(f"{method} {path}", "an object with an 'items' list", answer)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise self._http.unexpected(f"{method} {path}", f"item {i} to be an object", item)
        return items

    def _total(self, answer: Mapping[str, Any]) -> int | None:
        total = answer.get("total")
        if total is None:
            return None
        if isinstance(total, bool) or not isinstance(total, int):
            raise self._http.unexpected(self._endpoint, "'total' to be a whole number", total)
        return total

    def count(self) -> int | None:
        return self._page(0, 1, include=False).get("total")

    def pages(self) -> Iterator[list[Mapping[str, Any]]]:
        """Raw record pages, the next one fetched while the caller works on this one."""
        size = self.page_size
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="argilla-page") as pool:
            pending: Future[dict[str, Any]] = pool.submit(self._page, 0, size)
            offset = 0
            while True:
                page = pending.result()
                items = page["items"]
                total = page.get("total")
                offset += len(items)
                more = len(items) == size and (total is None or offset < int(total))
                if more:
                    pending = pool.submit(self._page, offset, size)
                if items:
                    yield items
                if not more:
                    return

    def _raw_rows(self) -> Iterator[Mapping[str, Any] | BadRow]:
        self.pulled = 0
        for items in self.pages():
            for raw in items:
                self._check_record(raw)
                if self.since is not None and not self._changed_since(raw):
                    continue  # not input: the server cannot filter on response times, so we do
                self.pulled += 1
                # valid JSON can still hold text no file can take (a lone surrogate) or nest
                # deeper than anything downstream should recurse into: that record is rejected
                problem = problem_in_value(raw)
                if problem is not None:
                    yield BadRow(str(raw.get("external_id") or raw["id"]), f"record: {problem}")
                    continue
                yield raw

    def _raw_id(self, row: Mapping[str, Any]) -> Any:
        return row.get("external_id") or row["id"]

    def _build(self, row: Mapping[str, Any], record_id: str) -> ArgillaRecord:
        return self.to_record(row)

    def _check_record(self, raw: Mapping[str, Any]) -> None:
        problem = record_shape_problem(raw)
        if problem is not None:
            expected, found = problem
            raise self._http.unexpected(self._endpoint, expected, found)

    def _changed_since(self, raw: Mapping[str, Any]) -> bool:
        assert self.since is not None
        return changed_since(raw, self.since)

    def to_record(self, raw: Mapping[str, Any]) -> ArgillaRecord:
        record_id = str(raw.get("external_id") or raw["id"])
        return record_from_raw(
            raw, self.settings, self._question_names, f"{self.url}: dataset {self.name}, record {record_id}"
        )
