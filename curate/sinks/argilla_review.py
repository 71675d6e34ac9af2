"""The review dataset on the Argilla server: its settings derived from the spec (the source's text
and chat fields, one read-only field per question listing every annotator's answer, the spec's
questions with their kinds and options, the required ``review_decision``, and the annotators'
agreement as a metadata property to sort by), and its records upserted by the source record's id,
so running ``curate argilla review`` again updates them in place and never duplicates.

The spec strategy's answer, where there is one, is the question's suggestion (agent
``curate:<strategy>``): the reviewer accepts it or picks another answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curate.build.builder import Builder
from curate.build.review import ReviewItem, versions_text
from curate.build.reviewed import DECIDED, DECISION, UNDECIDABLE
from curate.errors import CurateError
from curate.records import FieldKind, QuestionInfo, QuestionKind, RankItem
from curate.sinks.argilla import BATCH, Created, Settings, create_with_settings
from curate.sources.argilla_api import ArgillaHttp, find_dataset

VERSIONS = "versions_"  # + question name: the field listing every annotator's answer
AGREEMENT, REASON = "annotator_agreement", "review_reason"  # metadata properties

GUIDELINES = """\
Annotators disagreed on these records. For each question below, read every annotator's answer
(the fields named *answers to ...*: annotator, status, answer) and give the answer that should be
used for training: accept the suggestion (what curate's unification chose, where it could), pick
another annotator's answer, or correct it. Leave a question empty to keep the annotators' unified
answer. Then choose **decided**, or **undecidable** when the record cannot be settled (it stays
out of the training data). Sort by *annotator agreement* to see the hardest records first.
"""


def _field(name: str, title: str, kind: FieldKind) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "required": False,
        "settings": {"type": kind.value, "use_markdown": True},
    }


def _options(info: QuestionInfo) -> list[dict[str, Any]]:
    if len(info.options) < 2:
        raise CurateError(
            f"question {info.name!r}: its options are not known from the source, so a review question "
            "cannot offer them (read the source with its Argilla settings)"
        )
    return [{"value": v, "text": str(v), "description": None} for v in info.options]


def question_payload(info: QuestionInfo) -> dict[str, Any]:
    """A question of the review dataset, as the source asks it (never required: the reviewer
    answers what they decide)."""
    kind = info.kind
    settings: dict[str, Any]
    if kind is QuestionKind.TEXT:
        settings = {"type": "text", "use_markdown": False}
    elif kind is QuestionKind.RATING:
        settings = {"type": "rating", "options": [{"value": v} for v in info.options]}
        if not info.options:
            raise CurateError(f"question {info.name!r}: its rating values are not known from the source")
    elif kind in (QuestionKind.LABEL, QuestionKind.MULTI_LABEL):
        settings = {"type": kind.value, "options": _options(info), "visible_options": None}
    elif kind is QuestionKind.RANKING:
        settings = {"type": "ranking", "options": _options(info)}
    else:
        raise CurateError(f"question {info.name!r}: {kind.value} questions cannot be sent to review yet")
    return {"name": info.name, "title": info.title or info.name, "required": False, "settings": settings}


def review_settings(builder: Builder) -> Settings:
    """The review dataset's settings for one spec and source (see the module docstring)."""
    source = builder.settings
    fields = [
        _field(f.name, f.name, f.kind)
        for f in source.fields.values()
        if f.kind in (FieldKind.TEXT, FieldKind.CHAT)
    ]
    questions = [source.questions[q] for q in builder.questions_used]
    fields += [
        _field(VERSIONS + q.name, f"answers to {q.title or q.name}", FieldKind.TEXT) for q in questions
    ]
    decision = {
        "name": DECISION,
        "title": "Can you decide this record?",
        "required": True,
        "settings": {
            "type": "label_selection",
            "options": [
                {"value": DECIDED, "text": "decided: use my answers", "description": None},
                {"value": UNDECIDABLE, "text": "undecidable: leave it out", "description": None},
            ],
            "visible_options": None,
        },
    }
    metadata = [
        {
            "name": AGREEMENT,
            "title": "annotator agreement",
            "settings": {"type": "float"},
            "visible_for_annotators": True,
        },
        {
            "name": REASON,
            "title": "why in review",
            "settings": {"type": "terms"},
            "visible_for_annotators": True,
        },
    ]
    return Settings(GUIDELINES, fields, [*map(question_payload, questions), decision], metadata)


def suggestion_value(value: Any, info: QuestionInfo) -> Any:
    """The strategy's answer as the server takes a suggestion, or None where it is not one of
    the question's options (a mean rating of 4.5)."""
    kind = info.kind
    if value is None or value == "" or value == ():
        return None
    if kind is QuestionKind.RANKING:
        return [{"value": i.value, "rank": i.rank} for i in value if isinstance(i, RankItem)] or None
    if kind is QuestionKind.MULTI_LABEL:
        return list(value) if set(value) <= set(info.options) else None
    if kind is QuestionKind.RATING:
        whole = int(value) if float(value).is_integer() else None
        return whole if whole in info.options else None
    if kind is QuestionKind.LABEL:
        return value if value in info.options else None
    return value if isinstance(value, str) else None


class ReviewDataset:
    """The review dataset on the server: created when missing, its records upserted by id."""

    def __init__(self, http: ArgillaHttp, builder: Builder, name: str, workspace: str | None):
        self.http = http
        self.builder = builder
        self.made: Created = create_with_settings(http, review_settings(builder), name, workspace)
        data, _ = find_dataset(http, name, self.made.workspace)
        self.dataset_id = str(data["id"])
        base = f"/api/v1/datasets/{self.dataset_id}"
        questions = http.items(
            "GET", f"{base}/questions", "read the review dataset's questions", ("id", "name")
        )
        self.question_ids = {http.text(q, "name", f"GET {base}/questions"): str(q["id"]) for q in questions}
        fields = http.items("GET", f"{base}/fields", "read the review dataset's fields", ("name",))
        self.fields = {http.text(f, "name", f"GET {base}/fields") for f in fields}
        self._names: dict[str, str] = {}

    @property
    def where(self) -> str:
        return f"{self.made.workspace}/{self.made.name}"

    def user_names(self, user_ids: Sequence[str]) -> Mapping[str, str]:
        """User names for ids, where this key may read them (an owner's may); else the ids."""
        for uid in user_ids:
            if uid in self._names:
                continue
            try:
                user = self.http.object(
                    "GET", f"/api/v1/users/{uid}", "read an annotator's name", ("username",)
                )
                self._names[uid] = str(user["username"])
            except CurateError:
                self._names[uid] = uid
        return self._names

    def payload(self, item: ReviewItem) -> dict[str, Any]:
        record = item.record
        fields: dict[str, Any] = {}
        for name, value in record.fields.items():
            if name in self.fields and value not in (None, "", []):
                fields[name] = value
        users = sorted({r.user_id for q in item.questions for r in q.responses})
        names = self.user_names(users)
        suggestions = []
        for q in item.questions:
            if q.responses:
                fields[VERSIONS + q.question] = versions_text(q, names)
            info = self.builder.settings.questions[q.question]
            value = suggestion_value(q.answer, info)
            if value is not None and q.question in self.question_ids:
                suggestions.append(
                    {
                        "question_id": self.question_ids[q.question],
                        "value": value,
                        "type": "model",
                        "agent": f"curate:{q.strategy}",
                    }
                )
        metadata: dict[str, Any] = {REASON: item.why}
        if item.agreement is not None:
            metadata[AGREEMENT] = item.agreement
        return {"external_id": record.id, "fields": fields, "metadata": metadata, "suggestions": suggestions}

    def upsert(self, items: Sequence[ReviewItem]) -> int:
        """Upsert the items in batches; the reviewer's responses on them are left as they are."""
        for start in range(0, len(items), BATCH):
            batch = [self.payload(i) for i in items[start : start + BATCH]]
            self.http.request(
                "PUT",
                f"/api/v1/datasets/{self.dataset_id}/records/bulk",
                f"send {len(batch)} records to review in {self.where}",
                json={"items": batch},
            )
        return len(items)
