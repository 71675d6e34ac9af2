"""``curate train sft``: supervised fine-tuning with TRL's ``SFTTrainer`` on an SFT or chat export.

By default the rows are tokenized by curate (:mod:`curate.tokens.tokenize`) with the model's tokenizer
before TRL sees them: TRL trains on curate's ``input_ids``/``labels`` (the completion, or every
assistant turn with its end marker), found exactly where TRL's own prompt/completion split is not.
``data.labels: trl`` hands the text to TRL instead. Pre-tokenized exports are used as they are,
packed ones (``data.packed``) without re-packing.
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
    train, evaluation = common.load_splits(run, tokenizer, args.max_length)
    if run.tokenized:
        common.check_token_ids(run, train, tokenizer)
    if run.labels.get("by") == "curate":
        # curate's labels already train the assistant turns / the completion only; TRL's flags for it
        # apply to text rows it tokenizes itself
        args.assistant_only_loss = False
    model = common.load_model(run, run.model_args.model_name_or_path, "causal")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=common.peft_config(run, "CAUSAL_LM"),
    )
    return common.train_and_save(run, trainer, evaluation)


if __name__ == "__main__":
    common.run_script(main)
