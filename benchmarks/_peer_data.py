"""Seeded synthetic Dolly-curated reviews for bench_export_peers.py, written as an Argilla 1.x Hub
layout (the Parquet schema of bench_export.py) and as an Argilla 2.x ``Dataset.to_disk`` folder
(the shape of datasets_spec/data/dolly-curated-v2-disk).

Both layouts hold the same logical records: 0-3 annotators each (submitted, draft or discarded),
corrections to the instruction, context and response, blank originals that need a correction,
exact and near (case/punctuation) duplicates, disagreements and model suggestions.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

USERS = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(4)]
FIELDS = ["original-instruction", "original-context", "original-response", "category"]
QUESTIONS = ["new-instruction", "new-context", "new-response"]
CATEGORIES = ["open_qa", "closed_qa", "summarization"]
ROW_GROUP = 10_000
DATASET_ID = "c35a807b-963c-5691-8b06-e2201c649b51"


@dataclass(frozen=True, slots=True)
class Annotation:
    user_id: str
    status: str  # submitted | draft | discarded
    values: dict[str, str]  # question -> answer (questions left unanswered are absent)


@dataclass(frozen=True, slots=True)
class Review:
    record_id: str
    fields: dict[str, str]
    annotations: list[Annotation]
    suggestion: str | None  # a model's corrected response, for new-response


def reviews(n: int, seed: int = 14) -> Iterator[Review]:
    """``n`` records, the same for the same ``n`` and ``seed`` (a prefix of a longer run).

    >>> a = [r.record_id for r in reviews(3)]
    >>> a, a == [r.record_id for r in reviews(3)]
    (['rec-0000000', 'rec-0000001', 'rec-0000002'], True)
    >>> next(reviews(1)) == next(reviews(1))
    True
    """
    rng = random.Random(seed)
    for i in range(n):
        # Every 50th record repeats an earlier one exactly, every 71st in other case and punctuation:
        # exact and normalised dedup both find something to drop (when the annotators agree too).
        k = i - 24 if i % 50 == 49 else i - 30 if i % 71 == 70 else i
        instruction = f"Instruction {k}: explain topic {k % 977} in detail."
        context = "" if k % 3 else f"Context for {k}. " * (k % 11)
        response = f"Original response {k}. " + "dolor sit amet " * (k % 15)
        if i % 71 == 70:
            instruction = instruction.upper().replace(":", " -")
        if i % 37 == 0:
            response = "   "  # a blank original: kept only when an annotator wrote a response
        corrected = f"Corrected answer {k}: " + "lorem ipsum " * (k % 20)
        n_annotators = rng.choices([0, 1, 2, 3], weights=[12, 45, 30, 13])[0]
        annotations = []
        for j, user in enumerate(rng.sample(USERS, n_annotators)):
            status = rng.choices(["submitted", "draft", "discarded"], weights=[80, 10, 10])[0]
            values: dict[str, str] = {}
            if status == "discarded" and rng.random() < 0.7:
                annotations.append(Annotation(user, status, values))
                continue
            if rng.random() < 0.25:
                values["new-instruction"] = instruction.replace("explain", "please explain")
            if context and rng.random() < 0.2:
                values["new-context"] = context + "(verified)"
            roll = rng.random()
            if roll < 0.15:
                values["new-response"] = response if response.strip() else corrected
            elif roll < 0.35 and j > 0:
                values["new-response"] = f"{corrected}- annotator {j} rephrased it."  # a disagreement
            else:
                values["new-response"] = corrected
            annotations.append(Annotation(user, status, values))
        yield Review(
            record_id=f"rec-{i:07d}",
            fields={
                "original-instruction": instruction,
                "original-context": context,
                "original-response": response,
                "category": CATEGORIES[i % 3],
            },
            annotations=annotations,
            suggestion=corrected if i % 4 == 0 else None,
        )


def _v1_schema() -> pa.Schema:
    response = pa.struct([("user_id", pa.string()), ("value", pa.string()), ("status", pa.string())])
    meta = pa.struct([("type", pa.string()), ("score", pa.float32()), ("agent", pa.string())])
    return pa.schema(
        [*(pa.field(f, pa.string()) for f in FIELDS)]
        + [
            x
            for q in QUESTIONS
            for x in (
                pa.field(q, pa.list_(response)),
                pa.field(f"{q}-suggestion", pa.string()),
                pa.field(f"{q}-suggestion-metadata", meta),
            )
        ]
        + [pa.field("external_id", pa.string()), pa.field("metadata", pa.string())]
    )


_V1_CONFIG = "".join(
    [
        "fields:\n",
        *(
            f"- name: {f}\n  title: {f}\n  required: {str(f != 'original-context').lower()}\n  type: text\n"
            for f in FIELDS
        ),
        "questions:\n",
        *(f"- name: {q}\n  title: {q}\n  required: false\n  type: text\n" for q in QUESTIONS),
        "guidelines: Correct the instruction, context and response where they are wrong or unclear.\n",
    ]
)


def write_v1(folder: Path, n: int, seed: int = 14) -> Path:
    """An Argilla 1.x ``push_to_huggingface`` folder: ``data/train-*.parquet`` and ``argilla.yaml``."""
    schema = _v1_schema()
    path = folder / "data" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    (folder / "argilla.yaml").write_text(_V1_CONFIG, encoding="utf-8")
    empty_meta = {"type": None, "score": None, "agent": None}
    rows: list[dict[str, object]] = []
    with pq.ParquetWriter(path, schema) as writer:
        for i, r in enumerate(reviews(n, seed)):
            row: dict[str, object] = dict(r.fields)
            for q in QUESTIONS:
                row[q] = [
                    {"user_id": a.user_id, "value": a.values[q], "status": a.status}
                    for a in r.annotations
                    if q in a.values
                ]
                has = q == "new-response" and r.suggestion is not None
                row[f"{q}-suggestion"] = r.suggestion if has else None
                row[f"{q}-suggestion-metadata"] = (
                    {"type": "model", "score": 0.75, "agent": "bench-corrector"} if has else empty_meta
                )
            row["external_id"] = r.record_id
            row["metadata"] = json.dumps({"i": i})
            rows.append(row)
            if len(rows) == ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=ROW_GROUP)
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=ROW_GROUP)
    return folder


def _v2_settings() -> dict[str, object]:
    def field(name: str) -> dict[str, object]:
        settings = {"type": "text", "use_markdown": False}
        required = name != "original-context"
        return {"name": name, "title": name, "required": required, "settings": settings, "type": "text"}

    def question(name: str) -> dict[str, object]:
        settings = {"type": "text", "use_markdown": False}
        return {
            "name": name,
            "title": name,
            "description": None,
            "required": False,
            "settings": settings,
            "type": "text",
        }

    return {
        "guidelines": "Correct the instruction, context and response where they are wrong or unclear.",
        "questions": [question(q) for q in QUESTIONS],
        "fields": [field(f) for f in FIELDS],
        "vectors": [],
        "metadata": [
            {
                "name": "source_row",
                "title": "Source Row",
                "settings": {"type": "integer", "min": None, "max": None},
                "visible_for_annotators": True,
                "type": "integer",
            }
        ],
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def write_v2_disk(folder: Path, n: int, seed: int = 14) -> Path:
    """An Argilla 2.x ``Dataset.to_disk`` folder: ``records.json`` (``Record.to_dict()`` per record;
    responses are ``{value, user_id}``: to_disk keeps no response status, so drafts and discarded
    answers are in it like submitted ones) and ``.argilla/{settings,dataset}.json``."""
    settings = _v2_settings()
    (folder / ".argilla").mkdir(parents=True)
    (folder / ".argilla" / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    dataset = {
        "id": DATASET_ID,
        "name": "dolly-curated-bench",
        "status": "ready",
        "guidelines": settings["guidelines"],
        "allow_extra_metadata": False,
        "distribution": settings["distribution"],
        "workspace_id": None,
        "last_activity_at": None,
        "url": None,
    }
    (folder / ".argilla" / "dataset.json").write_text(json.dumps(dataset), encoding="utf-8")
    with (folder / "records.json").open("w", encoding="utf-8") as fh:
        fh.write("[")
        for i, r in enumerate(reviews(n, seed)):
            responses: dict[str, list[dict[str, str]]] = {}
            for a in r.annotations:
                for q in QUESTIONS:
                    if q in a.values:
                        responses.setdefault(q, []).append({"value": a.values[q], "user_id": a.user_id})
            submitted = any(a.status == "submitted" for a in r.annotations)
            record = {
                "id": r.record_id,
                # Argilla leaves empty optional fields out of the record
                "fields": {k: v for k, v in r.fields.items() if v != ""},
                "metadata": {"source_row": i},
                "suggestions": {
                    "new-response": {"value": r.suggestion, "score": 0.75, "agent": "bench-corrector"}
                }
                if r.suggestion
                else {},
                "responses": responses,
                "vectors": {},
                "status": "completed" if submitted else "pending",
                "_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-server-{i}")),
            }
            fh.write(("," if i else "") + json.dumps(record))
        fh.write("]")
    return folder
