"""The one executor for the export's worker processes (``--num-proc``): it starts them, talks to
them, notices one that dies, and stops them, whatever signal lands on whom and when.

The steps a worker runs live elsewhere (``curate.pipeline.build_workers`` builds rows in forked workers,
``curate.pipeline.workers`` tokenizes in spawned ones); this module is only about processes:

- Each worker talks to the exporting process over its own pipe, and no other process holds either
  end, so a worker that dies (killed, crashed, exited) is seen as the end of its pipe, and a worker
  whose exporting process died gets a broken pipe. No wait here is without an end: the exporting
  process waits on the pipe *and* the worker's exit at once.
- A worker drops the exporting process's signal handlers as it starts (the stop signals are
  blocked from before the fork until then): Ctrl-C and SIGHUP are ignored, SIGTERM ends it at once
  and quietly. It runs in a process group of its own, so a signal meant for the export (Ctrl-C on a
  terminal, ``timeout`` signalling its group) reaches the exporting process only, which then stops
  its workers. A worker killed or stopped from outside is reported as "export worker K stopped
  unexpectedly (...)", one line, exit code 2.
- No worker outlives the exporting process: on Linux the kernel kills it when its parent dies
  (``PR_SET_PDEATHSIG``); everywhere, a worker checks ``os.getppid()`` while it waits.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

from curate.errors import CurateError

POLL_S = 0.5  # how often a wait checks that the other side is still there (no effect on the output)
IN_FLIGHT = 2  # finished messages a worker may hold before the exporting process takes them (memory)
JOIN_S = 5.0  # how long stopping waits for a worker to go before it is killed
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])}
WORKER_NAME = b"curate-worker"  # the name ps and /proc/PID/comm show for a worker (Linux)

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1

Start = Literal["fork", "spawn"]


def describe_exit(exitcode: int | None) -> str:
    """How a worker ended, in words, from ``Process.exitcode``.

    >>> describe_exit(-9), describe_exit(7), describe_exit(None)
    ('killed by SIGKILL', 'exit code 7', 'closed its pipe')
    """
    if exitcode is None:
        return "closed its pipe"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class Channel:
    """A worker's end of its pipe to the exporting process (the worker's side of the protocol).

    ``send`` hands a message to a thread that pickles and writes it, so the worker goes on with the
    next one meanwhile; it blocks while ``IN_FLIGHT`` messages wait for the exporting process (that
    bounds a worker's memory) and raises ``BrokenPipeError`` once the exporting process is gone.
    ``receive`` returns the next task, or None when the exporting process has no more (or is gone).
    """

    def __init__(self, index: int, conn: Connection, parent: int):
        self.index = index
        self._conn = conn
        self._parent = parent
        self._tasks: queue.Queue[Any] | None = None
        self._out: queue.Queue[Any] = queue.Queue(maxsize=IN_FLIGHT - 1)  # one more is being written
        self._sender: threading.Thread | None = None

    def send(self, message: Any) -> None:
        self._put(("ok", message))

    def check_parent(self) -> None:
        """End this worker if the exporting process is gone (where the kernel does not kill it)."""
        if os.getppid() != self._parent:
            os._exit(0)

    def receive(self) -> Any:
        if self._tasks is None:
            # A thread reads the tasks as they come, so the exporting process never blocks on a full
            # pipe while this worker blocks sending it a result (each would wait for the other).
            self._tasks = queue.Queue()
            threading.Thread(target=self._read, name="curate-worker-reader", daemon=True).start()
        while True:
            try:
                return self._tasks.get(timeout=POLL_S)
            except queue.Empty:
                self.check_parent()

    def close(self) -> None:
        """Write out what is still queued (unless the exporting process is gone), then close."""
        if self._sender is not None:
            with contextlib.suppress(BrokenPipeError):
                self._put(None)
            self._sender.join()
        self._conn.close()

    def _put(self, item: Any) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._write, name="curate-worker-sender", daemon=True)
            self._sender.start()
        while True:
            try:
                self._out.put(item, timeout=POLL_S)
                return
            except queue.Full:
                if not self._sender.is_alive():
                    raise BrokenPipeError("the exporting process stopped reading") from None
                self.check_parent()

    def _write(self) -> None:
        while (item := self._out.get()) is not None:
            try:
                self._conn.send(item)
            except OSError:  # the exporting process is gone: _put sees this thread end
                return

    def _read(self) -> None:
        assert self._tasks is not None
        try:
            while True:
                self._tasks.put(self._conn.recv())
        except (EOFError, OSError):
            self._tasks.put(None)


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    conn: Connection  # the exporting process's end of the pipe


class Executor:
    """``n`` worker processes, each running ``main(channel, *args)`` with a :class:`Channel`.

    A context manager: leaving it stops every worker (at once when leaving with an exception, after
    they finish otherwise). ``send(k, task)`` and ``receive(k)`` talk to worker ``k``; ``receive``
    raises the worker's own ``CurateError``, a ``RuntimeError`` with the traceback of a bug in it,
    or ``CurateError("export worker K stopped unexpectedly (...)")`` when it died.

    ``start="fork"`` workers inherit what the exporting process has built (Linux only: fork them
    before the exporting process starts threads of its own); ``"spawn"`` workers start a fresh
    interpreter, and ``main`` and ``args`` must pickle.
    """

    def __init__(self, n: int, main: Callable[..., None], args: tuple[Any, ...] = (), *, start: Start):
        self.n = n
        self.main = main
        self.args = args
        self.start = start
        self._workers: list[_Worker] = []

    def __enter__(self) -> Executor:
        import multiprocessing

        ctx: Any = multiprocessing.get_context(self.start)
        if self.start == "fork":
            sys.stdout.flush()  # a child must not write out what the parent had buffered
            sys.stderr.flush()
        try:
            for k in range(self.n):
                ours, theirs = ctx.Pipe()
                # a fork copies the exporting process's ends of the pipes: the child closes them
                copied = [w.conn for w in self._workers] + [ours] if self.start == "fork" else None
                process = ctx.Process(
                    target=_worker_main,
                    args=(k, theirs, os.getpid(), self.main, self.args, copied),
                    name=f"curate-worker-{k}",
                    daemon=True,
                )
                self._workers.append(_Worker(process, ours))
                try:
                    with _signals_held():
                        process.start()
                finally:
                    theirs.close()  # the child's end lives in the child only: its death is our EOF
        except BaseException:
            self.stop(at_once=True)
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop(at_once=exc_type is not None)

    def send(self, k: int, message: Any) -> None:
        try:
            self._workers[k].conn.send(message)
        except OSError:  # a broken pipe: the worker is gone
            raise self._stopped(k) from None

    def receive(self, k: int) -> Any:
        worker = self._workers[k]
        conn, sentinel = worker.conn, worker.process.sentinel
        while True:
            ready = wait([conn, sentinel], timeout=POLL_S)
            if conn in ready or (ready and conn.poll(0)):  # a message, or the pipe's end
                try:
                    message = conn.recv()
                except (EOFError, OSError):  # it died, perhaps in the middle of a message
                    raise self._stopped(k) from None
                break
            if ready:  # it ended without a word (and its pipe is held open elsewhere)
                raise self._stopped(k)
        kind, payload = message
        if kind == "error":
            raise CurateError(payload)
        if kind == "crash":
            raise RuntimeError(f"export worker {k} failed:\n{payload}")
        return payload

    def _stopped(self, k: int) -> CurateError:
        process = self._workers[k].process
        process.join(JOIN_S)
        how = describe_exit(process.exitcode)
        return CurateError(f"export worker {k} stopped unexpectedly ({how}); nothing was written")

    def stop(self, at_once: bool) -> None:
        """Stop every worker: kill them at once (an error or a signal), or let them see the end of
        their pipe and finish (the export is done), killing any that take longer than ``JOIN_S``."""
        workers, self._workers = self._workers, []
        if at_once:
            for w in workers:
                _kill(w.process)
        for w in workers:
            w.conn.close()
        for w in workers:
            if w.process.pid is not None:
                w.process.join(JOIN_S)
                if w.process.exitcode is None:
                    _kill(w.process)
                    w.process.join(JOIN_S)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold the stop signals while a worker starts; they take effect afterwards.

    Blocked in this thread, a signal waits in the kernel, and a child inherits the mask, so one
    that reaches a new worker before it has dropped this process's handlers is taken its own way.
    Held at the Python level too: a signal that another thread takes would otherwise run its
    handler in the middle of the start, where its exception is lost (in a fork's at-fork hooks)
    or leaves a spawned child reading half a start.
    """
    held: list[int] = []
    saved: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():  # only it may set handlers
        for sig in STOP_SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):
                saved[sig] = handler
                signal.signal(sig, lambda signum, frame: held.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for number, handler in saved.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)  # now the handler runs, here, where its exception is seen


