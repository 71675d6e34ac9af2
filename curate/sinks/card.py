"""The dataset card published with a push: Hub metadata (configs, license, task, size, tags) and a
body that says where every row came from, built from an export manifest alone.
"""

from __future__ import annotations

from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from curate.manifest import Manifest
from curate.sources.argilla_api import public_url
from curate.tasks import TASKS

CARD_FILE_KEY = "curate"  # the card metadata key holding the fingerprint, read back by `curate push`


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` rows.

    >>> size_category(297)
    'n<1K'
    >>> size_category(12_000)
    '10K<n<100K'
    """
    buckets = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    for limit, name in buckets:
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def card_data(manifest: Manifest, split_paths: dict[str, str]) -> DatasetCardData:
    """Hub metadata: one default config whose splits point at the pushed Parquet files."""
    spec = manifest.spec
    resolved = spec.get("resolved", {})
    task = manifest.task
    rows = sum(manifest.counts.rows_per_split.values())
    data = DatasetCardData(
        pretty_name=spec["name"],
        license=resolved.get("license") or "other",
        task_categories=list(TASKS[task].task_categories if task in TASKS else ("text-generation",)),
        size_categories=[size_category(rows)],
        tags=["curate", "argilla", "trl", *(TASKS[task].card_tags if task in TASKS else ())],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": path} for split, path in split_paths.items()],
            }
        ],
    )
    # Extra metadata keys end up in the YAML as they are; `curate push` reads the fingerprint back.
    setattr(
        data,
        CARD_FILE_KEY,
        {
            "fingerprint": manifest.fingerprint,
            "spec_sha256": spec["sha256"],
            "curate_version": manifest.curate_version,
        },
    )
    return data


def render_card(manifest: Manifest, repo_id: str, split_paths: dict[str, str]) -> DatasetCard:
    """The full card (metadata + provenance body) for an export manifest pushed to ``repo_id``."""
    data = card_data(manifest, split_paths)
    content = f"---\n{data.to_yaml()}\n---\n\n{_body(manifest, repo_id)}"
    return DatasetCard(content)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _source_lines(source: dict[str, Any]) -> list[str]:
    lines = [f"- layout: `{source.get('layout')}`"]
    if source.get("api_url"):
        lines.append(f"- Argilla server: {public_url(source['api_url'])}")
    if source.get("workspace"):
        lines.append(f"- workspace: `{source['workspace']}`")
    lines.append(f"- dataset: `{source.get('dataset') or source.get('name')}`")
    if source.get("server_version"):
        lines.append(f"- server version: {source['server_version']}")
    if source.get("response_status"):
        lines.append(f"- response statuses pulled: {source['response_status']}")
    return lines


def _body(manifest: Manifest, repo_id: str) -> str:
    spec, counts, quality = manifest.spec, manifest.counts, manifest.quality
    resolved = spec.get("resolved", {})
    hub = manifest.extra.get("hub", {})
    task = manifest.task
    out = [f"# {spec['name']}", ""]
    if resolved.get("description"):
        out += [resolved["description"], ""]
    out += [
        f"Built with curate {manifest.curate_version} from human annotation in "
        f"Argilla: task `{task}`, {manifest.style} style, TRL column names "
        f"({', '.join(f'`{c}`' for c in manifest.columns)}).",
        "",
        "## Provenance",
        "",
        "Source:",
        *_source_lines(manifest.source),
        "",
        f"- spec: `{spec.get('path')}` (name `{spec['name']}`), sha256 `{spec['sha256']}`",
        f"- template: `{manifest.template}`",
        f"- unification: {_unify_text(resolved.get('unify', {}))}",
        f"- responses counted: {resolved.get('responses', {}).get('statuses')}",
        *_review_lines(manifest),
        f"- split: {manifest.splits.fractions} (seed {manifest.splits.seed}, by record id)",
        f"- content fingerprint: `{manifest.fingerprint}`",
        f"- curate version: {manifest.curate_version}",
    ]
    if hub:
        mode = hub.get("mode", "full")
        line = f"- push: {mode} snapshot, watermark `{hub.get('watermark')}`"
        if mode == "incremental":
            line += f" (merged records updated since `{hub.get('since')}` into the previous snapshot by `record_id`)"
        out.append(line)
    out += ["", "## Counts", ""]
    out.append(
        f"{counts.input_records} records in, {counts.kept_records} kept, "
        f"{counts.rejected_records} rejected (every record is either kept or rejected)."
    )
    out += [
        "",
        _table(
            ("split", "records", "rows"),
            [(s, n, counts.rows_per_split.get(s, 0)) for s, n in counts.records_per_split.items()],
        ),
    ]
    if counts.rejects_by_reason:
        out += ["", "Rejected records by reason (`rejects.jsonl` lists each one):", ""]
        out.append(_table(("reason", "records"), sorted(counts.rejects_by_reason.items())))
    if counts.dropped_rows_by_reason:
        out += ["", "Rows dropped from kept records:", ""]
        out.append(_table(("reason", "rows"), sorted(counts.dropped_rows_by_reason.items())))
    out += ["", "## Annotation quality", ""]
    scope = manifest.extra.get("quality_scope")
    if scope:
        out += [f"Figures below cover {scope}.", ""]
    out.append(_table(("annotators per record", "records"), list(quality["annotators_per_record"].items())))
    out += [
        "",
        _table(
            ("question", "metric", "alpha", "records"),
            [
                (q, a["metric"], "n/a" if a["alpha"] is None else f"{a['alpha']:.3f}", a["units"])
                for q, a in quality["agreement"].items()
            ],
        ),
    ]
    out += ["", f"Responses by status: {quality['responses_by_status']}"]
    stage = TASKS[task].train_stage if task in TASKS else "sft"
    out += [
        "",
        "## Usage",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{repo_id}")',
        "```",
        "",
        "Train with curate (the downloaded folder is a `curate export` folder):",
        "",
        "```bash",
        f"hf download {repo_id} --repo-type dataset --local-dir {repo_id.split('/')[-1]}",
        f"curate train {stage} train/configs/{stage}.yaml data.export={repo_id.split('/')[-1]}",
        "```",
        "",
        "`manifest.json` holds the full export manifest (resolved spec, counts, quality, file hashes).",
        "",
    ]
    return "\n".join(out)


def _review_lines(manifest: Manifest) -> list[str]:
    """Where the spec names a review: how many kept records a reviewer decided, per question."""
    counts = manifest.counts
    if counts.reviewed_records is None:
        return []
    review = manifest.review or {}
    per_question = ", ".join(f"{q}: {n}" for q, n in (counts.review_overrides_by_question or {}).items())
    decided = f"; answers used per question: {per_question}" if per_question else ""
    return [
        f"- review: a reviewer decided {counts.reviewed_records} of the {counts.kept_records} kept records "
        f"(rows with `review_status` `reviewed`; review dataset `{review.get('dataset', '?')}`){decided}; "
        "their answers replace the annotators' unified answer, `agreement` stays the annotators' figure"
    ]


def _unify_text(unify: dict[str, Any]) -> str:
    if not unify:
        return "n/a"
    per_kind = ", ".join(f"{k}: `{v}`" for k, v in unify.items() if k != "questions")
    per_question = unify.get("questions") or {}
    if per_question:
        per_kind += "; per question: " + ", ".join(f"{q}: `{v}`" for q, v in per_question.items())
    return per_kind
