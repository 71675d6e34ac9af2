"""Exact labels on real chat templates of many model families, each with a tokenizer built in
code that has the family's special tokens (``curate.testing.chat_tokenizers``).

Templates: the ones the installed ``trl`` package ships (``trl/chat_templates``) and the ones
axolotl 0.19.0 bundles (``tests/fixtures/chat_templates/axolotl``, copied by the committed
``obtain.py``; origin in ``ORIGIN.md``). For every template, single- and multi-turn chats with and
without a system message, and SFT via ``--template tokenizer``:

* ``input_ids`` equal ``apply_chat_template`` (transformers renders, not curate's sandbox);
* ``labels`` equal ``input_ids`` where trained and ``-100`` elsewhere;
* every trained run decodes to exactly the text the model generates after the generation
  prompt, through the family's end marker (declared here by hand, not detected);
* a refused row names the real cause, checked independently.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from helpers import manifest_of

from curate.tasks.chat import each_turn_rows
from curate.templates import get_template
from curate.templates.sandbox import FIXED_NOW
from curate.templates.turn_rule import InferenceTurn, TurnError, inference_turn, turn_openers
from curate.testing.chat_tokenizers import family_tokenizer
from curate.tokens.tokenize import IGNORE_INDEX, RowTransform

FIXTURES = Path(__file__).parents[1] / "fixtures" / "chat_templates" / "axolotl"

# template -> (family, end marker the model generates to stop; None: the template has none)
TEMPLATES: dict[str, tuple[str, str | None]] = {
    "trl/qwen2_5": ("qwen", "<|im_end|>"),
    "trl/qwen2_5_vl": ("qwen", "<|im_end|>"),
    "trl/qwen3": ("qwen", "<|im_end|>"),
    "trl/qwen3_5_think": ("qwen", "<|im_end|>"),
    "trl/qwen3_5_nothink": ("qwen", "<|im_end|>"),
    "trl/qwen3_6": ("qwen", "<|im_end|>"),
    "trl/qwen3_8": ("qwen", "<|im_end|>"),
    "trl/qwen3_instruct_2507": ("qwen_base", "<|im_end|>"),
    "trl/qwen3_vl": ("qwen", "<|im_end|>"),
    "trl/nemotron_3_nano": ("qwen", "<|im_end|>"),
    "trl/nemotron_3_super": ("qwen", "<|im_end|>"),
    "trl/nemotron_3_ultra": ("qwen", "<|im_end|>"),
    "trl/nemotron_3_5_lightning": ("qwen", "<|im_end|>"),
    "trl/lfm2": ("lfm2", "<|im_end|>"),
    "trl/lfm2_2_5": ("lfm2", "<|im_end|>"),
    "trl/lfm2_2_5_vl": ("lfm2", "<|im_end|>"),
    "trl/lfm2_v2": ("lfm2", "<|im_end|>"),
    "trl/lfm2_2_5_v2": ("lfm2", "<|im_end|>"),
    "trl/llama3": ("llama3", "<|eot_id|>"),
    "trl/llama3_1": ("llama3", "<|eot_id|>"),
    "trl/llama3_2": ("llama3", "<|eot_id|>"),
    "trl/gemma": ("gemma", "<end_of_turn>"),
    "trl/gemma3": ("gemma3", "<end_of_turn>"),
    "trl/gemma4": ("gemma4", "<turn|>"),
    "trl/gemma4_v2": ("gemma4", "<turn|>"),
    "trl/gemma4_v3": ("gemma4", "<turn|>"),
    "trl/gemma4_v4": ("gemma4", "<turn|>"),
    "trl/gemma4_v5": ("gemma4", "<turn|>"),
    "trl/diffusion_gemma": ("gemma4", "<turn|>"),
    "trl/phi3": ("phi3", "<|end|>"),
    "trl/phi3_5": ("phi3", "<|end|>"),
    "trl/cohere": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "trl/cohere2": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "trl/deepseekv3": ("deepseek", "<｜end▁of▁sentence｜>"),
    "trl/deepseek_r1_distill": ("deepseek", "<｜end▁of▁sentence｜>"),
    "trl/glm4moe": ("glm", "<|user|>"),
    "trl/gptoss": ("gptoss", "<|return|>"),
    "trl/idefics3": ("idefics3", "<end_of_utterance>"),
    "trl/smolvlm": ("idefics3", "<end_of_utterance>"),
    "trl/llava_next": ("mistral", "</s>"),
    "trl/muse_glimmer": ("muse", "<|eot|>"),
    "axolotl/aya": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "axolotl/cohere": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "axolotl/command_a": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "axolotl/command_a_rag": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "axolotl/command_a_tool_use": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "axolotl/chatml": ("qwen", "<|im_end|>"),
    "axolotl/deepseek_v2": ("deepseek", "<｜end▁of▁sentence｜>"),
    "axolotl/deepseek_v3": ("deepseek", "<｜end▁of▁sentence｜>"),
    "axolotl/exaone": ("exaone", "[|endofturn|]"),
    "axolotl/exaone4": ("exaone", "[|endofturn|]"),
    "axolotl/falcon_h1": ("falcon_h1", "<|im_end|>"),
    "axolotl/gemma": ("gemma", "<end_of_turn>"),
    "axolotl/gemma3": ("gemma3", "<end_of_turn>"),
    "axolotl/gemma3n": ("gemma3", "<end_of_turn>"),
    "axolotl/gemma4": ("gemma4", "<turn|>"),
    "axolotl/gemma4_unified": ("gemma4", "<turn|>"),
    "axolotl/jamba": ("jamba", "<|eom|>"),
    "axolotl/llama3": ("llama3", "<|eot_id|>"),
    "axolotl/llama3_2_vision": ("llama3", "<|eot_id|>"),
    "axolotl/llama4": ("llama4", "<|eot|>"),
    "axolotl/llava": ("llava", None),
    "axolotl/metharme": ("metharme", "</s>"),
    "axolotl/mistral_v1": ("llama2", "</s>"),
    "axolotl/mistral_v2v3": ("mistral", "</s>"),
    "axolotl/mistral_v3_tekken": ("tekken", "</s>"),
    "axolotl/mistral_v7_tekken": ("tekken", "</s>"),
    "axolotl/pixtral": ("tekken", "</s>"),
    "axolotl/nemotron_h": ("qwen", "<|im_end|>"),
    "axolotl/phi_3": ("phi3", "<|end|>"),
    "axolotl/phi_35": ("phi3", "<|end|>"),
    "axolotl/phi_4": ("phi4", "<|im_end|>"),
    "axolotl/qwen2_vl": ("qwen", "<|im_end|>"),
    "axolotl/qwen3": ("qwen", "<|im_end|>"),
    "axolotl/qwen3_5": ("qwen", "<|im_end|>"),
    "axolotl/qwen_25": ("qwen", "<|im_end|>"),
    "llama_cpp/GLM-4.7-Flash": ("glm", "<|user|>"),
    "llama_cpp/deepseek-ai-DeepSeek-V3.2": ("deepseek", "<｜end▁of▁sentence｜>"),
    "llama_cpp/deepseek-ai-DeepSeek-V3.1": ("deepseek", "<｜end▁of▁sentence｜>"),
    "llama_cpp/HuggingFaceTB-SmolLM3-3B": ("qwen", "<|im_end|>"),
    "llama_cpp/Cohere2MoE": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "llama_cpp/CohereForAI-c4ai-command-r7b-12-2024-tool_use": ("cohere", "<|END_OF_TURN_TOKEN|>"),
    "llama_cpp/microsoft-Phi-3.5-mini-instruct": ("phi3", "<|end|>"),
}

KW = dict[str, Any] | None
# Template kwargs each template is also checked with (thinking on and off both exact).
KWARGS: dict[str, tuple[dict[str, Any], ...]] = {
    "llama_cpp/GLM-4.7-Flash": ({"enable_thinking": False}, {"enable_thinking": True}),
    "llama_cpp/deepseek-ai-DeepSeek-V3.2": ({"enable_thinking": False}, {"enable_thinking": True}),
    "llama_cpp/deepseek-ai-DeepSeek-V3.1": ({"enable_thinking": False}, {"enable_thinking": True}),
    "llama_cpp/HuggingFaceTB-SmolLM3-3B": ({"enable_thinking": False}, {"enable_thinking": True}),
    "llama_cpp/Cohere2MoE": ({"reasoning_effort": "none"},),
    "trl/qwen3": ({"enable_thinking": False},),
    "axolotl/qwen3": ({"enable_thinking": False},),
}

CHATS = {
    "single": [
        {"role": "user", "content": "Hi there, café?"},
        {"role": "assistant", "content": "Hello 🙂 yes."},
    ],
    "single_system": [
        {"role": "system", "content": "Be brief and kind."},
        {"role": "user", "content": "Name a city."},
        {"role": "assistant", "content": "Paris is one."},
    ],
    "multi": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello, what can I do?"},
        {"role": "user", "content": "Say bye."},
        {"role": "assistant", "content": "Bye now."},
        {"role": "user", "content": "Again?"},
        {"role": "assistant", "content": "Bye again."},
    ],
    "multi_system": [
        {"role": "system", "content": "Be brief and kind."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello, what can I do?"},
        {"role": "user", "content": "Say bye."},
        {"role": "assistant", "content": "Bye now."},
    ],
}


def template_source(name: str) -> str:
    origin, stem = name.split("/")
    if origin == "trl":
        import trl

        return (Path(trl.__file__).parent / "chat_templates" / f"{stem}.jinja").read_text(encoding="utf-8")
    return (FIXTURES.parent / origin / f"{stem}.jinja").read_text(encoding="utf-8")


def _available(name: str) -> bool:
    """Templates shipped by the installed TRL differ between releases (1.16 adds Gemma 4 v2-v5,
    LFM2 v2, SmolVLM); the axolotl ones are committed fixtures."""
    try:
        template_source(name)
    except FileNotFoundError:
        return False
    return True


AVAILABLE = sorted(name for name in TEMPLATES if _available(name))


def test_every_template_the_installed_trl_ships_is_covered() -> None:
    import trl

    folder = Path(trl.__file__).parent / "chat_templates"
    shipped = {f"trl/{p.stem}" for p in folder.glob("*.jinja") if not p.stem.endswith("_training")}
    assert shipped <= set(TEMPLATES), sorted(shipped - set(TEMPLATES))
    assert len(AVAILABLE) >= 25


def _freeze_clock(monkeypatch: pytest.MonkeyPatch, when: dt.datetime) -> None:
    import transformers.utils.chat_template_utils as ctu

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:  # type: ignore[override]
            return cls(when.year, when.month, when.day)

    monkeypatch.setattr(ctu, "datetime", Frozen)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers' ``strftime_now`` reads the clock; curate's gives a fixed date (byte-identical
    exports on any day). The reference renders with the same date."""
    _freeze_clock(monkeypatch, FIXED_NOW)


