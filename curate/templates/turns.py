"""The labeling rule, on text: which characters of a rendered conversation an assistant turn trains.

Each assistant turn is built in its inference form by :func:`curate.templates.turn_rule.inference_turn`
(the one rule: the prompt ``render(messages[:i], add_generation_prompt=True)``, then what the
model writes: text the template expects before the reply, the reply and the turn's whole
ending). This module fits the turns of one conversation into one training sequence.

A turn is trained in a sequence only if that sequence starts with exactly its prompt and
continuation. The sequence is the rendered conversation, or the last turn's inference form where
the template shows that turn differently in history (reasoning templates whose prompt already
holds ``<think></think>``). Templates that rewrite history (dropping earlier reasoning, or an end
marker only the last turn gets) fail that test for earlier turns: those turns are left out of
the sequence and counted (``history_rewritten``), and ``train_on: each_turn_as_row`` trains each
of them in its own row. A turn whose continuation cannot be read off is refused with the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from curate.records import Message
from curate.templates.turn_rule import InferenceTurn, TurnError, inference_turn

TrainOn = Literal["all_assistant", "last_assistant", "each_turn_as_row"]
TRAIN_ON: tuple[str, ...] = ("all_assistant", "last_assistant", "each_turn_as_row")
Render = Callable[[Sequence[Message], bool], str]


class TemplateError(Exception):
    """A conversation this template cannot render with exact trained text: the row is rejected
    with ``reason`` (a stable code counted in the manifest) and the message as detail."""

    def __init__(self, message: str, reason: str = "template_error"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RenderedChat:
    """A rendered conversation and the character spans the model is trained on.

    ``turns``: message indices of the trained turns (one span each); ``prompt_ends``: where each
    trained turn's prompt ends; ``masked``: ``(turn, reason, detail)`` for assistant turns that
    could not be trained in this sequence; ``open_ended``: trained turns after which the template
    puts no stop marker (the model cannot learn to stop from them); ``prefilled``: trained turns
    trained in their inference form, which the template's history rendering does not show.
    """

    text: str
    spans: tuple[tuple[int, int], ...]
    turns: tuple[int, ...]
    prompt_ends: tuple[int, ...] = ()
    masked: tuple[tuple[int, str, str], ...] = ()
    open_ended: tuple[int, ...] = ()
    prefilled: tuple[int, ...] = ()


def find_turns(
    render: Render,
    messages: Sequence[Message],
    stops: Sequence[str],
    train_on: TrainOn = "all_assistant",
    first_turn: int = 0,
    describe: str = "the template",
    specials: Sequence[str] = (),
    openers: Sequence[str] = (),
) -> RenderedChat:
    """Render ``messages`` and find the trained span of each assistant turn (see the module doc).

    Raises :class:`TemplateError` when no turn can be trained (the reason names the cause).

    >>> def chatml(msgs, gen):
    ...     text = "".join(f"<|im_start|>{m['role']}\\n{m['content']}<|im_end|>\\n" for m in msgs)
    ...     return text + ("<|im_start|>assistant\\n" if gen else "")
    >>> chat = find_turns(chatml, [{"role": "user", "content": "Hi"},
    ...                            {"role": "assistant", "content": "Yo"}], ["<|im_end|>"])
    >>> [chat.text[s:e] for s, e in chat.spans]
    ['Yo<|im_end|>']
    """
    full = render(messages, False)
    candidates = [i for i, m in enumerate(messages) if m["role"] == "assistant" and i >= first_turn]
    if train_on != "all_assistant":
        candidates = candidates[-1:]
    if not candidates:
        raise TemplateError("the conversation has no assistant turn to train", "no_assistant_reply")
    masked: list[tuple[int, str, str]] = []
    last = len(messages) - 1
    found: dict[int, InferenceTurn] = {}
    for i in candidates:
        try:
            if i == last and render(messages, False) != full:
                raise TemplateError(
                    f"{describe} renders the same conversation differently", "template_not_deterministic"
                )
            found[i] = inference_turn(render, messages, i, stops, specials, openers, describe)
        except (TemplateError, TurnError) as err:
            masked.append((i, err.reason, str(err)))
    # The sequence: the conversation as rendered, or, where the template shows the last turn
    # differently from what the model meets at inference, that turn's inference form.
    text = found[last].text if last in found else full
    spans: list[tuple[int, int]] = []
    turns: list[int] = []
    prompt_ends: list[int] = []
    open_ended: list[int] = []
    prefilled: list[int] = []
    for i, turn in found.items():
        start = len(turn.prompt)
        reply = messages[i]["content"].strip()
        leak = _prompt_text_in(turn.text[start : turn.end], reply, messages[:i])
        if leak is not None:
            masked.append(
                (
                    i,
                    "prompt_text_in_turn",
                    f"{describe} writes message {leak}'s text into assistant turn {i}, which would train it",
                )
            )
            continue
        if text.startswith(turn.text[: turn.end]):
            end = turn.end
        elif text.startswith(turn.text[: turn.first_stop]):
            end = turn.first_stop  # the rest of the ending shows only after the whole conversation
        else:
            masked.append(
                (
                    i,
                    "history_rewritten",
                    f"{describe} shows assistant turn {i} differently in later history than the model "
                    "generates it (train_on: each_turn_as_row trains it in its own row)",
                )
            )
            continue
        stopped = turn.stopped
        if not stopped and i != last:
            # A template with no marker after the turn itself may open the next turn with a stop
            # token (GLM stops on <|user|>): that is what the model generates to end its turn.
            rest = text[end:]
            gap = len(rest) - len(rest.lstrip())
            marker = next((m for m in stops if m and rest[gap:].startswith(m)), None)
            if marker is not None:
                end, stopped = end + gap + len(marker), True
        spans.append((start, end))
        turns.append(i)
        prompt_ends.append(start)
        if not turn.history_form:
            prefilled.append(i)
        if not stopped:
            open_ended.append(i)
    masked.sort()
    if not spans:
        _, reason, detail = masked[-1]
        raise TemplateError(detail, reason)
    return RenderedChat(
        text,
        tuple(spans),
        tuple(turns),
        tuple(prompt_ends),
        tuple(masked),
        tuple(open_ended),
        tuple(prefilled),
    )


def _prompt_text_in(trained: str, reply: str, history: Sequence[Message]) -> int | None:
    """The index of a system/user message whose text the template repeats in the trained part
    of a turn, outside the reply (never train prompt text)."""
    at = trained.find(reply) if reply else -1
    fixed = trained[:at] + "\x00" + trained[at + len(reply) :] if at >= 0 else trained
    for k, m in enumerate(history):
        content = m["content"].strip()
        if m["role"] != "assistant" and content and content in fixed:
            return k
    return None
