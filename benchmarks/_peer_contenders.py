"""What a user could run instead of ``curate export``, one contender per subprocess (bench_export_peers.py
starts ``python benchmarks/_peer_contenders.py NAME SOURCE OUT`` and reads the JSON line it prints).

* ``pandas_v1`` / ``pandas_v2``: a hand-written pandas script applying datasets_spec/dolly-curated.yaml
  (latest submitted correction, else the original; response required; length bounds; normalised dedup;
  alpaca prompt/completion; a 90/10 split) to an Argilla 1.x Hub folder or a 2.x ``records.json``;
* ``sdk_v2``: the Argilla SDK 2.8 way, offline: ``records.json`` -> ``Record`` objects (what
  ``Dataset.from_disk`` / ``records.from_json`` call) -> ``records.to_datasets()`` -> the same rule;
* ``floor_v1`` / ``floor_v2``: the bare read any reader pays (``pq.read_table``, ``json.load``).

Each imports only what it needs, so its start-up and peak RSS are its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ALPACA_INTRO = "Below is an instruction that describes a task"
WITH_CONTEXT = (
    f"{ALPACA_INTRO}, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n"
)
WITHOUT_CONTEXT = (
    f"{ALPACA_INTRO}. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
QUESTIONS = {"instruction": "new-instruction", "context": "new-context", "response": "new-response"}
MAX_CHARS = {"instruction": 4000, "context": 12000, "response": 8000}


def latest_answer(values: Any, statuses: Any = None) -> str | None:
    """The last listed non-blank answer whose status counts (no statuses: all count).

    >>> latest_answer(["a", "b", " "], ["submitted", "submitted", "submitted"])
    'b'
    >>> latest_answer(["a", "b"], ["submitted", "draft"]), latest_answer(None)
    ('a', None)
    """
    if values is None:
        return None
    for i in range(len(values) - 1, -1, -1):
        value = values[i]
        if value is None or not value.strip():
            continue
        if statuses is None or statuses[i] is None or statuses[i] == "submitted":
            return str(value)
    return None


def apply_rule(frame: Any) -> Any:
    """Columns record_id, original-*, picked-* (answers or None) -> the kept SFT rows, as a user
    would write the spec's rule in pandas."""
    import pandas as pd

    out = pd.DataFrame({"record_id": frame["record_id"]})
    for column in QUESTIONS:
        original = frame[f"original-{column}"].astype("string")
        original = original.where(original.str.strip().fillna("") != "")
        out[column] = frame[f"picked-{column}"].astype("string").fillna(original)
    out["context"] = out["context"].fillna("")
    out = out[out["instruction"].notna() & out["response"].notna()]
    out = out[out["response"].str.len() >= 2]
    for column, most in MAX_CHARS.items():
        out = out[out[column].str.len() <= most]
    # dedup: "normalized" = case, punctuation and spacing ignored; the first in input order is kept
    out = out.drop_duplicates(subset=list(QUESTIONS))
    keys = [
        out[c].str.lower().str.replace(r"[^\w\s]", "", regex=True).str.split().str.join(" ")
        for c in QUESTIONS
    ]
    out = out[~pd.concat(keys, axis=1).duplicated()]
    out["prompt"] = [
        (WITH_CONTEXT if c.strip() else WITHOUT_CONTEXT).format(instruction=i, context=c)
        for i, c in zip(out["instruction"], out["context"], strict=True)
    ]
    out["completion"] = out["response"]
    return out


