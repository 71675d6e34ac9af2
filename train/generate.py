"""Try a trained model: ``curate generate`` (prompts, or every row of an export split) and
``curate chat`` (a conversation).

A model folder or a LoRA adapter folder (loaded onto its base) is accepted. Prompts are formatted
like the training data: the template recorded in the output's ``provenance.json`` (e.g. alpaca),
else the tokenizer's chat template, with the recorded ``template_kwargs`` (enable_thinking, the
date); ``template="none"`` sends the text as is. They are encoded by
curate exactly as training encoded them (:class:`curate.tokens.tokenize.RowTransform`, task ``prompt``):
BOS + text for text prompts, the chat template with its generation prompt for chats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError

Message = dict[str, str]


@dataclass
class Sampling:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0: greedy
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise CurateError(f"--max-new-tokens: expected at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise CurateError(f"--temperature: expected 0 (greedy) or more, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise CurateError(f"--top-p: expected a value in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise CurateError(f"--top-k: expected 0 (off) or more, got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise CurateError(
                f"--repetition-penalty: expected a positive number, got {self.repetition_penalty}"
            )


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    template: str | None  # the training data's template name, from provenance.json
    path: Path
    # the training data's template_kwargs (enable_thinking, the date), from provenance.json
    template_kwargs: dict[str, Any] = field(default_factory=dict)


def load_for_generation(path: str | Path) -> LoadedModel:
    """A causal LM (or its LoRA adapter on the base) and tokenizer, ready for ``generate``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(path)
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise CurateError(f"{folder}: not a model folder (no config.json or adapter_config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        if (folder / "adapter_config.json").is_file():
            from peft import PeftModel

            base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
            model: Any = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise CurateError(f"{folder}: cannot load ({str(err).splitlines()[0]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    template = None
    kwargs: dict[str, Any] = {}
    provenance = folder / "provenance.json"
    if provenance.is_file():
        recorded = json.loads(provenance.read_text())
        template = recorded.get("template")
        kwargs = dict((recorded.get("tokenization") or {}).get("template_kwargs") or {})
    return LoadedModel(model, tokenizer, template, folder, kwargs)


def render_prompt(loaded: LoadedModel, messages: list[Message], template: str = "auto") -> str:
    """The model's input for a conversation ending with a user turn.

    ``auto`` uses the training data's template, else the tokenizer's chat template, else the
    text itself; a text template (alpaca, ...) renders earlier turns as prompt + completion pairs.
    """
    name = loaded.template if template == "auto" else template
    if name == "none" or (name is None and not getattr(loaded.tokenizer, "chat_template", None)):
        if len(messages) > 1:
            raise CurateError(
                "chat needs a template: the model records none and its tokenizer has no chat template"
            )
        return messages[-1]["content"]
    from curate.templates import ChatTemplate, get_template

    # The tokenizer's own template renders as the export rendered it: the same sandbox, the
    # same template_kwargs and date, so prompts are byte-identical to the exported ones.
    tmpl = get_template(name or "tokenizer")
    if isinstance(tmpl, ChatTemplate):
        return tmpl.with_kwargs(loaded.template_kwargs).bind(loaded.tokenizer).render(messages, True)
    eos = loaded.tokenizer.eos_token or ""
    text = ""
    turns = [m for m in messages if m["role"] != "system"]
    for user, assistant in zip(turns[:-1:2], turns[1::2], strict=True):
        text += tmpl.prompt(user["content"]) + tmpl.completion(assistant["content"]) + eos
    return text + tmpl.prompt(turns[-1]["content"])


def encode_prompt(loaded: LoadedModel, prompt: str | list[Message], template: str = "auto") -> list[int]:
    """Token ids of a prompt as training saw them: a text (already rendered) or a conversation
    ending with a user turn (rendered here through the template, see :func:`render_prompt`)."""
    from curate.templates import get_template
    from curate.tokens.tokenize import RowTransform

    if isinstance(prompt, str):
        row: dict[str, Any] = {"prompt": prompt}
        chat_template = None
    else:
        name = loaded.template if template == "auto" else template
        chat_template = get_template(name) if name not in (None, "none") else None
        if chat_template is not None and chat_template.kind != "chat":
            row, chat_template = {"prompt": render_prompt(loaded, prompt, template)}, None
        elif name == "none" or (name is None and not getattr(loaded.tokenizer, "chat_template", None)):
            row = {"prompt": render_prompt(loaded, prompt, template)}
        else:
            row = {"prompt": list(prompt)}
    kwargs = loaded.template_kwargs if isinstance(row["prompt"], list) else None
    result = RowTransform("prompt", loaded.tokenizer, chat_template, template_kwargs=kwargs)(row)
    if isinstance(result, tuple):
        raise CurateError(f"cannot encode the prompt: {result[0]} ({result[1]})")
    assert isinstance(result, dict)  # only text rows are ever split into several
    return list(result["input_ids"])


def generate(loaded: LoadedModel, prompt: str | list[int], sampling: Sampling) -> str:
    """Continue ``prompt`` (a rendered text or its token ids); stops at EOS or ``max_new_tokens``."""
    return generate_scored(loaded, prompt, sampling)[0]


def generate_scored(loaded: LoadedModel, prompt: str | list[int], sampling: Sampling) -> tuple[str, float]:
    """The continuation and its mean per-token probability (geometric mean, in [0, 1])."""
    import math

    import torch

    sampling.check()
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    tok = loaded.tokenizer
    ids = encode_prompt(loaded, prompt) if isinstance(prompt, str) else prompt
    input_ids = torch.tensor([ids], device=loaded.model.device)
    greedy = sampling.temperature == 0
    options: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "do_sample": not greedy,
        "repetition_penalty": sampling.repetition_penalty,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "output_scores": True,
        "return_dict_in_generate": True,
    }
    if not greedy:
        options.update(temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p)
    with torch.no_grad():
        output = loaded.model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **options
        )
        logprobs = loaded.model.compute_transition_scores(
            output.sequences, output.scores, normalize_logits=True
        )
    new = output.sequences[0, input_ids.shape[1] :]
    finite = [float(x) for x in logprobs[0] if math.isfinite(float(x))]
    score = math.exp(sum(finite) / len(finite)) if finite else 0.0
    return str(tok.decode(new, skip_special_tokens=True)), round(min(max(score, 0.0), 1.0), 6)


@dataclass
class ChatSession:
    """A conversation whose history is re-rendered through the template on every turn."""

    loaded: LoadedModel
    sampling: Sampling
    template: str = "auto"
    system: str | None = None
    history: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.system:
            self.history.append({"role": "system", "content": self.system})

    def reply(self, user_text: str) -> str:
        self.history.append({"role": "user", "content": user_text})
        answer = generate(self.loaded, encode_prompt(self.loaded, self.history, self.template), self.sampling)
        self.history.append({"role": "assistant", "content": answer.strip()})
        return answer.strip()
