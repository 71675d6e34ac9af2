"""``task: unpaired``: TRL's unpaired preference format for KTO (``prompt``, ``completion``,
``label`` true/false, ``score``): from a label question on the completion (the positive labels
named in the spec), from a rating with a threshold, or from preference pairs (chosen -> true,
rejected -> false)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from curate.errors import CurateError
from curate.records import QuestionKind
from curate.rows import RejectRecord, as_text
from curate.spec import Number, Required, Sources, SpecModel, Strategy, TemplatedSpec, as_list
from curate.tasks.base import Task, text_or_messages
from curate.tasks.preference import PairsSpec, check_pairs, pair_names, same_text_key, scored_candidates

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.build.builder import Builder, RecordContext


class UnpairedColumns(SpecModel):
    prompt: Required
    context: Sources
    completion: Sources

    _lists = field_validator("prompt", "context", "completion", mode="before")(as_list)


class LabelSpec(SpecModel):
    """Whether a completion is desirable, from one question the annotators answered about it."""

    question: str = Field(description="a label question (good/bad, yes/no, ...) or a rating question")
    positive: list[str] = Field(default_factory=list, description="labels meaning desirable")
    negative: list[str] = Field(
        default_factory=list, description="labels meaning undesirable (default: every label not positive)"
    )
    threshold: Number | None = Field(None, description="rating question: at least this is desirable")
    strategy: Strategy | None = Field(None, description="unification strategy for this question")

    @model_validator(mode="after")
    def _one_rule(self) -> LabelSpec:
        if (self.threshold is None) == (not self.positive):
            raise ValueError("give positive labels (a label question) or a threshold (a rating question)")
        if self.threshold is not None and self.negative:
            raise ValueError("negative labels apply to a label question, not a rating threshold")
        overlap = sorted(set(self.positive) & set(self.negative))
        if overlap:
            raise ValueError(f"labels both positive and negative: {', '.join(overlap)}")
        return self


class UnpairedSpec(TemplatedSpec):
    task: Literal["unpaired"]
    #: text columns of a row: what length filters may name
    text_columns: ClassVar[tuple[str, ...]] = ("prompt", "completion")
    columns: UnpairedColumns
    label: LabelSpec | None = None
    pairs: PairsSpec | None = None

    @model_validator(mode="after")
    def _label_or_pairs(self) -> UnpairedSpec:
        if (self.label is None) == (self.pairs is None):
            raise ValueError("give label (a question about columns.completion) or pairs, not both")
        if self.label is not None and not self.columns.completion:
            raise ValueError("columns.completion: needed with label (the completion the label is about)")
        if self.pairs is not None and self.columns.completion:
            raise ValueError("columns.completion: the candidates of pairs are the completions; drop it")
        if self.pairs is not None and self.pairs.mode == "all_pairs":
            raise ValueError(
                "pairs.mode: all_pairs makes a middle candidate both chosen and rejected; "
                "use best_vs_worst or best_vs_rest"
            )
        return self


class Unpaired(Task):
    name = "unpaired"
    spec_model = UnpairedSpec
    dedup_keys = ("prompt", "completion", "label")
    trl_columns = ("prompt", "completion", "label")
    trains = "completion"
    length_columns = ("prompt", "completion")
    trained_series = ("completion",)
    card_tags = ("kto", "unpaired-preference")
    train_stage = "kto"

    def fields(self, conversational: bool) -> list[pa.Field]:
        import pyarrow as pa

        text = text_or_messages(conversational)
        return [
            pa.field("prompt", text),
            pa.field("completion", text),
            pa.field("label", pa.bool_()),
            pa.field("score", pa.float64()),
        ]

    def check(self, builder: Builder) -> None:
        spec = builder.spec
        if spec.pairs is not None:
            check_pairs(builder, spec.pairs)
            return
        label: LabelSpec = spec.label
        info = builder.use_question(label.question, label.strategy, "label.question")
        if label.threshold is not None and info.kind is not QuestionKind.RATING:
            raise CurateError(
                f"{builder.where}: label.threshold: {label.question!r} is a {info.kind.value} question, "
                "a threshold needs a rating question"
            )
        if label.positive:
            if info.kind is not QuestionKind.LABEL:
                raise CurateError(
                    f"{builder.where}: label.positive: {label.question!r} is a {info.kind.value} question, "
                    "positive labels need a label question"
                )
            known = {str(o) for o in info.options}
            unknown = [v for v in (*label.positive, *label.negative) if known and v not in known]
            if unknown:
                raise CurateError(
                    f"{builder.where}: label: {', '.join(map(repr, unknown))} not among the labels of "
                    f"{label.question!r} ({', '.join(sorted(known))})"
                )

    def build(self, builder: Builder, ctx: RecordContext) -> list[dict[str, Any]]:
        spec = builder.spec
        prompt = builder.prompt_value(ctx, spec.columns.prompt, spec.columns.context)
        rows = self._labelled(ctx, spec) if spec.pairs is None else self._from_pairs(ctx, spec.pairs)
        conversational = builder.output_conversational
        template = builder.template
        assert template is not None
        out = []
        for completion, label, score in rows:
            done: Any = (
                [{"role": "assistant", "content": completion}]
                if conversational
                else template.completion(completion)
            )
            out.append({"prompt": prompt, "completion": done, "label": label, "score": score})
        return out

    @staticmethod
    def _labelled(ctx: RecordContext, spec: UnpairedSpec) -> list[tuple[str, bool, float | None]]:
        rule = spec.label
        assert rule is not None
        completion = as_text(ctx.builder.required(ctx, spec.columns.completion, "completion"), "completion")
        value = ctx.unified(rule.question, rule.strategy).value
        if value is None:
            raise RejectRecord(f"missing:{rule.question}", "no counted answer")
        if rule.threshold is not None:
            score = float(value)
            return [(completion, score >= rule.threshold, score)]
        if value in rule.positive:
            return [(completion, True, None)]
        if not rule.negative or value in rule.negative:
            return [(completion, False, None)]
        raise RejectRecord(
            f"unmapped_label:{rule.question}", f"label {value!r} is neither positive nor negative"
        )

    @staticmethod
    def _from_pairs(ctx: RecordContext, pairs: PairsSpec) -> list[tuple[str, bool, float | None]]:
        ranked, texts, scores = scored_candidates(ctx, pairs)
        chosen: set[str] = set()
        rejected: set[str] = set()
        for better, poorer in pair_names(ranked, scores, pairs):
            chosen.add(better)
            rejected.add(poorer)
        rated = pairs.source == "rating"
        # Candidates with the same text are one completion: KTO must not see it called both
        # desirable and undesirable for the same prompt. Agreeing ones give one row (the best-ranked
        # candidate's text and score); disagreeing ones reject the record.
        first: dict[str, str] = {}
        out: list[tuple[str, bool, float | None]] = []
        for name in ranked:
            if name not in chosen and name not in rejected:
                continue
            key = same_text_key(texts[name])
            if key in first:
                other = first[key]
                if (other in chosen) != (name in chosen):
                    raise RejectRecord(
                        "contradictory_labels",
                        f"candidates {other!r} and {name!r} have the same text, one desirable and one not",
                    )
                continue
            first[key] = name
            out.append((texts[name], name in chosen, scores[name] if rated else None))
        return out
