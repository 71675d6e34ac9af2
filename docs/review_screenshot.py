"""Regenerate ``docs/review-page.png``: the Argilla review page ``curate argilla review`` fills,
taken in headless Chromium against the local test server.

Two annotators disagree on a label and a ranking; ``curate.review`` sends the records to a review
dataset; the page a reviewer opens is photographed after signing in as the owner.

    python docs/review_screenshot.py                    # curate's environment (the server harness)
      CURATE_PLAYWRIGHT_PYTHON=/path/to/python          # a Python with `playwright` installed
      CURATE_CHROMIUM=/usr/bin/chromium                 # Debian's `chromium` package

The browser part runs in that other Python (``playwright`` is no dependency of curate).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import argilla as rg
import httpx

import curate
from curate.testing.argilla_server import OWNER_PASSWORD, ArgillaServer

OUT = Path(__file__).resolve().parent / "review-page.png"
WORKSPACE = "argilla"

SPEC = """\
name: capitals-review
task: preference
source: {argilla: {dataset: capitals, workspace: argilla}}
unify: {ranking: majority}
columns:
  prompt: {field: prompt}
  context: {question: topic}
pairs:
  from: ranking
  question: rank
  candidates:
    a: {text: {field: a}}
    b: {text: {field: b}}
review: {dataset: capitals-review, workspace: argilla}
template: alpaca
"""

RECORDS = [
    ("q1", "What is the capital of Australia?", "Canberra.", "Sydney, the largest city."),
    ("q2", "Which river flows through Cairo?", "The Nile.", "The Nile, the longest river in Africa."),
    ("q3", "Is 91 a prime number?", "No: 91 = 7 x 13.", "Yes, it has no divisors."),
]
BOTH = [{"value": "a", "rank": 1}, {"value": "b", "rank": 2}]
FLIPPED = [{"value": "b", "rank": 1}, {"value": "a", "rank": 2}]
ANSWERS = {  # record -> (ann-1's answers, ann-2's answers)
    "q1": ({"topic": "geography", "rank": BOTH}, {"topic": "trivia", "rank": FLIPPED}),
    "q2": ({"topic": "geography", "rank": BOTH}, {"topic": "geography", "rank": FLIPPED}),
    "q3": ({"topic": "math", "rank": BOTH}, {"topic": "trivia", "rank": BOTH}),
}

BROWSER = """
import sys
from playwright.sync_api import sync_playwright

url, password, chromium, out = sys.argv[1:5]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
    page.goto(url + "/sign-in")
    page.fill("input[name=username], #username, input[type=text]", "owner")
    page.fill("input[type=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "sign-in" not in u, timeout=30000)
    page.goto(sys.argv[5])
    page.wait_for_selector("text=answers to topic", timeout=60000)
    page.wait_for_timeout(2000)
    page.screenshot(path=out)
    browser.close()
"""


def main() -> None:
    python = os.environ.get("CURATE_PLAYWRIGHT_PYTHON", sys.executable)
    chromium = os.environ.get("CURATE_CHROMIUM", "/usr/bin/chromium")
    server = ArgillaServer().start()
    try:
        os.environ["ARGILLA_API_URL"], os.environ["ARGILLA_API_KEY"] = server.url, server.api_key
        client = rg.Argilla(api_url=server.url, api_key=server.api_key)
        workspace = client.workspaces(WORKSPACE)
        keys: dict[str, str] = {}
        with httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": server.api_key}) as http:
            for name in ("ann-1", "ann-2"):
                user = rg.User(
                    username=name, password="annotator-pw-1", role="annotator", client=client
                ).create()
                user.add_to_workspace(workspace)
                keys[name] = http.get(f"/api/v1/users/{user.id}").json()["api_key"]
        settings = rg.Settings(
            fields=[rg.TextField(name="prompt"), rg.TextField(name="a"), rg.TextField(name="b")],
            questions=[
                rg.LabelQuestion(name="topic", labels=["geography", "math", "trivia"]),
                rg.RankingQuestion(name="rank", values=["a", "b"]),
            ],
        )
        dataset = rg.Dataset(name="capitals", workspace=WORKSPACE, settings=settings, client=client).create()
        dataset.records.log([rg.Record(id=i, fields={"prompt": p, "a": a, "b": b}) for i, p, a, b in RECORDS])
        with httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": server.api_key}) as http:
            items = http.get(f"/api/v1/datasets/{dataset.id}/records", params={"limit": 100}).json()["items"]
        ids = {item["external_id"]: item["id"] for item in items}
        for rid, answers in ANSWERS.items():
            for name, values in zip(("ann-1", "ann-2"), answers, strict=True):
                body = {"status": "submitted", "values": {q: {"value": v} for q, v in values.items()}}
                with httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": keys[name]}) as http:
                    http.post(f"/api/v1/records/{ids[rid]}/responses", json=body).raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "capitals-review.yaml"
            spec.write_text(SPEC)
            print(curate.review(spec, "capitals-review", workspace=WORKSPACE).summary())
        review = client.datasets("capitals-review", workspace=WORKSPACE)
        page = f"{server.url}/dataset/{review.id}/annotation-mode"
        subprocess.run(
            [python, "-c", BROWSER, server.url, OWNER_PASSWORD, chromium, str(OUT), page], check=True
        )
        print(f"wrote {OUT}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
