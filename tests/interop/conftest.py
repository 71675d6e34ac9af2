"""The interop tests: each trainer, installed in its own virtualenv by ``make test-interop``
(pins in the Makefile), reads curate's exports through the recipe curate wrote, with its own data
loader. A tool's tests run only where ``CURATE_INTEROP_<TOOL>`` names that virtualenv (the
Makefile target sets it); elsewhere they are skipped with that reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SPECS

import curate

#: the export each task is checked on (shipped specs)
TASK_SPECS = {
    "sft": "dolly-curated.yaml",
    "chat": "chat-review.yaml",
    "preference": "dolly-curated-preference.yaml",
    "unpaired": "answer-feedback-kto.yaml",
    "text": "domain-text.yaml",
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with a ChatML-family tokenizer (Qwen-2.5's chat template, EOS ``<|im_end|>``),
    built in code. The tokenizer is saved as ``PreTrainedTokenizerFast``, a class every
    ``transformers`` the tools pin can load (transformers 5 writes a name 4.x does not know)."""
    from curate.testing.tiny import chat_tokenizer
    from curate.testing.tiny_models import build_tiny_llama

    root = tmp_path_factory.mktemp("interop-model")
    tokenizer = chat_tokenizer(root / "tok", "qwen2_5")
    model = build_tiny_llama(root / "model", tokenizer)
    config_path = model / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return model


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict[str, tuple[Path, Path]]:
    """Each task's shipped export as a user hands it to a tool (plain Parquet), and the same
    export tokenized with the tiny model's tokenizer: curate's own ``input_ids``/``labels``
    (``chosen_ids``/``rejected_ids``), row for row, to compare the tools with."""
    root = tmp_path_factory.mktemp("interop-exports")
    out = {}
    for task, spec in TASK_SPECS.items():
        plain, tokenized = root / "plain" / task, root / "tokenized" / task
        curate.export(SPECS / spec, plain, on_warning=lambda w: None)
        curate.export(SPECS / spec, tokenized, tokenizer=tiny_model, on_warning=lambda w: None)
        out[task] = (plain, tokenized)
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, before any fixture is built, the tests of a tool whose virtualenv is not named."""
    import os

    here = Path(__file__).resolve().parent
    for item in items:
        tool = getattr(item, "callspec", None) and item.callspec.params.get("tool")
        if tool and here in Path(str(item.path)).resolve().parents:
            venv = os.environ.get(f"CURATE_INTEROP_{str(tool).upper()}")
            if not venv or not (Path(venv) / "bin" / "python").is_file():
                reason = f"CURATE_INTEROP_{str(tool).upper()} names no virtualenv: `make test-interop` installs {tool}"
                item.add_marker(pytest.mark.skip(reason=reason))
