"""What a run leaves behind: the model or adapter, tokenizer, settings, metrics, ``provenance.json``
and a model card, written once (by the main process) however many processes train.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from train import dist

if TYPE_CHECKING:
    from pathlib import Path

    from train.run import Run


def provenance(run: Run) -> dict[str, Any]:
    m = run.manifest
    spec = m.spec
    return {
        "export": str(run.data_dir),
        "spec": {"name": spec.get("name"), "path": spec.get("path"), "sha256": spec.get("sha256")},
        "fingerprint": m.fingerprint,
        "task": m.task,
        "template": m.template,
        "style": m.style,
        "counts": m.counts.to_dict(),
        "tokenization": m.tokenization,
        "files": {
            "train": run.train_file.path.name,
            "eval": run.eval_file.path.name if run.eval_file else None,
        },
        "columns": list(run.columns),
        # who turned the rows into tokens: curate (with its counts per split), the export, or TRL
        "labels": run.labels or {"by": "trl"},
        "curate_version": m.curate_version,
    }


def save_outputs(run: Run, trainer: Any, metrics: dict[str, float] | None = None) -> Path:
    """Model or adapter and tokenizer (through the trainer), the config, metrics and the model card.

    Every process calls this (``save_model`` gathers sharded weights under DeepSpeed / FSDP); only
    the main process writes, and all leave together.
    """
    from train.run import describe_run

    out = run.output_dir
    trainer.save_model(str(out))
    if dist.is_main_process():
        tokenizer = getattr(trainer, "processing_class", None)
        if tokenizer is not None and not (out / "tokenizer_config.json").exists():
            tokenizer.save_pretrained(str(out))
        (out / "train_config.yaml").write_text(describe_run(run), encoding="utf-8")
        (out / "training_args.json").write_text(run.training_args.to_json_string(), encoding="utf-8")
        prov = provenance(run)
        text = json.dumps(prov, indent=2, sort_keys=True) + "\n"
        (out / "provenance.json").write_text(text, encoding="utf-8")
        if metrics:
            (out / "eval_results.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        (out / "README.md").write_text(model_card(run, prov, metrics or {}), encoding="utf-8")
    dist.wait_for_everyone()
    return out


def model_card(run: Run, prov: dict[str, Any], metrics: dict[str, float]) -> str:
    import trl

    adapter = (run.output_dir / "adapter_config.json").is_file()
    counts = prov.get("counts") or {}
    spec = prov["spec"]
    lines = [
        "---",
        f"base_model: {run.model_args.model_name_or_path}",
        f"library_name: {'peft' if adapter else 'transformers'}",
        f"tags: [curate, trl, {run.stage.name}]",
        "---",
        "",
        f"# {run.output_dir.name}",
        "",
        f"{'A LoRA adapter' if adapter else 'A model'} trained with `curate train {run.stage.name}` "
        f"(TRL {trl.__version__} `{run.stage.trainer}`) from `{run.model_args.model_name_or_path}`.",
        "",
        "## Data provenance",
        "",
        "| | |",
        "|---|---|",
        f"| export | `{prov['export']}` |",
        f"| spec | {spec.get('name')} (`{spec.get('path')}`, sha256 `{spec.get('sha256')}`) |",
        f"| export fingerprint | `{prov.get('fingerprint')}` |",
        f"| task / template | {prov.get('task')} / {prov.get('template')} ({prov.get('style')}) |",
        f"| columns used | {', '.join(prov['columns'])} (from {prov['files']['train']}) |",
        f"| rows per split | {_fmt(counts.get('rows_per_split'))} |",
        f"| records | {counts.get('input_records')} in, {counts.get('kept_records')} kept, "
        f"{counts.get('rejected_records')} rejected ({_fmt(counts.get('rejects_by_reason'))}) |",
    ]
    if prov.get("tokenization"):
        lines.append(f"| tokenization | {_fmt(prov['tokenization'])} |")
    lines.append(f"| labels built by | {_labels_line(prov['labels'])} |")
    if metrics:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items()) if isinstance(v, (int, float))]
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        f"curate train {run.stage.name} {run.output_dir / 'train_config.yaml'}",
        "```",
        "",
        "`train_config.yaml` holds the settings given; `training_args.json` every training argument; "
        "`provenance.json` the data provenance above.",
        "",
    ]
    return "\n".join(lines)


def _labels_line(labels: dict[str, Any]) -> str:
    """``curate`` (with rows kept and dropped per split), ``export`` or ``trl``.

    >>> _labels_line({"by": "trl"})
    'trl'
    >>> _labels_line({"by": "curate", "train.parquet": {"rows": 5, "rows_ok": 4, "rejected_by_reason": {"too_long": 1}}})
    'curate (train.parquet: 4 of 5 rows, dropped too_long 1)'
    """
    parts = [
        f"{name}: {s['rows_ok']} of {s['rows']} rows, dropped {_fmt(s['rejected_by_reason'])}"
        for name, s in labels.items()
        if isinstance(s, dict)
    ]
    return f"{labels['by']} ({'; '.join(parts)})" if parts else str(labels["by"])


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)
