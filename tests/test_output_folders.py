"""The one output-folder policy (``curate/sinks/outdir.py``) as every surface meets it: a folder of
the user's is refused, never overwritten; only curate's own marked leftovers are cleaned up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import curate
from curate.errors import CurateError
from curate.sinks.outdir import RUN_MARK, TEMP_MARK

REPO = Path(__file__).resolve().parent.parent
DOLLY = REPO / "datasets_spec" / "dolly-curated.yaml"


def dead_pid() -> int:
    """The id of a process that has ended (reaped, so nothing answers to it now)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- curate train's output_dir ------------------------------------------------------------------


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "dolly"
    curate.export(curate.Spec.from_yaml(DOLLY), out)
    return out


@pytest.fixture
def junk_model(tmp_path: Path) -> Path:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text("{ this is not json")  # any attempt to load it fails
    return folder


def train_sft(export: Path, model: Path, output_dir: Path, *extra: str) -> None:
    pytest.importorskip("trl")
    from train import sft

    sft.main(
        [
            f"model.model_name_or_path={model}",
            f"data.export={export}",
            f"output_dir={output_dir}",
            "bf16=false",
            "report_to=none",
            *extra,
        ]
    )


def test_train_refuses_a_folder_of_the_users(export: Path, junk_model: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-model"
    mine.mkdir()
    for name, text in {"README.md": "# my notes\n", "config.json": "{}", "provenance.json": "[]"}.items():
        (mine / name).write_text(text)
    before = snapshot(mine)
    with pytest.raises(CurateError) as err:
        train_sft(export, junk_model, mine)
    message = str(err.value)
    assert "training.output_dir" in message and str(mine) in message and "README.md" in message
    assert "\n" not in message
    assert snapshot(mine) == before  # nothing written, nothing marked


def test_train_refuses_a_file_and_a_link_as_output_dir(
    export: Path, junk_model: Path, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(CurateError, match="is a file; expected a folder"):
        train_sft(export, junk_model, tmp_path / "a-file")
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(CurateError, match="symbolic link"):
        train_sft(export, junk_model, tmp_path / "link")
    assert list((tmp_path / "target").iterdir()) == []


def test_train_reuses_the_folder_it_made_and_a_failed_run_leaves_none(
    export: Path, junk_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(CurateError):  # the model cannot load: the run stops before writing anything
        train_sft(export, junk_model, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    earlier = tmp_path / "earlier"  # what an earlier curate train left: its marker and a checkpoint
    (earlier / "checkpoint-2").mkdir(parents=True)
    (earlier / RUN_MARK).write_text("{}")
    with pytest.raises(CurateError) as err:
        train_sft(export, junk_model, earlier)
    assert "output_dir" not in str(err.value)  # accepted: the error is the model's
    assert (earlier / "checkpoint-2").is_dir()
    train_sft(export, junk_model, tmp_path / "dry", "--dry-run")
    assert not (tmp_path / "dry").exists()  # a dry run checks, and writes nothing


# --- curate.load's cache ------------------------------------------------------------------------


def test_load_cleans_only_its_own_marked_leftovers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    pid = dead_pid()
    ours = cache / f".tmp-load-{pid}-abc"
    ours.mkdir()
    (ours / TEMP_MARK).write_text(f"{pid}\n")
    theirs = cache / f".tmp-load-{pid}-mine"  # same shape of name, but not made by curate
    theirs.mkdir()
    (theirs / "precious.txt").write_text("keep me")
    curate.load(curate.Spec.from_yaml(DOLLY), cache_dir=cache)
    assert not ours.exists()
    assert (theirs / "precious.txt").read_text() == "keep me"


def test_load_rebuilds_a_cache_folder_missing_a_file(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = curate.Spec.from_yaml(DOLLY)
    first = curate.load(spec, cache_dir=cache)
    rows = first["test"].to_list()
    [folder] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    del first
    (folder / "test.arrow").unlink()  # a cache cleaner, or a hand, removed one split
    again = curate.load(spec, cache_dir=cache)
    assert again["test"].to_list() == rows


def test_load_refuses_a_cache_folder_holding_files_it_did_not_write(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = curate.Spec.from_yaml(DOLLY)
    curate.load(spec, cache_dir=cache)
    [folder] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    (folder / "notes.txt").write_text("mine")
    (folder / "test.arrow").unlink()
    with pytest.raises(CurateError, match=r"notes\.txt"):
        curate.load(spec, cache_dir=cache)
    assert (folder / "notes.txt").read_text() == "mine"
