"""Byte-compile curate's modules before timing, as ``pip install`` does for an installed package.

Where ``PYTHONDONTWRITEBYTECODE`` is set (this project's machines set it), Python never caches a
compiled module, so every timed child of a checkout would compile about a hundred modules at
start-up (about a second), which no installed curate does. ``compileall`` writes the caches
whatever that variable says; imports then read them.
"""

from __future__ import annotations

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def compile_curate() -> None:
    for package in ("curate", "train"):
        compileall.compile_dir(str(REPO / package), quiet=1)
