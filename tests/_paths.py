"""Paths to the repository's bundled specs and data, for tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "datasets_spec"
DATA = SPECS / "data"
