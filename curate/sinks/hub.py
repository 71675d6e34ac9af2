"""Publishing an export to a Hugging Face Hub dataset repo: one commit per push (split Parquet
files, ``rejects.jsonl``, ``manifest.json``, ``README.md`` card), none when the content fingerprint
on the Hub already matches, bounded jittered retries on 429/5xx, and incremental snapshots merged
by ``record_id`` from a watermark stored in the repo's manifest.

All Hub traffic goes through ``huggingface_hub.HfApi``; the token comes from ``HF_TOKEN`` or the
saved ``hf auth login`` and is never printed or written; ``HF_ENDPOINT`` is read at call time.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

from curate.arguments import arg, switch
from curate.errors import CurateError
from curate.manifest import Manifest
from curate.redact import redact, remember
from curate.retry import RetryPolicy
from curate.sinks.hub_merge import merge_snapshot

REPO_TYPE = "dataset"
MANIFEST, CARD, REJECTS = "manifest.json", "README.md", "rejects.jsonl"
#: Records updated this long before the stored watermark are exported again: clocks of the pusher
#: and the Argilla server differ, and re-exporting a record is harmless (merge by record_id).
WATERMARK_OVERLAP = timedelta(minutes=10)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

T = TypeVar("T")
Log = Callable[[str], None]
#: ``(out_dir, since_iso_or_None) -> manifest``: writes an export folder (``curate export``'s job).
ExportFn = Callable[[Path, "str | None"], Manifest]


class Stopped(Exception):
    """A stop signal arrived; raised before a commit would start, never during one."""


@dataclass(frozen=True)
class HubTarget:
    repo_id: str
    branch: str = "main"
    private: bool = False

    def __post_init__(self) -> None:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        if not REPO_ID.match(self.repo_id):
            raise CurateError(f"{arg('repo')}: {self.repo_id!r} is not ORG/NAME (e.g. my-org/dolly-curated)")
        try:  # the Hub's own rules (no "..", no leading/trailing "-" or ".", at most 96 characters)
            validate_repo_id(self.repo_id)
        except HFValidationError as err:
            rule = str(err).split(":")[0]
            raise CurateError(f"{arg('repo')}: {self.repo_id!r} is not a Hub repo id ({rule})") from None
        if not self.branch or self.branch.startswith("/") or ".." in self.branch:
            raise CurateError(f"{arg('branch')}: {self.branch!r} is not a branch name")


@dataclass(frozen=True)
class RemoteState:
    """The head of the target branch and what the last curate push left there."""

    commit: str
    files: frozenset[str]
    manifest: Manifest | None
    fingerprint: str | None  # from manifest.json, else from the card metadata
    private: bool | None = None

    @property
    def watermark(self) -> datetime | None:
        text = (self.manifest.extra.get("hub") or {}).get("watermark") if self.manifest else None
        return datetime.fromisoformat(text) if text else None


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level exceptions of the HTTP client ``huggingface_hub`` uses (it changed across
    major versions: requests, httpx, httpx2), plus the standard library's."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("requests", "ConnectionError"),
    ):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def is_transient(err: BaseException) -> bool:
    """429, 5xx and network errors are worth another try; 4xx user errors are not."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):
        status = _status(err)
        return status is not None and (status == 429 or status >= 500)
    return isinstance(err, transport_errors())


def hub_errors() -> tuple[type[BaseException], ...]:
    """What a Hub call can raise that is the Hub's (or the network's) doing, not a bug of ours:
    HTTP errors, network errors, a value the Hub's validators refuse, and an answer that is not
    JSON (a proxy or login page answering 200 with HTML)."""
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    return (HfHubHTTPError, HFValidationError, json.JSONDecodeError, *transport_errors())


def failure_line(err: BaseException, endpoint: str | None) -> str:
    """One line about any of :func:`hub_errors`, for ``push ... failed: <line>``."""
    if isinstance(err, json.JSONDecodeError):
        return (
            f"the Hub at {endpoint or 'https://huggingface.co'} answered with something that is not JSON "
            "(an HTML page from a proxy or login portal?); check HF_ENDPOINT and the network"
        )
    return describe_error(err)


