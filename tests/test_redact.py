"""The one secret scrubber: credentials in every form a server or proxy may quote them back."""

from __future__ import annotations

import base64
import string
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import redact as redact_module
from curate.redact import redact, remember

SECRET_CHARS = string.ascii_letters + string.digits + "-._~+/=:@%!$"
secrets_ = st.text(SECRET_CHARS, min_size=6, max_size=40)
prose = st.text(string.printable.replace("*", ""), max_size=60)

FORMS = {
    "as is": lambda s: s,
    "url-encoded": lambda s: quote(s, safe=""),
    "bearer header": lambda s: f"Authorization: Bearer {s}",
    "argilla header": lambda s: f"'X-Argilla-Api-Key': '{s}'",
    "basic auth": lambda s: "Basic " + base64.b64encode(f"user:{s}".encode()).decode(),
    "query": lambda s: f"https://h.example/api?api_key={quote(s, safe='')}&page=2",
}


@settings(max_examples=200, deadline=None)
@given(secret=secrets_, before=prose, after=prose, form=st.sampled_from(sorted(FORMS)))
def test_a_known_secret_never_survives(secret: str, before: str, after: str, form: str) -> None:
    text = before + FORMS[form](secret) + after
    scrubbed = redact(text, [secret])
    assert secret not in scrubbed
    assert quote(secret, safe="") not in scrubbed or quote(secret, safe="") in before + after


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer hf_abcdefghijklmnop", "Authorization: Bearer ***"),
        ('{"authorization": "Bearer eyJhbGciOi.payload.sig"}', '{"authorization": "Bearer ***"}'),
        ("proxy said: Proxy-Authorization: Basic dXNlcjpwdw==", "proxy said: Proxy-Authorization: Basic ***"),
        ("see https://user:pw@host.example:8080/x", "see https://***@host.example:8080/x"),
        ("token hf_0123456789abcdefXYZ in body", "token *** in body"),
        ("GET /api?access_token=abc.def&x=1", "GET /api?access_token=***&x=1"),
    ],
)
def test_unknown_credentials_in_their_usual_places(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "row 7: token 3 of 12 is '<|im_end|>'",
        "max_tokens=5, max_length=256",
        "the basic transfer of 3 files failed: HTTP 500",
        "--api-key or ARGILLA_API_KEY",
    ],
)
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_remembered_secret_is_scrubbed_everywhere_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact_module, "_remembered", set())
    remember("flag-given-key-42", None, "abc")  # None and too-short values are ignored
    assert redact("server said flag-given-key-42") == "server said ***"
    assert redact("abc") == "abc"


def test_environment_credentials_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGILLA_API_KEY", "env-argilla-key-1")
    monkeypatch.setenv("HF_TOKEN", "env_hub_token_22")
    assert redact("a env-argilla-key-1 b env_hub_token_22") == "a *** b ***"
