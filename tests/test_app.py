"""The lab screen, driven with Pilot over real loopback sockets.

Every test binds port 0 (the kernel picks a free port; the client follows the
server's bound port) and waits for what it needs instead of sleeping: for the
session's calls to end (`settle`) or for an event to reach the screen (`Watch`,
a subscriber of the app's bridge).  A generous guard only ends a hang.  The
app's lab is closed when the app exits, and ResourceWarning is an error
(pyproject), so a leaked socket fails the test.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from pilot import SIZE, click, is_, run_server, settle, until, watch
from textual.pilot import Pilot
from textual.widgets import Select

from socklab.engine import GREETING
from socklab.events import Event
from socklab.ui.app import SocklabApp, run_app
from socklab.ui.event_log import MAIN


def done(app: SocklabApp) -> list[Event]:
    return [e for e in app.event_log.buffer.events() if e.phase == "done"]


def first(events: list[Event], side: str, op: str, **match: object) -> Event:
    for event in events:
        if event.side == side and event.op == op and all(
            getattr(event, k) == v for k, v in match.items()
        ):
            return event
    raise AssertionError(f"no {side} {op} {match} in {[(e.side, e.op) for e in events]}")


def set_select(app: SocklabApp, widget_id: str, value: int | str) -> None:
    app.query_one(f"#{widget_id}", Select).value = value


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


async def run_welcome(app: SocklabApp, pilot: Pilot) -> list[Event]:
    """Run the server (welcome mode), wait until it accepts, run the client."""
    await run_server(app, pilot)
    await click(pilot, "#client-run")
    await watch(app).until(is_("client", "close"))
    await settle(app, pilot)
    return done(app)


async def test_the_client_port_follows_a_bind_as_soon_as_it_is_shown() -> None:
    """The client's port field follows the server's bind in the batch that shows it,
    not at the panes' next paced redraw: a client Run pressed as soon as the bind is
    in the log (a script's keys; the wire view's test under load) connected to the
    field's old port, 1024, and was refused.  The socket's batch starts the panes'
    pause (0.25 s); the bind comes within it."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = watch(app)
        app.server_pane.input("port").value = "0"
        await settle(app, pilot)
        assert app.client_pane.input("port").value == "1024"
        app.server_pane.press("socket")
        await seen.until(is_("server", "socket"))
        app.server_pane.press("bind")
        await seen.until(is_("server", "bind"))
        bind = first(seen.events, "server", "bind")
        assert app.client_pane.input("port").value == str(bind.result[1])


async def test_welcome_exchange_over_tcp() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        events = await run_welcome(app, pilot)
        bind = first(events, "server", "bind")
        port = bind.result[1]
        assert bind.ok and port != 0
        assert app.client_pane.input("port").value == str(port)  # followed the server
        # (The client's connect and the server's accept both return once the
        # handshake is done: either may be reported first.  That connect
        # *begins* before its accept is the order test's, in test_app_session.)
        order = [
            first(events, "server", "socket"),
            bind,
            first(events, "server", "listen"),
            first(events, "client", "socket"),
            first(events, "server", "accept"),
            first(events, "server", "send"),
            first(events, "client", "recv", nbytes=len(GREETING)),
            first(events, "client", "recv", nbytes=0),
            first(events, "client", "close"),
        ]
        assert all(e.ok for e in order)
        assert [e.seq for e in order] == sorted(e.seq for e in order)
        greeting = first(events, "client", "recv", nbytes=len(GREETING))
        assert greeting.data == GREETING.decode()
        assert first(events, "server", "accept").result == \
            first(events, "client", "connect").result  # the peer is the client's address
        # The log shows the greeting as text on the recv line.
        shown = [r for r in app.event_log.buffer.rows if r.event is greeting]
        assert GREETING.decode() in "".join(p for p, _ in shown[0].parts)
    assert app.session.open_sockets == 0


async def test_welcome_exchange_over_udp() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        set_select(app, "server-type", socket.SOCK_DGRAM)
        set_select(app, "client-type", socket.SOCK_DGRAM)
        await pilot.pause()
        assert str(app.query_one("#client-send").label) == "sendto()"
        assert str(app.query_one("#server-recv").label) == "recvfrom()"
        events = await run_welcome(app, pilot)
        assert first(events, "server", "socket").args == ("AF_INET", "SOCK_DGRAM")
        sendto = first(events, "client", "sendto")
        received = first(events, "server", "recvfrom")
        reply = first(events, "server", "sendto")
        answer = first(events, "client", "recvfrom")
        assert sendto.seq < received.seq < reply.seq < answer.seq
        assert received.data == "hello"
        assert answer.data == GREETING.decode()
        assert not [e for e in events if e.op in ("listen", "accept", "connect")]
    assert app.session.open_sockets == 0


