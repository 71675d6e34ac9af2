"""Runs inside the Argilla server's own virtualenv: registers curate's SQL search engine, then
drives the server (migrate + owner + start in one process, or the RQ worker).

Only the standard library and argilla_server's own dependencies are imported here; curate is not
installed in that virtualenv, so the harness runs this file by path:

    <server-venv>/bin/python argilla_launcher.py serve --port 6900 --api-key KEY --password PW
    <server-venv>/bin/python argilla_launcher.py worker

The API key comes from the environment (``CURATE_ARGILLA_OWNER_API_KEY``) so it never shows in a
process listing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENGINE_NAME = "curate-sql"
# Run by path, this folder is sys.path[0]; its argilla_server.py (the harness) would shadow the
# real argilla_server package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def _load_engine_plugin() -> None:
    """Import the engine module by path so it registers itself before the server's CLI loads."""
    spec = importlib.util.spec_from_file_location(
        "curate_argilla_search_engine", HERE / "argilla_search_engine.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


def _sqlite_path() -> Path | None:
    url = os.environ.get("ARGILLA_DATABASE_URL", "")
    prefix = "sqlite+aiosqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def _migrate() -> None:
    import alembic.config
    from argilla_server.database import ALEMBIC_CONFIG_FILE

    alembic.config.main(argv=["-c", ALEMBIC_CONFIG_FILE, "-q", "upgrade", "head"])


def _analyze() -> None:
    # Without table statistics SQLite picks a poor index for response status lookups on big DBs.
    path = _sqlite_path()
    if path is not None:
        with sqlite3.connect(path) as conn:
            conn.execute("ANALYZE")


async def _create_owner(username: str, password: str, api_key: str, workspace: str) -> None:
    """Idempotent: an existing user with that name or key is left as it is."""
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User, UserRole, Workspace
    from sqlalchemy import select

    async with AsyncSessionLocal() as session:
        if await accounts.get_user_by_username(session, username) or await accounts.get_user_by_api_key(
            session, api_key
        ):
            return
        found = await session.execute(select(Workspace).filter_by(name=workspace))
        ws = found.scalar_one_or_none() or Workspace(name=workspace)
        await User.create(
            session,
            first_name=username.capitalize(),
            username=username,
            role=UserRole.owner,
            password_hash=accounts.hash_password(password),
            api_key=api_key,
            workspaces=[ws],
        )


def serve(args: argparse.Namespace) -> None:
    started = time.monotonic()
    api_key = os.environ["CURATE_ARGILLA_OWNER_API_KEY"]
    _migrate()
    _analyze()
    asyncio.run(_create_owner(args.username, args.password, api_key, args.workspace))
    print(f"bootstrap done in {time.monotonic() - started:.2f}s", flush=True)
    import uvicorn

    uvicorn.run("argilla_server:app", host=args.host, port=args.port, access_log=False, log_level="warning")


def worker(_args: argparse.Namespace) -> None:
    from argilla_server.cli.worker import worker as run_worker
    from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE

    run_worker(queues=[DEFAULT_QUEUE.name, HIGH_QUEUE.name], num_workers=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="argilla_launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="migrate, create the owner, start the server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--username", default="owner")
    p.add_argument("--password", required=True)
    p.add_argument("--workspace", default="argilla")
    p.set_defaults(func=serve)
    w = sub.add_parser("worker", help="run the RQ worker (distribution changes, Hub jobs, webhooks)")
    w.set_defaults(func=worker)
    args = parser.parse_args(argv)
    os.environ.setdefault("ARGILLA_SEARCH_ENGINE", ENGINE_NAME)
    _load_engine_plugin()
    args.func(args)


if __name__ == "__main__":
    main()
