"""``curate.load(spec, source=...)`` with an ``argilla`` SDK object (a Dataset, ``dataset.records``,
``dataset.records()``) or a ``{"argilla": ...}`` mapping, against the real server: the same rows
and manifest as the spec's own live source, credentials never written anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import argilla as rg
import pytest
from live_helpers import WORKSPACE, Server

import curate
from curate.errors import CurateError

pytestmark = pytest.mark.argilla_server

KEYS: dict[str, Any] = {
    "name": "live-sft",
    "task": "sft",
    "responses": {"statuses": ["submitted", "draft"]},
    "unify": {"text": "first_submitted"},
    "columns": {
        "instruction": {"field": "instruction"},
        "context": {"field": "context"},
        "response": [{"question": "corrected_response"}, {"field": "response"}],
    },
}


def rows(ds: Any) -> dict[str, list[dict[str, Any]]]:
    return {split: d.to_list() for split, d in ds.items()}


@pytest.fixture
def live(argilla: Server, sft_dataset: rg.Dataset, tmp_path: Path) -> Any:
    spec = curate.Spec(**KEYS, source={"argilla": {"dataset": "sft-live", "workspace": WORKSPACE}})
    return curate.load(spec, api_url=argilla.url, api_key=argilla.api_key, cache_dir=tmp_path / "c")


def test_sdk_objects_read_like_the_live_source(
    argilla: Server, sft_dataset: rg.Dataset, live: Any, tmp_path: Path
) -> None:
    spec = curate.Spec(**KEYS)  # no source of its own: the SDK object is the source
    assert [r["record_id"] for r in live["train"]] == ["r1", "r2", "r3", "r4", "r5"]
    assert live["train"][1]["response"] == "4"  # ann1's submitted correction, first_submitted
    for source in (sft_dataset, sft_dataset.records, sft_dataset.records()):
        ds = curate.load(spec, source=source, cache_dir=tmp_path / "c")
        assert rows(ds) == rows(live), type(source).__name__
        assert ds.manifest.fingerprint == live.manifest.fingerprint
        assert ds.manifest.source == live.manifest.source  # the same server, workspace, dataset
        assert argilla.api_key not in ds.manifest.to_json()
    assert live.manifest.source["layout"] == "argilla_server"
    assert sorted(live["train"][1]["statuses"]) == ["discarded", "draft", "submitted"]


def test_credentials_come_from_the_environment(
    argilla: Server, sft_dataset: rg.Dataset, live: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = curate.Spec(**KEYS)
    source = {"argilla": {"dataset": "sft-live", "workspace": WORKSPACE}}
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    with pytest.raises(CurateError, match="no Argilla server URL"):
        curate.load(spec, source=source, cache_dir=tmp_path / "c")
    monkeypatch.setenv("ARGILLA_API_URL", argilla.url)
    monkeypatch.setenv("ARGILLA_API_KEY", argilla.api_key)
    assert rows(curate.load(spec, source=source, cache_dir=tmp_path / "c")) == rows(live)


def test_a_narrowed_records_iterator_is_refused(sft_dataset: rg.Dataset, tmp_path: Path) -> None:
    spec = curate.Spec(**KEYS)
    for narrowed in (sft_dataset.records(query="Paris"), sft_dataset.records(limit=2)):
        with pytest.raises(CurateError, match=r"narrows the records; curate reads a whole dataset"):
            curate.load(spec, source=narrowed, cache_dir=tmp_path / "c")


def test_stats_and_since_on_an_sdk_dataset(sft_dataset: rg.Dataset, tmp_path: Path) -> None:
    stats = curate.stats(sft_dataset)
    assert stats.kind == "source" and stats["records"] == 5
    assert set(stats["annotators"]) == {str(u) for u in _annotator_ids(sft_dataset)}
    assert stats["questions"]["quality"]["agreement"]["metric"] == "krippendorff_alpha_interval"
    spec = curate.Spec(**KEYS)
    later = curate.load(
        spec, source=sft_dataset, since="2999-01-01T00:00:00", allow_empty=True, cache_dir=tmp_path / "c"
    )
    assert later.manifest.counts.input_records == 0


def _annotator_ids(dataset: rg.Dataset) -> set[str]:
    users: set[str] = set()
    for record in dataset.records(with_responses=True):
        for response in record.responses:
            users.add(str(response.user_id))
    return users
