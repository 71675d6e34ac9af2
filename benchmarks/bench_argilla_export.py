"""Export throughput from a live Argilla server: curate's live source vs the SDK vs raw HTTP.

Starts the real server (``curate.testing.argilla_server``), creates a dataset with the SDK, and
seeds N records (default 20,000) with 3 responses each (2 submitted + 1 draft/discarded from
three annotators) by writing the server's SQLite database directly: logging through the API
runs at ~56 records/s (the server builds a webhook event per record), while SQL inserts of the
same rows take about a second. Rows are written exactly as the server writes them (ids as 32 hex
digits, JSON columns, naive-UTC timestamps, record status), and ``ANALYZE`` runs afterwards.

Each path runs in its own subprocess (so peak RSS is its own), in one run against one server:

* ``raw``: ``GET /api/v1/datasets/{id}/records?include=responses,suggestions`` pages of 1000,
  JSON decoded, nothing else (the floor);
* ``curate``: ``ArgillaServerSource`` yielding every ``ArgillaRecord`` (page 1000, one page ahead);
* ``sdk``: ``dataset.records.to_datasets()`` (the SDK's own export path).

    python benchmarks/bench_argilla_export.py [--records 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

DATASET = "bench"
WORKSPACE = "argilla"


def child(mode: str, url: str, dataset: str) -> None:
    key = os.environ["BENCH_ARGILLA_API_KEY"]
    started = time.perf_counter()
    n = 0
    if mode == "raw":
        import httpx

        with httpx.Client(base_url=url, headers={"X-Argilla-Api-Key": key}, timeout=300) as http:
            ds = next(d for d in http.get("/api/v1/me/datasets").json()["items"] if d["name"] == dataset)
            offset = 0
            while True:
                params = {"include": "responses,suggestions", "offset": offset, "limit": 1000}
                items = http.get(f"/api/v1/datasets/{ds['id']}/records", params=params).json()["items"]
                n += len(items)
                offset += len(items)
                if len(items) < 1000:
                    break
    elif mode == "curate":
        from curate.sources.argilla_live import ArgillaServerSource
        from curate.spec import ArgillaServerRef

        source = ArgillaServerSource(
            ArgillaServerRef(dataset=dataset, workspace=WORKSPACE), api_url=url, api_key=key
        )
        for _record in source:
            n += 1
    elif mode == "sdk":
        import argilla as rg

        client = rg.Argilla(api_url=url, api_key=key)
        hf = client.datasets(name=dataset, workspace=WORKSPACE).records.to_datasets()
        n = len(hf)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "records": n, "seconds": seconds, "peak_rss_mb": rss_mb}))


def seed(server: object, n: int) -> None:
    import argilla as rg
    import httpx

    url, key, db_path = server.url, server.api_key, server.db_path  # type: ignore[attr-defined]
    client = rg.Argilla(api_url=url, api_key=key)
    settings = rg.Settings(
        fields=[rg.TextField(name="instruction"), rg.TextField(name="response")],
        questions=[
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            rg.TextQuestion(name="corrected_response", required=False),
            rg.LabelQuestion(name="topic", labels=["a", "b", "c"], required=False),
        ],
        metadata=[rg.TermsMetadataProperty(name="origin")],
    )
    ds = rg.Dataset(name=DATASET, workspace=WORKSPACE, settings=settings, client=client).create()
    users = []
    with httpx.Client(base_url=url, headers={"X-Argilla-Api-Key": key}) as http:
        for name in ("ann1", "ann2", "ann3"):
            user = rg.User(username=name, password="annotator-pw-1", role="annotator", client=client).create()
            user.add_to_workspace(client.workspaces(WORKSPACE))
            users.append(uuid.UUID(http.get(f"/api/v1/users/{user.id}").json()["id"]).hex)
    rng = random.Random(0)
    base = datetime(2026, 1, 1)
    dataset_id = uuid.UUID(str(ds.id)).hex
    records, responses = [], []
    for i in range(n):
        stamp = (base + timedelta(microseconds=i * 10)).strftime("%Y-%m-%d %H:%M:%S.%f")
        rid = uuid.uuid4().hex
        fields = {
            "instruction": f"Instruction {i}: " + "lorem ipsum " * rng.randint(5, 40),
            "response": f"Answer {i}.",
        }
        records.append(
            (
                rid,
                json.dumps(fields),
                f"rec-{i}",
                dataset_id,
                stamp,
                stamp,
                json.dumps({"origin": "bench"}),
                "completed",
            )
        )
        for j, user in enumerate(users):
            status = "submitted" if j < 2 else rng.choice(["draft", "discarded"])
            values = {"quality": {"value": rng.randint(1, 5)}, "topic": {"value": rng.choice("abc")}}
            if rng.random() < 0.3:
                values["corrected_response"] = {"value": f"Better answer {i}."}
            responses.append((uuid.uuid4().hex, json.dumps(values), status, rid, user, stamp, stamp))
    started = time.perf_counter()
    with sqlite3.connect(db_path, timeout=60) as conn:
        conn.executemany(
            "INSERT INTO records (id, fields, external_id, dataset_id, inserted_at, updated_at, metadata, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            records,
        )
        conn.executemany(
            'INSERT INTO responses (id, "values", status, record_id, user_id, inserted_at, updated_at) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            responses,
        )
        conn.execute("ANALYZE")
    print(
        f"seeded {n} records, {len(responses)} responses via SQL in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--child", choices=["raw", "curate", "sdk"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, DATASET)
        return

    from curate.testing.argilla_server import ArgillaServer

    with ArgillaServer(worker=False) as server:
        print(f"server cold start {server.cold_start_s:.1f}s", file=sys.stderr)
        seed(server, args.records)
        env = {**os.environ, "BENCH_ARGILLA_API_KEY": server.api_key}
        results = {}
        # the first pass warms the server's caches (SQLite pages, Python code paths): not counted
        for mode in ("warmup", "raw", "curate", "sdk"):
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", mode.replace("warmup", "raw"), "--url", server.url],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{proc.stderr[-2000:]}")
            if mode != "warmup":
                results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{'path':<8} {'records':>8} {'seconds':>8} {'records/s':>10} {'peak RSS MB':>12}")
    for mode, r in results.items():
        assert r["records"] == args.records, r
        rate = r["records"] / r["seconds"]
        r["records_per_s"] = rate
        print(f"{mode:<8} {r['records']:>8} {r['seconds']:>8.1f} {rate:>10.0f} {r['peak_rss_mb']:>12.0f}")
    floor, sdk, ours = (results[m]["records_per_s"] for m in ("raw", "sdk", "curate"))
    print(f"curate / raw floor = {ours / floor:.2f}x (target >= 0.9)")
    print(f"curate / SDK to_datasets = {ours / sdk:.2f}x (target >= 1.3)")


if __name__ == "__main__":
    main()
