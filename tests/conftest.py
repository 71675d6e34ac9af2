"""Shared test fixtures: a CLI runner that keeps stderr apart (paths live in ``_paths``)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

# tiny models and export writers the training tests share; the Hub stand-in's `hub` fixture
pytest_plugins = ("train_fixtures", "hub_standin")


@pytest.fixture
def cli():
    """Run ``curate ...`` in-process; returns click's Result (``.exit_code``, ``.stdout``, ``.stderr``)."""
    from curate.commands.app import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def bpe_tokenizer(tmp_path_factory):
    """A byte-level BPE tokenizer built once per test session (saved with save_pretrained)."""
    from curate.testing.tiny import byte_level_bpe

    path = tmp_path_factory.mktemp("bpe-session")
    byte_level_bpe(path, vocab_size=600, n_lines=1500)
    return path
