"""Hostile inputs around outputs, names, specs, flags and signals: each case asserts the exit code,
the one `error:` line, the files left behind, and record counts taken from the input itself."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _signals import default_stop_signals
from helpers import SPECS, manifest_of

N_ROWS = 12
TABLE_SPEC = """\
name: hostile
task: prompt
source:
  path: data.jsonl
  layout: table
  columns: {{id: id, fields: [text]}}
columns:
  prompt: [{{field: text}}]
{extra}
"""


def make_table(root: Path, n: int = N_ROWS, extra: str = "split: {train: 1.0}") -> Path:
    """A small plain table and a prompt-task spec reading it; returns the spec path."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"r{i}", "text": f"Question number {i}?"} for i in range(n)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = root / "spec.yaml"
    spec.write_text(TABLE_SPEC.format(extra=extra), encoding="utf-8")
    return spec


def tree(path: Path) -> dict[str, str]:
    """Every file under a folder with its sha256 (what is left, byte for byte)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def one_error(result, code: int = 2) -> str:
    """The run failed with one `error:` line and no traceback; returns that line."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def no_temp_left(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return make_table(tmp_path / "src")


# ---------------------------------------------------------------- output folders


def test_a_clean_previous_export_is_replaced(cli, table, tmp_path):
    out = tmp_path / "out"
    assert cli("export", table, "--out", out, "-q").exit_code == 0
    first = tree(out)
    assert cli("export", table, "--out", out, "-q").exit_code == 0
    assert tree(out) == first and manifest_of(out)["counts"]["input_records"] == N_ROWS
    no_temp_left(tmp_path)


@pytest.mark.parametrize(
    "setup, named",
    [
        ("web_app_manifest", "index.html"),
        ("bare_foreign_manifest", "manifest.json"),
        ("notes_added", "notes.txt"),
        ("split_edited", "train.parquet"),
        ("subfolder_added", "keep/"),
        ("forged_listing", "secret.txt"),
        ("link_inside", "train.parquet"),
    ],
)
def test_out_holding_files_curate_did_not_write_is_refused(cli, table, tmp_path, setup, named):
    out = tmp_path / "out"
    if setup in ("web_app_manifest", "bare_foreign_manifest"):
        out.mkdir()
        (out / "manifest.json").write_text('{"name": "my-app", "start_url": "/"}')
        if setup == "web_app_manifest":
            (out / "index.html").write_text("<html></html>")
    else:
        assert cli("export", table, "--out", out, "-q").exit_code == 0
        if setup == "notes_added":
            (out / "notes.txt").write_text("my notes")
        elif setup == "split_edited":
            (out / "train.parquet").write_bytes(b"changed by hand")
        elif setup == "subfolder_added":
            (out / "keep").mkdir()
            (out / "keep" / "a.txt").write_text("x")
        elif setup == "forged_listing":
            (out / "secret.txt").write_text("precious")
            manifest = manifest_of(out)
            manifest["files"]["secret.txt"] = {"sha256": "0" * 64, "bytes": 8}
            (out / "manifest.json").write_text(json.dumps(manifest))
        elif setup == "link_inside":
            precious = tmp_path / "precious.parquet"
            precious.write_bytes((out / "train.parquet").read_bytes())
            (out / "train.parquet").unlink()
            (out / "train.parquet").symlink_to(precious)
    before = tree(out)
    line = one_error(cli("export", table, "--out", out, "-q"))
    assert "curate did not write" in line and named in line
    assert tree(out) == before
    no_temp_left(tmp_path)


@pytest.mark.parametrize("where", ["file", "folder", "inside", "contains"])
def test_out_may_not_touch_the_source(cli, tmp_path, where):
    src = tmp_path / "proj" / "src"
    spec = make_table(src)
    if where != "file":  # read the folder rather than the file
        spec.write_text(spec.read_text().replace("path: data.jsonl", "path: ."))
    out = {
        "file": src / "data.jsonl",
        "folder": src,
        "inside": src / "exports",
        "contains": tmp_path / "proj",
    }[where]
    before = tree(tmp_path / "proj")
    line = one_error(cli("export", spec, "--out", out, "-q"))
    expected = {"inside": "is inside the source", "contains": "contains the source"}.get(
        where, "is the source"
    )
    assert expected in line
    assert tree(tmp_path / "proj") == before


