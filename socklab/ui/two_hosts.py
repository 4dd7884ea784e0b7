"""Two-hosts mode on the lab screen (F7, the palette, ``socklab --two-hosts``).

The server pane lives on host A and the client pane on host B (socklab.hosts):
turning the mode on closes every socket (a socket cannot move between hosts),
brings the hosts up on a lab thread, and shows where each pane lives — in its
title, in the header, and in both host fields, which start at host A's
address so that Run server then Run client reach each other across the cable.
Every event then names its host (``server@A``, ``client[1]@B``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from ..hosts import HOST_A, HOST_B, why_unavailable
from ..inputs import LOOPBACK

if TYPE_CHECKING:
    from .app import SocklabApp


def header(app: SocklabApp) -> str:
    hosts = app.session.lab.hosts
    if hosts is None:
        return ""
    return (f"two hosts · server on A {HOST_A.address} ({hosts.names['A']}) ⇄ "
            f"client on B {HOST_B.address} ({hosts.names['B']})")


async def turn(app: SocklabApp, on: bool) -> bool:
    """Turn two-hosts mode on or off; the learner is told why when it cannot be."""
    why = why_unavailable() if on else None
    if why is not None:
        app.notify(why, severity="error", markup=False, timeout=10)
        return False
    try:
        await asyncio.to_thread(app.session.set_two_hosts, on)
    except OSError as exc:
        app.notify(f"two hosts: {exc}", severity="error", markup=False, timeout=10)
        return False
    app.drain_now()
    show(app, on)
    return True


def show(app: SocklabApp, on: bool) -> None:
    """Where each pane lives, and host fields that reach across the cable."""
    for pane, host in ((app.server_pane, HOST_A), (app.client_pane, HOST_B)):
        pane.border_title = f"{pane.TITLE} · host {host.letter} {host.address}" if on \
            else pane.TITLE
        pane.input("host").value = HOST_A.address if on else LOOPBACK[pane.family]
        pane.refresh_state()
    app.sub_title = header(app)
    app.notify(("Two hosts: the server is on host A, the client on host B; "
                "try 127.0.0.1 in either host field") if on else "One machine again",
               markup=False)


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
