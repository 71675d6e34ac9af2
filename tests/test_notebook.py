"""The notebook's code cells run against a fresh export (so the notebook stays true)."""

from __future__ import annotations

import json

from _paths import REPO, SPECS


def test_explore_export_notebook_runs(cli, tmp_path, monkeypatch):
    out = tmp_path / "out" / "dolly-curated-sft"
    assert cli("export", SPECS / "dolly-curated.yaml", "--out", out, "-q").exit_code == 0
    nb = json.loads((REPO / "notebooks" / "explore_export.ipynb").read_text())
    work = tmp_path / "notebooks"
    work.mkdir()
    monkeypatch.chdir(work)  # the notebook reads ../out/dolly-curated-sft, as after `make demo`
    scope: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), scope)
    assert scope["row"]["record_id"] and len(scope["df"]) == scope["c"]["records_per_split"]["train"]
