"""An ``argilla`` SDK object as a source: an ``argilla.Dataset``, its ``dataset.records``, or
``dataset.records()`` without a query, so a user already holding one needs no export.

The records are read the way a spec's ``source: {argilla: ...}`` reads them (the live source:
every response with its status, suggestions and metadata, page by page), with the URL and key of
the SDK client the object belongs to. SDK ``Record`` objects are not iterated: the SDK reader
drops nothing curate needs but is slower and crashes on discarded responses without values
(see :mod:`curate.sources.argilla_live`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curate.errors import CurateError
from curate.spec import NO_LIVE, ArgillaServerRef, LiveOptions

if TYPE_CHECKING:  # the live source (httpx, ssl) is imported only when an SDK object is read
    from curate.sources.argilla_live import ArgillaServerSource

_SDK_CLASSES = ("Dataset", "DatasetRecords", "DatasetRecordsIterator")


def is_sdk_object(obj: Any) -> bool:
    """Whether ``obj`` is an ``argilla`` SDK dataset or records object (without importing argilla).

    >>> is_sdk_object("data/export"), is_sdk_object(None)
    (False, False)
    """
    cls = type(obj)
    return cls.__module__.split(".")[0] == "argilla" and cls.__name__ in _SDK_CLASSES


def _dataset_of(obj: Any) -> Any:
    name = type(obj).__name__
    if name == "Dataset":
        return obj
    # DatasetRecords / DatasetRecordsIterator keep their dataset in a private attribute
    dataset = getattr(obj, f"_{name}__dataset", None)
    if dataset is None:
        raise CurateError(
            f"source: cannot find the dataset of this argilla {name} (argilla SDK version?); pass the argilla.Dataset"
        )
    if name == "DatasetRecordsIterator":
        _check_unfiltered(obj)
    return dataset


def _check_unfiltered(records: Any) -> None:
    """A query, a limit or an offset picks records the server-side reader would not: refuse it
    rather than export something else than what the user holds."""
    prefix = "_DatasetRecordsIterator__"
    query = getattr(records, f"{prefix}query", None)
    narrowed = (
        getattr(records, f"{prefix}limit", None) is not None
        or bool(getattr(records, f"{prefix}offset", 0))
        or (query is not None and (query.query is not None or query.filter is not None or query.similar))
    )
    if narrowed:
        raise CurateError(
            "source: dataset.records(query=..., limit=..., start_offset=...) narrows the records; curate "
            "reads a whole dataset: pass the argilla.Dataset and select with the spec (filters.record_status, "
            "responses.statuses) or source.argilla.response_status / since"
        )


def open_sdk_source(
    obj: Any, own: ArgillaServerRef | None = None, live: LiveOptions = NO_LIVE
) -> ArgillaServerSource:
    """The live source over the dataset ``obj`` belongs to, with its client's URL and key (they
    take the place of ``live``'s).

    ``own``: the spec's ``source.argilla`` settings (page size, response status filter, since),
    kept; the dataset and workspace come from the SDK object.
    """
    dataset = _dataset_of(obj)
    client = getattr(dataset, "_client", None)
    url, key = getattr(client, "api_url", None), getattr(client, "api_key", None)
    if not url or not key:
        raise CurateError(
            "source: the argilla.Dataset has no client with an API URL and key (create it with rg.Argilla)"
        )
    try:
        workspace = dataset.workspace.name
    except Exception as err:  # the SDK raises its own errors for a dataset that is not on the server
        raise CurateError(
            f"source: argilla dataset {getattr(dataset, 'name', '?')!r}: cannot read its workspace "
            f"({type(err).__name__}); was it created on the server (dataset.create())?"
        ) from None
    settings = own.model_dump(exclude={"dataset", "workspace", "api_url"}) if own is not None else {}
    ref = ArgillaServerRef(dataset=dataset.name, workspace=workspace, **settings)
    from curate.sources.argilla_live import ArgillaServerSource

    return ArgillaServerSource(ref, **{**live.server_kwargs(), "api_url": str(url), "api_key": str(key)})
