"""Recipes for other trainers (``--for autotrain|axolotl|llamafactory``): derived from the manifest,
written inside the export and listed in it, the same bytes on every run, keys the tools document
(the installed tools read them in ``tests/interop/``), and an export a tool cannot take refused in
one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import SPECS

import curate
from curate.errors import CurateError
from curate.manifest import Manifest
from curate.recipes import RECIPES
from curate.sinks.files import split_file_rows
from curate.sinks.outdir import foreign_entries

SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))
TOOLS = sorted(RECIPES)

# What each tool takes, by task (the README's table says the same).
TAKES = {
    "autotrain": {"sft", "chat", "preference", "text"},
    "axolotl": {"sft", "chat", "preference", "unpaired", "text"},
    "llamafactory": {"sft", "chat", "preference", "unpaired", "text"},
}

# Keys the tools document, read from their sources at the pinned versions:
# LLaMA-Factory data/parser.py (DatasetAttr: file_name, formatting, ranking, columns, tags)
LF_ENTRY = {"file_name", "formatting", "ranking", "columns", "tags"}
LF_COLUMNS = {
    "prompt",
    "query",
    "response",
    "history",
    "messages",
    "system",
    "tools",
    "chosen",
    "rejected",
    "kto_tag",
}
LF_TAGS = {
    "role_tag",
    "content_tag",
    "user_tag",
    "assistant_tag",
    "observation_tag",
    "function_tag",
    "system_tag",
}
# autotrain/cli/autotrain.py + parser: task, base_model, project_name, log, backend, data, params, hub
AT_TOP = {"task", "base_model", "project_name", "log", "backend", "data", "params", "hub"}
AT_DATA = {"path", "train_split", "valid_split", "chat_template", "column_mapping"}
AT_COLUMNS = {"text_column", "rejected_text_column", "prompt_text_column"}
AT_TASKS = {"llm-sft", "llm-dpo", "llm-orpo", "llm-reward", "llm-generic"}


def export(spec: Path, out: Path, **options: Any) -> Manifest:
    return curate.export(spec, out, on_warning=lambda w: None, **options)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipes")
    return {
        name: (export(SPECS / name, root / name.removesuffix(".yaml")), root / name.removesuffix(".yaml"))[1]
        for name in SHIPPED
    }


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_export_gets_a_recipe_or_one_line_why_not(
    exports: dict[str, Path], tmp_path: Path, name: str, tool: str
) -> None:
    import shutil

    folder = tmp_path / exports[name].name
    shutil.copytree(exports[name], folder)
    manifest = Manifest.read(folder)
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    if manifest.task not in TAKES[tool]:
        with pytest.raises(CurateError) as err:
            curate.recipe(folder, tool)
        assert str(err.value).startswith(f"recipe={tool}: ") and "\n" not in str(err.value)
        assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == before
        return
    written = curate.recipe(folder, tool, model="tiny-model")
    after = Manifest.read(folder)
    assert set(written.files) <= set(after.files) and foreign_entries(folder) == []
    assert after.extra["recipes"][tool]["command"] == written.command
    assert after.fingerprint == manifest.fingerprint and after.counts == manifest.counts
    CHECKS[tool](folder, after)
    first = {n: (folder / n).read_bytes() for n in written.files}
    again = curate.recipe(folder, tool, model="tiny-model")  # replaces its own recipe, same bytes
    assert {n: (folder / n).read_bytes() for n in again.files} == first


def check_llamafactory(folder: Path, manifest: Manifest) -> None:
    home = folder / "__recipes__" / "llamafactory"
    info = json.loads((home / "dataset_info.json").read_text(encoding="utf-8"))
    config = yaml.safe_load((home / "train.yaml").read_text(encoding="utf-8"))
    assert set(info) == {f"{manifest.name}_{s}" for s in manifest.split_names}
    for entry in info.values():
        assert set(entry) <= LF_ENTRY and set(entry["columns"]) <= LF_COLUMNS
        assert set(entry.get("tags", {})) <= LF_TAGS
        assert set(entry["columns"].values()) <= set(manifest.columns)
        assert (home / entry["file_name"]).resolve().parent == folder.resolve()
    assert config["model_name_or_path"] == "tiny-model"
    assert (
        config["stage"]
        == {"sft": "sft", "chat": "sft", "preference": "dpo", "unpaired": "kto", "text": "pt"}[manifest.task]
    )
    assert config["dataset_dir"] == f"{folder.name}/__recipes__/llamafactory"
    formatting = {e["formatting"] for e in info.values()}
    assert formatting == ({"sharegpt"} if manifest.task == "chat" else {"alpaca"})
    if manifest.task == "preference":
        assert all(e["ranking"] is True for e in info.values())
    if manifest.task == "unpaired":
        assert all(e["columns"]["kto_tag"] == "label" for e in info.values())
    if manifest.task != "chat":
        assert config["template"] == "empty"  # the rendered prompt already carries curate's template


def check_axolotl(folder: Path, manifest: Manifest) -> None:
    config = yaml.safe_load((folder / "__recipes__" / "axolotl" / "axolotl.yaml").read_text(encoding="utf-8"))
    assert config["base_model"] == "tiny-model" and config["train_on_inputs"] is False
    datasets = config["datasets"] + config.get("test_datasets", [])
    for ds in datasets:
        assert Path(ds["path"]).parts[0] == folder.name
        assert (folder.parent / ds["path"]).is_file()
        assert ds["ds_type"] == {"jsonl": "json"}.get(manifest.format, manifest.format)
    kinds = {json.dumps(ds["type"], sort_keys=True) for ds in datasets}
    assert len(kinds) == 1  # train and test read alike
    first = datasets[0]
    if manifest.task == "chat":
        assert first["type"] == "chat_template" and first["field_messages"] == "messages"
        assert first["roles_to_train"] == ["assistant"] and config["chat_template"] == "tokenizer_default"
    elif manifest.task == "sft":
        assert (
            first["type"]["field_instruction"] == "prompt" and first["type"]["field_output"] == "completion"
        )
    elif manifest.task == "preference":
        assert config["rl"] == "dpo" and first["type"]["field_chosen"] == "chosen"
    elif manifest.task == "unpaired":
        assert config["rl"] == "kto" and first["type"]["field_label"] == "label"
    else:
        assert first["type"] == "completion" and first["field"] == "text"


def check_autotrain(folder: Path, manifest: Manifest) -> None:
    home = folder / "__recipes__" / "autotrain"
    config = yaml.safe_load((home / "autotrain.yml").read_text(encoding="utf-8"))
    assert set(config) <= AT_TOP and set(config["data"]) <= AT_DATA
    assert set(config["data"]["column_mapping"]) <= AT_COLUMNS and config["task"] in AT_TASKS
    assert config["data"]["path"] == f"{folder.name}/__recipes__/autotrain"
    assert "hub" not in config  # nothing is pushed unless the user adds it
    import pandas as pd

    for split in manifest.split_names:
        ours = list(split_file_rows(folder / f"{split}.{manifest.format}", manifest))
        theirs = pd.read_json(home / f"{split}.jsonl", lines=True, dtype=False).to_dict("records")
        assert len(theirs) == len(ours)
        if manifest.task == "sft":
            assert [r["text"] for r in theirs] == [r["prompt"] + r["completion"] for r in ours]
        elif manifest.task == "preference":
            assert theirs == [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in ours]
        elif manifest.task == "chat":
            assert [r["messages"] for r in theirs] == [r["messages"] for r in ours]
        else:
            assert [r["text"] for r in theirs] == [r["text"] for r in ours]


CHECKS = {"llamafactory": check_llamafactory, "axolotl": check_axolotl, "autotrain": check_autotrain}


def test_export_for_a_tool_writes_the_recipe_beside_the_split_files(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    result = cli("export", SPECS / "dolly-curated.yaml", "--out", out, "--for", "axolotl", "--model", "m")
    assert result.exit_code == 0, result.stderr
    assert (
        "train with, from " in result.stdout
        and "axolotl train sft/__recipes__/axolotl/axolotl.yaml" in result.stdout
    )
    assert "__recipes__/axolotl/axolotl.yaml" in Manifest.read(out).files
    again = cli("export", SPECS / "dolly-curated.yaml", "--out", out, "-q")  # its own recipe is no stranger
    assert again.exit_code == 0, again.stderr
    assert not (out / "__recipes__").exists()  # a new export drops recipes of the old one


@pytest.mark.parametrize(
    "spec, args, words",
    [
        ("answer-feedback-kto.yaml", ["--for", "autotrain"], "--for autotrain: AutoTrain has no KTO trainer"),
        ("dolly-prompts.yaml", ["--for", "axolotl"], "--for axolotl: prompt rows have no answer to train"),
        (
            "dolly-prompts.yaml",
            ["--for", "llamafactory"],
            "--for llamafactory: prompt rows have no answer to train",
        ),
        (
            "chat-review.yaml",
            ["--for", "llamafactory", "--format", "csv"],
            "--for llamafactory: a CSV export holds messages as JSON text",
        ),
        (
            "chat-review.yaml",
            ["--for", "trlx"],
            "--for: got 'trlx', expected one of autotrain, axolotl, llamafactory",
        ),
        ("chat-review.yaml", ["--model", "m"], "--model names the base model of a recipe; it needs --for"),
    ],
)
def test_export_for_a_tool_that_cannot_take_it_writes_nothing(
    cli: Any, tmp_path: Path, spec: str, args: list[str], words: str
) -> None:
    out = tmp_path / "out"
    result = cli("export", SPECS / spec, "--out", out, "-q", *args)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {words}"), result.stderr
    assert not out.exists()


def test_recipe_refuses_an_export_changed_since_curate_wrote_it(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "sft"
    shutil.copytree(exports["dolly-curated.yaml"], folder)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(CurateError, match=r"holds files curate did not write there .*notes.txt"):
        curate.recipe(folder, "llamafactory")
    assert not (folder / "__recipes__").exists()


def test_conversational_preference_is_refused_where_answers_must_be_text(tmp_path: Path) -> None:
    text = (SPECS / "dolly-curated-preference.yaml").read_text(encoding="utf-8")
    path = tmp_path / "conv.yaml"
    path.write_text(
        text.replace("template: alpaca", "template: alpaca\nstyle: conversational").replace(
            "path: data/", f"path: {SPECS}/data/"
        ),
        encoding="utf-8",
    )
    for tool in TOOLS:
        with pytest.raises(CurateError, match=f"recipe={tool}: a conversational preference export"):
            curate.export(path, tmp_path / tool, recipe=tool, on_warning=lambda w: None)
        assert not (tmp_path / tool).exists()


def test_recipe_command_prints_the_line_to_train_with(
    cli: Any, exports: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "chat"
    shutil.copytree(exports["chat-review.yaml"], folder)
    result = cli("recipe", folder, "--for", "llamafactory", "--model", "m")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"wrote {folder}/__recipes__/llamafactory",
        f"train with, from {tmp_path}: llamafactory-cli train chat/__recipes__/llamafactory/train.yaml",
    ]
    info = json.loads((folder / "__recipes__/llamafactory/dataset_info.json").read_text(encoding="utf-8"))
    assert info["chat-review_train"]["formatting"] == "sharegpt"
    missing = cli("recipe", tmp_path / "nowhere", "--for", "axolotl")
    assert missing.exit_code == 2 and "not a folder; expected a `curate export` folder" in missing.stderr
