"""The ``curate train`` config: YAML sections checked into TRL's own config classes (and curate's
``DataArgs`` / ``RewardArgs``), with command-line overrides; every mistake is one line naming where.

The file is read by :func:`curate.yamlio.read_yaml`, as specs are (duplicate keys, alias bombs,
depth, binary files refused, each naming the file). TRL's ``TrlParser`` also reads a YAML config
plus ``--key value`` overrides, but through ``yaml.safe_load`` (a repeated key silently wins) and
``HfArgumentParser``, whose mistakes are argparse usage text or a ``ValueError`` listing unused
keys, naming neither the file nor the ``section.key`` path; so curate keeps this small loader and
checks each key against TRL's own config classes itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union

from curate.errors import CurateError

SECTIONS = ("model", "data", "training", "rewards")  # `rewards` only for the online-RL stages
ONLINE_RL = ("grpo", "rloo")
# Added by curate for traceability; never trainer inputs.
PROVENANCE_COLUMNS = ("record_id", "source", "annotators", "statuses", "agreement")


@dataclass
class DataArgs:
    """The ``data:`` section: where the training rows come from, and who turns them into tokens."""

    export: str | None = None  # a `curate export` folder
    spec: str | None = None  # or a dataset spec, exported into <output_dir>/data first
    source: str | None = None  # with spec: read this export instead of the spec's source
    train_split: str = "train"
    eval_split: str | None = "test"  # used when the export has it; null: no evaluation
    packed: bool = False  # sft: read __packed__/<split>.parquet (tokens packed by `curate export --pack`)
    use_margin: bool = True  # reward: feed the export's `margin` column to the loss
    max_train_rows: int | None = None
    max_eval_rows: int | None = None
    max_prompt_tokens: int | None = None  # ppo/grpo/rloo: drop prompts longer than this
    # curate: token ids and labels from curate.tokens.tokenize (the default); trl: TRL's own preparation.
    labels: Literal["curate", "trl"] = "curate"
    # auto: the export's recorded chat template, else the rows' own rendered text / the tokenizer's
    # chat template; a template name (chatml, tokenizer, ...) or .jinja file; none: the rows' text.
    template: str = "auto"
    truncation: Literal["drop", "cut_prompt", "cut_completion"] = "drop"  # rows over max_length


@dataclass
class RewardArgs:
    """The ``rewards:`` section of ``grpo`` / ``rloo``: what scores a completion (summed, weighted)."""

    model: str | None = None  # a `curate train reward` output folder
    model_weight: float = 1.0
    length_target: int | None = None  # rule reward: -|tokens - target| / target
    length_weight: float = 0.0


@dataclass(frozen=True)
class Stage:
    """A training stage: its ``train/<name>.py`` entry point and ``train/configs/<name>.yaml``, the
    TRL trainer and config class it runs, the tasks it trains on, and its one-line help."""

    name: str
    trainer: str
    #: the TRL config class (``trl.<config>``; PPO's comes from ``train.ppo_backend``)
    config: str
    description: str
    #: the curate tasks whose exports the stage trains on (their TRL columns: ``curate.tasks``)
    tasks: tuple[str, ...]
    #: pre-tokenized column sets the stage prefers to the tasks' text columns
    token_sets: tuple[tuple[str, ...], ...] = ()
    optional_columns: tuple[str, ...] = ()

    @property
    def column_sets(self) -> tuple[tuple[str, ...], ...]:
        """Alternative column sets the stage can train on, the preferred first (tokens before text)."""
        from curate.tasks import TASKS

        return (*self.token_sets, *(TASKS[task].trl_columns for task in self.tasks))


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "sft",
            "SFTTrainer",
            "SFTConfig",
            "Supervised fine-tuning (TRL SFTTrainer) on an SFT or chat export.",
            ("sft", "chat", "text"),
            (("input_ids",),),
            ("labels", "completion_mask", "assistant_masks"),
        ),
        Stage(
            "reward",
            "RewardTrainer",
            "RewardConfig",
            "Reward model (TRL RewardTrainer) on a preference export; reports pairwise accuracy.",
            ("preference",),
            (("chosen_ids", "rejected_ids"),),
            ("prompt", "margin"),
        ),
        Stage(
            "ppo",
            "PPOTrainer",
            "PPOConfig",
            "PPO (TRL experimental PPOTrainer): SFT policy + reward model + prompt-only export.",
            ("prompt",),
            (("input_ids",),),
        ),
        Stage(
            "dpo", "DPOTrainer", "DPOConfig", "DPO (TRL DPOTrainer) on a preference export.", ("preference",)
        ),
        Stage(
            "kto",
            "KTOTrainer",
            "KTOConfig",
            "KTO (TRL KTOTrainer) on an unpaired export (prompt, completion, label).",
            ("unpaired",),
        ),
        Stage(
            "grpo",
            "GRPOTrainer",
            "GRPOConfig",
            "GRPO (TRL GRPOTrainer): policy + curate reward model (+ length rule) on a prompt-only export.",
            ("prompt",),
        ),
        Stage(
            "rloo",
            "RLOOTrainer",
            "RLOOConfig",
            "RLOO (TRL RLOOTrainer): policy + curate reward model (+ length rule) on a prompt-only export.",
            ("prompt",),
        ),
    )
}


def training_config_class(stage: str) -> type:
    """TRL's config class for a stage (imports TRL, hence transformers and torch)."""
    # TRL's configs default gradient_checkpointing to True, a name transformers 5 deprecates: every
    # run, even one that stops at a config mistake, would start with a two-line FutureWarning the
    # user can do nothing about. Only that warning, only from transformers' TrainingArguments.
    warnings.filterwarnings(
        "ignore",
        message=r"`gradient_checkpointing(_kwargs)?` is deprecated and will be removed",
        category=FutureWarning,
        module=r"transformers\.training_args",
    )
    if stage == "ppo":
        from train.ppo_backend import load_ppo

        return load_ppo()[0]
    import trl

    config: type = getattr(trl, STAGES[stage].config)
    return config


