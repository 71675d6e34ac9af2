"""Token ids and ``labels`` for export rows. This is the ONLY place that builds ``labels``.

A row becomes one or more *segments*: a text and the character spans the model is trained on
(a prompt/completion row: the completion and the EOS; a chat: every assistant turn with its
end-of-turn marker). :class:`Labeler` tokenizes the text once with the fast tokenizer and marks
exactly the tokens whose character offsets fall in a span. That is right by construction where
TRL's "tokenize the prompt alone, count its tokens" is not: a tokenizer that merges across the
boundary, or tokenizes ``### Assistant:`` differently with and without context (Llama-2).

Every trained run is decoded back and compared with the text it covers (the self-check); a row
that fails is rejected with a reason, never trained silently.

Pre-tokenized columns TRL 1.12 uses as is:

* SFT and chat rows: ``input_ids``, ``attention_mask``, ``labels`` (``-100`` = not trained).
  ``SFTTrainer`` skips its own tokenization when ``input_ids`` is present and keeps ``labels``.
* preference rows: ``chosen_ids`` and ``rejected_ids`` (prompt + answer + EOS, whole
  sequences), which ``RewardTrainer`` takes as is. ``DPOTrainer`` 1.12 has no pre-tokenized
  path (it always re-tokenizes ``prompt``/``chosen``/``rejected``), so it reads the text columns.
* prompt-only rows: ``input_ids`` and ``attention_mask`` of the prompt (with the generation
  prompt for chats), as the PPO trainer reads them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from curate.errors import CurateError
from curate.templates import ChatTemplate, PromptTemplate, TemplateError, get_template
from curate.templates.chat import TokenizerTemplate, TrainOn

IGNORE_INDEX = -100
Truncation = Literal["drop", "cut_prompt", "cut_completion"]
TRUNCATIONS: tuple[str, ...] = ("drop", "cut_prompt", "cut_completion")
TRAIN_ON: tuple[str, ...] = ("all_assistant", "last_assistant")
TASKS: tuple[str, ...] = ("sft", "chat", "preference", "prompt")
Reject = tuple[str, str]
Span = tuple[int, int]


# --- loading -------------------------------------------------------------------------------------


def load_tokenizer(path: str | Path) -> Any:
    """A fast (Rust-backed) tokenizer from a local folder; character offsets need the Rust backend."""
    from transformers import AutoTokenizer

    where = Path(path)
    if not where.exists():
        raise CurateError(f"{path}: tokenizer folder not found (expected a save_pretrained folder)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(where))
    except Exception as err:  # transformers raises OSError, ValueError, ... for a bad folder
        raise CurateError(f"{path}: cannot load tokenizer ({err.__class__.__name__}: {err})") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise CurateError(
            f"{path}: the tokenizer has no fast (Rust) backend; exact labels need character offsets"
        )
    return tokenizer


# --- labels from character spans -----------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One sequence to tokenize: a text and the character spans to train on."""

    text: str
    spans: tuple[Span, ...]
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

    def encode(self, segments: Sequence[Segment]) -> list[Encoded | Reject]:
        out: list[Encoded | Reject | None] = [None] * len(segments)
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
                out[i] = (
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


def _locate(enc: Any, text: str, span: Span) -> _Run | Reject:
    """The tokens covering characters ``[s, e)`` of ``text``."""
    s, e = span
    first = enc.char_to_token(s)
    last = enc.char_to_token(e - 1)
    if first is None or last is None:
        # A character the tokenizer produced no token for (a normalizer dropped it): scan.
        covering = [t for t, (a, b) in enumerate(enc.offsets) if a < e and b > s and b > a]
        if not covering:
            return ("empty_completion", f"no token covers characters {s}..{e} ({_clip(text[s:e])})")
        first, last = covering[0], covering[-1]
    # Byte-level tokenizers split one character over several tokens, all with its offsets.
    while first > 0 and (prev := enc.token_to_chars(first - 1)) is not None and prev[1] > s and prev[0] < e:
        first -= 1
    n = len(enc.ids)
    while (
        last + 1 < n and (nxt := enc.token_to_chars(last + 1)) is not None and nxt[0] < e and nxt[1] > nxt[0]
    ):
        last += 1
    lo = min(enc.token_to_chars(first)[0], s)
    hi = max(enc.token_to_chars(last)[1], e)
    outside = text[lo:s] + text[e:hi]
    if outside.strip():
        where = "before" if text[lo:s].strip() else "after"
        return (
            "boundary_merge",
            f"a token spans the edge of the trained text and carries {_clip(text[lo:s] or text[e:hi])} from "
            f"{where} it; the template should end the prompt with a separator (newline or marker)",
        )
    return _Run(first, last + 1, text[lo:hi], bool(outside))


# --- rows -> segments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cut:
    ids: list[int]
    labels: list[int]
    kept: tuple[int, int, int]  # tokens [0, kept[0]) and [kept[1], kept[2]) of the original survive


@dataclass
class _Counts:
    rows: int = 0
    rows_ok: int = 0
    sequences: int = 0
    tokens: int = 0
    trainable_tokens: int = 0
    over_max_length: int = 0
    truncated: int = 0
    boundary_merged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass
class Inspection:
    """What :meth:`RowTransform.inspect` returns for ``curate preview``: per sequence, the text,
    the tokens (text piece, trained) and which token indices the truncation policy keeps."""

    name: str
    text: str
    pieces: list[tuple[str, bool]]
    kept: tuple[int, int, int]  # (head tokens kept, tail start, total): kept = [0, head) + [tail, total)
    tokens: int
    trainable: int


class RowTransform:
    """Adds token columns to export rows: ``fields()``, ``__call__(row)``, ``summary()``.

    ``__call__`` returns the extra column values, or ``(reason, detail)`` for a row that cannot
    be trained on exactly (counted by reason in :meth:`summary`). :meth:`map` does the same for
    many rows with one batched tokenizer call per chunk (the fast path).
    """

    def __init__(
        self,
        task: str,
        tokenizer: Any,
        template: PromptTemplate | None = None,
        max_length: int | None = None,
        truncation: Truncation = "drop",
        train_on: TrainOn = "all_assistant",
        tokenizer_name: str | None = None,
    ):
        if task not in TASKS:
            raise CurateError(f"unknown task {task!r}, expected one of {', '.join(TASKS)}")
        if truncation not in TRUNCATIONS:
            raise CurateError(f"--truncation: got {truncation!r}, expected one of {', '.join(TRUNCATIONS)}")
        if train_on not in TRAIN_ON:
            raise CurateError(f"train_on: got {train_on!r}, expected one of {', '.join(TRAIN_ON)}")
        if max_length is not None and max_length < 2:
            raise CurateError(f"--max-length: got {max_length}, expected at least 2")
        self.task = task
        self.tokenizer = tokenizer
        self.template = template.bind(tokenizer) if isinstance(template, ChatTemplate) else template
        self.max_length = max_length
        self.truncation = truncation
        self.train_on = train_on
        self.tokenizer_name = (
            tokenizer_name or Path(str(getattr(tokenizer, "name_or_path", "tokenizer"))).name
        )
        self.eos = tokenizer.eos_token or ""
        self.bos = tokenizer.bos_token or ""
        self.bos_id = tokenizer.bos_token_id
        self._chat: ChatTemplate | None = self.template if isinstance(self.template, ChatTemplate) else None
        if self._chat is None and task == "chat":
            self._chat = TokenizerTemplate().bind(tokenizer)
        if isinstance(self._chat, ChatTemplate):
            _check_markers(self._chat, tokenizer, self.tokenizer_name)
        self.labeler = Labeler(tokenizer)
        self.counts = _Counts()

    # --- the export interface ---------------------------------------------------------------------

    def fields(self) -> list[pa.Field]:
        ints = pa.list_(pa.int32())
        if self.task == "preference":
            return [pa.field("chosen_ids", ints), pa.field("rejected_ids", ints)]
        if self.task == "prompt":
            return [pa.field("input_ids", ints), pa.field("attention_mask", ints)]
        return [pa.field("input_ids", ints), pa.field("attention_mask", ints), pa.field("labels", ints)]

    def __call__(self, row: dict[str, Any]) -> dict[str, Any] | Reject:
        return self.batch([row])[0]

    def map(
        self, rows: Iterable[dict[str, Any]], batch_size: int = 4096
    ) -> Iterator[dict[str, Any] | Reject]:
        """:meth:`__call__` over many rows, tokenizing ``batch_size`` rows per call."""
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch_size:
                yield from self.batch(chunk)
                chunk = []
        if chunk:
            yield from self.batch(chunk)

    def batch(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any] | Reject]:
        planned = [self._segments(row) for row in rows]
        segments = [s for p in planned if isinstance(p, list) for s in p]
        encoded = iter(self.labeler.encode(segments))
        results: list[dict[str, Any] | Reject] = []
        for plan in planned:
            if isinstance(plan, tuple):
                results.append(self._count(plan))
                continue
            sequences = [next(encoded) for _ in plan]
            results.append(self._finish(sequences))
        return results

    def summary(self) -> dict[str, Any]:
        c = self.counts
        return {
            "tokenizer": self.tokenizer_name,
            "template": self._template_name(),
            "task": self.task,
            "max_length": self.max_length,
            "truncation": self.truncation,
            "train_on": self.train_on if self.task in ("chat", "sft") else None,
            "rows": c.rows,
            "rows_ok": c.rows_ok,
            "sequences": c.sequences,
            "tokens": c.tokens,
            "trainable_tokens": c.trainable_tokens,
            "trainable_token_share": round(c.trainable_tokens / c.tokens, 6) if c.tokens else 0.0,
            "over_max_length": c.over_max_length,
            "truncated": c.truncated,
            "fully_masked": c.rejected.get("fully_masked", 0),
            "boundary_merged": c.boundary_merged,
            "rejected": sum(c.rejected.values()),
            "rejected_by_reason": dict(sorted(c.rejected.items())),
        }

    # --- preview ----------------------------------------------------------------------------------

    def inspect(self, row: dict[str, Any]) -> list[Inspection] | Reject:
        """Tokens of one row with what is trained, for display (does not change the counts)."""
        plan = self._segments(row)
        if isinstance(plan, tuple):
            return plan
        labeler = Labeler(self.tokenizer, keep_offsets=True)
        names = ["chosen", "rejected"] if self.task == "preference" else [self.task]
        out: list[Inspection] = []
        for name, seg, enc in zip(names, plan, labeler.encode(plan), strict=True):
            if isinstance(enc, tuple):
                return enc
            assert enc.offsets is not None
            cut = self._truncate(enc.input_ids, enc.labels, keep_bos=True)
            n = len(enc.input_ids)
            kept = (n, n, n) if isinstance(cut, tuple) else cut.kept
            trained = [lab != IGNORE_INDEX for lab in enc.labels]
            pieces = _pieces(self.tokenizer, seg.text, enc.input_ids, enc.offsets, trained)
            kept_idx = [*range(kept[0]), *range(kept[1], n)]
            out.append(
                Inspection(name, seg.text, pieces, kept, len(kept_idx), sum(trained[i] for i in kept_idx))
            )
        return out

    # --- internals --------------------------------------------------------------------------------

    def _template_name(self) -> str | None:
        used = self.template or self._chat
        return used.describe() if used is not None else None

    def _count(self, reject: Reject) -> Reject:
        self.counts.rows += 1
        self.counts.rejected[reject[0]] += 1
        return reject

    def _chat_template(self) -> ChatTemplate:
        if self._chat is None:
            self._chat = TokenizerTemplate().bind(self.tokenizer)
        return self._chat

    def _segments(self, row: dict[str, Any]) -> list[Segment] | Reject:
        try:
            if self.task == "chat":
                if "messages" in row:
                    return [self._chat_segment(row["messages"], 0)]
                return [self._pair_segment(row["prompt"], row["completion"])]
            if self.task == "sft":
                return [self._sft_segment(row)]
            if self.task == "preference":
                return [self._pair_segment(row["prompt"], row[k]) for k in ("chosen", "rejected")]
            return [self._prompt_segment(row["prompt"])]
        except TemplateError as err:
            return ("template_error", str(err))
        except KeyError as err:
            raise CurateError(f"{self.task} row {row.get('record_id', '?')}: missing column {err}") from None

    def _sft_segment(self, row: dict[str, Any]) -> Segment:
        template = self.template
        if isinstance(template, ChatTemplate):
            user = template.user_turn(row["instruction"], row.get("context") or "")
            messages = [{"role": "user", "content": user}, {"role": "assistant", "content": row["response"]}]
            return self._chat_segment(messages, 1)
        if template is not None:
            context = row.get("context") or ""
            return self._text_segment(
                template.prompt(row["instruction"], context), template.completion(row["response"])
            )
        return self._pair_segment(row["prompt"], row["completion"])

    def _pair_segment(self, prompt: Any, completion: Any) -> Segment:
        if isinstance(prompt, str) and isinstance(completion, str):
            return self._text_segment(prompt, completion)
        if isinstance(completion, str):  # conversational prompt, plain answer (preference rows)
            completion = [{"role": "assistant", "content": completion}]
        prompt_messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return self._chat_segment([*prompt_messages, *completion], len(prompt_messages))

    def _text_segment(self, prompt: str, completion: str) -> Segment:
        if self.eos and not completion.endswith(self.eos):
            completion += self.eos
        text = prompt + completion
        add_special = not (self.bos and text.startswith(self.bos))
        return Segment(text, ((len(prompt), len(text)),) if completion else (), add_special)

    def _chat_segment(self, messages: Sequence[dict[str, str]], first_turn: int) -> Segment:
        train_on: TrainOn = self.train_on if self.task in ("chat", "sft") else "all_assistant"
        rendered = self._chat_template().assistant_spans(list(messages), train_on, first_turn)
        return Segment(rendered.text, rendered.spans, False)

    def _prompt_segment(self, prompt: Any) -> Segment:
        if isinstance(prompt, str):
            return Segment(prompt, (), not (self.bos and prompt.startswith(self.bos)))
        return Segment(self._chat_template().render(list(prompt), True), (), False)

    def _truncate(self, ids: list[int], labels: list[int], keep_bos: bool) -> _Cut | Reject:
        """Apply the truncation policy to one sequence."""
        n, limit = len(ids), self.max_length
        if limit is None or n <= limit:
            return _Cut(ids, labels, (n, n, n))
        if self.truncation == "drop":
            return ("too_long", f"{n} tokens > --max-length {limit}")
        if self.truncation == "cut_completion":
            if self.task == "prompt":
                return (
                    "too_long",
                    f"{n} tokens > --max-length {limit}; prompt rows can only be cut with cut_prompt",
                )
            return _Cut(ids[:limit], labels[:limit], (limit, n, n))
        # cut_prompt: drop tokens from the left, after the BOS if there is one.
        head = 1 if keep_bos and self.bos_id is not None and ids and ids[0] == self.bos_id else 0
        first_trained = next((i for i, lab in enumerate(labels) if lab != IGNORE_INDEX), n)
        tail = n - (limit - head)
        if self.task != "prompt" and tail > first_trained:
            return (
                "too_long",
                f"{n} tokens > --max-length {limit}, and the trained part alone has {n - first_trained}",
            )
        return _Cut(ids[:head] + ids[tail:], labels[:head] + labels[tail:], (head, tail, n))

    def _finish(self, sequences: list[Encoded | Reject]) -> dict[str, Any] | Reject:
        for enc in sequences:
            if isinstance(enc, tuple):
                return self._count(enc)
        encs: list[Encoded] = sequences  # type: ignore[assignment]
        over = any(self.max_length is not None and len(e.input_ids) > self.max_length for e in encs)
        out: list[tuple[list[int], list[int]]] = []
        for enc in encs:
            cut = self._truncate(enc.input_ids, enc.labels, keep_bos=True)
            if isinstance(cut, tuple):
                self.counts.over_max_length += over
                return self._count(cut)
            ids, labels = cut.ids, cut.labels
            if self.task != "prompt" and labels.count(IGNORE_INDEX) == len(labels):
                self.counts.over_max_length += over
                return self._count(("fully_masked", f"no trained token left in {len(ids)} tokens"))
            out.append((ids, labels))
        c = self.counts
        c.rows += 1
        c.rows_ok += 1
        c.over_max_length += over
        c.truncated += over
        c.sequences += len(out)
        c.boundary_merged += sum(e.boundary_merged for e in encs)
        for ids, labels in out:
            c.tokens += len(ids)
            if self.task != "prompt":
                c.trainable_tokens += len(labels) - labels.count(IGNORE_INDEX)
        if self.task == "preference":
            return {"chosen_ids": out[0][0], "rejected_ids": out[1][0]}
        ids, labels = out[0]
        if self.task == "prompt":
            return {"input_ids": ids, "attention_mask": [1] * len(ids)}
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _check_markers(template: ChatTemplate, tokenizer: Any, name: str) -> None:
    missing = [
        m
        for m in template.special_tokens
        if len(tokenizer.backend_tokenizer.encode(m, add_special_tokens=False).ids) != 1
    ]
    if missing:
        raise CurateError(
            f"template {template.name}: tokenizer {name} has no single token for {', '.join(missing)}; "
            "use a tokenizer with these special tokens, or --template tokenizer"
        )


