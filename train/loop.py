"""The loop back to annotators, model side: ``curate generate --export DIR --split S --out FILE``
writes one generation per export row, with its prompt, record id and the agent that produced it,
ready for ``curate argilla log`` (which pre-fills the review question with it as a suggestion).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from train.generate import LoadedModel, Sampling, encode_prompt, generate_scored

# Columns carried from the export row into the generations file (what a review record shows).
CARRIED = ("record_id", "instruction", "context", "prompt", "messages")


def agent_name(loaded: LoadedModel) -> str:
    """``<base model>/<checkpoint folder>:<weights digest>``, in the characters Argilla allows for
    a suggestion's agent (letters, digits, ``-_:./`` and spaces)."""
    folder = loaded.path
    base = _base_model(folder)
    weights = next(
        (folder / n for n in ("model.safetensors", "adapter_model.safetensors") if (folder / n).is_file()),
        None,
    )
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12] if weights else "unsaved"
    name = f"{Path(str(base)).name}/{folder.name}:{digest}"
    return re.sub(r"[^A-Za-z0-9\-_:./ ]", "-", name)


def _base_model(folder: Path) -> str:
    """What the checkpoint was trained from: ``train_config.yaml`` (curate train), else the LoRA
    adapter's base, else the folder itself."""
    import yaml

    config = folder / "train_config.yaml"
    if config.is_file():
        body = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        base = (body.get("model") or {}).get("model_name_or_path")
        if base:
            return str(base)
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        return str(json.loads(adapter.read_text()).get("base_model_name_or_path") or folder.name)
    return folder.name


def _prompt_of(row: dict[str, Any], where: str) -> str | list[dict[str, str]]:
    """The model's input for a row: the export's rendered ``prompt``, or a chat up to its reply."""
    if row.get("messages"):
        messages = list(row["messages"])
        while messages and messages[-1]["role"] == "assistant":
            messages.pop()
        if not messages:
            raise CurateError(f"{where}: the conversation has no turn before the reply")
        return messages
    prompt = row.get("prompt")
    if prompt in (None, "", []):
        raise CurateError(f"{where}: no prompt or messages column to generate from")
    return prompt if isinstance(prompt, str) else list(prompt)


def read_split(export: Path, split: str) -> list[dict[str, Any]]:
    """Rows of ``<export>/<split>.parquet`` (or ``.jsonl``)."""
    for name in (f"{split}.parquet", f"{split}.jsonl"):
        path = export / name
        if path.is_file():
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                return list(pq.read_table(path).to_pylist())
            return [
                json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
    found = sorted(p.name for p in export.glob("*.parquet")) if export.is_dir() else []
    raise CurateError(
        f"{export}: no {split}.parquet or {split}.jsonl (a `curate export` folder; found {', '.join(found) or 'none'})"
    )


def generate_for_export(
    loaded: LoadedModel, export: Path, split: str, out: Path, sampling: Sampling, limit: int | None = None
) -> int:
    """One generation per row of the split, written as JSON Lines to ``out``; returns the count."""
    rows = read_split(export, split)[:limit]
    agent = agent_name(loaded)
    written = []
    for index, row in enumerate(rows):
        where = f"{export / split}: row {index + 1}"
        prompt = _prompt_of(row, where)
        text, score = generate_scored(loaded, encode_prompt(loaded, prompt), sampling)
        kept = {k: row[k] for k in CARRIED if row.get(k) not in (None, "")}
        if "messages" in kept:  # the conversation up to the reply the model was asked for
            kept["messages"] = prompt
        written.append({**kept, "generation": text.strip(), "score": score, "agent": agent})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written), encoding="utf-8")
    tmp.replace(out)
    return len(written)