@pytest.fixture(scope="module")
def tokdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chat-tokenizers")


def tokenizer_for(tokdir: Path, name: str) -> Any:
    family, _ = TEMPLATES[name]
    return family_tokenizer(tokdir / name.replace("/", "-"), family, template_source(name))


# --- the reference: transformers renders, the end marker is declared per family ---------------


def as_parts(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in messages]


def reference_messages(tok: Any, messages: list[dict[str, str]], kwargs: KW = None) -> list[Any]:
    """The messages as the template reads them: text content, or a list of parts for templates
    that only render parts (multimodal ones)."""
    try:
        text = tok.apply_chat_template(messages, tokenize=False, **(kwargs or {}))
    except Exception:
        return as_parts(messages)
    return messages if messages[-1]["content"].strip() in text else as_parts(messages)


def reference_render(tok: Any, messages: list[dict[str, str]], gen: bool = False, kwargs: KW = None) -> str:
    msgs = reference_messages(tok, messages, kwargs)
    return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, **(kwargs or {})))


def reference_ids(tok: Any, messages: list[dict[str, str]], kwargs: KW = None) -> list[int]:
    msgs = reference_messages(tok, messages, kwargs)
    return list(tok.apply_chat_template(msgs, tokenize=True, return_dict=False, **(kwargs or {})))


