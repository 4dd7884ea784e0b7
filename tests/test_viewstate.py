"""The view-state model: what the panes show, folded from real events of a real Lab.

Each test makes real calls on loopback (port 0), records the events the bus
hands out, folds them into a `ViewState` and checks what a pane would show
against what the engine's own objects say (read here, after the calls, on
the test's thread: the screen never reads them).
"""

from __future__ import annotations

import socket

from helpers import Recorder, listening, stream_pair

from socklab.engine import GREETING, Lab
from socklab.modes import Service
from socklab.viewstate import LISTENER, ViewState


def folded(rec: Recorder) -> ViewState:
    view = ViewState()
    view.apply(rec.snapshot())
    return view


def test_a_stream_exchange_shows_addresses_bytes_and_states(lab: Lab, rec: Recorder) -> None:
    server, conn, client = stream_pair(lab)
    client.send(b"hello")
    conn.recv(1024)
    conn.send(GREETING)
    conn.close()
    client.recv(1024)
    client.recv(1024)  # b'': the server closed
    view = folded(rec)
    listener = view.sides["server"].sockets[LISTENER]
    assert listener.listening and listener.local == server.local and listener.is_open
    accepted = view.sides["server"].sockets[str(conn.conn)]
    assert accepted.peer == client.local and accepted.local == conn.local
    assert (accepted.bytes_in, accepted.bytes_out, accepted.state) == (5, len(GREETING), "closed")
    mine = view.sides["client"].sockets[str(client.conn)]
    assert mine.local == client.local and mine.peer == server.local
    assert (mine.bytes_in, mine.bytes_out) == (client.bytes_in, client.bytes_out)
    assert mine.state == "peer closed"
    assert view.bound is not None and view.bound.port == server.local[1]
    assert view.bound.requested == 0  # it asked for port 0; the kernel chose
    # What to press next follows the sockets.
    assert view.client_next(None, stream=True) == {"close"}
    assert view.server_next(str(conn.conn), stream=True) == set()  # closed: nothing
    assert view.server_next(None, stream=True) == {"accept"}


def test_waiting_calls_and_the_newest_connection(lab: Lab, rec: Recorder) -> None:
    server = listening(lab)
    service = Service(lab, server, "welcome", count=2).start()
    rec.wait_for(lambda e: e.op == "accept" and e.phase == "wait")
    view = folded(rec)
    assert view.sides["server"].sockets[LISTENER].waiting  # accept() waits
    assert view.server_next(None, stream=True) == set()  # a client is what comes next
    for _ in range(2):
        client = lab.client()
        client.socket()
        client.connect("127.0.0.1", server.local[1])
        client.recv(1024)
        client.recv(1024)
        client.close()
    assert service.wait(15)
    view = folded(rec)
    server_side = view.sides["server"]
    assert server_side.newest == "2"
    assert [k for k in server_side.sockets] == [LISTENER, "1", "2"]
    assert all(server_side.sockets[k].state == "closed" for k in ("1", "2"))
    assert not server_side.sockets[LISTENER].waiting  # the service stopped after 2
    assert view.sides["client"].newest == "2"


def test_a_datagram_names_its_sender_for_sendto(lab: Lab, rec: Recorder) -> None:
    server = lab.server(socket.AF_INET, socket.SOCK_DGRAM)
    server.socket()
    server.bind("127.0.0.1", 0)
    client = lab.client(socket.AF_INET, socket.SOCK_DGRAM)
    client.socket()
    client.sendto(b"hi", "127.0.0.1", server.local[1])
    server.recvfrom(65535)
    view = folded(rec)
    listener = view.sides["server"].sockets[LISTENER]
    assert not listener.stream and not listener.listening and listener.bytes_in == 2
    assert view.sides["server"].last_sender == ("127.0.0.1", client.sock.getsockname()[1])
    assert view.server_next(None, stream=False) == {"recv"}


def test_failures_change_nothing_but_end_their_wait(lab: Lab, rec: Recorder) -> None:
    client = lab.client()
    client.socket()
    with socket.socket() as probe:  # bound, never listening: connect is refused
        probe.bind(("127.0.0.1", 0))
        client.connect("127.0.0.1", probe.getsockname()[1])
    view = folded(rec)
    mine = view.sides["client"].sockets[str(client.conn)]
    assert mine.state == "open" and mine.peer is None and not mine.waiting
    assert view.client_next(None, stream=True) == {"connect"}


def test_forget_closed_keeps_what_is_open(lab: Lab, rec: Recorder) -> None:
    server, conn, client = stream_pair(lab)
    other = lab.client()
    other.socket()
    client.close()
    view = folded(rec)
    assert view.apply([]) == set()
    before = view.sides["client"].version
    view.forget_closed()
    assert list(view.sides["client"].sockets) == [str(other.conn)]
    assert view.sides["client"].version > before
    assert set(view.sides["server"].sockets) == {LISTENER, str(conn.conn)}
