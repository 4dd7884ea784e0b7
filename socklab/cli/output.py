"""What the headless commands print: events as human lines or JSON Lines, and notes.

Events go to stdout (one line each, flushed, so another program can follow
along); notes for the person at the terminal go to stderr as one line each.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from ..engine import Lab
from ..events import DONE, Event
from ..explain import STOPPED
from ..guard import stop_reason
from ..kernel.poller import KernelView
from ..logformat import format_line


class Printer:
    """A sink that prints each event as it happens and remembers failures."""

    def __init__(self, json_lines: bool, out: TextIO | None = None) -> None:
        self.json = json_lines
        self.out = out or sys.stdout
        self.failures: list[Event] = []
        self.events = 0

    def __call__(self, event: Event) -> None:
        self.events += 1
        if event.phase == DONE and not event.ok:
            self.failures.append(event)
        try:
            self.out.write((event.to_json() if self.json else format_line(event)) + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass  # the reader went away (``| head``, a hung-up terminal): keep going quietly


def note(text: str) -> None:
    """One line for the person at the terminal (stderr), never mixed with events."""
    try:
        print(f"socklab: {text}", file=sys.stderr)
    except (OSError, ValueError):
        pass  # no terminal left to say it on (a hang-up)


@contextmanager
def closing(lab: Lab) -> Iterator[None]:
    """Run a command's calls; whatever ends them, the lab closes every socket.

    Each close is logged, attributed to the lab and saying why: Ctrl-C or a
    stop signal (which end the block quietly: the code after the ``with``
    runs) or the lab stopping at the command's end.
    """
    reason = STOPPED
    kernel = KernelView(lab).start()  # state events, always in the output
    try:
        yield
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM/SIGHUP (guard.Stopped)
        reason = stop_reason(interrupt)
        note(f"stopped ({reason}); closing every socket")
    finally:
        lab.close_all(reason)
        kernel.stop()
