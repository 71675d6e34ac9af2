"""``curate.recipe(export, recipe)`` (``curate recipe EXPORT --for TOOL``) and the check
``curate export --for TOOL`` makes before any work: whether the tool can read what the spec
will export (``curate.recipes``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from curate.arguments import arg, checked_arguments
from curate.errors import CurateError

if TYPE_CHECKING:
    from curate.api.spec import Spec
    from curate.recipes import WrittenRecipe
    from curate.sinks.files import Format


@checked_arguments()
def recipe(export: str | os.PathLike[str], recipe: str, *, model: str | None = None) -> WrittenRecipe:
    """Write what ``recipe`` (``autotrain``, ``axolotl`` or ``llamafactory``) needs to train on
    the export folder ``export`` into ``export/__recipes__/<tool>/``; returns the files and the
    command line (run from the export's parent folder). ``model``: the base model the files name
    (default: a placeholder to replace). A task or export the tool cannot take is one
    ``CurateError`` line with the reason, and nothing is written.

    >>> import curate, tempfile
    >>> out = tempfile.mkdtemp() + "/sft"
    >>> _ = curate.export(curate.bundled_spec("dolly-curated.yaml"), out)
    >>> curate.recipe(out, "llamafactory").command
    'llamafactory-cli train sft/__recipes__/llamafactory/train.yaml'
    """
    from curate.recipes import write_recipe

    folder = Path(export)
    if not folder.is_dir():
        raise CurateError(f"{folder}: not a folder; expected a `curate export` folder")
    return write_recipe(folder, recipe, model)


def check_recipe_before_export(
    tool: str, spec: Spec, fmt: Format, template: str | None, tokenized: bool
) -> None:
    """Refuse ``--for TOOL`` before the export runs where the spec's export is one the tool cannot
    take (the same reasons the recipe gives once written: task, style, train_on, CSV JSON columns)."""
    from curate.recipes import ExportFacts, get_recipe
    from curate.sinks.csvfile import is_json_type
    from curate.spec import TemplatedSpec
    from curate.tasks import get_task

    chosen = get_recipe(tool)
    model = spec.model
    style = str(getattr(model, "style", "text"))
    conversational = style == "conversational"
    fields = get_task(spec.task).fields(conversational)
    json_columns = tuple(f.name for f in fields if is_json_type(f.type)) if fmt == "csv" else ()
    facts = ExportFacts(
        name="",
        spec_name=spec.name,
        task=spec.task,
        style=style,
        format=fmt,
        text_template=getattr(model, "template", None) if isinstance(model, TemplatedSpec) else None,
        chat_template=(template or "tokenizer") if tokenized else None,
        train_on=str(getattr(model, "train_on", "all_assistant")),
        columns=tuple(f.name for f in fields),
        splits=("train",),
        json_columns=json_columns,
    )
    why = chosen.refusal(facts)
    if why is not None:
        raise CurateError(f"{arg('recipe', tool)}: {why}; nothing was written")
