"""Two-hosts mode on the lab screen (F7, the palette, ``socklab --two-hosts``).

The server pane lives on host A and the client pane on host B (socklab.hosts):
turning the mode on closes every socket (a socket cannot move between hosts),
brings the hosts up on a lab thread, and shows where each pane lives — in its
title, in the header, and in both host fields, which start at host A's
address so that Run server then Run client reach each other across the cable.
Every event then names its host (``server@A``, ``client[1]@B``), and both
panes' port info reads host A's tables.

`TwoHostsMode` is mixed into the app (as the lessons' host is): the app hands
it the session's switch, so this module never reaches the lab itself.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from ..hosts import HOST_A, HOST_B, why_unavailable
from ..inputs import LOOPBACK
from .cable_bar import CableBar
from .port_info import PortInfo
from .ports_view import PortsView

if TYPE_CHECKING:
    from .app import SocklabApp

#: The session's switch: two hosts on or off; returns the namespaces' names (None: off).
Switch = Callable[[bool], "dict[str, str] | None"]


class TwoHostsMode:
    """The app's two-hosts mode: F7, the palette's command, the start-up switch."""

    #: Open in two-hosts mode (``socklab --two-hosts``).
    two_hosts_at_start = False
    #: Two-hosts mode on: the namespaces of hosts A and B; None: one machine.
    hosts_names: dict[str, str] | None = None
    _hosts_switch: Switch | None = None
    #: ``socklab --two-hosts --cable …``: the cable the hosts start with (Conditions).
    cable_at_start: object = None

    def hosts_ready(self, switch: Switch, start: bool = False, cable: object = None) -> None:
        """The session's switch (the app hands it over); ``start``: turn two-hosts
        mode on once the screen is up; ``cable``: the Cable bar's conditions then."""
        self._hosts_switch = switch
        self.two_hosts_at_start = start
        self.cable_at_start = cable

    def on_mount(self) -> None:  # Textual calls each class's handler (the app's too)
        self.bind("f7", "toggle_two_hosts", description="Two hosts", show=False)  # type: ignore
        if self.two_hosts_at_start and self._hosts_switch is not None:
            self.run_worker(turn(self, True, self._hosts_switch),  # type: ignore
                            group="two-hosts")

    async def action_toggle_two_hosts(self) -> None:
        """Two hosts on or off: the server on host A, the client on host B."""
        if self._hosts_switch is not None:
            await turn(self, self.hosts_names is None, self._hosts_switch)  # type: ignore

    async def set_two_hosts(self, on: bool) -> bool:
        """Two hosts on or off (a lesson's ``do: lab two-hosts``); True when it is so."""
        if (self.hosts_names is not None) == on:
            return True
        if self._hosts_switch is None:
            return False
        return await turn(self, on, self._hosts_switch)  # type: ignore[arg-type]

    def two_hosts_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Two hosts (F7)", "server on host A, client on host B: two "
                            "network namespaces joined by a cable",
                            self.action_toggle_two_hosts)

    @staticmethod
    def can_start() -> bool:
        """Before ``socklab --two-hosts`` opens: one line and False where it cannot run;
        else leftovers of killed runs are removed and stop signals remove the hosts."""
        from ..hosts.cleanup import remove_on_signals, remove_stale
        why = why_unavailable()
        if why is not None:
            print(f"socklab: {why}", file=sys.stderr)
            return False
        remove_stale()
        remove_on_signals()
        return True


async def turn(app: SocklabApp, on: bool, switch: Switch) -> bool:
    """Turn two-hosts mode on or off with ``switch`` (run in a thread); the learner
    is told why when it cannot be."""
    why = why_unavailable() if on else None
    if why is not None:
        app.notify(why, severity="error", markup=False, timeout=10)
        return False
    if on:  # the fields first: a Run pressed meanwhile already aims across the cable
        for pane in (app.server_pane, app.client_pane):
            pane.input("host").value = HOST_A.address
    try:
        names = await asyncio.to_thread(switch, on)
    except OSError as exc:
        app.notify(f"two hosts: {exc}", severity="error", markup=False, timeout=10)
        return False
    app.drain_now()
    show(app, names)
    return True


def show(app: SocklabApp, names: dict[str, str] | None) -> None:
    """Where each pane lives, and host fields that reach across the cable."""
    app.hosts_names = names
    for pane, host in ((app.server_pane, HOST_A), (app.client_pane, HOST_B)):
        pane.border_title = pane.TITLE if names is None else \
            f"{pane.TITLE} · host {host.letter} {host.address}"
        pane.input("host").value = LOOPBACK[pane.family] if names is None else HOST_A.address
        # Both look where the server is: host A's ports, read inside its namespace.
        info = pane.query_one(PortInfo)
        info.namespace = None if names is None else names[HOST_A.letter]
        info.recheck()
        pane.refresh_state()
    app.query_one(PortsView).set_hosts(names)  # the Ports tab scans from the hosts too
    app.query_one(CableBar).set_hosts(names)  # the cable between them: shown, kept
    app.sub_title = "" if names is None else (
        f"two hosts · server on A {HOST_A.address} ({names['A']}) ⇄ "
        f"client on B {HOST_B.address} ({names['B']})")
    app.notify(("Two hosts: the server is on host A, the client on host B; "
                "try 127.0.0.1 in either host field") if names else "One machine again",
               markup=False)
