"""A checked training run (:class:`Run`) and the split files it reads: the types every part of
``train/`` shares, one floor below them (config, data, models and outputs all take a ``Run``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from curate.manifest import Manifest
from train.config import SECTIONS, DataArgs, RawConfig, Stage


@dataclass
class SplitFile:
    path: Path
    columns: list[str]


@dataclass
class Run:
    """A checked run: everything decided before a model is loaded."""

    stage: Stage
    raw: RawConfig
    model_args: Any  # trl.ModelConfig
    data_args: DataArgs
    training_args: Any  # the stage's TRL config
    data_dir: Path
    manifest: Manifest
    train_file: SplitFile
    eval_file: SplitFile | None
    columns: tuple[str, ...]  # the column set chosen for the stage
    reward_args: Any = None  # train.config.RewardArgs (grpo, rloo)
    # How the rows became tokens: {"by": "curate", ...RowTransform.summary()} or {"by": "trl"} / "export".
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return Path(self.training_args.output_dir)

    @property
    def tokenized(self) -> bool:
        """The export itself carries token ids (``curate export --tokenizer``)."""
        return self.columns[0].endswith("_ids")


def describe_run(run: Run) -> str:
    """The resolved config as YAML (what ``--dry-run`` prints and ``train_config.yaml`` holds)."""
    body = {s: dict(run.raw.values[s]) for s in SECTIONS if s != "rewards" or run.reward_args is not None}
    body["data"] = {k: v for k, v in dataclasses.asdict(run.data_args).items() if v is not None}
    header = f"# curate train {run.stage.name}: {run.stage.trainer} on {run.train_file.path} (columns: {', '.join(run.columns)})\n"
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
