"""The harness's SQL search engine, driven through the SDK and the HTTP API as the UI and SDK use it."""

from __future__ import annotations

from typing import Any

import argilla as rg
import pytest
from live_helpers import Server, record_ids

pytestmark = pytest.mark.argilla_server


def ids_for(dataset: rg.Dataset, query: rg.Query) -> list[str]:
    return [r.id for r in dataset.records(query=query)]


def search(
    server: Server, dataset: rg.Dataset, body: dict[str, Any], key: str | None = None, **params: Any
) -> Any:
    by_server_id = {v: k for k, v in record_ids(server, dataset).items()}
    path = f"/api/v1/{'me/' if key else ''}datasets/{dataset.id}/records/search"
    with server.http(key) as http:
        resp = http.post(path, json=body, params={"limit": 50, **params})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    return [by_server_id[i["record"]["id"]] for i in page["items"]], page["total"]


def terms(entity: str, values: list[str], **scope: str) -> dict[str, Any]:
    return {"type": "terms", "scope": {"entity": entity, **scope}, "values": values}


def test_filters_on_metadata_suggestions_and_text(argilla: Server, sft_dataset: rg.Dataset) -> None:
    ds = sft_dataset
    assert ids_for(ds, rg.Query(filter=rg.Filter(("metadata.origin", "==", "gen")))) == ["r3", "r4", "r5"]
    assert ids_for(
        ds, rg.Query(filter=rg.Filter([("metadata.length", ">=", 6), ("metadata.origin", "==", "gen")]))
    ) == [
        "r3",
        "r4",
    ]
    assert ids_for(ds, rg.Query(filter=rg.Filter(("topic.suggestion", "==", "math")))) == ["r2"]
    score = {
        "type": "range",
        "scope": {"entity": "suggestion", "question": "quality", "property": "score"},
        "ge": 0.4,
    }
    assert search(argilla, ds, {"filters": {"and": [score]}}) == (["r1"], 1)
    agent = terms("suggestion", ["judge"], question="flags", property="agent")
    assert search(argilla, ds, {"filters": {"and": [agent]}}) == (["r2"], 1)
    # text: every word must occur (whole words; field-scoped or any field)
    assert ids_for(ds, rg.Query(query="Paris")) == ["r1", "r3"]
    assert ids_for(ds, rg.Query(query="river Paris")) == ["r3"]
    assert ids_for(ds, rg.Query(query=rg.Query(query="Par*").query)) == ["r1", "r3"]
    assert ids_for(ds, rg.Query(query="arithmetic")) == ["r2"]
    got, total = search(argilla, ds, {"query": {"text": {"q": "Paris", "field": "response"}}})
    assert (got, total) == (["r1"], 1)


def test_response_filters_status_and_pending(argilla: Server, sft_dataset: rg.Dataset) -> None:
    ds = sft_dataset
    status = {"entity": "response", "property": "status"}
    assert search(argilla, ds, {"filters": {"and": [terms("response", ["pending"], property="status")]}}) == (
        ["r5"],
        1,
    )
    got = search(
        argilla,
        ds,
        {"filters": {"and": [{"type": "terms", "scope": status, "values": ["pending", "draft"]}]}},
    )
    assert got == (["r1", "r2", "r5"], 3)
    assert search(argilla, ds, {"filters": {"and": [terms("record", ["completed"], property="status")]}}) == (
        ["r1", "r2", "r3"],
        3,
    )
    # response values: any annotator's answer
    rating = {"type": "range", "scope": {"entity": "response", "question": "quality"}, "ge": 4}
    assert search(argilla, ds, {"filters": {"and": [rating]}}) == (["r1", "r3"], 2)
    assert search(argilla, ds, {"filters": {"and": [terms("response", ["toxic"], question="flags")]}}) == (
        ["r2"],
        1,
    )
    # the annotator's own view (/me/...): pending means "no response by me"
    ann3 = argilla.keys["ann3"]
    got = search(
        argilla, ds, {"filters": {"and": [terms("response", ["pending"], property="status")]}}, key=ann3
    )
    assert got == (["r3", "r5"], 2)
    got = search(
        argilla, ds, {"filters": {"and": [terms("response", ["discarded"], property="status")]}}, key=ann3
    )
    assert got == (["r2", "r4"], 2)


def test_sort_paging_and_total(argilla: Server, sft_dataset: rg.Dataset) -> None:
    ds = sft_dataset
    by_length = {"sort": [{"scope": {"entity": "metadata", "metadata_property": "length"}, "order": "desc"}]}
    assert search(argilla, ds, by_length) == (["r3", "r1", "r4", "r5", "r2"], 5)  # ties in insertion order
    assert search(argilla, ds, by_length, offset=1, limit=2) == (["r1", "r4"], 5)
    by_rating = {"sort": [{"scope": {"entity": "response", "question": "quality"}, "order": "asc"}]}
    # mean rating: r2 1.33, r4 2, r1 4, r3 5; r5 has none: last
    assert search(argilla, ds, by_rating)[0] == ["r2", "r4", "r1", "r3", "r5"]


def test_progress_and_metrics(argilla: Server, sft_dataset: rg.Dataset) -> None:
    progress = sft_dataset.progress(with_users_distribution=True)
    assert (progress["total"], progress["completed"], progress["pending"]) == (5, 3, 2)
    assert (
        progress["users"]["ann3"]["completed"]["discarded"] == 1
        and progress["users"]["ann3"]["pending"]["discarded"] == 1
    )
    with argilla.http(argilla.keys["ann2"]) as http:
        mine = http.get(f"/api/v1/me/datasets/{sft_dataset.id}/metrics").json()
    assert mine["responses"] == {"total": 5, "submitted": 2, "discarded": 0, "draft": 1, "pending": 2}
    with argilla.http() as http:
        props = http.get(f"/api/v1/me/datasets/{sft_dataset.id}/metadata-properties").json()["items"]
        by_name = {p["name"]: p["id"] for p in props}
        origin = http.get(f"/api/v1/metadata-properties/{by_name['origin']}/metrics").json()
        length = http.get(f"/api/v1/metadata-properties/{by_name['length']}/metrics").json()
    assert origin == {
        "type": "terms",
        "total": 5,
        "values": [{"term": "gen", "count": 3}, {"term": "dolly", "count": 2}],
    }
    assert (length["min"], length["max"]) == (1, 10)


def test_similarity_search(argilla: Server) -> None:
    client = argilla.client()
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="ok", labels=["yes", "no"])],
        vectors=[rg.VectorField(name="emb", dimensions=3)],
    )
    ds = rg.Dataset(name="vectors", workspace="argilla", settings=settings, client=client).create()
    ds.records.log(
        [
            rg.Record(id="x", fields={"text": "x"}, vectors={"emb": [1.0, 0.0, 0.0]}),
            rg.Record(id="near", fields={"text": "near"}, vectors={"emb": [0.9, 0.1, 0.0]}),
            rg.Record(id="far", fields={"text": "far"}, vectors={"emb": [-1.0, 0.0, 0.0]}),
        ]
    )
    similar = rg.Query(similar=rg.Similar(name="emb", value=[1.0, 0.0, 0.0]))
    got = [(record.id, round(score, 3)) for record, score in ds.records(query=similar)]
    # Elasticsearch's cosine score: (1 + cos) / 2
    assert got == [("x", 1.0), ("near", 0.997), ("far", 0.0)]
