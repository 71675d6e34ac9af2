"""A local stand-in for the Hugging Face Hub HTTP API: a TEST DOUBLE, not the Hub.

The Hub cannot be reached from the machines these tests run on, so ``HubStandIn`` serves, on a
random loopback port, exactly the endpoints ``huggingface_hub`` 2.x calls for ``curate push``:

* ``POST /api/repos/create``, ``POST /api/datasets/{repo}/branch/{branch}``
* ``GET  /api/datasets/{repo}[/revision/{rev}]`` (repo info: head sha, files, private)
* ``POST /api/validate-yaml`` (``create_commit`` checks README.md metadata first)
* ``POST /api/datasets/{repo}/preupload/{rev}`` (upload mode per file: ``*.parquet`` is
  ``lfs``, as the Hub's default ``.gitattributes`` says; small text files are ``regular``;
  ``oid`` of an identical file already there, so the client skips unchanged files)
* ``POST /datasets/{repo}.git/info/lfs/objects/batch`` + ``PUT``/verify of the objects: the git
  LFS "basic" transfer. ``huggingface_hub`` 2.x decides *on the client* to send LFS-mode files
  through Xet instead whenever ``hf_xet`` is installed; the stand-in does not speak the Xet CAS
  protocol (its ``xet-write-token`` route answers 501), so tests set ``HF_HUB_DISABLE_XET``.
* ``POST /api/datasets/{repo}/commit/{rev}`` (ndjson; honours ``parentCommit`` with 412)
* ``HEAD``/``GET /datasets/{repo}/resolve/{rev}/{path}`` (file download, with the
  ``X-Repo-Commit``/``ETag``/``X-Linked-Etag`` headers ``hf_hub_download`` reads)
* ``GET /api/agent-harnesses``: answered 404 on purpose (a best-effort lookup the client
  makes when it builds its user agent; it swallows the error)

Every commit is recorded (``commits``); ``fail(...)`` injects HTTP errors (429, 5xx), or any
status with a raw body (an HTML page answering 200), into the next matching requests; requests to anything else get 404 and are listed in ``unhandled``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id, not for security


@dataclass
class Commit:
    oid: str
    repo_id: str
    branch: str
    parent: str | None
    message: str
    files: dict[str, bytes]  # the whole tree after this commit
    lfs_paths: frozenset[str]
    operations: list[dict[str, Any]] = field(default_factory=list)  # ndjson lines, file content dropped


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head commit oid


@dataclass
class Fault:
    method: str
    path_part: str
    status: int
    times: int
    headers: dict[str, str]
    after: bool  # serve the request, then answer with the error (a reply lost on the way back)
    echo_auth: bool = False  # quote the request's Authorization header in the error (as some proxies do)
    raw: bytes | None = None  # answer these bytes instead of a JSON error (e.g. a proxy's HTML page)


class HubStandIn:
    """A test double of the Hub (see the module docstring). Use as a context manager."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or f"hf_standin_{secrets.token_hex(12)}"
        self.repos: dict[str, Repo] = {}
        self.objects: dict[str, Commit] = {}  # commit oid -> commit (initial ones included)
        self.commits: list[Commit] = []  # commits made through the commit endpoint, in order
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.unhandled: list[str] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- for tests -------------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_part: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        after: bool = False,
        echo_auth: bool = False,
        raw: bytes | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path contains ``path_part`` with ``status``
        (with ``after``: carry the request out first, as if only the reply were lost; with
        ``echo_auth``: quote the request's Authorization header in the error message; with
        ``raw``: send those bytes as the body, as a captive portal or proxy answering HTML would)."""
        with self.lock:
            self.faults.append(Fault(method, path_part, status, times, headers or {}, after, echo_auth, raw))

    def head(self, repo_id: str, branch: str = "main") -> Commit:
        return self.objects[self.repos[repo_id].branches[branch]]

    def files(self, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return dict(self.head(repo_id, branch).files)

    def commits_to(self, repo_id: str, branch: str = "main") -> list[Commit]:
        return [c for c in self.commits if c.repo_id == repo_id and c.branch == branch]

    # --- state changes (called with the lock held) -----------------------------------------------
    def _new_commit(
        self,
        repo: Repo,
        branch: str,
        parent: str | None,
        message: str,
        files: dict[str, bytes],
        lfs: set[str],
    ) -> Commit:
        oid = hashlib.sha1(f"{parent}\x1f{message}\x1f{len(self.objects)}".encode()).hexdigest()
        commit = Commit(oid, repo.repo_id, branch, parent, message, files, frozenset(lfs))
        self.objects[oid] = commit
        repo.branches[branch] = oid
        return commit


def _handler_for(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.hub = hub
    return Handler


class _Reply(Exception):
    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, raw: bytes = b""
    ):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw = raw


def _not_found(code: str, message: str) -> _Reply:
    return _Reply(404, {"error": message}, {"X-Error-Code": code})


class _Handler(BaseHTTPRequestHandler):
    hub: HubStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures anyway
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    # --- plumbing ------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        hub = self.hub
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        body = self._body() if method in ("POST", "PUT") else b""
        try:
            with hub.lock:
                fault = next(
                    (f for f in hub.faults if f.times > 0 and f.method == method and f.path_part in path),
                    None,
                )
                if fault is not None:
                    fault.times -= 1
                    if fault.after:
                        with contextlib.suppress(_Reply):
                            self._route(method, path, query, body)
                    if fault.raw is not None:
                        raise _Reply(fault.status, None, fault.headers, raw=fault.raw)
                    error = f"injected {fault.status}"
                    if fault.echo_auth:
                        error += f"; request headers: Authorization: {self.headers.get('Authorization')}"
                    raise _Reply(fault.status, {"error": error}, fault.headers)
                self._route(method, path, query, body)
            raise _Reply(404, {"error": "no route"})
        except _Reply as reply:
            with hub.lock:
                hub.requests.append((method, path, reply.status))
                if reply.status == 404 and reply.body == {"error": "no route"}:
                    hub.unhandled.append(f"{method} {path}")
            self._send(method, reply)

    def _send(self, method: str, reply: _Reply) -> None:
        data = reply.raw if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    def _require_auth(self) -> None:
        if not self._authorized():
            raise _Reply(401, {"error": "Invalid credentials in Authorization header"})

    def _repo(self, repo_id: str) -> Repo:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            raise _not_found("RepoNotFound", f"Repository not found: {repo_id}")
        return repo

    def _commit_at(self, repo: Repo, revision: str) -> Commit:
        oid = repo.branches.get(revision) or (revision if revision in self.hub.objects else None)
        if oid is None or self.hub.objects[oid].repo_id != repo.repo_id:
            raise _not_found("RevisionNotFound", f"Invalid rev id: {revision}")
        return self.hub.objects[oid]

    # --- routes --------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        seg = [unquote(s) for s in path.strip("/").split("/")]
        if method == "POST" and seg == ["api", "repos", "create"]:
            self._create_repo(json.loads(body))
        if seg == ["api", "agent-harnesses"]:  # huggingface_hub's best-effort user-agent lookup
            raise _Reply(404, {"error": "not served by the stand-in"})
        if method == "POST" and seg == ["api", "validate-yaml"]:
            self._validate_yaml(json.loads(body))
        if len(seg) >= 4 and seg[:2] == ["api", "datasets"]:
            repo_id, rest = f"{seg[2]}/{seg[3]}", seg[4:]
            if method == "GET" and not rest:
                self._repo_info(repo_id, "main")
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                self._repo_info(repo_id, rest[1])
            if method == "POST" and len(rest) == 2 and rest[0] == "branch":
                self._create_branch(repo_id, rest[1])
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                self._preupload(repo_id, rest[1], json.loads(body))
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                self._commit(repo_id, rest[1], body)
            if len(rest) >= 1 and rest[0] == "xet-write-token":
                raise _Reply(
                    501,
                    {
                        "error": "the hub stand-in speaks git LFS basic transfer only; set HF_HUB_DISABLE_XET=1"
                    },
                )
        if len(seg) >= 5 and seg[0] == "datasets" and seg[3] == "resolve" and method in ("GET", "HEAD"):
            self._resolve(f"{seg[1]}/{seg[2]}", seg[4], "/".join(seg[5:]), method)
        if (
            method == "POST"
            and len(seg) == 7
            and seg[0] == "datasets"
            and seg[2].endswith(".git")
            and seg[3:] == ["info", "lfs", "objects", "batch"]
        ):
            self._lfs_batch(f"{seg[1]}/{seg[2][: -len('.git')]}", json.loads(body))
        if len(seg) >= 2 and seg[0] == "_lfs":
            self._lfs_object(method, seg[1], seg[2:], body)

    def _create_repo(self, payload: dict[str, Any]) -> None:
        self._require_auth()
        if payload.get("type") != "dataset":
            raise _Reply(
                400, {"error": f"the stand-in hosts dataset repos only, got type {payload.get('type')!r}"}
            )
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        url = f"{self.hub.url}/datasets/{repo_id}"
        if repo_id in self.hub.repos:
            raise _Reply(409, {"error": "You already created this dataset repo", "url": url})
        repo = Repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        self.hub.repos[repo_id] = repo
        files = {".gitattributes": GITATTRIBUTES}
        self.hub._new_commit(repo, "main", None, "initial commit", files, set())
        raise _Reply(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        content = payload.get("content", "")
        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            meta = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as err:
            raise _Reply(400, {"errors": [{"message": f"invalid YAML: {err}"}], "warnings": []}) from None
        if not isinstance(meta, dict):
            raise _Reply(400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []})
        raise _Reply(200, {"errors": [], "warnings": []})

    def _repo_info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        commit = self._commit_at(repo, revision)
        siblings = []
        for name, data in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": name}
            if name in commit.lfs_paths:
                digest = hashlib.sha256(data).hexdigest()
                sibling["lfs"] = {"size": len(data), "sha256": digest, "pointerSize": 134}
            siblings.append(sibling)
        raise _Reply(200, {"id": repo_id, "sha": commit.oid, "private": repo.private, "siblings": siblings})

    def _create_branch(self, repo_id: str, branch: str) -> None:
        self._require_auth()
        repo = self._repo(repo_id)
        if branch in repo.branches:
            raise _Reply(409, {"error": f"Reference already exists: refs/heads/{branch}"})
        repo.branches[branch] = repo.branches["main"]
        raise _Reply(200, {})

    def _preupload(self, repo_id: str, revision: str, payload: dict[str, Any]) -> None:
        self._require_auth()
        repo = self._repo(repo_id)
        tree = self._commit_at(repo, revision)
        out = []
        for f in payload["files"]:
            lfs = f["path"].endswith(".parquet") or f["size"] > 10 * 1024 * 1024
            old = tree.files.get(f["path"])
            oid = None
            if old is not None:
                oid = hashlib.sha256(old).hexdigest() if f["path"] in tree.lfs_paths else git_blob_sha1(old)
            out.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        raise _Reply(200, {"files": out, "commitOid": tree.oid})

    def _lfs_batch(self, repo_id: str, payload: dict[str, Any]) -> None:
        self._require_auth()
        self._repo(repo_id)
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise _Reply(422, {"message": f"stand-in: upload with basic transfer only, got {payload}"})
        objects = []
        for obj in payload["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs:  # already stored: no actions, the client skips it
                href = f"{self.hub.url}/_lfs/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href}, "verify": {"href": f"{href}/verify"}}
            objects.append(entry)
        raise _Reply(200, {"transfer": "basic", "objects": objects})

    def _lfs_object(self, method: str, oid: str, rest: list[str], body: bytes) -> None:
        if method == "PUT" and not rest:
            if hashlib.sha256(body).hexdigest() != oid:
                raise _Reply(400, {"error": "content does not match the sha256 oid"})
            self.hub.lfs[oid] = body
            raise _Reply(200, {})
        if method == "POST" and rest == ["verify"]:
            sent = json.loads(body)
            if oid not in self.hub.lfs or len(self.hub.lfs[oid]) != sent["size"]:
                raise _Reply(404, {"error": f"object {oid} not uploaded"})
            raise _Reply(200, {})

    def _commit(self, repo_id: str, revision: str, body: bytes) -> None:
        self._require_auth()
        repo = self._repo(repo_id)
        if revision not in repo.branches:
            raise _not_found("RevisionNotFound", f"Invalid rev id: {revision}")
        base = self.hub.objects[repo.branches[revision]]
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else None
        if header is None:
            raise _Reply(400, {"error": "the commit payload must start with a header line"})
        parent = header.get("parentCommit")
        if parent is not None and parent != base.oid:
            raise _Reply(412, {"error": "A commit has happened since. Please refresh and try again."})
        files, lfs = dict(base.files), set(base.lfs_paths)
        ops = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            p = value["path"]
            if key == "file":
                files[p] = base64.b64decode(value["content"])
                lfs.discard(p)
                ops.append({"key": key, "path": p})
            elif key == "lfsFile":
                data = self.hub.lfs.get(value["oid"])
                if data is None or len(data) != value["size"]:
                    raise _Reply(422, {"error": f"LFS object {value['oid']} for {p} was never uploaded"})
                files[p] = data
                lfs.add(p)
                ops.append({"key": key, "path": p, "oid": value["oid"]})
            elif key == "deletedFile":
                if p not in files:
                    raise _Reply(
                        404,
                        {"error": f"A file with this name doesn't exist: {p}"},
                        {"X-Error-Code": "EntryNotFound"},
                    )
                del files[p]
                lfs.discard(p)
                ops.append({"key": key, "path": p})
            else:
                raise _Reply(400, {"error": f"the stand-in does not implement commit operation {key!r}"})
        commit = self.hub._new_commit(repo, revision, base.oid, header.get("summary", ""), files, lfs)
        commit.operations = ops
        self.hub.commits.append(commit)
        raise _Reply(
            200,
            {
                "commitUrl": f"{self.hub.url}/datasets/{repo_id}/commit/{commit.oid}",
                "commitOid": commit.oid,
                "pullRequestUrl": None,
            },
        )

    def _resolve(self, repo_id: str, revision: str, filename: str, method: str) -> None:
        repo = self._repo(repo_id)
        commit = self._commit_at(repo, revision)
        data = commit.files.get(filename)
        if data is None:
            raise _Reply(
                404,
                {"error": f"Entry not found: {filename}"},
                {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit.oid},
            )
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{git_blob_sha1(data)}"'}
        if filename in commit.lfs_paths:
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        raise _Reply(200, None, headers, raw=data)


# --- the pytest fixture every Hub test uses (a plugin of tests/conftest.py) ------------------------
@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubStandIn]:
    """A running stand-in, with ``huggingface_hub`` pointed at it and its token set."""
    import huggingface_hub.constants
    from huggingface_hub.utils import disable_progress_bars

    with HubStandIn() as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        monkeypatch.setenv("HF_TOKEN", standin.token)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        # read at import time by huggingface_hub; the stand-in speaks LFS, not Xet (see its docstring)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
        disable_progress_bars()
        yield standin
        assert standin.unhandled == [], "huggingface_hub called endpoints the stand-in does not serve"
