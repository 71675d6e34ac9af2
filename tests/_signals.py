"""Signal set-up for the child processes signal tests start.

A test run started under ``nohup ... &`` ignores SIGHUP and SIGINT (as nohup and a shell's
background job intend), and a child inherits ignored signals: curate rightly keeps an ignored
SIGHUP ignored, so a test that sends one must first give its child the default handlers.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def default_stop_signals() -> None:
    """``preexec_fn`` for a test's child: SIGINT, SIGTERM and SIGHUP back to their defaults (Python
    then turns SIGINT into KeyboardInterrupt, and curate installs its own SIGTERM/SIGHUP handler)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