def reference_turn(
    tok: Any, name: str, messages: list[dict[str, str]], i: int, kwargs: KW = None
) -> InferenceTurn | str:
    """Turn ``i`` by the shared rule (:func:`curate.templates.turn_rule.inference_turn`) on transformers'
    rendering, with the family's end marker declared by hand: the inference form, or the reason
    it has none."""
    _, end = TEMPLATES[name]

    def render(msgs: Any, gen: bool) -> str:
        return reference_render(tok, list(msgs), gen, kwargs)

    stops = [end] if end else []
    specials = [t for t in tok.get_added_vocab() if t.strip()]
    try:
        return inference_turn(
            render, messages, i, stops, specials, turn_openers(render, specials, stops), name
        )
    except TurnError as err:
        return err.reason


def expected_turn(tok: Any, name: str, messages: list[dict[str, str]], i: int) -> tuple[int, str] | str:
    """(where the prompt ends, the trained text), or the reason turn ``i`` cannot be trained."""
    turn = reference_turn(tok, name, messages, i)
    return turn if isinstance(turn, str) else (len(turn.prompt), turn.trained)


def trained_runs(tok: Any, ids: list[int], labels: list[int]) -> list[str]:
    """Each run of trained tokens, decoded in context (what it adds to the text before it)."""
    runs, start = [], None
    for i, lab in enumerate([*labels, IGNORE_INDEX]):
        if lab != IGNORE_INDEX and start is None:
            start = i
        elif lab == IGNORE_INDEX and start is not None:
            before = tok.decode(ids[:start], skip_special_tokens=False)
            through = tok.decode(ids[:i], skip_special_tokens=False)
            runs.append(through[len(before) :])
            start = None
    return runs


def same_text(run: str, expected: str) -> bool:
    """The run is the expected text; leading whitespace may be left to the prompt's token, or a
    prompt token's whitespace carried in ("▁Paris" after "Answer:")."""
    if run == expected or run == expected.lstrip():
        return True
    return run.endswith(expected) and not run[: -len(expected)].strip()


