"""Training rows: the export folder (or a spec exported once, on the main process), the split files,
the stage's columns, and curate's own token ids and labels (:mod:`curate.tokens.tokenize`) before TRL sees them.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.errors import CurateError
from curate.manifest import Manifest
from curate.sinks.files import PACKED_DIR, packed_path
from curate.sinks.outdir import claim_run_folder
from curate.tasks import TASKS
from train.config import PROVENANCE_COLUMNS, DataArgs, RawConfig, Stage
from train.run import SplitFile

if TYPE_CHECKING:
    from train.run import Run


def resolve_data(raw: RawConfig, data: DataArgs, output_dir: Path) -> tuple[Path, Manifest]:
    """The export folder and its manifest. A spec is exported once, by the main process, into
    ``<output_dir>/data``; the other processes wait for it and read the same folder."""
    if data.spec:
        from train import dist

        out = output_dir / "data"
        if dist.is_main_process():
            claim_run_folder(output_dir, raw.where("training", "output_dir"))
            _export_spec(data, out)
        dist.wait_for_everyone()
        return out, Manifest.read(out)
    folder = Path(str(data.export))
    if not folder.is_dir():
        raise CurateError(
            f"{raw.where('data', 'export')}: {folder} is not a folder (run `curate export` first)"
        )
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise CurateError(f"{manifest_path}: missing; data.export must be a `curate export` folder")
    return folder, Manifest.read(folder)


def _export_spec(data: DataArgs, out: Path) -> None:
    """The spec's export, made by the same public call a notebook makes (``curate.export``)."""
    import curate

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    curate.export(curate.Spec.from_yaml(str(data.spec)), out, source=data.source, on_warning=warn)


def split_files(raw: RawConfig, data: DataArgs, folder: Path) -> tuple[SplitFile, SplitFile | None]:
    def find(split: str, key: str, required: bool) -> SplitFile | None:
        names = [packed_path(split)] if data.packed else [f"{split}.parquet", f"{split}.jsonl"]
        for name in names:
            if (folder / name).is_file():
                return SplitFile(folder / name, _file_columns(folder / name))
        if not required:
            return None
        present = sorted(
            p.name
            for p in folder.iterdir()
            if p.suffix in (".parquet", ".jsonl") and p.name != "rejects.jsonl"
        )
        hint = " (export with --tokenizer and --pack for packed files)" if data.packed else ""
        raise CurateError(
            f"{raw.where('data', key)}: {folder} has no {' or '.join(names)}{hint}; found {', '.join(present) or 'none'}"
        )

    train = find(data.train_split, "train_split", True)
    assert train is not None
    evaluation = None
    if data.eval_split:
        evaluation = find(data.eval_split, "eval_split", raw.given("data", "eval_split"))
    return train, evaluation


