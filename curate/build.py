"""One Argilla record -> canonical example row(s), as the spec says, or a rejection with a reason.

A spec column is an ordered list of value sources (a question's unified answer, a field, a
metadata key, a suggestion, a literal); the first that yields a non-blank value wins. A question
whose annotators cannot be unified (a tie, a disagreement) rejects the record: falling through
to the original text would hide the annotators' disagreement.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curate.errors import CurateError
from curate.records import (
    ArgillaRecord,
    ChatExample,
    DatasetSettings,
    FieldKind,
    Message,
    PreferenceExample,
    PromptExample,
    Provenance,
    QuestionKind,
    RankItem,
    Response,
    SFTExample,
    check_messages,
)
from curate.spec import ChatSpec, PairsSpec, PreferenceSpec, PromptSpec, SFTSpec, SpecFile, ValueSource
from curate.templates import get_template
from curate.unify import Unified, check_strategy, unify


def each_turn_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat row as one row per assistant turn, each ending with that turn (``train_on:
    each_turn_as_row``: every turn is trained against the history its template shows there).

    >>> rows = each_turn_rows({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...                                     {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]})
    >>> [len(r["messages"]) for r in rows]
    [2, 4]
    """
    messages = row["messages"]
    ends = [i + 1 for i, m in enumerate(messages) if m["role"] == "assistant"]
    return [{**row, "messages": messages[:end]} for end in ends] or [row]


