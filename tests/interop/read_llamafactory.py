"""Run inside LLaMA-Factory's own virtualenv (no curate there): read an export through the
recipe curate wrote, with LLaMA-Factory's data loader, and dump the rows it would train on.

    python read_llamafactory.py EXPORT_PARENT RECIPE_YAML MODEL OUT_JSON [--train-step]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import yaml


def main() -> None:
    parent, recipe, model, out = sys.argv[1:5]
    train_step = "--train-step" in sys.argv
    os.chdir(parent)  # the recipe's paths start at the export's parent folder
    with open(recipe, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    work = tempfile.mkdtemp(prefix="lf-")
    config.update(
        model_name_or_path=model, output_dir=work, overwrite_output_dir=True, preprocessing_num_workers=None
    )
    config.pop("eval_dataset", None)

    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, finetuning_args, _ = get_train_args(dict(config))
    module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
    # the stage its own workflows load data for (train/<stage>/workflow.py): DPO reads pairs as "rm"
    stage = {"dpo": "rm"}.get(finetuning_args.stage, finetuning_args.stage)
    dataset = get_dataset(template, model_args, data_args, training_args, stage, **module)
    rows = dataset["train_dataset"].to_list()
    keep = (
        "input_ids",
        "labels",
        "chosen_input_ids",
        "chosen_labels",
        "rejected_input_ids",
        "rejected_labels",
        "kto_tags",
    )
    result = {"rows": [{k: r[k] for k in keep if k in r} for r in rows]}
    if train_step:
        from llamafactory.train.tuner import run_exp

        run_exp({**config, "max_steps": 1, "save_strategy": "no", "logging_steps": 1, "use_cpu": True})
        result["trained_steps"] = 1
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
