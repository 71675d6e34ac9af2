"""`curate export --tokenizer`: token columns, exact labels, rejections counted, packing."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from helpers import SPECS, manifest_of

from curate.testing.tiny import char_tokenizer, chat_tokenizer


@pytest.fixture(scope="module")
def bpe(bpe_tokenizer):
    return bpe_tokenizer  # the session's one byte-level BPE


def test_sft_export_with_tokens_and_packing(cli, tmp_path, bpe):
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    result = cli(
        "export",
        SPECS / "dolly-curated.yaml",
        "--out",
        out,
        "-q",
        "--tokenizer",
        bpe,
        "--max-length",
        "512",
        "--pack",
    )
    assert result.exit_code == 0, result.stderr
    manifest = manifest_of(out)
    counts = manifest["counts"]
    assert counts["input_records"] == counts["kept_records"] + counts["rejected_records"]
    tok_summary = manifest["tokenization"]
    assert tok_summary["tokenizer"] == bpe.name and tok_summary["max_length"] == 512
    assert 0 < tok_summary["trainable_tokens"] < tok_summary["tokens"]
    tokenizer = AutoTokenizer.from_pretrained(bpe)
    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert len(rows) == counts["rows_per_split"]["train"]
    total_tokens = 0
    for row in rows:
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels) == len(row["attention_mask"]) <= 512
        trained = [t for t, label in zip(ids, labels, strict=True) if label != -100]
        assert [label for label in labels if label != -100] == trained
        assert tokenizer.decode(trained) == row["completion"] + tokenizer.eos_token
        assert tokenizer.decode(ids) == row["prompt"] + row["completion"] + tokenizer.eos_token
        total_tokens += len(ids)
    packed = pq.read_table(out / "__packed__" / "train.parquet").to_pylist()
    assert sum(sum(p["seq_lengths"]) for p in packed) == total_tokens
    assert sorted(r for p in packed for r in p["record_ids"]) == sorted(r["record_id"] for r in rows)
    for p in packed:
        assert len(p["input_ids"]) <= 512
        starts = [i for i, pos in enumerate(p["position_ids"]) if pos == 0]
        assert len(starts) == len(p["seq_lengths"])
    assert manifest["packing"]["max_length"] == 512
    # the packed bins stay out of the splits `datasets` finds in the folder
    from datasets import load_dataset

    loaded = load_dataset("parquet", data_dir=str(out))
    assert loaded["train"].num_rows == len(rows) and "seq_lengths" not in loaded["train"].column_names


def test_tokenized_chat_export_is_reproducible(cli, tmp_path):
    tok = tmp_path / "qwen-like"
    chat_tokenizer(tok, "qwen2_5", vocab_size=600)  # ChatML special tokens and TRL's Qwen2.5 template
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        args = (
            "export",
            SPECS / "chat-review.yaml",
            "--out",
            out,
            "-q",
            "--tokenizer",
            tok,
            "--template",
            "chatml",
        )
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
    manifest = manifest_of(outs[0])
    assert manifest["tokenization"]["template"] == "chatml"
    for path in sorted(outs[0].iterdir()):
        assert path.read_bytes() == (outs[1] / path.name).read_bytes(), path.name


def test_rows_a_tokenizer_cannot_reproduce_are_rejected_with_a_reason(cli, tmp_path):
    """A character tokenizer with ASCII only cannot encode 'é' or '₂': those rows fail the
    decode self-check and are rejected, counted, never trained silently."""
    tok = tmp_path / "chars"
    char_tokenizer(tok)
    out = tmp_path / "out"
    result = cli("export", SPECS / "dolly-curated.yaml", "--out", out, "-q", "--tokenizer", tok)
    assert result.exit_code == 0, result.stderr
    manifest = manifest_of(out)
    counts = manifest["counts"]
    failed = {
        k: v for k, v in counts["rejects_by_reason"].items() if k in ("decode_mismatch", "boundary_merge")
    }
    assert failed.get("decode_mismatch", 0) > 0
    assert counts["input_records"] == counts["kept_records"] + counts["rejected_records"]
    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert rows and all(r["completion"].isascii() for r in rows)  # only trained text must round-trip


def test_tokenizer_flags_need_a_tokenizer(cli, tmp_path):
    result = cli("export", SPECS / "dolly-curated.yaml", "--out", tmp_path / "o", "--pack")
    assert result.exit_code == 2 and "need --tokenizer" in result.stderr


def test_num_proc_gives_the_same_bytes(cli, tmp_path, monkeypatch):
    """Worker processes tokenize chunks in parallel; output is written in input order, so every
    file (rows, rejects, manifest with its tokenization counts) is byte-identical to one process."""
    import curate.pipeline.run

    monkeypatch.setattr(curate.pipeline.run, "TRANSFORM_BATCH", 8)  # many chunks, several in flight
    tok = tmp_path / "qwen-like"
    chat_tokenizer(tok, "qwen2_5", vocab_size=600)
    outs = {n: tmp_path / f"p{n}" for n in (1, 2)}
    for n, out in outs.items():
        result = cli(
            "export", SPECS / "chat-review.yaml", "--out", out, "-q", "--tokenizer", tok,
            "--max-length", "200", "--num-proc", str(n),
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    files = sorted(p.name for p in outs[1].iterdir())
    assert files == sorted(p.name for p in outs[2].iterdir())
    for name in files:
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name
    summary = manifest_of(outs[2])["tokenization"]
    assert summary["rows_ok"] > 0 and summary["rejected_by_reason"]  # some rows are over 200 tokens


def test_num_proc_beyond_the_cpus_is_capped_with_a_note(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)  # one CPU: no worker process is started
    tok = tmp_path / "tok"
    chat_tokenizer(tok, "qwen2_5", vocab_size=600)
    common = ("--tokenizer", tok, "--max-length", "200")
    capped = cli("export", SPECS / "chat-review.yaml", "--out", tmp_path / "a", *common, "--num-proc", "64")
    assert capped.exit_code == 0, capped.stderr
    assert "--num-proc 64: this machine has 1 CPU; using 1" in capped.stderr
    one = cli("export", SPECS / "chat-review.yaml", "--out", tmp_path / "b", *common, "-q")
    assert one.exit_code == 0, one.stderr
    for name in ("train.parquet", "test.parquet", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_num_proc_zero_is_a_mistake(cli, tmp_path):
    result = cli("export", SPECS / "dolly-prompts.yaml", "--out", tmp_path / "o", "--num-proc", "0")
    assert result.exit_code == 2 and "--num-proc: got 0" in result.stderr