def test_out_beside_a_source_file_is_fine(cli, table, tmp_path):
    out = table.parent / "exports" / "x"
    assert cli("export", table, "--out", out, "-q").exit_code == 0
    assert manifest_of(out)["counts"]["input_records"] == N_ROWS


def test_out_equal_to_a_source_folder_is_refused(cli, tmp_path):
    src = tmp_path / "v1"
    import shutil

    shutil.copytree(SPECS / "data" / "dolly-curated-v1", src)
    before = tree(src)
    line = one_error(cli("export", SPECS / "dolly-prompts.yaml", "--source", src, "--out", src, "-q"))
    assert "is the source" in line
    assert tree(src) == before


@pytest.mark.parametrize(
    "kind", ["link_to_folder", "dangling_link", "file", "under_file", "cwd", "parent", "unwritable"]
)
def test_unusable_out_paths_are_one_error(cli, table, tmp_path, monkeypatch, kind):
    target = tmp_path / "real"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    afile = tmp_path / "afile.txt"
    afile.write_text("keep")
    out: Path | str
    if kind == "link_to_folder":
        out = tmp_path / "link"
        out.symlink_to(target)
    elif kind == "dangling_link":
        out = tmp_path / "dangling"
        out.symlink_to(tmp_path / "nowhere")
    elif kind == "file":
        out = afile
    elif kind == "under_file":
        out = afile / "export"
    elif kind in ("cwd", "parent"):
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        out = "." if kind == "cwd" else ".."
    else:
        out = Path("/proc/curate-cannot-write-here/export")  # read-only even for root
    before = tree(tmp_path)
    line = one_error(cli("export", table, "--out", out, "-q"))
    expected = {
        "link_to_folder": "is a symbolic link",
        "dangling_link": "is a symbolic link",
        "file": "exists and is not a folder",
        "under_file": "is a file, not a folder",
        "cwd": "is the current folder or one above it",
        "parent": "is the current folder or one above it",
        "unwritable": "--out /proc/curate-cannot-write-here/export",
    }[kind]
    assert expected in line
    assert tree(tmp_path) == before
    if kind in ("link_to_folder", "dangling_link"):
        assert Path(out).is_symlink()


