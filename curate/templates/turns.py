"""The labeling rule, on text: which characters of a rendered conversation an assistant turn trains.

For assistant turn ``i`` the model is given ``render(messages[:i], add_generation_prompt=True)``
(the *prompt*) and generates until its end-of-turn marker. What it must generate is read off
``render(messages[:i + 1])``: the text after the prompt (fixed text the template puts before the
reply, the reply, whitespace up to the marker) through the first *stop marker* after the reply
(EOS, or the marker that ends every turn of the template), never anything after it.

A turn is trained in a sequence only if that sequence starts with exactly prompt + continuation.
Templates that rewrite history (dropping earlier reasoning, or an end marker only the last turn
gets) fail that test for earlier turns: those turns are left out of the sequence and counted
(``history_rewritten``), and ``train_on: each_turn_as_row`` trains each of them in its own row.
A turn whose continuation cannot be read off at all is refused with a reason naming the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from curate.records import Message

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
    whose generation prompt carries text history does not show (see :func:`_continuation_start`).
    """

    text: str
    spans: tuple[tuple[int, int], ...]
    turns: tuple[int, ...]
    prompt_ends: tuple[int, ...] = ()
    masked: tuple[tuple[int, str, str], ...] = ()
    open_ended: tuple[int, ...] = ()
    prefilled: tuple[int, ...] = ()


def continuation_end(continuation: str, reply: str, stops: Sequence[str]) -> tuple[int, bool]:
    """Where the trained part of ``continuation`` ends: after the first stop marker that follows
    the reply (``True``), or, with none, after the reply less trailing whitespace (``False``).

    >>> continuation_end("Hello<|im_end|>\\n", "Hello", ["<|im_end|>"])
    (15, True)
    >>> c = "<|START_RESPONSE|>Hi<|END_RESPONSE|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>"
    >>> c[: continuation_end(c, "Hi", ["<|END_OF_TURN_TOKEN|>"])[0]]
    '<|START_RESPONSE|>Hi<|END_RESPONSE|><|END_OF_TURN_TOKEN|>'
    >>> continuation_end(" Hello ", "Hello", ["</s>"])
    (6, False)
    """
    at = continuation.find(reply) if reply else 0
    after = (at if at >= 0 else 0) + len(reply)
    best: tuple[int, int] | None = None
    for stop in stops:
        pos = continuation.find(stop, after)
        if pos >= 0 and (best is None or pos < best[0] or (pos == best[0] and len(stop) > best[1])):
            best = (pos, len(stop))
    if best is not None:
        return best[0] + best[1], True
    return len(continuation.rstrip()), False


