"""Export throughput from files: 100k synthetic records in the Argilla 1.x Hub layout.

Prints records/s and peak RSS of `curate export` (run in a subprocess, so its RSS is its own),
and, measured in the same run, a bare `pyarrow.parquet.read_table` of the same file: the floor
any reader pays. Usage: python benchmarks/bench_export.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "datasets_spec" / "dolly-curated.yaml"
USERS = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(4)]


def make_source(folder: Path, n: int) -> Path:
    """A 1.x FeedbackDataset export with the Dolly-curated columns, written in 10k-row groups."""
    response = pa.struct([("user_id", pa.string()), ("value", pa.string()), ("status", pa.string())])
    meta = pa.struct([("type", pa.string()), ("score", pa.float32()), ("agent", pa.string())])
    fields = ["original-instruction", "original-context", "original-response", "category"]
    questions = ["new-instruction", "new-context", "new-response"]
    schema = pa.schema(
        [*(pa.field(f, pa.string()) for f in fields)]
        + [
            x
            for q in questions
            for x in (
                pa.field(q, pa.list_(response)),
                pa.field(f"{q}-suggestion", pa.string()),
                pa.field(f"{q}-suggestion-metadata", meta),
            )
        ]
        + [pa.field("external_id", pa.string()), pa.field("metadata", pa.string())]
    )
    path = folder / "data" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    statuses = ["submitted", "submitted", "submitted", "draft", "discarded"]
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, 10_000):
            rows = []
            for i in range(start, min(n, start + 10_000)):
                answers = [
                    {
                        "user_id": USERS[(i + k) % 4],
                        "value": f"Corrected answer {i} by {k}: " + "lorem ipsum " * (i % 20),
                        "status": statuses[(i + k) % 5],
                    }
                    for k in range(i % 4)
                ]
                rows.append(
                    {
                        "original-instruction": f"Instruction {i}: explain topic {i % 977} in detail.",
                        "original-context": "" if i % 3 else f"Context for {i}. " * (i % 11),
                        "original-response": f"Original response {i}. " + "dolor sit amet " * (i % 15),
                        "category": ["open_qa", "closed_qa", "summarization"][i % 3],
                        "new-instruction": [],
                        "new-instruction-suggestion": None,
                        "new-instruction-suggestion-metadata": {"type": None, "score": None, "agent": None},
                        "new-context": [],
                        "new-context-suggestion": None,
                        "new-context-suggestion-metadata": {"type": None, "score": None, "agent": None},
                        "new-response": answers,
                        "new-response-suggestion": None,
                        "new-response-suggestion-metadata": {"type": None, "score": None, "agent": None},
                        "external_id": f"rec-{i:07d}",
                        "metadata": json.dumps({"i": i}),
                    }
                )
            writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=10_000)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = make_source(Path(tmp) / "src", args.records)
        data = source / "data" / "train-00000-of-00001.parquet"
        t0 = time.perf_counter()
        table = pq.read_table(data)
        floor = time.perf_counter() - t0
        assert table.num_rows == args.records
        del table
        out = Path(tmp) / "out"
        cmd = [
            sys.executable,
            "-m",
            "curate.commands.app",
            "export",
            str(SPEC),
            "--source",
            str(source),
            "--out",
            str(out),
            "-q",
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        elapsed = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["input_records"] == args.records
    rate = args.records / elapsed
    print(f"records: {args.records}")
    print(
        f"curate export: {elapsed:.2f} s, {rate:,.0f} records/s, peak RSS {peak_mb:,.0f} MB (target < 1024 MB)"
    )
    print(
        f"floor, bare pyarrow read_table of the same file: {floor:.3f} s ({args.records / floor:,.0f} records/s)"
    )
    print(f"ratio export time / bare read: {elapsed / floor:.1f}x")


if __name__ == "__main__":
    main()
