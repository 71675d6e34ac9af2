"""The flat layout as the real SDK writes it (``records.to_datasets()`` from the real server, saved
as a Hub snapshot and as a ``save_to_disk`` folder) reads back with the same answers, statuses,
annotators and suggestions as the live source."""

from __future__ import annotations

from pathlib import Path

import argilla as rg
import pytest
from live_helpers import WORKSPACE, Server

from curate.records import ArgillaRecord, RankItem
from curate.sources import detect_layout, open_source
from curate.sources.argilla_live import ArgillaServerSource
from curate.spec import ArgillaServerRef, SourceSpec

pytestmark = pytest.mark.argilla_server


def _answers(record: ArgillaRecord) -> dict[str, list[tuple[str, object, str | None]]]:
    out = {}
    for q, responses in record.responses.items():
        items = []
        for r in responses:
            if r.value is None:
                continue  # the live source lists a discard without values for every question
            value = r.value
            if isinstance(value, tuple) and value and isinstance(value[0], RankItem):
                value = tuple(i.value for i in value)  # the SDK export keeps order, not rank numbers
            items.append((r.user_id, value, r.status))
        if items:
            out[q] = sorted(items, key=repr)
    return out


@pytest.fixture(scope="module")
def sdk_exports(argilla: Server, sft_dataset: rg.Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict:
    hf = sft_dataset.records(with_responses=True, with_suggestions=True).to_datasets()
    snapshot = tmp_path_factory.mktemp("hub-snapshot")
    (snapshot / "data").mkdir()
    hf.to_parquet(snapshot / "data" / "train-00000-of-00001.parquet")
    (snapshot / ".argilla").mkdir()
    sft_dataset.settings.to_json(snapshot / ".argilla" / "settings.json")
    saved = tmp_path_factory.mktemp("saved") / "ds"
    hf.save_to_disk(str(saved))  # no settings beside it: kinds inferred
    return {"snapshot": snapshot, "saved": saved}


@pytest.mark.parametrize("kind", ["snapshot", "saved"])
def test_sdk_flat_export_reads_like_the_live_server(argilla: Server, sdk_exports: dict, kind: str) -> None:
    path: Path = sdk_exports[kind]
    assert detect_layout(path) == "argilla_v2_flat"
    flat = {r.id: r for r in open_source(SourceSpec(path=str(path)), path)}
    live_source = ArgillaServerSource(
        ArgillaServerRef(dataset="sft-live", workspace=WORKSPACE),
        api_url=argilla.url,
        api_key=argilla.api_key,
    )
    live = {r.id: r for r in live_source}
    assert flat.keys() == live.keys()
    for rid, lrec in live.items():
        frec = flat[rid]
        assert _answers(frec) == _answers(lrec), rid
        assert {q: s.value for q, s in frec.suggestions.items()} == {
            q: s.value for q, s in lrec.suggestions.items()
        }
        for q, s in lrec.suggestions.items():
            assert frec.suggestions[q].agent == s.agent
        fields = {k: v for k, v in frec.fields.items() if v is not None}
        assert frec.server_id == lrec.server_id and frec.status == lrec.status
        if kind == "snapshot":
            assert fields == dict(lrec.fields)
            assert dict(frec.metadata) == dict(lrec.metadata)
        else:  # without settings, metadata columns cannot be told from fields: both are kept
            assert fields == {**lrec.fields, **lrec.metadata}
    # label suggestions became ClassLabel integers in the SDK export; names are read back
    assert flat["r1"].suggestions["topic"].value == "geo"
