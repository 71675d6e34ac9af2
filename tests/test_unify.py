"""Unification strategies are deterministic; ties are rejected, never broken at random."""

from __future__ import annotations

import itertools
import random

import pytest

from curate.build.agreement import Alpha, pairwise_agreement
from curate.build.unify import unify
from curate.records import QuestionKind, RankItem, Response


def R(user, value, at=None):
    return Response(user, value, "submitted", at)


def test_first_and_latest_follow_timestamps_then_export_order():
    rs = [
        R("u2", "b", "2024-01-02T00:00:00"),
        R("u1", "a", "2024-01-01T00:00:00"),
        R("u3", "c", "2024-01-03T00:00:00"),
    ]
    assert unify(rs, QuestionKind.TEXT, "first_submitted").value == "a"
    assert unify(rs, QuestionKind.TEXT, "latest").value == "c"
    untimed = [R("u2", "b"), R("u1", "a")]
    assert unify(untimed, QuestionKind.TEXT, "first_submitted").value == "b"
    assert unify(untimed, QuestionKind.TEXT, "latest").value == "a"


def test_majority_and_ties():
    assert unify([R("a", "x"), R("b", "x"), R("c", "y")], QuestionKind.LABEL, "majority").value == "x"
    tie = unify([R("a", "x"), R("b", "y")], QuestionKind.LABEL, "majority")
    assert tie.value is None and tie.reason == "tie"


def test_tie_does_not_depend_on_order():
    rs = [R("a", "x"), R("b", "y"), R("c", "x"), R("d", "y")]
    reasons = {unify(list(p), QuestionKind.LABEL, "majority").reason for p in itertools.permutations(rs)}
    assert reasons == {"tie"}


def test_unanimous():
    assert unify([R("a", 3), R("b", 3)], QuestionKind.RATING, "unanimous").value == 3
    assert unify([R("a", 3), R("b", 4)], QuestionKind.RATING, "unanimous").reason == "disagreement"


def test_ratings_mean_median():
    rs = [R("a", 1), R("b", 2), R("c", 5)]
    assert unify(rs, QuestionKind.RATING, "mean").value == pytest.approx(8 / 3)
    assert unify(rs, QuestionKind.RATING, "median").value == 2.0


def test_multi_label_majority_per_label():
    rs = [R("a", ("x", "y")), R("b", ("x",)), R("c", ("x", "z"))]
    assert unify(rs, QuestionKind.MULTI_LABEL, "majority").value == ("x",)


def test_mean_rank_orders_and_shares_ranks():
    a = R("a", (RankItem("r1", 1), RankItem("r2", 2), RankItem("r3", 3)))
    b = R("b", (RankItem("r2", 1), RankItem("r1", 2), RankItem("r3", 3)))
    c = R("c", (RankItem("r1", 1), RankItem("r3", 2), RankItem("r2", 3)))
    assert unify([a, b, c], QuestionKind.RANKING, "mean_rank").value == (
        RankItem("r1", 1),
        RankItem("r2", 2),
        RankItem("r3", 3),
    )
    # position order stands in for missing rank numbers (2.x exports)
    d = R("d", (RankItem("r3"), RankItem("r1"), RankItem("r2")))
    assert unify([d], QuestionKind.RANKING, "mean_rank").value[0] == RankItem("r3", 1)


def test_no_answers_falls_through():
    result = unify([R("a", None), R("b", "")], QuestionKind.TEXT, "latest")
    assert result.value is None and result.reason is None


def test_pairwise_agreement():
    assert pairwise_agreement(["a", "a", "a"]) == 1.0
    assert pairwise_agreement(["a", "b"]) == 0.0


def _alpha_reference(units, metric):
    """Krippendorff's alpha by the textbook pairwise definition (O(n^2)), to check the streaming one."""
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)

    def delta(a, b):
        return float(a != b) if metric == "nominal" else (a - b) ** 2

    do = (
        sum(
            sum(delta(a, b) for i, a in enumerate(u) for j, b in enumerate(u) if i != j) / (len(u) - 1)
            for u in units
        )
        / n
    )
    de = sum(delta(a, b) for i, a in enumerate(values) for j, b in enumerate(values) if i != j) / (
        n * (n - 1)
    )
    return 1 - do / de


@pytest.mark.parametrize("metric", ["nominal", "interval"])
def test_streaming_alpha_matches_definition(metric):
    rng = random.Random(7)
    units = [[rng.choice([1, 2, 3, 4, 5]) for _ in range(rng.choice([1, 2, 3, 4]))] for _ in range(60)]
    alpha = Alpha(metric)
    for u in units:
        alpha.add(u)
    assert alpha.value() == pytest.approx(_alpha_reference(units, metric))


def test_alpha_known_value():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal example: 0.743
    data = [
        [1, 1, None, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [None, 5, 5, 5],
        [None, None, 1, 1],
        [None, None, 3, None],
    ]
    alpha = Alpha("nominal")
    for unit in data:
        alpha.add([v for v in unit if v is not None])
    assert round(alpha.value(), 3) == 0.743


def test_mean_of_ratings_whose_sum_passes_a_float_stays_their_mean():
    """Finite ratings of ~1e308 (valid JSON) overflow a plain sum; their mean is still a float."""
    huge = [R("a", 1e308), R("b", 1e308), R("c", 1e308)]
    assert unify(huge, QuestionKind.RATING, "mean").value == pytest.approx(1e308)
    assert unify([R("a", 4), R("b", 5)], QuestionKind.RATING, "mean").value == 4.5  # the usual path


def test_alpha_is_none_where_ratings_overflow_its_sums():
    a = Alpha("interval")
    a.add([1e200, 1e200])
    a.add([1e200, 3.0])
    assert a.value() is None  # never NaN: a manifest or --json output must stay valid JSON
