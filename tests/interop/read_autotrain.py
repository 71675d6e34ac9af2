"""Run inside AutoTrain Advanced's own virtualenv (no curate there): read an export through the
recipe curate wrote, the way ``autotrain --config`` does (its config parser, its local-data
munging, its input processing and chat template step), and dump the rows it trains on.

    python read_autotrain.py EXPORT_PARENT RECIPE_YML MODEL OUT_JSON [--train-step]
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    parent, recipe, model, out = sys.argv[1:5]
    train_step = "--train-step" in sys.argv
    os.chdir(parent)  # the recipe's paths start at the export's parent folder

    from autotrain.parser import AutoTrainConfigParser
    from autotrain.project import llm_munge_data
    from autotrain.trainers.clm import utils
    from autotrain.trainers.clm.params import LLMTrainingParams

    parsed = dict(AutoTrainConfigParser(recipe).parsed_config)
    parsed["model"] = model
    params = llm_munge_data(LLMTrainingParams(**parsed), local=True)
    train, valid = utils.process_input_data(params)
    tokenizer = utils.get_tokenizer(params)
    train, valid = utils.process_data_with_chat_template(params, tokenizer, train, valid)
    rows = []
    for row in train.to_list():
        if params.trainer in ("sft", "default"):
            text = row[params.text_column]
            rows.append({"text": text, "input_ids": tokenizer(text)["input_ids"]})
        else:
            rows.append({k: row[k] for k in ("prompt", "chosen", "rejected")})
    result = {"rows": rows, "trainer": params.trainer, "eos_token_id": tokenizer.eos_token_id}
    if train_step:
        import importlib

        module = {"sft": "train_clm_sft", "default": "train_clm_default", "dpo": "train_clm_dpo"}[
            params.trainer
        ]
        trainer = importlib.import_module(f"autotrain.trainers.clm.{module}")
        trainer.train(params)
        result["trained"] = True
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
