"""Token ids and ``labels`` for export rows. This is the ONLY place that builds ``labels``.

A row becomes one or more *segments*: a text and the character spans the model is trained on
(a prompt/completion row: the completion and the EOS; a chat: what each assistant turn must
generate, through its end-of-turn marker, as :mod:`curate.templates.turns` finds it). The
:class:`~curate.tokens.labels.Labeler` turns spans into labels and self-checks them.

Pre-tokenized columns TRL 1.12 uses as is:

* SFT and chat rows: ``input_ids``, ``attention_mask``, ``labels`` (``-100`` = not trained).
  ``SFTTrainer`` skips its own tokenization when ``input_ids`` is present and keeps ``labels``.
* preference rows: ``chosen_ids`` and ``rejected_ids`` (prompt + answer + EOS, whole
  sequences), which ``RewardTrainer`` takes as is. ``DPOTrainer`` 1.12 has no pre-tokenized
  path (it always re-tokenizes ``prompt``/``chosen``/``rejected``), so it reads the text columns.
* prompt-only rows: ``input_ids`` and ``attention_mask`` of the prompt (with the generation
  prompt for chats), as the PPO trainer reads them.

``--truncation split`` (``text`` rows; the default for packed ``text`` exports) turns a document
longer than ``--max-length`` into several rows, its consecutive chunks (:func:`split_document`),
each with ``chunk`` (its index) and ``chunks`` (how many its document became).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from curate.arguments import arg
from curate.errors import CurateError
from curate.held_logs import held_logs
from curate.rows import Rejection
from curate.rows import RowTransform as RowTransformProtocol
from curate.rows import TransformResult as Result
from curate.templates import ChatTemplate, PromptTemplate, TemplateError, get_template
from curate.templates.chat import TokenizerTemplate, template_date
from curate.templates.turns import TRAIN_ON, TrainOn
from curate.tokens.labels import IGNORE_INDEX, Encoded, Labeler, Segment

__all__ = [
    "IGNORE_INDEX",
    "TRAIN_ON",
    "Inspection",
    "RowTransform",
    "build_row_transform",
    "default_truncation",
    "load_tokenizer",
    "split_document",
]

Truncation = Literal["drop", "cut_prompt", "cut_completion", "split"]
TRUNCATIONS: tuple[str, ...] = ("drop", "cut_prompt", "cut_completion", "split")
CHUNK_FIELDS = ("chunk", "chunks")  # the columns split rows carry: index, and how many the document became


def default_truncation(task: str, pack: bool) -> Truncation:
    """The truncation policy when none is chosen: ``split`` for a packed export of rows that train
    every token (``task: text``, continued pre-training keeps long documents whole), else ``drop``.

    >>> default_truncation("text", pack=True), default_truncation("text", pack=False)
    ('split', 'drop')
    >>> default_truncation("sft", pack=True)
    'drop'
    """
    from curate.tasks import get_task

    return "split" if pack and get_task(task).trains == "all" else "drop"


def split_document(ids: list[int], labels: list[int], max_length: int) -> list[tuple[list[int], list[int]]]:
    """A tokenized document as consecutive chunks of at most ``max_length`` tokens, in which every
    token the document trains is trained exactly once.

    A chunk is a sequence of its own (positions restart, nothing attends across chunks), so the
    first token of a chunk is predicted by nothing. Each chunk after the first therefore starts
    with the last token of the chunk before it, untrained: the context that lets its next token
    be trained. Chunks are slices of the document's one tokenization, never re-tokenized text:
    BOS stays on the first chunk only and EOS on the last only, as a long document reaches a model
    in pre-training (a block cut from its middle starts with neither).

    >>> split_document([1, 2, 3, 4, 5, 6], [-100, 2, 3, 4, 5, 6], max_length=3)
    [([1, 2, 3], [-100, 2, 3]), ([3, 4, 5], [-100, 4, 5]), ([5, 6], [-100, 6])]
    >>> split_document([1, 2], [-100, 2], max_length=3)
    [([1, 2], [-100, 2])]
    """
    if max_length < 2:  # a chunk of one token would hold only its context: no progress
        raise CurateError(f"{arg('max_length')}: got {max_length}, expected at least 2 to split documents")
    chunks = [(ids[:max_length], labels[:max_length])]
    start = max_length  # the first token no chunk holds yet
    while start < len(ids):
        stop = min(start - 1 + max_length, len(ids))
        chunks.append((ids[start - 1 : stop], [IGNORE_INDEX, *labels[start:stop]]))
        start = stop
    return chunks


# --- loading -------------------------------------------------------------------------------------


def load_tokenizer(path: str | Path) -> Any:
    """A fast (Rust-backed) tokenizer from a local folder; character offsets need the Rust backend."""
    from transformers import AutoTokenizer

    where = Path(path)
    if not where.exists():
        raise CurateError(f"{path}: tokenizer folder not found (expected a save_pretrained folder)")
    if where.is_dir() and not any(where.iterdir()):
        raise CurateError(f"{path}: the tokenizer folder is empty (expected a save_pretrained folder)")
    try:
        # The loader's warnings are held back (shown only on success) and a folder's own code is
        # never run: without trust_remote_code=False transformers asks "[y/N]" on a terminal.
        with held_logs("transformers"):
            tokenizer = AutoTokenizer.from_pretrained(str(where), trust_remote_code=False)
    except Exception as err:  # transformers raises OSError, ValueError, ... for a bad folder
        if "trust_remote_code" in str(err):
            raise CurateError(
                f"{path}: the tokenizer needs custom code from its folder (auto_map), which curate does "
                "not run; save a fast tokenizer transformers knows with save_pretrained"
            ) from None
        # transformers' messages run over several lines: one line, as every curate error
        message = " ".join(str(err).split())
        raise CurateError(f"{path}: cannot load tokenizer ({err.__class__.__name__}: {message})") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise CurateError(
            f"{path}: the tokenizer has no fast (Rust) backend; exact labels need character offsets"
        )
    if not getattr(tokenizer, "eos_token", None):
        raise CurateError(
            f"{path}: the tokenizer has no EOS token (eos_token); a model trained on its rows could not learn to stop"
        )
    return tokenizer


# --- rows -> segments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cut:
    ids: list[int]
    labels: list[int]
    kept: tuple[int, int, int]  # tokens [0, kept[0]) and [kept[1], kept[2]) of the original survive


@dataclass
class TokenCounts:
    rows: int = 0
    rows_ok: int = 0
    sequences: int = 0
    tokens: int = 0
    trainable_tokens: int = 0
    over_max_length: int = 0
    truncated: int = 0
    documents_split: int = 0
    boundary_merged: int = 0
    turns_trained: int = 0
    turns_open_ended: int = 0
    turns_not_trained: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, other: TokenCounts) -> None:
        """Add another worker's counts (sums: the order of batches does not matter)."""
        for name, value in vars(other).items():
            if isinstance(value, Counter):
                getattr(self, name).update(value)
            else:
                setattr(self, name, getattr(self, name) + value)


