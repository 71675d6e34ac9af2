"""What every training stage shares: the config (YAML + command-line overrides, checked into TRL's
own config classes), the data (a ``curate export`` folder, or a spec exported on the fly), model
loading, and the outputs (model or adapter, tokenizer, config, a card recording data provenance).

Everything that can be wrong with a run is checked by :func:`prepare_run` before a model is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib.util
import itertools
import json
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from curate.errors import CurateError

StageName = Literal["sft", "reward", "dpo", "ppo"]
SECTIONS = ("model", "data", "training")
# Added by curate for traceability; never trainer inputs.
PROVENANCE_COLUMNS = ("record_id", "source", "annotators", "statuses", "agreement")


@dataclass
class DataArgs:
    """The ``data:`` section: where the training rows come from."""

    export: str | None = None  # a `curate export` folder
    spec: str | None = None  # or a dataset spec, exported into <output_dir>/data first
    source: str | None = None  # with spec: read this export instead of the spec's source
    train_split: str = "train"
    eval_split: str | None = "test"  # used when the export has it; null: no evaluation
    packed: bool = False  # sft: read <split>-packed.parquet (tokens packed by `curate export --pack`)
    use_margin: bool = True  # reward: feed the export's `margin` column to the loss
    max_train_rows: int | None = None
    max_eval_rows: int | None = None
    max_prompt_tokens: int | None = None  # ppo: drop prompts longer than this


@dataclass(frozen=True)
class Stage:
    name: StageName
    trainer: str
    # Alternative column sets a stage can train on, the preferred first (tokens before text).
    column_sets: tuple[tuple[str, ...], ...]
    optional_columns: tuple[str, ...] = ()


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "sft",
            "SFTTrainer",
            (("input_ids",), ("prompt", "completion"), ("messages",), ("text",)),
            ("labels", "completion_mask", "assistant_masks"),
        ),
        Stage(
            "reward",
            "RewardTrainer",
            (("chosen_ids", "rejected_ids"), ("chosen", "rejected")),
            ("prompt", "margin"),
        ),
        Stage("dpo", "DPOTrainer", (("prompt", "chosen", "rejected"),)),
        Stage("ppo", "PPOTrainer", (("prompt",),)),
    )
}


def training_config_class(stage: str) -> type:
    """TRL's config class for a stage (imports TRL, hence transformers and torch)."""
    if stage == "ppo":
        from train.ppo_backend import PPOConfig

        return PPOConfig
    import trl

    return {"sft": trl.SFTConfig, "reward": trl.RewardConfig, "dpo": trl.DPOConfig}[stage]


def section_classes(stage: str) -> dict[str, type]:
    from trl import ModelConfig

    return {"model": ModelConfig, "data": DataArgs, "training": training_config_class(stage)}


# --------------------------------------------------------------------------- command line


def run_script(main: Any) -> None:
    """``python -m train.<stage>``: like the ``curate train`` command, a user mistake is one line."""
    try:
        main()
    except CurateError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None


def make_parser(stage: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"curate train {stage}",
        description=description,
        epilog=(
            "Overrides take KEY=VALUE or --KEY VALUE; KEY is section.field (model., data., training.) "
            "or a bare field name, e.g. training.max_steps=20, --lora_r 16, --use_peft. Values are YAML."
        ),
    )
    parser.add_argument(
        "items", nargs="*", metavar="CONFIG.yaml | KEY=VALUE", help="a config file and overrides"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check config and data, print the resolved config, load no model",
    )
    return parser


_PARSER_FLAGS = ("-h", "--help", "--dry-run")