@pytest.mark.skipif(not ipv6_available(), reason="this machine cannot bind ::1")
async def test_welcome_exchange_over_ipv6() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        set_select(app, "server-family", socket.AF_INET6)
        set_select(app, "client-family", socket.AF_INET6)
        await pilot.pause()
        # The default host follows the family.
        assert app.server_pane.input("host").value == "::1"
        assert app.client_pane.input("host").value == "::1"
        events = await run_welcome(app, pilot)
        assert first(events, "server", "socket").args == ("AF_INET6", "SOCK_STREAM")
        assert first(events, "server", "bind").result[0] == "::1"
        assert first(events, "client", "recv", nbytes=len(GREETING)).data == GREETING.decode()
    assert app.session.open_sockets == 0


async def test_bad_port_never_reaches_the_engine() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        await click(pilot, "#server-socket")
        await settle(app, pilot)
        before = app.session.lab.bus._seq
        app.server_pane.input("port").value = "70000"
        await pilot.pause()
        error = app.query_one("#server-field-error")
        assert error.display and "out of range" in str(error.render())
        await click(pilot, "#server-bind")
        await click(pilot, "#server-run")
        await settle(app, pilot)
        assert app.session.lab.bus._seq == before  # no call was made
        messages = [n.message for n in app._notifications]
        assert any("port 70000 is out of range" in m for m in messages)
        # Fixing the field clears the error and the call goes through.
        app.server_pane.input("port").value = "0"
        await pilot.pause()
        assert not app.query_one("#server-field-error").display
        await click(pilot, "#server-bind")
        await settle(app, pilot)
        assert first(done(app), "server", "bind").ok


async def test_port_in_use_is_eaddrinuse_with_its_lesson() -> None:
    with socket.socket() as owner:
        owner.bind(("127.0.0.1", 0))
        owner.listen(1)
        taken = owner.getsockname()[1]
        app = SocklabApp()
        async with app.run_test(size=SIZE) as pilot:
            app.server_pane.input("port").value = str(taken)
            await click(pilot, "#server-run")
            await settle(app, pilot)
            bind = first(done(app), "server", "bind")
            assert not bind.ok and bind.error == "EADDRINUSE" and bind.errno == 98
            assert "already owns" in (bind.lesson or "")
            lines = ["".join(p for p, _ in r.parts) for r in app.event_log.buffer.rows]
            at = next(i for i, line in enumerate(lines) if "EADDRINUSE (98)" in line)
            assert lines[at + 1].strip().startswith("↳ EADDRINUSE:")
            assert not [e for e in done(app) if e.op == "listen"]  # Run stopped there


async def test_accept_before_listen_is_einval() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.input("port").value = "0"
        for button in ("#server-socket", "#server-bind", "#server-accept"):
            await click(pilot, button)
            await settle(app, pilot)
        accept = first(done(app), "server", "accept")
        assert not accept.ok and accept.error == "EINVAL" and accept.lesson
        ops = [e.op for e in done(app)]
        assert ops[:3] == ["socket", "bind", "accept"]


async def test_connect_to_nothing_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]  # bound, never listening: connect is refused
        app = SocklabApp()
        async with app.run_test(size=SIZE) as pilot:
            app.client_pane.input("port").value = str(free)
            await click(pilot, "#client-run")
            await settle(app, pilot)
            connect = first(done(app), "client", "connect")
            assert connect.error == "ECONNREFUSED" and connect.lesson


async def test_listen_on_a_datagram_socket_is_eopnotsupp() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        set_select(app, "server-type", socket.SOCK_DGRAM)
        app.server_pane.input("port").value = "0"
        await pilot.pause()
        for button in ("#server-socket", "#server-bind", "#server-listen"):
            await click(pilot, button)
            await settle(app, pilot)
        listen = first(done(app), "server", "listen")
        assert listen.error == "EOPNOTSUPP" and listen.lesson


HOSTILE = (
    b"\x1b[31mred\x1b[0m [bold]bold[/bold] [@click=app.quit]quit[/] "
    b"\x1b]8;;https://example.com\x07link\x1b]8;;\x07 \x9b2J \xe2\x80\xae"
)


async def test_peer_bytes_are_shown_escaped_and_never_run() -> None:
    """A peer sending terminal escapes and Rich/Textual markup: shown literally."""
    with socket.socket() as peer:
        peer.bind(("127.0.0.1", 0))
        peer.listen(1)

        def serve() -> None:
            conn, _ = peer.accept()
            with conn:
                conn.sendall(HOSTILE)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        app = SocklabApp()
        async with app.run_test(size=SIZE) as pilot:
            app.client_pane.input("port").value = str(peer.getsockname()[1])
            await click(pilot, "#client-run")
            await settle(app, pilot)
            thread.join(5)
            recv = first(done(app), "client", "recv", nbytes=len(HOSTILE))
            assert "\x1b" not in recv.data and "\x07" not in recv.data
            assert "\\x1b[31m" in recv.data and "[@click=app.quit]" in recv.data
            # Render every visible log line: plain text only, no link, no action.
            log = app.event_log
            row = next(r for r in log.buffer.rows if r.event is recv and r.kind == MAIN)
            line = "".join(p for p, _ in row.parts)
            assert "[bold]bold[/bold]" in line and "[@click=app.quit]" in line
            assert "\\x1b]8;;https://example.com\\x07" in line
            assert "\\x9b2J" in line and "\\u202e" in line
            log.scroll_to(x=line.index("[bold]"), animate=False, immediate=True)
            strips = [log.render_line(y) for y in range(log.size.height)]
            assert "[bold]bold[/bold]" in "".join(s.text for s in strips)
            for strip in strips:
                for segment in strip:
                    assert "\x1b" not in segment.text and "\x9b" not in segment.text
                    style = segment.style
                    assert style is None or (style.link is None and "@click" not in style.meta)
            assert app.is_running  # nothing quit the app
            # The hex view shows the raw bytes, as hex.
            app.event_log.cursor = next(i for i, r in enumerate(log.buffer.rows)
                                        if r.event is recv and r.kind == MAIN)
            await pilot.press("x")
            hexes = " ".join("".join(p for p, _ in r.parts) for r in log.buffer.rows)
            assert "1b 5b 33 31 6d" in hexes
    assert app.session.open_sockets == 0


