"""The ``curate`` command line's typer app: export, validate, stats, schema, plus the command groups
registered from ``curate.commands``.

User mistakes (:class:`CurateError`) print one ``error:`` line on stderr and exit 2.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from functools import cache, wraps
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from curate.arguments import Vocabulary, vocabulary
from curate.errors import CurateError, Interrupted, missing_extra_message
from curate.redact import redact

if TYPE_CHECKING:
    from rich.console import Console

#: Help and usage errors in click's plain layout: typer's rich panels import rich's markdown and
#: traceback renderers, about half of ``curate --help``'s start-up (benchmarks/bench_startup.py).
HELP_MARKUP = None

app = typer.Typer(
    name="curate",
    help="Turn human annotation in Argilla into training data for TRL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=HELP_MARKUP,
)
F = TypeVar("F", bound=Callable[..., Any])
#: How the library's messages name arguments when a command calls it: by these flags
#: (``--max-length``); only the ones listed differ from ``--`` + the keyword with dashes.
FLAGS = Vocabulary(as_flags=True, flags={"splits": "--split", "n": "-n", "recipe": "--for"})


@cache
def err_console() -> Console:
    """rich's console on stderr, made at its first use: ``curate --help`` never loads rich."""
    from rich.console import Console

    return Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    # scrubbed again here, the last door out: a message built from a server's text may reach it
    # by a path that did not scrub; escaped: messages quote user data that rich would read as markup
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn CurateError into one error line and exit code 2 (no traceback for user mistakes); the
    messages name the command's flags."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with vocabulary(FLAGS):
                return func(*args, **kwargs)
        except CurateError as err:
            fail(str(err), err.exit_code)
        except KeyboardInterrupt:
            fail("interrupted (nothing half-written is left)", 130)
        except Interrupted as stop:
            fail(f"stopped by {stop.name} (nothing half-written is left)", 128 + stop.signum)
        except ModuleNotFoundError as err:
            message = missing_extra_message(err)
            if message is None:
                raise
            fail(message)
        except RecursionError:
            fail("input nested too deeply to read (a JSON or YAML value inside thousands of brackets?)")

    return wrapper  # type: ignore[return-value]


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum, signal.Signals(signum).name)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP (what timeout, cron, CI and Kubernetes send) unwind like Ctrl-C, so a
    stopped export removes its temporary folder instead of leaving half-written files."""
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _raise_interrupted)


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
    install_signal_handlers()
    app(prog_name="curate")


if __name__ == "__main__":
    main()
