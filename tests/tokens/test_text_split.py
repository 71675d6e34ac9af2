"""`--truncation split`: a `text` document longer than `--max-length` becomes consecutive chunks,
every token kept and trained exactly once (the default for packed `text` exports)."""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import SPECS, manifest_of

from curate.testing.tiny import char_tokenizer, sentencepiece_style
from curate.tokens.tokenize import IGNORE_INDEX as M
from curate.tokens.tokenize import split_document

L = 64  # --max-length of the exports below
WORDS = "the cell wall of a plant holds water and light turns it into sugar while roots take salt".split()  # noqa: SIM905


def test_split_document_by_hand() -> None:
    # The char tokenizer's ids: "abcdefg" is 97..103, then EOS 2; every token trained (no BOS).
    ids = [97, 98, 99, 100, 101, 102, 103, 2]
    assert split_document(ids, list(ids), max_length=4) == [
        ([97, 98, 99, 100], [97, 98, 99, 100]),
        ([100, 101, 102, 103], [M, 101, 102, 103]),  # 100 again: the context 101 is predicted from
        ([103, 2], [M, 2]),
    ]
    # With a BOS (1, never trained): it stays on the first chunk only.
    ids = [1, 97, 98, 99, 2]
    assert split_document(ids, [M, 97, 98, 99, 2], max_length=3) == [
        ([1, 97, 98], [M, 97, 98]),
        ([98, 99, 2], [M, 99, 2]),
    ]