async def test_connect_many_clients_fills_the_list() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.input("port").value = "0"
        set_select(app, "server-mode", "manual")
        await click(pilot, "#server-run")
        await settle(app, pilot)
        app.client_pane.input("count").value = "3"
        await click(pilot, "#client-connect-n")
        await settle(app, pilot)
        await watch(app).until(lambda e: is_("server", "accept")(e) and e.ok, count=3)
        await settle(app, pilot)
        connects = [e for e in done(app) if e.op == "connect"]
        assert len(connects) == 3 and all(e.ok for e in connects)
        assert len(app.session.server.connections) == 3
        assert len(app.session.clients) == 3
        # The newest connection is selected: send() on it reaches one client.
        await click(pilot, "#server-send")
        await settle(app, pilot)
        send = first(done(app), "server", "send")
        assert send.ok and send.conn == 3
    assert app.session.open_sockets == 0


async def test_reset_closes_every_socket() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.input("port").value = "0"
        await click(pilot, "#server-run")
        await settle(app, pilot)
        assert app.session.open_sockets == 1
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert app.session.open_sockets == 0
        assert any("Reset" in n.message for n in app._notifications)
        # The lab is usable again after a reset.
        await click(pilot, "#server-run")
        await settle(app, pilot)
        assert app.session.open_sockets == 1


async def test_save_log_as_text_and_json_lines(tmp_path: Path) -> None:
    app = SocklabApp(save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await run_welcome(app, pilot)
        app.event_log.focus()
        await pilot.press("s")
        await pilot.press("j")
        text = next(tmp_path.glob("socklab-log-*.txt")).read_text()
        lines = next(tmp_path.glob("socklab-log-*.jsonl")).read_text().splitlines()
        assert "bind((" in text and GREETING.decode() in text
        import json

        records = [json.loads(line) for line in lines]
        assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
        assert {"seq", "t", "side", "op", "phase", "args", "ok", "lesson"} <= records[0].keys()


async def test_family_switch_moves_only_the_default_host() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        set_select(app, "client-family", socket.AF_INET6)
        await pilot.pause()
        assert app.client_pane.input("host").value == "::1"
        app.client_pane.input("host").value = "localhost"
        set_select(app, "client-family", socket.AF_INET)
        await pilot.pause()
        assert app.client_pane.input("host").value == "localhost"


async def test_next_step_is_highlighted() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        assert app.query_one("#server-socket").has_class("-next")
        app.server_pane.input("port").value = "0"
        await click(pilot, "#server-socket")
        await settle(app, pilot)
        assert app.query_one("#server-bind").has_class("-next")
        assert not app.query_one("#server-socket").has_class("-next")
        await click(pilot, "#server-bind")
        await settle(app, pilot)
        assert app.query_one("#server-listen").has_class("-next")


async def test_command_palette_lists_the_lab_actions() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Run server", "Run client", "Reset the lab", "Save log as text",
                      "Projector theme", "Server: accept()", "Client: connect ×N"):
            assert title in titles


async def test_projector_theme_and_small_terminal() -> None:
    app = SocklabApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f8")
        assert app.theme == "projector"
        # Every call button is reachable at 80×24 (in the pane or by scrolling it).
        for pane in (app.server_pane, app.client_pane):
            assert pane.region.width >= 30
            for suffix, _ in pane.CALLS:
                button = app.query_one(f"#{pane.SIDE}-{suffix}")
                pane.scroll_to_widget(button, animate=False, immediate=True)
                await pilot.pause()
                assert button.region.height >= 1
        assert app.event_log.region.height >= 5


def test_unknown_theme_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(theme="no-such-theme") == 2
    assert "unknown theme" in capsys.readouterr().err


async def test_code_tab_follows_the_fields() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.server_pane.input("port").value = "5050"
        from socklab.ui.code_view import CodeView

        code = app.query_one(CodeView)
        # The field's Changed message reaches the app through its parents: on a
        # busy machine that takes more than one pause (bounded wait, no time asserted).
        await until(lambda: "5050" in (code.programs["server"] or ""),
                    "the Code tab showing the port typed")
        assert app.server_pane.input("port").value == "5050"
        await pilot.press("ctrl+r")  # still fine after a reset
        await settle(app, pilot)
