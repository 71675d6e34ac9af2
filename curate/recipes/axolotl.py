"""Axolotl: a config whose ``datasets:`` block reads the split files as curate meant them -
``type: chat_template`` with the role/content mapping and the export's chat template for chats,
a user-defined instruction format over curate's rendered prompt for SFT (prompt masked,
completion and EOS trained), the user-defined DPO and KTO formats for preference and unpaired
rows, ``completion`` for text."""

from __future__ import annotations

from typing import Any

from curate.recipes.base import ExportFacts, Recipe, RecipeFiles, RowReader, dump_yaml

#: curate's chat templates -> what Axolotl is told (``chat_template``, and the Jinja text where
#: Axolotl has no template of the same text); the model's own template: ``tokenizer_default``
ZEPHYR_JINJA = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '</s>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
CHAT_TEMPLATES: dict[str, dict[str, str]] = {
    "chatml": {"chat_template": "chatml"},
    "zephyr": {"chat_template": "jinja", "chat_template_jinja": ZEPHYR_JINJA},
    "tokenizer": {"chat_template": "tokenizer_default"},
}


class Axolotl(Recipe):
    tool = "axolotl"
    version = "0.19.0"
    takes = {
        "sft": "a user-defined instruction format: curate's rendered prompt masked, completion + EOS trained",
        "chat": "type: chat_template, assistant turns trained",
        "preference": "rl: dpo, user-defined prompt/chosen/rejected",
        "unpaired": "rl: kto, user-defined prompt/completion/label",
        "text": "type: completion, every token of text",
    }

    def why_not(self, task: str) -> str:
        if task == "prompt":
            return (
                "prompt rows have no answer to train; Axolotl's GRPO needs a reward function written for it"
            )
        return f"task {task} has no Axolotl dataset type"

    def refuse(self, facts: ExportFacts) -> str | None:
        if facts.task == "chat":
            if facts.train_on != "all_assistant":
                return (
                    f"train_on: {facts.train_on} trains only a row's last assistant turn; Axolotl's chat_template "
                    "type trains every turn of the roles it is given: export with train_on: all_assistant"
                )
            template = facts.chat_template or "tokenizer"
            if template not in CHAT_TEMPLATES:
                return f"the export was tokenized with template {template}, which Axolotl has no template for"
            return facts.needs_json(("messages",))
        if facts.style == "conversational":
            return (
                f"a conversational {facts.task} export holds prompts and answers as message lists; "
                "the recipe reads curate's rendered text: export with style: text"
            )
        return None

    def build(self, facts: ExportFacts, model: str, rows: RowReader) -> RecipeFiles:
        config: dict[str, Any] = {"base_model": model}
        if facts.task == "preference":
            config["rl"] = "dpo"
        elif facts.task == "unpaired":
            config["rl"] = "kto"
            config["remove_unused_columns"] = False  # Axolotl's check: KTO reads the label column
        if facts.task == "chat":
            config.update(CHAT_TEMPLATES[facts.chat_template or "tokenizer"])
        config["datasets"] = [self._dataset(facts, facts.train_split)]
        if facts.eval_split is not None:
            config["test_datasets"] = [self._dataset(facts, facts.eval_split)]
        config["val_set_size"] = 0.0
        config["train_on_inputs"] = False
        config.update(
            {
                "sequence_len": 2048,
                "dataset_prepared_path": f"{facts.name}-axolotl/prepared",
                "output_dir": f"{facts.name}-axolotl/model",
                "micro_batch_size": 1,
                "gradient_accumulation_steps": 1,
                "num_epochs": 1,
                "learning_rate": 1.0e-5,
                "optimizer": "adamw_torch",
                "lr_scheduler": "cosine",
            }
        )
        files = {"axolotl.yaml": dump_yaml(config)}
        return RecipeFiles(files, f"axolotl train {facts.recipe_dir}/axolotl/axolotl.yaml")

    def _dataset(self, facts: ExportFacts, split: str) -> dict[str, Any]:
        ds_type = {"jsonl": "json"}.get(facts.format, facts.format)
        entry: dict[str, Any] = {"path": facts.split_file(split), "ds_type": ds_type, "split": "train"}
        if facts.task == "chat":
            entry.update(
                {
                    "type": "chat_template",
                    "field_messages": "messages",
                    "message_property_mappings": {"role": "role", "content": "content"},
                    "roles_to_train": ["assistant"],
                    "train_on_eos": "turn",
                }
            )
        elif facts.task == "sft":
            entry["type"] = {
                "field_instruction": "prompt",
                "field_output": "completion",
                "format": "{instruction}",
                "no_input_format": "{instruction}",
            }
        elif facts.task == "preference":
            entry["type"] = {
                "field_prompt": "prompt",
                "field_chosen": "chosen",
                "field_rejected": "rejected",
                "prompt_format": "{prompt}",
                "chosen_format": "{chosen}",
                "rejected_format": "{rejected}",
            }
        elif facts.task == "unpaired":
            entry["type"] = {
                "field_prompt": "prompt",
                "field_completion": "completion",
                "field_label": "label",
                "prompt_format": "{prompt}",
                "completion_format": "{completion}",
            }
        else:  # text
            entry.update({"type": "completion", "field": "text"})
        return entry