def check_row(
    tok: Any, name: str, messages: list[dict[str, str]], train_on: str, kwargs: KW = None
) -> dict[str, Any]:
    transform = RowTransform("chat", tok, train_on=train_on, template_kwargs=kwargs)  # type: ignore[arg-type]
    result = transform({"messages": messages})
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    last = assistant[-1]
    want = reference_turn(tok, name, messages, last, kwargs)
    if isinstance(want, str):
        assert isinstance(result, tuple) and result[0] == want, (name, result)
        return transform.summary()
    assert isinstance(result, dict), (name, train_on, result)
    ids, labels = result["input_ids"], result["labels"]
    # The sequence is the conversation as the template renders it, or, where the template shows
    # the last turn differently from what the model meets at inference, that turn's inference form.
    sequence = want.text if not want.history_form else reference_render(tok, messages, kwargs=kwargs)
    assert ids == tok(sequence, add_special_tokens=False)["input_ids"], name
    if want.history_form:
        assert ids == reference_ids(tok, messages, kwargs), name
    assert all(lab in (IGNORE_INDEX, tid) for tid, lab in zip(ids, labels, strict=True))
    expected: list[str] = []
    not_trained = 0
    for i in assistant if train_on == "all_assistant" else [last]:
        turn = reference_turn(tok, name, messages, i, kwargs)
        if isinstance(turn, str):
            not_trained += 1
        elif sequence.startswith(turn.text[: turn.end]):
            expected.append(turn.trained)
        elif sequence.startswith(turn.text[: turn.first_stop]):
            expected.append(turn.text[len(turn.prompt) : turn.first_stop])
        else:
            not_trained += 1  # the template shows this turn differently as history
    runs = trained_runs(tok, ids, labels)
    if TEMPLATES[name][0] == "glm":  # GLM stops by generating the next <|user|>, which only history shows
        expected = [t + "<|user|>" if k < len(expected) - 1 else t for k, t in enumerate(expected)]
    assert len(runs) == len(expected), (name, runs, expected)
    for run, text in zip(runs, expected, strict=True):
        assert same_text(run, text), (name, run, text)
    summary = transform.summary()
    assert sum(summary["assistant_turns_not_trained"].values()) == not_trained, (name, summary)
    return summary


@pytest.mark.parametrize("name", AVAILABLE)
def test_real_template_labels(tokdir: Path, name: str) -> None:
    tok = tokenizer_for(tokdir, name)
    for chat_name, messages in CHATS.items():
        if name.endswith(("/gemma", "trl/gemma")) and chat_name.endswith("system"):
            # Gemma 1 refuses system messages itself (raise_exception): the row says so.
            reason, detail = RowTransform("chat", tok)({"messages": messages})  # type: ignore[misc]
            assert reason == "template_refused" and "System role not supported" in detail
            continue
        for kwargs in (None, *KWARGS.get(name, ())):
            for train_on in ("all_assistant", "last_assistant"):
                check_row(tok, name, messages, train_on, kwargs)
            for row in each_turn_rows({"messages": messages}):
                summary = check_row(tok, name, row["messages"], "each_turn_as_row", kwargs)
                assert summary["assistant_turns_not_trained"] == {}


@pytest.mark.parametrize("name", AVAILABLE)
def test_real_template_sft_with_tokenizer_template(tokdir: Path, name: str) -> None:
    """``--template tokenizer`` on SFT rows: the prompt/completion columns become the text that
    was tokenized (not the spec's alpaca text), and the completion's generated part is trained."""
    tok = tokenizer_for(tokdir, name)
    row = {
        "instruction": "Name a city.",
        "context": "",
        "response": "Paris is one.",
        "prompt": "### Instruction:\nName a city.\n\n### Response:\n",
        "completion": "Paris is one.",
    }
    out = RowTransform("sft", tok, get_template("tokenizer"))(row)
    messages = [
        {"role": "user", "content": "Name a city."},
        {"role": "assistant", "content": "Paris is one."},
    ]
    want = reference_turn(tok, name, messages, 1)
    if isinstance(want, str):  # a template with no exact inference form: refused with the cause
        assert isinstance(out, tuple) and out[0] == want, (name, out)
        return
    assert isinstance(out, dict), (name, out)
    assert out["prompt"] + out["completion"] == want.text
    assert out["prompt"] == want.prompt == reference_render(tok, messages[:1], gen=True)
    (run,) = trained_runs(tok, out["input_ids"], out["labels"])
    assert same_text(run, want.trained), (name, run, want.trained)


def test_enough_real_templates_and_families() -> None:
    families = {family for family, _ in TEMPLATES.values()}
    assert len(TEMPLATES) >= 25 and len(families) >= 15


# --- hand-written expectations -----------------------------------------------------------------

MULTI = CHATS["multi_system"]


def _trained(
    tokdir: Path,
    name: str,
    messages: list[dict[str, str]],
    train_on: str = "all_assistant",
    kwargs: KW = None,
) -> Any:
    tok = tokenizer_for(tokdir, name)
    transform = RowTransform("chat", tok, train_on=train_on, template_kwargs=kwargs)  # type: ignore[arg-type]
    row = transform({"messages": messages})
    if isinstance(row, tuple):
        return row
    return trained_runs(tok, row["input_ids"], row["labels"]), transform.summary()


def test_hand_written_command_a_trains_response_markers_and_never_the_trailer(tokdir: Path) -> None:
    # Command-A appends "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" after the last message: not trained.
    runs, _ = _trained(tokdir, "axolotl/command_a", MULTI)
    assert runs == [
        "Hello, what can I do?<|END_RESPONSE|><|END_OF_TURN_TOKEN|>",
        "Bye now.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>",
    ]
    runs, _ = _trained(tokdir, "axolotl/command_a_rag", MULTI)
    assert runs == [
        "<|START_RESPONSE|>Hello, what can I do?<|END_RESPONSE|><|END_OF_TURN_TOKEN|>",
        "<|START_RESPONSE|>Bye now.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>",
    ]


