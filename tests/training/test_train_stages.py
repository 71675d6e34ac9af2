"""The training stages for real, on CPU: tiny Llama models (curate.testing.tiny_models) with tiny
tokenizers (curate.testing.tiny), saved with ``save_pretrained`` and loaded back by the stage code,
trained by TRL's own trainers. The demo chain export -> SFT -> reward -> DPO -> generate runs end to
end (PPO, which needs TRL 1.12, has its own test); toy tasks show that SFT learns and the reward
model ranks pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from helpers import REPO, SPECS, manifest_of
from train_fixtures import FAST, write_table_spec

import curate
from train import dpo, reward, sft
from train.generate import ChatSession, Sampling, generate, load_for_generation, render_prompt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_model(tiny_base: Path) -> Path:
    return tiny_base  # the session's tiny Llama (tests/train_fixtures.py), built once for all tests


@pytest.fixture(scope="module")
def demo_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("demo-exports")
    out = {}
    for name in (
        "dolly-curated",
        "ultrafeedback-ratings",
        "dolly-prompts",
        "dolly-curated-preference",
        "chat-review",
    ):
        curate.export(SPECS / f"{name}.yaml", root / name)
        out[name] = root / name
    return out


def card_matches_manifest(output: Path, export: Path) -> None:
    manifest = manifest_of(export)
    card = (output / "README.md").read_text()
    assert manifest["spec"]["sha256"] in card
    assert manifest["fingerprint"] in card
    provenance = json.loads((output / "provenance.json").read_text())
    assert provenance["fingerprint"] == manifest["fingerprint"]
    assert provenance["counts"] == manifest["counts"]
    assert provenance["template"] == manifest["template"]
    assert (output / "train_config.yaml").is_file() and (output / "tokenizer_config.json").is_file()
    assert (output / ".curate-train").is_file()  # curate's marker: a later run may write here again


def test_demo_chain_sft_reward_dpo_generate(base_model, demo_exports, tmp_path, cli):
    # SFT on the Dolly review (prompt/completion), a few steps.
    sft_out = tmp_path / "sft"
    result = sft.main(
        [
            str(REPO / "train/configs/sft.yaml"),
            f"model.model_name_or_path={base_model}",
            f"data.export={demo_exports['dolly-curated']}",
            f"output_dir={sft_out}",
            "max_steps=4",
            *FAST,
        ]
    )
    assert result is not None and (sft_out / "model.safetensors").is_file()
    # prompt/completion rows: TRL trains on curate's labels (the completion and EOS only)
    labels = json.loads((sft_out / "provenance.json").read_text())["labels"]
    assert labels["by"] == "curate" and labels["train.parquet"]["rows_ok"] > 0
    row = result.trainer.train_dataset[0]
    assert (
        row["labels"][0] == -100 and row["labels"][-1] == row["input_ids"][-1]
    )  # prompt masked, EOS trained
    card_matches_manifest(sft_out, demo_exports["dolly-curated"])

    # Reward model from the SFT output on rating pairs (with margins).
    rm_out = tmp_path / "reward"
    result = reward.main(
        [
            str(REPO / "train/configs/reward.yaml"),
            f"model.model_name_or_path={sft_out}",
            f"data.export={demo_exports['ultrafeedback-ratings']}",
            f"output_dir={rm_out}",
            "max_steps=4",
            "max_length=256",
            *FAST,
        ]
    )
    assert result is not None and 0.0 <= result.metrics["pairwise_accuracy"] <= 1.0
    assert "margin" in result.trainer.train_dataset.column_names
    config = json.loads((rm_out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"] and len(config["id2label"]) == 1
    card_matches_manifest(rm_out, demo_exports["ultrafeedback-ratings"])

    # DPO with LoRA from the SFT output: only the adapter is written.
    dpo_out = tmp_path / "dpo"
    result = dpo.main(
        [
            str(REPO / "train/configs/dpo.yaml"),
            f"model.model_name_or_path={sft_out}",
            f"data.export={demo_exports['dolly-curated-preference']}",
            f"output_dir={dpo_out}",
            "max_steps=3",
            "max_length=128",
            *FAST,
        ]
    )
    assert result is not None and "eval_rewards/accuracies" in result.metrics
    assert (dpo_out / "adapter_model.safetensors").is_file() and not (dpo_out / "model.safetensors").exists()
    card_matches_manifest(dpo_out, demo_exports["dolly-curated-preference"])

    # Generate from the SFT model and chat with the DPO adapter (on its SFT base).
    loaded = load_for_generation(sft_out)
    prompt = render_prompt(loaded, [{"role": "user", "content": "Explain tides."}])
    assert prompt.startswith("Below is an instruction") and prompt.endswith("### Response:\n")  # alpaca
    text = generate(loaded, prompt, Sampling(max_new_tokens=6, temperature=0.8, top_k=20, top_p=0.9, seed=0))
    assert isinstance(text, str)
    result_cli = cli("chat", dpo_out, "--max-new-tokens", "5", "--seed", "0")
    assert result_cli.exit_code == 0  # stdin is empty: the loop ends at once
    session = ChatSession(load_for_generation(dpo_out), Sampling(max_new_tokens=5, temperature=0, seed=0))
    session.reply("Hello")
    session.reply("And then?")
    assert [m["role"] for m in session.history] == ["user", "assistant", "user", "assistant"]
    rendered = render_prompt(session.loaded, session.history[:3])
    assert rendered.count("### Instruction:") == 2 and "Hello" in rendered  # history kept


COUNTRIES = [
    "France",
    "Spain",
    "Japan",
    "Peru",
    "Chile",
    "Kenya",
    "Nepal",
    "Egypt",
    "Italy",
    "Chad",
    "Oman",
    "Cuba",
]
CITIES = [
    "Paris",
    "Madrid",
    "Tokyo",
    "Lima",
    "Santiago",
    "Nairobi",
    "Kathmandu",
    "Cairo",
    "Rome",
    "Ndjamena",
    "Muscat",
    "Havana",
]


def test_sft_learns_a_toy_task_from_a_spec(base_model, tmp_path, cli):
    """Loss drops clearly and the model answers a training question; data comes from spec + source."""
    rows = [
        {"id": f"q{i}", "instruction": f"Capital of {c}?", "response": c2}
        for i, (c, c2) in enumerate(zip(COUNTRIES, CITIES, strict=True))
    ]
    columns = "  instruction: {field: instruction}\n  response: {field: response}"
    spec = write_table_spec(tmp_path / "toy", "capitals", "sft", rows, columns, "{train: 1.0}")
    out = tmp_path / "sft-toy"
    result = sft.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.spec={spec}",
            f"output_dir={out}",
            "max_steps=60",
            "per_device_train_batch_size=12",
            "learning_rate=5e-3",
            "lr_scheduler_type=constant",
            "max_length=64",
            *FAST,
        ]
    )
    assert result is not None
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert losses[-1] < 0.2 * losses[0], losses
    assert (out / "data" / "manifest.json").is_file()  # exported on the fly, next to the model
    loaded = load_for_generation(out)
    answer = generate(
        loaded,
        render_prompt(loaded, [{"role": "user", "content": "Capital of Japan?"}]),
        Sampling(max_new_tokens=8, temperature=0),
    )
    assert answer.strip() == "Tokyo"
    shown = cli("generate", out, "-p", "Capital of Peru?", "--temperature", "0", "--max-new-tokens", "8")
    assert shown.exit_code == 0 and shown.stdout.strip() == "Lima"


def test_reward_model_ranks_toy_pairs(base_model, tmp_path):
    """Chosen answers are polite, rejected ones rude: held-out pairwise accuracy must be high."""
    import random

    rng = random.Random(0)
    polite, rude = (
        ["thanks", "please", "kindly", "gladly", "sure"],
        ["no", "go away", "whatever", "ugh", "stop"],
    )
    rows = []
    for i in range(96):
        rows.append(
            {
                "id": f"p{i}",
                "prompt": f"Request {i}: {rng.choice(COUNTRIES)}",
                "chosen": " ".join(rng.sample(polite, 3)),
                "rejected": " ".join(rng.sample(rude, 3)),
            }
        )
    columns = "  prompt: {field: prompt}\n  chosen: {field: chosen}\n  rejected: {field: rejected}"
    spec = write_table_spec(
        tmp_path / "toy", "polite", "preference", rows, columns, "{train: 0.75, test: 0.25}"
    )
    result = reward.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.spec={spec}",
            f"output_dir={tmp_path / 'rm-toy'}",
            "max_steps=30",
            "per_device_train_batch_size=8",
            "learning_rate=3e-3",
            "max_length=64",
            *FAST,
        ]
    )
    assert result is not None
    assert result.metrics["pairwise_accuracy"] >= 0.9, result.metrics


def test_lora_sft_saves_only_the_adapter(base_model, demo_exports, tmp_path):
    out = tmp_path / "sft-lora"
    result = sft.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.export={demo_exports['dolly-curated']}",
            f"output_dir={out}",
            "use_peft=true",
            "lora_r=4",
            "lora_target_modules=[q_proj,v_proj]",
            "max_steps=2",
            "max_length=256",
            *FAST,
        ]
    )
    assert result is not None
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]
    assert not (out / "model.safetensors").exists()
    assert "library_name: peft" in (out / "README.md").read_text()
    loaded = load_for_generation(out)  # the adapter on its base
    assert type(loaded.model).__name__ == "PeftModelForCausalLM"


def test_rows_all_dropped_by_max_length_is_one_clear_error(base_model, demo_exports, tmp_path):
    from curate.errors import CurateError

    with pytest.raises(
        CurateError,
        match=r"train.parquet: no row left after curate's tokenization \(max_length 8\); dropped: too_long",
    ):
        sft.main(
            [
                f"model.model_name_or_path={base_model}",
                f"data.export={demo_exports['dolly-curated']}",
                f"output_dir={tmp_path / 'short'}",
                "max_length=8",  # shorter than every alpaca prompt
                *FAST,
            ]
        )


def test_sft_chat_export_trains_on_assistant_turns_only(base_model, demo_exports, tmp_path):
    result = sft.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.export={demo_exports['chat-review']}",
            f"output_dir={tmp_path / 'sft-chat'}",
            "assistant_only_loss=true",
            "max_steps=1",
            "max_length=256",
            *FAST,
        ]
    )
    assert result is not None
    trainer = result.trainer
    row = trainer.train_dataset[0]
    trained = trainer.processing_class.decode(
        [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
    )
    assert "<|im_start|>user" not in trained and "<|im_start|>system" not in trained
    assert "<|im_end|>" in trained  # the model learns to stop


def test_sft_uses_pretokenized_and_packed_exports_as_is(base_model, tmp_path, cli):
    export = tmp_path / "dolly-tokens"
    made = cli(
        "export", SPECS / "dolly-curated.yaml", "--out", export, "--tokenizer", base_model,
        "--max-length", "128", "--pack", "-q",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    import pyarrow.parquet as pq

    result = sft.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.export={export}",
            f"output_dir={tmp_path / 'a'}",
            "max_steps=1",
            *FAST,
        ]
    )
    assert result is not None
    expected = (
        pq.read_table(export / "train.parquet", columns=["input_ids", "labels"]).slice(0, 1).to_pylist()[0]
    )
    row = result.trainer.train_dataset[0]
    assert (
        row["input_ids"] == expected["input_ids"] and row["labels"] == expected["labels"]
    )  # no re-tokenizing

    result = sft.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.export={export}",
            "data.packed=true",
            f"output_dir={tmp_path / 'b'}",
            "max_steps=1",
            *FAST,
        ]
    )
    assert result is not None
    packed = (
        pq.read_table(export / "__packed__" / "train.parquet", columns=["labels", "seq_lengths"])
        .slice(0, 1)
        .to_pylist()[0]
    )
    row = result.trainer.train_dataset[0]
    assert row["labels"] == packed["labels"] and row["seq_lengths"] == packed["seq_lengths"]
    assert result.trainer.padding_free  # documents in a bin stay apart (positions restart per document)


def test_continued_pretraining_on_a_packed_text_export(base_model, tmp_path, cli):
    """task: text -> tokenized with every token trained -> packed blocks -> curate train sft."""
    import pyarrow.parquet as pq

    export = tmp_path / "domain-text"
    made = cli(
        "export", SPECS / "domain-text.yaml", "--out", export, "--tokenizer", base_model,
        "--max-length", "128", "--truncation", "cut_completion", "--pack", "-q",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    result = sft.main(
        [
            f"model.model_name_or_path={base_model}",
            f"data.export={export}",
            "data.packed=true",
            f"output_dir={tmp_path / 'cpt'}",
            "max_steps=3",
            *FAST,
        ]
    )
    assert result is not None
    packed = pq.read_table(export / "__packed__" / "train.parquet").slice(0, 1).to_pylist()[0]
    row = result.trainer.train_dataset[0]
    assert row["labels"] == packed["labels"] and row["seq_lengths"] == packed["seq_lengths"]
    trained = sum(label != -100 for label in packed["labels"])
    assert trained >= len(packed["labels"]) - len(packed["seq_lengths"])  # all but at most a BOS each
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert losses and all(loss > 0 for loss in losses)
    provenance = json.loads((tmp_path / "cpt" / "provenance.json").read_text())
    assert provenance["task"] == "text"