def find_turns(
    render: Render,
    messages: Sequence[Message],
    stops: Sequence[str],
    train_on: TrainOn = "all_assistant",
    first_turn: int = 0,
    describe: str = "the template",
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
    spans: list[tuple[int, int]] = []
    turns: list[int] = []
    prompt_ends: list[int] = []
    masked: list[tuple[int, str, str]] = []
    open_ended: list[int] = []
    prefilled: list[int] = []
    last = len(messages) - 1
    for i in candidates:
        try:
            prompt = render(messages[:i], True)
            through = full if i == last else render(messages[: i + 1], False)
            if i == last and render(messages, False) != full:
                raise TemplateError(
                    f"{describe} renders the same conversation differently", "template_not_deterministic"
                )
            start = _continuation_start(render, messages, i, prompt, through, describe)
        except TemplateError as err:
            masked.append((i, err.reason, str(err)))
            continue
        if start < len(prompt):
            prefilled.append(i)
        continuation = through[start:]
        reply = messages[i]["content"].strip()
        if reply and reply not in continuation:
            masked.append(
                (
                    i,
                    "reply_not_rendered",
                    f"{describe} does not render assistant turn {i}'s text after its generation prompt",
                )
            )
            continue
        end, stopped = continuation_end(continuation, reply, stops)
        leak = _prompt_text_in(continuation[:end], reply, messages[:i])
        if leak is not None:
            masked.append(
                (
                    i,
                    "prompt_text_in_turn",
                    f"{describe} writes message {leak}'s text into assistant turn {i}, which would train it",
                )
            )
            continue
        if not full.startswith(through[: start + end]):
            masked.append(
                (
                    i,
                    "history_rewritten",
                    f"{describe} shows assistant turn {i} differently in later history than the model "
                    "generates it (train_on: each_turn_as_row trains it in its own row)",
                )
            )
            continue
        if not stopped and i != last:
            # A template with no marker after the turn itself may open the next turn with a stop
            # token (GLM stops on <|user|>): that is what the model generates to end its turn.
            rest = full[start + end :]
            gap = len(rest) - len(rest.lstrip())
            marker = next((m for m in stops if m and rest[gap:].startswith(m)), None)
            if marker is not None:
                end, stopped = end + gap + len(marker), True
        spans.append((start, start + end))
        turns.append(i)
        prompt_ends.append(start)
        if not stopped:
            open_ended.append(i)
    if not spans:
        _, reason, detail = masked[-1]
        raise TemplateError(detail, reason)
    return RenderedChat(
        full,
        tuple(spans),
        tuple(turns),
        tuple(prompt_ends),
        tuple(masked),
        tuple(open_ended),
        tuple(prefilled),
    )


def _marker_boundary(text: str, at: int) -> int:
    r"""``at``, moved back so that it does not cut a marker such as ``<|START_RESPONSE|>`` or
    ``</think>`` (the shared header of two texts can end inside one: ``<|START_`` / ``<``).

    >>> _marker_boundary("<|START_RESPONSE|>Hi", 8)
    0
    >>> _marker_boundary("<|turn>model\nHi", 13)
    13
    """
    for opening, closing in (("<", ">"), ("[", "]")):
        k = text.rfind(opening, 0, at)
        if k >= 0 and closing not in text[k:at]:
            at = k
    return at


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


def _continuation_start(
    render: Render, messages: Sequence[Message], i: int, prompt: str, through: str, describe: str
) -> int:
    """Where, in the conversation rendered through turn ``i``, the text the model generates starts.

    Normally right after the generation prompt. Some templates put text in the generation prompt
    that history never shows (Gemma 4's empty thought channel, a ``<think>`` prefill): then the
    turn starts where the rendered turn leaves the generation prompt, after the header they share.
    """
    if through.startswith(prompt):
        return len(prompt)
    history = render(messages[:i], False)
    if prompt.startswith(history) and through.startswith(history):
        gen, turn = prompt[len(history) :], through[len(history) :]
        shared = next(
            (j for j, (a, b) in enumerate(zip(gen, turn, strict=False)) if a != b), min(len(gen), len(turn))
        )
        shared = _marker_boundary(turn, shared)
        if shared > 0:
            return len(history) + shared
    reason, detail = _diagnose(render, messages, i, prompt, through, describe)
    raise TemplateError(detail, reason)


def _diagnose(
    render: Render, messages: Sequence[Message], i: int, prompt: str, through: str, describe: str
) -> tuple[str, str]:
    """Why the conversation ending with turn ``i`` does not start with its generation prompt."""
    if render(messages[:i], True) != prompt:
        return "template_not_deterministic", f"{describe} renders the same conversation differently"
    for k, m in enumerate(messages[:i]):
        content = m["content"].strip()
        if content and content in prompt and content not in through:
            if m["role"] == "system":
                return (
                    "system_message_dropped",
                    f"{describe} drops the system message when the conversation ends with an assistant "
                    "turn, so no training sequence shows the system prompt the model is given",
                )
            return (
                "message_dropped",
                f"{describe} drops message {k} ({m['role']}) when the conversation ends with an assistant turn",
            )
    at = next(
        (j for j, (a, b) in enumerate(zip(prompt, through, strict=False)) if a != b),
        min(len(prompt), len(through)),
    )
    return (
        "generation_prompt_mismatch",
        f"{describe}: the conversation through assistant turn {i} does not begin with its generation "
        f"prompt (at character {at}: prompt has {prompt[at : at + 24]!r}, turn has {through[at : at + 24]!r})",
    )
