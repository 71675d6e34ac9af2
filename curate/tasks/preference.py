"""``task: preference``: prompt/chosen/rejected (+ ``margin``) for reward modelling and DPO, from
two value-source columns, or from ``pairs:`` over a ranking question or one rating question per
candidate (``best_vs_worst``, ``best_vs_rest``, ``all_pairs``, ``min_margin``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from curate.errors import CurateError
from curate.records import PreferenceExample, QuestionKind
from curate.rows import RejectRecord, as_text, blank
from curate.spec import Number, Required, Sources, SpecModel, TemplatedSpec, as_list
from curate.tasks.base import Task, text_or_messages

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext


class Candidate(SpecModel):
    text: Required
    rating: str | None = Field(
        None, description="rating question scoring this candidate (pairs from ratings)"
    )

    _lists = field_validator("text", mode="before")(as_list)


class PairsSpec(SpecModel):
    """Better/poorer pairs from a ranking question, or from one rating question per candidate."""

    source: Literal["ranking", "rating"] = Field(alias="from")
    question: str | None = Field(None, description="the ranking question (source: ranking)")
    candidates: dict[str, Candidate]
    mode: Literal["best_vs_worst", "best_vs_rest", "all_pairs"] = "best_vs_worst"
    min_margin: Number = 0.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> PairsSpec:
        if len(self.candidates) < 2:
            raise ValueError("pairs need at least two candidates")
        if self.source == "ranking" and not self.question:
            raise ValueError("pairs from a ranking need `question`")
        if self.source == "rating":
            missing = [k for k, c in self.candidates.items() if c.rating is None]
            if missing:
                raise ValueError(
                    f"pairs from ratings need `rating` on every candidate (missing: {', '.join(missing)})"
                )
        return self


class PreferenceColumns(SpecModel):
    prompt: Required
    context: Sources
    chosen: Sources
    rejected: Sources

    _lists = field_validator("prompt", "context", "chosen", "rejected", mode="before")(as_list)


class PreferenceSpec(TemplatedSpec):
    task: Literal["preference"]
    #: text columns of a row: what length filters may name
    text_columns: ClassVar[tuple[str, ...]] = ("prompt", "chosen", "rejected")
    columns: PreferenceColumns
    pairs: PairsSpec | None = None

    @model_validator(mode="after")
    def _pairs_or_columns(self) -> PreferenceSpec:
        has_columns = bool(self.columns.chosen or self.columns.rejected)
        if self.pairs is None and not (self.columns.chosen and self.columns.rejected):
            raise ValueError("give columns.chosen and columns.rejected, or pairs")
        if self.pairs is not None and has_columns:
            raise ValueError("give either columns.chosen/rejected or pairs, not both")
        return self


# A pair: (better text, poorer text, margin).
Pair = tuple[str, str, float | None]


def same_text_key(text: str) -> str:
    """What two answers must share to count as the same text: their words, whitespace aside.

    >>> same_text_key("  Paris is   the capital. ")
    'Paris is the capital.'
    """
    return " ".join(text.split())


def check_pairs(builder: Builder, pairs: PairsSpec) -> None:
    """The pairs' questions exist with the right kinds; they count as read (agreement, provenance)."""
    s = builder.settings
    if pairs.source == "ranking":
        q = s.questions.get(pairs.question or "")
        if q is None or q.kind is not QuestionKind.RANKING:
            raise CurateError(
                f"{builder.where}: pairs.question: {pairs.question!r} is not a ranking question of the dataset"
            )
        if q.options:
            unknown = [c for c in pairs.candidates if c not in q.options]
            if unknown:
                raise CurateError(
                    f"{builder.where}: pairs.candidates: {', '.join(unknown)} not among the ranking's options "
                    f"({', '.join(map(str, q.options))})"
                )
        builder.questions_used.append(q.name)
        return
    for name, cand in pairs.candidates.items():
        q = s.questions.get(cand.rating or "")
        if q is None or q.kind is not QuestionKind.RATING:
            raise CurateError(
                f"{builder.where}: pairs.candidates.{name}.rating: {cand.rating!r} is not a rating question"
            )
        builder.questions_used.append(q.name)


