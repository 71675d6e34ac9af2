"""TRL trains on curate's labels by default: on a SentencePiece-style tokenizer where TRL's own
prompt/completion boundary is wrong (``"Answer: "`` alone ends in a lone ``▁``, joined it becomes
``▁Paris``: TRL masks ``▁Paris`` and trains only ``</s>``), the batches the SFT trainer draws hold
curate's labels (`` Paris</s>``). Reward pairs are curate's ``chosen_ids``/``rejected_ids``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from train_fixtures import FAST, write_export

from curate.tokens.tokenize import IGNORE_INDEX, RowTransform
from train import reward, sft

pytestmark = pytest.mark.slow

CITIES = [("France", "Paris"), ("Spain", "Madrid"), ("Japan", "Tokyo"), ("Peru", "Lima")]


def qa_rows() -> list[dict[str, str]]:
    return [
        {"prompt": f"Question: capital of {c}?\nAnswer: ", "completion": city, "record_id": f"q{i}"}
        for i, (c, city) in enumerate(CITIES)
    ]


def trained_text(tokenizer, ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX])


def batch_rows(trainer) -> list[tuple[list[int], list[int]]]:
    """Every row of every batch the trainer's own dataloader yields (padding dropped)."""
    rows = []
    for batch in trainer.get_train_dataloader():
        for ids, labels, mask in zip(
            batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
        ):
            keep = mask.bool()
            rows.append((ids[keep].tolist(), labels[keep].tolist()))
    return rows


