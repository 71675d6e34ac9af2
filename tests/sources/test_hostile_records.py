"""Every value of a real sample record, replaced by each of a set of hostile values one at a time,
for the three file layouts: the source, the build and the filters either account for every record
(a kept row or a reject with a reason) or stop with one ``CurateError``; nothing else escapes
(no TypeError, OverflowError, RecursionError... from a value a user's file can hold)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import HOSTILE, LAYOUTS, SPECS, key_paths, replaced

from curate.api.loader import load_spec
from curate.errors import CurateError
from curate.pipeline.plan import plan_export
from curate.pipeline.run import iter_outcomes
from curate.sources import open_source


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
def test_any_single_hostile_value_is_accounted_for(tmp_path: Path, layout: str) -> None:
    spec_name, make = LAYOUTS[layout]
    spec = load_spec(SPECS / spec_name)
    records, write = make(tmp_path)
    runs = rejected = 0
    for index, record in enumerate(records):
        for path in list(key_paths(record)):
            for value in HOSTILE:
                folder = write(replaced(records, index, path, value))
                try:
                    source = open_source(spec.spec.source, tmp_path, str(folder))
                    outcomes = list(iter_outcomes(plan_export(spec, source), source))
                except CurateError:
                    continue  # one error line for the whole file: allowed, nothing half-written
                except Exception as err:
                    raise AssertionError(
                        f"{layout}: record {index}, {path} = {value!r:.40}: {err!r}"
                    ) from err
                runs += 1
                assert len(outcomes) == len(records) == source.rows_read, (path, value)
                rejected += sum(1 for o in outcomes if hasattr(o, "reason"))
    assert runs > 100 and rejected > 0  # the values reached the build, and some were refused
