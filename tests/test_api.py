"""The Python API (``curate.load/export/stats/preview/push``, ``curate.Spec``) gives what the
command line gives: the same rows, files, manifests, reports and error messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import DATA, SPECS, manifest_of

import curate
from curate.errors import CurateError

SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))


def parquet_rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


# --- load == export, row for row -------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_load_equals_the_cli_export_row_for_row(name: str, cli: Any, tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "cli"
    assert cli("export", SPECS / name, "--out", out, "-q").exit_code == 0
    written = manifest_of(out)
    ds = curate.load(SPECS / name, cache_dir=cache)
    assert list(ds) == list(curate.Spec.from_yaml(SPECS / name).model.split.fractions)
    for split, dataset in ds.items():
        assert dataset.to_list() == parquet_rows(out / f"{split}.parquet"), (name, split)
        assert dataset.column_names == written["columns"]
    assert ds.manifest.fingerprint == written["fingerprint"]
    assert json.loads(ds.manifest.to_json())["counts"] == written["counts"]
    rejects = [{k: v for k, v in r.items() if v is not None} for r in ds.rejects.to_list()]
    assert rejects == jsonl(out / "rejects.jsonl")


def test_load_tokenized_and_packed_equals_the_cli_export(
    cli: Any, tmp_path: Path, cache: Path, bpe_tokenizer: Path
) -> None:
    spec = SPECS / "dolly-curated.yaml"
    flags = ("--tokenizer", bpe_tokenizer, "--max-length", "256", "--pack")
    out = tmp_path / "cli"
    assert cli("export", spec, "--out", out, "-q", *flags).exit_code == 0
    ds = curate.load(spec, cache_dir=cache, tokenizer=bpe_tokenizer, max_length=256, pack=True)
    assert ds.manifest.fingerprint == manifest_of(out)["fingerprint"]
    assert ds.packed is not None
    for split, dataset in ds.items():
        assert dataset.to_list() == parquet_rows(out / f"{split}.parquet")
        assert ds.packed[split].to_list() == parquet_rows(out / "__packed__" / f"{split}.parquet")


def test_load_is_memory_mapped_cached_by_content_and_leaves_no_temporary_files(cache: Path) -> None:
    spec = SPECS / "dolly-curated.yaml"
    first = curate.load(spec, cache_dir=cache)
    files = {f["filename"] for d in first.values() for f in d.cache_files}
    assert files and all(Path(f).parent.parent == cache for f in files)  # Arrow files, mapped from disk
    second = curate.load(spec, cache_dir=cache)
    assert {f["filename"] for d in second.values() for f in d.cache_files} == files
    assert [p.name for p in cache.iterdir() if p.name.startswith(".tmp")] == []
    assert len(list(cache.iterdir())) == 1  # the same content is one cache folder
    # a different content (other splits) is another folder; the manifest is this run's
    other = curate.load(spec, cache_dir=cache, splits={"train": 0.5, "dev": 0.5})
    assert list(other) == ["train", "dev"] and len(list(cache.iterdir())) == 2
    assert other.manifest.splits.fractions == {"train": 0.5, "dev": 0.5}
    # a folder left by a killed load (curate's mark, its process gone) is cleaned up by the next one
    dead = _finished_pid()
    (cache / f".tmp-load-{dead}-x" / "export").mkdir(parents=True)
    (cache / f".tmp-load-{dead}-x" / ".curate-tmp").write_text(f"{dead}\n")
    curate.load(spec, cache_dir=cache)
    assert not [p.name for p in cache.iterdir() if p.name.startswith(".tmp")]


def _finished_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_load_one_split_keeps_manifest_and_rejects(cache: Path) -> None:
    train = curate.load(SPECS / "ultrafeedback-ratings.yaml", split="train", cache_dir=cache)
    assert train.split == "train" and len(train) == train.manifest.counts.rows_per_split["train"]
    assert set(train.rejects["reason"]) == set(train.manifest.counts.rejects_by_reason)
    assert train.column_names[:4] == ["prompt", "chosen", "rejected", "margin"]
    with pytest.raises(CurateError, match=r"split: 'dev' is not a split of this export; it has train, test"):
        curate.load(SPECS / "ultrafeedback-ratings.yaml", split="dev", cache_dir=cache)


def test_load_reads_another_source_and_a_source_mapping(cache: Path, tmp_path: Path) -> None:
    by_path = curate.load(SPECS / "dolly-curated.yaml", source=DATA / "dolly-curated-v1", cache_dir=cache)
    by_mapping = curate.load(
        SPECS / "dolly-curated.yaml", source={"path": str(DATA / "dolly-curated-v1")}, cache_dir=cache
    )
    assert by_path["train"].to_list() == by_mapping["train"].to_list()
    assert by_path.manifest.counts.input_records == 300
    with pytest.raises(CurateError, match=r"^source: layout: got 'v3'"):
        curate.load(SPECS / "dolly-curated.yaml", source={"path": "x", "layout": "v3"}, cache_dir=cache)


def test_load_with_a_tokenizer_and_packing(cache: Path, tokenizer: Path) -> None:
    ds = curate.load(
        SPECS / "dolly-curated.yaml", tokenizer=tokenizer, max_length=128, pack=True, cache_dir=cache
    )
    row = ds["train"][0]
    assert len(row["input_ids"]) == len(row["labels"]) and -100 in row["labels"]
    assert ds.packed is not None and set(ds.packed) == {"train", "test"}
    assert sum(len(r) for r in ds.packed["train"]["record_ids"]) == len(ds["train"])


# --- specs in Python -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_spec_round_trips_through_yaml(name: str, tmp_path: Path) -> None:
    spec = curate.Spec.from_yaml(SPECS / name)
    again = curate.Spec(yaml.safe_load(spec.to_yaml()))
    assert again == spec and again.model == spec.model
    path = tmp_path / name
    built = curate.Spec(**yaml.safe_load(spec.to_yaml(path)))
    assert curate.Spec.from_yaml(path).sha256 == built.sha256  # the written text is what is hashed


def test_a_spec_built_in_python_exports_what_its_yaml_exports(cache: Path) -> None:
    from_yaml = curate.Spec.from_yaml(SPECS / "chat-review.yaml")
    built = curate.Spec(
        name="chat-review",
        description="Conversations with the annotators' corrected final assistant reply.",
        task="chat",
        source={"path": str(DATA / "chat-review-v2-disk")},
        responses={"statuses": ["submitted"], "unknown_status": "submitted"},
        unify={"text": "first_submitted"},
        columns={
            "messages": {"field": "conversation"},
            "system": {"value": "You are a helpful, accurate assistant."},
            "reply": {"question": "corrected-reply"},
        },
        split={"train": 0.9, "test": 0.1},
    )
    a = curate.load(from_yaml, cache_dir=cache, on_warning=lambda m: None)
    b = curate.load(built, cache_dir=cache, on_warning=lambda m: None)
    assert a["train"].to_list() == b["train"].to_list()
    assert a.manifest.fingerprint == b.manifest.fingerprint
    assert b.manifest.spec["path"] is None and b.manifest.spec["sha256"] == built.sha256


def test_spec_errors_are_the_cli_messages(cli: Any, tmp_path: Path) -> None:
    columns = {"instruction": {"field": "q"}, "response": {"field": "a"}, "respnse": {"field": "a"}}
    bad = {"name": "x", "task": "sft", "columns": columns}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    line = cli("validate", path, "--offline").stderr.strip()
    with pytest.raises(CurateError) as err:
        curate.Spec(bad)
    assert line == f"error: {path}: columns.respnse: unknown key"
    assert str(err.value) == "Spec(...): columns.respnse: unknown key"
    with pytest.raises(CurateError, match="unknown task 'stf', expected one of sft, chat"):
        curate.Spec(name="x", task="stf")
    with pytest.raises(CurateError, match="spec file not found"):
        curate.Spec.from_yaml(tmp_path / "missing.yaml")


# --- export, stats, preview: the CLI's results -----------------------------------------------------
def test_export_writes_the_same_bytes_as_the_cli(cli: Any, tmp_path: Path) -> None:
    spec = SPECS / "ultrafeedback-ranking.yaml"
    assert cli("export", spec, "--out", tmp_path / "cli", "--format", "jsonl", "-q").exit_code == 0
    manifest = curate.export(spec, tmp_path / "api", format="jsonl")
    for name in ("train.jsonl", "test.jsonl", "rejects.jsonl", "manifest.json"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes(), name
    assert manifest.to_json() == (tmp_path / "api" / "manifest.json").read_text(encoding="utf-8")


def test_api_errors_name_keywords_and_the_cli_names_flags(cli: Any, tmp_path: Path) -> None:
    spec = SPECS / "dolly-curated.yaml"
    cases = [
        ({"max_length": 8}, ["--max-length", "8"], "{template}, {max_length} and {pack} need {tokenizer}"),
        ({"format": "xml"}, ["--format", "xml"], "{format}: got 'xml', expected parquet, jsonl or csv"),
        ({"splits": "train"}, ["--split", "train"], "{splits}: 'train' is not NAME=FRACTION"),
        (
            {"since": "2026-01-01"},
            ["--since", "2026-01-01"],
            "{since}: applies to a live Argilla source only",
        ),
        ({"deadline": 5}, ["--deadline", "5"], "{deadline}: applies to a live Argilla source only"),
    ]
    names = ("template", "max_length", "pack", "tokenizer", "format", "splits", "since", "deadline")
    keywords = {k: k for k in names}
    flags = {**{k: "--" + k.replace("_", "-") for k in keywords}, "splits": "--split"}
    for options, args, message in cases:
        with pytest.raises(CurateError) as err:
            curate.export(spec, tmp_path / "out", **options)
        assert message.format(**keywords) in str(err.value)
        result = cli("export", spec, "--out", tmp_path / "out", *args)
        assert result.exit_code == 2 and message.format(**flags) in result.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(CurateError, match=r"spec 'x': the spec has no source; pass source=PATH"):
        curate.export({"name": "x", "task": "prompt", "columns": {"prompt": {"field": "q"}}}, tmp_path / "o")


DOLLY = SPECS / "dolly-curated.yaml"

# A Python caller's mistake: (call, the keyword its one-line CurateError must name). Before these
# were checked at the boundary each was a TypeError/ValueError/AttributeError from deep inside.
HOSTILE_CALLS: list[tuple[str, Callable[[Path], Any], str]] = [
    ("Spec(path)", lambda tmp: curate.Spec("spec.yaml"), "Spec(): mapping: expected a mapping or None"),
    ("Spec(3)", lambda tmp: curate.Spec(3), "Spec(): mapping: expected a mapping or None, got 3"),
    ("Spec(both)", lambda tmp: curate.Spec({"name": "x"}, task="sft"), "Spec(): give a mapping"),
    ("from_yaml(None)", lambda tmp: curate.Spec.from_yaml(None), "Spec.from_yaml(): path: expected"),
    ("to_yaml(3)", lambda tmp: curate.Spec.from_yaml(DOLLY).to_yaml(3), "Spec.to_yaml(): path:"),
    ("bundled_spec(None)", lambda tmp: curate.bundled_spec(None), "bundled_spec(): file_name:"),
    ("export(out=None)", lambda tmp: curate.export(DOLLY, None), "export(): out: expected a str or a path"),
    ("export(no out)", lambda tmp: curate.export(DOLLY), "export(): out: required"),
    ("export(num_proc='2')", lambda tmp: curate.export(DOLLY, tmp, num_proc="2"), "export(): num_proc:"),
    ("export(format=None)", lambda tmp: curate.export(DOLLY, tmp, format=None), "export(): format:"),
    ("export(splits=list)", lambda tmp: curate.export(DOLLY, tmp, splits=["train"]), "export(): splits:"),
    ("export(pack='yes')", lambda tmp: curate.export(DOLLY, tmp, pack="yes"), "export(): pack:"),
    ("export(timeout='5')", lambda tmp: curate.export(DOLLY, tmp, timeout="5"), "export(): timeout:"),
    ("export(on_warning=str)", lambda tmp: curate.export(DOLLY, tmp, on_warning="print"), "on_warning:"),
    ("export(typo)", lambda tmp: curate.export(DOLLY, tmp, max_lenght=8), "export(): max_lenght: unknown"),
    ("load(splits=list)", lambda tmp: curate.load(DOLLY, splits=["train"]), "load(): splits:"),
    ("load(split=3)", lambda tmp: curate.load(DOLLY, split=3), "load(): split: expected a str or None"),
    ("load(cache_dir=3)", lambda tmp: curate.load(DOLLY, cache_dir=3), "load(): cache_dir:"),
    ("stats(None)", lambda tmp: curate.stats(None), "target: got NoneType, expected a curate.Spec"),
    ("stats(tokenizer=3)", lambda tmp: curate.stats(DOLLY, tokenizer=3), "stats(): tokenizer:"),
    (
        "preview(n='3')",
        lambda tmp: curate.preview(DOLLY, tmp, n="3"),
        "preview(): n: expected an int, got '3'",
    ),
    ("preview(no tokenizer)", lambda tmp: curate.preview(DOLLY), "preview(): tokenizer: required"),
    ("push(repo=3)", lambda tmp: curate.push(DOLLY, repo=3), "push(): repo: expected a str, got 3"),
]


@pytest.mark.parametrize(
    ("call", "expected"), [(f, e) for _, f, e in HOSTILE_CALLS], ids=[c[0] for c in HOSTILE_CALLS]
)
def test_hostile_api_arguments_are_one_curate_error_naming_the_keyword(
    call: Callable[[Path], Any], expected: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(CurateError) as err:
        call(out)
    message = str(err.value)
    assert expected in message and "\n" not in message and "--" not in message, message
    assert not out.exists()  # checked before any work


def test_library_messages_name_the_callers_arguments(cli: Any, tmp_path: Path, tokenizer: Path) -> None:
    """Messages from below the API (the output folder, tokenizing, an export that keeps nothing)
    name keyword arguments for Python and flags for the command line: the surface decides."""
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    # every row filtered out: nothing kept
    body = curate.Spec.from_yaml(DOLLY).to_dict()
    body["source"]["path"] = str(SPECS / body["source"]["path"])
    body["filters"] = {"min_chars": {"completion": 100_000}}
    spec_path = tmp_path / "none-kept.yaml"
    spec_path.write_text(yaml.safe_dump(body))
    cases = [
        ({}, [], taken, "{out}: exists and is not a folder"),
        (
            {"tokenizer": tokenizer, "truncation": "middle"},
            ["--tokenizer", tokenizer, "--truncation", "middle"],
            tmp_path / "o1",
            "{truncation}: got 'middle'",
        ),
        (
            {"tokenizer": tokenizer, "max_length": 1},
            ["--tokenizer", tokenizer, "--max-length", "1"],
            tmp_path / "o2",
            "{max_length}: got 1, expected at least 2",
        ),
    ]
    keywords = {"out": f"out={taken}", "truncation": "truncation", "max_length": "max_length"}
    flags = {"out": f"--out {taken}", "truncation": "--truncation", "max_length": "--max-length"}
    for options, args, out, message in cases:
        with pytest.raises(CurateError) as err:
            curate.export(DOLLY, out, **options)
        assert message.format(**keywords) in str(err.value)
        result = cli("export", DOLLY, "--out", out, *args)
        assert result.exit_code == 2 and message.format(**flags) in result.stderr, result.stderr
    with pytest.raises(CurateError) as err:
        curate.export(spec_path, tmp_path / "o3")
    assert "(allow_empty=True writes the export with its rejects.jsonl anyway)" in str(err.value)
    result = cli("export", spec_path, "--out", tmp_path / "o3")
    assert "(--allow-empty writes the export with its rejects.jsonl anyway)" in result.stderr
    # push's checks below the API, before the Hub is asked anything
    with pytest.raises(CurateError, match=r"^repo: 'dolly' is not ORG/NAME"):
        curate.push(DOLLY, repo="dolly")
    with pytest.raises(CurateError, match=r"^from_export: .*nope/manifest.json not found"):
        curate.push(repo="org/x", from_export=tmp_path / "nope")
    result = cli("push", "--repo", "org/x", "--from-export", tmp_path / "nope")
    assert result.exit_code == 2 and "--from-export: " in result.stderr


def test_the_cli_calls_the_api(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import curate.api.export
    import curate.api.stats

    calls: list[str] = []
    for module, name in (
        (curate.api.export, "prepare_export"),
        (curate.api.stats, "prepare_stats"),
        (curate.api.export, "preview"),
    ):
        real = getattr(module, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    assert cli("export", SPECS / "dolly-prompts.yaml", "--out", tmp_path / "o", "-q").exit_code == 0
    assert cli("stats", tmp_path / "o", "--json").exit_code == 0
    assert calls == ["prepare_export", "prepare_stats"]


def test_stats_equals_the_cli_json(cli: Any, tmp_path: Path) -> None:
    for target in (SPECS / "ultrafeedback-ratings.yaml", DATA / "chat-review-v2-disk"):
        result = cli("stats", target, "--json")
        assert result.exit_code == 0, result.stderr
        stats = curate.stats(target, on_warning=lambda m: None)
        assert json.loads(json.dumps(stats.to_dict())) == json.loads(result.stdout)
    spec_stats = curate.stats(SPECS / "ultrafeedback-ratings.yaml")
    export = spec_stats["export"]
    assert export["input_records"] == spec_stats["records"] == 200
    assert sum(export["records_per_split"].values()) + sum(export["rejects_by_reason"].values()) == 200
    pairs = spec_stats["pairwise_agreement"]["rating-1"]["pairs"]
    assert all(0 <= p["agree"] <= p["shared"] for p in pairs) and len(pairs) == 6  # 4 annotators


def test_pairwise_agreement_counts_by_hand() -> None:
    from curate.records import ArgillaRecord, DatasetSettings, QuestionInfo, QuestionKind, Response
    from curate.report.stats import SourceStats

    settings = DatasetSettings(questions={"q": QuestionInfo("q", QuestionKind.LABEL)})
    acc = SourceStats(settings)
    answers = [("a", "x", "b", "x"), ("a", "x", "b", "y"), ("a", "y", "c", "y")]
    for i, (u1, v1, u2, v2) in enumerate(answers):
        acc.add(
            ArgillaRecord(
                f"r{i}", {}, responses={"q": (Response(u1, v1, "submitted"), Response(u2, v2, "submitted"))}
            )
        )
    acc.add(
        ArgillaRecord(
            "r9", {}, responses={"q": (Response("a", "x", "draft"), Response("b", "x", "submitted"))}
        )
    )
    result = acc.result()
    assert result["pairwise_agreement"]["q"]["pairs"] == [
        {"a": "a", "b": "b", "shared": 2, "agree": 1, "share": 0.5},
        {"a": "a", "b": "c", "shared": 1, "agree": 1, "share": 1.0},
    ]
    assert result["annotators"] == {
        "a": {"draft": 1, "submitted": 3},
        "b": {"submitted": 3},
        "c": {"submitted": 1},
    }


def test_stats_with_a_tokenizer_counts_trained_tokens(tokenizer: Path, tmp_path: Path) -> None:
    from curate.tokens.tokenize import build_row_transform

    stats = curate.stats(SPECS / "dolly-curated.yaml", tokenizer=tokenizer)
    trained = stats.trained["completion"]
    # by hand: tokenize the export's rows with the same transform, count labels != -100
    export = curate.export(SPECS / "dolly-curated.yaml", tmp_path / "e", tokenizer=tokenizer)
    rows = [r for s in export.split_names for r in parquet_rows(tmp_path / "e" / f"{s}.parquet")]
    assert sorted(trained) == sorted(sum(1 for x in r["labels"] if x != -100) for r in rows)
    assert stats["export"]["trained_tokens"]["completion"]["count"] == len(rows)
    # a tokenized export folder carries its labels: the same figures without a tokenizer
    from_export = curate.stats(tmp_path / "e")
    assert sorted(from_export.trained["completion"]) == sorted(trained)
    pairs = curate.stats(SPECS / "ultrafeedback-ratings.yaml", tokenizer=tokenizer)
    transform = build_row_transform("preference", str(tokenizer), None, None)
    some = curate.load(SPECS / "ultrafeedback-ratings.yaml", split="train", cache_dir=tmp_path / "c")[0]
    chosen, rejected = transform.inspect(some)
    assert chosen.trainable in pairs.trained["chosen"] and rejected.trainable in pairs.trained["rejected"]
    with pytest.raises(CurateError, match="annotation without a spec has no training rows"):
        curate.stats(DATA / "dolly-curated-v1", tokenizer=tokenizer)


def test_preview_equals_the_cli_json(cli: Any, tokenizer: Path) -> None:
    spec = SPECS / "chat-review.yaml"
    result = cli("preview", spec, "--tokenizer", tokenizer, "-n", "2", "--json")
    assert result.exit_code == 0, result.stderr
    report = curate.preview(spec, tokenizer, n=2)
    assert report.to_dict() == json.loads(result.stdout)
    assert "<span" in report._repr_html_()  # highlighted tokens in a notebook
    with pytest.raises(CurateError, match=r"^n: got -1, expected 0 or more"):
        curate.preview(spec, tokenizer, n=-1)


def test_no_public_name_is_also_a_submodule() -> None:
    import importlib.util

    # a submodule named like a public function would shadow it once imported
    clashes = [name for name in curate.__all__ if importlib.util.find_spec(f"curate.{name}") is not None]
    assert clashes == []
    assert callable(curate.stats) and callable(curate.preview)


# --- push --------------------------------------------------------------------------------------------
def test_push_once_then_unchanged(hub: Any) -> None:
    logged: list[str] = []
    first = curate.push(SPECS / "dolly-prompts.yaml", repo="org/prompts", log=logged.append)
    again = curate.push(SPECS / "dolly-prompts.yaml", repo="org/prompts", log=logged.append)
    assert first.status == "pushed" and again.status == "unchanged"
    assert first.fingerprint == again.fingerprint
    with pytest.raises(CurateError, match=r"^since and incremental exclude each other$"):
        curate.push(SPECS / "dolly-prompts.yaml", repo="org/prompts", since="2026-01-01", incremental=True)
    with pytest.raises(CurateError, match=r"^repo ORG/NAME is required$"):
        curate.push(SPECS / "dolly-prompts.yaml", repo="")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curate.testing.tiny import chat_tokenizer

    path = tmp_path_factory.mktemp("tok") / "qwen-tiny"
    chat_tokenizer(path, "qwen2_5")
    return path
