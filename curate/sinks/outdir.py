"""The one output-folder policy: which folders curate may write, replace or clean up.

Every surface that writes a folder goes through here: ``curate export``'s ``--out``, the
``curate.load`` cache, and ``curate train``'s ``output_dir``. The rules:

* a folder is replaced only when it is missing, empty, or one curate wrote and nobody changed
  (an export: every file listed in its ``manifest.json`` with the same size and sha256; a training
  run: curate's marker inside it); anything else is refused with one line naming what is in the way;
* work happens in a temporary folder carrying curate's mark (:data:`TEMP_MARK`) and a process id in
  its name; a later run removes such a folder only when it carries the mark and its process is gone,
  and reports anything else that looks like one without touching it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.arguments import arg
from curate.errors import CurateError

MANIFEST = "manifest.json"
TEMP_MARK = ".curate-tmp"  # inside curate's temporary folders: what the next run may clean up
#: Inside a ``curate train`` output folder: curate made it, so a later run may write into it again.
RUN_MARK = ".curate-train"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def written_by_curate(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of a folder curate wrote (it names every file curate put there), else None."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    if "curate_version" not in manifest:
        return None
    return manifest


def as_written(path: Path, listed: Any) -> bool:
    """Whether ``path`` is the file a manifest's ``files`` entry ``listed`` describes: a regular
    file (not a link) with the same size and sha256."""
    return (
        isinstance(listed, dict)
        and not path.is_symlink()
        and path.is_file()
        and path.stat().st_size == listed.get("bytes")
        and file_sha256(path) == listed.get("sha256")
    )


def foreign_entries(out_dir: Path) -> list[str]:
    """Entries of ``out_dir`` that curate did not write there, or that changed since it did.

    A folder may be replaced only when this is empty: every file in it is the manifest or is
    listed in the manifest with the same size and sha256; nothing else (links, other files,
    folders holding anything else) is there.
    """
    entries = sorted(
        str(p.relative_to(out_dir)) + ("/" if p.is_dir() and not p.is_symlink() else "")
        for p in out_dir.rglob("*")
    )
    if not entries:
        return []
    manifest = written_by_curate(out_dir)
    if manifest is None:
        return [e for e in entries if e != MANIFEST] or [MANIFEST]
    listed: dict[str, Any] = manifest["files"]
    # the folders holding listed files, at every depth (__packed__/, __recipes__/<tool>/)
    parents = {f"{p.as_posix()}/" for name in listed for p in Path(name).parents if p != Path(".")}
    foreign = []
    for entry in entries:
        path = out_dir / entry
        if entry == MANIFEST or (entry in parents and not path.is_symlink()):
            continue
        if not as_written(path, listed.get(entry)):
            foreign.append(entry)
    return foreign


def describe_entries(entries: list[str]) -> str:
    shown = ", ".join(entries[:5])
    return shown + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")


def check_out_dir(out_dir: Path, protected: list[Path] | tuple[Path, ...] = ()) -> list[str]:
    """Refuse, before any work, an ``--out`` that curate may not replace; returns notes to show.

    ``--out`` may be replaced only when it is missing, empty, or a previous curate export whose
    files are all as curate wrote them. It may not be a link, the current folder or one above it,
    lie under a file or in a folder this user cannot write, or be, contain or lie inside one of
    ``protected`` (the source). Temporary folders left by a killed run are removed (they carry
    curate's mark and their process is gone) or reported.
    """
    where = arg("out", str(out_dir))
    absolute = Path(os.path.abspath(out_dir))
    cwd = Path.cwd()
    if absolute == cwd or absolute in cwd.parents or absolute.parent == absolute:
        raise CurateError(f"{where}: is the current folder or one above it; name a folder of its own")
    if out_dir.is_symlink():
        raise CurateError(f"{where}: is a symbolic link; give the folder itself (curate will not follow it)")
    for item in protected:
        source = Path(os.path.realpath(item))
        target = Path(os.path.realpath(absolute))
        if target == source or source in target.parents or target in source.parents:
            relation = (
                "is the source"
                if target == source
                else "is inside the source"
                if source in target.parents
                else "contains the source"
            )
            raise CurateError(f"{where}: {relation} ({item}); write the export somewhere else")
    _check_under_a_folder(absolute, where)
    if absolute.parent.exists() and not os.access(absolute.parent, os.W_OK | os.X_OK):
        raise CurateError(f"{where}: cannot write in {absolute.parent} (permission denied)")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise CurateError(f"{where}: exists and is not a folder")
        foreign = foreign_entries(out_dir)
        if foreign:
            raise CurateError(
                f"{where}: holds files curate did not write there or that changed since ({describe_entries(foreign)}); "
                f"curate replaces only its own exports: move them or choose another {arg('out')}"
            )
    return clean_stale_siblings(absolute)


def _check_under_a_folder(path: Path, where: str) -> None:
    """Refuse a path whose nearest existing ancestor is a file (it could never be made)."""
    ancestor = path.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CurateError(f"{where}: {ancestor} is a file, not a folder")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive).

    >>> pid_alive(os.getpid())
    True
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_temp(parent: Path, prefix: str) -> Path:
    """A new temporary folder ``parent/<prefix><pid>-<random>`` carrying curate's mark."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    (path / TEMP_MARK).write_text(f"{os.getpid()}\n", encoding="utf-8")
    return path


def _pid_in(name: str, prefix: str) -> int:
    """The process id a temporary folder's name carries after ``prefix`` (-1 if none).

    >>> _pid_in(".tmp-load-123-abc", ".tmp-load-"), _pid_in(".out.tmp-77", ".out.tmp-"), _pid_in(".tmp-load-x", ".tmp-load-")
    (123, 77, -1)
    """
    digits = name[len(prefix) :].split("-", 1)[0]
    return int(digits) if digits.isdigit() else -1


def clean_stale(
    parent: Path,
    prefix: str,
    ours: Callable[[Path], bool] = lambda path: (path / TEMP_MARK).is_file(),
    busy: Callable[[int], None] | None = None,
) -> list[str]:
    """Remove folders ``parent/<prefix><pid>...`` that a killed run left: only those ``ours``
    accepts (default: carrying curate's mark) whose process is gone. Others are reported, never
    touched. ``busy(pid)`` is called for one whose process still runs (it may raise)."""
    notes: list[str] = []
    if not parent.is_dir():
        return notes
    for path in sorted(parent.glob(f"{_glob_escape(prefix)}*")):
        pid = _pid_in(path.name, prefix)
        if pid < 0 or path.is_symlink() or not path.is_dir() or not ours(path):
            notes.append(f"{path} looks left by another run but is not curate's own; not touched")
            continue
        if pid_alive(pid) and pid != os.getpid():
            if busy is not None:
                busy(pid)
            continue
        shutil.rmtree(path, ignore_errors=True)
        notes.append(f"removed {path.name}, left by an interrupted run")
    return notes


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def clean_stale_siblings(out_dir: Path) -> list[str]:
    """Remove what killed runs into the same export folder left beside it: marked temporary
    folders (``.OUT.tmp-PID``) and previous exports moved aside (``.OUT.old-PID``) that curate
    wrote and nobody changed."""

    def busy(pid: int) -> None:
        raise CurateError(f"{arg('out', str(out_dir))}: another curate process ({pid}) is writing it now")

    return clean_stale(out_dir.parent, f".{out_dir.name}.tmp-", busy=busy) + clean_stale(
        out_dir.parent, f".{out_dir.name}.old-", ours=lambda path: not foreign_entries(path), busy=busy
    )


def claim_run_folder(folder: Path, where: str, *, create: bool = True) -> None:
    """Make sure a training run may write into ``folder``: missing, empty, or made by an earlier
    ``curate train`` (its marker inside). Anything else is refused naming what is in the way, so a
    folder of the user's (their ``README.md``, ``config.json``) is never overwritten. With
    ``create``, the folder is made and marked before anything is written into it."""
    if folder.is_symlink():
        raise CurateError(f"{where}: {folder} is a symbolic link; give the folder itself")
    if folder.exists() and not folder.is_dir():
        raise CurateError(f"{where}: {folder} is a file; expected a folder (or a path to create one at)")
    _check_under_a_folder(folder, where)
    if folder.is_dir() and not (folder / RUN_MARK).is_file():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        if entries:
            raise CurateError(
                f"{where}: {folder} holds files curate did not write ({describe_entries(entries)}); "
                "a training run writes only into a new or empty folder or one an earlier curate train made: "
                "move them or choose another output_dir"
            )
    if not create:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / RUN_MARK
        if not marker.is_file():
            marker.write_text(json.dumps({"written_by": "curate train"}) + "\n", encoding="utf-8")
    except OSError as err:
        raise CurateError(f"{where}: cannot write {folder} ({err.strerror or err})") from None
