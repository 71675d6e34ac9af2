"""The tasks curate exports, one module each: a closed name -> task registry.

Adding a task is a module here (spec model, row builder, output columns, dedup keys, what the
tokenizer trains, card tags) plus one line in ``TASKS``.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Union

from curate.build.builder import Builder
from curate.errors import CurateError
from curate.records import DatasetSettings
from curate.spec import SpecFile, did_you_mean
from curate.tasks.base import Task, Trains
from curate.tasks.chat import Chat
from curate.tasks.preference import Preference
from curate.tasks.prompt import Prompt
from curate.tasks.sft import SFT
from curate.tasks.text import Text
from curate.tasks.unpaired import Unpaired

__all__ = ["TASKS", "Task", "Trains", "get_task", "make_builder", "spec_adapter"]

TASKS: dict[str, Task] = {t.name: t for t in (SFT(), Chat(), Preference(), Prompt(), Text(), Unpaired())}


def get_task(name: str) -> Task:
    """The registered task called ``name``.

    >>> get_task("unpaired").trains
    'completion'
    """
    try:
        return TASKS[name]
    except KeyError:
        names = list(TASKS)
        raise CurateError(
            f"unknown task {name!r}, expected one of {', '.join(names)}{did_you_mean(name, names)}"
        ) from None


def make_builder(spec_file: SpecFile, settings: DatasetSettings, source_name: str) -> Builder:
    """The builder of a spec's rows from one source, with the task the spec names."""
    return Builder(spec_file, get_task(spec_file.spec.task), settings, source_name)


@functools.cache
def spec_adapter() -> Any:
    """Validates a spec mapping into the spec model of the task it names (``task:``)."""
    from pydantic import Field, TypeAdapter

    models = tuple(task.spec_model for task in TASKS.values())
    return TypeAdapter(Annotated[Union[models], Field(discriminator="task")])  # type: ignore[valid-type,arg-type]
