"""``curate train sft``: supervised fine-tuning with TRL's ``SFTTrainer`` on an SFT or chat export.

prompt/completion rows train on the completion only and messages rows (with
``assistant_only_loss``) on the assistant turns, as TRL decides; pre-tokenized exports
(``input_ids``/``labels``) are used as they are, packed ones (``data.packed``) without re-packing.
"""

from __future__ import annotations

import argparse

from train import common

DESCRIPTION = "Supervised fine-tuning (TRL SFTTrainer) on a curate export."


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("sft", DESCRIPTION)


def main(argv: list[str] | None = None) -> common.TrainResult | None:
    run, dry_run = common.prepare_run("sft", argv, DESCRIPTION)
    if dry_run:
        print(common.describe_run(run))
        return None
    from trl import SFTTrainer

    args = run.training_args
    if run.data_args.packed:
        # Rows are already packed to length; TRL only has to keep documents apart (padding-free).
        args.packing, args.padding_free, args.max_length = False, True, None
    tokenizer = common.load_tokenizer(run, run.model_args.model_name_or_path)
    train = common.load_split(run, run.train_file, run.data_args.max_train_rows)
    evaluation = run.eval_file and common.load_split(run, run.eval_file, run.data_args.max_eval_rows)
    if run.tokenized:
        common.check_token_ids(run, train, tokenizer)
    model = common.load_model(run, run.model_args.model_name_or_path, "causal")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation or None,
        processing_class=tokenizer,
        peft_config=common.peft_config(run, "CAUSAL_LM"),
    )
    common.check_prepared(run, trainer)
    trainer.train()
    metrics = trainer.evaluate() if evaluation else {}
    out = common.save_outputs(run, trainer, metrics)
    return common.TrainResult(out, metrics, trainer.state.log_history, trainer)


if __name__ == "__main__":
    common.run_script(main)
