"""Each segment is credited to the socket that sent it (issue 20, "Nothing the lab
says is false"): the capture's flows, fed the lab's events as the capture is."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from socklab.capture.capture import Capture
from socklab.capture.flows import Flows
from socklab.capture.segments import Segment
from socklab.capture.sniffer import NoCapture
from socklab.engine import Lab
from socklab.engine.calls import ClientPorts
from socklab.events import CLIENT, SERVER, Event

SERVER_ADDR = ("127.0.0.1", 1)


def _connect(conn: int, *, error: str | None) -> Event:
    return Event(seq=conn, t=0.0, side=CLIENT, conn=conn, op="connect",
                 args=(SERVER_ADDR,), ok=error is None, error=error)


@contextmanager
def _capturing(*ports: int) -> Iterator[tuple[Lab, list[Event], Capture]]:
    """A lab with its capture (told ``ports`` in advance), and every event it emits."""
    lab = Lab()
    events: list[Event] = []
    lab.subscribe(events.append)
    try:
        capture = Capture(lab, ports)
    except NoCapture as exc:
        pytest.skip(str(exc))
    try:
        yield lab, events, capture
    finally:
        capture.stop()
        lab.close_all()


def _syn(port: int) -> Segment:
    return Segment(("127.0.0.1", port), SERVER_ADDR, ("SYN",), 1000, 0, 0)


def test_a_syn_is_credited_to_the_connect_that_left_from_its_address() -> None:
    """client[1]'s connect failed with EBADF (no socket: no SYN); client[2]'s
    connect, noted by the engine from its local address, sent the SYN."""
    notes = ClientPorts()
    flows = Flows(notes.client_from)
    flows.learn(_connect(1, error="EBADF"))
    notes.note(("127.0.0.1", 40002), 2, SERVER_ADDR[1])
    flows.learn(_connect(2, error="EINPROGRESS"))
    placed = flows.place(_syn(40002))
    assert placed is not None
    assert placed[:2] == (CLIENT, 2)


def test_the_note_stays_for_the_capture_and_goes_with_the_accept() -> None:
    notes = ClientPorts()
    notes.note(("127.0.0.1", 40002, 0, 0), 7, 80)
    assert notes.client_from(("127.0.0.1", 40002), 80) == 7
    assert notes.client_from(("127.0.0.1", 40002), 81) is None
    assert notes.client_at(("127.0.0.1", 40002), 80) == 7
    assert notes.client_from(("127.0.0.1", 40002), 80) is None


def test_a_non_blocking_connects_failure_comes_before_its_syn() -> None:
    """A non-blocking connect() to a closed port: EINPROGRESS is numbered before
    the SYN it sent and the kernel's RST (said under the lock it was made under,
    so the capture's thread cannot read the SYN between)."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _capturing(port) as (lab, events, capture):
        for _ in range(20):
            client = lab.client()
            client.socket()
            client.setblocking(False)
            client.connect("127.0.0.1", port)
            client.close()
        capture.drain()
    syns = [e for e in events if e.op == "packet" and e.result["flags"] == ["SYN"]]
    assert len(syns) == 20
    for syn in syns:
        before = [e for e in events if e.seq < syn.seq and e.op == "connect"]
        assert before and before[-1].conn == syn.conn and before[-1].error == "EINPROGRESS", \
            f"SYN #{syn.seq} of client[{syn.conn}] before its connect()"


def test_a_datagram_to_a_port_nothing_uses_has_its_packet_row() -> None:
    """sendto() a port no socket uses: the capture was told no port in advance,
    and the datagram is on the wire all the same (its row, credited to the sender)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _capturing() as (lab, events, capture):
        client = lab.client(socket.AF_INET, socket.SOCK_DGRAM)
        assert client.socket().ok
        sent = client.sendto(b"hello", "127.0.0.1", port)
        assert sent is not None and sent.ok
        capture.drain()
        client.close()
    rows = [e for e in events if e.op == "packet"]
    assert [(e.side, e.conn, e.result.get("proto"), e.result["dst"]) for e in rows] == \
        [(CLIENT, 1, "UDP", ["127.0.0.1", port])]
    assert rows[0].seq == sent.seq + 1


def test_segments_already_captured_are_numbered_before_the_next_call() -> None:
    """Segments that reached the capture's ring before a call began come before it
    in the log (seen in the backlog lesson under load: the kernel's ACKs of FINs
    on connections still in the accept queue, read only after the listener's
    close and so credited to a listener already closed).  The capture's thread is
    kept out here by holding the bus lock, as a busy machine keeps it out."""
    with _capturing() as (lab, events, capture):
        server = lab.server()
        assert server.socket().ok and server.bind("127.0.0.1", 0).ok
        listened = server.listen(2)
        assert listened.ok
        with lab.bus.lock:  # the capture's thread cannot drain meanwhile
            with socket.create_connection(tuple(listened.result), timeout=5):
                # (the handshake is in the ring; no event of the lab has read it)
                closed = server.close()
        capture.drain()
    assert closed.ok
    rows = [e for e in events if e.op == "packet"
            and e.result["src"] == list(listened.result)]
    assert rows and "SYN" in rows[0].result["flags"]
    late = [e.seq for e in rows if e.t < closed.t and e.seq > closed.seq]
    assert not late, f"segments sent before close #{closed.seq} numbered after it: {late}"


def test_a_connection_never_accepted_is_the_kernels_once_its_listener_closed() -> None:
    """The backlog lesson by hand, seen once under load: a client closed a connection
    still in the accept queue, and the queued connection's ACK of its FIN came after
    the listener's close() (the kernel ran it late): credited to the listener, which
    was gone.  A connection the lab never accepted has no socket of the lab; once the
    listener is closed, what it sends is the kernel's."""
    listener = ("127.0.0.1", 5000)
    client = ("127.0.0.1", 40001)
    flows = Flows()
    flows.learn(Event(seq=1, t=0.0, side=SERVER, conn=None, op="listen", args=(2,),
                      result=listener))
    syn = flows.place(Segment(client, listener, ("SYN",), 1000, 0, 0))
    assert syn is not None and syn[:2] == (CLIENT, None)
    synack = flows.place(Segment(listener, client, ("SYN", "ACK"), 5000, 1001, 0))
    assert synack is not None and synack[:2] == (SERVER, None) and synack[3] is None
    fin = flows.place(Segment(client, listener, ("FIN", "ACK"), 1001, 5001, 0))
    assert fin is not None and fin[3] is None  # the client's socket sent it
    flows.learn(Event(seq=2, t=0.1, side=SERVER, conn=None, op="close"))
    ack = flows.place(Segment(listener, client, ("ACK",), 5001, 1002, 0))
    assert ack is not None and ack[:2] == (SERVER, None) and ack[3] == "kernel"
    again = flows.place(Segment(client, listener, ("ACK",), 1002, 5001, 0))
    assert again is not None and again[3] is None  # the client's end is still its socket's


