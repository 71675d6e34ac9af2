"""LLaMA-Factory: a ``dataset_info.json`` entry per split (``formatting: alpaca`` on curate's
rendered text columns, ``sharegpt`` on ``messages``; ``ranking: true`` for preference rows,
``kto_tag`` for unpaired ones) and a training YAML naming the template and the stage."""

from __future__ import annotations

import json
from typing import Any

from curate.recipes.base import ExportFacts, Recipe, RecipeFiles, RowReader, dump_yaml

#: curate's chat templates -> LLaMA-Factory's template of the same text (checked by make test-interop)
CHAT_TEMPLATES = {"chatml": "chatml", "zephyr": "zephyr"}
STAGES = {"sft": "sft", "chat": "sft", "preference": "dpo", "unpaired": "kto", "text": "pt"}


class LlamaFactory(Recipe):
    tool = "llamafactory"
    version = "0.9.5"
    takes = {
        "sft": "stage sft: the rendered prompt as the user turn, the completion trained",
        "chat": "stage sft: sharegpt messages, assistant turns trained",
        "preference": "stage dpo: ranking on prompt/chosen/rejected",
        "unpaired": "stage kto: kto_tag from label",
        "text": "stage pt: every token of text",
    }

    def why_not(self, task: str) -> str:
        if task == "prompt":
            return "prompt rows have no answer to train; LLaMA-Factory's ppo stage reads prompt/response pairs and a reward model"
        return f"task {task} has no LLaMA-Factory dataset format"

    def refuse(self, facts: ExportFacts) -> str | None:
        if facts.task == "chat":
            if facts.chat_template is not None and facts.chat_template not in (*CHAT_TEMPLATES, "tokenizer"):
                return (
                    f"the export was tokenized with template {facts.chat_template}, which LLaMA-Factory has "
                    f"no template for (it has {', '.join(CHAT_TEMPLATES)} and the model's own)"
                )
            return facts.needs_json(("messages",))
        if facts.style == "conversational":
            return (
                f"a conversational {facts.task} export holds its answers as message lists; LLaMA-Factory's "
                "sharegpt format reads one message per answer: export with style: text"
            )
        return None

    def build(self, facts: ExportFacts, model: str, rows: RowReader) -> RecipeFiles:
        info = {f"{facts.spec_name}_{split}": self._entry(facts, split) for split in facts.splits}
        config: dict[str, Any] = {
            "model_name_or_path": model,
            "stage": STAGES[facts.task],
            "do_train": True,
            "finetuning_type": "full",
            "dataset_dir": f"{facts.recipe_dir}/llamafactory",
            "dataset": f"{facts.spec_name}_{facts.train_split}",
        }
        if facts.eval_split is not None:
            config["eval_dataset"] = f"{facts.spec_name}_{facts.eval_split}"
        template = self._template(facts)
        if template is not None:
            config["template"] = template
        if facts.task == "chat" and facts.train_on != "all_assistant":
            config["mask_history"] = True  # only the last assistant turn of a row trains
        if facts.task == "text":
            config["packing"] = False
        config.update(
            {
                "cutoff_len": 2048,
                "output_dir": f"{facts.name}-llamafactory",
                "per_device_train_batch_size": 1,
                "num_train_epochs": 1.0,
                "learning_rate": 1.0e-5,
                "overwrite_cache": True,
                "report_to": "none",
            }
        )
        files = {
            "dataset_info.json": json.dumps(info, indent=2, ensure_ascii=False) + "\n",
            "train.yaml": dump_yaml(config),
        }
        return RecipeFiles(files, f"llamafactory-cli train {facts.recipe_dir}/llamafactory/train.yaml")

    def _template(self, facts: ExportFacts) -> str | None:
        """The template LLaMA-Factory renders with: ``empty`` over curate's rendered text (the
        prompt already carries curate's template), the chat template for messages (none: the
        model's own, which LLaMA-Factory reads from the tokenizer)."""
        if facts.task == "chat":
            return CHAT_TEMPLATES.get(facts.chat_template or "")
        return "empty"

    def _entry(self, facts: ExportFacts, split: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"file_name": f"../../{split}.{facts.format}"}
        if facts.task == "chat":
            entry["formatting"] = "sharegpt"
            entry["columns"] = {"messages": "messages"}
            entry["tags"] = {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            }
            return entry
        entry["formatting"] = "alpaca"
        if facts.task == "sft":
            entry["columns"] = {"prompt": "prompt", "response": "completion"}
        elif facts.task == "preference":
            entry["ranking"] = True
            entry["columns"] = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}
        elif facts.task == "unpaired":
            entry["columns"] = {"prompt": "prompt", "response": "completion", "kto_tag": "label"}
        else:  # text
            entry["columns"] = {"prompt": "text"}
        return entry
