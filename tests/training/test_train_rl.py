"""KTO on an unpaired export, and GRPO / RLOO with the reward model ``curate train reward`` trains:
on a toy task where the reward model prefers one kind of answer, the policy's mean reward rises.
Tiny models on CPU, a few dozen steps, seeded.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import SPECS

pytest.importorskip("trl")

from train_fixtures import FAST, write_export

from train import grpo, kto, reward, rloo, sft

pytestmark = pytest.mark.slow

GOOD = ["thanks", "please", "kindly", "gladly", "sure", "welcome"]
BAD = ["no", "go away", "whatever", "ugh", "stop", "never"]


def test_kto_loss_falls_on_an_unpaired_export(tiny_base: Path, tmp_path: Path) -> None:
    rng = random.Random(0)
    rows = []
    for i in range(32):
        good = i % 2 == 0
        words = GOOD if good else BAD
        rows.append(
            {
                "record_id": f"u{i}",
                "prompt": f"Reply to request {i}: ",
                "completion": " ".join(rng.sample(words, 3)),
                "label": good,
            }
        )
    export = write_export(tmp_path / "unpaired", {"train": rows[:24], "test": rows[24:]}, "unpaired")
    result = kto.main(
        [f"model.model_name_or_path={tiny_base}", f"data.export={export}", f"output_dir={tmp_path / 'kto'}",
         "max_steps=12", "per_device_train_batch_size=8", "learning_rate=5e-3", "lr_scheduler_type=constant",
         "max_length=64", *FAST]
    )  # fmt: skip
    assert result is not None
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses
    assert (tmp_path / "kto" / "model.safetensors").is_file() and "eval_loss" in result.metrics


def test_kto_trains_on_the_bundled_unpaired_export(tiny_base: Path, tmp_path: Path, cli) -> None:
    export = tmp_path / "answer-feedback-kto"
    assert cli("export", SPECS / "answer-feedback-kto.yaml", "--out", export, "-q").exit_code == 0
    result = kto.main(
        [f"model.model_name_or_path={tiny_base}", f"data.export={export}", f"output_dir={tmp_path / 'kto'}",
         "max_steps=12", "per_device_train_batch_size=8", "learning_rate=5e-3", "lr_scheduler_type=constant",
         "max_length=128", *FAST]
    )  # fmt: skip
    assert result is not None
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    provenance = json.loads((tmp_path / "kto" / "provenance.json").read_text())
    assert provenance["task"] == "unpaired" and provenance["spec"]["name"] == "answer-feedback-kto"


@pytest.fixture(scope="module")
def toy_reward_model(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model that prefers polite words, trained by `curate train reward`."""
    rng = random.Random(0)
    rows = [
        {
            "prompt": f"Request {i}: ",
            "chosen": " ".join(rng.sample(GOOD, 3)),
            "rejected": " ".join(rng.sample(BAD, 3)),
        }
        for i in range(64)
    ]
    root = tmp_path_factory.mktemp("toy-rm")
    export = write_export(root / "pairs", {"train": rows[:48], "test": rows[48:]}, "preference")
    result = reward.main(
        [f"model.model_name_or_path={tiny_base}", f"data.export={export}", f"output_dir={root / 'rm'}",
         "max_steps=30", "per_device_train_batch_size=8", "learning_rate=3e-3", "max_length=64", *FAST]
    )  # fmt: skip
    assert result is not None and result.metrics["pairwise_accuracy"] >= 0.9
    return root / "rm"


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [{"record_id": f"p{i}", "prompt": "Reply to the customer: "} for i in range(32)]
    return write_export(tmp_path_factory.mktemp("prompts") / "prompts", {"train": rows}, "prompt")


@pytest.fixture(scope="module")
def mixed_policy(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SFT policy that answers the one prompt politely half the time and rudely the other half."""
    rng = random.Random(1)
    rows = [
        {
            "record_id": f"s{i}",
            "prompt": "Reply to the customer: ",
            "completion": " ".join(rng.sample(GOOD if i % 2 else BAD, 3)),
        }
        for i in range(32)
    ]
    root = tmp_path_factory.mktemp("mixed")
    export = write_export(root / "sft", {"train": rows}, "sft")
    result = sft.main(
        [f"model.model_name_or_path={tiny_base}", f"data.export={export}", f"output_dir={root / 'policy'}",
         "max_steps=40", "per_device_train_batch_size=16", "learning_rate=5e-3", "lr_scheduler_type=constant",
         "max_length=64", *FAST]
    )  # fmt: skip
    assert result is not None
    return root / "policy"


@pytest.mark.parametrize("stage", [grpo, rloo], ids=["grpo", "rloo"])
def test_online_rl_mean_reward_rises(
    stage, mixed_policy: Path, toy_reward_model: Path, prompts: Path, tmp_path: Path
) -> None:
    """The SFT policy answers politely about half the time; the reward model prefers polite answers;
    GRPO / RLOO move the policy towards them, so the mean reward of its samples rises."""
    out = tmp_path / "policy"
    result = stage.main(
        [f"model.model_name_or_path={mixed_policy}", f"data.export={prompts}", f"rewards.model={toy_reward_model}",
         f"output_dir={out}", "max_steps=12", "per_device_train_batch_size=8", "num_generations=4",
         "max_completion_length=8", "learning_rate=1e-3", "lr_scheduler_type=constant", "temperature=1.0", *FAST]
    )  # fmt: skip
    assert result is not None
    rewards = [e["reward"] for e in result.log_history if "reward" in e]
    assert len(rewards) == 12
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 1.0, rewards  # the reward model's polite/rude gap is about 5
    assert (out / "model.safetensors").is_file() and (out / "provenance.json").is_file()
    # Prompts reach the policy as curate encodes them, and the reward model scores prompt + answer + EOS.
    from curate.tokens.tokenize import RowTransform

    trainer = result.trainer
    tokenizer = trainer.processing_class
    ids, _, _ = trainer._tokenize_prompts(["Reply to the customer: "])
    assert ids == [RowTransform("prompt", tokenizer)({"prompt": "Reply to the customer: "})["input_ids"]]
    scored = trainer.reward_funcs[0].encode("Reply to the customer: ", "thanks")
    assert scored[-1] == tokenizer.eos_token_id and tokenizer.decode(scored).endswith(
        "customer: thanks<|im_end|>"
    )


def test_ppo_on_trl_1_12(tiny_base: Path, toy_reward_model: Path, prompts: Path, tmp_path: Path) -> None:
    from train.ppo_backend import available

    if not available():
        pytest.skip("PPO needs TRL 1.12 (the ppo extra: make venv-ppo)")
    from train import ppo

    out = tmp_path / "ppo"
    result = ppo.main(
        [f"model.model_name_or_path={tiny_base}", f"data.export={prompts}", f"output_dir={out}",
         f"reward_model_path={toy_reward_model}", "total_episodes=8", "per_device_train_batch_size=4",
         "gradient_accumulation_steps=1", "num_mini_batches=1", "response_length=8", *FAST]
    )  # fmt: skip
    assert result is not None
    assert [e["objective/scores"] for e in result.log_history if "objective/scores" in e]
    assert (out / "model.safetensors").is_file()
    first = result.trainer.train_dataset[0]["input_ids"]
    assert tokenizer_of(tiny_base).decode(first) == "Reply to the customer: "  # curate's prompt ids


def tokenizer_of(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)
