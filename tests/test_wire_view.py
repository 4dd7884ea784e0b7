"""The wire on the lab screen: packet rows under the calls, ``p``, and the Wire tab."""

from __future__ import annotations

import subprocess

import pytest
from capture_helpers import as_nobody, capture_or_skip, readable_dir, welcome_capture
from helpers import no_traceback
from pilot import SIZE, is_, run_server, settle, watch
from rich.cells import cell_len
from textual import messages
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from socklab.capture import Capture
from socklab.capture.diagram import WireDiagram, arrow
from socklab.engine import Lab
from socklab.events import Event
from socklab.logmodel import LogBuffer
from socklab.ui.app import SocklabApp
from socklab.ui.wire_view import WireView


def _welcome_events() -> list[Event]:
    """Every event of a real welcome demo, with its captured segments."""
    with Lab() as lab:
        return welcome_capture(lab)[0]


def _texts(rows: list) -> list[str]:
    return ["".join(text for text, _ in row) for row in rows]


def test_p_hides_packet_rows_and_shows_them_where_they_were() -> None:
    capture_or_skip()
    events = _welcome_events()
    buffer = LogBuffer(cell_len)
    buffer.add_events(events[:8])
    shown = [row.event.seq for row in buffer.rows]
    assert not buffer.toggle_packets()
    assert all(row.event.op != "packet" for row in buffer.rows)
    buffer.add_events(events[8:])  # arriving while hidden: kept for later
    assert all(row.event.op != "packet" for row in buffer.rows)
    assert buffer.toggle_packets()
    assert [row.event.seq for row in buffer.rows][:len(shown)] == shown
    assert [row.event.seq for row in buffer.rows] == [e.seq for e in events]


def test_the_diagram_draws_the_welcome_exchange_at_every_width() -> None:
    capture_or_skip()
    diagram = WireDiagram()
    assert diagram.add(_welcome_events())
    wide = _texts(diagram.rows(100))
    assert "client[1]" in wide[1] and "server[1]" in wide[1]
    body = "\n".join(wide)
    assert "── SYN seq=0 ─" in body and "◀─" in body and "SYN/ACK seq=0 ack=1 ──│" in body
    assert " connect() │" in body and "│ accept()" in body and "│ send() → 40" in body
    arrows = [line for line in wide if "▶" in line or "◀" in line]
    assert len(arrows) == 8  # the 8 segments of the exchange, each one arrow
    for width in range(1, 130):
        rows = _texts(diagram.rows(width))
        assert len(rows) == len(wide)
        assert all(len(line) <= width for line in rows[2:]), width
    assert len(arrow("SYN", 40, True)) == 40 and arrow("x", 2, False) == "◀"


async def _wire_exchange(app: SocklabApp, pilot: Pilot) -> None:
    assert isinstance(await app.wire.started(), Capture)
    await run_server(app, pilot)
    app.client_pane.press("run")
    await watch(app).until(is_("client", "close"))
    await settle(app, pilot)


@pytest.mark.asyncio
async def test_the_lab_shows_packets_under_calls_and_the_wire_tab_survives_any_size() -> None:
    capture_or_skip()
    app = SocklabApp(packets=True)
    async with app.run_test(size=SIZE) as pilot:
        await _wire_exchange(app, pilot)
        rows = [row for row in app.event_log.buffer.rows if row.kind == 0]
        ops = [(row.event.op, row.event.side) for row in rows]
        connect = ops.index(("connect", "client"))
        # The handshake under the connect (another thread's call, such as the
        # server's accept wait, may be logged between two of its segments).
        packets = [row.event for row in rows[connect + 1:] if row.event.op == "packet"]
        assert [e.result["flags"] for e in packets[:3]] == [["SYN"], ["SYN", "ACK"], ["ACK"]], \
            "\n".join(f"{r.event.seq} {r.event.t:.6f} {r.event.side}[{r.event.conn}] "
                      f"{r.event.op} {r.event.phase} {r.event.result}" for r in rows)
        await pilot.press("l", "p")
        assert all(row.event.op != "packet" for row in app.event_log.buffer.rows)
        await pilot.press("p")
        assert any(row.event.op == "packet" for row in app.event_log.buffer.rows)
        app.query_one(TabbedContent).active = "wire"
        await settle(app, pilot)
        view = app.query_one(WireView)
        drawn = [strip.text for strip in (view.render_line(y) for y in range(view.size.height))]
        assert any("SYN seq=0" in line for line in drawn), drawn
        for width, height in ((1, 1), (2, 3), (20, 5), (80, 24), (200, 60)):
            await pilot.resize_terminal(width, height)
            await settle(app, pilot)
            for y in range(max(1, view.size.height)):
                assert view.render_line(y).cell_length == view.scrollable_content_region.width
        await pilot.press("left_square_bracket", "right_square_bracket")


