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

import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from . import __version__, lessons

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
        return lessons.stopped_by_signal(signal_name(interrupt.signum))
    return lessons.CTRL_C


@contextmanager
def stop_signals(on_signal: Callable[[int], None] | None = None) -> Iterator[list[int]]:
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

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


# -- crash reports ------------------------------------------------------------------


def write_report(details: str) -> Path | None:
    """Write a crash report to a new file in the temporary directory.

    Returns its path, or None if no file could be written (the caller still
    says one line).  The file is the user's own (mode 0600, as mkstemp makes it).
    """
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