def normalize_argv(argv: list[str]) -> list[str]:
    """TRL-style ``--key value`` / ``--key=value`` / ``--flag`` become ``key=value`` items.

    >>> normalize_argv(["c.yaml", "--max_steps", "5", "--use_peft", "--lora_r=8", "--dry-run"])
    ['c.yaml', 'max_steps=5', 'use_peft=true', 'lora_r=8', '--dry-run']
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in _PARSER_FLAGS or not tok.startswith("--"):
            out.append(tok)
        elif "=" in tok:
            out.append(tok[2:])
        else:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and not nxt.startswith("--") and "=" not in nxt:
                out.append(f"{tok[2:]}={nxt}" if tok != "--config" else nxt)
                i += 1
            else:
                out.append(f"{tok[2:]}=true")
        i += 1
    return out


@dataclass
class RawConfig:
    """Config values as given, each with where it came from (for error messages)."""

    path: Path | None
    values: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    origin: dict[tuple[str, str], str] = field(default_factory=dict)

    def where(self, section: str, key: str | None = None) -> str:
        at = f"{section}.{key}" if key else section
        src = self.origin.get((section, key or ""), str(self.path) if self.path else "command line")
        return f"{src}: {at}"

    def given(self, section: str, key: str) -> bool:
        return key in self.values[section]


def read_config(path: Path | None) -> RawConfig:
    raw = RawConfig(path)
    if path is None:
        return raw
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CurateError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}" if mark else ""
        raise CurateError(f"{path}{at}: malformed YAML: {getattr(err, 'problem', err)}") from None
    if data is None:
        return raw
    if not isinstance(data, dict):
        raise CurateError(f"{path}: expected a mapping with sections {', '.join(SECTIONS)}")
    for section, body in data.items():
        if section not in SECTIONS:
            raise CurateError(f"{path}: {section}: unknown section, expected {', '.join(SECTIONS)}")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise CurateError(f"{path}: {section}: expected a mapping of keys, got {type(body).__name__}")
        for key, value in body.items():
            raw.values[section][str(key)] = value
            raw.origin[(section, str(key))] = str(path)
    return raw


def apply_overrides(raw: RawConfig, items: list[str], classes: dict[str, type]) -> None:
    """``section.key=value`` sets one key; a bare ``key=value`` sets it in every section that has it."""
    for item in items:
        key, _, text = item.partition("=")
        try:
            value = yaml.safe_load(text) if text != "" else None
        except yaml.YAMLError:
            value = text
        if isinstance(value, bool) and text.lower() in _YAML11_BOOLS:
            value = text  # `save_strategy=no` means the string; coerce() still reads it for bool fields
        section, dot, name = key.partition(".")
        if dot:
            if section not in SECTIONS:
                raise CurateError(
                    f"command line: {item}: unknown section {section!r}, expected {', '.join(SECTIONS)}"
                )
            targets = [(section, name)]
        else:
            targets = [(s, key) for s in SECTIONS if key in _field_names(classes[s])]
            if not targets:
                every = [n for s in SECTIONS for n in _field_names(classes[s])]
                raise CurateError(f"command line: {item}: unknown key {key!r}{_suggest(key, every)}")
        for s, k in targets:
            raw.values[s][k] = value
            raw.origin[(s, k)] = f"command line ({item})"


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_YAML11_BOOLS = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}


class _Mismatch(Exception):
    pass


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " or ".join(repr(m.value) for m in tp)
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}
    if origin in (list, tuple) or tp in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def coerce(value: Any, tp: Any) -> Any:
    """Check ``value`` against a dataclass field type; raise :class:`_Mismatch` if it does not fit.

    >>> coerce(3, float), coerce("1e-4", float), coerce("q_proj", list[str])
    (3.0, 0.0001, ['q_proj'])
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: a is str):
            try:
                return coerce(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args:
            return value
        raise _Mismatch
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            return _YAML11_BOOLS[value.lower()]
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (list, tuple) or tp in (list, tuple):
        items = value if isinstance(value, list) else [value]
        if isinstance(value, (dict, bool)) or value is None:
            raise _Mismatch
        inner = args[0] if args else Any
        return [coerce(v, inner) for v in items]
    if origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
        raise _Mismatch
    return value


def build_section(raw: RawConfig, section: str, cls: type) -> Any:
    """Instantiate one section's class from its checked keys."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a forward reference we cannot resolve: fall back to declared types
        hints = {}
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in raw.values[section].items():
        if key not in fields:
            raise CurateError(
                f"{raw.where(section, key)}: unknown key for {cls.__name__}{_suggest(key, list(fields))}"
            )
        tp = hints.get(key, fields[key].type)
        try:
            kwargs[key] = coerce(value, tp)
        except _Mismatch:
            raise CurateError(
                f"{raw.where(section, key)}: expected {_type_name(tp)}, got {value!r}"
            ) from None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, AssertionError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "bf16" in message and not raw.given(section, "bf16"):  # TRL turns bf16 on by default
            message += " (TRL defaults to bf16: true; set training.bf16: false on a CPU)"
        raise CurateError(f"{raw.where(section)}: {message}") from None


# --------------------------------------------------------------------------- the run


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
    manifest: dict[str, Any]
    train_file: SplitFile
    eval_file: SplitFile | None
    columns: tuple[str, ...]  # the column set chosen for the stage

    @property
    def output_dir(self) -> Path:
        return Path(self.training_args.output_dir)

    @property
    def tokenized(self) -> bool:
        return self.columns[0].endswith("input_ids") or self.columns[0].endswith("_ids")


@dataclass
class TrainResult:
    """What a stage's ``main`` returns: where the outputs are, final metrics, the trainer's log."""

    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    trainer: Any = None


def prepare_run(stage_name: str, argv: list[str] | None, description: str) -> tuple[Run, bool]:
    """Parse, check and resolve a stage's config and data. Returns the run and ``dry_run``."""
    stage = STAGES[stage_name]
    argv = sys.argv[1:] if argv is None else argv
    ns = make_parser(stage_name, description).parse_args(normalize_argv(list(argv)))
    configs = [i for i in ns.items if "=" not in i]
    if len(configs) > 1:
        raise CurateError(f"command line: one config file expected, got {', '.join(configs)}")
    raw = read_config(Path(configs[0]) if configs else None)
    classes = section_classes(stage_name)
    apply_overrides(raw, [i for i in ns.items if "=" in i], classes)
    data_args: DataArgs = build_section(raw, "data", DataArgs)
    model_args = build_section(raw, "model", classes["model"])
    _check_required(raw, stage)
    training_args = build_section(raw, "training", classes["training"])
    _check_model_options(raw, model_args)
    data_dir, manifest = _resolve_data(raw, data_args, Path(training_args.output_dir))
    train_file, eval_file = _split_files(raw, data_args, data_dir)
    columns = _check_columns(stage, train_file)
    if eval_file is not None and _check_columns(stage, eval_file) != columns:
        raise CurateError(f"{eval_file.path}: columns differ from {train_file.path.name}")
    run = Run(
        stage, raw, model_args, data_args, training_args, data_dir, manifest, train_file, eval_file, columns
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
    data = raw.values["data"]
    if bool(data.get("export")) == bool(data.get("spec")):
        raise CurateError(
            f"{raw.where('data')}: give export (a `curate export` folder) or spec (a dataset spec), exactly one"
        )
    if data.get("source") and not data.get("spec"):
        raise CurateError(f"{raw.where('data', 'source')}: source goes with spec, not with export")
    for section, key in (("model", "model_name_or_path"), ("training", "reward_model_path")):
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


def _resolve_data(raw: RawConfig, data: DataArgs, output_dir: Path) -> tuple[Path, dict[str, Any]]:
    if data.spec:
        from curate.pipeline import ExportOptions, run_export
        from curate.sources.open import open_spec_source
        from curate.spec import load_spec

        spec_file = load_spec(data.spec)
        out = output_dir / "data"
        manifest = run_export(spec_file, open_spec_source(spec_file, data.source), ExportOptions(out_dir=out))
        return out, manifest.to_dict()
    folder = Path(str(data.export))
    if not folder.is_dir():
        raise CurateError(
            f"{raw.where('data', 'export')}: {folder} is not a folder (run `curate export` first)"
        )
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise CurateError(f"{manifest_path}: missing; data.export must be a `curate export` folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CurateError(f"{manifest_path}: not valid JSON ({err.msg})") from None
    return folder, manifest


def _split_files(raw: RawConfig, data: DataArgs, folder: Path) -> tuple[SplitFile, SplitFile | None]:
    def find(split: str, key: str, required: bool) -> SplitFile | None:
        names = [f"{split}-packed.parquet"] if data.packed else [f"{split}.parquet", f"{split}.jsonl"]
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


def _check_columns(stage: Stage, split: SplitFile) -> tuple[str, ...]:
    names = set(split.columns)
    for wanted in stage.column_sets:
        if set(wanted) <= names:
            if split.path.name.endswith("-packed.parquet") and "position_ids" not in names:
                raise CurateError(f"{split.path}: packed files need a position_ids column")
            return wanted
    options = " or ".join("(" + ", ".join(c) + ")" for c in stage.column_sets)
    found = ", ".join(c for c in split.columns if c not in PROVENANCE_COLUMNS) or "none"
    raise CurateError(f"{split.path}: the {stage.name} stage needs columns {options}; found {found}")


def describe_run(run: Run) -> str:
    """The resolved config as YAML (what ``--dry-run`` prints and ``train_config.yaml`` holds)."""
    body = {s: dict(run.raw.values[s]) for s in SECTIONS}
    body["data"] = {k: v for k, v in dataclasses.asdict(run.data_args).items() if v is not None}
    header = f"# curate train {run.stage.name}: {run.stage.trainer} on {run.train_file.path} (columns: {', '.join(run.columns)})\n"
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- data


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
        made_with = (run.manifest.get("tokenization") or {}).get("tokenizer", "another tokenizer")
        raise CurateError(
            f"{run.train_file.path}: token id {biggest} is outside the model's vocabulary ({len(tokenizer)}); "
            f"the export was tokenized with {made_with}"
        )


# --------------------------------------------------------------------------- models


def load_tokenizer(run: Run, path: str, padding_side: str | None = None) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            path,
            revision=run.model_args.model_revision,
            trust_remote_code=getattr(run.training_args, "trust_remote_code", False),
        )
    except (OSError, ValueError) as err:
        raise CurateError(f"cannot load a tokenizer from {path}: {str(err).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if padding_side is not None:
        tok.padding_side = padding_side
    return tok


def model_kwargs(run: Run) -> dict[str, Any]:
    import torch
    from trl import get_quantization_config

    model_args = run.model_args
    dtype = model_args.dtype or "float32"  # TRL's default when a trainer loads the model itself
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "trust_remote_code": getattr(run.training_args, "trust_remote_code", False),
        "attn_implementation": model_args.attn_implementation,
        "dtype": dtype if dtype == "auto" else getattr(torch, dtype),
    }
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        from accelerate import PartialState

        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": PartialState().local_process_index}  # quantized weights load on this GPU
    return kwargs


def load_model(
    run: Run, path: str, kind: Literal["causal", "reward"], pad_token_id: int | None = None
) -> Any:
    """A causal LM or a one-score sequence classifier; a LoRA adapter folder is merged into its base."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto: Any = AutoModelForCausalLM if kind == "causal" else AutoModelForSequenceClassification
    extra: dict[str, Any] = {"num_labels": 1} if kind == "reward" else {}
    kwargs = {**model_kwargs(run), **extra}
    adapter = Path(path) / "adapter_config.json"
    try:
        if adapter.is_file():
            from peft import PeftModel

            base_path = json.loads(adapter.read_text())["base_model_name_or_path"]
            base = auto.from_pretrained(base_path, **kwargs)
            model = PeftModel.from_pretrained(base, path).merge_and_unload()
        else:
            model = auto.from_pretrained(path, **kwargs)
    except OSError as err:
        raise CurateError(f"cannot load a model from {path}: {str(err).splitlines()[0]}") from None
    if pad_token_id is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = pad_token_id  # sequence classifiers find the last token through it
    return model


def peft_config(run: Run, task_type: str | None = None) -> Any:
    from trl import get_peft_config

    if not run.model_args.use_peft:
        return None
    if task_type is not None and not run.raw.given("model", "lora_task_type"):
        run.model_args.lora_task_type = task_type
    return get_peft_config(run.model_args)


# --------------------------------------------------------------------------- outputs


def provenance(run: Run) -> dict[str, Any]:
    m = run.manifest
    spec = m.get("spec") or {}
    return {
        "export": str(run.data_dir),
        "spec": {"name": spec.get("name"), "path": spec.get("path"), "sha256": spec.get("sha256")},
        "fingerprint": m.get("fingerprint"),
        "task": m.get("task"),
        "template": m.get("template"),
        "style": m.get("style"),
        "counts": m.get("counts"),
        "tokenization": m.get("tokenization"),
        "files": {
            "train": run.train_file.path.name,
            "eval": run.eval_file.path.name if run.eval_file else None,
        },
        "columns": list(run.columns),
        "curate_version": m.get("curate_version"),
    }


def save_outputs(run: Run, trainer: Any, metrics: dict[str, float] | None = None) -> Path:
    """Model or adapter and tokenizer (through the trainer), the config, metrics and the model card."""
    out = run.output_dir
    trainer.save_model(str(out))
    tokenizer = getattr(trainer, "processing_class", None)
    if tokenizer is not None and not (out / "tokenizer_config.json").exists():
        tokenizer.save_pretrained(str(out))
    (out / "train_config.yaml").write_text(describe_run(run), encoding="utf-8")
    (out / "training_args.json").write_text(run.training_args.to_json_string(), encoding="utf-8")
    prov = provenance(run)
    (out / "provenance.json").write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if metrics:
        (out / "eval_results.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (out / "README.md").write_text(model_card(run, prov, metrics or {}), encoding="utf-8")
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


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value)