def _pieces(
    tokenizer: Any, text: str, ids: list[int], offsets: list[tuple[int, int]], trained: list[bool]
) -> list[tuple[str, bool]]:
    """Each token's text for display: its slice of ``text``, or its token string if it has none."""
    pieces: list[tuple[str, bool]] = []
    end = 0
    for tid, (a, b), t in zip(ids, offsets, trained, strict=True):
        if b <= a:
            pieces.append((str(tokenizer.convert_ids_to_tokens(tid)), t))
            continue
        a = max(a, end)  # several tokens share one character (byte-level pieces of it)
        pieces.append((text[a:b], t))
        end = max(end, b)
    return pieces


def build_row_transform(
    task: str,
    tokenizer_path: str,
    template: str | None,
    max_length: int | None,
    truncation: str = "drop",
    train_on: str = "all_assistant",
) -> RowTransform:
    """The row transform ``curate export --tokenizer`` applies (see :class:`RowTransform`).

    ``template``: None keeps the rows' own prompt/completion text (SFT, preference, prompt) and
    renders chats with the tokenizer's chat template; a text template name re-renders SFT
    prompts; a chat template name (or ``.jinja`` file) renders every row as a chat.
    """
    tokenizer = load_tokenizer(tokenizer_path)
    resolved = get_template(template) if template else None
    if task == "chat" and resolved is not None and not isinstance(resolved, ChatTemplate):
        raise CurateError(
            f"--template {template}: chat rows need a chat template (chatml, zephyr, llama2, tokenizer or a .jinja file)"
        )
    return RowTransform(
        task,
        tokenizer,
        resolved,
        max_length,
        truncation,  # type: ignore[arg-type]
        train_on,  # type: ignore[arg-type]
        tokenizer_name=Path(tokenizer_path).name,
    )