def describe_error(err: BaseException) -> str:
    """One line about a Hub failure: status, request and the server's message, scrubbed of
    credentials (a Hub or proxy may quote the request's Authorization header back)."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError) and err.response is not None:
        request = err.response.request
        what = f"{request.method} {request.url.path}" if request is not None else "request"
        message = (err.server_message or "").strip().splitlines()
        return redact(f"HTTP {err.response.status_code} on {what}" + (f": {message[0]}" if message else ""))
    return redact(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")


def with_retries(
    fn: Callable[[], T], policy: RetryPolicy, log: Log, stop: threading.Event | None = None
) -> T:
    """Call ``fn``; on a transient error wait (jittered, bounded) and call it again."""
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Exception as err:
            if not is_transient(err) or attempt == policy.attempts - 1:
                raise
            response = getattr(err, "response", None)
            retry_after = None
            if response is not None and (value := response.headers.get("Retry-After", "")).isdigit():
                retry_after = float(value)
            wait = policy.delay(attempt, retry_after)
            log(f"hub: {describe_error(err)}; retry {attempt + 1}/{policy.attempts - 1} in {wait:.1f}s")
            if stop is not None:
                if stop.wait(wait):
                    raise Stopped from None
            else:
                time.sleep(wait)
    raise AssertionError("unreachable")


class HubPublisher:
    """The Hub calls of a push, through ``huggingface_hub.HfApi`` (nothing re-implemented)."""

    def __init__(self, target: HubTarget, token: str | None = None, endpoint: str | None = None):
        from huggingface_hub import HfApi

        self.target = target
        # HF_ENDPOINT is read here, not at import time, so a changed environment is honoured.
        self.endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
        self.api = HfApi(endpoint=self.endpoint, token=token)  # token None: HF_TOKEN or the saved login
        self._token = token
        remember(token)

    def secrets(self) -> list[str]:
        """Credentials that must never be published (checked against the text files of a push)."""
        from huggingface_hub import get_token

        values = [self._token or get_token(), os.environ.get("ARGILLA_API_KEY")]
        return [v for v in values if v and len(v) >= 6]

    def check_token(self) -> None:
        from huggingface_hub import get_token

        if not (self._token or get_token()):
            raise CurateError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token)")

    def ensure_repo(self, log: Log) -> None:
        t = self.target
        self.api.create_repo(t.repo_id, repo_type=REPO_TYPE, private=t.private, exist_ok=True)
        if t.branch != "main":
            self.api.create_branch(t.repo_id, repo_type=REPO_TYPE, branch=t.branch, exist_ok=True)

    def state(self) -> RemoteState:
        t = self.target
        info = self.api.dataset_info(t.repo_id, revision=t.branch)
        files = frozenset(s.rfilename for s in info.siblings or ())
        assert info.sha is not None
        manifest, fingerprint = None, None
        with tempfile.TemporaryDirectory(prefix="curate-hub-") as tmp:
            if MANIFEST in files:
                path = self.download(info.sha, MANIFEST, Path(tmp))
                try:
                    manifest = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
                except (ValueError, CurateError):
                    manifest = None  # not ours or damaged: treat as "no previous snapshot"
                fingerprint = manifest.fingerprint if manifest else None
            elif CARD in files:
                from huggingface_hub import DatasetCard

                card = DatasetCard(self.download(info.sha, CARD, Path(tmp)).read_text(encoding="utf-8"))
                fingerprint = (card.data.to_dict().get("curate") or {}).get("fingerprint")
        return RemoteState(info.sha, files, manifest, fingerprint, info.private)

    def download(self, commit: str, filename: str, dest: Path) -> Path:
        t = self.target
        path = self.api.hf_hub_download(
            t.repo_id, filename, repo_type=REPO_TYPE, revision=commit, local_dir=dest
        )
        return Path(path)

    def commit(
        self, files: dict[str, Path | bytes], delete: list[str], parent: str, message: str, description: str
    ) -> str:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        ops: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=c) for p, c in files.items()]
        ops += [CommitOperationDelete(path_in_repo=p) for p in delete]
        info = self.api.create_commit(
            self.target.repo_id,
            ops,
            commit_message=message,
            commit_description=description,
            repo_type=REPO_TYPE,
            revision=self.target.branch,
            parent_commit=parent,  # the Hub refuses (412) if someone committed since we looked
        )
        return info.oid


# --- what a push publishes ----------------------------------------------------------------------


@dataclass
class PushJob:
    """What to publish: an export function over a spec's source, or an existing export folder."""

    target: HubTarget
    export: ExportFn | None = None
    spec_sha256: str | None = None
    from_export: Path | None = None
    since: str | None = None  # explicit --since: merge records updated after it into the snapshot
    incremental: bool = False  # --incremental: since = the watermark stored by the last push
    always: bool = False
    #: The ids of every record the source holds now (cheap: ids only); an incremental round drops
    #: the snapshot's other records (deleted in Argilla). None: the source cannot say.
    list_ids: Callable[[], Collection[str]] | None = None
    #: False when the source ignores ``since`` (files): the delta is then every record it holds.
    filters_since: bool = True


