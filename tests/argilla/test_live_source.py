"""ArgillaServerSource against the real server: every value, status, annotator and suggestion."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import argilla as rg
import pytest
from live_helpers import SFT_RESPONSES, WORKSPACE, Server, build_sft, record_ids, respond

from curate.errors import CurateError
from curate.records import QuestionKind, RankItem, Span, Suggestion
from curate.sources import argilla_api
from curate.sources.argilla_live import ArgillaServerSource
from curate.spec import ArgillaServerRef

pytestmark = pytest.mark.argilla_server


def open_live(server: Server, dataset: str, **ref: object) -> ArgillaServerSource:
    return ArgillaServerSource(
        ArgillaServerRef(dataset=dataset, workspace=WORKSPACE, **ref),
        api_url=server.url,
        api_key=server.api_key,
    )


def test_settings_come_from_the_server(argilla: Server, sft_dataset: rg.Dataset) -> None:
    source = open_live(argilla, "sft-live")
    s = source.settings
    assert list(s.fields) == ["instruction", "context", "response"]
    assert {q: i.kind for q, i in s.questions.items()} == {
        "corrected_response": QuestionKind.TEXT,
        "quality": QuestionKind.RATING,
        "topic": QuestionKind.LABEL,
        "flags": QuestionKind.MULTI_LABEL,
        "rank": QuestionKind.RANKING,
        "ents": QuestionKind.SPAN,
    }
    assert s.questions["quality"].options == (1, 2, 3, 4, 5)
    assert s.questions["topic"].options == ("geo", "math", "other")
    assert s.metadata == ("origin", "length")
    assert s.guidelines == "Review the response."
    assert source.count() == 5
    described = source.describe()
    assert described["api_url"] == argilla.url and described["dataset"] == "sft-live"
    assert described["workspace"] == WORKSPACE and described["server_version"].startswith("2.")
    assert argilla.api_key not in repr(described)


def test_every_value_status_and_annotator(argilla: Server, sft_dataset: rg.Dataset) -> None:
    records = {r.id: r for r in open_live(argilla, "sft-live")}
    assert list(records) == ["r1", "r2", "r3", "r4", "r5"]  # server (insertion) order
    users = argilla.annotators
    ids = record_ids(argilla, sft_dataset)

    r1 = records["r1"]
    assert r1.server_id == ids["r1"]
    assert dict(r1.fields) == {"instruction": "Capital of France?", "response": "Paris."}
    assert dict(r1.metadata) == {"origin": "dolly", "length": 6}
    assert r1.status == "completed"
    assert dict(r1.suggestions) == {
        "topic": Suggestion("geo", 0.9, "clf-v1", None),
        "quality": Suggestion(4, 0.5, "judge", None),
    }
    got = {q: [(r.user_id, r.value, r.status) for r in rs] for q, rs in r1.responses.items()}
    assert got == {
        "quality": [
            (users["ann1"], 5, "submitted"),
            (users["ann2"], 4, "submitted"),
            (users["ann3"], 3, "draft"),
        ],
        "topic": [(users["ann1"], "geo", "submitted"), (users["ann2"], "geo", "submitted")],
        "rank": [(users["ann1"], (RankItem("b", 1), RankItem("a", 2), RankItem("c", 3)), "submitted")],
        "ents": [(users["ann1"], (Span("PLACE", 11, 17),), "submitted")],
        "flags": [(users["ann2"], ("verbose",), "submitted")],
    }
    assert all(r.updated_at and r.updated_at.startswith("20") for rs in r1.responses.values() for r in rs)

    r2 = records["r2"]
    assert dict(r2.fields) == {"instruction": "2 + 2?", "context": "arithmetic", "response": "5"}
    assert dict(r2.suggestions) == {
        "topic": Suggestion("math", 0.8, "clf-v1", None),
        "flags": Suggestion(("wrong",), 0.7, "judge", None),
    }
    got = {q: [(r.user_id, r.value, r.status) for r in rs] for q, rs in r2.responses.items()}
    assert got == {
        "quality": [
            (users["ann1"], 1, "submitted"),
            (users["ann2"], 2, "draft"),
            (users["ann3"], 1, "discarded"),
        ],
        "corrected_response": [
            (users["ann1"], "4", "submitted"),
            (users["ann2"], "Four.", "draft"),
            (users["ann3"], "4.", "discarded"),
        ],
        "flags": [(users["ann1"], ("toxic", "wrong"), "submitted")],  # multi-label answers are sorted
    }
    assert records["r4"].status == "pending"  # only a discard: not completed
    assert {q: [(r.user_id, r.status) for r in rs] for q, rs in records["r4"].responses.items()} == {
        "quality": [(users["ann3"], "discarded")],
        "corrected_response": [(users["ann3"], "discarded")],
    }
    assert dict(records["r5"].responses) == {} and records["r5"].status == "pending"
    # every response written in conftest comes back exactly once
    total = sum(len(rs) for r in records.values() for rs in r.responses.values())
    assert total == sum(len(values) for _u, _r, values, _s in SFT_RESPONSES)


def test_discarded_response_without_values(argilla: Server) -> None:
    """The SDK's reader crashes on these; curate keeps the status, with no invented answer."""
    client = argilla.client()
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[
            rg.LabelQuestion(name="ok", labels=["yes", "no"]),
            rg.TextQuestion(name="why", required=False),
        ],
    )
    ds = rg.Dataset(name="discard-none", workspace=WORKSPACE, settings=settings, client=client).create()
    ds.records.log([{"id": "d1", "text": "spam"}, {"id": "d2", "text": "fine"}])
    ids = record_ids(argilla, ds)
    respond(argilla, "ann1", ids["d1"], None, "discarded")
    respond(argilla, "ann2", ids["d1"], {"ok": "no"}, "submitted")
    with pytest.raises(AttributeError):
        list(ds.records)  # the SDK 2.8 reader: 'NoneType' object has no attribute 'items'
    records = {r.id: r for r in open_live(argilla, "discard-none")}
    ann1, ann2 = argilla.annotators["ann1"], argilla.annotators["ann2"]
    assert [(r.user_id, r.value, r.status) for r in records["d1"].responses["ok"]] == [
        (ann1, None, "discarded"),
        (ann2, "no", "submitted"),
    ]
    assert [(r.user_id, r.value, r.status) for r in records["d1"].responses["why"]] == [
        (ann1, None, "discarded")
    ]
    assert dict(records["d2"].responses) == {}


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["submitted"], ["r1", "r2", "r3"]),
        (["draft"], ["r1", "r2"]),
        (["discarded"], ["r2", "r4"]),
        (["draft", "discarded"], ["r1", "r2", "r4"]),
    ],
)
def test_server_side_status_filter(
    argilla: Server, sft_dataset: rg.Dataset, statuses: list, expected: list
) -> None:
    source = open_live(argilla, "sft-live", response_status=statuses)
    got = list(source)
    assert [r.id for r in got] == expected
    assert source.count() == len(expected)
    # the filter selects records; each keeps all of its responses
    assert got[0].responses == {r.id: r for r in open_live(argilla, "sft-live")}[expected[0]].responses