def _sequence(tokdir: Path, name: str, messages: list[dict[str, str]], kwargs: KW = None) -> str:
    tok = tokenizer_for(tokdir, name)
    row = RowTransform("chat", tok, template_kwargs=kwargs)({"messages": messages})
    assert isinstance(row, dict), row
    return str(tok.decode(row["input_ids"]))


def test_hand_written_reasoning_prompt_that_holds_the_closed_think_block(tokdir: Path) -> None:
    """DeepSeek-V3.2 without thinking: the prompt ends <think></think>, history shows </think>reply.
    The model writes only the reply and EOS; </think> is in its prompt, never trained."""
    name, chat = "llama_cpp/deepseek-ai-DeepSeek-V3.2", CHATS["multi"][:4]
    runs, summary = _trained(tokdir, name, chat, kwargs={"enable_thinking": False})
    assert runs == ["Bye now.<｜end▁of▁sentence｜>"]
    assert summary["assistant_turns_not_trained"] == {"history_rewritten": 1}
    assert _sequence(tokdir, name, chat, {"enable_thinking": False}).endswith(
        "<｜User｜>Say bye.<｜Assistant｜><think></think>Bye now.<｜end▁of▁sentence｜>"
    )
    runs, _ = _trained(tokdir, name, chat[:2], "each_turn_as_row", {"enable_thinking": False})
    assert runs == ["Hello, what can I do?<｜end▁of▁sentence｜>"]
    # Thinking on: the prompt ends <think>; closing it is the model's to write.
    runs, _ = _trained(tokdir, name, chat, kwargs={"enable_thinking": True})
    assert runs == ["</think>Bye now.<｜end▁of▁sentence｜>"]


def test_hand_written_glm_flash_prompt_ending_in_think_markers(tokdir: Path) -> None:
    name, chat = "llama_cpp/GLM-4.7-Flash", CHATS["multi"][:4]
    runs, _ = _trained(tokdir, name, chat, kwargs={"enable_thinking": False})  # prompt ends </think>
    assert runs == ["Hello, what can I do?<|user|>", "Bye now."]
    runs, summary = _trained(tokdir, name, chat, kwargs={"enable_thinking": True})  # prompt ends <think>
    assert runs == ["</think>Bye now."]
    assert summary["assistant_turns_not_trained"] == {"history_rewritten": 1}
    assert _sequence(tokdir, name, chat, {"enable_thinking": True}).endswith(
        "<|user|>Say bye.<|assistant|><think></think>Bye now."
    )


def test_hand_written_turn_endings_of_several_tokens(tokdir: Path) -> None:
    chat = CHATS["multi"][:4]
    # Cohere2: <|START_TEXT|> opens the reply after a prompt that ends <|END_THINKING|> (the
    # model writes it); the turn ends <|END_TEXT|><|END_OF_TURN_TOKEN|>, both trained.
    runs, _ = _trained(tokdir, "llama_cpp/Cohere2MoE", chat, kwargs={"reasoning_effort": "none"})
    assert runs == [
        "<|START_TEXT|>Bye now.<|END_TEXT|><|END_OF_TURN_TOKEN|>"
    ]  # the earlier turn: history shows no thinking block
    # Phi-3.5 appends EOS after the whole conversation: the last turn's ending is <|end|>\n + EOS.
    runs, _ = _trained(tokdir, "llama_cpp/microsoft-Phi-3.5-mini-instruct", chat)
    assert runs == ["Hello, what can I do?<|end|>", "Bye now.<|end|>\n<|endoftext|>"]
    # Command R7B (tool use) writes the next chatbot header, with an empty thinking block, after
    # every conversation: the model, given that prompt, writes <|START_RESPONSE|> and the reply;
    # the header after the last turn is never trained.
    name = "llama_cpp/CohereForAI-c4ai-command-r7b-12-2024-tool_use"
    runs, _ = _trained(tokdir, name, chat)
    assert runs == ["<|START_RESPONSE|>Bye now.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"]
    assert _sequence(tokdir, name, chat).endswith(
        "<|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|><|START_RESPONSE|>Bye now.<|END_RESPONSE|>"
        "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|>"
    )


def test_hand_written_qwen3_trains_the_end_marker_and_keeps_multi_turn(tokdir: Path) -> None:
    runs, summary = _trained(tokdir, "trl/qwen3_5_think", MULTI)
    assert runs == ["\n</think>\n\nBye now.<|im_end|>"]  # after the "<think>\n" generation prompt
    assert summary["assistant_turns_not_trained"] == {"history_rewritten": 1}
    runs, _ = _trained(tokdir, "trl/qwen3_5_think", MULTI[:3], "each_turn_as_row")
    assert runs == ["\n</think>\n\nHello, what can I do?<|im_end|>"]
    runs, _ = _trained(tokdir, "trl/qwen3", MULTI)
    assert runs == ["<think>\n\n</think>\n\nBye now.<|im_end|>"]