def _file_columns(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as err:
            raise CurateError(f"{path}: cannot read Parquet schema ({err})") from None
    with path.open(encoding="utf-8") as fh:
        first = fh.readline()
    try:
        return list(json.loads(first)) if first.strip() else []
    except json.JSONDecodeError:
        raise CurateError(f"{path}: line 1 is not a JSON object") from None


def check_columns(stage: Stage, split: SplitFile) -> tuple[str, ...]:
    names = set(split.columns)
    for wanted in stage.column_sets:
        if set(wanted) <= names:
            if split.path.parent.name == PACKED_DIR and "position_ids" not in names:
                raise CurateError(f"{split.path}: packed files need a position_ids column")
            return wanted
    options = " or ".join("(" + ", ".join(c) + ")" for c in stage.column_sets)
    found = ", ".join(c for c in split.columns if c not in PROVENANCE_COLUMNS) or "none"
    tasks = " or ".join(stage.tasks)
    raise CurateError(
        f"{split.path}: the {stage.name} stage needs columns {options} (an export of task {tasks}); found {found}"
    )


def load_split(run: Run, split: SplitFile, max_rows: int | None) -> Any:
    """One split as a ``datasets.Dataset`` holding only the stage's columns."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    if split.path.suffix == ".parquet":
        keep = [c for c in split.columns if c in _wanted(run, split)]
        table = pq.read_table(split.path, columns=keep)
        ds = Dataset(table)
    else:
        rows = [
            json.loads(line) for line in split.path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        wanted = _wanted(run, split)
        ds = Dataset.from_list([{k: v for k, v in r.items() if k in wanted} for r in rows])
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    if len(ds) == 0:
        raise CurateError(f"{split.path}: no rows")
    if "position_ids" in ds.column_names:  # packed rows: TRL's collator rebuilds positions from lengths
        if "seq_lengths" in ds.column_names:
            ds = ds.remove_columns("position_ids")
        else:
            ds = ds.map(_seq_lengths, remove_columns=["position_ids"])
    if "margin" in ds.column_names:
        ds = _clean_margin(ds, run.data_args.use_margin)
    return ds


def _wanted(run: Run, split: SplitFile) -> set[str]:
    wanted = set(run.columns) | set(run.stage.optional_columns)
    if run.tokenized and run.stage.name == "sft":
        wanted = {"input_ids", "labels", "completion_mask", "assistant_masks", "position_ids", "seq_lengths"}
    elif run.stage.name == "sft" and run.data_args.template not in ("auto", "none"):
        wanted |= {"instruction", "context", "response"}  # a text template re-renders SFT rows from these
    return wanted


def _seq_lengths(row: dict[str, Any]) -> dict[str, Any]:
    """Packed rows restart ``position_ids`` at 0 for each document; TRL's collator wants the lengths.

    >>> _seq_lengths({"position_ids": [0, 1, 2, 0, 1]})
    {'seq_lengths': [3, 2]}
    """
    starts = [i for i, p in enumerate(row["position_ids"]) if p == 0] + [len(row["position_ids"])]
    return {"seq_lengths": [b - a for a, b in itertools.pairwise(starts) if b > a]}


def _clean_margin(ds: Any, use_margin: bool) -> Any:
    import math

    margins = ds["margin"]
    known = [m for m in margins if m is not None and not math.isnan(m)]
    if not use_margin or not known:  # e.g. chosen/rejected from corrections carry no margin
        return ds.remove_columns("margin")
    if len(known) < len(margins):  # a pair without a margin gets none (0) rather than NaN in the loss
        ds = ds.map(
            lambda r: {"margin": 0.0 if r["margin"] is None or math.isnan(r["margin"]) else r["margin"]}
        )
    return ds


def check_prepared(run: Run, trainer: Any) -> None:
    """TRL drops rows that max_length leaves without trainable tokens; say so if none are left."""
    for name, dataset in (("train", trainer.train_dataset), ("eval", trainer.eval_dataset)):
        if dataset is not None and hasattr(dataset, "__len__") and len(dataset) == 0:
            limit = getattr(run.training_args, "max_length", None)
            raise CurateError(
                f"{run.raw.where('training', 'max_length')}: no {name} row is left after TRL's preparation "
                f"(rows over max_length={limit} tokens, or with nothing to train on, are dropped)"
            )


def check_token_ids(run: Run, dataset: Any, tokenizer: Any) -> None:
    """Pre-tokenized exports must come from the model's tokenizer (ids beyond its vocabulary cannot)."""
    biggest = max((max(ids) for ids in dataset["input_ids"] if ids), default=-1)
    if biggest >= len(tokenizer):
        made_with = (run.manifest.tokenization or {}).get("tokenizer", "another tokenizer")
        raise CurateError(
            f"{run.train_file.path}: token id {biggest} is outside the model's vocabulary ({len(tokenizer)}); "
            f"the export was tokenized with {made_with}"
        )


# --------------------------------------------------------------------------- curate's labels


def is_conversational(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def labels_task(run: Run, first_row: dict[str, Any]) -> str | None:
    """The :mod:`curate.tokens.tokenize` task for the stage's text columns, or None where TRL's own
    preparation is used (``data.labels: trl``, rows already tokenized, or nothing to mask)."""
    if run.data_args.labels == "trl" or run.tokenized:
        return None
    cols = run.columns
    if run.stage.name == "sft":
        if cols == ("messages",):
            return "chat"
        if cols == ("prompt", "completion"):
            conv = is_conversational(first_row["prompt"]) or is_conversational(first_row["completion"])
            return "chat" if conv else "sft"
        return None  # `text` rows: every token is trained, there is no boundary to find
    if run.stage.name == "reward" and "prompt" in first_row:
        return "preference"
    if run.stage.name in ("ppo", "grpo", "rloo"):
        return "prompt"
    return None  # dpo, kto: TRL (1.12 to 1.16) has no pre-tokenized input for them


def resolve_template(run: Run, conversational: bool) -> Any:
    """``data.template``: auto = the export's chat template for chat rows, else the rows' own text."""
    from curate.templates import get_template

    name = run.data_args.template
    if name == "none":
        return None
    if name == "auto":
        recorded = run.manifest.template
        if not conversational or not recorded:
            return None
        template = get_template(recorded)
        return template if template.kind == "chat" else None
    template = get_template(name)
    if (template.kind == "chat") != conversational:
        rows = "chat" if conversational else "text"
        raise CurateError(
            f"{run.raw.where('data', 'template')}: {name} is a {template.kind} template but the rows are {rows}"
        )
    return template


def make_row_transform(
    run: Run, tokenizer: Any, task: str, conversational: bool, max_length: int | None
) -> Any:
    """curate's row transform (:class:`curate.tokens.tokenize.RowTransform`) for this run's tokenizer."""
    from curate.tokens.tokenize import RowTransform

    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise CurateError(
            f"{run.raw.where('model', 'model_name_or_path')}: the tokenizer has no fast (Rust) backend, "
            "which curate's labels need (character offsets); set data.labels: trl to let TRL tokenize"
        )
    name = Path(str(run.model_args.model_name_or_path)).name
    return RowTransform(
        task,
        tokenizer,
        resolve_template(run, conversational),
        max_length,
        run.data_args.truncation,
        tokenizer_name=name,
    )


def curate_tokens(
    run: Run, dataset: Any, tokenizer: Any, split: SplitFile, max_length: int | None = None
) -> Any:
    """The split with curate's ``input_ids``/``labels`` (SFT), ``chosen_ids``/``rejected_ids``
    (reward) or prompt ``input_ids`` (PPO) in place of its text, tokenized by :mod:`curate.tokens.tokenize`
    with the model's tokenizer. Rows curate cannot label exactly are dropped, counted by reason in
    ``run.labels`` (and so in ``provenance.json``). Other stages and ``data.labels: trl`` pass through.
    """
    from datasets import Dataset

    from train import dist

    rows = dataset.to_list()
    task = labels_task(run, rows[0])
    if task is None:
        run.labels.setdefault("by", "export" if run.tokenized else "trl")
        return dataset
    conversational = any(is_conversational(v) for v in rows[0].values())
    transform = make_row_transform(run, tokenizer, task, conversational, max_length)
    out: list[dict[str, Any]] = []
    for row, result in zip(rows, transform.map(rows), strict=True):
        if isinstance(result, tuple):
            continue  # counted by reason in transform.summary()
        trains = TASKS[task].trains
        if trains == "pair":
            kept = {"chosen_ids": result["chosen_ids"], "rejected_ids": result["rejected_ids"]}
            if "margin" in row:
                kept["margin"] = row["margin"]
        elif trains == "prompt":  # ppo reads ids; grpo/rloo keep the text (curate re-encodes it, same ids)
            kept = (
                {"input_ids": result["input_ids"]} if run.stage.name == "ppo" else {"prompt": row["prompt"]}
            )
        else:
            kept = {"input_ids": result["input_ids"], "labels": result["labels"]}
        out.append(kept)
    summary = transform.summary()
    run.labels["by"] = "curate"
    run.labels[split.path.name] = summary
    dropped = ", ".join(f"{k} {v}" for k, v in summary["rejected_by_reason"].items()) or "none"
    if dist.is_main_process():
        share = summary["trainable_token_share"]
        trained = f", {share:.1%} of tokens trained" if TASKS[task].trains != "prompt" else ""
        print(
            f"curate labels ({split.path.name}): {summary['rows_ok']} of {summary['rows']} rows tokenized with "
            f"{summary['tokenizer']} (template {summary['template'] or 'as exported'}){trained}; dropped: {dropped}",
            file=sys.stderr,
        )
    if not out:
        limit = f" (max_length {max_length})" if max_length else ""
        raise CurateError(f"{split.path}: no row left after curate's tokenization{limit}; dropped: {dropped}")
    return Dataset.from_list(out)


def load_splits(run: Run, tokenizer: Any, max_length: int | None) -> tuple[Any, Any]:
    """Train and eval splits (eval None when absent), each through :func:`curate_tokens`."""
    data = run.data_args
    train = curate_tokens(
        run, load_split(run, run.train_file, data.max_train_rows), tokenizer, run.train_file, max_length
    )
    evaluation = None
    if run.eval_file is not None:
        split = load_split(run, run.eval_file, data.max_eval_rows)
        evaluation = curate_tokens(run, split, tokenizer, run.eval_file, max_length)
    return train, evaluation


def check_labels_are_bool(run: Run, dataset: Any) -> None:
    """KTO's ``label`` says whether an answer is desirable: true or false, on every row."""
    bad = [i for i, v in enumerate(dataset["label"]) if not isinstance(v, bool)]
    if bad:
        value = dataset["label"][bad[0]]
        raise CurateError(
            f"{run.train_file.path}: row {bad[0] + 1}: label must be true or false (desirable or not), got {value!r}"
        )
    if len(set(dataset["label"])) < 2:
        only = dataset["label"][0]
        raise CurateError(
            f"{run.train_file.path}: every label is {str(only).lower()}; KTO needs desirable and undesirable answers"
        )
