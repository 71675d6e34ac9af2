"""The compact per-record state of an export (curate.digests) answers exactly as a dict would."""

from __future__ import annotations

import random
from collections import Counter

from curate.build.filters import DuplicateFilter
from curate.digests import DigestMap, FirstSeen, Spill, digest_of


def test_digest_map_matches_a_dict_across_moves() -> None:
    rng = random.Random(3)
    m, d = DigestMap(recent=64), {}
    for step in range(5000):
        key = digest_of(f"k{rng.randrange(2500)}")
        value = rng.randrange(1 << 20)
        assert m.setdefault(key, value) == d.setdefault(key, value), step
        probe = digest_of(f"k{rng.randrange(3000)}")
        assert m.get(probe) == d.get(probe), step
    assert len(m) == len(d)
    assert sorted(m.values()) == sorted(d.values())


def test_digest_map_tells_equal_keys_apart_by_bucket() -> None:
    m = DigestMap(recent=2)
    a, b = bytes(8) + b"\x01" * 8, bytes(8) + b"\x02" * 8  # same 64-bit key, other buckets (byte 8)
    m.setdefault(a, 1)
    m.setdefault(b, 2)  # moved into the arrays here
    assert (m.get(a), m.get(b), m.get(bytes(8) + b"\x03" * 8)) == (1, 2, None)


def test_digest_map_counts_like_a_counter() -> None:
    rng = random.Random(5)
    m, c = DigestMap(recent=50), Counter[bytes]()
    for _ in range(4000):
        key = digest_of(str(rng.randrange(700)))
        by = rng.choice([1, 1, 2])
        m.increment(key, by)
        c[key] += by
    assert sorted(m.values()) == sorted(c.values())
    assert m.sum_of_squares() == sum(v * v for v in c.values())


def test_digest_map_widens_values_past_32_bits() -> None:
    m = DigestMap(recent=4)
    keys = [digest_of(str(i)) for i in range(10)]
    for i, k in enumerate(keys):
        m.setdefault(k, i)
    m.increment(keys[0], (1 << 33))
    m.setdefault(digest_of("big"), 1 << 40)
    for i in range(10, 20):
        m.setdefault(digest_of(str(i)), i)
    assert m.get(keys[0]) == 1 << 33
    assert m.get(digest_of("big")) == 1 << 40
    assert m.sum_of_squares() == (1 << 33) ** 2 + (1 << 40) ** 2 + sum(i * i for i in range(1, 20))


def test_spill_reads_back_in_and_out_of_the_file() -> None:
    ids = Spill(flush=7)  # data and ends go to their files after a few entries
    texts = [f"rec-{i}".encode() + b"\xc3\xa9" * (i % 3) for i in range(100)]
    numbers = [ids.append(t) for t in texts]
    assert numbers == list(range(100))
    assert [ids[n] for n in (99, 0, 5, 50, 98)] == [texts[n] for n in (99, 0, 5, 50, 98)]
    assert [ids[n] for n in range(100)] == texts
    ids.close()


def _reference_dedup(
    columns: tuple[str, ...], normalized: bool, rows: list[dict[str, object]]
) -> list[object]:
    """The duplicate filter as it was: one dict of every kept row's exact and normalised digests."""
    probe = DuplicateFilter(columns, normalized)
    seen: dict[bytes, str] = {}
    out: list[object] = []
    for row in rows:
        exact, norm, _ = probe.keys(row)
        rid = str(row["record_id"])
        if exact in seen:
            out.append(("duplicate", f"same as record {seen[exact]}"))
        elif norm is not None and norm in seen:
            out.append(("duplicate_normalized", f"same as record {seen[norm]} after normalisation"))
        else:
            if norm is not None:
                seen[norm] = rid
            seen[exact] = rid
            out.append(None)
    return out


def test_duplicate_filter_answers_as_one_dict_of_both_digests() -> None:
    """Rows built to hit every way two texts can meet: equal, equal after normalisation, one text
    equal to another's normal form, non-idempotent Unicode (fullwidth, ligatures, sharp s, dotted I,
    combining marks), separators inside a value; several rows per record; the map's dict is kept
    small so most lookups go to the sorted arrays."""
    rng = random.Random(11)
    words = [
        "Hello",
        "hello",
        "HELLO!",
        "hello world",
        "Hello, World",
        "ﬁne",
        "fine",
        "ＦＩＮＥ",
        "Straße",
        "strasse",
        "STRASSE",
        "İstanbul",
        "i̇stanbul",
        "café",
        "cafe\u0301",
        "a\x1fb",
        "a b",
        "ǰ",
        "J̌",
        "ﬀ",
        "ff",
        "x",
        "",
        "  x  ",
        "Ⅻ",
        "xii",
        "ᾈ",
        "ἀι",
    ]
    for normalized in (True, False):
        rows = []
        for i in range(3000):
            record = f"r{i // 2}"  # two rows per record
            rows.append(
                {
                    "record_id": record,
                    "a": rng.choice(words) + rng.choice(["", " ", ".", "!"]),
                    "b": rng.choice(words) if rng.random() < 0.5 else rng.choice(words).lower(),
                }
            )
        got = []
        new = DuplicateFilter(("a", "b"), normalized)
        new.seen = DigestMap(recent=16)
        for row in rows:
            verdict = new(row)
            got.append(None if verdict is None else (verdict.reason, verdict.detail))
        assert got == _reference_dedup(("a", "b"), normalized, rows)
        assert sum(v is None for v in got) < len(rows)  # some were dropped


def test_first_seen_confirms_a_repeat_on_the_full_digest() -> None:
    seen = FirstSeen()
    a, clash = bytes(9) + b"\x01" * 7, bytes(9) + b"\x02" * 7  # the same 72 bits, other digests
    assert seen.first(a, 5) is None
    assert seen.first(clash, 6) is None  # not taken for a: a new digest (left unremembered)
    assert seen.first(a, 7) == 5
    for i in range(40_000):  # past the map's dict: repeats found in the sorted arrays too
        assert seen.first(digest_of(str(i)), 100 + i) is None
    assert [seen.first(digest_of(str(i)), 0) for i in (0, 39_999)] == [100, 40_099]
