"""Dataset statistics for ``curate stats``: counts, statuses, annotators per record, agreement,
text length distributions, and a PNG histogram of lengths."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from curate.agreement import Alpha
from curate.records import ArgillaRecord, DatasetSettings, FieldKind, QuestionKind
from curate.sources.base import Unreadable
from curate.unify import agreement_key


def _length(value: Any) -> int | None:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(m.get("content", "")) for m in value if isinstance(m, dict))
    return None


def _summary(lengths: list[int]) -> dict[str, float | int]:
    if not lengths:
        return {"count": 0}
    ordered = sorted(lengths)
    return {
        "count": len(ordered),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
        "empty": sum(1 for n in ordered if n == 0),
    }


def compute_stats(
    records: Iterable[ArgillaRecord | Unreadable],
    settings: DatasetSettings,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Stream records once; returns the stats and the raw length lists (for the histogram).

    Rows the source could not read are counted by reason (``unreadable``), never skipped
    silently: ``rows == records + sum(unreadable.values())``.
    """
    n = 0
    rows = 0
    unreadable: Counter[str] = Counter()
    record_status: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    annotators: Counter[int] = Counter()
    per_question_status: dict[str, Counter[str]] = {q: Counter() for q in settings.questions}
    alphas = {
        q: Alpha("interval" if info.kind is QuestionKind.RATING else "nominal")
        for q, info in settings.questions.items()
    }
    text_fields = [f for f, info in settings.fields.items() if info.kind in (FieldKind.TEXT, FieldKind.CHAT)]
    lengths: dict[str, list[int]] = {f: [] for f in text_fields}
    for record in records:
        rows += 1
        if progress is not None:
            progress(rows)
        if isinstance(record, Unreadable):
            unreadable[record.reason] += 1
            continue
        n += 1
        record_status[record.status or "unknown"] += 1
        users = record.annotator_statuses()
        for q, responses in record.responses.items():
            values = []
            for r in responses:
                per_question_status.setdefault(q, Counter())[r.status or "unknown"] += 1
                if r.status in ("submitted", None) and r.value is not None:
                    values.append(agreement_key(r.value))
            if q in alphas:
                alphas[q].add(values)
        by_status.update(users.values())
        annotators[len(users)] += 1
        for f in text_fields:
            length = _length(record.fields.get(f))
            if length is not None:
                lengths[f].append(length)
    stats = {
        "rows": rows,
        "records": n,
        "unreadable": dict(sorted(unreadable.items())),
        "record_status": dict(sorted(record_status.items())),
        "annotator_responses_by_status": dict(sorted(by_status.items())),
        "annotators_per_record": {str(k): v for k, v in sorted(annotators.items())},
        "questions": {
            q: {
                "kind": settings.questions[q].kind.value if q in settings.questions else None,
                "responses_by_status": dict(sorted(c.items())),
                "agreement": {
                    "metric": f"krippendorff_alpha_{alphas[q].metric}",
                    "alpha": None if alphas[q].value() is None else round(alphas[q].value() or 0.0, 6),
                    "units": alphas[q].units,
                }
                if q in alphas
                else None,
            }
            for q, c in per_question_status.items()
        },
        "field_lengths_chars": {f: _summary(v) for f, v in lengths.items()},
    }
    return stats, lengths


def write_histogram(lengths: dict[str, list[int]], path: Path, title: str) -> None:
    """One histogram of character lengths per text field, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = [f for f, v in lengths.items() if v] or list(lengths)[:1]
    fig, axes = plt.subplots(len(fields) or 1, 1, figsize=(7, 2.2 * max(1, len(fields))), squeeze=False)
    for ax, name in zip(axes[:, 0], fields, strict=False):
        values = lengths.get(name, [])
        ax.hist(values, bins=40, color="#4c72b0")
        ax.set_title(f"{name} (n={len(values)})", fontsize=9)
        ax.set_xlabel("characters", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
