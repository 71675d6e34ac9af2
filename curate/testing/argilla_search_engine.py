"""An Argilla search engine that answers from the server's own SQLite database (no Elasticsearch).

Runs inside the server's virtualenv (stdlib + argilla_server only). Every record, response and
suggestion is already in SQL, so the write hooks are no-ops and reads are SQL queries; the RQ
worker, a separate process, sees the same data. Semantics follow argilla_server's Elasticsearch
engine (``search_engine/commons.py``) for what the SDK and the UI use:

* filters on record status/ids/timestamps, metadata (terms + range, list values match any item),
  suggestion value/score/agent/type, response values per question (optionally one user's) and
  response status including ``pending`` (no response at all, or none by that user);
* text query: every query word must occur as a word in the chosen field (or any field), a
  trailing ``*`` matches a prefix; matching records score 1.0 (ES scores relevance: not modelled);
* sort by record property, metadata, suggestion or response (missing values last); ties and the
  unsorted order are insertion order, so paging is stable (ES shuffles per user: not modelled);
* dataset progress, per-user progress, metadata metrics, brute-force cosine similarity.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from argilla_server.enums import MetadataPropertyType, ResponseStatusFilter, SimilarityOrder, SortOrder
from argilla_server.search_engine import (
    AndFilter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from argilla_server.settings import settings

ENGINE_NAME = "curate-sql"
_WORD = re.compile(r"\w+", re.UNICODE)
_RECORD_COLUMNS = {"id", "external_id", "status", "inserted_at", "updated_at"}
_SUGGESTION_COLUMNS = {"agent", "type"}


def _uid(value: Any) -> str:
    """UUIDs as SQLAlchemy stores them in SQLite: 32 hex digits, no dashes."""
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex


def _json_path(name: str, suffix: str = "") -> str:
    """A JSON path as an SQL string literal (inlined: the expressions using it are repeated)."""
    path = '$."' + name.replace('"', '\\"') + '"' + suffix
    return "'" + path.replace("'", "''") + "'"


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _leaf_texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaf_texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaf_texts(v)
    elif value is not None:
        yield str(value)


def _text_match(fields_json: str | None, field: str | None, query: str) -> int:
    """1 when every query word occurs in the field (or in any field), else 0 (SQL function)."""
    if not fields_json:
        return 0
    fields = json.loads(fields_json)
    target = fields.get(field) if field else fields
    present = {w for text in _leaf_texts(target) for w in _words(text)}
    for raw in query.split():
        for term in _words(raw.rstrip("*")):
            if raw.endswith("*") and term == _words(raw.rstrip("*"))[-1]:
                if not any(p.startswith(term) for p in present):
                    return 0
            elif term not in present:
                return 0
    return 1


def _sql_time(value: Any) -> Any:
    """An API time (ISO 8601 text, or epoch milliseconds as ES takes them) as SQLite stores it."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class _Sql:
    """WHERE / ORDER BY fragments with their parameters, built from the engine's filter objects."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def in_list(self, values: Iterable[Any]) -> str:
        return "(" + ", ".join(self.p(v) for v in values) + ")"

    def filter(self, flt: Any) -> str:
        if isinstance(flt, AndFilter):
            parts = [self.filter(f) for f in flt.filters]
            return "(" + " AND ".join(parts) + ")" if parts else "1"
        scope = flt.scope
        if isinstance(scope, RecordFilterScope):
            column = self._record_column(scope.property)
            if column in ("inserted_at", "updated_at") and isinstance(flt, RangeFilter):
                flt = RangeFilter(scope=scope, ge=_sql_time(flt.ge), le=_sql_time(flt.le))
            return self._compare(f"r.{column}", flt, json_list=False)
        if isinstance(scope, MetadataFilterScope):
            if isinstance(flt, TermsFilter):
                return (
                    f"EXISTS (SELECT 1 FROM json_each(r.metadata, {_json_path(scope.metadata_property)}) je "
                    f"WHERE je.value IN {self.in_list(flt.values)})"
                )
            return self._range(f"json_extract(r.metadata, {_json_path(scope.metadata_property)})", flt)
        if isinstance(scope, SuggestionFilterScope):
            return (
                "EXISTS (SELECT 1 FROM suggestions s JOIN questions q ON q.id = s.question_id "
                f"WHERE s.record_id = r.id AND q.name = {self.p(scope.question)} AND "
                f"{self._suggestion_condition(scope.property, flt)})"
            )
        if isinstance(scope, ResponseFilterScope):
            return self._response_filter(scope, flt)
        raise ValueError(f"Cannot process filter scope {scope}")

    @staticmethod
    def _record_column(prop: str) -> str:
        if prop not in _RECORD_COLUMNS:
            raise ValueError(f"Cannot filter or sort records by {prop!r}")
        return prop

    def _range(self, expr: str, flt: RangeFilter) -> str:
        parts = [f"{expr} IS NOT NULL"]
        if flt.ge is not None:
            parts.append(f"{expr} >= {self.p(flt.ge)}")
        if flt.le is not None:
            parts.append(f"{expr} <= {self.p(flt.le)}")
        return "(" + " AND ".join(parts) + ")"

    def _compare(self, expr: str, flt: Any, *, json_list: bool) -> str:
        if isinstance(flt, TermsFilter):
            if json_list:
                return f"EXISTS (SELECT 1 FROM json_each({expr}) je WHERE je.value IN {self.in_list(flt.values)})"
            return f"{expr} IN {self.in_list(flt.values)}"
        if isinstance(flt, RangeFilter):
            return self._range(expr, flt)
        raise ValueError(f"Cannot process filter {flt}")

    def _suggestion_condition(self, prop: str, flt: Any) -> str:
        if prop == "value":
            if isinstance(flt, TermsFilter):
                return self._compare("s.value", flt, json_list=True)
            return self._range("json_extract(s.value, '$')", flt)
        if prop == "score":
            # a score is a number, or one number per option (ranking / multi-label)
            if isinstance(flt, RangeFilter):
                inner = self._range("je.value", flt)
                return f"EXISTS (SELECT 1 FROM json_each(s.score) je WHERE {inner})"
            return self._compare("s.score", flt, json_list=True)
        if prop in _SUGGESTION_COLUMNS:
            return self._compare(f"s.{prop}", flt, json_list=False)
        raise ValueError(f"Cannot filter suggestions by {prop!r}")

    def _user(self, scope: ResponseFilterScope) -> str:
        return f" AND rs.user_id = {self.p(_uid(scope.user.id))}" if scope.user is not None else ""

    def _response_filter(self, scope: ResponseFilterScope, flt: Any) -> str:
        if scope.question:
            path = _json_path(scope.question, ".value")
            if isinstance(flt, TermsFilter):
                cond = f'EXISTS (SELECT 1 FROM json_each(rs."values", {path}) je WHERE je.value IN {self.in_list(flt.values)})'
            else:
                cond = self._range(f'json_extract(rs."values", {path})', flt)
            return (
                f"EXISTS (SELECT 1 FROM responses rs WHERE rs.record_id = r.id AND {cond}{self._user(scope)})"
            )
        if scope.property == "status" and isinstance(flt, TermsFilter):
            values = [str(getattr(v, "value", v)) for v in flt.values]
            parts = []
            if ResponseStatusFilter.pending.value in values:
                parts.append(
                    f"NOT EXISTS (SELECT 1 FROM responses rs WHERE rs.record_id = r.id{self._user(scope)})"
                )
            others = [v for v in values if v != ResponseStatusFilter.pending.value]
            if others:
                parts.append(
                    "EXISTS (SELECT 1 FROM responses rs WHERE rs.record_id = r.id AND rs.status IN "
                    f"{self.in_list(others)}{self._user(scope)})"
                )
            return "(" + " OR ".join(parts) + ")" if parts else "1"
        raise ValueError(f"Cannot process filter scope {scope}")

    def order(self, order: Any) -> str:
        # The expression appears twice (NULLs last, then the value): its parameters go in twice.
        sub = _Sql()
        expr = sub.order_expr(order)
        self.params += sub.params + sub.params
        direction = (
            "DESC" if str(getattr(order.order, "value", order.order)) == SortOrder.desc.value else "ASC"
        )
        # Elasticsearch puts records without a value last in both directions.
        return f"({expr}) IS NULL, ({expr}) {direction}"

    def order_expr(self, order: Any) -> str:
        scope = order.scope
        if isinstance(scope, RecordFilterScope):
            expr = f"r.{self._record_column(scope.property)}"
        elif isinstance(scope, MetadataFilterScope):
            expr = f"json_extract(r.metadata, {_json_path(scope.metadata_property)})"
        elif isinstance(scope, SuggestionFilterScope):
            column = {"value": "json_extract(s.value, '$')", "score": "json_extract(s.score, '$')"}.get(
                scope.property, f"s.{scope.property}" if scope.property in _SUGGESTION_COLUMNS else None
            )
            if column is None:
                raise ValueError(f"Cannot sort by suggestion property {scope.property!r}")
            expr = (
                f"(SELECT {column} FROM suggestions s JOIN questions q ON q.id = s.question_id "
                f"WHERE s.record_id = r.id AND q.name = {self.p(scope.question)})"
            )
        elif isinstance(scope, ResponseFilterScope):
            if scope.question:
                value = f'json_extract(rs."values", {_json_path(scope.question, ".value")})'
                agg = f"avg({value})"
            else:
                agg = "min(rs.status)"  # the only response property besides question values
            expr = f"(SELECT {agg} FROM responses rs WHERE rs.record_id = r.id{self._user(scope)})"
        else:
            raise ValueError(f"Cannot sort by scope {scope}")
        return expr


@SearchEngine.register(engine_name=ENGINE_NAME)
class SqlSearchEngine(SearchEngine):
    """Reads the server's SQLite database; indexing hooks are no-ops (SQL is the index)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    async def new_instance(cls) -> SqlSearchEngine:
        url = settings.database_url
        prefix = "sqlite+aiosqlite:///"
        if not url.startswith(prefix):
            raise ValueError(
                f"the {ENGINE_NAME} search engine needs an SQLite database, not {url.split(':')[0]}"
            )
        return cls(url[len(prefix) :])

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        conn.create_function("rg_text_match", 3, _text_match, deterministic=True)
        return conn

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"distribution": ENGINE_NAME, "version": "1"}

    # --- write hooks: the data is already in SQL ------------------------------------------------
    async def create_index(self, dataset: Any) -> None:
        return None

    async def delete_index(self, dataset: Any) -> None:
        return None

    async def configure_metadata_property(self, dataset: Any, metadata_property: Any) -> None:
        return None

    async def configure_index_vectors(self, vector_settings: Any) -> None:
        return None

    async def index_records(self, dataset: Any, records: Any) -> None:
        return None

    async def partial_record_update(self, record: Any, **update: Any) -> None:
        return None

    async def delete_records(self, dataset: Any, records: Any) -> None:
        return None

    async def update_record_response(self, response: Any) -> None:
        return None

    async def delete_record_response(self, response: Any) -> None:
        return None

    async def update_record_suggestion(self, suggestion: Any) -> None:
        return None

    async def delete_record_suggestion(self, suggestion: Any) -> None:
        return None

    # --- reads ----------------------------------------------------------------------------------
    async def get_dataset_progress(self, dataset: Any) -> dict:
        if dataset.is_draft:
            return {}
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM records WHERE dataset_id = ? GROUP BY status",
                (_uid(dataset.id),),
            ).fetchall()
        counts = {str(status): n for status, n in rows}
        return {"total": sum(counts.values()), **counts}

    async def get_dataset_user_progress(self, dataset: Any, user: Any) -> dict:
        if dataset.is_draft:
            return {}
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT rs.status, count(*) FROM responses rs JOIN records r ON r.id = rs.record_id "
                "WHERE r.dataset_id = ? AND rs.user_id = ? GROUP BY rs.status",
                (_uid(dataset.id), _uid(user.id)),
            ).fetchall()
        counts = {str(status): n for status, n in rows}
        return {"total": sum(counts.values()), **counts}

    def _where(self, sql: _Sql, dataset: Any, query: TextQuery | str | None, flt: Any) -> str:
        where = [f"r.dataset_id = {sql.p(_uid(dataset.id))}"]
        if query is not None:
            text = query if isinstance(query, TextQuery) else TextQuery(q=query)
            where.append(f"rg_text_match(r.fields, {sql.p(text.field)}, {sql.p(text.q)}) = 1")
        if flt is not None:
            where.append(sql.filter(flt))
        return " AND ".join(where)

    async def search(
        self,
        dataset: Any,
        query: TextQuery | str | None = None,
        filter: Any = None,
        sort: list[Any] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: Any = None,
    ) -> SearchResponses:
        sql = _Sql()
        where = self._where(sql, dataset, query, filter)
        count_params = list(sql.params)
        order_parts = [sql.order(o) for o in sort or []]
        order_parts += ["r.inserted_at ASC", "r.id ASC"]
        page_sql = (
            f"SELECT r.id FROM records r WHERE {where} ORDER BY {', '.join(order_parts)} "
            f"LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        # ORDER BY parameters come after the WHERE ones in the statement.
        with self._connect() as conn:
            total = conn.execute(f"SELECT count(*) FROM records r WHERE {where}", count_params).fetchone()[0]
            ids = [row[0] for row in conn.execute(page_sql, sql.params)]
        return SearchResponses(
            items=[SearchResponseItem(record_id=UUID(i), score=1.0) for i in ids], total=total
        )

    async def compute_metrics_for(self, metadata_property: Any) -> Any:
        path = _json_path(metadata_property.name)
        dataset_id = _uid(metadata_property.dataset_id)
        with self._connect() as conn:
            if metadata_property.type == MetadataPropertyType.terms:
                rows = conn.execute(
                    f"SELECT je.value FROM records r, json_each(r.metadata, {path}) je WHERE r.dataset_id = ?",
                    (dataset_id,),
                ).fetchall()
                counts = Counter(str(v) for (v,) in rows if v is not None)
                values = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                return TermsMetrics(
                    total=sum(counts.values()),
                    values=[TermsMetrics.TermCount(term=t, count=c) for t, c in values],
                )
            lo, hi = conn.execute(
                f"SELECT min(json_extract(r.metadata, {path})), max(json_extract(r.metadata, {path})) "
                "FROM records r WHERE r.dataset_id = ?",
                (dataset_id,),
            ).fetchone()
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(min=lo, max=hi)
        return FloatMetadataMetrics(min=lo, max=hi)

    async def similarity_search(
        self,
        dataset: Any,
        vector_settings: Any,
        value: list[float] | None = None,
        record: Any = None,
        query: TextQuery | str | None = None,
        filter: Any = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        target = value or record.vector_value_by_vector_settings(vector_settings)
        if not target:
            raise ValueError("Cannot find a vector value to apply with provided info")
        sql = _Sql()
        where = self._where(sql, dataset, query, filter)
        sql_text = (
            f"SELECT r.id, v.value FROM records r JOIN vectors v ON v.record_id = r.id "
            f"WHERE v.vector_settings_id = {sql.p(_uid(vector_settings.id))} AND {where}"
        )
        # the vector-settings parameter was added after the WHERE ones: rebuild in statement order
        params = [sql.params[-1], *sql.params[:-1]]
        excluded = _uid(record.id) if record is not None else None
        norm_t = math.sqrt(sum(x * x for x in target)) or 1.0
        scored = []
        with self._connect() as conn:
            for rid, raw in conn.execute(sql_text, params):
                if rid == excluded:
                    continue
                vec = json.loads(raw)
                norm_v = math.sqrt(sum(x * x for x in vec)) or 1.0
                cosine = sum(a * b for a, b in zip(target, vec, strict=True)) / (norm_t * norm_v)
                if order == SimilarityOrder.least_similar:
                    cosine = -cosine
                score = (1.0 + cosine) / 2.0  # Elasticsearch's cosine similarity score
                if threshold is None or score >= threshold:
                    scored.append((score, rid))
        scored.sort(key=lambda t: (-t[0], t[1]))
        items = [SearchResponseItem(record_id=UUID(rid), score=s) for s, rid in scored[:max_results]]
        return SearchResponses(items=items, total=len(items))