def write_splits(rows: Any, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    train = rows.sample(frac=0.9, random_state=0)
    test = rows.drop(train.index)
    train.to_parquet(out / "train.parquet", index=False)
    test.to_parquet(out / "test.parquet", index=False)
    return {"kept": len(rows), "train": len(train), "test": len(test)}


def pandas_v1(source: Path, out: Path) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    files = sorted((source / "data").glob("*.parquet"))
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    t_read = time.perf_counter()
    picked = pd.DataFrame({"record_id": frame["external_id"]})
    for column, question in QUESTIONS.items():
        picked[f"original-{column}"] = frame[f"original-{column}"]
        picked[f"picked-{column}"] = [
            None
            if answers is None
            else latest_answer([a["value"] for a in answers], [a["status"] for a in answers])
            for answers in frame[question]
        ]
    rows = apply_rule(picked)
    t_rule = time.perf_counter()
    counts = write_splits(rows, out)
    end = time.perf_counter()
    return {**counts, "phases": {"read": t_read - t0, "rule": t_rule - t_read, "write": end - t_rule}}


def _frame_from_records(records: list[dict[str, Any]]) -> Any:
    import pandas as pd

    data: dict[str, list[Any]] = {"record_id": [r["id"] for r in records]}
    for column, question in QUESTIONS.items():
        data[f"original-{column}"] = [r["fields"].get(f"original-{column}") for r in records]
        # to_disk keeps no response status: every listed answer counts (curate's unknown_status: submitted)
        data[f"picked-{column}"] = [
            latest_answer([a["value"] for a in (r.get("responses") or {}).get(question, [])]) for r in records
        ]
    return pd.DataFrame(data)


def pandas_v2(source: Path, out: Path) -> dict[str, Any]:
    import pandas as pd  # noqa: F401  (imported before the clock starts, as in pandas_v1)

    t0 = time.perf_counter()
    with (source / "records.json").open(encoding="utf-8") as fh:
        records = json.load(fh)
    t_read = time.perf_counter()
    rows = apply_rule(_frame_from_records(records))
    t_rule = time.perf_counter()
    counts = write_splits(rows, out)
    end = time.perf_counter()
    return {**counts, "phases": {"read": t_read - t0, "rule": t_rule - t_read, "write": end - t_rule}}


def offline_client() -> Any:
    """A real ``argilla.Argilla`` client that never reaches a network: the SDK insists on a client
    object (its constructor asks the server who the user is, and Settings / Dataset take the default
    client), so ``/api/v1/me`` is answered locally and any other request fails loudly."""
    import uuid

    import argilla as rg
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/api/v1/me":
            return httpx.Response(
                200, json={"id": str(uuid.UUID(int=1)), "username": "bench", "role": "owner"}
            )
        raise RuntimeError(f"offline benchmark: the SDK tried {request.method} {request.url.path}")

    url = "http://argilla.offline.invalid"
    return rg.Argilla(api_url=url, api_key="offline", mounts={url: httpx.MockTransport(handler)})


def sdk_v2(source: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    import argilla as rg
    from argilla.records._io._datasets import HFDatasetsIO
    from argilla.records._io._json import JsonIO

    t_import = time.perf_counter()
    client = offline_client()
    settings = rg.Settings.from_json(source / ".argilla" / "settings.json")
    dataset = rg.Dataset(name="bench", settings=settings, client=client)
    # What Dataset.from_disk does after creating the dataset on a server (records.from_json):
    records = JsonIO._records_from_json(source / "records.json")
    t_read = time.perf_counter()
    # What dataset.records.to_datasets() does once the records are listed (no server round trip):
    hf = HFDatasetsIO.to_datasets(records, dataset)
    del records
    t_hf = time.perf_counter()
    frame = hf.to_pandas()
    picked = {"record_id": frame["id"]}
    for column, question in QUESTIONS.items():
        original = f"original-{column}"
        picked[original] = frame.get(original)  # a column no record has is missing from to_datasets()
        values = frame.get(f"{question}.responses", [None] * len(frame))
        picked[f"picked-{column}"] = [latest_answer(v) for v in values]
    import pandas as pd

    rows = apply_rule(pd.DataFrame(picked))
    t_rule = time.perf_counter()
    counts = write_splits(rows, out)
    end = time.perf_counter()
    phases = {
        "import": t_import - t0,
        "read_records": t_read - t_import,
        "to_datasets": t_hf - t_read,
        "rule": t_rule - t_hf,
        "write": end - t_rule,
    }
    return {**counts, "phases": phases}


def floor_v1(source: Path, out: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    n = sum(pq.read_table(f).num_rows for f in sorted((source / "data").glob("*.parquet")))
    return {"rows": n, "phases": {"read": time.perf_counter() - t0}}


def floor_v2(source: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    with (source / "records.json").open(encoding="utf-8") as fh:
        n = len(json.load(fh))
    return {"rows": n, "phases": {"read": time.perf_counter() - t0}}


CONTENDERS = {f.__name__: f for f in (pandas_v1, pandas_v2, sdk_v2, floor_v1, floor_v2)}


if __name__ == "__main__":
    name, source_arg, out_arg = sys.argv[1:4]
    result = CONTENDERS[name](Path(source_arg), Path(out_arg))
    print(json.dumps(result))
