"""Shared test fixtures: paths to the bundled data and a CLI runner that keeps stderr apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "datasets_spec"
DATA = SPECS / "data"


@pytest.fixture
def cli():
    """Run ``curate ...`` in-process; returns click's Result (``.exit_code``, ``.stdout``, ``.stderr``)."""
    from curate.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run