def test_paging_gives_every_record_once(argilla: Server, sft_dataset: rg.Dataset) -> None:
    whole = [r for r in open_live(argilla, "sft-live")]
    for page_size in (1, 2, 4):
        assert [r for r in open_live(argilla, "sft-live", page_size=page_size)] == whole


def test_since_pulls_only_what_changed(argilla: Server) -> None:
    ds = build_sft(argilla, "sft-since")
    time.sleep(0.05)
    mark = datetime.now(timezone.utc).isoformat()
    time.sleep(0.05)
    ids = record_ids(argilla, ds)
    respond(argilla, "ann1", ids["r5"], {"quality": 4}, "submitted")  # a new response on r5
    ds.records.log([rg.Record(id="r6", fields={"instruction": "New?", "response": "Yes."})])  # a new record
    source = ArgillaServerSource(
        ArgillaServerRef(dataset="sft-since", workspace=WORKSPACE),
        api_url=argilla.url,
        api_key=argilla.api_key,
        since=mark,
    )
    assert [r.id for r in source] == ["r5", "r6"]
    assert source.describe()["since"] is not None
    # the spec's own watermark works the same way; a flag overrides it
    spec_since = open_live(argilla, "sft-since", since=mark)
    assert [r.id for r in spec_since] == ["r5", "r6"]
    assert len(list(open_live(argilla, "sft-since", since="2000-01-01T00:00:00Z"))) == 6
    with pytest.raises(CurateError, match=r"(?<!-)since: 'yesterday' is not an ISO 8601 time"):
        ArgillaServerSource(
            ArgillaServerRef(dataset="sft-since"),
            api_url=argilla.url,
            api_key=argilla.api_key,
            since="yesterday",
        )


