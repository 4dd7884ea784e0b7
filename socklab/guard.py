"""When socklab is stopped or breaks: stop signals, crash reports, the terminal.

Issue 15 items 3 and 4.  UI-free: the lab screen and the headless commands use
the same pieces.

- **SIGTERM and SIGHUP** stop socklab as Ctrl-C does: every socket is closed
  by the lab (each a logged ``close()`` saying which signal), the terminal is
  given back, and the exit status is 128 + the signal's number, as a shell
  reports a process a signal ended (143 for SIGTERM, 129 for SIGHUP).  A second
  signal while closing is ignored, so the closing always finishes.
- **An unexpected exception** never shows a traceback: the full report goes to
  a new file (`write_report`), one line on stderr says where, and the exit
  status is `EXIT_CRASH` (never 0).
- **The terminal**: `TerminalGuard` keeps the terminal's settings from the
  start and puts them back at the end; if the screen's own restore never ran,
  it also switches off what the lab turned on (alternate screen, mouse
  reporting, hidden cursor, bracketed paste, focus events).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from . import __version__, explain

#: The signals that ask socklab to stop (Ctrl-C is SIGINT, Python's KeyboardInterrupt).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Exit status of an unexpected error (EX_SOFTWARE in sysexits.h): never 0, never 1
#: (1 means a socket call failed) nor 2 (bad usage).
EXIT_CRASH = 70

#: What the screen turns on, switched off again: normal screen buffer, mouse
#: reporting (every mode the driver enables), cursor shown, bracketed paste and
#: focus events off, the kitty keyboard protocol popped, line wrap back on.
RESTORE_SEQUENCES = (
    "\x1b[?1049l"
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"
    "\x1b[?25h"
    "\x1b[?2004l"
    "\x1b[?1004l"
    "\x1b[<u"
    "\x1b[?7h"
)


def exit_status(signum: int) -> int:
    """The exit status of a process a signal stopped: 128 + its number."""
    return 128 + signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Stopped(KeyboardInterrupt):
    """A stop signal, raised in the main thread: it ends a command as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def stop_reason(interrupt: KeyboardInterrupt) -> str:
    """Why the lab closes every socket: Ctrl-C or the signal's name."""
    if isinstance(interrupt, Stopped):
        return explain.stopped_by_signal(signal_name(interrupt.signum))
    return explain.CTRL_C


