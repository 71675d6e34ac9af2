"""The Argilla 2.x HTTP API client the live source and the Argilla sink share: one connection
with bounded waits (a timeout per read, an optional deadline for all requests that also cuts
off an answer still trickling in), retries of
network errors, timeouts, 429 and 5xx with jittered backoff (``curate.retry``, shared with the
Hub sink), each retry announced in one line, answers checked for shape, and errors that name the
server and the endpoint but never the API key (it lives only in a request header)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from curate.arguments import arg
from curate.errors import CurateError
from curate.records import describe_value
from curate.redact import redact, remember
from curate.retry import RetryPolicy

SUPPORTED_MAJOR = 2
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
TIMEOUT_S = 30.0
RETRY_STATUS = {429, 500, 502, 503, 504}


def public_url(url: str) -> str:
    """The URL without user, password, query or fragment, and without a trailing slash: what
    messages, manifests and dataset cards print (a key passed in the URL never shows).

    >>> public_url("https://user:secret@argilla.example.com:6900/?api_key=x#y")
    'https://argilla.example.com:6900'
    >>> public_url("http://argilla.example.com/api/")
    'http://argilla.example.com/api'
    >>> public_url("http://key@[::1]:6900/"), public_url("http://h:port/")
    ('http://[::1]:6900', 'http://h:port')
    """
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]  # host and port as written (IPv6 brackets, any port text)
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class ArgillaHttp:
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
        remember(api_key)

    def close(self) -> None:
        self._client.close()

    def _scrub(self, text: str) -> str:
        return redact(text, [self._key])

    def _left(self) -> float | None:
        return None if self._deadline_at is None else self._deadline_at - time.monotonic()

    def _past_deadline(self, what: str, attempts: int, last: str) -> CurateError:
        tried = f"; {attempts} attempt(s), last: {last}" if attempts else ""
        return CurateError(
            f"{self.url}: {what}: gave up at the {self.deadline:g} s deadline{tried}; "
            f"is the server up? (raise it with {arg('deadline')} or source.argilla.deadline)"
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
                with self._client.stream(method, path, timeout=timeout, **kwargs) as resp:
                    if resp.status_code in RETRY_STATUS:
                        last, silent = f"HTTP {resp.status_code}", True
                    else:
                        body = self._body(resp, what, attempt)
                        return self._answer(resp, body, method, path, what)
            except httpx.TimeoutException as err:
                last = f"{type(err).__name__}, no answer within {timeout:.3g} s"
                if timeout < self.timeout:  # the deadline cut this wait short: it is spent
                    raise self._past_deadline(what, attempt, last) from None
            except httpx.TransportError as err:
                last = type(err).__name__
            if attempt == MAX_ATTEMPTS:
                break
            # full jitter: spread retries of many clients, bounded by the cap
            delay = RetryPolicy(MAX_ATTEMPTS, BACKOFF_BASE_S, BACKOFF_CAP_S).delay(attempt)
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

    def _body(self, resp: httpx.Response, what: str, attempt: int) -> bytes:
        """The whole body, the deadline checked between chunks: httpx's timeout bounds each read,
        so a server trickling a byte at a time would otherwise keep one answer going past it."""
        chunks: list[bytes] = []
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            left = self._left()
            if left is not None and left <= 0:
                got = sum(map(len, chunks))
                raise self._past_deadline(what, attempt, f"the answer was still arriving after {got} bytes")
        return b"".join(chunks)

    def _answer(self, resp: httpx.Response, body: bytes, method: str, path: str, what: str) -> Any:
        if resp.status_code == 401:
            raise CurateError(
                f"{self.url}: the Argilla API key was rejected (HTTP 401); check {arg('api_key')} or ARGILLA_API_KEY"
            )
        if resp.status_code == 403:
            raise CurateError(
                f"{self.url}: the API key's user may not {what} (HTTP 403); an owner or admin can"
            )
        text = body.decode(resp.encoding or "utf-8", errors="replace")
        if resp.status_code >= 400:
            detail = self._scrub(text[:4096])[:200]  # scrubbed before the cut: no key half shown
            raise CurateError(f"{self.url}: {what} failed with HTTP {resp.status_code}: {detail}")
        try:
            return json.loads(body)
        except RecursionError:
            raise CurateError(
                f"{self.url}: {what} ({method} {path.split('?')[0]}) returned JSON nested too deeply to read"
            ) from None
        except ValueError:
            raise CurateError(
                f"{self.url}: {what} ({method} {path.split('?')[0]}) returned non-JSON "
                f"({self._scrub(text[:4096])[:40]!r}...; is this an Argilla server?)"
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

    def object(
        self, method: str, path: str, what: str, keys: tuple[str, ...] = (), **kwargs: Any
    ) -> Mapping[str, Any]:
        """An answer that must be one object with ``keys``; any other shape is one error."""
        answer = self.request(method, path, what, **kwargs)
        endpoint = f"{method} {path}"
        if not isinstance(answer, Mapping):
            raise self.unexpected(endpoint, "an object", answer)
        missing = [k for k in keys if k not in answer]
        if missing:
            raise self.unexpected(endpoint, f"an object with {', '.join(map(repr, missing))}", answer)
        return answer

    def text(self, item: Mapping[str, Any], key: str, endpoint: str) -> str:
        """``item[key]`` when it is text; anything else is one error naming the endpoint."""
        value = item.get(key)
        if not isinstance(value, str):
            raise self.unexpected(endpoint, f"{key!r} to be text", value)
        return value

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
            f"no Argilla server URL: pass {arg('api_url')}, set source.argilla.api_url or ARGILLA_API_URL"
        )
    if not url.startswith(("http://", "https://")):
        raise CurateError(f"Argilla server URL {public_url(url)!r} must start with http:// or https://")
    if not key:
        raise CurateError(
            f"{public_url(url)}: no Argilla API key: pass {arg('api_key')} or set ARGILLA_API_KEY"
        )
    remember(key)
    return url, key


def connect(
    url: str,
    key: str,
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[ArgillaHttp, str]:
    """Open a connection, check it is an Argilla 2.x server and the key works; return its version."""
    http = ArgillaHttp(url, key, timeout=timeout, deadline=deadline, notify=notify)
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


def find_dataset(http: ArgillaHttp, dataset: str, workspace: str | None) -> tuple[dict[str, Any], str]:
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
