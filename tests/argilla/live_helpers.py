"""Helpers and the annotated data the live-Argilla tests share (imported by conftest and tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import argilla as rg
import httpx

from curate.testing.argilla_server import ArgillaServer

WORKSPACE = "argilla"


@dataclass
class Server:
    url: str
    api_key: str
    harness: ArgillaServer
    annotators: dict[str, str] = field(default_factory=dict)  # username -> user id
    keys: dict[str, str] = field(default_factory=dict)  # username -> api key

    def client(self) -> rg.Argilla:
        return rg.Argilla(api_url=self.url, api_key=self.api_key)

    def http(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Argilla-Api-Key": key or self.api_key}, timeout=60)


def record_ids(server: Server, dataset: rg.Dataset) -> dict[str, str]:
    """external id -> server id."""
    out: dict[str, str] = {}
    with server.http() as http:
        page = http.get(f"/api/v1/datasets/{dataset.id}/records", params={"limit": 1000}).json()
    for item in page["items"]:
        out[item["external_id"]] = item["id"]
    return out


def respond(
    server: Server, user: str, record_server_id: str, values: dict[str, Any] | None, status: str
) -> None:
    body: dict[str, Any] = {"status": status}
    if values is not None:
        body["values"] = {q: {"value": v} for q, v in values.items()}
    with server.http(server.keys[user]) as http:
        resp = http.post(f"/api/v1/records/{record_server_id}/responses", json=body)
    assert resp.status_code == 201, resp.text


# --- the SFT review dataset: every question kind, suggestions, metadata, three annotators ---------
def sft_settings() -> rg.Settings:
    """Built after a client exists (SDK settings objects bind to the default client)."""
    return rg.Settings(
        fields=[
            rg.TextField(name="instruction"),
            rg.TextField(name="context", required=False),
            rg.TextField(name="response"),
        ],
        questions=[
            rg.TextQuestion(name="corrected_response", required=False),
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            rg.LabelQuestion(name="topic", labels=["geo", "math", "other"], required=False),
            rg.MultiLabelQuestion(name="flags", labels=["toxic", "wrong", "verbose"], required=False),
            rg.RankingQuestion(name="rank", values=["a", "b", "c"], required=False),
            rg.SpanQuestion(name="ents", field="instruction", labels=["PLACE", "NUM"], required=False),
        ],
        metadata=[rg.TermsMetadataProperty(name="origin"), rg.IntegerMetadataProperty(name="length")],
        guidelines="Review the response.",
    )


SFT_RECORDS: list[dict[str, Any]] = [
    {
        "id": "r1",
        "instruction": "Capital of France?",
        "context": "",
        "response": "Paris.",
        "origin": "dolly",
        "length": 6,
    },
    {
        "id": "r2",
        "instruction": "2 + 2?",
        "context": "arithmetic",
        "response": "5",
        "origin": "dolly",
        "length": 1,
    },
    {
        "id": "r3",
        "instruction": "Name a river in Paris.",
        "context": "",
        "response": "The Seine.",
        "origin": "gen",
        "length": 10,
    },
    {"id": "r4", "instruction": "Say hi.", "context": "", "response": "Hello!", "origin": "gen", "length": 6},
    {
        "id": "r5",
        "instruction": "Untouched?",
        "context": "",
        "response": "Yes.",
        "origin": "gen",
        "length": 4,
    },
]
# suggestions (value, score, agent) on r1/r2
SFT_SUGGESTIONS = {
    "r1": {"topic": ("geo", 0.9, "clf-v1"), "quality": (4, 0.5, "judge")},
    "r2": {"topic": ("math", 0.8, "clf-v1"), "flags": (["wrong"], [0.7], "judge")},
}
# (annotator, record, values, status): submitted, draft and discarded (with values, so the SDK's
# to_disk can read them back)
SFT_RESPONSES: list[tuple[str, str, dict[str, Any], str]] = [
    ("ann1", "r1", {"quality": 5, "topic": "geo", "rank": [{"value": "b", "rank": 1}, {"value": "a", "rank": 2}, {"value": "c", "rank": 3}],
                    "ents": [{"label": "PLACE", "start": 11, "end": 17}]}, "submitted"),
    ("ann2", "r1", {"quality": 4, "topic": "geo", "flags": ["verbose"]}, "submitted"),
    ("ann3", "r1", {"quality": 3}, "draft"),
    ("ann1", "r2", {"quality": 1, "corrected_response": "4", "flags": ["wrong", "toxic"]}, "submitted"),
    ("ann2", "r2", {"quality": 2, "corrected_response": "Four."}, "draft"),
    ("ann3", "r2", {"quality": 1, "corrected_response": "4."}, "discarded"),
    ("ann2", "r3", {"quality": 5}, "submitted"),
    ("ann3", "r4", {"quality": 2, "corrected_response": "Hello."}, "discarded"),
]  # fmt: skip


def build_sft(server: Server, name: str) -> rg.Dataset:
    client = server.client()
    dataset = rg.Dataset(name=name, workspace=WORKSPACE, settings=sft_settings(), client=client).create()
    records = []
    for row in SFT_RECORDS:
        suggestions = [
            rg.Suggestion(question_name=q, value=v, score=s, agent=a)
            for q, (v, s, a) in SFT_SUGGESTIONS.get(row["id"], {}).items()
        ]
        records.append(
            rg.Record(
                id=row["id"],
                fields={k: row[k] for k in ("instruction", "context", "response") if row[k]},
                metadata={"origin": row["origin"], "length": row["length"]},
                suggestions=suggestions,
            )
        )
    dataset.records.log(records)
    ids = record_ids(server, dataset)
    for user, rid, values, status in SFT_RESPONSES:
        respond(server, user, ids[rid], values, status)
    return dataset
