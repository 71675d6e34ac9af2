"""Extension promises: each registry is the one list its tables are read from.

A training stage is one module (``train/<name>.py``) + one ``STAGES`` entry + one YAML
(``train/configs/<name>.yaml``); the CLI's commands and help come from the registry.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.main import get_command

from curate.tasks import TASKS

REPO = Path(__file__).resolve().parent.parent


def test_every_stage_is_one_module_one_entry_and_one_yaml() -> None:
    from train.config import STAGES

    modules = {p.stem for p in (REPO / "train").glob("*.py")}
    for name, stage in STAGES.items():
        assert stage.name == name and name in modules
        assert callable(importlib.import_module(f"train.{name}").main)
        assert (REPO / "train" / "configs" / f"{name}.yaml").is_file()
        assert stage.description and set(stage.tasks) <= set(TASKS)


def test_the_train_command_lists_exactly_the_registered_stages() -> None:
    from curate.commands.app import app
    from train.config import STAGES

    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    assert list(train.commands) == list(STAGES)
    for name, command in train.commands.items():
        assert command.help.startswith(STAGES[name].description)


def test_every_stage_names_a_real_trl_config_class() -> None:
    pytest.importorskip("trl")
    from train.config import STAGES, training_config_class
    from train.ppo_backend import available

    for name, stage in STAGES.items():
        if name == "ppo" and not available():
            continue  # TRL 1.13 removed PPO: the ppo extra's environment checks it
        assert training_config_class(name).__name__ == stage.config
