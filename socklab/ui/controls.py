"""The one narrow way a part of the screen acts on the lab: `LabControls`.

The Lessons panel (and any other part that drives the lab as a learner
would) fills fields, presses buttons, resets the lab and turns two-hosts
mode on or off through this interface, never by reaching into the panes or
calling the app's actions.  What it needs to read is the view model
(`socklab.viewstate.ViewState`: each side's sockets, which socket is newest,
which connection pairs with which client), never a widget's attributes.

`PaneControls` is the lab screen's implementation: it is also the ``ask``
the panes are given, so it sees every request (a learner's click as much as
a lesson's press) and `settle` can wait for each one to report.  A test can
fake `LabControls` with any object that has these methods.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..capture.text import WIRE_OPS
from ..labcalls import Request
from ..viewstate import ViewState

if TYPE_CHECKING:
    from .app import SocklabApp
    from .bridge import Batch


class Pending(Protocol):
    """What the session hands back for a request: its jobs, to wait for."""

    def wait(self, timeout: float | None = None) -> bool: ...


#: The session's ``request``: the app hands it over (no other part reaches the lab).
Ask = Callable[[Request], Pending]

#: Events that report what the kernel or the wire saw, not a call a press made.
VIEW_OPS = frozenset({"state", *WIRE_OPS})
#: How long `settle` waits at most (a connect the lab limits: 10 s).
SETTLE_GUARD = 15.0


class LabControls(Protocol):
    """What a part may do to the lab, as a learner would."""

    @property
    def view(self) -> ViewState:
        """What the panes show (read only): sockets per side, newest, pairs, bound port."""
        ...

    @property
    def two_hosts(self) -> bool:
        """Two-hosts mode is on."""
        ...

    def fill(self, side: str, field: str, value: str) -> None:
        """Set a field as the learner would type or choose it: ``side`` is
        ``server``, ``client`` or ``regex`` (the HTTP view's regex box)."""
        ...

    def press(self, side: str, call: str, target: str | None = None) -> bool:
        """Press ``side``'s ``call`` button, on the socket ``target`` (a key of the
        view model's sockets, or ``newest``) when given; False when the fields
        were bad (the learner was told why) and nothing was asked."""
        ...

    async def reset(self, quiet: bool = False) -> int:
        """Ctrl+R: close every socket, numbering from 1 again; how many were open."""
        ...

    async def set_two_hosts(self, on: bool) -> bool:
        """Two hosts on or off; True when it is so."""
        ...

    async def settle(self, timeout: float = SETTLE_GUARD) -> bool:
        """Wait until every call pressed so far has reported (its first event is
        published, or its jobs ended) and the panes show it; False on timeout."""
        ...

    def show_tab(self, tab: str) -> None:
        """Bring a tab of the screen forward (``lab``, ``code``, ``wire``, ``http``...)."""
        ...


@dataclass
class _Asked:
    """A request not yet reported: its side's call count when asked, its jobs."""

    side: str
    seen: int
    pending: Pending


class PaneControls:
    """`LabControls` on the lab screen; also the panes' ``ask`` and a bridge subscriber
    (it counts each side's published calls, so `settle` knows a press reported)."""

    def __init__(self, app: SocklabApp, request: Ask) -> None:
        self._app = app
        self._request = request
        self._calls: Counter[str] = Counter()
        self._asked: list[_Asked] = []
        self._news = asyncio.Event()

    # -- what the panes and the bridge hand it ------------------------------------------

    def ask(self, request: Request) -> None:
        """A pane's request, to the session.  A worker waits (off the UI thread) until
        its calls end, so ``app.workers.wait_for_complete()`` means what it always did:
        the calls pressed so far have returned."""
        app = self._app
        pending = self._request(request)
        self._asked.append(_Asked(request.side, self._calls[request.side], pending))
        app.run_worker(pending.wait, thread=True, group="calls", exit_on_error=False,
                       name=f"{request.side} {request.call}")

    def on_batch(self, batch: Batch) -> None:
        self._calls.update(event.side for event in batch.events if event.op not in VIEW_OPS)
        self._news.set()

    # -- LabControls ----------------------------------------------------------------------

    @property
    def view(self) -> ViewState:
        return self._app.view_state

    @property
    def two_hosts(self) -> bool:
        return self._app.hosts.on

    def fill(self, side: str, field: str, value: str) -> None:
        if side == "regex":
            self._app.http_view.set_regex(field, value)
        else:
            self._app.pane(side).fill(field, value)

    def press(self, side: str, call: str, target: str | None = None) -> bool:
        self.choose(side, target)
        return self._app.pane(side).press(call)

    def choose(self, side: str, target: str | None) -> None:
        """Highlight the socket ``target`` in ``side``'s list (as a click on its row):
        a key of the view model's sockets, or ``newest`` (the connection or client
        that came last).  The panes first show every socket so far."""
        self._app.drain_now()
        if target is None:
            return
        keys = list(self.view.sides[side].sockets)
        if target == "newest":
            key = max((key for key in keys if key.isdigit()), key=int, default=None)
        else:
            key = target if target in keys else None
        self._app.pane(side).choose(key)

    async def reset(self, quiet: bool = False) -> int:
        return await self._app.reset_lab(quiet)

    async def set_two_hosts(self, on: bool) -> bool:
        return await self._app.hosts.set(on)

    async def settle(self, timeout: float = SETTLE_GUARD) -> bool:
        app = self._app
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._news.clear()  # before looking: news after this wakes the wait below
            app.bridge.flush()
            self._asked = [asked for asked in self._asked if not self._reported(asked)]
            if not self._asked:
                app.drain_now()
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), min(left, 0.05))

    def _reported(self, asked: _Asked) -> bool:
        # Jobs that ended have emitted every event (the flush above published them).
        return self._calls[asked.side] > asked.seen or asked.pending.wait(0)

    def show_tab(self, tab: str) -> None:
        self._app.show_tab(tab)
