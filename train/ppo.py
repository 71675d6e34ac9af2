"""``curate train ppo``: PPO (TRL ``trl.experimental.ppo``, see :mod:`train.ppo_backend`: TRL 1.12,
the ``ppo`` extra) with the policy from an SFT output, the reward model from a reward output, the
value model initialised from the reward model, and prompts from a prompt-only export: its ``prompt``
column tokenized by curate (BOS for text, the chat template's generation prompt for chats), or the
export's own ``input_ids`` when it was tokenized.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from train import common

DESCRIPTION = "PPO (TRL experimental PPOTrainer): SFT policy, reward model, prompts from an export."


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("ppo", DESCRIPTION)


def main(argv: list[str] | None = None) -> common.TrainResult | None:
    run, dry_run = common.prepare_run("ppo", argv, DESCRIPTION)
    policy_path = run.model_args.model_name_or_path
    reward_path = run.training_args.reward_model_path
    check_same_vocabulary(policy_path, reward_path)
    run.training_args.sft_model_path = policy_path  # recorded in training_args.json
    if dry_run:
        print(common.describe_run(run))
        return None
    from train.ppo_backend import load_ppo

    _, PPOTrainer = load_ppo()
    tokenizer = common.load_tokenizer(run, policy_path, padding_side="left")  # generation pads on the left
    train, evaluation = common.load_splits(run, tokenizer, run.data_args.max_prompt_tokens)
    train = tokenize_prompts(run, train, tokenizer)
    if evaluation is not None:
        evaluation = tokenize_prompts(run, evaluation, tokenizer)
    else:  # PPOTrainer samples completions from an eval set; prompt-only exports often have one split
        evaluation = train.select(range(min(len(train), run.training_args.per_device_eval_batch_size)))
    peft = common.peft_config(run, "CAUSAL_LM")
    pad = tokenizer.pad_token_id
    trainer = PPOTrainer(
        args=run.training_args,
        processing_class=tokenizer,
        model=common.load_model(run, policy_path, "causal"),
        ref_model=None if peft is not None else common.load_model(run, policy_path, "causal"),
        reward_model=common.load_model(run, reward_path, "reward", pad_token_id=pad),
        value_model=common.load_model(run, reward_path, "reward", pad_token_id=pad),
        train_dataset=train,
        eval_dataset=evaluation,
        peft_config=peft,
    )
    common.train_model(run, trainer)
    out = common.save_outputs(run, trainer)
    return common.TrainResult(out, {}, trainer.state.log_history, trainer)


def tokenize_prompts(run: common.Run, dataset: Any, tokenizer: Any) -> Any:
    """Prompt ids for PPO: curate's (already there), the export's, or TRL-style with ``data.labels: trl``."""
    if "prompt" in dataset.column_names:  # data.labels: trl: the tokenizer's own encoding, as TRL would
        dataset = dataset.map(
            lambda row: {"input_ids": tokenizer(row["prompt"])["input_ids"]}, remove_columns=["prompt"]
        )
    dataset = dataset.select_columns(["input_ids"])
    limit = run.data_args.max_prompt_tokens
    if limit is not None:
        dataset = dataset.filter(lambda row: len(row["input_ids"]) <= limit)
        if len(dataset) == 0:
            raise CurateError(
                f"{run.raw.where('data', 'max_prompt_tokens')}: every prompt is longer than {limit} tokens"
            )
    return dataset


def check_same_vocabulary(policy_path: str, reward_path: str) -> None:
    """The reward model scores the policy's token ids, so both must share one vocabulary."""

    def vocab(path: str) -> int | None:
        config = Path(path) / "config.json"
        if not config.is_file():  # a Hub id or an adapter folder: checked when loading
            return None
        try:
            value = json.loads(config.read_text()).get("vocab_size")
        except json.JSONDecodeError as err:
            raise CurateError(f"{config}: not valid JSON ({err.msg})") from None
        return value if isinstance(value, int) else None

    policy, reward = vocab(policy_path), vocab(reward_path)
    if policy is not None and reward is not None and policy != reward:
        raise CurateError(
            f"training.reward_model_path: {reward_path} has a vocabulary of {reward} tokens but the policy "
            f"{policy_path} has {policy}; train the reward model from the same base as the policy"
        )


if __name__ == "__main__":
    common.run_script(main)
