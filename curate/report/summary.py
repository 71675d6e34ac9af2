"""Length figures every report shares: the characters of a text or a conversation, and the
count/min/median/mean/p90/max summary of a list of lengths."""

from __future__ import annotations

import math
import statistics
from typing import Any


def text_length(value: Any) -> int | None:
    """Characters of a text, or of the contents of a ``[{role, content}]`` list; None otherwise.

    >>> text_length("abc"), text_length([{"role": "user", "content": "hi"}, {"content": "you"}]), text_length(3)
    (3, 5, None)
    """
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(m.get("content", "")) for m in value if isinstance(m, dict))
    return None


def summarize(lengths: list[int]) -> dict[str, float | int]:
    """Count, min, median, mean, p90, max and empty of a list of lengths.

    >>> summarize([3, 0, 5])
    {'count': 3, 'min': 0, 'median': 3, 'mean': 2.67, 'p90': 5, 'max': 5, 'empty': 1}
    """
    if not lengths:
        return {"count": 0}
    ordered = sorted(lengths)
    return {
        "count": len(ordered),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
        "empty": sum(1 for n in ordered if n == 0),
    }


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite number inside it (dicts and lists) replaced by None, the
    JSON null: no figure rather than a bare ``NaN`` that JSON readers refuse.

    >>> finite_or_null({"alpha": float("nan"), "n": [1, float("inf"), 2.5]})
    {'alpha': None, 'n': [1, None, 2.5]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value
