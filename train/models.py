"""Model and tokenizer loading for the stages: dtype, quantization, LoRA adapters merged into their
base, and TRL's PEFT config from the ``model`` section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from curate.errors import CurateError

if TYPE_CHECKING:
    from train.run import Run


def load_tokenizer(run: Run, path: str, padding_side: str | None = None) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            path,
            revision=run.model_args.model_revision,
            trust_remote_code=getattr(run.training_args, "trust_remote_code", False),
        )
    except (OSError, ValueError) as err:
        raise CurateError(f"cannot load a tokenizer from {path}: {str(err).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if padding_side is not None:
        tok.padding_side = padding_side
    return tok


def model_kwargs(run: Run) -> dict[str, Any]:
    import torch
    from trl import get_quantization_config

    model_args = run.model_args
    dtype = model_args.dtype or "float32"  # TRL's default when a trainer loads the model itself
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "trust_remote_code": getattr(run.training_args, "trust_remote_code", False),
        "attn_implementation": model_args.attn_implementation,
        "dtype": dtype if dtype == "auto" else getattr(torch, dtype),
    }
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        from accelerate import PartialState

        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": PartialState().local_process_index}  # quantized weights load on this GPU
    return kwargs


def load_model(
    run: Run, path: str, kind: Literal["causal", "reward"], pad_token_id: int | None = None
) -> Any:
    """A causal LM or a one-score sequence classifier; a LoRA adapter folder is merged into its base."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto: Any = AutoModelForCausalLM if kind == "causal" else AutoModelForSequenceClassification
    extra: dict[str, Any] = {"num_labels": 1} if kind == "reward" else {}
    kwargs = {**model_kwargs(run), **extra}
    adapter = Path(path) / "adapter_config.json"
    try:
        if adapter.is_file():
            from peft import PeftModel

            base_path = json.loads(adapter.read_text())["base_model_name_or_path"]
            base = auto.from_pretrained(base_path, **kwargs)
            model = PeftModel.from_pretrained(base, path).merge_and_unload()
        else:
            model = auto.from_pretrained(path, **kwargs)
    except OSError as err:
        raise CurateError(f"cannot load a model from {path}: {str(err).splitlines()[0]}") from None
    if pad_token_id is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = pad_token_id  # sequence classifiers find the last token through it
    return model


def peft_config(run: Run, task_type: str | None = None) -> Any:
    from trl import get_peft_config

    if not run.model_args.use_peft:
        return None
    if task_type is not None and not run.raw.given("model", "lora_task_type"):
        run.model_args.lora_task_type = task_type
    return get_peft_config(run.model_args)
