"""AutoTrain Advanced (``autotrain llm``): a params file (``autotrain --config``) with the trainer
and the column mapping, over JSON Lines files of the columns it reads - ``text`` rendered by
curate's template for SFT (prompt and completion as one text) and chats, prompt/chosen/rejected
for DPO. JSON Lines, not CSV: AutoTrain reads a local CSV with pandas' defaults, which turn a text
such as ``NA`` or ``null`` into a missing value; its JSON Lines reader keeps every text."""

from __future__ import annotations

from typing import Any

from curate.recipes.base import ExportFacts, Recipe, RecipeFiles, RowReader, dump_yaml

#: curate's tasks -> AutoTrain's llm trainer
TRAINERS = {"sft": "llm-sft", "chat": "llm-sft", "preference": "llm-dpo", "text": "llm-generic"}
#: curate's chat templates AutoTrain renders the same text with (``chat_template``)
CHAT_TEMPLATES = ("chatml", "zephyr", "tokenizer")


class AutoTrain(Recipe):
    tool = "autotrain"
    version = "0.8.36"
    takes = {
        "sft": "llm-sft on text = curate's rendered prompt + completion",
        "chat": "llm-sft on the chat rendered with the export's template",
        "preference": "llm-dpo (or llm-orpo, llm-reward) on prompt/chosen/rejected",
        "text": "llm-generic on text",
    }

    def why_not(self, task: str) -> str:
        if task == "unpaired":
            return "AutoTrain has no KTO trainer (its llm trainers: sft, reward, dpo, orpo, generic)"
        if task == "prompt":
            return "prompt rows have no answer to train, and AutoTrain has no online RL trainer"
        return f"task {task} has no AutoTrain trainer"

    def refuse(self, facts: ExportFacts) -> str | None:
        if (
            facts.task == "chat"
            and facts.chat_template is not None
            and facts.chat_template not in CHAT_TEMPLATES
        ):
            return (
                f"the export was tokenized with template {facts.chat_template}; curate renders chats for "
                f"AutoTrain with {', '.join(CHAT_TEMPLATES[:-1])} or the model's own template"
            )
        if facts.style == "conversational" and facts.task != "chat":
            return (
                f"a conversational {facts.task} export holds prompts and answers as message lists; "
                "AutoTrain reads text columns: export with style: text"
            )
        return None

    def build(self, facts: ExportFacts, model: str, rows: RowReader) -> RecipeFiles:
        columns, mapping, chat_template = self._columns(facts)
        tables = {
            f"{split}.jsonl": (columns, [self._row(facts, row) for row in rows.rows(split)])
            for split in facts.splits
        }
        folder = f"{facts.recipe_dir}/autotrain"
        data: dict[str, Any] = {
            "path": folder,
            "train_split": facts.train_split,
            "valid_split": facts.eval_split,
            "chat_template": chat_template,
            "column_mapping": mapping,
        }
        params: dict[str, Any] = {
            "block_size": 1024,
            "model_max_length": 2048,
            "epochs": 1,
            "batch_size": 1,
            "lr": 1.0e-5,
            "peft": False,
            "padding": "right",
            "optimizer": "adamw_torch",
            "scheduler": "linear",
            "gradient_accumulation": 1,
            "mixed_precision": "none",
        }
        config = {
            "task": TRAINERS[facts.task],
            "base_model": model,
            "project_name": f"{facts.name}-autotrain",
            "log": "none",
            "backend": "local",
            "data": data,
            "params": params,
        }
        return RecipeFiles(
            {"autotrain.yml": dump_yaml(config)}, f"autotrain --config {folder}/autotrain.yml", tables
        )

    def _columns(self, facts: ExportFacts) -> tuple[tuple[str, ...], dict[str, str], str | None]:
        """The CSV's columns, AutoTrain's column mapping, and its ``chat_template`` (None: the
        text is already rendered)."""
        if facts.task == "preference":
            return (
                ("prompt", "chosen", "rejected"),
                {"prompt_text_column": "prompt", "text_column": "chosen", "rejected_text_column": "rejected"},
                None,
            )
        if facts.task == "chat" and facts.chat_template in (None, "tokenizer"):
            return ("messages",), {"text_column": "messages"}, "tokenizer"
        return ("text",), {"text_column": "text"}, None

    def _row(self, facts: ExportFacts, row: dict[str, Any]) -> dict[str, Any]:
        if facts.task == "preference":
            return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}
        if facts.task == "sft":
            return {"text": row["prompt"] + row["completion"]}
        if facts.task == "chat":
            if facts.chat_template in (None, "tokenizer"):
                return {"messages": row["messages"]}
            from curate.templates import ChatTemplate, get_template

            template = get_template(facts.chat_template)
            assert isinstance(template, ChatTemplate)  # refuse() let only chat templates through
            return {"text": template.render(row["messages"])}
        return {"text": row["text"]}