def test_hand_written_metharme_trains_the_final_eos(tokdir: Path) -> None:
    runs, summary = _trained(tokdir, "axolotl/metharme", MULTI)
    assert runs == ["Bye now.</s>"]  # earlier turns have no </s> in history: they are left out
    assert summary["assistant_turns_not_trained"] == {"history_rewritten": 1}
    runs, _ = _trained(tokdir, "axolotl/metharme", MULTI[:3], "each_turn_as_row")
    assert runs == ["Hello, what can I do?</s>"]


def test_hand_written_gemma_llama_mistral_llava(tokdir: Path) -> None:
    plain = CHATS["multi"][:4]
    runs, _ = _trained(tokdir, "trl/gemma", plain)
    assert runs == ["Hello, what can I do?<end_of_turn>", "Bye now.<end_of_turn>"]  # EOS is <eos>
    # The generation prompt holds an empty thought channel that history never shows: the last
    # turn is trained in its inference form (prompt with the channel, then the reply) ...
    runs, summary = _trained(tokdir, "axolotl/gemma4", MULTI)
    assert runs == ["Bye now.<turn|>"]
    assert summary["assistant_turns_not_trained"] == {"history_rewritten": 1}
    tok = tokenizer_for(tokdir, "axolotl/gemma4")
    row = RowTransform("chat", tok)({"messages": MULTI})
    assert isinstance(row, dict)
    assert tok.decode(row["input_ids"]).endswith(
        "<|turn>model\n<|channel>thought\n<channel|>Bye now.<turn|>\n"
    )
    # ... and each earlier turn in its own row.
    runs, _ = _trained(tokdir, "axolotl/gemma4", MULTI[:3], "each_turn_as_row")
    assert runs == ["Hello, what can I do?<turn|>"]
    runs, _ = _trained(tokdir, "trl/llama3_1", MULTI)
    assert runs == ["Hello, what can I do?<|eot_id|>", "Bye now.<|eot_id|>"]
    runs, _ = _trained(tokdir, "axolotl/mistral_v1", MULTI)
    assert runs == [" Hello, what can I do?</s>", " Bye now.</s>"]
    runs, summary = _trained(tokdir, "axolotl/llava", plain)
    assert runs == [" Hello, what can I do?", " Bye now."]  # Llava's template writes no end marker
    assert summary["assistant_turns_without_end_marker"] == 2


def test_hand_written_refusals_name_the_cause(tokdir: Path) -> None:
    for name in ("axolotl/mistral_v2v3", "axolotl/mistral_v3_tekken", "axolotl/pixtral"):
        reason, detail = _trained(tokdir, name, MULTI)
        assert reason == "system_message_dropped", name
        assert "drops the system message when the conversation ends with an assistant turn" in detail
        runs, _ = _trained(tokdir, name, CHATS["multi"])  # without a system message: exact
        assert [r.strip() for r in runs] == ["Hello, what can I do?</s>", "Bye now.</s>", "Bye again.</s>"]


# --- against TRL's assistant-only loss ({% generation %} training templates TRL ships) ----------

# TRL's training template renders a different conversation than the model's own template
# (prefix-preserving patches keep earlier reasoning; GLM's appends the stop token <|user|>).
TRL_RENDERS_DIFFERENTLY = {
    "trl/glm4moe",
    "trl/qwen3",
    "trl/qwen3_5_think",
    "trl/qwen3_5_nothink",
    "trl/qwen3_6",
}


# Templates whose generation prompt holds text history does not show ("<think>\n"): curate's
# sequence ends with the last turn's inference form, TRL's with the history rendering.
TRAINED_IN_INFERENCE_FORM = {
    "trl/deepseek_r1_distill",
    "trl/deepseekv3",
    "trl/nemotron_3_5_lightning",
    "trl/nemotron_3_nano",
    "trl/nemotron_3_super",
    "trl/nemotron_3_ultra",
}


def _trl_training_templates() -> list[str]:
    import trl

    folder = Path(trl.__file__).parent / "chat_templates"
    return sorted(f"trl/{p.stem.removesuffix('_training')}" for p in folder.glob("*_training.jinja"))