def test_wrong_key_is_one_clear_error_without_the_key(
    argilla: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "curate.wrong-key-0123456789"
    with pytest.raises(CurateError) as err:
        ArgillaServerSource(ArgillaServerRef(dataset="sft-live"), api_url=argilla.url, api_key=wrong)
    assert "API key was rejected (HTTP 401)" in str(err.value) and argilla.url in str(err.value)
    assert wrong not in str(err.value)
    # from the environment too
    monkeypatch.setenv("ARGILLA_API_URL", argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", wrong)
    with pytest.raises(CurateError, match="rejected") as err:
        ArgillaServerSource(ArgillaServerRef(dataset="sft-live"))
    assert wrong not in str(err.value)
    monkeypatch.delenv("ARGILLA_API_KEY")
    with pytest.raises(CurateError, match="no Argilla API key"):
        ArgillaServerSource(ArgillaServerRef(dataset="sft-live"))


def test_unknown_dataset_or_workspace(argilla: Server, sft_dataset: rg.Dataset) -> None:
    with pytest.raises(
        CurateError, match=r"no dataset 'nope' in workspace 'argilla' \(datasets: .*argilla/sft-live"
    ):
        open_live(argilla, "nope")
    with pytest.raises(
        CurateError, match=r"no workspace 'elsewhere' visible to this key \(workspaces: argilla\)"
    ):
        ArgillaServerSource(
            ArgillaServerRef(dataset="sft-live", workspace="elsewhere"),
            api_url=argilla.url,
            api_key=argilla.api_key,
        )
    with pytest.raises(CurateError, match="must start with http"):
        ArgillaServerSource(ArgillaServerRef(dataset="x"), api_url="localhost:1", api_key="k")


def test_unreachable_server_is_retried_then_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.testing.argilla_server import free_port

    monkeypatch.setattr(argilla_api, "BACKOFF_BASE_S", 0.01)
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(
        CurateError, match=rf"{url}: read the server version failed after 5 attempts \(ConnectError\)"
    ):
        ArgillaServerSource(ArgillaServerRef(dataset="x"), api_url=url, api_key="secret-key-xyz")
    assert time.monotonic() - started < 60  # retried quickly, not for minutes (a bound, not a timing)


def test_server_killed_mid_read(
    argilla: Server, sft_dataset: rg.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(argilla_api, "BACKOFF_BASE_S", 0.01)
    source = open_live(argilla, "sft-live", page_size=1)
    records = iter(source)
    assert next(records).id == "r1"
    argilla.harness.kill_server()
    try:
        with pytest.raises(
            CurateError, match=r"failed after 5 attempts \((ConnectError|RemoteProtocolError|ReadError)"
        ):
            list(records)
    finally:
        argilla.harness.start_server()
    assert [r.id for r in open_live(argilla, "sft-live")] == ["r1", "r2", "r3", "r4", "r5"]