@dataclass
class Prepared:
    folder: Path
    manifest: Manifest
    mode: Literal["full", "incremental"]
    log: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return self.manifest.fingerprint

    def split_files(self) -> dict[str, str]:
        return {split: f"{split}.parquet" for split in self.manifest.split_names}


@dataclass(frozen=True)
class PushResult:
    status: Literal["pushed", "unchanged"]
    fingerprint: str
    commit: str | None
    mode: str
    rows: int
    url: str


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def read_export(folder: Path) -> Manifest:
    """The manifest of an export folder, checked to be a Parquet export ``push`` can publish."""
    path = folder / MANIFEST
    if not path.is_file():
        raise CurateError(f"{arg('from_export')}: {path} not found; expected a `curate export` folder")
    manifest = Manifest.read(folder)
    if manifest.format != "parquet":
        raise CurateError(
            f"{path}: format is {manifest.format!r}; push publishes Parquet, export with {arg('format', 'parquet')}"
        )
    published = [f"{split}.parquet" for split in manifest.split_names]
    for name in published:
        if not (folder / name).is_file():
            raise CurateError(f"{folder}: split file {name} listed in the manifest is missing")
    if (folder / REJECTS).exists() or REJECTS in manifest.files:
        published.append(REJECTS)
    from curate.sinks.outdir import as_written

    changed = [name for name in published if not as_written(folder / name, manifest.files.get(name))]
    if changed:
        raise CurateError(
            f"{folder}: {', '.join(changed)} {'differs' if len(changed) == 1 else 'differ'} from what curate "
            "wrote (size or sha256 in manifest.json); "
            "the card would describe other rows: export again"
        )
    from curate.sinks.files import check_export_files

    check_export_files(folder, manifest)  # the card's figures come from the manifest: re-derived here
    return manifest


def prepare(job: PushJob, publisher: HubPublisher, remote: RemoteState, work: Path, log: Log) -> Prepared:
    """Export (or take the given export), merging into the previous snapshot when incremental."""
    if job.from_export is not None:
        return Prepared(job.from_export, read_export(job.from_export), "full")
    assert job.export is not None
    started = _now()
    since = _since(job, remote, log)
    if since is None:
        manifest = job.export(work / "export", None)
        return Prepared(work / "export", _with_hub(manifest, "full", started, None), "full")
    delta = job.export(work / "delta", since)
    # listed after the delta: a record deleted meanwhile is gone from the listing (one made
    # meanwhile is in the delta, and the merge keeps every record the delta exported)
    current: Collection[str] | None = None
    if not job.filters_since:
        current = ()  # the delta is every record the source holds
    elif job.list_ids is not None:
        current = job.list_ids()
    else:
        log("incremental: the source cannot list its records; records deleted there stay until a full push")
    previous = work / "previous"
    assert remote.manifest is not None
    for split in remote.manifest.split_names:
        publisher.download(remote.commit, f"{split}.parquet", previous)
    if REJECTS in remote.files:
        publisher.download(remote.commit, REJECTS, previous)
    else:
        (previous / REJECTS).write_text("", encoding="utf-8")
    merged = merge_snapshot(
        previous, remote.manifest, work / "delta", delta, work / "snapshot", since, current
    )
    deleted = merged.extra["incremental"]["deleted_records"]
    if deleted:
        log(f"incremental: {deleted} records no longer in the source dropped from the snapshot")
    return Prepared(work / "snapshot", _with_hub(merged, "incremental", started, since), "incremental")


