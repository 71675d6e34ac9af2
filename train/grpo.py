"""``curate train grpo``: online RL with TRL's ``GRPOTrainer``: prompts from a prompt-only export,
completions sampled from the policy (an SFT output), scored by the reward model that
``curate train reward`` trained (``rewards.model``) plus optional rule rewards (``rewards.length_*``).
Prompts and scored sequences are tokenized by curate (:mod:`train.online_rl`).
"""

from __future__ import annotations

import argparse

from train import common, online_rl

DESCRIPTION = "GRPO (TRL GRPOTrainer): policy + curate reward model (+ length rule) on a prompt-only export."


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("grpo", DESCRIPTION)


def main(argv: list[str] | None = None) -> common.TrainResult | None:
    return online_rl.train_online("grpo", argv, DESCRIPTION)


if __name__ == "__main__":
    common.run_script(main)
