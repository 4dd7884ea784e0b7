"""A lesson played by ``--auto`` in the real app, headless, its log on stdout.

``python -m tests.oracle.lesson_player NAME`` opens the lab (Textual's test
driver, no terminal) with packet capture on, waits for the capture, plays the
lesson as ``socklab lesson NAME --auto --pause 0`` does, and prints every event
of the session as JSON Lines (the quit's closes included).  Exit 0 when the
lesson completed, 1 when it stalled.

``by_hand``: a learner's play instead of --auto (tests/lesson_learner.py), at
``size``; the lesson opens without autoplay and the play leads it to its end.
``then_auto``: once it has ended, the terminal is resized to that size and the
lesson is played again by --auto in the same lab (which starts it from an
empty lab, as the learner's Restart does).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.pilot import Pilot

#: A lesson that has not completed by then has stalled.
LIMIT = 240.0


async def play(name: str, by_hand: Callable[[Pilot, str], Awaitable[None]] | None = None,
               size: tuple[int, int] = (120, 36),
               then_auto: tuple[int, int] | None = None) -> tuple[bool, list[str]]:
    from socklab.ui.app import SocklabApp
    lines: list[str] = []
    app = SocklabApp(packets=True)
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does
    app.session.subscribe(lambda event: lines.append(event.to_json()))
    complete = False
    async with app.run_test(size=size) as pilot:
        await app.wire.started()  # the capture is open before the first call
        await app.lessons.start(name, auto_pause=None if by_hand else 0.0)
        if by_hand is not None:
            await by_hand(pilot, name)
        complete = await _ended(pilot)
        if complete and then_auto is not None:
            await pilot.resize_terminal(*then_auto)
            await app.lessons.start(name, auto_pause=0.0)
            complete = await _ended(pilot)
        await pilot.pause(0.3)  # the kernel view's last states
    return complete, lines


async def _ended(pilot: Pilot) -> bool:
    """Wait (up to LIMIT) for the open lesson to complete or stall: True if complete."""
    panel = pilot.app.lesson_panel
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        run = panel.run
        if run is not None and (run.complete or panel.stalled):
            break
        await pilot.pause(0.05)
    run = panel.run
    if run is not None and run.complete:
        return True
    last = "\n".join(f"  {e.seq} {e.side}[{e.conn}] {e.op} {e.phase} {e.error} {e.result}"
                     for e in panel._events[-12:])
    print(f"stalled at {run.step.title if run else None!r} "
          f"({'--auto' if panel.auto_pause is not None else 'by hand'}); the last events:\n"
          f"{last}", file=sys.stderr)
    return False


def main(argv: list[str], **how) -> int:
    complete, lines = asyncio.run(play(argv[0], **how))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