def _since(job: PushJob, remote: RemoteState, log: Log) -> str | None:
    previous = remote.manifest
    if job.since is None and not job.incremental:
        return None
    if previous is None:
        if job.since is not None:
            raise CurateError(
                f"{arg('since')}: {job.target.repo_id}@{job.target.branch} has no previous curate snapshot to "
                f"merge into; push once without {arg('since')}"
            )
        log("incremental: no previous curate snapshot on the Hub; exporting everything")
        return None
    if previous.spec.get("sha256") != job.spec_sha256:
        if job.since is not None:
            raise CurateError(
                f"{arg('since')}: the spec changed since the snapshot on the Hub was made (spec sha256 differs); "
                f"push without {arg('since')} to rebuild it"
            )
        log("incremental: the spec changed since the last push; exporting everything")
        return None
    if job.since is not None:
        return job.since
    watermark = remote.watermark
    if watermark is None:
        log("incremental: the snapshot on the Hub has no watermark; exporting everything")
        return None
    return (watermark - WATERMARK_OVERLAP).isoformat()


def _with_hub(manifest: Manifest, mode: str, started: datetime, since: str | None) -> Manifest:
    # The watermark is the export's start: records updated later are picked up by the next push.
    hub = {"mode": mode, "watermark": started.isoformat(), "since": since}
    return dataclasses.replace(manifest, extra={**manifest.extra, "hub": hub})


# --- one push, and the scheduled loop -----------------------------------------------------------


def push_once(
    job: PushJob,
    publisher: HubPublisher,
    policy: RetryPolicy | None = None,
    log: Log = print,
    stop: threading.Event | None = None,
) -> PushResult:
    """Export, compare fingerprints, and publish at most one commit."""
    policy = policy or RetryPolicy()
    target = job.target
    publisher.check_token()
    with_retries(lambda: publisher.ensure_repo(log), policy, log, stop)
    remote = with_retries(publisher.state, policy, log, stop)
    if target.private and remote.private is False:
        log(
            f"warning: {target.repo_id} already exists and is public; {switch('private')} only applies when creating it"
        )
    url = f"{publisher.api.endpoint}/datasets/{target.repo_id}/tree/{target.branch}"
    with tempfile.TemporaryDirectory(prefix="curate-push-") as tmp:
        prepared = prepare(job, publisher, remote, Path(tmp), log)
        manifest = prepared.manifest
        rows = sum(manifest.counts.rows_per_split.values())
        if not job.always and remote.fingerprint == prepared.fingerprint:
            return PushResult("unchanged", prepared.fingerprint, None, prepared.mode, rows, url)
        files = _payload(prepared, target, remote)
        _refuse_secrets(files, publisher.secrets())
        stale = _stale_paths(remote, files)
        message = f"curate push: {manifest.name} ({rows} rows, fingerprint {prepared.fingerprint[:12]})"
        description = _description(prepared)

        def attempt() -> str:
            if stop is not None and stop.is_set():
                raise Stopped  # never start a commit after a stop signal
            current = publisher.state()
            if current.commit != remote.commit:
                if current.fingerprint == prepared.fingerprint:
                    return current.commit  # an earlier attempt landed (its reply was lost)
                raise CurateError(
                    f"{target.repo_id}@{target.branch} moved from {remote.commit[:12]} to {current.commit[:12]} "
                    "while this push was prepared (another writer?); nothing was committed"
                )
            return publisher.commit(files, stale, remote.commit, message, description)

        oid = with_retries(attempt, policy, log, stop)
    if oid == remote.commit:  # --always with byte-identical files: huggingface_hub makes no empty commit
        return PushResult("unchanged", prepared.fingerprint, None, prepared.mode, rows, url)
    return PushResult("pushed", prepared.fingerprint, oid, prepared.mode, rows, url)


