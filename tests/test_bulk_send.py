"""The client's bulk send (key b, the palette, a lesson's ``do: client send-bulk``):
one real send() of 1 MiB of numbered lines, made through the session's press table.

Across the two hosts' cable (issue 26's flow-control lesson) a receiver that does
not read closes its window: the send waits, and ends only after the receiver
reads.  Reset while it waits ends it, with no thread and no socket left.  On a
closed socket, or a datagram socket, it is the kernel's error with its explanation
(EBADF, EMSGSIZE).  In the app the key b and the palette's command make it.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from helpers import LIMIT, Recorder
from hosts_helpers import needs_hosts
from pilot import SIZE, is_, run_server

from socklab.events import CLIENT, SERVER, Event
from socklab.hosts.cable import parse
from socklab.hosts.cable_lab import set_cable
from socklab.hosts.pair import HOST_A
from socklab.labcalls import BULK_BYTES, Request, Settings
from socklab.session import LabSession, Pending
from socklab.ui.app import SocklabApp

TO_A = Settings(socket.AF_INET, socket.SOCK_STREAM, HOST_A.address, 0, b"", mode="manual",
                recv_size=65536)
#: How often the test's receiver reads at most before the send must have ended.
MOST_READS = 256


@pytest.fixture
def hosts() -> Iterator[tuple[LabSession, Recorder]]:
    """A session in two-hosts mode and a recorder of its events; the hosts removed."""
    lab, rec = LabSession(), Recorder()
    lab.subscribe(rec)
    try:
        lab.set_two_hosts(True)
        yield lab, rec
    finally:
        lab.close()
        lab.set_two_hosts(False)
    assert lab.open_sockets == 0


def ask(session: LabSession, side: str, call: str, settings: Settings,
        target: int | None = None) -> Pending:
    return session.request(Request(side, call, settings, target))


def bulk_waiting(session: LabSession, rec: Recorder) -> tuple[Settings, Event]:
    """A cable with 20 ms each way; a manual server on A that accepted a client on B
    and does not read; the client's bulk send.  The settings that reach the server,
    and the send's wait event."""
    set_cable(session.lab, parse("delay 20ms"))
    ask(session, "server", "run", TO_A)
    bound = rec.wait_for(lambda e: e.op == "bind" and e.phase == "done", what="the bind")
    assert bound.ok, bound
    to_server = replace(TO_A, port=bound.result[1])
    ask(session, "client", "socket", to_server)
    ask(session, "client", "connect", to_server)
    rec.wait_for(lambda e: e.op == "accept" and e.phase == "done" and e.conn == 1,
                 what="the accept")
    ask(session, "client", "send-bulk", to_server)
    return to_server, rec.wait_for(lambda e: e.op == "send" and e.phase == "wait",
                                   what="the send waiting")


def sends(rec: Recorder, phase: str) -> list[Event]:
    return [e for e in rec.snapshot() if e.op == "send" and e.side == "client"
            and e.phase == phase]


