"""TRL's own SFT dataset preparation, called as TRL calls it, for comparisons in tests and benchmarks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def trl_sft_prepare(
    dataset: Any, tokenizer: Any, max_length: int | None = None, completion_only_loss: bool = True
) -> Any:
    """``SFTTrainer._prepare_dataset`` on ``dataset`` (the code path ``SFTTrainer.__init__`` runs).

    The method reads three attributes of the trainer; a namespace supplies them so no model is
    built. Returns the prepared dataset (``input_ids``, ``labels``).
    """
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir="/tmp/curate-trl-reference",
        max_length=max_length,
        report_to=[],
        dataset_num_proc=None,
        bf16=False,
        use_cpu=True,
    )
    trainer: Any = SimpleNamespace(
        _tokenizer=tokenizer, completion_only_loss=completion_only_loss, chat_template=None
    )
    return SFTTrainer._prepare_dataset(
        trainer, dataset, tokenizer, args, packing=False, formatting_func=None, dataset_name="train"
    )