@contextmanager
def stop_signals(on_signal: Callable[[int], None] | None = None,
                 signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[list[int]]:
    """Within the block, SIGTERM and SIGHUP stop socklab instead of killing it.

    The first signal calls ``on_signal(signum)`` or, without one, raises
    `Stopped` in the main thread (where the command's ``closing`` block closes
    every socket); later ones are ignored.  Yields the list of signals received
    (at most one), so the caller can give the right exit status.  Handlers are
    put back as they were on leaving.
    """
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:
            return  # already stopping: let the closing finish
        received.append(signum)
        if on_signal is not None:
            on_signal(signum)
        else:
            raise Stopped(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class SignalWatchdog:
    """Signals always win, even over a UI thread that no longer answers.

    A thread cannot be this watchdog: a main thread stuck in C (a regular
    expression backtracking) holds the GIL, and no other Python thread runs
    until it lets go.  What does run is the signal's own handler: Python calls
    it from inside such loops (``re`` checks for signals as it backtracks).  So
    the stop signal's handler calls `signalled`, which arms an alarm
    (``setitimer``) instead of waiting on the event loop; if the loop has not
    begun the normal stop (the caller sets `stopping`) when it rings,
    ``on_stuck(signum)`` gives the terminal back and closes the sockets, and
    the process ends with 128 + the signal.  For C code that never looks at
    signals, faulthandler's own C thread ends the process (status 1) a little
    later: nothing outlives a stop signal.  Main thread only.
    """

    def __init__(self, on_stuck: Callable[[int], None], grace: float = 1.0) -> None:
        self.on_stuck = on_stuck
        self.grace = grace
        #: Set by the caller when its own stop has begun (its event loop answered).
        self.stopping = threading.Event()
        self._signum: int | None = None
        self._previous: object = None

    def __enter__(self) -> SignalWatchdog:
        self._previous = signal.signal(signal.SIGALRM, self._alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]

    def signalled(self, signum: int) -> None:
        """A stop signal came (called by its handler): the UI has `grace` seconds."""
        if self._signum is not None:
            return
        self._signum = signum
        signal.setitimer(signal.ITIMER_REAL, self.grace)
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for faulthandler
            faulthandler.dump_traceback_later(self.grace + 2, exit=True, file=devnull)

    def begun(self) -> None:
        """The normal stop has begun (on the event loop): no forced end."""
        self.stopping.set()
        faulthandler.cancel_dump_traceback_later()

    def _alarm(self, _signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set() or self._signum is None:
            return
        with contextlib.suppress(Exception):
            self.on_stuck(self._signum)
        os._exit(exit_status(self._signum))


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``signum`` to this process when the thread that started
    it ends (``prctl(PR_SET_PDEATHSIG)``): a child of a server ends when its
    server does, however the server ends (SIGKILL too).  A no-op elsewhere."""
    import ctypes  # here, not at start: most commands never call it
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signum, 0, 0, 0)  # 1 is PR_SET_PDEATHSIG


#: Set by ``socklab web`` in each lab's environment: the server's pid (the lab
#: ends with it) and whether two-hosts mode (network namespaces, as root) is allowed.
SERVER_ENV, TWO_HOSTS_ENV = "SOCKLAB_WEB_SERVER", "SOCKLAB_WEB_TWO_HOSTS"


def follow_web_server() -> bool:
    """In a lab that ``socklab web`` started: end when the server ends, however it
    ends.  A server that stops in order asks each lab to quit first (each socket
    closed and logged); one that dies (``kill -9``, a crash) leaves no one to
    watch its labs, so the kernel kills them (PDEATHSIG SIGKILL: at once, their
    sockets closed with them; a lab's web driver writing to a dead server could
    otherwise take its 10 s last resort).  Returns whether two-hosts mode is
    allowed in this lab (always, outside socklab web)."""
    server = os.environ.get(SERVER_ENV)
    if not server:
        return True
    die_with_parent(signal.SIGKILL)
    if str(os.getppid()) != server:  # the server died before the line above
        os._exit(exit_status(signal.SIGKILL))
    return os.environ.get(TWO_HOSTS_ENV) == "1"


# -- crash reports ------------------------------------------------------------------


def write_report(details: str) -> Path | None:
    """Write a crash report to a new file in the temporary directory.

    Returns its path, or None if no file could be written (the caller still
    says one line).  The file is the user's own (mode 0600, as mkstemp makes it).
    """
    import platform  # here, not at every command's start
    import tempfile
    header = (
        f"socklab {__version__} internal error report\n"
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
        f"python: {sys.version.split()[0]} on {platform.platform()}\n"
        f"command: {' '.join(sys.argv)}\n\n"
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        fd, name = tempfile.mkstemp(prefix=f"socklab-crash-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as report:
            report.write(header + details)
    except OSError:
        return None
    return Path(name)


def report_crash(summary: str, details: str) -> int:
    """One line on stderr saying where the full report is; returns `EXIT_CRASH`."""
    path = write_report(details)
    summary = " ".join(summary.split())[:200] or "unexpected error"
    where = f"the full report is in {path}" if path else "no report could be written"
    try:
        print(f"socklab: internal error ({summary}); {where}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no terminal to say it on (a hang-up)
    return EXIT_CRASH


# -- the terminal ---------------------------------------------------------------------


class TerminalGuard:
    """The terminal's settings at start, put back at the end (a no-op without one)."""

    def __init__(self, stream: object | None = None) -> None:
        self._fd: int | None = None
        self._saved: list | None = None  # type: ignore[type-arg]
        stream = stream if stream is not None else sys.__stdin__
        try:
            import termios

            fd = stream.fileno()  # type: ignore[union-attr]
            if os.isatty(fd):
                self._saved = termios.tcgetattr(fd)
                self._fd = fd
        except (ImportError, AttributeError, OSError, ValueError):
            pass

    def restore(self, screen_left_on: bool) -> None:
        """Put the terminal's settings back; with ``screen_left_on`` (the screen's
        own restore never ran), also switch off every mode the screen turned on."""
        if self._fd is None or self._saved is None:
            return
        try:
            import termios

            if screen_left_on:
                os.write(self._fd, RESTORE_SEQUENCES.encode())
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        except (OSError, termios.error):  # termios.error is no OSError
            pass  # the terminal hung up: nothing is left to restore
