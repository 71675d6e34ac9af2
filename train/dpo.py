"""``curate train dpo``: direct preference optimisation with TRL's ``DPOTrainer`` on a preference
export (prompt/chosen/rejected), starting from an SFT output. With LoRA the reference model is
the base with the adapter switched off; otherwise a second copy of the starting model.
"""

from __future__ import annotations

import argparse

from train import common

DESCRIPTION = "Direct preference optimisation (TRL DPOTrainer) on a preference export."


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("dpo", DESCRIPTION)


def main(argv: list[str] | None = None) -> common.TrainResult | None:
    run, dry_run = common.prepare_run("dpo", argv, DESCRIPTION)
    if dry_run:
        print(common.describe_run(run))
        return None
    from trl import DPOTrainer

    path = run.model_args.model_name_or_path
    tokenizer = common.load_tokenizer(run, path)
    train, evaluation = common.load_splits(run, tokenizer, None)  # text: TRL has no tokenized DPO input
    model = common.load_model(run, path, "causal")
    peft = common.peft_config(run, "CAUSAL_LM")
    # Passed explicitly: TRL would reload the reference from config._name_or_path, which for a
    # merged LoRA output names the base model, not the SFT model we start from.
    ref_model = None if peft is not None else common.load_model(run, path, "causal")
    trainer = DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=run.training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=peft,
    )
    return common.train_and_save(run, trainer, evaluation)


if __name__ == "__main__":
    common.run_script(main)
