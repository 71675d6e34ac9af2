"""The one rule for what an assistant turn trains, for every chat template (issue 21).

At inference the model is given ``prompt = render(messages[:i], add_generation_prompt=True)`` and
writes the rest of turn ``i``. :func:`inference_turn` builds that turn in its *inference form*:
the prompt, then the continuation the model writes (text the template expects before the reply,
the reply, and the turn's whole ending), then whatever the template emits after it (never
trained). The labeler (:mod:`curate.templates.turns`), ``curate preview``'s template check and
the tests all call it; the tests with transformers' own renderer.

How the continuation is read off ``through = render(messages[:i + 1])``:

* ``through`` starts with the prompt: the continuation is the rest (history form = inference form);
* else both start with the history ``render(messages[:i])``, and the generation prompt ``G`` and the
  rendered turn differ (reasoning templates). Then, in this order:
  - the prompt already ends with the marker history puts just before the reply (``</think>``
    in a ``<think></think>`` prompt): the model writes the reply;
  - the prompt extends the turn's header (an empty thought channel, a ``<think>`` prefill):
    the model writes the reply;
  - they share a header and part: the model writes what history shows after the header
    (``</think>reply`` after a ``<think>`` prompt);
  - otherwise the turn is refused with the cause.

The ending: from the first stop marker after the reply, every further special token up to the
one that opens the next turn (``<|end|>`` + ``</s>``, ``<|END_TEXT|><|END_OF_TURN_TOKEN|>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from curate.records import Message

Render = Callable[[Sequence[Message], bool], str]


class TurnError(Exception):
    """No exact inference form for a turn: ``reason`` is a stable code, the message says why."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InferenceTurn:
    """Turn ``i`` as the model meets it: ``text[:len(prompt)]`` is given, ``text[len(prompt):end]``
    is trained; ``first_stop`` ends the shortest ending (through the first stop marker), for a
    sequence that shows only that much of it. ``history_form``: ``text`` is what the template
    renders for ``messages[:i + 1]`` (else the prompt replaced the turn's history rendering)."""

    prompt: str
    text: str
    end: int
    first_stop: int
    stopped: bool
    history_form: bool

    @property
    def trained(self) -> str:
        return self.text[len(self.prompt) : self.end]


def inference_turn(
    render: Render,
    messages: Sequence[Message],
    i: int,
    stops: Sequence[str],
    specials: Sequence[str] = (),
    openers: Sequence[str] = (),
    describe: str = "the template",
) -> InferenceTurn:
    """Assistant turn ``i`` in its inference form (see the module doc); raises :class:`TurnError`.

    >>> def glm(msgs, gen):  # GLM-4.7-Flash's shape without thinking: the prompt holds </think>
    ...     text = "".join(f"<|{m['role']}|>" + ("</think>" if m["role"] == "assistant" else "")
    ...                    + m["content"] for m in msgs)
    ...     return text + ("<|assistant|><think></think>" if gen else "")
    >>> chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    >>> t = inference_turn(glm, chat, 1, ["<|user|>"])
    >>> t.prompt, t.trained
    ('<|user|>Hi<|assistant|><think></think>', 'Yo')
    >>> def phi(msgs, gen):  # a turn ending of <|end|>, and </s> after the whole conversation
    ...     text = "".join(f"<|{m['role']}|>\\n{m['content']}<|end|>\\n" for m in msgs)
    ...     return text + ("<|assistant|>\\n" if gen else "</s>")
    >>> t = inference_turn(phi, chat, 1, ["<|end|>"], ["<|end|>", "</s>", "<|user|>"], ["<|user|>"])
    >>> t.trained, t.text[len(t.prompt) : t.first_stop]
    ('Yo<|end|>\\n</s>', 'Yo<|end|>')
    """
    prompt = render(messages[:i], True)
    through = render(messages[: i + 1], False)
    reply = messages[i]["content"].strip()
    if through.startswith(prompt):
        text, history_form = through, True
    else:
        history = render(messages[:i], False)
        start = None
        if prompt.startswith(history) and through.startswith(history):
            gen, turn = prompt[len(history) :], through[len(history) :]
            at = turn.find(reply) if reply else -1
            start = _start_after_prompt(gen, turn, at)
        elif reply and not _dropped(messages, i, prompt, through):
            # A template that ends every conversation with the next assistant header (Command
            # R7B): history is not a prefix. Prompt and turn share everything up to the assistant
            # header; what follows it in the turn is what the model writes after the prompt.
            shared = next(
                (j for j, (a, b) in enumerate(zip(prompt, through, strict=False)) if a != b),
                min(len(prompt), len(through)),
            )
            history = through[: _marker_boundary(through, shared)]
            turn = through[len(history) :]
            at = turn.find(reply)
            if at >= 0 and not _MARKER_TEXT.sub("", turn[:at]).strip():
                start = 0
        if start is None:
            raise TurnError(*_diagnose(render, messages, i, prompt, through, describe))
        text, history_form = prompt + turn[start:], False
    continuation = text[len(prompt) :]
    if reply and reply not in continuation:
        raise TurnError(
            f"{describe} does not render assistant turn {i}'s text after its generation prompt",
            "reply_not_rendered",
        )
    first, stopped = continuation_end(continuation, reply, stops)
    end = _whole_ending(continuation, first, specials, openers) if stopped else first
    base = len(prompt)
    return InferenceTurn(prompt, text, base + end, base + first, stopped, history_form)


