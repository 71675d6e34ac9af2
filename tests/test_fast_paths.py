"""The export's fast paths give exactly what the plain code they replace gives: dedup's
normalisation, the canonical JSON of a row, and Parquet row groups that hold what the hashed
canonical JSON lines say."""

from __future__ import annotations

import json
import re
import sys
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.build.filters import normalize_text, normalized_bytes
from curate.sinks.files import PROVENANCE, _SplitFile, canonical_json
from curate.tasks import TASKS


def reference_normalize(text: str) -> str:
    """The plain definition: NFKC, casefold, drop punctuation, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def test_normalize_text_on_every_code_point():
    for start in range(0, sys.maxunicode + 1, 4096):
        chunk = "".join(
            chr(c) for c in range(start, min(start + 4096, sys.maxunicode + 1)) if not 0xD800 <= c <= 0xDFFF
        )
        for piece in (chunk, chunk[:64], f"  A{chunk[:8]}b ,\t{chunk[-8:]}  "):
            assert normalize_text(piece) == reference_normalize(piece)
            assert normalized_bytes(piece) == reference_normalize(piece).encode("utf-8")


def test_normalized_bytes_on_every_ascii_character():
    for c in range(128):
        for piece in (chr(c), f"a{chr(c)}B", f" {chr(c) * 3}Word{chr(c)}x "):
            assert normalized_bytes(piece) == reference_normalize(piece).encode("ascii"), repr(piece)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_normalize_text_on_random_text(text):
    assert normalize_text(text) == reference_normalize(text)
    ascii_only = text.encode("ascii", "ignore").decode()
    assert normalize_text(ascii_only) == reference_normalize(ascii_only)
    assert normalized_bytes(text) == reference_normalize(text).encode("utf-8")
    assert normalized_bytes(ascii_only) == reference_normalize(ascii_only).encode("utf-8")


MESSAGES = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": st.text()})
)
VALUES = {
    pa.string(): st.none() | st.text(),
    pa.float64(): st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53),
    pa.bool_(): st.none() | st.booleans(),
    pa.list_(pa.string()): st.lists(st.text(), max_size=3),
    pa.list_(pa.int32()): st.none() | st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5),
}


def _unique(fields):
    seen, out = set(), []
    for f in fields:
        if f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return out


SCHEMA = pa.schema(
    _unique(
        [
            *(f for task in TASKS.values() for f in task.fields(True)),
            *PROVENANCE,
            pa.field("input_ids", pa.list_(pa.int32())),
        ]
    )
)


def _value(field):
    if pa.types.is_list(field.type) and pa.types.is_struct(field.type.value_type):
        return st.none() | MESSAGES
    return VALUES[field.type]


ROWS = st.lists(st.fixed_dictionaries({f.name: _value(f) for f in SCHEMA}), max_size=20)


@settings(max_examples=200, deadline=None)
@given(rows=ROWS)
def test_parquet_row_groups_hold_what_the_hashed_lines_say(rows, tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    parquet = _SplitFile(folder / "train.parquet", "parquet", SCHEMA)
    jsonl = _SplitFile(folder / "train.jsonl", "jsonl", SCHEMA)
    for row in rows:
        parquet.write(dict(reversed(row.items())))  # out of schema order: the writer orders it
        jsonl.write(row)
    parquet.close()
    jsonl.close()
    lines = (folder / "train.jsonl").read_bytes().splitlines()
    assert parquet.content.digest() == jsonl.content.digest()  # the fingerprint is format-free
    expected = pa.Table.from_pylist([json.loads(line) for line in lines], schema=SCHEMA)
    got = pq.read_table(folder / "train.parquet")
    assert got.schema == expected.schema
    # compared as canonical JSON, where NaN equals NaN (Table.equals says NaN != NaN)
    assert [canonical_json(r) for r in got.to_pylist()] == [canonical_json(r) for r in expected.to_pylist()]


def test_streaming_gc_restores_what_it_found_even_when_streams_overlap():
    import gc
    import threading

    from curate.pipeline.run import streaming_gc

    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    inside = threading.Event()
    release = threading.Event()

    def other_stream():
        with streaming_gc():
            inside.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=other_stream)
    thread.start()
    assert inside.wait(timeout=60)
    with streaming_gc():  # overlaps the other stream, and ends first
        assert gc.get_threshold()[0] == 10_000
    assert gc.get_threshold()[0] == 10_000  # the other stream still runs
    release.set()
    thread.join(timeout=60)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=8))
def test_canonical_json_is_json_dumps(row):
    assert canonical_json(row) == json.dumps(row, ensure_ascii=False, separators=(",", ":"))
