"""One real Argilla server per test session (Redis + argilla-server 2.8 + SQL search engine), and the
annotated datasets the round-trip tests read back.

The server comes from ``curate.testing.argilla_server``; it is skipped (locally) or fails (with
``CI`` set) when its virtualenv or ``redis-server`` is missing. Annotation is written the way the UI
writes it: each annotator submits through ``POST /api/v1/records/{id}/responses`` with their own key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import argilla as rg
import pytest
from live_helpers import WORKSPACE, Server, build_sft

from curate.testing.argilla_server import ArgillaServer, HarnessError, redis_binary, server_python


@pytest.fixture(scope="session")
def argilla(request: pytest.FixtureRequest) -> Iterator[Server]:
    try:
        server_python()
        redis_binary()
    except HarnessError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Argilla server harness here: {err}")
    harness = ArgillaServer()
    harness.start()
    request.config.stash[COLD_START] = harness.cold_start_s
    try:
        server = Server(harness.url, harness.api_key, harness)
        client = server.client()
        workspace = client.workspaces(WORKSPACE)
        with server.http() as http:
            for name in ("ann1", "ann2", "ann3"):
                user = rg.User(
                    username=name, password="annotator-pw-1", role="annotator", client=client
                ).create()
                user.add_to_workspace(workspace)
                server.annotators[name] = str(user.id)
                # rg.User does not expose api_key; an owner reads it from the users endpoint
                server.keys[name] = http.get(f"/api/v1/users/{user.id}").json()["api_key"]
        yield server
    finally:
        harness.stop()


COLD_START = pytest.StashKey[float]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    cold = config.stash.get(COLD_START, None)
    if cold is not None:
        terminalreporter.write_line(
            f"argilla server cold start (redis + migrate + owner + ready): {cold:.1f}s"
        )


@pytest.fixture(scope="session")
def sft_dataset(argilla: Server) -> rg.Dataset:
    return build_sft(argilla, "sft-live")
