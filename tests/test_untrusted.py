"""Bytes from the network are untrusted: they reach no terminal, markup or action.

A peer (a plain Python socket, not the lab) sends terminal escapes (ESC, CSI,
OSC 8 hyperlinks), the C1 control CSI both as a raw byte and as UTF-8, a bidi
override (U+202E), NUL and BEL, and Rich/Textual markup (``[bold]``,
``[@click=app.quit]``, an unbalanced ``[/bold]``).  Wherever the lab shows
them — the event's ``data``, its JSON line, the command's human output, the
lab screen's rendered lines and its SVG export — they arrive as visible
escapes or literal text, and nothing they say is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import threading
import unicodedata
from collections.abc import Iterator

import pytest
from helpers import LIMIT, REPO, Recorder, cli_command, cli_env, no_traceback, start_cli

from socklab.engine import Lab
from socklab.events import DATA_CAP, DONE, Event, escape_bytes
from socklab.logformat import format_line, hex_dump
from socklab.modes import MAX_REQUEST, Service, http_response

#: Everything a hostile peer might send to a terminal program.
HOSTILE = (
    b"\x1b[31mred\x1b[0m "  # SGR colour
    b"\x1b]8;;https://example.invalid/\x1b\\link\x1b]8;;\x1b\\ "  # OSC 8 hyperlink
    b"\x1b[2J\x1b[H "  # clear screen, cursor home
    b"\x9b2J "  # C1 CSI as a raw byte (invalid UTF-8)
    b"\xc2\x9b31m "  # C1 CSI as UTF-8
    b"\xe2\x80\xaeevil\xe2\x80\xac "  # RIGHT-TO-LEFT OVERRIDE … POP DIRECTIONAL FORMATTING
    b"[bold]bold[/bold] [@click=app.quit]quit[/] [/bold] [link=https://x.invalid]l[/link] "
    b"\x07\x00\x08\x7f\r\n"
)
#: What the escaped text of HOSTILE must contain, literally.
SHOWN = [
    "\\x1b[31mred", "\\x1b]8;;https://example.invalid/\\x1b\\\\link", "\\x9b2J", "\\x9b31m",
    "\\u202eevil\\u202c", "[bold]bold[/bold]", "[@click=app.quit]quit[/]", "[/bold]",
    "\\x07\\x00\\x08\\x7f\\r\\n",
]
#: Raw characters that must never be in anything shown (as text).
RAW_CHARS = ["\x1b", "\x9b", "\u202e", "\u202c", "\x07", "\x00", "\x08", "\x7f", "\r"]
#: Raw bytes that must never be in a program's output (as bytes).
RAW_BYTES = [b"\x1b", b"\x9b", b"\xc2\x9b", b"\xe2\x80\xae", b"\x07", b"\x00", b"\x08", b"\x7f"]
_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def assert_safe_text(text: str, allow_newlines: bool = False) -> None:
    """No character a terminal would act on (newlines only between log lines)."""
    bad = [ch for ch in text if unicodedata.category(ch) in _UNSAFE
           and not (allow_newlines and ch == "\n")]
    assert not bad, f"raw control/format characters shown: {[hex(ord(c)) for c in bad]}"


def assert_safe_bytes(output: bytes) -> None:
    for raw in RAW_BYTES:
        assert raw not in output, f"raw {raw!r} reached the output"


def assert_shows_hostile(text: str) -> None:
    for shown in SHOWN:
        assert shown in text, (shown, text)


class HostilePeer:
    """A plain-socket TCP server on loopback that sends ``payload`` to every
    client and closes (the client half is whatever is being tested).

    It serves whoever connects until it is closed, so a stranger (a port scan
    running elsewhere on this shared machine) cannot use up its turn.
    """

    def __init__(self, payload: bytes = HOSTILE) -> None:
        self.payload = payload
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            with conn:
                conn.settimeout(LIMIT)
                try:
                    conn.sendall(self.payload)
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass  # a client that left early

    def close(self) -> None:
        self.closing.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self.thread.join(LIMIT)
        self.listener.close()


@pytest.fixture
def hostile_peer() -> Iterator[HostilePeer]:
    peer = HostilePeer()
    try:
        yield peer
    finally:
        peer.close()


# -- the escaping itself -----------------------------------------------------------------


def test_escape_bytes_shows_every_hostile_character_visibly() -> None:
    text = escape_bytes(HOSTILE)
    assert_safe_text(text)
    assert_shows_hostile(text)
    assert "\\x1b" in text and "\\u202e" in text


@pytest.mark.parametrize(("raw", "shown"), [
    (b"\x1b", "\\x1b"), (b"\x9b", "\\x9b"), (b"\xc2\x9b", "\\x9b"), (b"\xc2\x85", "\\x85"),
    ("\u202e".encode(), "\\u202e"), ("\u2028".encode(), "\\u2028"),
    ("\u200b".encode(), "\\u200b"), ("\ufeff".encode(), "\\ufeff"),
    ("\U000e0001".encode(), "\\U000e0001"), (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),
    (b"\\", "\\\\"), (b"caf\xc3\xa9 \xe2\x9c\x93", "café ✓"),
])
def test_escape_bytes_cases(raw: bytes, shown: str) -> None:
    assert escape_bytes(raw) == shown


def test_payload_shown_is_capped_with_the_rest_counted() -> None:
    big = HOSTILE * 40
    text = escape_bytes(big)
    assert text.endswith(f"… +{len(big) - DATA_CAP} bytes")
    assert_safe_text(text)


def test_hex_view_of_hostile_bytes_is_plain_ascii() -> None:
    for line in hex_dump(HOSTILE):
        assert line.isascii() and line.isprintable(), line


# -- end to end through the engine -------------------------------------------------------------


def _received(rec: Recorder, side: str) -> list[Event]:
    return [e for e in rec.done() if e.side == side and e.op in ("recv", "recvfrom")
            and e.ok and e.nbytes]


def _assert_event_safe(event: Event) -> None:
    assert event.data is not None
    assert_safe_text(event.data)
    line = event.to_json()
    assert line.isascii() and "\\u001b" not in line.replace("\\\\u001b", "")
    assert_safe_text(line)
    assert_safe_text(format_line(event), allow_newlines=True)


def test_engine_client_receives_hostile_bytes_escaped(lab: Lab, rec: Recorder,
                                                      hostile_peer: HostilePeer) -> None:
    client = lab.client()
    client.socket()
    assert client.connect("127.0.0.1", hostile_peer.port).ok
    got = b""
    for _ in range(100):
        received = client.recv(65536, timeout=LIMIT)
        assert received.ok
        if received.eof:
            break
        got += received.data
    assert got == HOSTILE  # the bytes themselves are untouched
    received = _received(rec, "client")
    for event in received:
        _assert_event_safe(event)
    assert_shows_hostile("".join(e.data or "" for e in received))
    assert received[0].raw == HOSTILE[: len(received[0].raw or b"")]  # hex view keeps bytes
    client.close()


def test_engine_echo_server_receives_and_sends_hostile_bytes_escaped(
    lab: Lab, rec: Recorder
) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    service = Service(lab, server, "echo").start()
    with socket.create_connection(server.local, timeout=LIMIT) as peer:
        ours = peer.getsockname()
        peer.sendall(HOSTILE)
        peer.shutdown(socket.SHUT_WR)
        echoed = b""
        while chunk := peer.recv(65536):
            echoed += chunk
    assert echoed == HOSTILE
    conn = rec.wait_for(lambda e: e.op == "accept" and e.ok and e.result == ours).conn
    rec.wait_for(lambda e: e.op == "close" and e.conn == conn, what="our connection closed")
    assert not service.failed
    shown = [e for e in rec.done() if e.conn == conn and e.op in ("recv", "send") and e.nbytes]
    assert {e.op for e in shown} == {"recv", "send"}
    for event in shown:
        _assert_event_safe(event)
        assert_shows_hostile(event.data or "")


def test_big_hostile_payload_is_capped_in_the_event(lab: Lab, rec: Recorder) -> None:
    payload = HOSTILE * 64
    peer = HostilePeer(payload)
    try:
        client = lab.client()
        client.socket()
        client.connect("127.0.0.1", peer.port)
        total = 0
        for _ in range(1000):
            received = client.recv(len(payload), timeout=LIMIT)
            event = received.event
            assert event is not None and event.ok
            if received.eof:
                break
            total += event.nbytes or 0
            assert event.data is not None
            if (event.nbytes or 0) > DATA_CAP:
                assert event.data.endswith(f"… +{event.nbytes - DATA_CAP} bytes")
            _assert_event_safe(event)
        assert total == len(payload)
        client.close()
    finally:
        peer.close()


@pytest.mark.parametrize("request_bytes", [
    b"GET /\x1b[2J\x9b HTTP/1.0\r\n\r\n",
    b"\x00\xff\xfe[@click=app.quit]\r\n\r\n",
    b"GET / HTTP/1.0" + b"A" * 70000,
    b"\r\n\r\n",
], ids=["escapes-in-path", "binary-and-markup", "70000-byte-line", "empty-request"])
def test_http_server_answers_garbage_and_keeps_serving(lab: Lab, rec: Recorder,
                                                       request_bytes: bytes) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    service = Service(lab, server, "http").start()
    oversized = len(request_bytes) > MAX_REQUEST
    for request in (request_bytes, b"GET /romeo.txt HTTP/1.0\r\n\r\n"):
        reply = b""
        with socket.create_connection(server.local, timeout=LIMIT) as peer:
            try:
                peer.sendall(request)
                peer.shutdown(socket.SHUT_WR)
                while chunk := peer.recv(65536):
                    reply += chunk
            except ConnectionResetError:
                # the server stops reading at MAX_REQUEST and closes: the unread
                # rest makes its kernel send RST, which may cut the answer short
                assert oversized and request is request_bytes
        assert reply.startswith(b"HTTP/1.0 ") or (oversized and request is request_bytes), reply
        assert_safe_bytes(reply)  # never echoes the request back raw
    assert b"But soft what light" in reply
    assert not service.failed
    for event in rec.done():
        if event.data:
            _assert_event_safe(event)


def test_http_response_never_reflects_the_request() -> None:
    answer = http_response(b"GET /\x1b]8;;x\x07 HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 404") and b"\x1b" not in answer


# -- end to end through the command ---------------------------------------------------------------


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["human", "json"])
def test_cli_connect_output_has_no_raw_control_bytes(hostile_peer: HostilePeer,
                                                     json_flag: list[str]) -> None:
    done = subprocess.run(
        cli_command("connect", "127.0.0.1", str(hostile_peer.port), "--idle", "2", *json_flag),
        capture_output=True, env=cli_env(), cwd=REPO, timeout=LIMIT * 2, check=False,
    )
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr.decode("utf-8", "replace"))
    assert_safe_bytes(done.stdout)
    assert_safe_bytes(done.stderr)
    text = done.stdout.decode("utf-8")
    assert_safe_text(text, allow_newlines=True)
    if json_flag:
        import json

        shown = "".join(json.loads(line)["data"] or "" for line in text.splitlines())
    else:
        shown = text
    assert "[bold]bold[/bold]" in shown and "[@click=app.quit]" in shown
    assert "\\x1b[31mred" in shown and "\\x9b2J" in shown and "\\u202eevil" in shown


def test_cli_serve_echo_shows_what_a_hostile_client_sent_escaped() -> None:
    # stopped with Ctrl-C rather than --count: a port scan elsewhere on this
    # machine could use up a count
    live = start_cli("serve", "--port", "0", "--mode", "echo", "--json")
    try:
        bound = live.wait_event(lambda e: e["op"] == "listen")
        port = bound["result"][1]
        with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as peer:
            peer.sendall(HOSTILE)
            peer.shutdown(socket.SHUT_WR)
            echoed = b""
            while chunk := peer.recv(65536):
                echoed += chunk
        assert echoed == HOSTILE
        live.proc.send_signal(signal.SIGINT)
        status, out, err = live.finish()
    finally:
        live.stop()
    assert status == 0, err
    no_traceback(err)
    assert_safe_text(out, allow_newlines=True)
    assert_safe_text(err, allow_newlines=True)
    assert "[@click=app.quit]" in out and "\\\\x1b[31mred" in out  # JSON-escaped backslash


# -- end to end through the lab screen ------------------------------------------------------------

SIZE = (360, 48)  # wide enough that the whole hostile recv line is on screen


def _screen_text(app: object) -> str:
    """What the event log widget renders right now, line by line."""
    from socklab.ui.app import SocklabApp

    assert isinstance(app, SocklabApp)
    log = app.event_log
    lines = []
    for y in range(log.size.height):
        strip = log.render_line(y)
        lines.append("".join(segment.text for segment in strip))
        for segment in strip:
            style = segment.style
            if style is not None:
                assert not style.meta, f"a log segment carries actions: {style.meta}"
                assert style.link is None, f"a log segment is a link: {style.link}"
    return "\n".join(lines)


async def _until(app: object, predicate: object, rec: Recorder, what: str) -> Event:
    """Wait (without sleeping) for a lab event, then let the app take it."""
    event = await asyncio.to_thread(rec.wait_for, predicate, LIMIT, what)  # type: ignore[arg-type]
    return event


async def test_lab_screen_client_run_against_a_hostile_server(
    hostile_peer: HostilePeer,
) -> None:
    from socklab.ui.app import SocklabApp

    app = SocklabApp()
    rec = Recorder()
    app.lab.subscribe(rec)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.client_pane
        pane.input("host").value = "127.0.0.1"
        pane.input("port").value = str(hostile_peer.port)
        await pilot.pause()
        assert await pilot.click("#client-run"), "the click missed"
        await _until(app, lambda e: e.side == "client" and e.op == "close" and e.phase == DONE,
                     rec, "the client's close")
        await app.workers.wait_for_complete()
        app.drain_now()
        await pilot.pause()
        received = [e for e in app.event_log.buffer.events()
                    if e.op == "recv" and e.phase == DONE and e.nbytes]
        assert received and "".join(e.data or "" for e in received).startswith("\\x1b[31m")
        shown = _screen_text(app)
        assert_safe_text(shown, allow_newlines=True)
        assert "\\x1b[31mred" in shown
        # The whole payload (past the pane's width in the log): literal and safe
        # in the detail view (d), as decoded text and as Python's repr.
        from textual.widgets import Static

        log = app.event_log
        log.focus()
        log.move_cursor(next(i for i, r in enumerate(log.buffer.rows)
                             if r.event.seq == received[0].seq))
        await pilot.press("d")
        await pilot.pause()
        for view in ("text", "repr"):
            detail = str(app.screen.query_one(f"#payload-{view}", Static).render())
            assert_safe_text(detail, allow_newlines=True)
        assert "[@click=app.quit]quit[/]" in detail and "\\x1b[31mred" in detail
        assert "[bold]bold[/bold]" in detail
        assert_safe_text(app.export_screenshot(), allow_newlines=True)
        await pilot.press("escape")
        await pilot.pause()
        svg = app.export_screenshot()
        assert_safe_text(svg, allow_newlines=True)
        for raw in RAW_CHARS:
            assert raw not in svg
        # the markup did nothing: the app runs on, and another call still works
        assert app.is_running and app.return_value is None
        pane.press("socket")
        await _until(app, lambda e: e.side == "client" and e.op == "socket"
                     and e.seq > received[-1].seq, rec, "a new socket()")
        await app.workers.wait_for_complete()
        assert app.is_running
    assert app.return_value is None
    assert app.lab.open_sockets == 0


async def test_lab_screen_echo_server_shows_hostile_bytes_and_clicks_do_nothing() -> None:
    from socklab.ui.app import SocklabApp

    app = SocklabApp()
    rec = Recorder()
    app.lab.subscribe(rec)
    async with app.run_test(size=SIZE) as pilot:
        server = app.server_pane
        server.input("port").value = "0"
        server.query_one("#server-mode").value = "echo"  # type: ignore[attr-defined]
        await pilot.pause()
        assert await pilot.click("#server-run"), "the click missed"
        listen = await _until(app, lambda e: e.op == "listen" and e.ok, rec, "listen")
        port = listen.result[1]

        def hostile_client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as peer:
                peer.sendall(HOSTILE)
                peer.shutdown(socket.SHUT_WR)
                echoed = b""
                while chunk := peer.recv(65536):
                    echoed += chunk
                return echoed

        assert await asyncio.to_thread(hostile_client) == HOSTILE
        received = await _until(app, lambda e: e.side == "server" and e.op == "recv"
                                and "[@click=app.quit]" in (e.data or ""), rec, "our bytes")
        await _until(app, lambda e: e.op == "close" and e.conn == received.conn,
                     rec, "the server closing our connection")
        app.drain_now()
        await pilot.pause()
        shown = _screen_text(app)
        assert_safe_text(shown, allow_newlines=True)
        assert "[@click=app.quit]" in shown
        # click right on the markup-looking text in the log: nothing happens
        log = app.event_log
        lines = shown.split("\n")
        y = next(i for i, line in enumerate(lines) if "[@click=app.quit]" in line)
        x = lines[y].index("[@click=app.quit]") + 3
        dx = log.content_region.x - log.region.x
        dy = log.content_region.y - log.region.y
        assert await pilot.click("#log", offset=(x + dx, y + dy)), "the click missed"
        await pilot.pause()
        assert app.is_running and app.return_value is None
        svg = app.export_screenshot()
        for raw in RAW_CHARS:
            assert raw not in svg
        assert_safe_text(svg, allow_newlines=True)
    assert app.return_value is None
    assert app.lab.open_sockets == 0