def continuation_end(continuation: str, reply: str, stops: Sequence[str]) -> tuple[int, bool]:
    """Where the first stop marker after the reply ends (``True``), or, with none, where the
    reply ends less trailing whitespace (``False``).

    >>> continuation_end("Hello<|im_end|>\\n", "Hello", ["<|im_end|>"])
    (15, True)
    >>> continuation_end(" Hello ", "Hello", ["</s>"])
    (6, False)
    """
    at = continuation.find(reply) if reply else 0
    after = (at if at >= 0 else 0) + len(reply)
    best: tuple[int, int] | None = None
    for stop in stops:
        pos = continuation.find(stop, after) if stop else -1
        if pos >= 0 and (best is None or pos < best[0] or (pos == best[0] and len(stop) > best[1])):
            best = (pos, len(stop))
    if best is not None:
        return best[0] + best[1], True
    return len(continuation.rstrip()), False


def _whole_ending(continuation: str, end: int, specials: Sequence[str], openers: Sequence[str]) -> int:
    """``end`` moved past every special token (and whitespace between) that follows the first
    stop marker, up to one that opens a turn.

    >>> _whole_ending("Hi<|END_TEXT|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>", 14,
    ...               ["<|END_TEXT|>", "<|END_OF_TURN_TOKEN|>", "<|START_OF_TURN_TOKEN|>"],
    ...               ["<|START_OF_TURN_TOKEN|>"])
    35
    """
    ordered = sorted((s for s in specials if s.strip() and s not in openers), key=len, reverse=True)
    while True:
        rest = continuation[end:]
        gap = len(rest) - len(rest.lstrip())
        token = next((s for s in ordered if rest.startswith(s, gap)), None)
        if token is None:
            return end
        end += gap + len(token)


_MARKER_OPEN = re.compile(r"[<\[]")
_MARKER_TEXT = re.compile(r"<[^<>\s]{1,40}>|\[[^\[\]\s]{1,40}\]")


def _dropped(messages: Sequence[Message], i: int, prompt: str, through: str) -> bool:
    """Whether a message before turn ``i`` shows in its prompt but not in the rendered turn."""
    for m in messages[:i]:
        content = m["content"].strip()
        if content and content in prompt and content not in through:
            return True
    return False


