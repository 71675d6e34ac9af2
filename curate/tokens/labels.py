"""Token-level labels: a text and the character spans to train become ``input_ids`` and ``labels``.

:class:`Labeler` tokenizes each text once with the fast tokenizer and marks exactly the tokens
whose character offsets fall in a span. That is right by construction where TRL's "tokenize the
prompt alone, count its tokens" is not: a tokenizer that merges across the boundary, or
tokenizes ``### Assistant:`` differently with and without context (Llama-2). Every trained run is
decoded back and compared with the text it covers (the self-check); a row that fails is
rejected with a reason, never trained silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from curate.rows import Rejection

IGNORE_INDEX = -100
CharRange = tuple[int, int]  # [start, end) characters of a text


@dataclass(frozen=True)
class Segment:
    """One sequence to tokenize: a text and the character spans to train on."""

    text: str
    spans: tuple[CharRange, ...]
    add_special_tokens: bool


@dataclass
class Encoded:
    """A tokenized segment with its labels (``IGNORE_INDEX`` on tokens not trained)."""

    input_ids: list[int]
    labels: list[int]
    boundary_merged: int = 0
    offsets: list[tuple[int, int]] | None = None


@dataclass(frozen=True)
class _Run:
    start: int  # token index, inclusive
    stop: int  # token index, exclusive
    expected: str  # the text these tokens must decode to
    merged: bool  # a token carries whitespace from outside the span


class Labeler:
    """Tokenizes segments and labels exactly the tokens that cover their spans, then self-checks.

    A token is trained when its character offsets overlap a span. Where a token straddles a
    span edge (``"▁Paris"`` after a prompt ending in a space) it is trained if the outside part
    is whitespace only, and rejected (``boundary_merge``) otherwise: training it would teach the
    model to produce prompt text.
    """

    def __init__(self, tokenizer: Any, keep_offsets: bool = False):
        self.tokenizer = tokenizer
        self.backend = tokenizer.backend_tokenizer
        self.keep_offsets = keep_offsets

    def encode(self, segments: Sequence[Segment]) -> list[Encoded | Rejection]:
        out: list[Encoded | Rejection | None] = [None] * len(segments)
        encodings: list[Any] = [None] * len(segments)
        for flag in (True, False):
            idx = [i for i, s in enumerate(segments) if s.add_special_tokens is flag]
            if idx:
                batch = self.backend.encode_batch([segments[i].text for i in idx], add_special_tokens=flag)
                for i, enc in zip(idx, batch, strict=True):
                    encodings[i] = enc
        runs: list[list[_Run]] = []
        ids_of: list[list[int]] = []
        for i, (seg, enc) in enumerate(zip(segments, encodings, strict=True)):
            ids = enc.ids
            ids_of.append(ids)
            row_runs: list[_Run] = []
            for span in seg.spans:
                run = _locate(enc, seg.text, span)
                if isinstance(run, tuple):
                    out[i] = run
                    break
                row_runs.append(run)
            runs.append(row_runs)
        # Self-check: each trained run decodes to exactly the text it covers.
        flat = [(i, r) for i, rs in enumerate(runs) if out[i] is None for r in rs]
        decoded = self.backend.decode_batch(
            [ids_of[i][r.start : r.stop] for i, r in flat], skip_special_tokens=False
        )
        for (i, run), text in zip(flat, decoded, strict=True):
            if out[i] is None and text != run.expected and not self._decodes_in_context(ids_of[i], run):
                got = text if text.strip() != run.expected.strip() else self._in_context(ids_of[i], run)
                out[i] = Rejection(
                    "decode_mismatch",
                    f"trained tokens decode to {_clip(got)}, expected {_clip(run.expected)} "
                    "(the tokenizer does not round-trip this text)",
                )
        for i, enc in enumerate(encodings):
            if out[i] is not None:
                continue
            ids = ids_of[i]
            labels = [IGNORE_INDEX] * len(ids)
            for run in runs[i]:
                labels[run.start : run.stop] = ids[run.start : run.stop]
            out[i] = Encoded(
                ids,
                labels,
                boundary_merged=sum(r.merged for r in runs[i]),
                offsets=list(enc.offsets) if self.keep_offsets else None,
            )
        return out  # type: ignore[return-value]

    def _in_context(self, ids: list[int], run: _Run) -> str:
        before = self.backend.decode(ids[: run.start], skip_special_tokens=False)
        through = self.backend.decode(ids[: run.stop], skip_special_tokens=False)
        return str(through[len(before) :]) if through.startswith(before) else str(through)

    def _decodes_in_context(self, ids: list[int], run: _Run) -> bool:
        # Decoders like Llama-2's strip the first token's leading space; decoding with the tokens
        # before the run and taking the difference shows what the run adds in its real context.
        before = self.backend.decode(ids[: run.start], skip_special_tokens=False)
        through = self.backend.decode(ids[: run.stop], skip_special_tokens=False)
        return bool(through.startswith(before) and through[len(before) :] == run.expected)


def _clip(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n // 2] + "…" + text[-n // 2 :])


def _locate(enc: Any, text: str, span: CharRange) -> _Run | Rejection:
    """The tokens covering characters ``[s, e)`` of ``text``."""
    s, e = span
    first = enc.char_to_token(s)
    last = enc.char_to_token(e - 1)
    if first is None or last is None:
        # A character the tokenizer produced no token for (a normalizer dropped it): scan.
        covering = [t for t, (a, b) in enumerate(enc.offsets) if a < e and b > s and b > a]
        if not covering:
            return Rejection("empty_completion", f"no token covers characters {s}..{e} ({_clip(text[s:e])})")
        first, last = covering[0], covering[-1]
    # Byte-level tokenizers split one character over several tokens, all with its offsets.
    while first > 0 and (prev := enc.token_to_chars(first - 1)) is not None and prev[1] > s and prev[0] < e:
        first -= 1
    n = len(enc.ids)
    while (
        last + 1 < n and (nxt := enc.token_to_chars(last + 1)) is not None and nxt[0] < e and nxt[1] > nxt[0]
    ):
        last += 1
    # Edge tokens that straddle the span: one whose part inside the span is only whitespace
    # (a separator merged into prompt text, or into the text after the turn) is left out; one
    # that brings whitespace from outside with real text ("▁Paris" after "Answer:") is trained.
    while (
        first <= last
        and enc.token_to_chars(first)[0] < s
        and not text[s : enc.token_to_chars(first)[1]].strip()
    ):
        first += 1
    while (
        first <= last
        and enc.token_to_chars(last)[1] > e
        and not text[enc.token_to_chars(last)[0] : e].strip()
    ):
        last -= 1
    if first > last:
        return Rejection(
            "empty_completion", f"no token carries the text of characters {s}..{e} ({_clip(text[s:e])})"
        )
    lo = min(enc.token_to_chars(first)[0], s)
    hi = max(enc.token_to_chars(last)[1], e)
    outside = text[lo:s] + text[e:hi]
    if outside.strip():
        where = "before" if text[lo:s].strip() else "after"
        return Rejection(
            "boundary_merge",
            f"a token spans the edge of the trained text and carries {_clip(text[lo:s] or text[e:hi])} from "
            f"{where} it; the template should end the prompt with a separator (newline or marker)",
        )
    return _Run(first, last + 1, text[lo:hi], bool(outside))
