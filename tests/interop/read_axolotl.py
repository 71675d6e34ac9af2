"""Run inside Axolotl's own virtualenv (no curate there): load the recipe curate wrote with
Axolotl's config loader (its validation included), read the export with Axolotl's dataset
preparation, and dump the rows it trains on.

    python read_axolotl.py EXPORT_PARENT RECIPE_YAML MODEL OUT_JSON [--train-step]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def main() -> None:
    parent, recipe, model, out = sys.argv[1:5]
    train_step = "--train-step" in sys.argv
    os.chdir(parent)  # the recipe's paths start at the export's parent folder
    work = tempfile.mkdtemp(prefix="axolotl-")

    from axolotl.cli.config import load_cfg
    from axolotl.common.datasets import load_datasets, load_preference_datasets

    overrides = {
        "base_model": model,
        "output_dir": f"{work}/model",
        "dataset_prepared_path": f"{work}/prepared",
        "dataset_num_proc": 1,
        "max_steps": 1,
        "bf16": False,
        "fp16": False,
        "tf32": False,
    }
    cfg = load_cfg(recipe, **overrides)
    if cfg.rl:
        meta = load_preference_datasets(cfg=cfg)
    else:
        meta = load_datasets(cfg=cfg)
    keep = ("input_ids", "labels", "prompt", "chosen", "rejected", "completion", "label")
    rows = [{k: r[k] for k in keep if k in r} for r in meta.train_dataset.to_list()]
    result = {"rows": rows}
    if train_step:
        from axolotl.train import train

        train(cfg=cfg, dataset_meta=meta)
        result["trained_steps"] = 1
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