def test_stale_temp_folder_of_a_killed_run_is_removed(cli, table, tmp_path):
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.tmp-{dead.pid}"
    stale.mkdir()
    (stale / ".curate-tmp").write_text(f"{dead.pid}\n")
    (stale / "train.parquet").write_bytes(b"half")
    result = cli("export", table, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert f"removed .out.tmp-{dead.pid}, left by an interrupted run" in result.stderr
    assert not stale.exists() and manifest_of(out)["counts"]["kept_records"] == N_ROWS


def test_temp_like_folder_without_curate_mark_is_not_touched(cli, table, tmp_path):
    out = tmp_path / "out"
    other = tmp_path / ".out.tmp-999999"
    other.mkdir()
    (other / "thesis.tex").write_text("mine")
    result = cli("export", table, "--out", out)
    assert result.exit_code == 0 and "is not curate's own; not touched" in result.stderr
    assert (other / "thesis.tex").read_text() == "mine"


def test_a_running_exports_temp_folder_is_respected(cli, table, tmp_path):
    busy = tmp_path / f".out.tmp-{os.getppid()}"  # a live process that is not this one
    busy.mkdir()
    (busy / ".curate-tmp").write_text(f"{os.getppid()}\n")
    line = one_error(cli("export", table, "--out", tmp_path / "out", "-q"))
    assert f"another curate process ({os.getppid()}) is writing it now" in line
    assert busy.exists() and not (tmp_path / "out").exists()


BLOCKING_RUN = """
import os, sys, time
import curate.pipeline.run as pipeline
real = pipeline.iter_outcomes
def paused(*args, **kwargs):
    for i, outcome in enumerate(real(*args, **kwargs)):
        yield outcome
        if i == 3:
            open(os.environ["READY_FILE"], "w").close()
            time.sleep(600)
pipeline.iter_outcomes = paused
from curate.commands.app import main
sys.argv = ["curate", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_mid_export_leaves_the_previous_export_and_no_temp(cli, table, tmp_path, sig):
    out = tmp_path / "out"
    assert cli("export", table, "--out", out, "-q").exit_code == 0
    before = tree(out)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKING_RUN, "export", str(table), "--out", str(out), "-q"],
        env={**os.environ, "READY_FILE": str(ready)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_stop_signals,  # not the ignored SIGHUP/SIGINT of a run under nohup
    )
    try:
        deadline = time.monotonic() + 300  # a generous bound for a busy machine, not a timing check
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate()
        assert [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # caught mid-way
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == (130 if sig == signal.SIGINT else 128 + sig), err
    assert "Traceback" not in err and err.strip().startswith("error: ")
    assert tree(out) == before
    no_temp_left(tmp_path)


# ---------------------------------------------------------------- split names and fractions


@pytest.mark.parametrize(
    "split, expected",
    [
        ("../x=1", "split name '../x'"),
        ("a/b=1", "split name 'a/b'"),
        (".hidden=1", "split name '.hidden'"),
        ("x y=1", "split name 'x y'"),
        ("rejects=1", "split name 'rejects' is taken"),
        ("Manifest=1", "split name 'Manifest' is taken"),
        ("train=0.5,Train=0.5", "differ only in case"),
        ("train=0.5,train=0.5", "split 'train' is given twice"),
        ("train=nan", "fraction must be a finite number"),
        ("train=inf", "fraction must be a finite number"),
        ("train=-1,test=2", "fraction must be > 0"),
        ("train=0.5,test=0.4", "must add up to 1"),
        ("=1", "is not NAME=FRACTION"),
        ("train=lots", "is not NAME=FRACTION"),
        ("x" * 65 + "=1", "split name"),
    ],
)
def test_bad_split_flags(cli, table, tmp_path, split, expected):
    line = one_error(cli("export", table, "--out", tmp_path / "out", "--split", split, "--format", "jsonl"))
    assert line.startswith("error: --split: ") and expected in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()
    no_temp_left(tmp_path)


@pytest.mark.parametrize(
    "split_yaml, expected",
    [
        ('split: {"../x": 1.0}', "split: split name '../x'"),
        ("split: {rejects: 1.0}", "split: split name 'rejects' is taken"),
        ("split: {train: .nan}", "split: split 'train': fraction must be a finite number"),
        ("split: {train: .inf}", "fraction must be a finite number"),
        ("split: {train: true}", "fraction must be a finite number, got True"),
        ("split: {fractions: {train-packed: 0.5, train: 0.4}}", "must add up to 1"),
    ],
)
def test_bad_split_names_in_the_spec(cli, tmp_path, split_yaml, expected):
    spec = make_table(tmp_path / "src", extra=split_yaml)
    for command in (["validate", "--offline", spec], ["export", spec, "--out", tmp_path / "out"]):
        line = one_error(cli(*command))
        assert f"{spec}: " in line and expected in line
    assert not (tmp_path / "out").exists()


def test_a_split_named_like_packed_files_cannot_collide(cli, table, tmp_path):
    out = tmp_path / "out"
    result = cli("export", table, "--out", out, "-q", "--split", "train=0.5,train-packed=0.5")
    assert result.exit_code == 0, result.stderr
    m = manifest_of(out)
    assert sum(m["counts"]["records_per_split"].values()) == N_ROWS
    assert {"train.parquet", "train-packed.parquet"} <= set(m["files"])


# ---------------------------------------------------------------- spec typos


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            "filters: {min_chars: {respnse: 2}}",
            "filters.min_chars.respnse: not a text column of a prompt row",
        ),
        ("filters: {max_chars: {promt: 2}}", "(did you mean 'prompt'?)"),
        ("filters: {min_chars: {prompt: -1}}", "filters.min_chars.prompt: must be >= 0"),
        ("filters: {min_chars: {record_id: 2}}", "expected one of prompt"),
        ("template: alpacca", "unknown template 'alpacca'"),
        ("template: alpacca", "(did you mean 'alpaca'?)"),
        ("template: alpaca\ntemplate: dolly", "duplicate key 'template'"),
        ("filters: {dedup: exact, dedup: none}", "duplicate key 'dedup'"),
        ("unify: {text: latest, txt: latest}", "unify.txt: unknown key"),
        ("filters: {dedup: sometimes}", "filters.dedup: got 'sometimes'"),
        ("responses: {statuses: []}", "at least one status must count"),
    ],
)
def test_spec_typos_are_caught_before_any_work(cli, tmp_path, extra, expected):
    spec = make_table(tmp_path / "src", extra=extra)
    for command in (["validate", "--offline", spec], ["export", spec, "--out", tmp_path / "out"]):
        line = one_error(cli(*command))
        assert str(spec) in line and expected in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("- a\n- b\n", "expected a mapping at the top level, got list"),
        ("", "expected a mapping at the top level, got NoneType"),
        ("name: x\n\ttask: sft\n", "malformed YAML"),
        ("a: *nope\n", "malformed YAML"),
        (b"\xff\xfe\x00bad", "cannot read spec"),
    ],
)
def test_malformed_spec_files(cli, tmp_path, text, expected):
    spec = tmp_path / "spec.yaml"
    if isinstance(text, bytes):
        spec.write_bytes(text)
    else:
        spec.write_text(text, encoding="utf-8")
    line = one_error(cli("export", spec, "--out", tmp_path / "out"))
    assert str(spec) in line and expected in line, line


def test_spec_path_is_a_folder(cli, tmp_path):
    line = one_error(cli("validate", tmp_path))
    assert str(tmp_path) in line and "cannot read spec" in line


# ---------------------------------------------------------------- flags


@pytest.mark.parametrize(
    "flag, value",
    [("--since", "yesterday"), ("--since", "2026-01-01T00:00:00Z"), ("--timeout", "5"), ("--deadline", "60")],
)
def test_live_only_flags_on_a_file_source_are_refused(cli, table, tmp_path, flag, value):
    line = one_error(cli("export", table, "--out", tmp_path / "out", flag, value))
    assert f"{flag}: applies to a live Argilla source only" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["JSONL", "Parquet", " jsonl "])
def test_format_in_any_case(cli, table, tmp_path, fmt):
    out = tmp_path / "out"
    assert cli("export", table, "--out", out, "-q", "--format", fmt).exit_code == 0
    m = manifest_of(out)
    assert m["format"] == fmt.strip().lower() and m["counts"]["kept_records"] == N_ROWS


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--format", "xml"], "--format: got 'xml', expected parquet, jsonl or csv"),
        (["--template", "alpaca"], "--template, --max-length and --pack need --tokenizer"),
        (["--pack"], "--template, --max-length and --pack need --tokenizer"),
    ],
)
def test_flags_that_do_not_fit(cli, table, tmp_path, args, expected):
    line = one_error(cli("export", table, "--out", tmp_path / "out", *args))
    assert expected in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- exports that keep nothing


def test_an_export_that_keeps_nothing_fails_with_the_reason(cli, tmp_path):
    spec = make_table(tmp_path / "src", extra="filters: {min_chars: {prompt: 1000}}")
    out = tmp_path / "out"
    line = one_error(cli("export", spec, "--out", out))
    assert f"no record kept, all {N_ROWS} rejected (too_short:prompt {N_ROWS})" in line
    assert "first: record r0: too_short:prompt" in line and "--allow-empty" in line
    assert not out.exists()
    no_temp_left(tmp_path)
    result = cli("export", spec, "--out", out, "-q", "--allow-empty")
    assert result.exit_code == 0, result.stderr
    counts = manifest_of(out)["counts"]
    assert counts["input_records"] == N_ROWS and counts["rejects_by_reason"] == {"too_short:prompt": N_ROWS}
    assert len((out / "rejects.jsonl").read_text().splitlines()) == N_ROWS


def test_an_empty_source_fails_unless_allowed(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = make_table(tmp_path / "src", n=0)
    spec.write_text(spec.read_text().replace("data.jsonl", "data.parquet"))
    pq.write_table(
        pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
        spec.parent / "data.parquet",
    )
    line = one_error(cli("export", spec, "--out", tmp_path / "out"))
    assert "the source has no records" in line
    result = cli("export", spec, "--out", tmp_path / "out", "-q", "--allow-empty")
    assert result.exit_code == 0 and manifest_of(tmp_path / "out")["counts"]["input_records"] == 0


# ---------------------------------------------------------------- stats on exports


def test_stats_reads_an_export_folder_and_a_split_file(cli, table, tmp_path):
    out = tmp_path / "out"
    assert cli("export", table, "--out", out, "-q", "--split", "train=0.5,test=0.5").exit_code == 0
    m = manifest_of(out)
    folder = json.loads(cli("stats", out, "--json").stdout)
    assert folder["input_records"] == N_ROWS
    assert sum(folder["rows_per_file"].values()) == N_ROWS
    one = json.loads(cli("stats", out / "test.parquet", "--json").stdout)
    assert one["rows_per_file"] == {"test.parquet": m["counts"]["rows_per_split"]["test"]}
    assert one["column_lengths_chars"]["prompt"]["count"] == m["counts"]["rows_per_split"]["test"]


def strict_json(text: str) -> Any:
    """JSON as the standard has it: a bare NaN or Infinity is an error (Python's reader takes them)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_stats_json_is_valid_json_when_the_manifest_holds_nan(cli, table, tmp_path):
    """Python's JSON reader takes NaN in a hand-edited manifest; `stats --json` prints null."""
    out = tmp_path / "out"
    assert cli("export", table, "--out", out, "-q").exit_code == 0
    m = manifest_of(out)
    m["quality"]["agreement"]["q"] = {
        "metric": "krippendorff_alpha_nominal",
        "alpha": float("nan"),
        "units": 3,
    }
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")  # writes a bare NaN
    result = cli("stats", out, "--json")
    assert result.exit_code == 0, result.stderr
    stats = strict_json(result.stdout)
    assert stats["agreement"]["q"] == {"metric": "krippendorff_alpha_nominal", "alpha": None, "units": 3}


@pytest.mark.parametrize(
    "column, value, words",
    [
        ("labels", 5, "labels: expected a list of token ids (integers), got number 5"),
        ("labels", "abc", "labels: expected a list of token ids (integers), got text 'abc'"),
        ("labels", [-100, "7"], "labels: expected a list of token ids (integers), got list [-100, '7']"),
        ("labels", [True], "labels: expected a list of token ids (integers), got list [True]"),
        ("completion", 7, "completion: expected text or a list of {role, content} messages, got number 7"),
    ],
)
def test_stats_on_an_export_row_of_the_wrong_shape_names_file_and_row(cli, tmp_path, column, value, words):
    """A hand-edited JSON Lines export: one error line naming the file, row and column."""
    out = tmp_path / "out"
    result = cli("export", SPECS / "dolly-curated.yaml", "--out", out, "-q", "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    split = out / "train.jsonl"
    rows = [json.loads(line) for line in split.read_text(encoding="utf-8").splitlines()]
    rows[1][column] = value
    split.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    line = one_error(cli("stats", out, "--json"))
    assert line == f"error: {split}: row 1 (record {rows[1]['record_id']}): {words}"


DAMAGED_MANIFESTS = {  # what changes in a manifest -> words of the error
    "quality": ({"quality": 5}, "'quality': expected an object, found a number"),
    "task": ({"task": ["sft"]}, "'task': expected text, found a list"),
    "format": ({"format": "xml"}, "'format': expected one of parquet, jsonl, csv"),
    "split outside": ({"splits": {"fractions": {"../x": 1.0}, "seed": 0}}, "split name '../x'"),
    "splits shape": ({"splits": {"fractions": ["train"]}}, "'splits': expected"),
    "count": ({"counts": {"input_records": True}}, "'counts.input_records': expected a count"),
    "counts disagree": ({"counts.kept_records": 0}, "counts:"),
    "no fingerprint": ({"fingerprint": None}, "'fingerprint': expected text, found null"),
}


@pytest.mark.parametrize("case", list(DAMAGED_MANIFESTS), ids=list(DAMAGED_MANIFESTS))
def test_a_damaged_manifest_is_one_error_naming_its_key(cli, table, tmp_path, case):
    """Every reader of a manifest (stats, push --from-export, train) gets one line, not a crash."""
    out = tmp_path / "out"
    assert cli("export", table, "--out", out, "-q").exit_code == 0
    m = manifest_of(out)
    change, words = DAMAGED_MANIFESTS[case]
    for key, value in change.items():
        if key.startswith("counts."):
            m["counts"][key.split(".", 1)[1]] = value
        elif key == "counts":
            m["counts"].update(value)
        else:
            m[key] = value
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    line = one_error(cli("stats", out))
    assert "not a manifest written by `curate export`" in line and words in line, line


def test_a_manifest_that_is_not_an_object_is_refused_where_it_is_read_from():
    import typing

    from curate.errors import CurateError
    from curate.manifest import FORMATS, Manifest
    from curate.sinks.files import Format

    assert typing.get_args(Format) == FORMATS  # the formats a manifest may name are those written
    for data in ([1, 2], "text", None):  # e.g. a manifest.json downloaded from a Hub repo
        with pytest.raises(CurateError, match="expected a JSON object"):
            Manifest.from_dict(data, "hub:manifest.json")


def test_stats_png_into_an_unwritable_place(cli, table, tmp_path):
    line = one_error(cli("stats", table, "--png", "/proc/curate-no/hist.png"))
    assert line.startswith("error: --png /proc/curate-no/hist.png: cannot write")


# ---------------------------------------------------------------- secrets


def test_an_api_key_never_shows_when_the_server_is_unreachable(cli, tmp_path, monkeypatch):
    from curate.sources import argilla_api
    from curate.testing.argilla_server import free_port

    monkeypatch.setattr(argilla_api, "BACKOFF_BASE_S", 0.01)
    key = "curate.secret-key-4242424242"
    spec = tmp_path / "live.yaml"
    spec.write_text(
        "name: live\ntask: prompt\nsource: {argilla: {dataset: d}}\ncolumns: {prompt: [{field: text}]}\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("export", spec, "--out", tmp_path / "out", "--api-url", url, "--api-key", key)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]] and url in errors[0]  # retries are announced, then one error line
    assert all(line.startswith("Argilla at ") and "retrying" in line for line in lines[:-1])
    assert key not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_layout_name_is_caught_with_a_hint(cli, tmp_path):
    spec = make_table(tmp_path / "src")
    spec.write_text(spec.read_text().replace("layout: table", "layout: tabel"))
    line = one_error(cli("validate", "--offline", spec))
    assert "source.layout: got 'tabel', expected auto or one of" in line and "(did you mean 'table'?)" in line


@pytest.mark.parametrize("module", ["transformers"])
def test_a_missing_training_extra_is_one_line_naming_what_to_install(
    cli, table, tmp_path, monkeypatch, module
):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # as after `make demo`: a core install
    line = one_error(cli("export", table, "--out", tmp_path / "out", "--tokenizer", tmp_path))
    assert "needs the training extras" in line and "pip install 'curate[train]'" in line
    assert not (tmp_path / "out").exists()


# --- the writer thread ------------------------------------------------------------------------


def _writer_rows(n: int, bad_at: int | None = None) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "prompt": f"p{i}",
                "completion": f"c{i}",
                "record_id": f"r{i}",
                "source": "s",
                "annotators": ["u1"],
                "statuses": ["submitted"],
                "agreement": "high" if i == bad_at else 0.5,  # text in a number column: no schema fits it
            }
        )
    return rows


def _writer_schema():
    import pyarrow as pa

    from curate.sinks.files import schema_for

    return schema_for([pa.field("prompt", pa.string()), pa.field("completion", pa.string())])


def _writer_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("curate-write")]


def test_a_row_group_the_writer_thread_cannot_write_is_one_error_and_nothing_is_left(tmp_path):
    from curate.errors import CurateError
    from curate.sinks.files import ExportWriter

    out = tmp_path / "out"
    with (
        pytest.raises(CurateError, match=r"train\.parquet: a row does not fit the output schema"),
        ExportWriter(out, "parquet", _writer_schema(), ["train"]) as writer,
    ):
        for row in _writer_rows(5_500, bad_at=2_345):  # in the third row group, mid-stream
            writer.write("train", row)
        writer.close_files()
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert _writer_threads() == []


def test_an_export_stopped_with_row_groups_in_flight_leaves_nothing(tmp_path):
    from curate.sinks.files import ExportWriter

    out = tmp_path / "out"
    with (
        pytest.raises(KeyboardInterrupt),
        ExportWriter(out, "parquet", _writer_schema(), ["train", "test"]) as writer,
    ):
        for i, row in enumerate(_writer_rows(4_200)):
            writer.write("train" if i % 3 else "test", row)
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM, which curate turns into the same) here
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert _writer_threads() == []


def test_the_writer_thread_writes_what_one_thread_writes(tmp_path):
    import pyarrow.parquet as pq

    from curate.sinks.files import ExportWriter, _SplitFile

    rows = _writer_rows(3_700)
    with ExportWriter(tmp_path / "out", "parquet", _writer_schema(), ["train"]) as writer:
        for row in rows:
            writer.write("train", row)
        writer.close_files()
        threaded = writer.splits["train"]
        alone = _SplitFile(tmp_path / "alone.parquet", "parquet", _writer_schema())  # no thread
        for row in rows:
            alone.write(row)
        alone.close()
        assert threaded.path.read_bytes() == alone.path.read_bytes()
        assert threaded.content.digest() == alone.content.digest()
        assert pq.ParquetFile(threaded.path).metadata.num_row_groups == 4
