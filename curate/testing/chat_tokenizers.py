"""Tokenizers with a model family's special tokens and a real chat template, built in code.

Each :class:`ChatFamily` names the family's BOS, EOS (what the instruct checkpoints' tokenizers
set, which is often NOT the turn terminator: Gemma's EOS is ``<eos>``, its turns end with
``<end_of_turn>``), its control tokens, the tokenizer kind (byte-level BPE or a SentencePiece-like
Metaspace BPE) and, for families whose generation ends on tokens the tokenizer does not call EOS,
the ``generation_config.json`` stop list a model folder carries. Markers the template writes are
added as special tokens too (found in its text), as the real tokenizers have them.

:func:`family_tokenizer` trains the base tokenizer once per kind and process, then adds the
family's tokens, saves with ``save_pretrained`` and loads it back, like a real checkpoint.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from curate.testing import tiny


@dataclass(frozen=True)
class ChatFamily:
    bos: str | None
    eos: str
    tokens: tuple[str, ...] = ()
    kind: str = "bpe"  # "bpe" (byte-level) or "spm" (Metaspace, byte fallback)
    generation_stops: tuple[str, ...] = ()  # written to generation_config.json when given
    from_template: bool = True  # also add the markers the template writes as special tokens


_CHATML = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
)
_LLAMA3 = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
_GEMMA = ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>")
_COHERE = (
    "<BOS_TOKEN>",
    "<EOS_TOKEN>",
    "<|START_OF_TURN_TOKEN|>",
    "<|END_OF_TURN_TOKEN|>",
    "<|USER_TOKEN|>",
    "<|CHATBOT_TOKEN|>",
    "<|SYSTEM_TOKEN|>",
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
)
_MISTRAL = ("[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]")
_DEEPSEEK = (
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<think>",
    "</think>",
)

FAMILIES: dict[str, ChatFamily] = {
    "qwen": ChatFamily(None, "<|im_end|>", _CHATML),
    "qwen_base": ChatFamily(None, "<|endoftext|>", _CHATML),  # base checkpoints: EOS is not the terminator
    "falcon_h1": ChatFamily(
        "<|begin_of_text|>", "<|end_of_text|>", (*_CHATML, "<|begin_of_text|>", "<|end_of_text|>")
    ),
    "lfm2": ChatFamily("<|startoftext|>", "<|im_end|>", (*_CHATML, "<|startoftext|>")),
    "phi4": ChatFamily(
        "<|endoftext|>", "<|im_end|>", ("<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|endoftext|>")
    ),
    "llama3": ChatFamily(
        "<|begin_of_text|>", "<|eot_id|>", (*_LLAMA3, "<|eom_id|>", "<|python_tag|>", "<|image|>")
    ),
    "llama4": ChatFamily(
        "<|begin_of_text|>",
        "<|eot|>",
        ("<|begin_of_text|>", "<|end_of_text|>", "<|header_start|>", "<|header_end|>", "<|eot|>", "<|eom|>"),
    ),
    "gemma": ChatFamily("<bos>", "<eos>", _GEMMA, kind="spm"),
    "gemma3": ChatFamily("<bos>", "<eos>", (*_GEMMA, "<start_of_image>", "<end_of_image>"), kind="spm"),
    "gemma4": ChatFamily(
        "<bos>", "<eos>", ("<bos>", "<eos>", "<|turn>", "<turn|>", "<|channel>", "<channel|>")
    ),
    "cohere": ChatFamily("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", _COHERE),
    "deepseek": ChatFamily("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", _DEEPSEEK),
    "phi3": ChatFamily(
        "<s>",
        "<|endoftext|>",
        ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"),
        kind="spm",
    ),
    # Mistral v1 / Llama-2: [INST] is plain text, only <s> and </s> are special.
    "llama2": ChatFamily("<s>", "</s>", (), kind="spm", from_template=False),
    "mistral": ChatFamily("<s>", "</s>", _MISTRAL, kind="spm"),
    "tekken": ChatFamily("<s>", "</s>", (*_MISTRAL, "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[IMG]")),
    "exaone": ChatFamily(
        "[BOS]", "[|endofturn|]", ("[BOS]", "[|system|]", "[|user|]", "[|assistant|]", "[|endofturn|]")
    ),
    "jamba": ChatFamily(
        "<|startoftext|>", "<|endoftext|>", ("<|startoftext|>", "<|endoftext|>", "<|bom|>", "<|eom|>")
    ),
    "llava": ChatFamily("<s>", "</s>", ("<image>",), kind="spm", from_template=False),
    "metharme": ChatFamily("<s>", "</s>", ("<|system|>", "<|user|>", "<|model|>"), kind="spm"),
    "idefics3": ChatFamily(
        "<|begin_of_text|>",
        "<|end_of_text|>",
        ("<|begin_of_text|>", "<|end_of_text|>", "<end_of_utterance>", "<image>"),
    ),
    # GLM ends a turn by generating the next role header; its model folder says so.
    "glm": ChatFamily(
        None,
        "<|endoftext|>",
        (
            "[gMASK]",
            "<sop>",
            "<|system|>",
            "<|user|>",
            "<|assistant|>",
            "<|observation|>",
            "<think>",
            "</think>",
        ),
        generation_stops=("<|endoftext|>", "<|user|>", "<|observation|>"),
    ),
    "gptoss": ChatFamily(
        "<|startoftext|>",
        "<|return|>",
        ("<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>"),
        generation_stops=("<|return|>", "<|call|>"),
    ),
    "muse": ChatFamily(None, "<|eot|>", ("<|start|>", "<|message|>", "<|eot|>", "<|eom|>")),
}

# Markers a template writes: <|...|>, <｜...｜>, [|...|], <|x> / <x|>, [UPPER_CASE] and a few <word>.
_MARKER = re.compile(
    r"<\|[^|<>\s\"']{1,40}\|>|<｜[^｜\s]{1,40}｜>|\[\|[a-z_]+\|\]|<\|[a-z_]+>|<[a-z_]+\|>|\[/?[A-Z][A-Z_]{2,30}\]"
    r"|</?(?:think|start_of_turn|end_of_turn|start_of_image|end_of_image|end_of_utterance|image)>"
)


def template_markers(source: str) -> list[str]:
    """The special-token-like markers in a chat template's text.

    >>> template_markers("{{ '<|im_start|>' + m.role }}{{ '[INST]' }}<think>")
    ['<think>', '<|im_start|>', '[INST]']
    """
    return sorted(set(_MARKER.findall(source)))


@cache
def _base_json(kind: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "spm":
            tiny.sentencepiece_style(Path(tmp), 1024, n_lines=2000)
        else:
            tiny.byte_level_bpe(Path(tmp), 1024, n_lines=2000)
        return (Path(tmp) / "tokenizer.json").read_text(encoding="utf-8")


def family_tokenizer(path: str | Path, family: str, chat_template: str) -> Any:
    """A tokenizer of ``family`` with ``chat_template``, saved to ``path`` and loaded back."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    fam = FAMILIES[family]
    tok = Tokenizer.from_str(_base_json(fam.kind))
    markers = template_markers(chat_template) if fam.from_template else []
    specials = [*fam.tokens, *((fam.bos,) if fam.bos else ()), fam.eos, *markers]
    specials = [t for t in dict.fromkeys(specials) if t not in ("<s>", "</s>", "<unk>")]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    unk = "<unk>" if fam.kind == "spm" else None
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=fam.bos, eos_token=fam.eos, unk_token=unk, chat_template=chat_template
    )
    wrapped.pad_token = wrapped.eos_token
    out = Path(path)
    wrapped.save_pretrained(str(out))
    loaded = AutoTokenizer.from_pretrained(str(out))
    if fam.generation_stops:
        ids = [loaded.convert_tokens_to_ids(t) for t in fam.generation_stops]
        (out / "generation_config.json").write_text(json.dumps({"eos_token_id": ids}), encoding="utf-8")
    return loaded