def _payload(prepared: Prepared, target: HubTarget, remote: RemoteState) -> dict[str, Path | bytes]:
    from curate.sinks.card import render_card

    split_files = prepared.split_files()
    paths = [*split_files.values(), REJECTS, MANIFEST, CARD]
    hub = dict(prepared.manifest.extra.get("hub") or {"mode": "full", "watermark": None, "since": None})
    hub.update(repo=target.repo_id, branch=target.branch, paths=paths)
    manifest = dataclasses.replace(prepared.manifest, extra={**prepared.manifest.extra, "hub": hub})
    files: dict[str, Path | bytes] = {name: prepared.folder / name for name in split_files.values()}
    rejects = prepared.folder / REJECTS
    files[REJECTS] = rejects if rejects.exists() else b""
    files[MANIFEST] = manifest.to_json().encode()
    files[CARD] = str(render_card(manifest, target.repo_id, split_files)).encode()
    return files


def _stale_paths(remote: RemoteState, files: dict[str, Path | bytes]) -> list[str]:
    """Files the previous curate push published that this one no longer does (e.g. a dropped split)."""
    old = ((remote.manifest.extra.get("hub") if remote.manifest else None) or {}).get("paths") or []
    return sorted(p for p in old if p not in files and p in remote.files)


def _refuse_secrets(files: dict[str, Path | bytes], secrets: list[str]) -> None:
    for name, content in files.items():
        if not name.endswith((".md", ".json", ".jsonl")):
            continue
        text = content if isinstance(content, bytes) else content.read_bytes()
        if any(s.encode() in text for s in secrets):
            raise CurateError(
                f"{name}: contains a credential (HF token or Argilla API key); refusing to publish it"
            )


def _description(prepared: Prepared) -> str:
    counts = prepared.manifest.counts
    lines = [
        f"{prepared.mode} snapshot: {counts.input_records} records in, {counts.kept_records} kept, "
        f"{counts.rejected_records} rejected",
        f"rows per split: {counts.rows_per_split}",
        f"fingerprint: {prepared.fingerprint}",
    ]
    if prepared.mode == "incremental":
        inc = prepared.manifest.extra["incremental"]
        lines.append(
            f"since {inc['since']}: {inc['replaced_records']} records replaced, {inc['new_records']} new, "
            f"{inc['deleted_records']} no longer in the source dropped"
        )
    return "\n".join(lines)


def push_every(
    job: PushJob,
    publisher: HubPublisher,
    interval_s: float,
    stop: threading.Event,
    policy: RetryPolicy | None = None,
    log: Log = print,
) -> int:
    """Push every ``interval_s`` until ``stop`` is set; a failed round is reported and retried next
    round. Returns the number of failed rounds."""
    failures = 0
    while not stop.is_set():
        try:
            log(summary_line(push_once(job, publisher, policy, log, stop), job.target))
        except Stopped:
            break
        except Exception as err:  # survive anything a round can throw; the next round retries
            failures += 1
            what = (
                redact(str(err))
                if isinstance(err, CurateError)
                else failure_line(err, publisher.api.endpoint)
            )
            log(f"push failed: {what}; next try in {interval_s:g}s")
        if stop.wait(interval_s):
            break
    return failures


def summary_line(result: PushResult, target: HubTarget) -> str:
    where = f"{target.repo_id}@{target.branch}"
    if result.status == "unchanged":
        return f"unchanged: {where} already has fingerprint {result.fingerprint[:12]}; no commit made"
    return (
        f"pushed: {where} commit {(result.commit or '')[:12]} ({result.mode}, {result.rows} rows, "
        f"fingerprint {result.fingerprint[:12]}) {result.url}"
    )
