"""Shared test fixtures: a CLI runner that keeps stderr apart (paths live in ``_paths``)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest_plugins = ("train_fixtures",)  # tiny models and export writers the training tests share


@pytest.fixture
def cli():
    """Run ``curate ...`` in-process; returns click's Result (``.exit_code``, ``.stdout``, ``.stderr``)."""
    from curate.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run
