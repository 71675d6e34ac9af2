"""``curate.load``: a spec's export as a ``datasets.DatasetDict`` (or one ``Dataset``), row for
row what ``curate export`` writes, with its manifest and rejects attached.

It streams like the CLI: the export is written to a temporary folder with its split files as
Arrow IPC streams (each row encoded once, as ``datasets`` keeps its own cache), moved into a cache
folder named after the content fingerprint, and opened memory-mapped. Loading the same content
again reuses that folder; nothing is held in memory as a whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets import Dataset, DatasetDict

from curate.api.export import SourceLike, SpecLike, parse_splits, prepare_export
from curate.api.spec import as_spec
from curate.arguments import checked_arguments
from curate.errors import CurateError
from curate.sinks.outdir import clean_stale, make_temp

if TYPE_CHECKING:
    import pyarrow as pa

    from curate.manifest import Manifest

CACHE_VERSION = "1"  # bump when the cached layout changes
TEMP_PREFIX = ".tmp-load-"  # + pid: a load's work folder in the cache (marked; see curate.sinks.outdir)
REJECT_COLUMNS = ("record_id", "reason", "detail", "scope")
_BATCH = 4096


def default_cache_dir() -> Path:
    """``<HF_DATASETS_CACHE>/curate`` (``datasets``' own cache root, honouring its variable)."""
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "curate"


@checked_arguments(options_of=prepare_export)
def load(
    spec: SpecLike,
    source: SourceLike = None,
    split: str | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Any:
    """A spec's export as ``datasets`` objects: the same rows, row for row, as ``curate export``.

    Returns a ``DatasetDict`` of the spec's splits with ``.manifest`` (the typed
    :class:`curate.manifest.Manifest`) and ``.rejects`` (a ``Dataset`` of ``record_id``,
    ``reason``, ``detail``, ``scope``) attached; with ``split="train"``, that ``Dataset`` with
    the same two attributes. (A ``map``/``filter`` result is a plain ``datasets`` object.)

    ``source`` reads another export file or folder, a ``{"argilla": {...}}`` server (URL and key
    from ``api_url``/``api_key`` or ``ARGILLA_API_URL``/``ARGILLA_API_KEY``), or an
    ``argilla.Dataset`` / its ``records`` directly. Options are :func:`curate.export`'s
    (``splits``, ``since``, ``tokenizer``, ``template``, ``max_length``, ``truncation``, ``pack``,
    ``allow_empty``, ``on_warning``, ...). ``cache_dir``: where the Arrow files live (default
    :func:`default_cache_dir`).

    >>> import curate
    >>> ds = curate.load(curate.bundled_spec("dolly-curated.yaml"))
    >>> list(ds), ds.manifest.counts.input_records, ds["train"][0]["completion"][:12]
    (['train', 'test'], 300, 'Photosynthes')
    >>> sorted(set(ds.rejects["reason"]))
    ['duplicate', 'missing:response']
    """
    if "format" in options or "out" in options:
        raise CurateError(
            "load: keeps the export as Arrow files in its cache; use curate.export(spec, out, format=...) for files"
        )
    spec = as_spec(spec)
    fractions = parse_splits(options.get("splits")) or dict(spec.model.split.fractions)
    if split is not None and split not in fractions:
        raise CurateError(f"split: {split!r} is not a split of this export; it has {', '.join(fractions)}")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        clean_stale(root, TEMP_PREFIX)
        work = make_temp(root, TEMP_PREFIX)
    except OSError as err:
        raise CurateError(f"cache_dir {root}: cannot write ({err.strerror or err})") from None
    try:
        job = prepare_export(spec, work / "export", source=source, **options)
        job.options.fmt = "arrow"  # the cache's own format (not a --format): datasets maps it as it is
        manifest = job.run()
        folder = _cached(root, work, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = _open(folder, manifest)
    if split is None:
        return result
    chosen = result[split]
    chosen.manifest = manifest
    chosen.rejects = result.rejects
    return chosen


def _cache_key(manifest: Manifest) -> str:
    import hashlib

    payload = json.dumps(
        [CACHE_VERSION, manifest.fingerprint, manifest.columns, manifest.split_names, bool(manifest.packing)]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _cached(root: Path, work: Path, manifest: Manifest) -> Path:
    """The cache folder of this content, made from the export in ``work/export`` if missing."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", manifest.name)[:60] or "export"
    dest = root / f"{slug}-{_cache_key(manifest)}"
    export, staging = work / "export", work / "arrow"
    expected = _cache_files(manifest, export)
    if dest.is_dir() and not dest.is_symlink():
        present = {p.name for p in dest.iterdir()}
        if present == expected and all((dest / name).is_file() for name in present):
            return dest
        unknown = sorted(present - expected)
        if unknown:
            raise CurateError(
                f"cache_dir {root}: {dest.name} holds files curate does not write there "
                f"({', '.join(unknown[:5])}); move them or pass another cache_dir"
            )
        # a cache folder of ours with a file missing (deleted by hand, a cleaner): built again
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        raise CurateError(f"cache_dir {root}: {dest.name} is in the way (not a folder curate made)")
    staging.mkdir()
    for name in manifest.split_names:
        os.replace(export / f"{name}.arrow", staging / f"{name}.arrow")
        packed = export / "__packed__" / f"{name}.parquet"
        if packed.is_file():
            _parquet_to_arrow(packed, staging / f"packed-{name}.arrow")
    _rejects_to_arrow(export / "rejects.jsonl", staging / "rejects.arrow")
    # written last: a folder with a manifest is complete
    shutil.copyfile(export / "manifest.json", staging / "manifest.json")
    try:
        os.replace(staging, dest)
    except OSError:
        if not (dest / "manifest.json").is_file():  # not a concurrent load of the same content
            raise
    return dest


def _cache_files(manifest: Manifest, export: Path) -> set[str]:
    """The names a complete cache folder of this export holds."""
    names = {"manifest.json", "rejects.arrow"}
    for name in manifest.split_names:
        names.add(f"{name}.arrow")
        if (export / "__packed__" / f"{name}.parquet").is_file():
            names.add(f"packed-{name}.arrow")
    return names


def _parquet_to_arrow(src: Path, dest: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(src)
    with pa.OSFile(str(dest), "wb") as sink, pa.ipc.new_stream(sink, parquet.schema_arrow) as writer:
        for batch in parquet.iter_batches(batch_size=_BATCH):
            writer.write_batch(batch)


def _reject_batches(path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) >= _BATCH:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)
                rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _rejects_to_arrow(src: Path, dest: Path) -> None:
    import pyarrow as pa

    schema = pa.schema([pa.field(name, pa.string()) for name in REJECT_COLUMNS])
    with pa.OSFile(str(dest), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in _reject_batches(src, schema):
            writer.write_batch(batch)


def _dataset(path: Path, split: str, manifest: Manifest) -> Dataset:
    from datasets import DatasetInfo, NamedSplit

    spec = manifest.spec.get("resolved") or {}
    info = DatasetInfo(
        description=f"curate export of spec {manifest.name} (task {manifest.task}, "
        f"fingerprint {manifest.fingerprint[:12]})",
        license=str(spec.get("license") or ""),
    )
    return Dataset.from_file(str(path), info=info, split=NamedSplit(split))


def _open(folder: Path, manifest: Manifest) -> CuratedDatasetDict:
    result = CuratedDatasetDict(
        {name: _dataset(folder / f"{name}.arrow", name, manifest) for name in manifest.split_names}
    )
    result.manifest = manifest
    result.rejects = _dataset(folder / "rejects.arrow", "rejects", manifest)
    packed = {
        name: _dataset(folder / f"packed-{name}.arrow", name, manifest)
        for name in manifest.split_names
        if (folder / f"packed-{name}.arrow").is_file()
    }
    result.packed = _dataset_dict(packed) if packed else None
    return result


def _dataset_dict(splits: dict[str, Dataset]) -> DatasetDict:
    return DatasetDict(splits)


class CuratedDatasetDict(DatasetDict):  # type: ignore[misc]
    """A ``DatasetDict`` with the export's ``manifest``, ``rejects`` and (``pack=True``)
    ``packed`` bins attached."""

    manifest: Manifest
    rejects: Dataset
    packed: DatasetDict | None = None
