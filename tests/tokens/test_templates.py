"""The template registry: text templates, chat templates written out here, Jinja files (sandboxed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import CurateError
from curate.templates import TEMPLATES, ChatTemplate, PromptTemplate, TemplateError, get_template
from curate.testing.tiny import trl_chat_template

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye?"},
    {"role": "assistant", "content": "Bye"},
]


def test_registry_is_closed_and_complete() -> None:
    assert set(TEMPLATES) == {
        "alpaca",
        "dolly",
        "guanaco",
        "qa",
        "raw",
        "chatml",
        "zephyr",
        "llama2",
        "tokenizer",
    }
    with pytest.raises(CurateError, match=r"unknown template 'vicuna', expected one of alpaca, chatml"):
        get_template("vicuna")


@pytest.mark.parametrize(
    ("name", "prompt", "completion"),
    [
        ("guanaco", "### Human: Say hi\n### Assistant:", " Hello"),
        ("qa", "### Question: Say hi\n### Answer:", " Hello"),
        ("raw", "Say hi", "Hello"),
        ("chatml", "<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n", "Hello<|im_end|>"),
        ("zephyr", "<|user|>\nSay hi</s>\n<|assistant|>\n", "Hello</s>"),
        ("llama2", "<s>[INST] Say hi [/INST]", " Hello </s>"),
    ],
)
def test_sft_prompt_and_completion_without_context(name: str, prompt: str, completion: str) -> None:
    template = get_template(name)
    assert template.prompt("Say hi", "") == prompt
    assert template.completion("Hello") == completion


def test_context_section_only_when_context_is_given() -> None:
    alpaca, dolly = get_template("alpaca"), get_template("dolly")
    assert "### Input:\nthe text\n\n### Response:\n" in alpaca.prompt("Sum up", "the text")
    assert "### Input" not in alpaca.prompt("Sum up", "  ")
    assert "### Context:\nthe text\n\n### Response:\n" in dolly.prompt("Sum up", "the text")
    assert (
        get_template("guanaco").prompt("Sum up", "the text")
        == "### Human: Sum up\n\nthe text\n### Assistant:"
    )
    # A chat template puts the context in the user turn, after the instruction.
    assert (
        get_template("chatml")
        .prompt("Sum up", "the text")
        .startswith("<|im_start|>user\nSum up\n\nthe text<|im_end|>")
    )


def test_kinds() -> None:
    assert isinstance(get_template("alpaca"), PromptTemplate) and get_template("alpaca").kind == "text"
    for name in ("chatml", "zephyr", "llama2", "tokenizer"):
        assert isinstance(get_template(name), ChatTemplate) and get_template(name).kind == "chat"


def test_multi_turn_renderings() -> None:
    assert get_template("chatml").render(CHAT) == (  # type: ignore[attr-defined]
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
        "<|im_start|>user\nBye?<|im_end|>\n<|im_start|>assistant\nBye<|im_end|>\n"
    )
    assert get_template("llama2").render(CHAT) == (  # type: ignore[attr-defined]
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye? [/INST] Bye </s>"
    )
    assert get_template("zephyr").render(CHAT[1:3]) == "<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "spans"),
    [
        ("chatml", ["Hello<|im_end|>", "Bye<|im_end|>"]),
        ("zephyr", ["Hello</s>", "Bye</s>"]),
        ("llama2", [" Hello </s>", " Bye </s>"]),
    ],
)
def test_assistant_spans_cover_each_turn_and_its_end_marker(name: str, spans: list[str]) -> None:
    template = get_template(name)
    assert isinstance(template, ChatTemplate)
    chat = template.assistant_spans(CHAT)
    assert [chat.text[s:e] for s, e in chat.spans] == spans
    assert chat.turns == (2, 4)
    last = template.assistant_spans(CHAT, "last_assistant")
    assert [last.text[s:e] for s, e in last.spans] == spans[1:]


def test_llama2_needs_alternating_roles() -> None:
    with pytest.raises(TemplateError, match="alternate"):
        get_template("llama2").render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])  # type: ignore[attr-defined]


def test_jinja_file_renders_in_a_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "mine.jinja"
    path.write_text(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}\n"
        "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    template = get_template(str(path))
    assert isinstance(template, ChatTemplate)
    assert template.describe().startswith("mine.jinja (sha256 ")
    chat = template.assistant_spans(CHAT[1:3])
    assert chat.text == "<user>Hi<assistant>Hello"  # trim_blocks, as transformers renders templates
    assert [chat.text[s:e] for s, e in chat.spans] == ["Hello"]

    unsafe = tmp_path / "unsafe.jinja"
    unsafe.write_text("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="rendering failed"):
        get_template(str(unsafe)).render(CHAT)  # type: ignore[attr-defined]

    broken = tmp_path / "broken.jinja"
    broken.write_text("line one\n{% for m in messages %}")
    with pytest.raises(CurateError, match=r"broken.jinja:\d+: not a valid Jinja chat template"):
        get_template(str(broken))
    with pytest.raises(CurateError, match=r"missing\.jinja: template file not found"):
        get_template(str(tmp_path / "missing.jinja"))


def test_trl_training_templates_with_generation_tags_parse(tmp_path: Path) -> None:
    # `{% generation %}` needs no special support: spans come from prefix rendering.
    path = tmp_path / "qwen2_5_training.jinja"
    path.write_text(trl_chat_template("qwen2_5_training"))
    template = get_template(str(path))
    chat = template.assistant_spans(CHAT)  # type: ignore[attr-defined]
    assert [chat.text[s:e] for s, e in chat.spans] == ["Hello<|im_end|>", "Bye<|im_end|>"]


def test_tokenizer_template_needs_a_tokenizer() -> None:
    with pytest.raises(CurateError, match="pass tokenizer=PATH"):
        get_template("tokenizer").prompt("Hi")