def section_classes(stage: str) -> dict[str, type]:
    from trl import ModelConfig

    classes = {"model": ModelConfig, "data": DataArgs, "training": training_config_class(stage)}
    if stage in ONLINE_RL:
        classes["rewards"] = RewardArgs
    return classes


# --------------------------------------------------------------------------- command line


def run_script(main: Any) -> None:
    """``python -m train.<stage>``: like the ``curate train`` command, a user mistake is one line."""
    from train import dist

    try:
        with dist.session():
            main()
    except CurateError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None


def make_parser(stage: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"curate train {stage}",
        description=description,
        epilog=(
            "Overrides take KEY=VALUE or --KEY VALUE; KEY is section.field (model., data., training., "
            "rewards.) "
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


def read_config(path: Path | None, sections: tuple[str, ...] = SECTIONS[:3]) -> RawConfig:
    """Read a YAML config; ``sections`` are those the stage has (``rewards`` only for grpo/rloo)."""
    from curate.yamlio import read_yaml  # PyYAML: not needed to list the stages (`curate --help`)

    raw = RawConfig(path)
    if path is None:
        return raw
    data = read_yaml(path, "config").data
    if data is None:
        return raw
    if not isinstance(data, dict):
        raise CurateError(f"{path}: expected a mapping with sections {', '.join(sections)}")
    for section, body in data.items():
        if section not in sections:
            raise CurateError(f"{path}: {section}: unknown section, expected {', '.join(sections)}")
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
    import yaml

    from curate.yamlio import UniqueKeyLoader, check_size

    for item in items:
        key, _, text = item.partition("=")
        try:
            value = yaml.load(text, Loader=UniqueKeyLoader) if text != "" else None
        except yaml.YAMLError:  # not YAML: the text itself (a run name with a colon, say)
            value = text
        except (RecursionError, ValueError):  # nested too deeply, an integer of 5,000 digits
            raise CurateError(f"command line: {key}: not a value curate can read") from None
        check_size(value, f"command line: {key}", "value")
        if isinstance(value, bool) and text.lower() in _YAML11_BOOLS:
            value = text  # `save_strategy=no` means the string; coerce() still reads it for bool fields
        section, dot, name = key.partition(".")
        if dot:
            if section not in classes:
                raise CurateError(
                    f"command line: {item}: unknown section {section!r}, expected {', '.join(classes)}"
                )
            targets = [(section, name)]
        else:
            targets = [(s, key) for s in classes if key in _field_names(classes[s])]
            if not targets:
                every = [n for s in classes for n in _field_names(classes[s])]
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


class Mismatch(Exception):
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
    """Check ``value`` against a dataclass field type; raise :class:`Mismatch` if it does not fit.

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
            except Mismatch:
                continue
        raise Mismatch
    if origin is Literal:
        if value in args:
            return value
        raise Mismatch
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise Mismatch from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            return _YAML11_BOOLS[value.lower()]
        raise Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise Mismatch from None
        raise Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise Mismatch
    if origin in (list, tuple) or tp in (list, tuple):
        items = value if isinstance(value, list) else [value]
        if isinstance(value, (dict, bool)) or value is None:
            raise Mismatch
        inner = args[0] if args else Any
        return [coerce(v, inner) for v in items]
    if origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
        raise Mismatch
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
        except Mismatch:
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