def _kill(process: Any) -> None:
    with contextlib.suppress(ProcessLookupError, AttributeError):
        if process.pid is not None and process.exitcode is None:
            process.kill()


# --- in a worker process ---------------------------------------------------------------------------


def _worker_main(
    k: int,
    conn: Connection,
    parent: int,
    main: Callable[..., None],
    args: tuple[Any, ...],
    forked: list[Connection] | None,
) -> None:
    _detach(parent)
    if forked is not None:
        for other in forked:  # the exporting process's ends of the pipes, copied by the fork
            other.close()
        # What the parent's threads (a progress bar) buffered since its flush is the
        # parent's to print; this process says nothing, and flushes nothing of it at exit.
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    channel = Channel(k, conn, parent)
    try:
        try:
            main(channel, *args)
        except CurateError as err:
            channel._put(("error", str(err)))
        except BaseException:
            channel._put(("crash", traceback.format_exc()))
    except BrokenPipeError:  # the exporting process is gone: there is nobody left to tell
        pass
    finally:
        channel.close()


def _detach(parent: int) -> None:
    """Drop the exporting process's ways of stopping (its signal handlers), tie this process's life
    to it, and only then take signals (they were blocked from before the fork until here)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(WORKER_NAME), 0, 0, 0)
    if os.getppid() != parent:  # it died before the kernel could be told to stop us with it
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