@pytest.mark.parametrize("name", _trl_training_templates())
def test_against_trl_assistant_only_loss(tokdir: Path, name: str) -> None:
    """Same ids as TRL's training template; everything curate trains TRL trains too; each token
    only TRL trains is explained: whitespace after the end marker, text the template appends
    after the last turn (Phi-3's EOS), or the generation prompt the model is given (DeepSeek's
    <｜Assistant｜> header, Nemotron's and Qwen3.8's "<think>\\n" prefill)."""
    tok = tokenizer_for(tokdir, name)
    chat = CHATS["multi"][:4]
    ours = RowTransform("chat", tok)({"messages": chat})
    assert isinstance(ours, dict), ours
    training = template_source(name + "_training")
    theirs = tok.apply_chat_template(
        reference_messages(tok, chat),
        chat_template=training,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    if name in TRL_RENDERS_DIFFERENTLY:
        assert theirs["input_ids"] != ours["input_ids"]
        return
    if name in TRAINED_IN_INFERENCE_FORM:
        # TRL trains the history rendering; curate the prompt the model is given (with its
        # "<think>\n" prefill), then the reply.
        prompt = reference_render(tok, chat[:3], gen=True)
        assert tok.decode(ours["input_ids"]).startswith(prompt) and prompt not in reference_render(tok, chat)
        return
    assert theirs["input_ids"] == ours["input_ids"]
    ids, mine = ours["input_ids"], [lab != IGNORE_INDEX for lab in ours["labels"]]
    trl_mask = [bool(m) for m in theirs["assistant_masks"]]
    assert all(t for t, o in zip(trl_mask, mine, strict=True) if o)  # ours within theirs
    text = reference_render(tok, chat)
    offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    gen_regions = []
    for i in (1, 3):
        history, prompt = reference_render(tok, chat[:i]), reference_render(tok, chat[:i], gen=True)
        first_trained = next(k for k, (a, _) in enumerate(offsets) if mine[k] and a >= len(history))
        gen_regions.append(
            (len(history), max(offsets[first_trained][0], len(prompt) if text.startswith(prompt) else 0))
        )
    last_trained_end = max(b for (_, b), o in zip(offsets, mine, strict=True) if o)
    for k, (tid, t, o) in enumerate(zip(ids, trl_mask, mine, strict=True)):
        if not t or o:
            continue
        a, b = offsets[k]
        whitespace = not text[a:b].strip()
        trailer = a >= last_trained_end
        given = any(lo <= a and b <= hi for lo, hi in gen_regions)
        assert whitespace or trailer or given, (name, tok.decode([tid]))


# --- end to end: `curate export` -----------------------------------------------------------------


def test_export_each_turn_as_row_keeps_multi_turn_records(cli: Any, tmp_path: Path, tokdir: Path) -> None:
    """A history-rewriting template (Qwen3) with ``train_on: each_turn_as_row``: every assistant
    turn becomes a row trained against the history shown at that turn; no record is lost."""

    import pyarrow.parquet as pq
    import yaml
    from helpers import SPECS

    spec = yaml.safe_load((SPECS / "chat-review.yaml").read_text())
    spec["source"]["path"] = str(SPECS / spec["source"]["path"])
    spec["train_on"] = "each_turn_as_row"
    spec_path = tmp_path / "chat-each-turn.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    tok_path = tokdir / "trl-qwen3"
    tok = tokenizer_for(tokdir, "trl/qwen3")
    out = tmp_path / "out"
    result = cli("export", spec_path, "--out", out, "-q", "--tokenizer", tok_path)
    assert result.exit_code == 0, result.stderr
    manifest = manifest_of(out)
    counts = manifest["counts"]
    # The only rejects are the demo data's own malformed conversations, none from tokenizing.
    assert set(counts["rejects_by_reason"]) <= {"invalid_messages", "no_assistant_reply"}
    assert set(counts["dropped_rows_by_reason"]) <= {"duplicate"}  # the spec's dedup of shared openings
    rows = [
        r for split in counts["rows_per_split"] for r in pq.read_table(out / f"{split}.parquet").to_pylist()
    ]
    assert len(rows) > counts["kept_records"]  # multi-turn records give several rows
    for row in rows:
        (run,) = trained_runs(tok, row["input_ids"], row["labels"])
        assert run.startswith("<think>\n\n</think>\n\n") and run.endswith(
            row["messages"][-1]["content"] + "<|im_end|>"
        )
    assert manifest["tokenization"]["train_on"] == "each_turn_as_row"


def test_export_sft_with_tokenizer_template_says_what_was_tokenized(
    cli: Any, tmp_path: Path, tokdir: Path
) -> None:
    import pyarrow.parquet as pq
    from helpers import SPECS

    tok = tokenizer_for(tokdir, "axolotl/command_a")
    out = tmp_path / "out"
    args = ("--out", out, "-q", "--tokenizer", tokdir / "axolotl-command_a", "--template", "tokenizer")
    result = cli("export", SPECS / "dolly-curated.yaml", *args)
    assert result.exit_code == 0, result.stderr
    for row in pq.read_table(out / "train.parquet").to_pylist()[:20]:
        assert "### Instruction" not in row["prompt"]
        assert row["prompt"].endswith("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>")
        assert tok.decode(row["input_ids"]) == row["prompt"] + row["completion"]
        (run,) = trained_runs(tok, row["input_ids"], row["labels"])
        assert run == row["response"].strip() + "<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"


# --- template kwargs: the same prompt in the export, `curate generate` and the manifest ---------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("llama_cpp/deepseek-ai-DeepSeek-V3.2", {"enable_thinking": False}),
        ("llama_cpp/deepseek-ai-DeepSeek-V3.2", {"enable_thinking": True}),
        ("llama_cpp/GLM-4.7-Flash", {"enable_thinking": False}),
        ("llama_cpp/GLM-4.7-Flash", {"enable_thinking": True}),
        ("trl/llama3_2", {"strftime_now": "2025-03-01"}),
    ],
)
def test_generate_prompts_are_the_exported_prompts(
    tokdir: Path, name: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SFT row exported with template kwargs says in ``prompt`` what the model is given; the
    generation prompt ``curate generate`` / ``chat`` build with the same kwargs (as
    ``provenance.json`` records them) is byte-identical, and so are its ids."""
    from train.generate import LoadedModel, encode_prompt, render_prompt

    tok = tokenizer_for(tokdir, name)
    row = {
        "instruction": "Name a city.",
        "context": "",
        "response": "Paris is one.",
        "prompt": "",
        "completion": "",
    }
    transform = RowTransform("sft", tok, get_template("tokenizer"), template_kwargs=kwargs)
    out = transform(row)
    assert isinstance(out, dict), out
    messages = [{"role": "user", "content": "Name a city."}]
    reference = dict(kwargs)
    if "strftime_now" in reference:  # transformers reads the clock: set it to that day
        day = dt.date.fromisoformat(reference.pop("strftime_now"))
        _freeze_clock(monkeypatch, dt.datetime(day.year, day.month, day.day))
    assert out["prompt"] == reference_render(tok, messages, gen=True, kwargs=reference)
    # the model is not used to build a prompt: only the tokenizer and the recorded kwargs are
    loaded = LoadedModel(None, tok, None, tokdir, dict(kwargs))
    assert render_prompt(loaded, messages) == out["prompt"]
    prompt_ids = encode_prompt(loaded, messages)
    assert out["input_ids"][: len(prompt_ids)] == prompt_ids
    assert tok.decode(prompt_ids) == out["prompt"]
    summary = transform.summary()
    assert summary["template_kwargs"] == kwargs
    if "strftime_now" in kwargs:
        assert "01 Mar 2025" in out["prompt"] and summary["template_date"] == "2025-03-01"


def test_template_date_is_fixed_and_recorded(tokdir: Path) -> None:
    """A template that prints today's date gets the documented fixed date (byte-identical exports
    on any day) and the manifest's tokenization says which date the ids hold."""
    tok = tokenizer_for(tokdir, "trl/llama3_2")
    transform = RowTransform("chat", tok)
    row = transform({"messages": CHATS["single"]})
    assert isinstance(row, dict)
    assert "26 Jul 2024" in tok.decode(row["input_ids"])
    assert transform.summary()["template_date"] == "2024-07-26"
    qwen = RowTransform("chat", tokenizer_for(tokdir, "trl/qwen2_5"))
    assert "template_date" not in qwen.summary()  # a template that prints no date


