"""``curate train reward``: a reward model (one-score sequence classifier) with TRL's
``RewardTrainer`` on chosen/rejected pairs; the export's ``margin`` enters the loss when present.
Pairs are tokenized by curate (``chosen_ids``/``rejected_ids``: prompt + answer + EOS, as the
policy will later be scored) unless ``data.labels: trl``.
Reports pairwise accuracy (chosen scored above rejected) on the eval split.
"""

from __future__ import annotations

import argparse
from typing import Any

from train import common, dist

DESCRIPTION = "Reward model (TRL RewardTrainer) on a preference export; reports pairwise accuracy."


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("reward", DESCRIPTION)


def main(argv: list[str] | None = None) -> common.TrainResult | None:
    run, dry_run = common.prepare_run("reward", argv, DESCRIPTION)
    if dry_run:
        print(common.describe_run(run))
        return None
    from trl import RewardTrainer

    path = run.model_args.model_name_or_path
    tokenizer = common.load_tokenizer(run, path)
    train, evaluation = common.load_splits(run, tokenizer, run.training_args.max_length)
    model = common.load_model(run, path, "reward", pad_token_id=tokenizer.pad_token_id)
    trainer = RewardTrainer(
        model=model,
        args=run.training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=common.peft_config(run, "SEQ_CLS"),
    )
    common.check_prepared(run, trainer)
    common.train_model(run, trainer)
    metrics: dict[str, float] = {}
    if evaluation is not None and run.eval_file is not None:
        metrics = trainer.evaluate()
        metrics["pairwise_accuracy"] = pairwise_accuracy(trainer, trainer.eval_dataset)
        if dist.is_main_process():
            print(f"pairwise accuracy on {run.eval_file.path.name}: {metrics['pairwise_accuracy']:.3f}")
    out = common.save_outputs(run, trainer, metrics)
    return common.TrainResult(out, metrics, trainer.state.log_history, trainer)


def pairwise_accuracy(trainer: Any, dataset: Any) -> float:
    """Share of pairs whose chosen text scores strictly above the rejected one (ties count as misses)."""
    import torch

    model = trainer.model.eval()
    size = trainer.args.per_device_eval_batch_size
    wins = 0
    for start in range(0, len(dataset), size):
        rows = [dataset[i] for i in range(start, min(start + size, len(dataset)))]
        batch = trainer.data_collator([{k: r[k] for k in ("chosen_ids", "rejected_ids")} for r in rows])
        with torch.no_grad():
            scores = model(
                input_ids=batch["input_ids"].to(model.device),
                attention_mask=batch["attention_mask"].to(model.device),
            ).logits[:, 0]
        chosen, rejected = scores.chunk(2)  # the collator puts every chosen text first
        wins += int((chosen > rejected).sum())
    return wins / len(dataset)


if __name__ == "__main__":
    common.run_script(main)
