"""Recipes for other trainers: what AutoTrain, Axolotl and LLaMA-Factory need to read an export
as curate meant it, derived from its manifest and written to ``__recipes__/<tool>/`` inside the
export (listed in the manifest like every file curate writes). A closed name -> class registry;
an export a tool cannot take is refused with the reason in one line, and nothing is written.

``recipe`` is the Python keyword (``export(..., recipe="axolotl")``), ``--for`` the flag.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.arguments import arg
from curate.errors import CurateError
from curate.manifest import Manifest
from curate.recipes.autotrain import AutoTrain
from curate.recipes.axolotl import Axolotl
from curate.recipes.base import MODEL_PLACEHOLDER, RECIPES_DIR, ExportFacts, Recipe, RowReader
from curate.recipes.llamafactory import LlamaFactory
from curate.sinks.outdir import MANIFEST, TEMP_MARK, describe_entries, file_sha256, foreign_entries

__all__ = [
    "RECIPES",
    "ExportFacts",
    "Recipe",
    "WrittenRecipe",
    "get_recipe",
    "recipe_refusal",
    "write_recipe",
]

RECIPES: dict[str, type[Recipe]] = {r.tool: r for r in (AutoTrain, Axolotl, LlamaFactory)}


def get_recipe(tool: str) -> Recipe:
    """A tool's recipe by name.

    >>> get_recipe("axolotl").version
    '0.19.0'
    """
    if tool not in RECIPES:
        raise CurateError(f"{arg('recipe')}: got {tool!r}, expected one of {', '.join(sorted(RECIPES))}")
    return RECIPES[tool]()


def recipe_refusal(tool: str, facts: ExportFacts) -> str | None:
    """Why ``tool`` cannot read an export with these facts as curate meant it (None: it can)."""
    return get_recipe(tool).refusal(facts)


@dataclass(frozen=True)
class WrittenRecipe:
    tool: str
    folder: Path  # __recipes__/<tool> inside the export
    files: list[str]  # relative to the export
    command: str  # run from the export's parent folder


class _SplitRows(RowReader):
    def __init__(self, folder: Path, manifest: Manifest):
        self.folder = folder
        self.manifest = manifest

    def rows(self, split: str) -> list[dict[str, Any]]:
        from curate.sinks.files import split_file_rows

        return list(split_file_rows(self.folder / f"{split}.{self.manifest.format}", self.manifest))


def write_recipe(folder: Path, tool: str, model: str | None = None) -> WrittenRecipe:
    """Write ``tool``'s recipe into the export ``folder`` (replacing that tool's earlier recipe)
    and list its files in the manifest. The export must be as curate wrote it; the recipe is
    written to a temporary folder first, so a failure leaves the export as it was."""
    recipe = get_recipe(tool)
    manifest = Manifest.read(folder)
    foreign = foreign_entries(folder)
    if foreign:
        raise CurateError(
            f"{folder}: holds files curate did not write there or that changed since ({describe_entries(foreign)}); "
            "a recipe describes an export as curate wrote it: export again"
        )
    facts = ExportFacts.from_manifest(manifest, folder.name)
    why = recipe.refusal(facts)
    if why is not None:
        raise CurateError(f"{arg('recipe', tool)}: {why}")
    built = recipe.build(facts, model or MODEL_PLACEHOLDER, _SplitRows(folder, manifest))
    home = folder / RECIPES_DIR
    target = home / tool
    tmp = home / f".{tool}.tmp-{os.getpid()}"
    try:
        home.mkdir(exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        (tmp / TEMP_MARK).write_text(f"{os.getpid()}\n", encoding="utf-8")
        for name, text in built.files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="")
        for name, (columns, rows) in (built.tables or {}).items():
            _write_jsonl(tmp / name, columns, rows)
        (tmp / TEMP_MARK).unlink()
        old = None
        if target.exists():
            old = home / f".{tool}.old-{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CurateError(f"{target}: cannot write the recipe ({err.strerror or err})") from None
    prefix = f"{RECIPES_DIR}/{tool}/"
    files = {name: entry for name, entry in manifest.files.items() if not name.startswith(prefix)}
    written = []
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        written.append(name)
    manifest.files = dict(sorted(files.items()))
    recipes = dict(manifest.extra.get("recipes") or {})
    recipes[tool] = {
        "version_checked": recipe.version,
        "command": built.command,
        "run_from": "the export's parent folder",
    }
    manifest.extra["recipes"] = dict(sorted(recipes.items()))
    _replace_text(folder / MANIFEST, manifest.to_json())
    return WrittenRecipe(tool, target, written, built.command)


def _write_jsonl(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    from curate.sinks.files import row_line

    with path.open("wb") as fh:
        for row in rows:
            fh.write(row_line(row, columns) + b"\n")


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
