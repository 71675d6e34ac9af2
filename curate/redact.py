"""The one secret scrubber: every message that can carry a server's or a proxy's words (Argilla,
the Hub, anything in between) goes through :func:`redact` before it is printed or raised.

It removes the exact credentials curate was given (flags, ``ARGILLA_API_KEY``, ``HF_TOKEN``, the
saved Hub login) in the forms they travel in (as written, URL-encoded, inside Basic auth), the
value of any credential header or query parameter quoted back (``Authorization: Bearer ...``,
``X-Argilla-Api-Key: ...``, ``?api_key=...``), Hub-style tokens (``hf_...``), and the user and
password part of URLs. Surfaces that receive a secret call :func:`remember` so later messages
are scrubbed of it even where the scrubbing code never saw the key.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: Shorter values are not looked for as text: masking every "abc" would garble messages, and no
#: real key is that short.
MIN_SECRET_CHARS = 6
ENV_SECRETS = ("ARGILLA_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN")

_NAMES = (
    r"proxy-authorization|authorization|x-argilla-api-key|x-api-key|api[_-]?key|apikey|"
    r"access[_-]?token|auth[_-]?token|hf[_-]?token|password|passwd|(?:client[_-]?)?secret"
)
# A credential header or parameter quoted back: `Authorization: Bearer X`, `'x-argilla-api-key': 'X'`,
# `api_key=X`, `"authorization":"Basic X"`. The value runs to the next quote, space, comma or `&`.
_CREDENTIAL = re.compile(
    rf"(?i)(?P<name>\b(?:{_NAMES}))(?P<sep>['\"]?\s*[:=]\s*['\"]?)"
    r"(?P<scheme>(?:bearer|basic|token|digest)\s+)?(?P<value>[^\s'\",;&<>}\]]+)"
)
# A bearer token quoted without its header name ("basic" alone is too common a word to follow).
_SCHEME_VALUE = re.compile(r"(?i)\b(?P<scheme>bearer)\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})")
_HUB_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}")
_USERINFO = re.compile(r"(?i)\b(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")

_remembered: set[str] = set()
_lock = threading.Lock()


def remember(*secrets: str | None) -> None:
    """Scrub these values from every later message of this process (flags, keys read from files)."""
    with _lock:
        _remembered.update(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)


def known_secrets() -> list[str]:
    """The credentials this process holds: remembered ones and those in the environment."""
    found = {os.environ.get(name) for name in ENV_SECRETS}
    with _lock:
        found |= _remembered
    return [s for s in found if s and len(s) >= MIN_SECRET_CHARS]


def _forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    for user in ("", "user", "api", "token", "__token__"):  # Basic auth carries "user:secret"
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode().rstrip("="))
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every credential in it replaced by ``***``.

    >>> redact("401: bad header Authorization: Bearer hf_AbCdEf0123456789 (from proxy)")
    '401: bad header Authorization: Bearer *** (from proxy)'
    >>> redact("{'X-Argilla-Api-Key': 'argilla.k3y-value'}")
    "{'X-Argilla-Api-Key': '***'}"
    >>> redact("GET https://admin:pa55word@argilla.example.com/api?api_key=abc123&x=1")
    'GET https://***@argilla.example.com/api?api_key=***&x=1'
    >>> redact("key k/y+z=0123 echoed as k%2Fy%2Bz%3D0123", ["k/y+z=0123"])
    'key *** echoed as ***'
    >>> redact("max_tokens=5, token 3 of row 7: unexpected '<'")
    "max_tokens=5, token 3 of row 7: unexpected '<'"
    """
    values = {s for s in secrets if s and len(s) >= MIN_SECRET_CHARS} | set(known_secrets())
    forms = set().union(*(_forms(s) for s in values)) if values else set()
    for form in sorted(forms, key=len, reverse=True):  # longest first: a form inside another
        text = text.replace(form, MASK)
    text = _USERINFO.sub(lambda m: m["scheme"] + MASK + "@", text)
    text = _CREDENTIAL.sub(lambda m: m["name"] + m["sep"] + (m["scheme"] or "") + MASK, text)
    text = _SCHEME_VALUE.sub(lambda m: m["scheme"] + " " + MASK, text)
    return _HUB_TOKEN.sub(MASK, text)
