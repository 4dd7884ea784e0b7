"""Two-hosts mode on the lab screen (F7, the palette, ``socklab --two-hosts``).

The server pane lives on host A and the client pane on host B (socklab.hosts):
turning the mode on closes every socket (a socket cannot move between hosts),
brings the hosts up on a lab thread, and shows where each pane lives — in its
title, in the header, and in both host fields, which start at host A's
address so that Run server then Run client reach each other across the cable.
Every event then names its host (``server@A``, ``client[1]@B``), and both
panes' port info reads host A's tables.

`TwoHosts` is a part of the app (listed in socklab/ui/app.py): the app hands
it the session's switch, so this module never reaches the lab itself.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from ..events import CLIENT, SERVER
from ..hosts import HOST_A, HOST_B, why_unavailable
from ..hosts.cable import PRESETS
from ..inputs import LOOPBACK
from .cable_bar import PRESET_LABELS, CableBar
from .ports_view import PortsView

if TYPE_CHECKING:
    from .app import SocklabApp

#: The session's switch: two hosts on or off; returns the namespaces' names (None: off).
Switch = Callable[[bool], "dict[str, str] | None"]
SIDES = (SERVER, CLIENT)


class TwoHosts:
    """The app's two-hosts mode, a part of the lab screen: F7, the palette's command,
    the start-up switch, a lesson's ``do: lab two-hosts`` (through `LabControls`)."""

    def __init__(self, app: SocklabApp) -> None:
        self._app = app
        #: Two-hosts mode on: the namespaces of hosts A and B; None: one machine.
        self.names: dict[str, str] | None = None
        self._switch: Switch | None = None
        self._at_start = False
        #: ``socklab --two-hosts --cable …``: the cable the hosts start with (Conditions).
        self.cable_at_start: object = None

    @property
    def on(self) -> bool:
        return self.names is not None

    def ready(self, switch: Switch, start: bool = False, cable: object = None) -> None:
        """The session's switch (`run_app` hands it over; without it F7 does nothing);
        ``start``: turn two-hosts mode on once the screen is up; ``cable``: the Cable
        bar's conditions then."""
        self._switch = switch
        self._at_start = start
        self.cable_at_start = cable

    def mount(self) -> None:
        if self._at_start and self._switch is not None:
            self._app.run_worker(self.set(True), group="two-hosts")

    async def toggle(self) -> None:
        """Two hosts on or off: the server on host A, the client on host B."""
        await self.set(not self.on)

    async def set(self, on: bool) -> bool:
        """Two hosts on or off; True when it is so."""
        if self.on == on:
            return True
        if self._switch is None:
            return False
        return await self._turn(on, self._switch)

    def commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Two hosts (F7)", "server on host A, client on host B: two "
                            "network namespaces joined by a cable",
                            self._app.action_toggle_two_hosts)
        if self.names is None:
            return
        bar = self._app.query_one(CableBar)
        for slug, label in PRESET_LABELS.items():  # the Cable bar's presets, by keyboard
            if slug in PRESETS:
                yield SystemCommand(f"Cable: {label}", f"the cable between the hosts: "
                                    f"{PRESETS[slug].spec()}",
                                    lambda s=slug: bar.choose(s))

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

    async def _turn(self, on: bool, switch: Switch) -> bool:
        """Turn two-hosts mode on or off with ``switch`` (run in a thread); the learner
        is told why when it cannot be."""
        app = self._app
        why = why_unavailable() if on else None
        if why is not None:
            app.notify(why, severity="error", markup=False, timeout=10)
            return False
        if on:  # the fields first: a Run pressed meanwhile already aims across the cable
            for side in SIDES:
                app.pane(side).fill("host", HOST_A.address)
        try:
            names = await asyncio.to_thread(switch, on)
        except OSError as exc:
            app.notify(f"two hosts: {exc}", severity="error", markup=False, timeout=10)
            return False
        app.drain_now()
        self._show(names)
        return True

    def _show(self, names: dict[str, str] | None) -> None:
        """Where each pane lives, and host fields that reach across the cable."""
        app = self._app
        self.names = names
        for side, host in zip(SIDES, (HOST_A, HOST_B), strict=True):
            pane = app.pane(side)
            pane.border_title = pane.TITLE if names is None else \
                f"{pane.TITLE} · host {host.letter} {host.address}"
            pane.fill("host", LOOPBACK[pane.family] if names is None else HOST_A.address)
            # Both look where the server is: host A's ports, read inside its namespace.
            pane.look_in(None if names is None else names[HOST_A.letter])
            pane.refresh_state()
        app.query_one(PortsView).set_hosts(names)  # the Ports tab scans from the hosts too
        app.query_one(CableBar).set_hosts(names)  # the cable between them: shown, kept
        app.sub_title = "" if names is None else (
            f"two hosts · server on A {HOST_A.address} ({names['A']}) ⇄ "
            f"client on B {HOST_B.address} ({names['B']})")
        app.notify(("Two hosts: the server is on host A, the client on host B; "
                    "try 127.0.0.1 in either host field") if names else "One machine again",
                   markup=False)
