"""Write the bundled demo data: small, realistic Argilla exports in the layouts Argilla writes.

Run ``python datasets_spec/data/make_demo_data.py`` (``make demo-data``); output is
deterministic (seeded), so re-running reproduces the committed files byte for byte.

* ``dolly-curated-v1/``: Argilla 1.x ``FeedbackDataset.push_to_huggingface`` layout of a
  Dolly-curated review (fields original-instruction/-context/-response, category; text questions
  new-instruction/-context/-response), with ``argilla.yaml`` and ``data/train-*.parquet`` written
  through ``datasets`` with the Features that Argilla 1.x declares.
* ``dolly-curated-v2-disk/``: the same records as an Argilla 2.x ``Dataset.to_disk`` folder
  (``records.json`` + ``.argilla/settings.json``; responses carry no status, as in Argilla).
* ``ultrafeedback-v2/``: an Argilla 2.x ``Dataset.to_hub`` snapshot (flat ``to_datasets()``
  columns, label suggestions as ``ClassLabel``) of a prompt with three responses, a ranking
  question and one rating per response.
* ``chat-review-v2-disk/``: an Argilla 2.x ``to_disk`` folder with a ChatField conversation
  and a corrected-reply text question.
* ``domain-text-v2-disk/``: an Argilla 2.x ``to_disk`` folder of ``content`` records for
  continued pre-training, with a corrected-content text question.
* ``answer-feedback-v2-disk/``: an Argilla 2.x ``to_disk`` folder of prompt/response pairs with
  a thumbs-up/down label question (good/bad) and a 1-5 rating of the response, for KTO.

Several annotators per record, disagreements, draft and discarded responses, records nobody
annotated, empty contexts and non-ASCII text are all in there on purpose.
"""

from __future__ import annotations

import json
import random
import shutil
import uuid
from pathlib import Path

from datasets import ClassLabel, Dataset, Features, Value

HERE = Path(__file__).resolve().parent
USERS = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"curate-demo-annotator-{i}")) for i in range(4)]
DATASET_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "curate-demo-dataset"))

TOPICS = [
    ("photosynthesis", "biology", "Photosynthesis turns light, water and CO₂ into glucose and oxygen."),
    (
        "the French Revolution",
        "history",
        "La Révolution française began in 1789 with the storming of the Bastille.",
    ),
    (
        "binary search",
        "programming",
        "Binary search halves a sorted range until it finds the target in O(log n).",
    ),
    ("sourdough bread", "cooking", "Sourdough rises with a starter of wild yeast and lactobacilli."),
    ("the Meiji era", "history", "明治時代 (1868–1912) modernised Japan's industry and government."),
    ("compound interest", "finance", "Compound interest earns interest on previously earned interest."),
    ("plate tectonics", "geology", "Earth's lithosphere is split into plates that drift a few cm a year."),
    ("the Doppler effect", "physics", "A source moving towards you sounds higher: waves arrive compressed."),
    ("Gaudí's architecture", "art", "Antoni Gaudí's Sagrada Família blends Gothic and Art Nouveau forms."),
    ("vaccines", "medicine", "Vaccines train the immune system with a harmless antigen."),
    ("the Ψ function", "physics", "The wave function Ψ gives probability amplitudes for a quantum state."),
    ("coffee roasting", "cooking", "Roasting develops coffee's aroma through Maillard reactions ☕."),
]
AUDIENCES = ["", " Keep it simple.", " Use an example.", " Be precise.", " Answer in one paragraph."]
CATEGORIES = [
    "open_qa",
    "closed_qa",
    "summarization",
    "brainstorming",
    "information_extraction",
    "creative_writing",
]
ASKS = [
    "Explain {t} in two sentences.",
    "What is the most important fact about {t}?",
    "Summarise the text about {t}.",
    "Give three ideas related to {t}.",
    "Write a short, friendly note about {t}.",
    "Using the context, what does it say about {t}?",
]


def _rng(name: str) -> random.Random:
    return random.Random(f"curate-demo-{name}")


def _annotators(rng: random.Random) -> list[tuple[str, str]]:
    """(user_id, status) for the annotators of one record; some records have none."""
    n = rng.choices([0, 1, 2, 3], weights=[12, 45, 30, 13])[0]
    users = rng.sample(USERS, n)
    return [(u, rng.choices(["submitted", "draft", "discarded"], weights=[80, 10, 10])[0]) for u in users]


