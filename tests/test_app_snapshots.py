"""SVG snapshots of the lab's key states (pytest-textual-snapshot).

How these pictures stay the same from run to run, while every call is real:

* Time: the app takes an injectable clock, passed to the engine's event bus.
  `TickClock` advances a fixed step per reading, so ``+t`` depends only on how
  many events came before.
* Which events happen: the exchange is driven one call at a time, waiting for
  each to finish, in an order where nothing has to wait (the server sends and
  closes before the client receives).  The one call that always waits is a
  non-blocking TCP connect (the kernel answers EINPROGRESS), so its "waiting"
  line is stable too.
* Kernel-chosen numbers: the server binds port 0 (never a fixed port) and the
  client's ephemeral port is the kernel's choice, both different on every run.
  The app's display-numbers hook (`StableNumbers`, identity in the real app)
  shows them as 40001, 40002… and descriptors as 3, 4… in order of first
  appearance, and maps a displayed port typed into a field back to the real
  one.  Nothing is hidden and every call still goes to the real port; only the
  digits on screen are stable.
* The kernel's view is off here: when the kernel moves a connection from
  FIN_WAIT1 to FIN_WAIT2 is its business, not the screen's, so state events
  would land between the calls at different places from run to run.  The
  states, the queue gauge and the connection rows are tested on the live app
  in test_kernel_app.py, and shown in screenshots/lab-backlog.svg.
"""

from __future__ import annotations

import socket

import pytest
from pilot import settle
from stable_numbers import StableNumbers
from textual.pilot import Pilot
from textual.widgets import Select

from socklab import ports
from socklab.ui import port_info
from socklab.ui.app import SocklabApp


@pytest.fixture(autouse=True)
def same_machine_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The port-info line reads this machine: its ephemeral range and whether
    something listens on the shown ports.  Pinned here (as the clock is), so
    the pictures do not depend on the machine or on what else runs on it."""
    pinned = ports.EphemeralRange(32768, 60999, ports.LOCAL_PORT_RANGE)
    monkeypatch.setattr(ports, "ephemeral_range", lambda: pinned)
    monkeypatch.setattr(port_info, "listening", lambda port, proto="tcp": False)


class TickClock:
    """A clock that moves 12.5 ms per reading: deterministic ``+t`` columns."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.0125
        return self.now


def make_app() -> SocklabApp:
    app = SocklabApp(clock=TickClock(), numbers=StableNumbers())
    app.session.kernel.stop()  # see the module's docstring: calls only
    return app


async def step(app: SocklabApp, pilot: Pilot, side: str, *ops: str) -> None:
    pane = app.server_pane if side == "server" else app.client_pane
    for op in ops:
        pane.press(op)
        await settle(app, pilot)


async def welcome_exchange(pilot: Pilot) -> None:
    """The lecture's welcome demo, one call at a time."""
    app = pilot.app
    app.query_one("#server-mode", Select).value = "manual"
    app.server_pane.input("port").value = "0"
    await settle(app, pilot)
    await step(app, pilot, "server", "socket", "bind", "listen")
    await step(app, pilot, "client", "socket", "connect")
    await step(app, pilot, "server", "accept", "send", "close")
    await step(app, pilot, "client", "recv", "recv", "close")
    app.event_log.focus()
    await settle(app, pilot)


async def just_settle(pilot: Pilot) -> None:
    await settle(pilot.app, pilot)


def test_fresh(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=just_settle)


def test_after_the_welcome_exchange(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=welcome_exchange)


def test_error_with_its_lesson(snap_compare) -> None:
    async def accept_before_listen(pilot: Pilot) -> None:
        app = pilot.app
        await settle(app, pilot)
        await step(app, pilot, "server", "socket", "accept")

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=accept_before_listen)


def test_datagram_mode(snap_compare) -> None:
    async def udp_exchange(pilot: Pilot) -> None:
        app = pilot.app
        for side in ("server", "client"):
            app.query_one(f"#{side}-type", Select).value = socket.SOCK_DGRAM
        app.server_pane.input("port").value = "0"
        app.client_pane.input("message").value = "hello over UDP"
        await settle(app, pilot)
        await step(app, pilot, "server", "socket", "bind")
        await step(app, pilot, "client", "socket", "send")
        await step(app, pilot, "server", "recv", "send")
        await step(app, pilot, "client", "recv", "close")
        await step(app, pilot, "server", "listen")  # EOPNOTSUPP: the lesson on UDP

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=udp_exchange)


def test_small_terminal(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=welcome_exchange)


def test_a_lesson_at_80x24(snap_compare) -> None:
    """A lesson open in a small terminal: the panel is a drawer under the panes, the
    step's instruction, its check and Back / Next in view (issue 22)."""
    async def open_backlog(pilot: Pilot) -> None:
        app = pilot.app
        await app.lessons.start("backlog")
        await settle(app, pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=open_backlog)
