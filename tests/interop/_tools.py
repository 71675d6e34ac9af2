"""What the interop tests share: where each tool's virtualenv is (``CURATE_INTEROP_<TOOL>``, set
by ``make test-interop``) and how a tool is made to read an export through curate's recipe."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import curate

HERE = Path(__file__).resolve().parent
READ_TIMEOUT = 900


def tool_venv(tool: str) -> Path:
    """The tool's virtualenv, or a skip naming how to get it."""
    value = os.environ.get(f"CURATE_INTEROP_{tool.upper()}")
    if not value:
        pytest.skip(
            f"CURATE_INTEROP_{tool.upper()} is not set: `make test-interop` installs {tool} and runs this"
        )
    venv = Path(value)
    if not (venv / "bin" / "python").is_file():
        pytest.skip(f"{venv}: no virtualenv; `make test-interop` installs {tool}")
    return venv


def read_with_tool(tool: str, export: Path, model: Path, work: Path, train_step: bool) -> dict[str, Any]:
    """Copy ``export`` into ``work``, write the tool's recipe there, and have the tool read it
    (``read_<tool>.py`` in the tool's virtualenv); returns what the tool's loader yielded."""
    import shutil

    venv = tool_venv(tool)
    folder = work / export.name
    shutil.copytree(export, folder)
    written = curate.recipe(folder, tool, model=str(model))
    recipe = next(name for name in written.files if name.endswith((".yaml", ".yml")))
    out = work / f"{tool}-rows.json"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "AXOLOTL_DO_NOT_TRACK": "1",
        "DO_NOT_TRACK": "1",
        "WANDB_DISABLED": "true",
        "WANDB_MODE": "disabled",
        "HF_HOME": str(work / "hf-home"),
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": "",
    }
    args = [str(venv / "bin" / "python"), str(HERE / f"read_{tool}.py"), str(work), f"{folder.name}/{recipe}"]
    args += [str(model), str(out)] + (["--train-step"] if train_step else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=READ_TIMEOUT)
    assert done.returncode == 0, (
        f"{tool} could not read the export:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    )
    return dict(json.loads(out.read_text(encoding="utf-8")))