#: The lab screen without CAP_NET_RAW, driven headless (run as nobody by the test).
_LAB_AS_NOBODY = """
import asyncio
from textual.widgets import TabbedContent
from socklab.capture import Inferred
from socklab.ui.app import SocklabApp
from socklab.ui.wire_view import WireView


async def until(app, pilot, seen):
    for _ in range(400):  # bounded: 400 pauses
        await pilot.pause(0.02)
        app.drain_now()
        if any(seen(e) for e in app.event_log.buffer.events()):
            return
    raise SystemExit("timed out waiting for the lab")


async def main():
    app = SocklabApp(packets=True)
    async with app.run_test(size=(100, 30)) as pilot:
        wire = await app.wire.started()
        assert isinstance(wire, Inferred), wire
        print(wire.reason)
        app.server_pane.input("port").value = "0"
        await pilot.pause()
        app.server_pane.press("run")
        await until(app, pilot, lambda e: e.op == "accept" and e.phase == "wait")
        app.client_pane.press("run")
        await until(app, pilot, lambda e: e.op == "close" and e.side == "client")
        await until(app, pilot, lambda e: e.op == "segments")
        ops = {e.op for e in app.event_log.buffer.events()}
        assert "segments" in ops and "packet" not in ops, ops
        await pilot.press("l", "p")
        app.query_one(TabbedContent).active = "wire"
        await pilot.resize_terminal(1, 1)
        await pilot.pause()
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        lines = [app.query_one(WireView).render_line(0).text]
        print("wire:", lines[0].strip())
    print("OK")


asyncio.run(main())
"""


def test_the_lab_as_nobody_says_how_to_capture_and_shows_inferred_rows() -> None:
    """No CAP_NET_RAW (nobody): the lab opens, says how to capture, shows what the
    TCP_INFO counters infer under the calls, and never crashes."""
    with readable_dir() as tmp_path:
        prefix, env = as_nobody(tmp_path, lab_screen=True)
        done = subprocess.run([*prefix, "-c", _LAB_AS_NOBODY], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    no_traceback(done.stderr)
    lines = done.stdout.splitlines()
    assert "CAP_NET_RAW" in lines[0] and "setcap" in lines[0]
    assert lines[-1] == "OK" and "No TCP segments captured" in done.stdout


async def test_a_hidden_wire_tab_is_drawn_when_shown_not_on_every_batch() -> None:
    # A hidden widget's refresh makes Textual map every widget of every tab
    # again at the next frame: under a flood that was every frame (figure 4).
    updates: list[messages.Update] = []

    def hook(message: Message) -> None:
        if isinstance(message, messages.Update) and isinstance(message.widget, WireView):
            updates.append(message)

    app = SocklabApp()
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(app, pilot)
        view = app.query_one(WireView)
        updates.clear()
        view.add_events([Event(seq=n, t=n / 10, side="client", conn=1, op="send", nbytes=5,
                               result=5) for n in range(1, 4)])
        await pilot.pause()
        assert updates == [] and view._rows == []
        app.query_one(TabbedContent).active = "wire"
        await settle(app, pilot)
        assert view._rows and view._rows == view.diagram.rows(view.scrollable_content_region.width)
