"""What every training stage shares: :func:`prepare_run` checks a stage's config and data before a
model is loaded and returns a :class:`Run`. The pieces live by concern: :mod:`train.config` (YAML and
overrides), :mod:`train.data` (export, columns, curate's labels), :mod:`train.models` (loading),
:mod:`train.outputs` (model, card, provenance), :mod:`train.run` (the Run type) and
:mod:`train.dist` (many processes); the names the stage modules use are re-exported here.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.sinks.outdir import claim_run_folder
from train import dist
from train.config import (
    ONLINE_RL,
    STAGES,
    DataArgs,
    Mismatch,
    RawConfig,
    Stage,
    apply_overrides,
    build_section,
    coerce,
    make_parser,
    normalize_argv,
    read_config,
    run_script,
    section_classes,
)
from train.data import (
    check_columns,
    check_labels_are_bool,
    check_prepared,
    check_token_ids,
    curate_tokens,
    load_split,
    load_splits,
    resolve_data,
    split_files,
)
from train.models import load_model, load_tokenizer, peft_config
from train.outputs import save_outputs
from train.run import Run, describe_run

__all__ = [
    "STAGES",
    "DataArgs",
    "Mismatch",
    "Run",
    "TrainResult",
    "check_labels_are_bool",
    "check_prepared",
    "check_token_ids",
    "coerce",
    "curate_tokens",
    "describe_run",
    "load_model",
    "load_split",
    "load_splits",
    "load_tokenizer",
    "make_parser",
    "normalize_argv",
    "peft_config",
    "prepare_run",
    "run_script",
    "save_outputs",
    "train_and_save",
    "train_model",
]


@dataclass
class TrainResult:
    """What a stage's ``main`` returns: where the outputs are, final metrics, the trainer's log."""

    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    trainer: Any = None


def train_model(run: Run, trainer: Any) -> None:
    """Train, with ``output_dir`` made and marked as curate's first (the trainer writes checkpoints
    there); a run that stopped before this point leaves no folder behind."""
    if dist.is_main_process():
        claim_run_folder(run.output_dir, run.raw.where("training", "output_dir"))
    trainer.train()


def train_and_save(run: Run, trainer: Any, evaluation: Any) -> TrainResult:
    """The end every offline stage shares: check what TRL prepared, train, evaluate on the eval
    split when there is one, and save the outputs (once, on the main process)."""
    check_prepared(run, trainer)
    train_model(run, trainer)
    metrics = trainer.evaluate() if evaluation is not None else {}
    out = save_outputs(run, trainer, metrics)
    return TrainResult(out, metrics, trainer.state.log_history, trainer)


def prepare_run(stage_name: str, argv: list[str] | None, description: str) -> tuple[Run, bool]:
    """Parse, check and resolve a stage's config and data. Returns the run and ``dry_run``."""
    stage = STAGES[stage_name]
    dist.init()
    argv = sys.argv[1:] if argv is None else argv
    ns = make_parser(stage_name, description).parse_args(normalize_argv(list(argv)))
    configs = [i for i in ns.items if "=" not in i]
    if len(configs) > 1:
        raise CurateError(f"command line: one config file expected, got {', '.join(configs)}")
    classes = section_classes(stage_name)
    raw = read_config(Path(configs[0]) if configs else None, tuple(classes))
    apply_overrides(raw, [i for i in ns.items if "=" in i], classes)
    data_args: DataArgs = build_section(raw, "data", DataArgs)
    model_args = build_section(raw, "model", classes["model"])
    reward_args = build_section(raw, "rewards", classes["rewards"]) if "rewards" in classes else None
    _check_required(raw, stage)
    training_args = build_section(raw, "training", classes["training"])
    _check_model_options(raw, model_args)
    # Before any work: a folder of the user's is refused, never overwritten. It is made and
    # marked only when something is written into it (train_model, or the spec's export).
    claim_run_folder(Path(training_args.output_dir), raw.where("training", "output_dir"), create=False)
    data_dir, manifest = resolve_data(raw, data_args, Path(training_args.output_dir))
    train_file, eval_file = split_files(raw, data_args, data_dir)
    columns = check_columns(stage, train_file)
    if eval_file is not None and check_columns(stage, eval_file) != columns:
        raise CurateError(f"{eval_file.path}: columns differ from {train_file.path.name}")
    run = Run(
        stage,
        raw,
        model_args,
        data_args,
        training_args,
        data_dir,
        manifest,
        train_file,
        eval_file,
        columns,
        reward_args,
    )
    return run, bool(ns.dry_run)


def _check_required(raw: RawConfig, stage: Stage) -> None:
    if not raw.values["model"].get("model_name_or_path"):
        what = "the SFT output to start from" if stage.name == "ppo" else "a local model folder or a Hub id"
        raise CurateError(f"{raw.where('model', 'model_name_or_path')}: required ({what})")
    if not raw.values["training"].get("output_dir"):
        raise CurateError(
            f"{raw.where('training', 'output_dir')}: required (where the model and its card go)"
        )
    if stage.name == "ppo" and not raw.values["training"].get("reward_model_path"):
        raise CurateError(
            f"{raw.where('training', 'reward_model_path')}: PPO needs a reward model: "
            "set it to a `curate train reward` output folder"
        )
    if stage.name in ONLINE_RL:
        rewards = raw.values["rewards"]
        if not rewards.get("model") and not rewards.get("length_weight"):
            raise CurateError(
                f"{raw.where('rewards', 'model')}: {stage.name.upper()} needs a reward: set it to a "
                "`curate train reward` output folder (and/or rewards.length_weight with length_target)"
            )
        if rewards.get("length_weight") and not rewards.get("length_target"):
            raise CurateError(f"{raw.where('rewards', 'length_target')}: required with length_weight")
    data = raw.values["data"]
    if bool(data.get("export")) == bool(data.get("spec")):
        raise CurateError(
            f"{raw.where('data')}: give export (a `curate export` folder) or spec (a dataset spec), exactly one"
        )
    if data.get("source") and not data.get("spec"):
        raise CurateError(f"{raw.where('data', 'source')}: source goes with spec, not with export")
    refs = [("model", "model_name_or_path"), ("training", "reward_model_path"), ("rewards", "model")]
    for section, key in refs:
        ref = raw.values[section].get(key)
        if ref and not Path(ref).exists() and not re.fullmatch(r"[\w.-]+/[\w.-]+", str(ref)):
            raise CurateError(f"{raw.where(section, key)}: {ref!r} is neither a folder nor a Hub id")


def _check_model_options(raw: RawConfig, model_args: Any) -> None:
    for flag in ("load_in_8bit", "load_in_4bit"):
        if not getattr(model_args, flag):
            continue
        if not model_args.use_peft:
            raise CurateError(
                f"{raw.where('model', flag)}: quantized weights train through LoRA only; set use_peft: true"
            )
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        import torch

        has_gpu = torch.cuda.is_available()
        if not (has_bnb and has_gpu):
            missing = " and ".join(
                m for m, ok in (("bitsandbytes", has_bnb), ("a CUDA GPU", has_gpu)) if not ok
            )
            raise CurateError(
                f"{raw.where('model', flag)}: needs bitsandbytes and a CUDA GPU; missing {missing}"
            )
