"""``curate train kto``: Kahneman-Tversky optimisation with TRL's ``KTOTrainer`` on an unpaired
export: ``prompt``, ``completion`` and ``label`` (true: a desirable answer, false: an undesirable
one), TRL's unpaired preference format. Starts from an SFT output; with LoRA the reference is the
adapter switched off. TRL tokenizes the text (it has no pre-tokenized KTO input up to 1.16).
"""

from __future__ import annotations

import argparse

from train import common

DESCRIPTION = "KTO (TRL KTOTrainer) on an unpaired export: prompt, completion, label (bool)."


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("kto", DESCRIPTION)


def main(argv: list[str] | None = None) -> common.TrainResult | None:
    run, dry_run = common.prepare_run("kto", argv, DESCRIPTION)
    if dry_run:
        print(common.describe_run(run))
        return None
    from trl import KTOTrainer

    path = run.model_args.model_name_or_path
    tokenizer = common.load_tokenizer(run, path)
    train, evaluation = common.load_splits(run, tokenizer, None)
    common.check_labels_are_bool(run, train)
    model = common.load_model(run, path, "causal")
    peft = common.peft_config(run, "CAUSAL_LM")
    ref_model = None if peft is not None else common.load_model(run, path, "causal")
    trainer = KTOTrainer(
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
