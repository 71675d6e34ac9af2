"""Inter-annotator agreement: per-record pairwise agreement and streaming Krippendorff's alpha."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import combinations
from typing import Literal

from curate.digests import DigestMap, digest_of

Metric = Literal["nominal", "interval"]


def pairwise_agreement(values: Sequence[Hashable]) -> float | None:
    """Share of annotator pairs that gave the same answer; None with fewer than two answers.

    >>> pairwise_agreement(["a", "a", "b"])
    0.3333333333333333
    >>> pairwise_agreement(["a"]) is None
    True
    """
    if len(values) < 2:
        return None
    pairs = list(combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs)


class Alpha:
    """Krippendorff's alpha, accumulated one unit (record) at a time in O(distinct values) memory:
    a text answer is counted under its 16-byte digest (``curate.digests``), any other under itself.

    Units with fewer than two values are not pairable and are skipped, as in the definition.

    >>> a = Alpha("nominal")
    >>> for unit in (["x", "x"], ["y", "y"], ["x", "y"]):
    ...     a.add(unit)
    >>> round(a.value(), 4)
    0.4444
    """

    def __init__(self, metric: Metric):
        self.metric = metric
        self.units = 0
        self._observed = 0.0  # sum over units of within-unit disagreement / (m_u - 1)
        self._counts: Counter[Hashable] = Counter()  # answers other than text (bounded: labels, ratings)
        self._texts = DigestMap()  # text answers: one per annotated record in a free-text question
        self._n = 0
        self._sum = 0.0
        self._sumsq = 0.0

    def add(self, values: Sequence[Hashable]) -> None:
        m = len(values)
        if m < 2:
            return
        self.units += 1
        if self.metric == "nominal":
            if m == 2:  # the common unit, without a Counter: 0 if the two agree, else 2
                a, b = values
                self._count(a, 1)
                self._count(b, 1)
                disagreeing: float = 0 if a is b or a == b else 2
            else:
                counts = Counter(values)
                disagreeing = m * m - sum(c * c for c in counts.values())
                for value, c in counts.items():
                    self._count(value, c)
        else:
            xs = [float(v) for v in values]  # type: ignore[arg-type]
            s, sq = sum(xs), sum(x * x for x in xs)
            disagreeing = 2 * m * sq - 2 * s * s
            self._sum += s
            self._sumsq += sq
        self._observed += disagreeing / (m - 1)
        self._n += m

    def _count(self, value: Hashable, by: int) -> None:
        if isinstance(value, str):  # equal to no answer of another type, as in a Counter
            self._texts.increment(digest_of(value), by)
        else:
            self._counts[value] += by

    def value(self) -> float | None:
        n = self._n
        if n < 2:
            return None
        expected: float
        if self.metric == "nominal":
            squares = sum(c * c for c in self._counts.values()) + self._texts.sum_of_squares()
            expected = n * n - squares
        else:
            expected = 2 * n * self._sumsq - 2 * self._sum * self._sum
        if expected <= 0:
            return 1.0 if self._observed == 0 else None
        alpha = 1.0 - (n - 1) * self._observed / expected
        # Ratings so large their squares overflow a float leave no figure (None), never NaN.
        return alpha if math.isfinite(expected) and math.isfinite(alpha) else None
