"""The ``curate`` command line: export, validate, stats, schema, plus the command groups
registered from ``curate.commands``.

User mistakes (:class:`CurateError`) print one ``error:`` line on stderr and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from curate.errors import CurateError

app = typer.Typer(
    name="curate",
    help="Turn human annotation in Argilla into training data for TRL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    # escaped: messages quote user data (column names, values) that rich would read as markup
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn CurateError into one error line and exit code 2 (no traceback for user mistakes)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CurateError as err:
            fail(str(err), err.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


# Command groups living in their own modules. Each module exposes ``register(app)``.
_COMMAND_MODULES: tuple[str, ...] = (
    "curate.commands.core",
    "curate.commands.argilla",
    "curate.commands.push",
    "curate.commands.preview",
    "curate.commands.train",
)


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main() -> None:
    app(prog_name="curate")


if __name__ == "__main__":
    main()
