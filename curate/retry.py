"""Bounded retries with full jitter, one policy for every remote curate talks to (the Argilla
server, the Hugging Face Hub): wait ~U(0, min(cap, base * 2**n)), at least what Retry-After asks."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try and how long to wait in between.

    >>> all(0 <= RetryPolicy(5, 1.0, 4.0).delay(n) <= 4.0 for n in range(8))
    True
    >>> RetryPolicy(5, 1.0, 60.0).delay(0, retry_after=30) >= 30
    True
    """

    attempts: int = 5
    base_s: float = 2.0
    cap_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        # full jitter spreads the retries of many clients; the cap bounds any one wait
        wait = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_s))
        return wait