@pytest.mark.parametrize("max_length", [2, 3, 64])
def test_split_document_keeps_and_trains_every_token_once(max_length: int) -> None:
    rng = random.Random(max_length)
    for n in [
        1,
        max_length - 1,
        max_length,
        max_length + 1,
        *(rng.randint(1, 20 * max_length) for _ in range(200)),
    ]:
        ids = [rng.randrange(1000) for _ in range(n)]
        labels = [M, *ids[1:]]
        chunks = split_document(ids, labels, max_length)
        assert all(1 <= len(c) <= max_length and len(c) == len(lab) for c, lab in chunks)
        assert chunks[0] == (ids[:max_length], labels[:max_length])
        for (prev, _), (ids_k, labels_k) in itertools.pairwise(chunks):
            assert ids_k[0] == prev[-1] and labels_k[0] == M  # the context token, untrained
        assert [t for k, (c, _) in enumerate(chunks) for t in (c if k == 0 else c[1:])] == ids
        trained = [lab for _, chunk_labels in chunks for lab in chunk_labels if lab != M]
        assert trained == ids[1:]  # every token but the first (nothing predicts it), once, in order
        assert len(chunks) == (1 if n <= max_length else 1 + -(-(n - max_length) // (max_length - 1)))


def test_row_transform_returns_the_chunks_of_a_long_document(tmp_path):
    from curate.report.export_stats import trained_lengths
    from curate.tokens.tokenize import RowTransform

    tokenizer = char_tokenizer(tmp_path / "char")  # id == ord(char); EOS 2; no BOS
    transform = RowTransform("text", tokenizer, max_length=4, truncation="split")
    assert [f.name for f in transform.fields()][-2:] == ["chunk", "chunks"]
    parts = transform({"text": "abcdefg"})
    assert parts == [
        {"input_ids": [97, 98, 99, 100], "attention_mask": [1] * 4, "labels": [97, 98, 99, 100], "chunk": 0, "chunks": 3},
        {"input_ids": [100, 101, 102, 103], "attention_mask": [1] * 4, "labels": [M, 101, 102, 103], "chunk": 1, "chunks": 3},
        {"input_ids": [103, 2], "attention_mask": [1] * 2, "labels": [M, 2], "chunk": 2, "chunks": 3},
    ]  # fmt: skip
    assert transform({"text": "ab"}) == [
        {"input_ids": [97, 98, 2], "attention_mask": [1] * 3, "labels": [97, 98, 2], "chunk": 0, "chunks": 1}
    ]
    summary = transform.summary()
    assert (summary["documents_split"], summary["over_max_length"], summary["truncated"]) == (1, 1, 0)
    assert (summary["rows"], summary["sequences"], summary["trainable_tokens"]) == (2, 4, 11)
    # `curate stats` counts what a split document trains, once: 7 characters and the EOS
    assert trained_lengths([{"text": "abcdefg"}], "text", transform) == {"text": [8]}


# --- exports --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory, bpe_tokenizer: Path) -> dict[str, Path]:
    """Three tokenizers, each saved with save_pretrained: one token per character (ids readable,
    no BOS), a byte-level BPE (no BOS), and a Llama-2-like SentencePiece style (BOS added)."""
    root = tmp_path_factory.mktemp("split-tokenizers")
    char_tokenizer(root / "char")
    sentencepiece_style(root / "spm", vocab_size=600, n_lines=1500)
    return {"char": root / "char", "bpe": bpe_tokenizer, "spm": root / "spm"}  # the session's one BPE


def documents(tokenizer: object, seed: int = 0) -> list[dict[str, str]]:
    """Documents of a few tokens up to 20x ``L`` (BOS and EOS included), grown a word at a time
    while the tokenizer itself says they stay within each target length."""
    rng = random.Random(seed)
    eos = tokenizer.eos_token  # type: ignore[attr-defined]

    def tokens(text: str) -> int:
        return len(tokenizer(text + eos)["input_ids"])  # type: ignore[operator]

    out = []
    for i, target in enumerate([1, L // 2, L, L + 1, 2 * L, 3 * L - 1, 7 * L + 3, 20 * L, 20 * L]):
        text = rng.choice(WORDS)
        while True:
            longer = f"{text} {rng.choice(WORDS)}"
            if tokens(longer) > target:
                break
            text = longer
        out.append({"id": f"d{i}", "text": text})
    return out


def text_spec(folder: Path, rows: list[dict[str, str]]) -> Path:
    """A `task: text` spec over a JSON Lines table of documents (``id``, ``text``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = folder / "long-docs.yaml"
    spec.write_text(
        "name: long-docs\ntask: text\nsource:\n  path: docs.jsonl\n  layout: table\n"
        "  columns: {id: id, fields: [text]}\ncolumns:\n  text: {field: text}\nsplit: {train: 1.0}\n"
    )
    return spec


def export(cli, spec: Path, out: Path, tokenizer: Path, *flags: str) -> dict:
    result = cli("export", spec, "--out", out, "-q", "--tokenizer", tokenizer, "--max-length", str(L), *flags)
    assert result.exit_code == 0, result.stderr
    return manifest_of(out)


def by_document(rows: list[dict]) -> dict[str, list[dict]]:
    chunks: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        chunks[row["record_id"]].append(row)
    return chunks


@pytest.mark.parametrize("name", ["char", "bpe", "spm"])
def test_packed_text_export_keeps_every_token_of_long_documents_once(cli, tmp_path, tokenizers, name):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizers[name])
    docs = documents(tokenizer)
    whole = {d["id"]: tokenizer(d["text"] + tokenizer.eos_token)["input_ids"] for d in docs}
    assert 19 * L < max(map(len, whole.values())) <= 20 * L and min(map(len, whole.values())) < L // 4
    out = tmp_path / "packed"
    manifest = export(cli, text_spec(tmp_path / "spec", docs), out, tokenizers[name], "--pack")

    summary = manifest["tokenization"]
    assert summary["truncation"] == "split"  # the default for a packed text export
    long_ones = sum(len(ids) > L for ids in whole.values())
    assert long_ones >= 4 and summary["documents_split"] == summary["over_max_length"] == long_ones
    assert summary["truncated"] == 0 and summary["rejected"] == 0
    assert manifest["counts"]["kept_records"] == len(docs) and manifest["counts"]["rejected_records"] == 0

    rows = pq.read_table(out / "train.parquet").to_pylist()
    assert manifest["counts"]["rows_per_split"]["train"] == len(rows) == summary["sequences"]
    chunks = by_document(rows)
    assert sorted(chunks) == sorted(whole)
    bos = tokenizer.bos_token_id if name == "spm" else None
    for rid, parts in chunks.items():
        ids = whole[rid]
        assert [p["chunk"] for p in parts] == list(range(len(parts)))  # consecutive, in order
        assert {p["chunks"] for p in parts} == {len(parts)}
        assert all(len(p["input_ids"]) <= L for p in parts)
        joined = [t for p in parts for t in (p["input_ids"] if p["chunk"] == 0 else p["input_ids"][1:])]
        assert joined == ids
        skip = 1 if bos is not None else 0
        text = next(d["text"] for d in docs if d["id"] == rid)
        assert tokenizer.decode(joined[skip:]) == text + tokenizer.eos_token  # back to its text
        # What trains: labels from each sequence's second token on (the model shifts labels by one,
        # so a first label predicts nothing). Each token once, in order; the document's first token
        # has nothing before it.
        trained = [
            t for p in parts for t, lab in zip(p["input_ids"][1:], p["labels"][1:], strict=True) if lab != M
        ]
        assert trained == ids[1:]
        assert all(p["labels"][0] == M for p in parts[1:])  # the context token is marked untrained
        if bos is not None:  # BOS opens the document, not each chunk; EOS closes it
            assert [p["input_ids"].count(bos) for p in parts] == [1] + [0] * (len(parts) - 1)
        eos_at = [p["input_ids"].count(tokenizer.eos_token_id) for p in parts]
        assert eos_at == [0] * (len(parts) - 1) + [1]

    packed = pq.read_table(out / "__packed__" / "train.parquet").to_pylist()
    seen = []
    for b in packed:
        assert len(b["input_ids"]) <= L and len(b["record_chunks"]) == len(b["record_ids"])
        at = 0
        for n, rid, k in zip(b["seq_lengths"], b["record_ids"], b["record_chunks"], strict=True):
            row = chunks[rid][k]
            assert b["input_ids"][at : at + n] == row["input_ids"]
            assert b["labels"][at : at + n] == [M, *row["labels"][1:]]
            assert b["position_ids"][at : at + n] == list(range(n))  # a segment of its own
            seen.append((rid, k))
            at += n
    assert sorted(seen) == sorted((r["record_id"], r["chunk"]) for r in rows)  # each chunk once
    trained_packed = sum(lab != M for b in packed for lab in b["labels"])
    assert trained_packed == sum(len(ids) - 1 for ids in whole.values())


def test_split_unpacked_when_asked_and_drop_by_default(cli, tmp_path, tokenizers):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizers["char"])
    docs = documents(tokenizer)
    spec = text_spec(tmp_path / "spec", docs)
    long_ones = sum(len(tokenizer(d["text"] + tokenizer.eos_token)["input_ids"]) > L for d in docs)
    split = export(cli, spec, tmp_path / "split", tokenizers["char"], "--truncation", "split")
    assert split["tokenization"]["documents_split"] == long_ones >= 4
    rows = pq.read_table(tmp_path / "split" / "train.parquet").to_pylist()
    for rid, parts in by_document(rows).items():
        text = next(d["text"] for d in docs if d["id"] == rid)
        joined = [t for p in parts for t in (p["input_ids"] if p["chunk"] == 0 else p["input_ids"][1:])]
        assert tokenizer.decode(joined) == text + tokenizer.eos_token
    # Unpacked and no --truncation: drop, as before (too long documents are rejected, counted).
    dropped = export(cli, spec, tmp_path / "drop", tokenizers["char"])
    assert (
        dropped["tokenization"]["truncation"] == "drop" and "documents_split" not in dropped["tokenization"]
    )
    assert dropped["counts"]["rejects_by_reason"] == {"too_long": long_ones}
    assert "chunk" not in pq.read_schema(tmp_path / "drop" / "train.parquet").names
    # Packed with an explicit policy: that policy (the shipped tests of cut_completion rely on it).
    cut = export(cli, spec, tmp_path / "cut", tokenizers["char"], "--pack", "--truncation", "cut_completion")
    assert cut["tokenization"]["truncated"] == long_ones
    assert "record_chunks" not in pq.read_schema(tmp_path / "cut" / "__packed__" / "train.parquet").names


def test_split_export_is_the_same_bytes_with_worker_processes(cli, tmp_path, tokenizers):
    from transformers import AutoTokenizer

    docs = documents(AutoTokenizer.from_pretrained(tokenizers["bpe"]), seed=1)
    spec = text_spec(tmp_path / "spec", docs)
    outs = []
    for i, procs in enumerate(["1", "2", "1"]):
        outs.append(tmp_path / f"out{i}")
        export(cli, spec, outs[-1], tokenizers["bpe"], "--pack", "--num-proc", procs)
    files = [sorted(p for p in out.rglob("*") if p.is_file()) for out in outs]
    for other, paths in zip(outs[1:], files[1:], strict=True):
        assert [p.relative_to(other) for p in paths] == [p.relative_to(outs[0]) for p in files[0]]
        for p in paths:
            assert p.read_bytes() == (outs[0] / p.relative_to(other)).read_bytes(), p


@pytest.mark.parametrize(
    ("spec", "flags", "expected"),
    [
        (
            "dolly-curated.yaml",
            ("--max-length", "64"),
            "--truncation split: splits documents whose every token",
        ),
        ("domain-text.yaml", (), "--truncation split needs --max-length"),
    ],
)
def test_split_is_one_clear_error_where_it_cannot_apply(cli, tmp_path, tokenizers, spec, flags, expected):
    out = tmp_path / "out"
    result = cli(
        "export",
        SPECS / spec,
        "--out",
        out,
        "-q",
        "--tokenizer",
        tokenizers["bpe"],
        "--truncation",
        "split",
        *flags,
    )
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.slow
def test_curate_train_sft_trains_on_a_split_packed_export(cli, tmp_path, tiny_base):
    """The split, packed export goes to `curate train sft` as it is: the trainer's rows are the
    bins, chunks kept apart (padding-free, positions restarting per chunk), and it trains."""
    pytest.importorskip("trl")
    from train_fixtures import FAST
    from transformers import AutoTokenizer

    from train import sft

    docs = documents(AutoTokenizer.from_pretrained(tiny_base), seed=2)
    export_dir = tmp_path / "export"
    summary = export(cli, text_spec(tmp_path / "spec", docs), export_dir, tiny_base, "--pack")["tokenization"]
    assert summary["documents_split"] >= 4
    result = sft.main(
        [
            f"model.model_name_or_path={tiny_base}",
            f"data.export={export_dir}",
            "data.packed=true",
            f"output_dir={tmp_path / 'cpt'}",
            "max_steps=3",
            "per_device_train_batch_size=4",
            *FAST,
        ]
    )
    assert result is not None and result.trainer.padding_free
    packed = pq.read_table(export_dir / "__packed__" / "train.parquet", columns=["labels", "seq_lengths"])
    assert len(result.trainer.train_dataset) == packed.num_rows
    for i in range(packed.num_rows):
        row, want = result.trainer.train_dataset[i], packed.slice(i, 1).to_pylist()[0]
        assert row["labels"] == want["labels"] and row["seq_lengths"] == want["seq_lengths"]
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert len(losses) == 3 and all(0 < loss < 100 for loss in losses)
