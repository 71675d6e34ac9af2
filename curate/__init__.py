"""curate: Argilla annotation -> unified, filtered, TRL-ready training data.

The Python API mirrors the command line one to one (the commands are thin layers over it):

=============================================  ==============================================
Python                                         command line
=============================================  ==============================================
``curate.load(spec, source=None, split=None)``  ``curate export`` read back as ``datasets``
``curate.export(spec, out, **options)``          ``curate export SPEC --out OUT``
``curate.stats(target, **options)``              ``curate stats TARGET [--png PATH]``
``curate.preview(spec, tokenizer, n=3)``         ``curate preview SPEC --tokenizer PATH``
``curate.push(spec, repo=...)``                  ``curate push SPEC --repo ORG/NAME``
``curate.Spec(...)``, ``Spec.from_yaml(path)``   ``curate validate SPEC --offline``
``curate.check(spec, source=None)``             ``curate validate SPEC [--source PATH]``
``curate.review(spec, to=...)``                  ``curate argilla review SPEC --to DATASET``
=============================================  ==============================================

A spec in Python, validated like a spec file (same messages), over any table:

>>> import json, tempfile, pathlib
>>> import curate
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> rows = [{"id": f"r{i}", "q": f"What is {i} + {i}?", "a": f"{2 * i}."} for i in range(20)]
>>> _ = (tmp / "qa.jsonl").write_text("\\n".join(json.dumps(r) for r in rows), encoding="utf-8")
>>> spec = curate.Spec(
...     name="arithmetic", task="sft",
...     source={"path": str(tmp / "qa.jsonl"), "layout": "table", "columns": {"id": "id", "fields": ["q", "a"]}},
...     columns={"instruction": {"field": "q"}, "response": {"field": "a"}},
...     split={"train": 0.8, "test": 0.2},
... )

``load`` gives ``datasets`` objects with the manifest and the rejects attached:

>>> ds = curate.load(spec, cache_dir=tmp / "cache")
>>> {name: len(split) for name, split in ds.items()}
{'train': 15, 'test': 5}
>>> print(ds["train"][0]["prompt"] + ds["train"][0]["completion"])
Below is an instruction that describes a task. Write a response that appropriately completes the request.
<BLANKLINE>
### Instruction:
What is 0 + 0?
<BLANKLINE>
### Response:
0.
>>> ds.manifest.counts.input_records, len(ds.rejects)
(20, 0)

``export`` writes what ``curate export`` writes and returns the same typed manifest:

>>> manifest = curate.export(spec, tmp / "out")
>>> sorted(p.name for p in (tmp / "out").iterdir())
['manifest.json', 'rejects.jsonl', 'test.parquet', 'train.parquet']
>>> manifest.fingerprint == ds.manifest.fingerprint
True

A mistake is one :class:`curate.CurateError` line naming the key:

>>> spec.replace(split={"train": 0.8, "test": 0.3})
Traceback (most recent call last):
...
curate.errors.CurateError: Spec(...): split: split fractions must add up to 1, got 1.1
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Imported on first use: `import curate` stays light (the CLI and the pipeline import it; the
# version too: reading it imports importlib.metadata, which `curate --help` does not need).
_LAZY = {
    "__version__": "curate.version",
    "load": "curate.api.load",
    "export": "curate.api.export",
    "check": "curate.api.export",
    "stats": "curate.api.stats",
    "preview": "curate.api.export",
    "push": "curate.api.push",
    "recipe": "curate.api.recipe",
    "review": "curate.api.review",
    "CurateWarning": "curate.api.export",
    "Spec": "curate.api.spec",
    "bundled_spec": "curate.api.spec",
    "CurateError": "curate.errors",
    "Manifest": "curate.manifest",
}

__all__ = [
    "CurateError",
    "CurateWarning",
    "Manifest",
    "Spec",
    "__version__",
    "bundled_spec",
    "check",
    "export",
    "load",
    "preview",
    "push",
    "recipe",
    "review",
    "stats",
]

if TYPE_CHECKING:
    from curate.api.export import CurateWarning, check, export, preview
    from curate.api.load import load
    from curate.api.push import push
    from curate.api.recipe import recipe
    from curate.api.review import review
    from curate.api.spec import Spec, bundled_spec
    from curate.api.stats import stats
    from curate.errors import CurateError
    from curate.manifest import Manifest
    from curate.version import __version__


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'curate' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