def test_bad_template_kwargs_are_one_error(tokdir: Path) -> None:
    from curate.errors import CurateError

    tok = tokenizer_for(tokdir, "trl/llama3_1")
    with pytest.raises(
        CurateError, match=r"template_kwargs.strftime_now: expected a date YYYY-MM-DD, got 'soon'"
    ):
        RowTransform("chat", tok, template_kwargs={"strftime_now": "soon"})
    with pytest.raises(CurateError, match="template_kwargs: messages is set by curate"):
        RowTransform("chat", tok, template_kwargs={"messages": []})
    with pytest.raises(CurateError, match="template chatml takes none"):
        RowTransform("chat", tok, get_template("chatml"), template_kwargs={"enable_thinking": False})


def test_export_records_template_kwargs_and_workers_render_with_them(
    cli: Any, tmp_path: Path, tokdir: Path
) -> None:
    """``template_kwargs:`` in a spec: the manifest records them, every row renders with them
    (Qwen3 without thinking: the empty think block is in the prompt, never trained), and worker
    processes (``--num-proc 2``) write the same bytes as one process."""

    import yaml
    from helpers import SPECS

    spec = yaml.safe_load((SPECS / "chat-review.yaml").read_text())
    spec["source"]["path"] = str(SPECS / spec["source"]["path"])
    spec["template_kwargs"] = {"enable_thinking": False}
    spec_path = tmp_path / "chat-nothink.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    tok = tokenizer_for(tokdir, "trl/qwen3")
    outs = []
    for n in ("1", "2"):
        out = tmp_path / f"out{n}"
        result = cli(
            "export", spec_path, "--out", out, "-q", "--tokenizer", tokdir / "trl-qwen3", "--num-proc", n
        )
        assert result.exit_code == 0, result.stderr
        outs.append(out)
    manifest = manifest_of(outs[0])
    assert manifest["tokenization"]["template_kwargs"] == {"enable_thinking": False}
    import pyarrow.parquet as pq

    rows = pq.read_table(outs[0] / "train.parquet").to_pylist()
    assert rows
    for row in rows:
        runs = trained_runs(tok, row["input_ids"], row["labels"])
        assert runs and not any("think>" in run for run in runs), runs
        assert runs[-1] == row["messages"][-1]["content"] + "<|im_end|>"
    for path in sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.parquet")):
        assert (outs[0] / path).read_bytes() == (outs[1] / path).read_bytes(), path