def dolly_records() -> list[dict]:
    """Records as plain dicts: fields, and per annotator {status, values} (None = not answered)."""
    rng = _rng("dolly")
    records = []
    for i in range(300):
        topic, _, fact = TOPICS[i % len(TOPICS)]
        category = CATEGORIES[(i // len(TOPICS)) % len(CATEGORIES)]
        k = i if i % 50 != 49 else i - 24  # every 50th record repeats an earlier one: dedup finds it
        instruction = ASKS[(k // 12) % len(ASKS)].format(t=topic) + AUDIENCES[(k // 72) % len(AUDIENCES)]
        context = fact if category in ("closed_qa", "summarization", "information_extraction") else ""
        response = f"{fact.rstrip('.')} ({category.replace('_', ' ')})." if i % 5 else "I don't know."
        if i % 37 == 0:
            response = "   "  # a blank original that annotators must fix
        annotations = []
        corrected = f"{fact} In short, {topic} matters because it shapes what follows (#{k})."
        for j, (user, status) in enumerate(_annotators(rng)):
            values: dict[str, str | None] = {
                "new-instruction": None,
                "new-context": None,
                "new-response": None,
            }
            if status == "discarded" and rng.random() < 0.7:
                annotations.append({"user_id": user, "status": status, "values": {}})
                continue
            if rng.random() < 0.25:
                values["new-instruction"] = instruction.replace("Explain", "Please explain")
            if context and rng.random() < 0.2:
                values["new-context"] = context + " (verified)"
            roll = rng.random()
            if roll < 0.15:
                values["new-response"] = response if response.strip() else corrected  # keeps the original
            elif roll < 0.35 and j > 0:
                values["new-response"] = f"{corrected} — annotator {j} rephrased it."  # a disagreement
            else:
                values["new-response"] = corrected
            annotations.append({"user_id": user, "status": status, "values": values})
        records.append(
            {
                "external_id": f"dolly-{i:04d}",
                "fields": {
                    "original-instruction": instruction,
                    "original-context": context,
                    "original-response": response,
                    "category": category,
                },
                "metadata": {"category": category, "source_row": i},
                "annotations": annotations,
                "suggestion": corrected if i % 4 == 0 else None,
            }
        )
    return records


DOLLY_QUESTIONS = ["new-instruction", "new-context", "new-response"]
DOLLY_FIELDS = ["original-instruction", "original-context", "original-response", "category"]


def write_dolly_v1(records: list[dict], out: Path) -> None:
    """Argilla 1.x push_to_huggingface: Features and value shapes as Argilla 1.x declares them."""
    features: dict = {f: Value("string", id="field") for f in DOLLY_FIELDS}
    columns: dict[str, list] = {f: [] for f in DOLLY_FIELDS}
    for q in DOLLY_QUESTIONS:
        features[q] = [
            {
                "user_id": Value("string", id="question"),
                "value": Value("string", id="question"),
                "status": Value("string", id="question"),
            }
        ]
        features[f"{q}-suggestion"] = Value("string", id="suggestion")
        features[f"{q}-suggestion-metadata"] = {
            "type": Value("string", id="suggestion-metadata"),
            "score": Value("float32", id="suggestion-metadata"),
            "agent": Value("string", id="suggestion-metadata"),
        }
        for key in (q, f"{q}-suggestion", f"{q}-suggestion-metadata"):
            columns[key] = []
    features["external_id"] = Value("string", id="external_id")
    features["metadata"] = Value("string", id="metadata")
    columns["external_id"], columns["metadata"] = [], []
    for r in records:
        for f in DOLLY_FIELDS:
            columns[f].append(r["fields"][f])
        for q in DOLLY_QUESTIONS:
            columns[q].append(
                [
                    {"user_id": a["user_id"], "value": a["values"][q], "status": a["status"]}
                    for a in r["annotations"]
                    if a["values"].get(q) is not None
                ]
            )
            has = q == "new-response" and r["suggestion"] is not None
            columns[f"{q}-suggestion"].append(r["suggestion"] if has else None)
            columns[f"{q}-suggestion-metadata"].append(
                {"type": "model", "score": 0.75, "agent": "demo-corrector-v1"}
                if has
                else {"type": None, "score": None, "agent": None}
            )
        columns["external_id"].append(r["external_id"])
        columns["metadata"].append(json.dumps(r["metadata"]))
    (out / "data").mkdir(parents=True)
    Dataset.from_dict(columns, features=Features(features)).to_parquet(
        out / "data" / "train-00000-of-00001.parquet"
    )
    fields_yaml = "".join(
        f"- name: {f}\n  title: {f.replace('-', ' ').title()}\n  required: {str(f != 'original-context').lower()}\n"
        f"  type: text\n  use_markdown: false\n"
        for f in DOLLY_FIELDS
    )
    questions_yaml = "".join(
        f"- name: {q}\n  title: {q.replace('-', ' ').title()}\n  description: null\n  required: false\n"
        f"  type: text\n  use_markdown: false\n"
        for q in DOLLY_QUESTIONS
    )
    (out / "argilla.yaml").write_text(
        f"fields:\n{fields_yaml}questions:\n{questions_yaml}"
        "guidelines: Correct the instruction, context and response where they are wrong or unclear.\n",
        encoding="utf-8",
    )


def _settings_v2(fields: list[dict], questions: list[dict], metadata: list[dict], guidelines: str) -> dict:
    return {
        "guidelines": guidelines,
        "questions": questions,
        "fields": fields,
        "vectors": [],
        "metadata": metadata,
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def _q(name: str, settings: dict, required: bool = True) -> dict:
    return {
        "name": name,
        "title": name.replace("-", " ").title(),
        "description": None,
        "required": required,
        "settings": settings,
        "type": settings["type"],
    }


def _f(name: str, kind: str = "text", required: bool = True) -> dict:
    settings = (
        {"type": kind, "use_markdown": False} if kind == "text" else {"type": kind, "use_markdown": True}
    )
    return {
        "name": name,
        "title": name.replace("-", " ").title(),
        "required": required,
        "settings": settings,
        "type": kind,
    }


def _write_disk(out: Path, settings: dict, records: list[dict], name: str) -> None:
    (out / ".argilla").mkdir(parents=True)
    (out / ".argilla" / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    (out / ".argilla" / "dataset.json").write_text(
        json.dumps(
            {
                "id": DATASET_ID,
                "name": name,
                "status": "ready",
                "guidelines": settings["guidelines"],
                "allow_extra_metadata": False,
                "distribution": settings["distribution"],
                "workspace_id": None,
                "last_activity_at": None,
                "url": None,
            }
        ),
        encoding="utf-8",
    )
    (out / "records.json").write_text(json.dumps(records), encoding="utf-8")


def write_dolly_v2_disk(records: list[dict], out: Path) -> None:
    """Argilla 2.x to_disk: Record.to_dict() per record; responses are {value, user_id} only."""
    settings = _settings_v2(
        [_f(f, required=f != "original-context") for f in DOLLY_FIELDS],
        [_q(q, {"type": "text", "use_markdown": False}, required=False) for q in DOLLY_QUESTIONS],
        [
            {
                "name": "source_row",
                "title": "Source Row",
                "settings": {"type": "integer", "min": None, "max": None},
                "visible_for_annotators": True,
                "type": "integer",
            }
        ],
        "Correct the instruction, context and response where they are wrong or unclear.",
    )
    out_records = []
    for i, r in enumerate(records):
        responses: dict[str, list] = {}
        for a in r["annotations"]:
            for q in DOLLY_QUESTIONS:
                if a["values"].get(q) is not None:
                    responses.setdefault(q, []).append({"value": a["values"][q], "user_id": a["user_id"]})
        submitted = sum(1 for a in r["annotations"] if a["status"] == "submitted")
        fields = {k: v for k, v in r["fields"].items() if v != "" and k != "category"}
        fields["category"] = r["fields"]["category"]
        out_records.append(
            {
                "id": r["external_id"],
                "fields": fields,
                "metadata": {"source_row": r["metadata"]["source_row"]},
                "suggestions": {
                    "new-response": {"value": r["suggestion"], "score": 0.75, "agent": "demo-corrector-v1"}
                }
                if r["suggestion"]
                else {},
                "responses": responses,
                "vectors": {},
                "status": "completed" if submitted else "pending",
                "_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dolly-server-{i}")),
            }
        )
    _write_disk(out, settings, out_records, "dolly-curated")


def write_ultrafeedback_v2(out: Path) -> None:
    """Argilla 2.x to_hub snapshot: flat to_datasets() columns plus .argilla/settings.json."""
    rng = _rng("ultrafeedback")
    options = ["response-1", "response-2", "response-3"]
    rows = []
    for i in range(200):
        topic, domain, fact = TOPICS[i % len(TOPICS)]
        prompt = (
            f"{ASKS[(i // 12) % len(ASKS)].format(t=topic)}{AUDIENCES[(i // 72) % len(AUDIENCES)]} (#{i})"
        )
        quality = rng.sample([1, 2, 3, 4, 5], 3)
        texts = {
            o: [f"{topic}? Not sure.", f"{fact}", f"{fact} Here is why it matters: it connects to {domain}."][
                sorted(range(3), key=lambda k: quality[k]).index(k)
            ]
            for k, o in enumerate(options)
        }
        if i % 23 == 0:
            texts["response-3"] = texts["response-2"]  # identical candidates: no pair between them
        row = {
            "id": f"uf-{i:04d}",
            "status": "pending",
            "_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"uf-{i}")),
            "prompt": prompt,
            **texts,
            "domain": domain,
        }
        ranking_responses, users, statuses = [], [], []
        rating_cols = {f"rating-{k + 1}": ([], [], []) for k in range(3)}
        for user, status in _annotators(rng):
            true_order = sorted(options, key=lambda o: -quality[options.index(o)])
            if rng.random() < 0.2:  # an annotator who swaps the top two
                true_order[0], true_order[1] = true_order[1], true_order[0]
            ranking_responses.append(true_order)
            users.append(user)
            statuses.append(status)
            for k in range(3):
                noise = rng.choice([-1, 0, 0, 0, 1])
                vals, us, sts = rating_cols[f"rating-{k + 1}"]
                vals.append(min(5, max(1, quality[k] + noise)))
                us.append(user)
                sts.append(status)
        if any(s == "submitted" for s in statuses):
            row["status"] = "completed"
        if users:
            row["response-ranking.responses"] = ranking_responses
            row["response-ranking.responses.users"] = users
            row["response-ranking.responses.status"] = statuses
            for name, (vals, us, sts) in rating_cols.items():
                row[f"{name}.responses"] = vals
                row[f"{name}.responses.users"] = us
                row[f"{name}.responses.status"] = sts
        row["safe.suggestion"] = "yes" if i % 9 else "no"
        row["safe.suggestion.score"] = 0.9
        row["safe.suggestion.agent"] = "demo-safety-classifier"
        rows.append(row)
    keys: list[str] = []
    for row in rows:  # GenericIO.to_list: union of keys, missing ones set to None
        keys.extend(k for k in row if k not in keys)
    columns = {k: [row.get(k) for row in rows] for k in keys}
    ds = Dataset.from_dict(columns)
    names = list(dict.fromkeys(columns["safe.suggestion"]))
    features = ds.features.copy()
    features["safe.suggestion"] = ClassLabel(names=names)
    ds = ds.cast(features)
    (out / "data").mkdir(parents=True)
    ds.to_parquet(out / "data" / "train-00000-of-00001.parquet")
    settings = _settings_v2(
        [_f("prompt"), *(_f(o) for o in options)],
        [
            _q(
                "response-ranking",
                {
                    "type": "ranking",
                    "options": [{"value": o, "text": o, "description": None} for o in options],
                },
            ),
            *(
                _q(f"rating-{k + 1}", {"type": "rating", "options": [{"value": v} for v in range(1, 6)]})
                for k in range(3)
            ),
            _q(
                "safe",
                {
                    "type": "label_selection",
                    "options": [{"value": v, "text": v, "description": None} for v in ("yes", "no")],
                    "visible_options": None,
                },
                required=False,
            ),
        ],
        [
            {
                "name": "domain",
                "title": "Domain",
                "settings": {"type": "terms", "values": None},
                "visible_for_annotators": True,
                "type": "terms",
            }
        ],
        "Rank the three responses from best to worst, then rate each from 1 to 5.",
    )
    (out / ".argilla").mkdir(parents=True)
    (out / ".argilla" / "settings.json").write_text(json.dumps(settings), encoding="utf-8")


def write_chat_review_v2_disk(out: Path) -> None:
    rng = _rng("chat")
    records = []
    for i in range(150):
        topic, _, fact = TOPICS[i % len(TOPICS)]
        conversation = [
            {"role": "user", "content": f"Hi! Can you tell me about {topic}?"},
            {"role": "assistant", "content": f"Sure. {fact}"},
            {"role": "user", "content": f"Why does that matter? (follow-up {i})"},
            {"role": "assistant", "content": "It just does."},
        ]
        if i % 3 == 0:
            conversation = conversation[:3]  # ends with the user: the corrected reply completes it
        if i % 31 == 0:
            conversation = [{"role": "assistant", "content": "Hello!"}]  # malformed: starts with assistant
        responses: dict[str, list] = {}
        for user, status in _annotators(rng):
            if status == "discarded":
                continue
            reply = f"It matters because {fact[0].lower() + fact[1:]} That affects everyday life (#{i})."
            if rng.random() < 0.2:
                reply = reply.replace("everyday life", "how we live — and 日本 too")
            responses.setdefault("corrected-reply", []).append({"value": reply, "user_id": user})
            responses.setdefault("quality", []).append(
                {"value": rng.choice([1, 2, 3, 4, 5]), "user_id": user}
            )
        records.append(
            {
                "id": f"chat-{i:04d}",
                "fields": {"conversation": conversation},
                "metadata": {},
                "suggestions": {},
                "responses": responses,
                "vectors": {},
                "status": "completed" if responses else "pending",
                "_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-{i}")),
            }
        )
    settings = _settings_v2(
        [_f("conversation", "chat")],
        [
            _q("corrected-reply", {"type": "text", "use_markdown": False}, required=False),
            _q("quality", {"type": "rating", "options": [{"value": v} for v in range(1, 6)]}),
        ],
        [],
        "Rewrite the assistant's final reply so it is correct and helpful; rate the original reply.",
    )
    _write_disk(out, settings, records, "chat-review")


def write_domain_text_v2_disk(out: Path) -> None:
    """Paragraphs to curate for continued pre-training; annotators fix some, a few are empty."""
    rng = _rng("domain-text")
    records = []
    for i in range(120):
        topic, field, fact = TOPICS[i % len(TOPICS)]
        content = f"{fact} In {field}, {topic} is studied because it explains how things work (note {i})."
        if i % 23 == 0:
            content = ""  # an empty record: rejected for a missing text
        if i % 17 == 5:
            content = records[-1]["fields"]["content"] if records else content  # a duplicate paragraph
        responses: dict[str, list] = {}
        for user, status in _annotators(rng):
            if status == "discarded" or rng.random() < 0.5:
                continue
            fixed = (content or fact) + " This corrected version adds one precise detail."
            responses.setdefault("corrected-content", []).append({"value": fixed, "user_id": user})
        records.append(
            {
                "id": f"text-{i:04d}",
                "fields": {"content": content} if content else {},
                "metadata": {},
                "suggestions": {},
                "responses": responses,
                "vectors": {},
                "status": "completed" if responses else "pending",
                "_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"text-{i}")),
            }
        )
    settings = _settings_v2(
        [_f("content", required=False)],
        [_q("corrected-content", {"type": "text", "use_markdown": False}, required=False)],
        [],
        "Fix factual errors in the paragraph; leave it alone when it is right.",
    )
    _write_disk(out, settings, records, "domain-text")


def write_answer_feedback_v2_disk(out: Path) -> None:
    """Model answers judged with a thumbs-up/down label and a 1-5 rating (unpaired feedback)."""
    rng = _rng("answer-feedback")
    records = []
    for i in range(160):
        topic, _, fact = TOPICS[i % len(TOPICS)]
        good = rng.random() < 0.6
        answer = fact if good else f"I am not sure about {topic}; maybe ask someone else."
        responses: dict[str, list] = {}
        for user, status in _annotators(rng):
            if status == "discarded":
                continue
            thumbs = "good" if good == (rng.random() < 0.85) else "bad"
            stars = rng.choice([4, 5]) if thumbs == "good" else rng.choice([1, 2, 3])
            responses.setdefault("helpful", []).append({"value": thumbs, "user_id": user})
            responses.setdefault("rating", []).append({"value": stars, "user_id": user})
        records.append(
            {
                "id": f"fb-{i:04d}",
                "fields": {
                    "prompt": ASKS[i % len(ASKS)].format(t=topic) + f" (ticket {i})",
                    "response": answer,
                },
                "metadata": {},
                "suggestions": {},
                "responses": responses,
                "vectors": {},
                "status": "completed" if responses else "pending",
                "_server_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"fb-{i}")),
            }
        )
    labels = {
        "type": "label_selection",
        "options": [{"value": v, "text": v, "description": None} for v in ("good", "bad")],
        "visible_options": None,
    }
    settings = _settings_v2(
        [_f("prompt"), _f("response")],
        [
            _q("helpful", labels),
            _q("rating", {"type": "rating", "options": [{"value": v} for v in range(1, 6)]}),
        ],
        [],
        "Is the response helpful? Thumbs up (good) or down (bad), then rate it from 1 to 5.",
    )
    _write_disk(out, settings, records, "answer-feedback")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="folder to write into (default: beside this script)"
    )
    args = parser.parse_args(argv)
    targets = {
        "dolly-curated-v1": lambda out: write_dolly_v1(dolly, out),
        "dolly-curated-v2-disk": lambda out: write_dolly_v2_disk(dolly, out),
        "ultrafeedback-v2": write_ultrafeedback_v2,
        "chat-review-v2-disk": write_chat_review_v2_disk,
        "domain-text-v2-disk": write_domain_text_v2_disk,
        "answer-feedback-v2-disk": write_answer_feedback_v2_disk,
    }
    dolly = dolly_records()
    for name, write in targets.items():
        out = args.out / name
        if out.exists():
            shutil.rmtree(out)
        write(out)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
