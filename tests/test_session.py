"""The session behind the screen: pane requests become real calls on lab threads,
and every close the lab makes itself is a logged close().

No screen here: the tests hand `LabSession.request` what a pane would, and
read the events (real calls on loopback, port 0).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from helpers import LIMIT, Recorder

from socklab.events import Event
from socklab.labcalls import Request, Settings
from socklab.session import LabSession

STREAM = Settings(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", 0, b"hi")
DGRAM = Settings(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", 0, b"hi")


class ThreadRecorder(Recorder):
    """Events, and the thread each was reported on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def __call__(self, event: Event) -> None:
        self.threads.append(threading.current_thread().name)
        super().__call__(event)


@pytest.fixture
def session() -> Iterator[LabSession]:
    the_session = LabSession()
    try:
        yield the_session
    finally:
        the_session.close()
        assert the_session.open_sockets == 0


@pytest.fixture
def rec(session: LabSession) -> ThreadRecorder:
    recorder = ThreadRecorder()
    session.subscribe(recorder)
    return recorder


def ask(session: LabSession, side: str, *calls: str, settings: Settings = STREAM,
        target: int | None = None) -> None:
    """Make the calls one after another, as a learner pressing and waiting would."""
    for call in calls:
        session.request(Request(side, call, settings, target))
        assert session.wait_idle(LIMIT), f"{side} {call} did not end"


def server_ops(rec: Recorder) -> list[str]:
    return [e.op for e in rec.done() if e.side == "server" and e.conn is None]


def test_calls_run_on_lab_threads_never_the_callers(session: LabSession,
                                                    rec: ThreadRecorder) -> None:
    ask(session, "server", "socket", "bind", "listen")
    assert server_ops(rec) == ["socket", "bind", "listen"]
    caller = threading.current_thread().name
    assert rec.threads and caller not in rec.threads
    assert all(name.startswith("socklab-") for name in rec.threads)


def test_socket_pressed_twice_closes_the_first_as_the_lab(session: LabSession,
                                                          rec: Recorder) -> None:
    ask(session, "server", "socket", "socket")
    assert server_ops(rec) == ["socket", "close", "socket"]
    assert all(e.ok for e in rec.done())
    assert session.open_sockets == 1


def test_a_type_change_closes_the_open_socket(session: LabSession, rec: Recorder) -> None:
    ask(session, "server", "socket")
    ask(session, "server", "socket", settings=DGRAM)
    assert server_ops(rec) == ["socket", "close", "socket"]
    assert rec.done()[-1].args == ("AF_INET", "SOCK_DGRAM")
    assert session.open_sockets == 1


def test_run_server_again_closes_the_old_server_first(session: LabSession,
                                                      rec: Recorder) -> None:
    ask(session, "server", "run")
    rec.wait_for(lambda e: e.op == "accept" and e.phase == "wait")
    ask(session, "server", "run")
    ops = server_ops(rec)
    assert ops[:3] == ["socket", "bind", "listen"]
    again = ops.index("socket", 1)
    assert ops[3:again].count("close") == 1  # the old server, closed by the lab, before
    assert ops[again:again + 3] == ["socket", "bind", "listen"]
    assert all(e.ok for e in rec.done() if e.op in ("socket", "bind", "listen", "close"))
    assert session.open_sockets == 1


def test_reset_logs_a_close_for_every_open_socket(session: LabSession, rec: Recorder) -> None:
    ask(session, "server", "run", settings=replace(STREAM, mode="manual"))
    rec.wait_for(lambda e: e.op == "accept" and e.phase == "wait")
    port = next(e for e in rec.done() if e.op == "bind").result[1]
    to_server = replace(STREAM, port=port, count=2)
    ask(session, "client", "connect-n", settings=to_server)
    rec.wait_for(lambda e: e.op == "accept" and e.phase == "done" and e.conn == 2)
    assert session.open_sockets == 5
    assert session.reset() == 5
    closes = [e for e in rec.done() if e.op == "close" and e.ok]
    assert {(e.side, e.conn) for e in closes} == {
        ("server", None), ("server", 1), ("server", 2), ("client", 1), ("client", 2)}
    assert all(e.by == "lab" and e.lesson == "closed by the lab: Reset" for e in closes)
    assert session.open_sockets == 0
    # Numbering starts again (issue 12): the next server's connections are [1]...
    assert session.clients == {} and session.server is None
    # The lab is usable again.
    ask(session, "server", "socket")
    assert session.open_sockets == 1
    assert session.server is not None and session.server.connections == {}
    ask(session, "client", "socket", settings=to_server)
    assert rec.wait_for(lambda e: e.op == "socket" and e.side == "client"
                        and e.seq > closes[-1].seq).conn == 1


def test_quit_closes_everything_once(session: LabSession, rec: Recorder) -> None:
    ask(session, "client", "socket")
    ask(session, "server", "socket")
    session.close()
    session.close()
    closes = [e for e in rec.done() if e.op == "close"]
    assert len(closes) == 2 and all(e.ok for e in closes)
    assert session.open_sockets == 0


def test_client_calls_act_on_the_chosen_client(session: LabSession, rec: Recorder) -> None:
    ask(session, "client", "socket")
    ask(session, "client", "socket")  # the first is open: a second client
    ask(session, "client", "close", target=1)
    closes = [e for e in rec.done() if e.op == "close"]
    assert [(e.conn, e.ok) for e in closes] == [(1, True)]
    ask(session, "client", "socket", target=1)  # closed and fits: used again
    sockets = [e.conn for e in rec.done() if e.op == "socket"]
    assert sockets == [1, 2, 1]
    assert session.open_sockets == 2


def test_an_unexpected_failure_is_told_not_raised() -> None:
    told: list[str] = []
    session = LabSession(tell=told.append)
    try:
        bad = replace(STREAM, mode="no-such-mode")
        session.request(Request("server", "run", bad))
        assert session.wait_idle(LIMIT)
        assert told and "Run server failed unexpectedly" in told[0]
    finally:
        session.close()
    with pytest.raises(ValueError):
        session.request(Request("server", "no-such-call", STREAM))


def test_a_small_recvfrom_loses_the_rest_of_the_datagram_and_says_how_much(
        session: LabSession, rec: Recorder) -> None:
    """The pane's recv size is recvfrom's n (issue 10: message boundaries)."""
    ask(session, "server", "socket", "bind", settings=DGRAM)
    port = next(e for e in rec.done() if e.op == "bind").result[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"x" * 32, ("127.0.0.1", port))
    ask(session, "server", "recv", settings=replace(DGRAM, recv_size=8))
    got = next(e for e in rec.done() if e.op == "recvfrom")
    assert got.args == (8,) and got.nbytes == 8
    assert got.lesson and "24 bytes are lost" in got.lesson
