"""Session fixtures the training tests share (loaded through ``pytest_plugins`` in conftest):
tiny models built in code, and helpers that write export folders laid out like ``curate export``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# CPU-friendly settings for every run: fp32, no checkpoints, no trackers, no progress bars.
FAST = [
    "bf16=false",
    "gradient_checkpointing=false",
    "report_to=none",
    "save_strategy=no",
    "disable_tqdm=true",
    "logging_steps=1",
    "seed=0",
]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a byte-level BPE (1024 tokens) and TRL's Qwen2.5 chat template."""
    pytest.importorskip("trl")
    from curate.testing.tiny import chat_tokenizer
    from curate.testing.tiny_models import build_tiny_llama

    folder = tmp_path_factory.mktemp("tiny-base")
    return build_tiny_llama(folder, chat_tokenizer(folder, "qwen2_5", vocab_size=1024))


@pytest.fixture(scope="session")
def spm_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a Llama-2-like SentencePiece-style tokenizer (BOS added, ``▁`` merges)."""
    pytest.importorskip("trl")
    from curate.testing.tiny import sentencepiece_style
    from curate.testing.tiny_models import build_tiny_llama

    folder = tmp_path_factory.mktemp("spm-base")
    return build_tiny_llama(folder, sentencepiece_style(folder, 1024))


def write_export(
    folder: Path, splits: dict[str, list[dict[str, Any]]], task: str, template: str | None = None
) -> Path:
    """An export folder as `curate export` lays it out: <split>.parquet per split and manifest.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.manifest import Counts, Manifest, Splits

    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}.parquet")
    per_split = {s: len({r.get("record_id", i) for i, r in enumerate(rows)}) for s, rows in splits.items()}
    total = sum(per_split.values())
    manifest = Manifest(
        curate_version="test",
        spec={"name": folder.name, "task": task},
        source={"layout": "test", "name": "rows written by the test"},
        task=task,
        template=template,
        style="text",
        format="parquet",
        columns=list(next(iter(splits.values()))[0]),
        splits=Splits({s: 1 / len(splits) for s in splits}, 0),
        counts=Counts(total, total, 0, per_split, {s: len(r) for s, r in splits.items()}, {}, {}),
        quality={},
        warnings=[],
        fingerprint="test",
    )
    (folder / "manifest.json").write_text(manifest.to_json())
    return folder


def write_table_spec(folder: Path, name: str, task: str, rows: list[dict], columns: str, split: str) -> Path:
    """A dataset spec over a JSON Lines table (rows with an ``id``), for ``data.spec`` runs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    fields = [k for k in rows[0] if k != "id"]
    spec = folder / f"{name}.yaml"
    spec.write_text(
        f"name: {name}\ntask: {task}\nsource:\n  path: {name}.jsonl\n  layout: table\n  columns:\n"
        f"    id: id\n    fields: [{', '.join(fields)}]\ncolumns:\n{columns}\nsplit: {split}\n"
        "template: raw\nfilters: {dedup: none}\n"
    )
    return spec