def queued(sock: socket.socket) -> int:
    """Bytes the receiver's kernel holds that recv() has not taken (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def stalled(session: LabSession) -> int:
    """Wait (bounded) until nothing more reaches the receiver: its window is closed.
    How many bytes it holds then."""
    conn = session.server.connections[1] if session.server else None
    assert conn is not None and conn.sock is not None
    last, same = -1, 0
    deadline = time.monotonic() + LIMIT
    while same < 5 and time.monotonic() < deadline:
        held = queued(conn.sock)
        same = same + 1 if held == last else 0
        last = held
        time.sleep(0.1)
    assert same >= 5, "the receiver's queue never stopped growing"
    return last


@needs_hosts
def test_a_bulk_send_waits_while_the_receiver_does_not_read(
        hosts: tuple[LabSession, Recorder]) -> None:
    session, rec = hosts
    to_server, waiting = bulk_waiting(session, rec)
    assert waiting.side == "client" and waiting.conn == 1
    held = stalled(session)
    assert 0 < held < BULK_BYTES
    assert sends(rec, "done") == [], "the send ended while nobody read"
    # The server reads: the window opens and the send goes on, to its end.
    reads = 0
    while not sends(rec, "done") and reads < MOST_READS:
        assert ask(session, "server", "recv", to_server, target=1).wait(LIMIT), \
            "a recv did not end"
        reads += 1
    done = sends(rec, "done")
    assert len(done) == 1 and done[0].ok and done[0].result == BULK_BYTES, done
    first_read = next(e for e in rec.done() if e.op == "recv" and e.side == "server")
    assert first_read.seq < done[0].seq and reads >= 1
    # Every byte arrives: what is left is read too (a flood of recvs is counted, not
    # an event each, so the engine's own count of bytes in says when all came).
    conn = session.server.connections[1] if session.server else None
    assert conn is not None
    while conn.bytes_in < BULK_BYTES and reads < 4 * MOST_READS:
        assert ask(session, "server", "recv", to_server, target=1).wait(LIMIT)
        reads += 1
    assert conn.bytes_in == BULK_BYTES
    assert done[0].data is not None and done[0].data.startswith(r"0000000\n0000001\n")
    assert done[0].nbytes == BULK_BYTES


@needs_hosts
def test_reset_ends_a_waiting_bulk_send_and_leaves_nothing(
        hosts: tuple[LabSession, Recorder]) -> None:
    session, rec = hosts
    bulk_waiting(session, rec)
    stalled(session)
    assert session.reset() == 3
    assert session.wait_idle(LIMIT), "the bulk send's thread did not end"
    assert session.open_sockets == 0
    ended = rec.wait_for(lambda e: e.op == "send" and e.phase == "done",
                         what="the send's end")
    assert not ended.ok and ended.lesson, ended
    assert not [t for t in threading.enumerate() if "bulk send" in t.name]


@pytest.mark.parametrize("kind, calls, op, error", [
    (socket.SOCK_STREAM, ("socket", "close", "send-bulk"), "send", "EBADF"),
    # A datagram socket: one sendto() of 1 MiB, which no datagram can carry.
    (socket.SOCK_DGRAM, ("socket", "send-bulk"), "sendto", "EMSGSIZE"),
], ids=["closed", "udp"])
def test_a_bulk_send_the_kernel_refuses_is_its_error_explained(
        kind: int, calls: tuple[str, ...], op: str, error: str) -> None:
    session = LabSession()
    rec = Recorder()
    session.subscribe(rec)
    try:
        loop = Settings(socket.AF_INET, kind, "127.0.0.1", 9, b"")
        for call in calls:
            assert ask(session, "client", call, loop).wait(LIMIT), f"{call} did not end"
        failed = rec.wait_for(lambda e: e.op == op and e.phase == "done")
        assert not failed.ok and failed.error == error and failed.lesson, failed
    finally:
        session.close()
    assert session.open_sockets == 0


async def test_b_and_the_palette_make_the_clients_bulk_send() -> None:
    """The key in the footer and the palette's command make the same call: on one
    machine the loopback's buffers take the whole megabyte at once."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Client: bulk send() 1 MiB (b)" in commands
        await pilot.pause()
        await pilot.pause()  # the footer drawn
        footer = "".join(str(k.render()) for k in app.screen.query("FooterKey"))
        assert "Bulk send" in footer
        app.server_pane.fill("mode", "manual")
        seen = await run_server(app, pilot)
        assert app.controls.press(CLIENT, "socket") and app.controls.press(CLIENT, "connect")
        await seen.until(is_(SERVER, "accept", conn=1))
        app.set_focus(None)
        await pilot.press("b")
        sent = await seen.until(is_(CLIENT, "send"))
        assert sent.ok and sent.result == BULK_BYTES and sent.conn == 1
        commands["Client: bulk send() 1 MiB (b)"].callback()
        await seen.until(is_(CLIENT, "send"), count=2)
        got = [e for e in seen.events if is_(CLIENT, "send")(e)]
        assert [e.result for e in got] == [BULK_BYTES, BULK_BYTES]
