"""The extension promises, checked by extending curate from outside its package: a scratch task,
source layout and training stage, each one module (written to a temporary folder here) plus one
registry entry, and every table keyed by those registries sees them without another edit.

The README's walk-throughs ("Adding a task", "Adding a source layout", "Adding a training stage")
follow these three modules.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.main import get_command

import curate
from curate.errors import CurateError

SCRATCH_TASK = '''
"""``task: shout``: one text column, upper-cased; every token trained."""

from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import field_validator

from curate.rows import as_text
from curate.spec import Required, SpecModel, TaskSpec, as_list
from curate.tasks.base import Task


class ShoutColumns(SpecModel):
    text: Required
    _lists = field_validator("text", mode="before")(as_list)


class ShoutSpec(TaskSpec):
    task: Literal["shout"]
    text_columns: ClassVar[tuple[str, ...]] = ("text",)
    columns: ShoutColumns


class Shout(Task):
    name = "shout"
    spec_model = ShoutSpec
    dedup_keys = ("text",)
    trl_columns = ("text",)
    trains = "all"
    length_columns = ("text",)
    trained_series = ("text",)
    card_tags = ("shout",)
    train_stage = "shout"

    def fields(self, conversational: bool) -> list[pa.Field]:
        return [pa.field("text", pa.string())]

    def build(self, builder: Any, ctx: Any) -> list[dict[str, Any]]:
        return [{"text": as_text(builder.required(ctx, builder.spec.columns.text, "text"), "text").upper()}]
'''

SCRATCH_LAYOUT = '''
"""A folder holding ``SHOUTS`` (a marker) and ``rows.jsonl`` with ``id`` and ``line`` columns."""

from pathlib import Path

from curate.sources.layouts import Layout, Probe
from curate.sources.rows import find_data_files
from curate.sources.table import TableSource
from curate.spec import TableColumns


def detect(probe: Probe) -> bool:
    return probe.path.is_dir() and (probe.path / "SHOUTS").is_file()


def open_folder(path: Path, spec) -> TableSource:
    return TableSource(find_data_files(path / "rows.jsonl", None), TableColumns(id="id", fields=["line"]))


LAYOUT = Layout("shouts", "a SHOUTS folder: rows.jsonl with id and line", detect, open_folder)
'''

SCRATCH_STAGE = '''
"""``curate train shout``: a stage needs only a ``main``."""


def main(argv=None):
    return "trained"
'''


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The three modules importable from a temporary folder, each registered with one entry."""
    import curate.commands.app  # noqa: F401  the process's own CLI is built without the scratch stage
    from curate.sources.layouts import LAYOUTS
    from curate.tasks import TASKS, spec_adapter
    from train.config import STAGES, Stage

    package = tmp_path / "scratch_ext"
    package.mkdir()
    for name, text in {"task": SCRATCH_TASK, "layout": SCRATCH_LAYOUT, "stage": SCRATCH_STAGE}.items():
        (package / f"{name}.py").write_text(textwrap.dedent(text), encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = importlib.import_module("scratch_ext.task")
    layout = importlib.import_module("scratch_ext.layout")
    monkeypatch.setitem(sys.modules, "train.shout", importlib.import_module("scratch_ext.stage"))

    monkeypatch.setitem(TASKS, "shout", task.Shout())  # the one registry line of each
    monkeypatch.setitem(LAYOUTS, "shouts", layout.LAYOUT)
    monkeypatch.setitem(STAGES, "shout", Stage("shout", "SFTTrainer", "SFTConfig", "Shout it.", ("shout",)))
    spec_adapter.cache_clear()  # the spec union is built from TASKS once
    yield tmp_path
    spec_adapter.cache_clear()
    for name in ("scratch_ext.task", "scratch_ext.layout", "scratch_ext.stage", "scratch_ext"):
        sys.modules.pop(name, None)


def shouts_folder(root: Path) -> Path:
    folder = root / "shouts"
    folder.mkdir()
    (folder / "SHOUTS").write_text("")
    rows = [{"id": f"r{i}", "line": f"line number {i}"} for i in range(10)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def shout_spec(folder: Path, layout: str = "auto") -> curate.Spec:
    return curate.Spec(
        name="shouting",
        task="shout",
        source={"path": str(folder), "layout": layout},
        columns={"text": {"field": "line"}},
        filters={"max_chars": {"text": 100}},
        split={"train": 1.0},
    )


def test_a_scratch_task_and_layout_export_end_to_end(scratch: Path) -> None:
    from curate.sources import detect_layout

    folder = shouts_folder(scratch)
    assert detect_layout(folder) == "shouts"  # `layout: auto` tries the registered detectors
    manifest = curate.export(shout_spec(folder), scratch / "out")
    assert manifest.task == "shout" and manifest.counts.kept_records == 10
    rows = pq.read_table(scratch / "out" / "train.parquet").to_pylist()
    assert sorted(r["text"] for r in rows) == sorted(f"LINE NUMBER {i}" for i in range(10))


def test_the_spec_checks_and_the_schema_see_them(scratch: Path) -> None:
    from curate.api.loader import spec_json_schema

    schema = spec_json_schema()
    assert "shout" in schema["discriminator"]["mapping"]
    assert "shouts" in schema["$defs"]["SourceSpec"]["properties"]["layout"]["enum"]
    with pytest.raises(CurateError, match=r"filters\.max_chars\.txt: not a text column of a shout row"):
        curate.Spec(
            name="x", task="shout", columns={"text": {"field": "a"}}, filters={"max_chars": {"txt": 1}}
        )
    with pytest.raises(CurateError, match=r"source\.layout: got 'shout', expected auto or one of .*shouts"):
        shout_spec(scratch, layout="shout")
    (scratch / "plain.jsonl").write_text(json.dumps({"a": 1}) + "\n")
    with pytest.raises(
        CurateError, match=r"unknown layout: none of the detected layouts fits \(.*shouts: a SHOUTS"
    ):
        curate.export(shout_spec(scratch / "plain.jsonl"), scratch / "o")


def test_stats_pictures_and_token_counts_see_the_task(scratch: Path) -> None:
    curate.export(shout_spec(shouts_folder(scratch)), scratch / "out")
    stats = curate.stats(scratch / "out")
    assert "lengths" in stats.plot()  # the task's length_columns, not a table in plots
    from curate.report.export_stats import trained_lengths

    assert trained_lengths([{"labels": [-100, 5, 6]}], "shout") == {"text": [2]}


def test_a_scratch_stage_is_a_train_command_with_its_help(scratch: Path) -> None:
    from curate.commands.train import register

    app = typer.Typer()
    register(app)
    train = get_command(app).commands["train"]  # type: ignore[attr-defined]
    assert "shout" in train.commands and train.commands["shout"].help.startswith("Shout it.")
    from curate.tasks import TASKS
    from train.config import STAGES

    trained = {task for stage in STAGES.values() for task in stage.tasks}
    assert set(TASKS) <= trained  # the task has a stage, as the card suggests (train_stage)
    assert TASKS["shout"].train_stage in STAGES
