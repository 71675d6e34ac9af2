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
* Waits are bounded (``curate.sources.argilla_api``, the client shared with the Argilla sink): each
  request waits ``timeout`` seconds (default 30) for an answer; network errors, timeouts, 429 and
  5xx are retried with jittered backoff, each retry announced on stderr; an optional overall
  ``deadline`` caps the whole read.
  Giving up, auth failure, unknown workspace or dataset, a server that is not Argilla 2.x, and an
  answer of the wrong shape (HTML, garbage, missing keys, wrong types) raise one
  :class:`CurateError` line naming the server and the endpoint. The API key lives only in a
  request header: never in a message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from curate.arguments import arg
from curate.errors import CurateError
from curate.records import ArgillaRecord, DatasetSettings
from curate.sources._argilla import settings_from_dict
from curate.sources._live_records import (
    changed_since,
    parse_since,
    record_from_raw,
    record_shape_problem,
)
from curate.sources._text import BadRow, problem_in_value
from curate.sources.argilla_api import connect, find_dataset, resolve_credentials
from curate.sources.base import RowSource
from curate.spec import ArgillaServerRef


class ArgillaServerSource(RowSource):
    """Records of one dataset on a running Argilla 2.x server.

    ``timeout`` (seconds per request) and ``deadline`` (seconds for the whole read) override the
    spec's ``source.argilla.timeout`` / ``deadline``; ``notify`` receives the one-line retry notes
    (default: stderr).
    """

    layout = "argilla_server"
    rereadable = False  # each read asks the server again

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
            parse_since(since_text, arg("since") if since is not None else "source.argilla.since")
            if since_text
            else None
        )
        for name, value in (("timeout", timeout), ("deadline", deadline)):
            if value is not None and not value > 0:
                raise CurateError(f"{arg(name)}: got {value}, expected a number of seconds above 0")
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

    def close(self) -> None:
        self._http.close()

    def record_ids(self) -> set[str]:
        """The id (``external_id``, else the server id) of every record the source holds now, read
        without responses or suggestions: what an incremental push compares its snapshot with."""
        ids: set[str] = set()
        offset = 0
        while True:
            page = self._page(offset, self.page_size, include=False)
            for raw in page["items"]:
                if raw.get("id") in (None, ""):
                    raise self._http.unexpected(self._endpoint, "each record to have an 'id'", raw)
                ids.add(str(self._raw_id(raw)))
            offset += len(page["items"])
            total = page.get("total")
            if len(page["items"]) < self.page_size or (total is not None and offset >= total):
                return ids

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

    def _raw_rows(self, wanted: Callable[[int], bool] | None) -> Iterator[Mapping[str, Any] | BadRow]:
        # every row whole, whatever is wanted: export workers never read a server (not rereadable)
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
        return record_from_raw(raw, self.settings, self._question_names)
