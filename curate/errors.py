"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""

from __future__ import annotations


class CurateError(Exception):
    """A problem with the user's input (file, spec, record, flag), described in one line.

    The message names the file, record or key and what was expected. It never carries secrets.
    """

    exit_code = 2


class Interrupted(BaseException):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) arrived; raised in the main thread so every
    ``with`` block unwinds (temporary folders are removed) before the process exits."""

    def __init__(self, signum: int, name: str):
        super().__init__(name)
        self.signum = signum
        self.name = name


# Modules only the `train` extra installs, and what to tell a user who lacks them.
OPTIONAL_MODULES = {"torch", "transformers", "trl", "peft", "accelerate", "tokenizers", "safetensors"}


def missing_extra_message(err: ModuleNotFoundError) -> str | None:
    """The one line to print when an optional dependency is missing, or None if it is not one.

    >>> missing_extra_message(ModuleNotFoundError("No module named 'trl'", name="trl"))
    "this needs the training extras (missing module 'trl'): pip install 'curate[train]' (after pip install torch)"
    """
    root = (err.name or "").split(".")[0]
    if root not in OPTIONAL_MODULES:
        return None
    return f"this needs the training extras (missing module {root!r}): pip install 'curate[train]' (after pip install torch)"