def _start_after_prompt(gen: str, turn: str, at: int) -> int | None:
    """Where in the rendered turn the text the model writes after generation prompt ``gen`` starts
    (``at``: where the reply starts in ``turn``, -1 if unknown).

    >>> _start_after_prompt("<|assistant|><think></think>", "<|assistant|></think>Yo", 21)
    21
    >>> _start_after_prompt("<|turn>model\\n<|channel>thought\\n<channel|>", "<|turn>model\\nYo", 13)
    13
    >>> _start_after_prompt("<|assistant|><think>", "<|assistant|></think>Yo", 21)
    13
    """
    if at >= 0:
        before = turn[:at].rstrip()
        k = 0
        while k < min(len(gen), len(before)) and gen[-1 - k] == before[-1 - k]:
            k += 1
        shared = before[len(before) - k :]
        opening = _MARKER_OPEN.search(shared)
        if opening is not None and shared[opening.start() :].strip() and shared.endswith((">", "]")):
            return len(before)
        if gen.startswith(turn[:at]):
            return at
    same = next(
        (j for j, (a, b) in enumerate(zip(gen, turn, strict=False)) if a != b), min(len(gen), len(turn))
    )
    same = _marker_boundary(turn, same)
    return same if same > 0 else None


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


def _diagnose(
    render: Render, messages: Sequence[Message], i: int, prompt: str, through: str, describe: str
) -> tuple[str, str]:
    """(message, reason): why turn ``i`` has no inference form."""
    if render(messages[:i], True) != prompt:
        return f"{describe} renders the same conversation differently", "template_not_deterministic"
    for k, m in enumerate(messages[:i]):
        content = m["content"].strip()
        if content and content in prompt and content not in through:
            if m["role"] == "system":
                return (
                    f"{describe} drops the system message when the conversation ends with an assistant "
                    "turn, so no training sequence shows the system prompt the model is given",
                    "system_message_dropped",
                )
            return (
                f"{describe} drops message {k} ({m['role']}) when the conversation ends with an assistant turn",
                "message_dropped",
            )
    at = next(
        (j for j, (a, b) in enumerate(zip(prompt, through, strict=False)) if a != b),
        min(len(prompt), len(through)),
    )
    return (
        f"{describe}: the conversation through assistant turn {i} does not begin with its generation "
        f"prompt (at character {at}: prompt has {prompt[at : at + 24]!r}, turn has {through[at : at + 24]!r})",
        "generation_prompt_mismatch",
    )


def turn_openers(render: Render, specials: Sequence[str], stops: Sequence[str]) -> tuple[str, ...]:
    """The special tokens that open a turn: the first one of the generation prompt, and the
    first one after the last stop marker between an assistant reply and the next user turn.

    >>> def chatml(msgs, gen):
    ...     text = "".join(f"<|im_start|>{m['role']}\\n{m['content']}<|im_end|>\\n" for m in msgs)
    ...     return text + ("<|im_start|>assistant\\n" if gen else "")
    >>> turn_openers(chatml, ["<|im_start|>", "<|im_end|>"], ["<|im_end|>"])
    ('<|im_start|>',)
    """
    probe = "curate probe 5c1e"
    user: list[Message] = [{"role": "user", "content": probe}]
    pair: list[Message] = [*user, {"role": "assistant", "content": probe + " reply"}]
    found: list[str] = []
    try:
        alone = render(user, False)
        gen = render(user, True)
        gaps = [gen[len(alone) :] if gen.startswith(alone) else ""]
        three = render([*pair, {"role": "user", "content": probe + " again"}], False)
        a = three.find(probe + " reply") + len(probe + " reply")
        gap = three[a : three.find(probe + " again", a)]
        last = max((gap.rfind(s) + len(s) for s in stops if s and s in gap), default=-1)
        gaps.append(gap[last:] if last >= 0 else "")
    except Exception:  # a template that refuses these probes: no openers known
        return ()
    for gap in gaps:
        hits = [(gap.find(s), -len(s), s) for s in specials if s.strip() and s in gap]
        if hits:
            found.append(min(hits)[2])
    return tuple(dict.fromkeys(found))