def scored_candidates(
    ctx: RecordContext, pairs_spec: PairsSpec
) -> tuple[list[str], dict[str, str], dict[str, float]]:
    """Candidates with both a text and a score, best first (ties by name), their texts and scores
    (higher is better: a rating, or minus the rank)."""
    texts: dict[str, str] = {}
    for name, cand in pairs_spec.candidates.items():
        value = ctx.resolve(cand.text)
        if not blank(value):
            texts[name] = as_text(value, f"candidates.{name}")
    scores: dict[str, float] = {}
    if pairs_spec.source == "ranking":
        assert pairs_spec.question is not None  # checked by the spec model
        unified = ctx.unified(pairs_spec.question, None)
        if unified.value is None:
            raise RejectRecord(f"missing:{pairs_spec.question}", "no counted ranking")
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
        raise RejectRecord("no_pairs", f"{len(ranked)} candidate(s) with both text and a score")
    return ranked, texts, scores


def pair_names(ranked: list[str], scores: dict[str, float], pairs_spec: PairsSpec) -> list[tuple[str, str]]:
    """``(better, poorer)`` candidate names the mode asks for, at least ``min_margin`` apart."""
    combos: list[tuple[str, str]]
    if pairs_spec.mode == "best_vs_worst":
        combos = [(ranked[0], ranked[-1])]
    elif pairs_spec.mode == "best_vs_rest":
        combos = [(ranked[0], other) for other in ranked[1:]]
    else:
        combos = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1 :]]
    out = []
    for better, poorer in combos:
        margin = scores[better] - scores[poorer]
        if not math.isfinite(margin):  # finite ratings whose difference passes a float's range
            question = pairs_spec.candidates[better].rating
            raise RejectRecord(
                f"bad_value:{question}",
                f"ratings of {better!r} and {poorer!r} are too far apart for a margin "
                f"({scores[better]:g} and {scores[poorer]:g})",
            )
        if margin <= 0 or margin < pairs_spec.min_margin:
            continue
        out.append((better, poorer))
    if not out:
        raise RejectRecord("no_pairs", "no candidates differ by the minimum margin")
    return out


def pairs_from(ctx: RecordContext, pairs_spec: PairsSpec) -> list[Pair]:
    ranked, texts, scores = scored_candidates(ctx, pairs_spec)
    return [
        (texts[better], texts[poorer], round(scores[better] - scores[poorer], 6))
        for better, poorer in pair_names(ranked, scores, pairs_spec)
    ]


class Preference(Task):
    name = "preference"
    spec_model = PreferenceSpec
    dedup_keys = ("prompt", "chosen", "rejected")
    trl_columns = ("prompt", "chosen", "rejected")
    trains = "pair"
    length_columns = ("prompt", "chosen", "rejected")
    trained_series = ("chosen", "rejected")
    card_tags = ("dpo", "preference", "reward-modeling")
    train_stage = "dpo"

    def fields(self, conversational: bool) -> list[pa.Field]:
        import pyarrow as pa

        text = text_or_messages(conversational)
        return [
            pa.field("prompt", text),
            pa.field("chosen", text),
            pa.field("rejected", text),
            pa.field("margin", pa.float64()),
        ]

    def check(self, builder: Builder) -> None:
        if builder.spec.pairs is not None:
            check_pairs(builder, builder.spec.pairs)

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        spec = builder.spec
        prompt = builder.prompt_value(ctx, spec.columns.prompt, spec.columns.context)
        if spec.pairs is None:
            chosen = as_text(builder.required(ctx, spec.columns.chosen, "chosen"), "chosen")
            rejected = as_text(builder.required(ctx, spec.columns.rejected, "rejected"), "rejected")
            pairs: list[Pair] = [(chosen, rejected, None)]
        else:
            pairs = pairs_from(ctx, spec.pairs)
        conversational = builder.output_conversational
        rows = []
        for chosen, rejected, margin in pairs:
            if same_text_key(chosen) == same_text_key(rejected):
                if spec.pairs is None:
                    raise RejectRecord("same_chosen_rejected", "chosen and rejected are the same text")
                continue
            example = PreferenceExample(prompt, chosen, rejected, ctx.provenance(), margin)
            row: dict[str, Any]
            if conversational:
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
            raise RejectRecord("no_pairs", "all candidate pairs had equal text")
        return rows
