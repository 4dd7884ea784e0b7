"""The bridge's subscribers that show the lab: the log, the panes, port info.

Each is a small part with ``on_batch`` (the app lists them, in order, in
socklab/ui/app.py).  They take the published batches on the UI thread and
show them; none makes a call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.css.query import NoMatches

from ..events import CLIENT, SERVER
from ..viewstate import BoundPort, ViewState
from .bridge import Coalesced
from .port_info import PortInfoLine

if TYPE_CHECKING:
    from .app import SocklabApp
    from .bridge import Batch

#: Calls whose success can change what listens on a port (port info looks again).
_PORT_CHANGES = frozenset({"bind", "listen", "close"})


class LogFeed:
    """Every published event as a row of the event log."""

    def __init__(self, app: SocklabApp) -> None:
        self._app = app

    def on_batch(self, batch: Batch) -> None:
        app = self._app
        try:
            log = app.event_log
        except NoMatches:
            return  # the app is closing: its widgets are gone
        if batch.gap:
            log.border_title = f"Event log · {batch.skipped:,} not shown (storm of calls)"
        log.add_events([app.numbers.event(event) for event in batch.events])


class PaneFeed:
    """The view model, folded from every batch, shown by the panes (paced in a storm);
    the client's port follows the port the server got."""

    def __init__(self, app: SocklabApp, view: ViewState) -> None:
        self._app = app
        self.view = view
        self._changed: set[str] = set()
        self._refresh = Coalesced(app, self._refresh_panes)
        #: The server's bound port the client's port field last followed.
        self._followed: BoundPort | None = None

    def on_batch(self, batch: Batch) -> None:
        changed = self.view.apply(batch.events)
        if changed:
            self._changed |= changed
            self._refresh.ask()
            # At once, not paced: a client Run pressed as soon as the server's bind is
            # shown (a script's keys, a test) connects to the port the bind got, not
            # to the port the field held before (ECONNREFUSED on 1024 under load).
            self._follow()

    def run_now(self) -> None:
        self._refresh.run_now()

    def refresh_all(self) -> None:
        """Show both sides now (after a Reset)."""
        self._changed |= {SERVER, CLIENT}
        self._refresh.ask()
        self._refresh.run_now()

    def _refresh_panes(self) -> None:
        changed, self._changed = self._changed, set()
        if SERVER in changed:
            changed.add(CLIENT)  # the client's Run is lit once a server is up
        try:
            for side in changed:
                self._app.pane(side).refresh_state()
        except NoMatches:
            return  # the app is closing: its widgets are gone
        self._follow()

    def _follow(self) -> None:
        bound = self.view.bound
        if bound is not None and bound is not self._followed:
            previous, self._followed = self._followed, bound
            try:
                self._follow_server_port(bound, previous)
            except NoMatches:
                return  # the app is closing: its widgets are gone

    def _follow_server_port(self, bound: BoundPort, previous: BoundPort | None) -> None:
        """Let the client follow the server's port while it still points at it."""
        client, numbers = self._app.client_pane, self._app.numbers
        client_port = client.input("port").value.strip()
        # Follow while the learner has not typed a port of their own: the field
        # still holds its default, the port the server asked for, or the port a
        # previous bind gave.
        pointing = {str(numbers.port(bound.requested)), client.auto_port}
        if previous is not None:
            pointing.add(str(numbers.port(previous.port)))
        if client_port in pointing:
            client.set_port(bound.port)
            client.auto_port = client.input("port").value


class PortRecheck:
    """Port info looks again when a call may have changed what listens (paced)."""

    def __init__(self, app: SocklabApp) -> None:
        self._app = app
        self._recheck = Coalesced(app, self._recheck_all)

    def on_batch(self, batch: Batch) -> None:
        if batch.gap or any(event.op in _PORT_CHANGES and event.ok and event.phase == "done"
                            for event in batch.events):
            self._recheck.ask()

    def run_now(self) -> None:
        self._recheck.run_now()

    def _recheck_all(self) -> None:
        for info in self._app.query(PortInfoLine):
            info.recheck()
