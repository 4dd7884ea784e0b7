"""A lesson played by ``--auto`` in the real app, headless, its log on stdout.

``python -m tests.oracle.lesson_player NAME`` opens the lab (Textual's test
driver, no terminal) with packet capture on, waits for the capture, plays the
lesson as ``socklab lesson NAME --auto --pause 0`` does, and prints every event
of the session as JSON Lines (the quit's closes included).  Exit 0 when the
lesson completed, 1 when it stalled.

``by_hand``: a learner's play instead of --auto (tests/lesson_learner.py), at
``size``; the lesson opens without autoplay and the play leads it to its end.
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
               size: tuple[int, int] = (120, 36)) -> tuple[bool, list[str]]:
    from socklab.ui.app import SocklabApp
    lines: list[str] = []
    app = SocklabApp(packets=True)
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does
    app.session.subscribe(lambda event: lines.append(event.to_json()))
    complete = False
    async with app.run_test(size=size) as pilot:
        await app.wire.started()  # the capture is open before the first call
        panel = app.lesson_panel
        await app.lessons.start(name, auto_pause=None if by_hand else 0.0)
        if by_hand is not None:
            await by_hand(pilot, name)
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            run = panel.run
            if run is not None and (run.complete or panel.stalled):
                break
            await pilot.pause(0.05)
        complete = bool(panel.run and panel.run.complete)
        await pilot.pause(0.3)  # the kernel view's last states
    return complete, lines


def main(argv: list[str], **how) -> int:
    complete, lines = asyncio.run(play(argv[0], **how))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