def test_a_lab_clients_connection_never_accepted_is_the_kernels_too() -> None:
    """The refused lesson under --auto, seen in a soak run: the lab's own client
    connected (its SYN credited by the address its connect left from) and was never
    accepted; at the lab's stop its FIN's ACK came after the listener's close and
    was credited to the listener.  The listener's end of a lab client's connection
    is listed as it is for any other client's."""
    listener = ("127.0.0.1", 5000)
    client = ("127.0.0.1", 40001)
    notes = ClientPorts()
    flows = Flows(notes.client_from)
    flows.learn(Event(seq=1, t=0.0, side=SERVER, conn=None, op="listen", args=(2,),
                      result=listener))
    notes.note(client, 1, listener[1])
    syn = flows.place(Segment(client, listener, ("SYN",), 1000, 0, 0))
    assert syn is not None and syn[:2] == (CLIENT, 1)
    synack = flows.place(Segment(listener, client, ("SYN", "ACK"), 5000, 1001, 0))
    assert synack is not None and synack[:2] == (SERVER, None) and synack[3] is None
    fin = flows.place(Segment(client, listener, ("FIN", "ACK"), 1001, 5001, 0))
    assert fin is not None and fin[:2] == (CLIENT, 1) and fin[3] is None
    flows.learn(Event(seq=2, t=0.1, side=SERVER, conn=None, op="close"))
    ack = flows.place(Segment(listener, client, ("ACK",), 5001, 1002, 0))
    assert ack is not None and ack[:2] == (SERVER, None) and ack[3] == "kernel"


def test_an_accepted_connection_stays_its_sockets_after_the_listener_closed() -> None:
    listener = ("127.0.0.1", 5000)
    client = ("127.0.0.1", 40001)
    flows = Flows()
    flows.learn(Event(seq=1, t=0.0, side=SERVER, conn=None, op="listen", args=(2,),
                      result=listener))
    flows.place(Segment(client, listener, ("SYN",), 1000, 0, 0))
    flows.learn(Event(seq=2, t=0.1, side=SERVER, conn=1, op="accept", result=client))
    flows.learn(Event(seq=3, t=0.2, side=SERVER, conn=None, op="close"))
    flows.learn(Event(seq=4, t=0.3, side=SERVER, conn=None, op="close", ok=False,
                      error="EBADF"))
    data = flows.place(Segment(listener, client, ("PSH", "ACK"), 5001, 1001, 10))
    assert data is not None and data[:2] == (SERVER, 1) and data[3] is None


def test_the_same_four_values_again_are_a_new_connection() -> None:
    """A client port used again to the listener's address (Run server again, a new
    listener on it): the new connection's segments are no longer the kernel's."""
    listener = ("127.0.0.1", 5000)
    client = ("127.0.0.1", 40001)
    flows = Flows()
    listen = Event(seq=1, t=0.0, side=SERVER, conn=None, op="listen", args=(2,),
                   result=listener)
    flows.learn(listen)
    flows.place(Segment(client, listener, ("SYN",), 1000, 0, 0))
    flows.learn(Event(seq=2, t=0.1, side=SERVER, conn=None, op="close"))
    flows.learn(listen)
    flows.place(Segment(client, listener, ("SYN",), 7000, 0, 0))
    synack = flows.place(Segment(listener, client, ("SYN", "ACK"), 9000, 7001, 0))
    assert synack is not None and synack[:2] == (SERVER, None) and synack[3] is None
