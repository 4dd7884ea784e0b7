"""Driving the lab screen in tests: settle, and waits that end on events.

`settle` waits for the session's calls to end and for Textual's workers, then
publishes what arrived; `Watch` (one per app, `watch(app)`) subscribes to the
app's bridge and ends a wait as soon as the events it needs are published.
`HANG_GUARD` only ends a hang: no wait here lasts longer than what it waits for.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.pilot import Pilot

from socklab.events import Event
from socklab.ui.app import SocklabApp
from socklab.ui.bridge import Batch

SIZE = (120, 36)
#: Only ends a hang: every wait below ends as soon as what it waits for happens.
HANG_GUARD = 60.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded by HANG_GUARD) for ``condition``: for what a key's action does
    in a thread (Pilot's pause does not wait for an action still awaiting one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD
    while not condition():
        assert loop.time() < deadline, f"{what} did not happen within {HANG_GUARD}s"
        await asyncio.sleep(0.02)


async def settle(app: SocklabApp, pilot: Pilot) -> None:
    """Let the session's calls end, messages be handled, and events reach the screen."""
    for _ in range(3):
        await pilot.pause()
        assert await asyncio.to_thread(app.session.wait_idle, HANG_GUARD), "a call hung"
        await app.workers.wait_for_complete()
    app.drain_now()
    await pilot.pause()


@dataclass
class _Wait:
    match: Callable[[Event], bool]
    count: int
    seen: int
    flag: asyncio.Event = field(default_factory=asyncio.Event)


class Watch:
    """Every event the app's bridge publishes, and waits that end on a matching one."""

    def __init__(self, app: SocklabApp) -> None:
        self.events: list[Event] = list(app.event_log.buffer.events())
        self._waits: list[_Wait] = []
        app.bridge.subscribe(self._batch)

    def _batch(self, batch: Batch) -> None:
        self.events.extend(batch.events)
        for wait in self._waits:
            wait.seen += sum(1 for e in batch.events if wait.match(e))
            if wait.seen >= wait.count:
                wait.flag.set()

    async def until(self, match: Callable[[Event], bool], count: int = 1) -> Event:
        """Wait until ``count`` published events match; returns the last that did."""
        wait = _Wait(match, count, sum(1 for e in self.events if match(e)))
        if wait.seen < count:
            self._waits.append(wait)
            try:
                await asyncio.wait_for(wait.flag.wait(), HANG_GUARD)
            except TimeoutError:
                raise AssertionError(f"after {HANG_GUARD}s, {wait.seen} of {count} "
                                     "expected events had come") from None
            finally:
                self._waits.remove(wait)
        return next(e for e in reversed(self.events) if match(e))


_WATCHES: weakref.WeakKeyDictionary[SocklabApp, Watch] = weakref.WeakKeyDictionary()


def watch(app: SocklabApp) -> Watch:
    """The app's Watch (made on first use, from what the log already shows)."""
    if app not in _WATCHES:
        _WATCHES[app] = Watch(app)
    return _WATCHES[app]


def is_(side: str, op: str, phase: str = "done", **fields: object) -> Callable[[Event], bool]:
    """A match for ``side op`` (and any other fields) in ``phase``."""
    return lambda e: e.side == side and e.op == op and e.phase == phase and all(
        getattr(e, k) == v for k, v in fields.items())


async def click(pilot: Pilot, selector: str) -> None:
    """Click a button once the layout has settled (fields change its height)."""
    await pilot.pause()
    assert await pilot.click(selector), f"the click missed {selector}"




async def run_server(app: SocklabApp, pilot: Pilot) -> Watch:
    """Press the server's Run on port 0; return once it waits for a client."""
    seen = watch(app)
    app.server_pane.input("port").value = "0"
    await click(pilot, "#server-run")
    await seen.until(lambda e: e.side == "server" and e.op in ("accept", "recvfrom")
                     and e.phase == "wait")
    return seen


async def listen_with_backlog(app: SocklabApp, pilot: Pilot, backlog: int,
                              clients: int) -> Watch:
    """socket, bind (port 0), listen(backlog), one call at a time, no accept();
    connect ×N set to ``clients``.  Returns once the kernel reported the listener."""
    seen = watch(app)
    app.server_pane.input("port").value = "0"
    app.server_pane.input("backlog").value = str(backlog)
    app.client_pane.input("count").value = str(clients)
    await settle(app, pilot)
    for op in ("socket", "bind", "listen"):
        app.server_pane.press(op)
        await seen.until(is_("server", op))
    await seen.until(is_("server", "state"))
    await settle(app, pilot)
    return seen