@dataclass
class _Plan:
    """One row before tokenizing: its segments, the turns left out, and text columns to replace."""

    segments: list[Segment]
    turns: int = 0
    masked: list[str] = field(default_factory=list)
    open_ended: int = 0
    columns: dict[str, Any] = field(default_factory=dict)


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


class RowTransform(RowTransformProtocol):
    """Adds token columns to export rows: ``fields()``, ``__call__(row)``, ``summary()``.

    ``__call__`` returns the extra column values, or ``(reason, detail)`` for a row that cannot
    be trained on exactly (counted by reason in :meth:`summary`). With ``truncation="split"`` it
    returns a list: the column values of each row the document becomes, in order. :meth:`map`
    does the same for many rows with one batched tokenizer call per chunk (the fast path).
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
        template_kwargs: Mapping[str, Any] | None = None,
    ):
        from curate.tasks import get_task

        self.trains = get_task(task).trains  # what a row of this task trains (the task module says)
        #: whether the spec's ``train_on`` applies (its model has the key); else the last turn trains
        self.takes_train_on = get_task(task).takes_train_on
        if truncation not in TRUNCATIONS:
            raise CurateError(
                f"{arg('truncation')}: got {truncation!r}, expected one of {', '.join(TRUNCATIONS)}"
            )
        if train_on not in TRAIN_ON:
            raise CurateError(f"train_on: got {train_on!r}, expected one of {', '.join(TRAIN_ON)}")
        if max_length is not None and max_length < 2:
            raise CurateError(f"{arg('max_length')}: got {max_length}, expected at least 2")
        if truncation == "split" and self.trains != "all":
            raise CurateError(
                f"{arg('truncation', 'split')}: splits documents whose every token is trained (task text); "
                f"a {task} row has a prompt and what it trains, so use drop, cut_prompt or cut_completion"
            )
        if truncation == "split" and max_length is None:
            raise CurateError(
                f"{arg('truncation', 'split')} needs {arg('max_length')} (the most tokens in a chunk)"
            )
        self.task = task
        self.tokenizer = tokenizer
        #: variables the chat template renders with (``template_kwargs:``: enable_thinking, the date)
        self.template_kwargs = dict(template_kwargs or {})
        if self.template_kwargs and template is not None and not isinstance(template, ChatTemplate):
            raise CurateError(
                f"template_kwargs: template {template.name} is a text template; only chat templates take them"
            )
        if isinstance(template, ChatTemplate):
            template = template.with_kwargs(self.template_kwargs).bind(tokenizer)
        self.template = template
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
        if self._chat is None and self.trains == "messages":
            self._chat = TokenizerTemplate().with_kwargs(self.template_kwargs).bind(tokenizer)
        if isinstance(self._chat, ChatTemplate):
            _check_markers(self._chat, tokenizer, self.tokenizer_name)
        self._specials = special_token_pattern(tokenizer)
        self.labeler = Labeler(tokenizer)
        self.counts = TokenCounts()
        #: build_row_transform's arguments, so worker processes can build the same transform
        self.recipe: tuple[Any, ...] | None = None

    # --- the export interface ---------------------------------------------------------------------

    def fields(self) -> list[pa.Field]:
        ints = pa.list_(pa.int32())
        if self.trains == "pair":
            return [pa.field("chosen_ids", ints), pa.field("rejected_ids", ints)]
        if self.trains == "prompt":
            return [pa.field("input_ids", ints), pa.field("attention_mask", ints)]
        tokens = [pa.field("input_ids", ints), pa.field("attention_mask", ints), pa.field("labels", ints)]
        if self.truncation == "split":
            return [*tokens, *(pa.field(name, pa.int32()) for name in CHUNK_FIELDS)]
        return tokens

    def __call__(self, row: dict[str, Any]) -> Result:
        return self.batch([row])[0]

    def map(self, rows: Iterable[dict[str, Any]], batch_size: int = 4096) -> Iterator[Result]:
        """:meth:`__call__` over many rows, tokenizing ``batch_size`` rows per call."""
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch_size:
                yield from self.batch(chunk)
                chunk = []
        if chunk:
            yield from self.batch(chunk)

    def batch(self, rows: Sequence[dict[str, Any]]) -> list[Result]:
        planned = [self._segments(row) for row in rows]
        segments = [s for p in planned if isinstance(p, _Plan) for s in p.segments]
        encoded = iter(self.labeler.encode(segments))
        results: list[Result] = []
        for plan in planned:
            if isinstance(plan, tuple):
                results.append(self._count(plan))
                continue
            sequences = [next(encoded) for _ in plan.segments]
            results.append(self._finish(sequences, plan))
        return results

    def add_counts(self, counts: TokenCounts) -> None:
        """Counts of batches a worker process transformed (``curate export --num-proc``)."""
        self.counts.add(counts)

    def summary(self) -> dict[str, Any]:
        c = self.counts
        return {
            "tokenizer": self.tokenizer_name,
            "template": self._template_name(),
            # only when they matter, so other exports' manifests stay as they were
            **({"template_kwargs": self.template_kwargs} if self.template_kwargs else {}),
            **({"template_date": date} if (date := self._template_date()) else {}),
            "task": self.task,
            "max_length": self.max_length,
            "truncation": self.truncation,
            "train_on": self.train_on if self.takes_train_on else None,
            "rows": c.rows,
            "rows_ok": c.rows_ok,
            "sequences": c.sequences,
            "tokens": c.tokens,
            "trainable_tokens": c.trainable_tokens,
            "trainable_token_share": round(c.trainable_tokens / c.tokens, 6) if c.tokens else 0.0,
            "over_max_length": c.over_max_length,
            "truncated": c.truncated,
            **({"documents_split": c.documents_split} if self.truncation == "split" else {}),
            "fully_masked": c.rejected.get("fully_masked", 0),
            "boundary_merged": c.boundary_merged,
            "stop_markers": list(self._chat.stop_markers()) if self._chat is not None else None,
            "assistant_turns_trained": c.turns_trained,
            "assistant_turns_not_trained": dict(sorted(c.turns_not_trained.items())),
            "assistant_turns_without_end_marker": c.turns_open_ended,
            "rejected": sum(c.rejected.values()),
            "rejected_by_reason": dict(sorted(c.rejected.items())),
        }

    # --- preview ----------------------------------------------------------------------------------

    @property
    def chat_template(self) -> ChatTemplate | None:
        """The chat template rows are rendered with (None for text-only rows)."""
        return self._chat

    def inspect(self, row: dict[str, Any]) -> list[Inspection] | Rejection:
        """Tokens of one row with what is trained, for display (does not change the counts)."""
        plan = self._segments(row)
        if isinstance(plan, tuple):
            return plan
        labeler = Labeler(self.tokenizer, keep_offsets=True)
        names = ["chosen", "rejected"] if self.trains == "pair" else [self.task]
        out: list[Inspection] = []
        for name, seg, enc in zip(names, plan.segments, labeler.encode(plan.segments), strict=True):
            if isinstance(enc, tuple):
                return enc
            assert enc.offsets is not None
            cut = self._truncate(enc.input_ids, enc.labels, keep_bos=True)
            n = len(enc.input_ids)
            kept = (n, n, n) if isinstance(cut, tuple) else cut.kept
            trained = [lab != IGNORE_INDEX for lab in enc.labels]
            pieces = token_pieces(self.tokenizer, seg.text, enc.input_ids, enc.offsets, trained)
            kept_idx = [*range(kept[0]), *range(kept[1], n)]
            out.append(
                Inspection(name, seg.text, pieces, kept, len(kept_idx), sum(trained[i] for i in kept_idx))
            )
        return out

    # --- internals --------------------------------------------------------------------------------

    def _template_name(self) -> str | None:
        used = self.template or self._chat
        return used.describe() if used is not None else None

    def _template_date(self) -> str | None:
        """The date a template that prints today's date renders (fixed unless template_kwargs
        sets ``strftime_now``), so the manifest says the ids depend on it; None if none does."""
        chat = self._chat
        if chat is None and self.template_kwargs:  # prompt rows render lazily
            chat = self._chat_template()
        if chat is not None and chat.reads_date():
            return template_date(self.template_kwargs).date().isoformat()
        return None

    def _count(self, reject: Rejection) -> Rejection:
        self.counts.rows += 1
        self.counts.rejected[reject[0]] += 1
        return reject

    def _chat_template(self) -> ChatTemplate:
        if self._chat is None:
            self._chat = TokenizerTemplate().with_kwargs(self.template_kwargs).bind(self.tokenizer)
        return self._chat

    def _segments(self, row: dict[str, Any]) -> _Plan | Rejection:
        plan = _Plan([])
        try:
            self._check_special_text(row)
            if self.trains == "messages":
                if "messages" in row:
                    plan.segments = [self._chat_segment(row["messages"], 0, plan)]
                else:
                    plan.segments = [self._pair_segment(row["prompt"], row["completion"], plan)]
            elif self.trains == "completion":
                if self.task == "sft":  # re-rendered from instruction/context/response when asked
                    plan.segments = [self._sft_segment(row, plan)]
                else:
                    plan.segments = [self._pair_segment(row["prompt"], row["completion"], plan)]
            elif self.trains == "pair":
                plan.segments = [
                    self._pair_segment(row["prompt"], row[k], plan) for k in ("chosen", "rejected")
                ]
            elif self.trains == "all":
                plan.segments = [self._text_segment("", row["text"])]
            else:
                plan.segments = [self._prompt_segment(row["prompt"])]
        except TemplateError as err:
            return Rejection(err.reason, str(err))
        except KeyError as err:
            raise CurateError(f"{self.task} row {row.get('record_id', '?')}: missing column {err}") from None
        return plan

    def _check_special_text(self, row: dict[str, Any]) -> None:
        """A special token's text inside the data (``<|im_end|>`` in an answer, ``</s>`` in an
        instruction) would be tokenized as that control token: a turn or sequence end the data
        never meant, or a fake turn in a prompt. Such a row is rejected (``special_token_text``).
        Read where a row holds the data's own text: message contents, an SFT row's instruction,
        context and response, a document. (A text prompt or completion may be what a template
        rendered, markers included: it is not read.) A response or document may end with the EOS
        text and a document begin with the BOS text: curate adds those tokens there itself."""
        if self._specials is None:
            return
        for column in _DATA_COLUMNS.get(self.task, _MESSAGE_COLUMNS):
            value = row.get(column)
            if isinstance(value, str) and column in _TEXT_COLUMNS:
                texts = [(column, value)]
            else:
                texts = _contents(column, value)
            for where, text in texts:
                if column in _ENDS_WITH_EOS and self.eos and text.endswith(self.eos):
                    text = text[: -len(self.eos)]
                if column in _STARTS_WITH_BOS and self.bos and text.startswith(self.bos):
                    text = text[len(self.bos) :]
                found = self._specials.search(text)
                if found is not None:
                    raise TemplateError(
                        f"{where} holds the text of the tokenizer's special token {found.group()!r}, which "
                        "would be tokenized as that control token, not as text",
                        "special_token_text",
                    )

    def _sft_segment(self, row: dict[str, Any], plan: _Plan) -> Segment:
        template = self.template
        if isinstance(template, ChatTemplate):
            user = template.user_turn(row["instruction"], row.get("context") or "")
            messages = [{"role": "user", "content": user}, {"role": "assistant", "content": row["response"]}]
            seg = self._chat_segment(messages, 1, plan)
            if isinstance(row.get("prompt"), str):
                # The text columns say what was tokenized: the rendered prompt and what follows it.
                cut = plan.columns.pop("_prompt_end")
                plan.columns.update(prompt=seg.text[:cut], completion=seg.text[cut:])
            return seg
        if template is not None:
            context = row.get("context") or ""
            return self._text_segment(
                template.prompt(row["instruction"], context), template.completion(row["response"])
            )
        return self._pair_segment(row["prompt"], row["completion"], plan)

    def _pair_segment(self, prompt: Any, completion: Any, plan: _Plan) -> Segment:
        if isinstance(prompt, str) and isinstance(completion, str):
            return self._text_segment(prompt, completion)
        if isinstance(completion, str):  # conversational prompt, plain answer (preference rows)
            completion = [{"role": "assistant", "content": completion}]
        prompt_messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return self._chat_segment([*prompt_messages, *completion], len(prompt_messages), plan)

    def _text_segment(self, prompt: str, completion: str) -> Segment:
        if self.eos and not completion.endswith(self.eos):
            completion += self.eos
        text = prompt + completion
        add_special = not (self.bos and text.startswith(self.bos))
        return Segment(text, ((len(prompt), len(text)),) if completion else (), add_special)

    def _chat_segment(self, messages: Sequence[dict[str, str]], first_turn: int, plan: _Plan) -> Segment:
        train_on: TrainOn = self.train_on if self.takes_train_on else "last_assistant"
        rendered = self._chat_template().assistant_spans(list(messages), train_on, first_turn)
        plan.turns += len(rendered.turns)
        plan.masked.extend(reason for _, reason, _ in rendered.masked)
        plan.open_ended += len(rendered.open_ended)
        plan.columns["_prompt_end"] = rendered.prompt_ends[0]
        return Segment(rendered.text, rendered.spans, False)

    def _prompt_segment(self, prompt: Any) -> Segment:
        if isinstance(prompt, str):
            return Segment(prompt, (), not (self.bos and prompt.startswith(self.bos)))
        return Segment(self._chat_template().render(list(prompt), True), (), False)

    def _truncate(self, ids: list[int], labels: list[int], keep_bos: bool) -> _Cut | Rejection:
        """Apply the truncation policy to one sequence."""
        n, limit = len(ids), self.max_length
        if limit is None or n <= limit or self.truncation == "split":  # split: every token kept
            return _Cut(ids, labels, (n, n, n))
        if self.truncation == "drop":
            return Rejection("too_long", f"{n} tokens > --max-length {limit}")
        if self.truncation == "cut_completion":
            if self.trains == "prompt":
                return Rejection(
                    "too_long",
                    f"{n} tokens > --max-length {limit}; prompt rows can only be cut with cut_prompt",
                )
            return _Cut(ids[:limit], labels[:limit], (limit, n, n))
        # cut_prompt: drop tokens from the left, after the BOS if there is one.
        head = 1 if keep_bos and self.bos_id is not None and ids and ids[0] == self.bos_id else 0
        first_trained = next((i for i, lab in enumerate(labels) if lab != IGNORE_INDEX), n)
        tail = n - (limit - head)
        if self.trains != "prompt" and tail > first_trained:
            return Rejection(
                "too_long",
                f"{n} tokens > --max-length {limit}, and the trained part alone has {n - first_trained}",
            )
        return _Cut(ids[:head] + ids[tail:], labels[:head] + labels[tail:], (head, tail, n))

    def _finish(self, sequences: list[Encoded | Rejection], plan: _Plan) -> Result:
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
            if self.trains != "prompt" and labels.count(IGNORE_INDEX) == len(labels):
                self.counts.over_max_length += over
                return self._count(Rejection("fully_masked", f"no trained token left in {len(ids)} tokens"))
            out.append((ids, labels))
        split = self.truncation == "split"
        if split and over:  # only text rows split (__init__): one sequence, every token trained
            assert self.max_length is not None
            out = split_document(*out[0], self.max_length)
        c = self.counts
        c.rows += 1
        c.rows_ok += 1
        c.over_max_length += over
        c.truncated += over and not split
        c.documents_split += over and split
        c.sequences += len(out)
        c.boundary_merged += sum(e.boundary_merged for e in encs)
        c.turns_trained += plan.turns
        c.turns_open_ended += plan.open_ended
        c.turns_not_trained.update(plan.masked)
        for ids, labels in out:
            c.tokens += len(ids)
            if self.trains != "prompt":
                c.trainable_tokens += len(labels) - labels.count(IGNORE_INDEX)
        if self.trains == "pair":
            return {"chosen_ids": out[0][0], "rejected_ids": out[1][0]}
        ids, labels = out[0]
        if self.trains == "prompt":
            return {"input_ids": ids, "attention_mask": [1] * len(ids)}
        columns = {k: v for k, v in plan.columns.items() if not k.startswith("_")}
        if split:
            return [
                {
                    **columns,
                    "input_ids": i,
                    "attention_mask": [1] * len(i),
                    "labels": lab,
                    "chunk": k,
                    "chunks": len(out),
                }
                for k, (i, lab) in enumerate(out)
            ]
        return {**columns, "input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


# The columns of a row that hold the data's own text (not what a template rendered), per task:
# text columns read as they are; conversational columns (message lists) by each message's content.
_MESSAGE_COLUMNS = ("prompt", "completion", "chosen", "rejected", "messages")
_DATA_COLUMNS = {"sft": ("instruction", "context", "response"), "text": ("text",)}
_TEXT_COLUMNS = ("instruction", "context", "response", "text")
_ENDS_WITH_EOS = ("response", "text")
_STARTS_WITH_BOS = ("text",)


def special_token_pattern(tokenizer: Any) -> re.Pattern[str] | None:
    """A pattern that finds any of the tokenizer's special tokens written as text (longest first);
    None for a tokenizer without any."""
    names = set(getattr(tokenizer, "all_special_tokens", None) or ())
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    names.update(str(token.content) for token in added.values() if getattr(token, "special", False))
    names = {n for n in names if n}
    if not names:
        return None
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))))


def _contents(column: str, value: Any) -> list[tuple[str, str]]:
    """The text of each message of a conversation column, named for messages."""
    if not isinstance(value, list):
        return []
    out = []
    for i, message in enumerate(value):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            out.append((f"{column}[{i}].content", content))
    return out


def _check_markers(template: ChatTemplate, tokenizer: Any, name: str) -> None:
    missing = [
        m
        for m in template.special_tokens
        if len(tokenizer.backend_tokenizer.encode(m, add_special_tokens=False).ids) != 1
    ]
    if missing:
        raise CurateError(
            f"template {template.name}: tokenizer {name} has no single token for {', '.join(missing)}; "
            f"use a tokenizer with these special tokens, or {arg('template', 'tokenizer')}"
        )


def token_pieces(
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
    template_kwargs: Mapping[str, Any] | None = None,
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
            f"{arg('template', str(template))}: chat rows need a chat template (chatml, zephyr, llama2, tokenizer or a .jinja file)"
        )
    transform = RowTransform(
        task,
        tokenizer,
        resolved,
        max_length,
        truncation,  # type: ignore[arg-type]
        train_on,  # type: ignore[arg-type]
        tokenizer_name=Path(tokenizer_path).name,
        template_kwargs=template_kwargs,
    )
    kwargs = dict(template_kwargs or {})
    transform.recipe = (task, str(tokenizer_path), template, max_length, truncation, train_on, kwargs)
    return transform
