"""A lesson played by ``--auto`` in the real app, headless, its log on stdout.

``python -m tests.oracle.lesson_player NAME`` opens the lab (Textual's test
driver, no terminal) with packet capture on, waits for the capture, plays the
lesson as ``socklab lesson NAME --auto --pause 0`` does, and prints every event
of the session as JSON Lines (the quit's closes included).  Exit 0 when the
lesson completed, 1 when it stalled.
"""

from __future__ import annotations

import asyncio
import sys
import time

#: A lesson that has not completed by then has stalled.
LIMIT = 240.0


async def play(name: str) -> tuple[bool, list[str]]:
    from socklab.ui.app import SocklabApp
    lines: list[str] = []
    app = SocklabApp(packets=True)
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does
    app.session.subscribe(lambda event: lines.append(event.to_json()))
    complete = False
    async with app.run_test(size=(120, 36)) as pilot:
        await app.wire.started()  # the capture is open before the first call
        panel = app.lesson_panel
        await app.lessons.start(name, auto_pause=0.0)
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            run = panel.run
            if run is not None and (run.complete or panel.stalled):
                break
            await pilot.pause(0.05)
        complete = bool(panel.run and panel.run.complete)
        await pilot.pause(0.3)  # the kernel view's last states
    return complete, lines


def main(argv: list[str]) -> int:
    complete, lines = asyncio.run(play(argv[0]))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