class Reject(Exception):
    """A record that produces no example; ``reason`` is a stable code counted in the manifest."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass
class StatusPolicy:
    counted: frozenset[str]
    unknown_as_submitted: bool

    def counts(self, response: Response) -> bool:
        status = response.status
        if status is None:
            if not self.unknown_as_submitted:
                raise Reject("status_unknown", f"annotator {response.user_id}")
            status = "submitted"
        return status in self.counted


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


class RecordContext:
    """Per-record cache of unified answers, and the annotators they came from."""

    def __init__(self, builder: Builder, record: ArgillaRecord):
        self.builder = builder
        self.record = record
        self._unified: dict[tuple[str, str], Unified] = {}
        self.used: list[Unified] = []
        self._provenance: Provenance | None = None

    def unified(self, question: str, strategy: str | None) -> Unified:
        strategy = strategy or self.builder.strategy_for(question)
        key = (question, strategy)
        if key not in self._unified:
            policy = self.builder.status_policy
            counted = [r for r in self.record.responses.get(question, ()) if policy.counts(r)]
            kind = self.builder.kind_of(question)
            self._unified[key] = unify(counted, kind, strategy)
        result = self._unified[key]
        if result.reason is not None:
            raise Reject(f"{result.reason}:{question}", f"{len(result.responses)} annotators")
        if result.responses:
            self.used.append(result)
        return result

    def resolve(self, sources: Sequence[ValueSource]) -> Any:
        for src in sources:
            value = self._one(src)
            if not _blank(value):
                return value
        return None

    def _one(self, src: ValueSource) -> Any:
        record = self.record
        if src.question is not None:
            value = self.unified(src.question, src.strategy).value
            if isinstance(value, tuple) and value and isinstance(value[0], RankItem):
                return [item.value for item in value]
            return list(value) if isinstance(value, tuple) else value
        if src.field is not None:
            return _maybe_messages(record.fields.get(src.field))
        if src.metadata is not None:
            return record.metadata.get(src.metadata, record.fields.get(src.metadata))
        if src.suggestion is not None:
            s = record.suggestions.get(src.suggestion)
            if s is None or (src.min_score is not None and (s.score is None or s.score < src.min_score)):
                return None
            return list(s.value) if isinstance(s.value, tuple) else s.value
        return src.value

    def provenance(self) -> Provenance:
        if self._provenance is None:
            self._provenance = self._compute_provenance()
        return self._provenance

    def _compute_provenance(self) -> Provenance:
        status_of: dict[str, str] = {}
        for q in self.builder.questions_used:
            for r in self.record.responses.get(q, ()):
                status_of.setdefault(r.user_id, r.status or "unknown")
        agreements = [u.agreement for u in self.used if u.agreement is not None]
        users = sorted(status_of)
        return Provenance(
            source=self.builder.source_name,
            record_id=self.record.id,
            annotators=tuple(users),
            statuses=tuple(status_of[u] for u in users),
            agreement=round(sum(agreements) / len(agreements), 6) if agreements else None,
        )


def _maybe_messages(value: Any) -> Any:
    # Some exports keep a chat conversation as a JSON string in a text column.
    if isinstance(value, str) and value.startswith("[{") and '"role"' in value:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value
        return parsed
    return value


def _text(value: Any, column: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Reject(f"not_text:{column}", f"got {type(value).__name__}")


def _sources_in(spec: Any) -> Iterator[tuple[str, ValueSource]]:
    for column, sources in spec.columns:
        for i, src in enumerate(sources):
            yield f"columns.{column}[{i}]", src
    pairs = getattr(spec, "pairs", None)
    if pairs is not None:
        for name, cand in pairs.candidates.items():
            for i, src in enumerate(cand.text):
                yield f"pairs.candidates.{name}.text[{i}]", src


class Builder:
    """Turns records into canonical example rows for one spec and one source's settings."""

    def __init__(self, spec_file: SpecFile, settings: DatasetSettings, source_name: str):
        self.spec = spec_file.spec
        self.where = str(spec_file.path) if spec_file.path else "<spec>"
        self.settings = settings
        self.source_name = source_name
        responses = self.spec.responses
        self.status_policy = StatusPolicy(
            frozenset(responses.statuses), responses.unknown_status == "submitted"
        )
        self.questions_used: list[str] = []
        self._strategies: dict[str, str] = {}
        self._check_names()
        self.template = get_template(self.spec.template) if hasattr(self.spec, "template") else None
        self.conversational = getattr(self.spec, "style", "text") == "conversational"

    # --- validation against the dataset settings -------------------------------------------------

    def _check_names(self) -> None:
        s = self.settings
        for key, src in _sources_in(self.spec):
            if src.question is not None or src.suggestion is not None:
                name = str(src.question or src.suggestion)
                if name not in s.questions:
                    raise CurateError(
                        f"{self.where}: {key}: unknown question {name!r}; the dataset has "
                        f"{', '.join(s.questions) or 'no questions'}"
                    )
                if src.question is not None:
                    check_strategy(
                        src.strategy or self.strategy_for(name),
                        s.questions[name].kind,
                        f"{self.where}: {key}",
                    )
                    if name not in self.questions_used:
                        self.questions_used.append(name)
            elif src.field is not None and src.field not in s.fields:
                raise CurateError(
                    f"{self.where}: {key}: unknown field {src.field!r}; the dataset has {', '.join(s.fields)}"
                )
        for q, strategy in self.spec.unify.questions.items():
            if q not in s.questions:
                raise CurateError(f"{self.where}: unify.questions.{q}: unknown question {q!r}")
            check_strategy(strategy, s.questions[q].kind, f"{self.where}: unify.questions.{q}")
        pairs = getattr(self.spec, "pairs", None)
        if pairs is not None:
            self._check_pairs(pairs)

    def _check_pairs(self, pairs: Any) -> None:
        s = self.settings
        if pairs.source == "ranking":
            q = s.questions.get(pairs.question)
            if q is None or q.kind is not QuestionKind.RANKING:
                raise CurateError(
                    f"{self.where}: pairs.question: {pairs.question!r} is not a ranking question of the dataset"
                )
            if q.options:
                unknown = [c for c in pairs.candidates if c not in q.options]
                if unknown:
                    raise CurateError(
                        f"{self.where}: pairs.candidates: {', '.join(unknown)} not among the ranking's options "
                        f"({', '.join(map(str, q.options))})"
                    )
            self.questions_used.append(pairs.question)
        else:
            for name, cand in pairs.candidates.items():
                q = s.questions.get(cand.rating)
                if q is None or q.kind is not QuestionKind.RATING:
                    raise CurateError(
                        f"{self.where}: pairs.candidates.{name}.rating: {cand.rating!r} is not a rating question"
                    )
                self.questions_used.append(cand.rating)

    def strategy_for(self, question: str) -> str:
        strategy = self._strategies.get(question)
        if strategy is None:
            override = self.spec.unify.questions.get(question)
            strategy = override or str(getattr(self.spec.unify, self.kind_of(question).value))
            self._strategies[question] = strategy
        return strategy

    def kind_of(self, question: str) -> QuestionKind:
        return self.settings.questions[question].kind

    def is_chat_field(self, sources: Sequence[ValueSource]) -> bool:
        return any(
            src.field is not None and self.settings.fields[src.field].kind is FieldKind.CHAT
            for src in sources
        )

    @property
    def output_conversational(self) -> bool:
        """Whether prompts are message lists (chat field source or ``style: conversational``)."""
        spec = self.spec
        if isinstance(spec, (PreferenceSpec, PromptSpec)):
            return self.conversational or self.is_chat_field(spec.columns.prompt)
        return self.conversational

    # --- building ----------------------------------------------------------------------------------

    def build(self, record: ArgillaRecord) -> list[dict[str, Any]]:
        """Rows for one record (a preference record may give several pairs); raises Reject."""
        ctx = RecordContext(self, record)
        spec = self.spec
        if spec.filters.record_status is not None and record.status not in spec.filters.record_status:
            raise Reject("record_status", f"status {record.status!r}")
        if isinstance(spec, SFTSpec):
            rows = [self._sft(ctx, spec)]
        elif isinstance(spec, ChatSpec):
            rows = [self._chat(ctx, spec)]
            if spec.train_on == "each_turn_as_row":
                rows = each_turn_rows(rows[0])
        elif isinstance(spec, PreferenceSpec):
            rows = self._preference(ctx, spec)
        else:
            rows = [self._prompt_only(ctx, spec)]
        provenance = ctx.provenance().columns()
        return [{**row, **provenance} for row in rows]

    def _required(self, ctx: RecordContext, sources: Sequence[ValueSource], column: str) -> Any:
        value = ctx.resolve(sources)
        if _blank(value):
            raise Reject(f"missing:{column}", "no source gave a value")
        return value

    def _sft(self, ctx: RecordContext, spec: SFTSpec) -> dict[str, Any]:
        cols = spec.columns
        instruction = _text(self._required(ctx, cols.instruction, "instruction"), "instruction")
        context_value = ctx.resolve(cols.context)
        context = "" if _blank(context_value) else _text(context_value, "context")
        response = _text(self._required(ctx, cols.response, "response"), "response")
        example = SFTExample(instruction, context, response, ctx.provenance())
        assert self.template is not None
        if self.conversational:
            prompt: Any = [{"role": "user", "content": self.template.user_turn(instruction, context)}]
            completion: Any = [{"role": "assistant", "content": response}]
        else:
            prompt = self.template.prompt(instruction, context)
            completion = self.template.completion(response)
        return {
            "instruction": example.instruction,
            "context": example.context,
            "response": example.response,
            "prompt": prompt,
            "completion": completion,
        }

    def _chat(self, ctx: RecordContext, spec: ChatSpec) -> dict[str, Any]:
        cols = spec.columns
        raw = self._required(ctx, cols.messages, "messages")
        if not isinstance(raw, list):
            raise Reject("invalid_messages", f"expected a list of messages, got {type(raw).__name__}")
        messages: list[Message] = [dict(m) if isinstance(m, Mapping) else m for m in raw]
        system = ctx.resolve(cols.system)
        if not _blank(system) and not (
            messages and isinstance(messages[0], Mapping) and messages[0].get("role") == "system"
        ):
            messages.insert(0, {"role": "system", "content": _text(system, "system")})
        reply = ctx.resolve(cols.reply)
        if not _blank(reply):
            reply_text = _text(reply, "reply")
            # The corrected reply completes the conversation: it replaces a final assistant turn
            # or follows a final user turn.
            if messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") == "assistant":
                messages[-1] = {"role": "assistant", "content": reply_text}
            else:
                messages.append({"role": "assistant", "content": reply_text})
        try:
            checked = check_messages(messages, "messages")
        except CurateError as err:
            raise Reject("invalid_messages", str(err).removeprefix("messages: ")) from None
        if checked[-1]["role"] != "assistant":
            raise Reject("no_assistant_reply", "the conversation does not end with an assistant turn")
        example = ChatExample(checked, ctx.provenance())
        return {"messages": [dict(m) for m in example.messages]}

    def _prompt_value(
        self,
        ctx: RecordContext,
        prompt_sources: Sequence[ValueSource],
        context_sources: Sequence[ValueSource],
    ) -> Any:
        raw = self._required(ctx, prompt_sources, "prompt")
        context_value = ctx.resolve(context_sources)
        context = "" if _blank(context_value) else _text(context_value, "context")
        if isinstance(raw, list):
            try:
                messages = check_messages(raw, "prompt")
            except CurateError as err:
                raise Reject("invalid_messages", str(err).removeprefix("prompt: ")) from None
            if messages[-1]["role"] == "assistant":
                messages = messages[:-1]  # a prompt ends before the reply being judged
            if not messages:
                raise Reject("invalid_messages", "prompt has no user turn")
            return [dict(m) for m in messages]
        text = _text(raw, "prompt")
        assert self.template is not None
        if self.output_conversational:
            return [{"role": "user", "content": self.template.user_turn(text, context)}]
        return self.template.prompt(text, context)

    def _preference(self, ctx: RecordContext, spec: PreferenceSpec) -> list[dict[str, Any]]:
        prompt = self._prompt_value(ctx, spec.columns.prompt, spec.columns.context)
        if spec.pairs is None:
            chosen = _text(self._required(ctx, spec.columns.chosen, "chosen"), "chosen")
            rejected = _text(self._required(ctx, spec.columns.rejected, "rejected"), "rejected")
            pairs: list[tuple[str, str, float | None]] = [(chosen, rejected, None)]
        else:
            pairs = self._pairs(ctx, spec.pairs)
        rows = []
        for chosen, rejected, margin in pairs:
            if " ".join(chosen.split()) == " ".join(rejected.split()):
                if spec.pairs is None:
                    raise Reject("same_chosen_rejected", "chosen and rejected are the same text")
                continue
            example = PreferenceExample(prompt, chosen, rejected, ctx.provenance(), margin)
            row: dict[str, Any]
            if self.output_conversational:
                row = {
                    "prompt": example.prompt,
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                }
            else:
                row = {"prompt": example.prompt, "chosen": chosen, "rejected": rejected}
            row["margin"] = example.margin
            rows.append(row)
        if not rows:
            raise Reject("no_pairs", "all candidate pairs had equal text")
        return rows

    def _pairs(self, ctx: RecordContext, pairs_spec: PairsSpec) -> list[tuple[str, str, float | None]]:
        texts: dict[str, str] = {}
        for name, cand in pairs_spec.candidates.items():
            value = ctx.resolve(cand.text)
            if not _blank(value):
                texts[name] = _text(value, f"candidates.{name}")
        # score: higher is better
        scores: dict[str, float] = {}
        if pairs_spec.source == "ranking":
            assert pairs_spec.question is not None  # checked by the spec model
            unified = ctx.unified(pairs_spec.question, None)
            if unified.value is None:
                raise Reject(f"missing:{pairs_spec.question}", "no counted ranking")
            for pos, item in enumerate(unified.value, 1):
                rank = item.rank if item.rank is not None else pos
                scores[item.value] = -float(rank)
        else:
            for name, cand in pairs_spec.candidates.items():
                assert cand.rating is not None  # checked by the spec model
                unified = ctx.unified(cand.rating, None)
                if unified.value is not None:
                    scores[name] = float(unified.value)
        ranked = sorted((name for name in texts if name in scores), key=lambda n: (-scores[n], n))
        if len(ranked) < 2:
            raise Reject("no_pairs", f"{len(ranked)} candidate(s) with both text and a score")
        combos: list[tuple[str, str]]
        if pairs_spec.mode == "best_vs_worst":
            combos = [(ranked[0], ranked[-1])]
        elif pairs_spec.mode == "best_vs_rest":
            combos = [(ranked[0], other) for other in ranked[1:]]
        else:
            combos = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1 :]]
        out: list[tuple[str, str, float | None]] = []
        for better, poorer in combos:
            margin = scores[better] - scores[poorer]
            if margin <= 0 or margin < pairs_spec.min_margin:
                continue
            out.append((texts[better], texts[poorer], round(margin, 6)))
        if not out:
            raise Reject("no_pairs", "no candidates differ by the minimum margin")
        return out

    def _prompt_only(self, ctx: RecordContext, spec: PromptSpec) -> dict[str, Any]:
        prompt = self._prompt_value(ctx, spec.columns.prompt, spec.columns.context)
        return {"prompt": PromptExample(prompt, ctx.provenance()).prompt}
