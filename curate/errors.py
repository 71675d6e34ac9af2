"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""

from __future__ import annotations


class CurateError(Exception):
    """A problem with the user's input (file, spec, record, flag), described in one line.

    The message names the file, record or key and what was expected. It never carries secrets.
    """

    exit_code = 2
