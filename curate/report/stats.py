"""Dataset statistics (``curate stats`` and ``curate.stats``): counts, statuses per annotator,
annotators per record, agreement per question and per annotator pair, text lengths; and the
:class:`Stats` result that holds them and draws the pictures (:mod:`curate.report.plots`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from curate.build.agreement import Alpha
from curate.build.unify import agreement_key
from curate.records import ArgillaRecord, DatasetSettings, FieldKind, QuestionKind, describe_value
from curate.report.summary import finite_or_null, summarize, text_length
from curate.sources.base import Unreadable

if TYPE_CHECKING:
    from curate.report.plots import Pictures


def _status_key(status: Any) -> str:
    """A record status as stats count it. Export keeps a record's status as it came (only
    ``filters.record_status`` reads it, and a status that is not text matches none), so stats
    count one that is not text too, under its type and value, never passed off as a status.

    >>> _status_key("completed"), _status_key(None), _status_key(["completed"]), _status_key(5)
    ('completed', 'unknown', "list ['completed']", 'number 5')
    """
    if status is None or status == "":
        return "unknown"
    return status if isinstance(status, str) else describe_value(status)


class PairAgreement:
    """Per annotator pair, on one question: records both answered, and how many the same way.

    >>> p = PairAgreement()
    >>> p.add({"u1": "a", "u2": "a", "u3": "b"})
    >>> p.to_dict()["pairs"][0]
    {'a': 'u1', 'b': 'u2', 'shared': 1, 'agree': 1, 'share': 1.0}
    """

    def __init__(self) -> None:
        self.shared: Counter[tuple[str, str]] = Counter()
        self.agree: Counter[tuple[str, str]] = Counter()
        self.annotators: set[str] = set()

    def add(self, answers: dict[str, Any]) -> None:
        self.annotators.update(answers)
        for a, b in combinations(sorted(answers), 2):
            self.shared[a, b] += 1
            self.agree[a, b] += answers[a] == answers[b]

    def to_dict(self) -> dict[str, Any]:
        pairs = [
            {"a": a, "b": b, "shared": n, "agree": self.agree[a, b], "share": round(self.agree[a, b] / n, 6)}
            for (a, b), n in sorted(self.shared.items())
        ]
        return {"annotators": sorted(self.annotators), "pairs": pairs}


class SourceStats:
    """Figures over Argilla records, gathered in one streaming pass (``add`` each record).

    Agreement (Krippendorff's alpha and pairwise) counts submitted answers, and answers whose
    status the export lost (Argilla 2.x ``to_disk``). Rows the source could not read are counted
    by reason (``unreadable``), never skipped silently: ``rows == records + sum(unreadable)``.
    """

    def __init__(self, settings: DatasetSettings):
        self.settings = settings
        self.rows = 0
        self.unreadable: Counter[str] = Counter()
        self.n = 0
        self.record_status: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.per_annotator: dict[str, Counter[str]] = {}
        self.annotators: Counter[int] = Counter()
        self.per_question_status: dict[str, Counter[str]] = {q: Counter() for q in settings.questions}
        self.alphas = {
            q: Alpha("interval" if info.kind is QuestionKind.RATING else "nominal")
            for q, info in settings.questions.items()
        }
        self.pairs = {q: PairAgreement() for q in settings.questions}
        self.text_fields = [
            f for f, info in settings.fields.items() if info.kind in (FieldKind.TEXT, FieldKind.CHAT)
        ]
        self.lengths: dict[str, list[int]] = {f: [] for f in self.text_fields}

    def add(self, record: ArgillaRecord | Unreadable) -> None:
        self.rows += 1
        if isinstance(record, Unreadable):
            self.unreadable[record.reason] += 1
            return
        self.n += 1
        self.record_status[_status_key(record.status)] += 1
        users = record.annotator_statuses()
        for q, responses in record.responses.items():
            values = []
            answers: dict[str, Any] = {}
            for r in responses:
                self.per_question_status.setdefault(q, Counter())[r.status or "unknown"] += 1
                if r.status in ("submitted", None) and r.value is not None:
                    key = agreement_key(r.value)
                    values.append(key)
                    answers.setdefault(r.user_id, key)
            if q in self.alphas:
                self.alphas[q].add(values)
            if len(answers) > 1:
                self.pairs.setdefault(q, PairAgreement()).add(answers)
        self.by_status.update(users.values())
        for user, status in users.items():
            self.per_annotator.setdefault(user, Counter())[status] += 1
        self.annotators[len(users)] += 1
        for f in self.text_fields:
            length = text_length(record.fields.get(f))
            if length is not None:
                self.lengths[f].append(length)

    def result(self) -> dict[str, Any]:
        questions = self.settings.questions
        return {
            "rows": self.rows,
            "records": self.n,
            "unreadable": dict(sorted(self.unreadable.items())),
            "record_status": dict(sorted(self.record_status.items())),
            "annotator_responses_by_status": dict(sorted(self.by_status.items())),
            "annotators_per_record": {str(k): v for k, v in sorted(self.annotators.items())},
            "annotators": {u: dict(sorted(c.items())) for u, c in sorted(self.per_annotator.items())},
            "questions": {
                q: {
                    "kind": questions[q].kind.value if q in questions else None,
                    "responses_by_status": dict(sorted(c.items())),
                    "agreement": _alpha(self.alphas[q]) if q in self.alphas else None,
                }
                for q, c in self.per_question_status.items()
            },
            "pairwise_agreement": {q: p.to_dict() for q, p in self.pairs.items() if p.shared},
            "field_lengths_chars": {f: summarize(v) for f, v in self.lengths.items()},
        }


def _alpha(alpha: Alpha) -> dict[str, Any]:
    value = alpha.value()
    return {
        "metric": f"krippendorff_alpha_{alpha.metric}",
        "alpha": None if value is None else round(value, 6),
        "units": alpha.units,
    }


@dataclass
class Stats:
    """What ``curate.stats(...)`` returns: the figures (``to_dict()``, the JSON ``curate stats
    --json`` prints) and the pictures (``plot()``).

    ``kind`` is ``"source"`` (an Argilla export or dataset), ``"spec"`` (a spec: its source and
    the export it makes) or ``"export"`` (a ``curate export`` folder or split file).
    """

    kind: str
    data: dict[str, Any]
    #: characters per text column of the rows (spec and export) or per text field (source)
    lengths: dict[str, list[int]] = field(default_factory=dict)
    #: trained tokens per row (or per chosen/rejected answer), when a tokenizer was given or the
    #: export was tokenized
    trained: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # An export's manifest is read back with Python's JSON reader, which takes NaN and
        # Infinity (a hand-edited `quality` or `tokenization`): `--json` must stay valid JSON.
        self.data = finite_or_null(self.data)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def title(self) -> str:
        if self.kind == "export":
            return str(self.data["export"])
        source = str(self.data["source"]["name"])
        return f"{self.data['export']['spec']} from {source}" if self.kind == "spec" else source

    def plot(self) -> Pictures:
        """The pictures: agreement per annotator pair, responses by status per annotator, rejects
        by reason, rows per split, trained-token lengths (each where the data has it).
        ``.save(DIR)`` writes one PNG each, ``.save(FILE.png)`` one overview."""
        from curate.report.plots import pictures

        return pictures(self)

    def _repr_html_(self) -> str:
        return self.plot()._repr_html_()