def test_sft_trains_on_curates_labels_where_trls_boundary_is_wrong(spm_base: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from curate.testing.trl_reference import trl_sft_prepare

    tokenizer = AutoTokenizer.from_pretrained(spm_base)
    export = write_export(tmp_path / "qa", {"train": qa_rows()}, "sft")
    common = [f"model.model_name_or_path={spm_base}", f"data.export={export}", "max_steps=1", *FAST]
    result = sft.main([*common, f"output_dir={tmp_path / 'curate'}", "per_device_train_batch_size=2"])
    assert result is not None
    seen = batch_rows(result.trainer)
    assert len(seen) == len(CITIES)
    expected = RowTransform("sft", tokenizer)
    by_ids = {}
    for row in qa_rows():
        labelled = expected(row)
        assert not isinstance(labelled, tuple)
        by_ids[tuple(labelled["input_ids"])] = labelled["labels"]
    for ids, labels in seen:
        assert labels == by_ids[tuple(ids)]  # exactly curate's labels, in the batch TRL trains on
        assert trained_text(tokenizer, ids, labels) in {f"{city}</s>" for _, city in CITIES}
        assert tokenizer.convert_ids_to_tokens(ids[0]) == "<s>"

    # TRL 1.12's own preparation of the same rows cuts the answer's first token: `</s>` alone for
    # Paris, `adrid</s>` for Madrid; the model would never learn to start the answer. TRL 1.13+
    # finds this boundary by common prefix and agrees with curate here.
    import trl
    from datasets import Dataset
    from packaging.version import Version

    plain = Dataset.from_list([{k: r[k] for k in ("prompt", "completion")} for r in qa_rows()])
    trl_texts = [
        trained_text(tokenizer, r["input_ids"], r["labels"]) for r in trl_sft_prepare(plain, tokenizer)
    ]
    right = [f"{city}</s>" for _, city in CITIES]
    if Version(trl.__version__) < Version("1.13"):
        assert trl_texts[0] == "</s>"
        assert all(text != want for text, want in zip(trl_texts, right, strict=True))
    else:
        assert trl_texts == right

    # ...which is what `data.labels: trl` opts into, and provenance says who built the labels.
    opt_in = sft.main([*common, f"output_dir={tmp_path / 'trl'}", "data.labels=trl"])
    assert opt_in is not None
    assert json.loads((tmp_path / "trl" / "provenance.json").read_text())["labels"] == {"by": "trl"}
    labels = json.loads((tmp_path / "curate" / "provenance.json").read_text())["labels"]
    assert labels["by"] == "curate" and labels["train.parquet"]["rows_ok"] == len(CITIES)
    assert (
        "| labels built by | curate (train.parquet: 4 of 4 rows, dropped none) |"
        in (tmp_path / "curate" / "README.md").read_text()
    )


def test_rows_over_max_length_are_dropped_and_counted(spm_base: Path, tmp_path: Path) -> None:
    rows = [
        *qa_rows(),
        {"prompt": "Question: " + "very " * 80 + "long?\nAnswer: ", "completion": "No", "record_id": "x"},
    ]
    export = write_export(tmp_path / "qa", {"train": rows}, "sft")
    result = sft.main(
        [f"model.model_name_or_path={spm_base}", f"data.export={export}", f"output_dir={tmp_path / 'o'}",
         "max_steps=1", "max_length=48", *FAST]
    )  # fmt: skip
    assert result is not None and len(result.trainer.train_dataset) == len(CITIES)
    summary = json.loads((tmp_path / "o" / "provenance.json").read_text())["labels"]["train.parquet"]
    assert summary["rejected_by_reason"] == {"too_long": 1} and summary["max_length"] == 48


def test_reward_pairs_are_curates_token_ids(spm_base: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spm_base)
    rows = [
        {
            "prompt": f"Question: capital of {c}?\nAnswer: ",
            "chosen": city,
            "rejected": "No idea",
            "margin": 1.0,
        }
        for c, city in CITIES
    ]
    export = write_export(tmp_path / "pairs", {"train": rows}, "preference")
    result = reward.main(
        [f"model.model_name_or_path={spm_base}", f"data.export={export}", f"output_dir={tmp_path / 'rm'}",
         "max_steps=1", "max_length=64", *FAST]
    )  # fmt: skip
    assert result is not None
    expected = RowTransform("preference", tokenizer)
    got = result.trainer.train_dataset
    for i, row in enumerate(rows):
        pair = expected(row)
        assert not isinstance(pair, tuple)
        assert got[i]["chosen_ids"] == pair["chosen_ids"] and got[i]["rejected_ids"] == pair["rejected_ids"]
        assert tokenizer.decode(pair["chosen_ids"]).endswith(f"Answer: {CITIES[i][1]}</s>")
        assert tokenizer.convert_ids_to_tokens(pair["chosen_ids"][0]) == "<s>"


def test_generation_encodes_prompts_as_training_did(spm_base: Path, tiny_base: Path) -> None:
    """Text prompts get the BOS training gave them; chats get the template's generation prompt."""
    from train.generate import encode_prompt, load_for_generation

    loaded = load_for_generation(spm_base)
    tokenizer = loaded.tokenizer
    prompt = "Question: capital of France?\nAnswer:\n"
    ids = encode_prompt(loaded, prompt)
    trained = RowTransform("sft", tokenizer)({"prompt": prompt, "completion": "Paris"})
    assert not isinstance(trained, tuple)
    assert ids[0] == tokenizer.bos_token_id
    assert ids == trained["input_ids"][: len(ids)]  # the exact prefix the model was trained on
    assert trained["labels"][len(ids) - 1] == IGNORE_INDEX and trained["labels"][len(ids)] != IGNORE_INDEX

    chat = load_for_generation(tiny_base)
    messages = [{"role": "user", "content": "Capital of France?"}]
    expected = chat.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    assert encode_prompt(chat, messages) == list(expected["input_ids"])


def test_template_that_does_not_fit_the_rows_is_one_error(tiny_base: Path, tmp_path: Path) -> None:
    from curate.errors import CurateError

    export = write_export(tmp_path / "qa", {"train": qa_rows()}, "sft")
    argv = [
        f"model.model_name_or_path={tiny_base}",
        f"data.export={export}",
        f"output_dir={tmp_path / 'o'}",
        *FAST,
    ]
    with pytest.raises(
        CurateError,
        match=r"^command line \(data.template=chatml\): data.template: chatml is a chat template but the rows are text$",
    ):
        sft.main([*argv, "data.template=chatml"])
    assert not (tmp_path / "o").exists()  # nothing loaded, nothing written
