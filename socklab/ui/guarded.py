"""The lab screen's ending, whatever ends it (issue 15 items 3 and 4).

`StopAndReport` is mixed into the app.  SIGTERM and SIGHUP close every socket
(each a logged close saying which signal) and exit with 128 + the signal's
number, as Ctrl+Q closes with "quit".  An unexpected error's traceback, which
Textual would print on the screen, goes to a report file, with one line saying
where.  One more repair: a full repaint after any resize, so a fast shrink and
grow never leaves a cut screen.  `run_guarded` runs the app with the stop
signals caught and the terminal kept (socklab/guard.py has the UI-free parts,
shared with the headless commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
import threading
import traceback

from rich.console import Console
from textual import events
from textual.app import App

from .. import explain
from ..guard import (
    EXIT_CRASH,
    STOP_SIGNALS,
    SignalWatchdog,
    TerminalGuard,
    exit_status,
    report_crash,
    signal_name,
    stop_signals,
)

#: Seconds a stop signal gives the screen to end before the process ends anyway.
STOP_GRACE = 10.0
#: Seconds a stop signal gives the UI thread to answer at all (`SignalWatchdog`),
#: then the sockets' closing, before the process ends without it.
STUCK_GRACE, STUCK_CLOSE = 1.0, 0.5


class StopAndReport:
    """Stop signals and crash reports for an `App` that has a `LabSession`."""

    #: The stop signal (SIGTERM, SIGHUP) that ended the lab, if one did.
    stopped_by: int | None = None
    #: Whether an unexpected error ended the lab (its report is in a file).
    crashed = False
    #: Whether a stop signal ends the process after `STOP_GRACE` seconds if the
    #: screen has not ended (`run_guarded` arms it; tests in-process do not).
    watchdog = False
    #: Sees stop signals even when the UI thread is stuck (`run_guarded` sets it).
    signal_watchdog: SignalWatchdog | None = None

    def close_lab(self, reason: str) -> None:
        """Close every socket, each a logged close saying ``reason`` (blocking)."""
        raise NotImplementedError  # the app closes its session

    def stop_by_signal(self, signum: int) -> None:
        """Close every socket, then exit 128 + ``signum``.  Called by the signal
        handler on the UI thread, between two steps of the event loop (or
        before it runs: `stop_if_signalled` then stops the lab once mounted)."""
        self.stopped_by = signum
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self.signal_watchdog is not None:
            self.signal_watchdog.signalled(signum)  # in case the loop never answers
        loop.call_soon_threadsafe(self._stop_now, signum)

    def stop_if_signalled(self) -> None:
        """On mount: a stop signal that came while the lab started stops it now."""
        if self.stopped_by is not None:
            self._stop_now(self.stopped_by)

    def _stop_now(self, signum: int) -> None:
        app = self._app()
        if self.signal_watchdog is not None:
            self.signal_watchdog.begun()  # the loop answered: the normal stop runs

        async def stop() -> None:
            reason = explain.stopped_by_signal(signal_name(signum))
            await asyncio.to_thread(self.close_lab, reason)
            app.exit(exit_status(signum), return_code=exit_status(signum))

        app.run_worker(stop(), group="stop", exclusive=True)
        if self.watchdog:
            threading.Thread(target=self._last_resort, args=(signum,), daemon=True,
                             name="stop watchdog").start()

    def _last_resort(self, signum: int) -> None:
        """If the screen has not ended after `STOP_GRACE` seconds (a hung-up
        terminal has left Textual's threads waiting on each other for ever),
        close every socket and end the process: it must not outlive its terminal."""
        threading.Event().wait(STOP_GRACE)  # a normal exit ends this daemon thread first
        self.close_lab(explain.stopped_by_signal(signal_name(signum)))
        os._exit(exit_status(signum))

    def _print_error_renderables(self) -> None:
        """Write the error Textual would print to a report file; say one line."""
        app = self._app()
        if not app._exit_renderables or app.is_headless:
            super()._print_error_renderables()  # type: ignore[misc]
            return
        renderables, app._exit_renderables = app._exit_renderables, []
        if self.stopped_by == signal.SIGHUP:
            return  # the terminal hung up: what failed next is its echo, and no one reads
        written = io.StringIO()
        console = Console(file=written, width=120, color_system=None)
        for renderable in renderables:
            console.print(renderable)
        report = written.getvalue()
        lines = [line.strip() for line in report.splitlines() if line.strip()]
        summary = next((line for line in reversed(lines) if ":" in line), "unexpected error")
        self.crashed = True
        report_crash(summary, report)

    def on_resize(self, event: events.Resize) -> None:
        """Repaint the whole screen after any resize.  Textual repaints only what
        changed when the size it reads is the one it had; a terminal that went
        through a smaller size in between (tmux cuts its lines to it) then kept
        a stale, cut screen until something else changed."""
        self._app().screen.refresh()

    def _app(self) -> App[int]:
        assert isinstance(self, App)
        return self


def run_guarded(app: App[int]) -> int:
    """Run the lab; whatever ends it, sockets closed and the terminal given back.

    Exit status: the app's (0 on quit), 128 + N after stop signal N, `EXIT_CRASH`
    after an unexpected error (never 0).
    """
    assert isinstance(app, StopAndReport)
    terminal = TerminalGuard()
    app.watchdog = True

    def stuck(signum: int) -> None:
        """The UI thread did not answer a stop signal: end without it."""
        terminal.restore(screen_left_on=True)
        reason = explain.stopped_by_signal(signal_name(signum))
        closer = threading.Thread(target=app.close_lab, args=(reason,), daemon=True)
        closer.start()
        closer.join(STUCK_CLOSE)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            print(f"socklab: stopped by {signal_name(signum)} (the screen was not answering)",
                  file=sys.__stderr__, flush=True)  # Textual captures sys.stderr

    try:
        with SignalWatchdog(stuck, grace=STUCK_GRACE) as watchdog, \
                stop_signals(app.stop_by_signal, (*STOP_SIGNALS, signal.SIGINT)):
            app.signal_watchdog = watchdog
            result = app.run()
    except Exception as exc:  # escaped Textual itself: its own restore may not have run
        terminal.restore(screen_left_on=True)
        app.close_lab(explain.STOPPED)
        return report_crash(f"{type(exc).__name__}: {exc}", traceback.format_exc())
    terminal.restore(screen_left_on=False)
    if app.crashed:
        return EXIT_CRASH
    if app.stopped_by is not None:
        return exit_status(app.stopped_by)
    if app.return_code:
        return EXIT_CRASH  # Textual ended the app on an error it reported itself
    return result if isinstance(result, int) else 0
