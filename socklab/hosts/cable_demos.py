"""The cable's demos: what TCP does about loss, a slow reader and distance.

Each runs on two real hosts (`TwoHosts`: the server on host A, the client on
host B) joined by the relay's cable under conditions a learner could meet on
a real path, and each begins with a ``case`` event saying what to watch for:

* ``reliability`` (``loss 20%``): a 256 KiB send arrives whole and in order
  although a fifth of the packets were lost, because TCP sent them again (the
  packet rows marked ``retransmission``); the same cable over UDP loses
  datagrams for good, and the demo counts them.
* ``flow-control`` (``delay 20ms``): a receiver that stops calling recv():
  its advertised window shrinks to 0, the sender's send() blocks (its
  ``wait`` row), the sender probes the closed window, and the first recv()
  opens it again, so the send finishes after the receiver read.
* ``latency`` (``delay 200ms``): connect() takes one round trip, the
  greeting one trip more, and N request/replies N round trips: why HTTP
  keeps its connections open.
Each succeeds (exit 0) when what it says happened really did.  ``cable``
replaces the demo's own conditions (``socklab demo reliability --cable 'loss 5%'``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from ..engine import GREETING, Endpoint, Lab, Server
from ..events import SERVER, Event
from ..kernel.tcpinfo import read_tcp_info
from ..scenarios import ServerPlan, open_server, run_steps
from .cable import Conditions, parse
from .cable_lab import report, set_cable
from .mode import enable
from .pair import HOST_A

#: Each demo's own cable (``--cable`` replaces it).
CABLES = {
    "reliability": parse("loss 20%"),
    "flow-control": parse("delay 20ms"),
    "latency": parse("delay 200ms"),
}
#: How much the reliability demo sends over TCP, and how many datagrams over UDP.
STREAM_BYTES = 256 * 1024
DATAGRAMS = 100
#: flow-control: what the sender tries to send (more than both buffers hold), and
#: how long the receiver does not read once the send blocked (the sender probes).
FLOW_BYTES = 1024 * 1024
STALL = 2.5
#: latency: request/replies on one connection.
EXCHANGES = 3
#: Bound every wait of a demo (a lossy cable's retransmissions back off).
PATIENCE = 60.0
#: reliability: the hosts' retransmission timer, from Linux's least wait to its
#: least maximum (ms).  With Linux's own maximum (120 s) a segment whose copies and
#: ACKs the cable loses six times running waits 0.2 + 0.4 + … + 12.8 s, and under
#: load such a run outlasted PATIENCE; capped, every retry comes within a second.
RTO_BOUNDS = (200, 1000)


def _case(lab: Lab, title: str, expect: str, lesson: str) -> Event:
    return lab.bus.emit(side=SERVER, conn=None, op="case", args=(title,), result=expect,
                        lesson=lesson)


def _start(lab: Lab, name: str, cable: Conditions | None) -> Conditions:
    enable(lab)
    conditions = cable if cable is not None else CABLES[name]
    set_cable(lab, conditions)
    return conditions


def _connected(lab: Lab) -> tuple[Server, Endpoint, Endpoint] | None:
    """A server listening on A's address, a client on B connected, the accepted socket."""
    server = lab.server()
    if not open_server(server, ServerPlan(host=HOST_A.address, port=0)):
        return None
    client = lab.client()
    if not run_steps(client, [client.socket,
                              lambda: client.connect(HOST_A.address, server.local[1])]):
        return None
    conn, _ = server.accept(timeout=PATIENCE)
    return None if conn is None else (server, client, conn)


def _in_thread(job: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=job, name="socklab-demo-sender", daemon=True)
    thread.start()
    return thread


def _read(conn: Endpoint, size: int) -> bytes:
    """recv until ``size`` bytes came (or the peer closed, or a call failed)."""
    got = bytearray()
    deadline = time.monotonic() + PATIENCE
    while len(got) < size and time.monotonic() < deadline:
        received = conn.recv(65536, timeout=PATIENCE)
        if not received.data:
            break
        got += received.data
    return bytes(got)


def _pattern(size: int) -> bytes:
    """Bytes whose order shows and reads: numbered lines, ``0000000\n0000001\n…``."""
    lines = size // 8 + 1
    return ((b"%07d\n" * lines) % tuple(range(lines)))[:size]


def _close(*endpoints: Endpoint) -> None:
    for endpoint in endpoints:
        endpoint.close()


# -- reliability ------------------------------------------------------------------------


def reliability(lab: Lab, cable: Conditions | None = None) -> bool:
    conditions = _start(lab, "reliability", cable)
    _bound_retries(lab)
    stream_ok = _reliable_stream(lab, conditions)
    lost = _lossy_datagrams(lab, conditions)
    report(lab)
    return stream_ok and (lost > 0 or not conditions.loss)


def _bound_retries(lab: Lab) -> None:
    """Cap the hosts' retransmission back-off, and say so (a real path does not)."""
    assert lab.hosts is not None
    bounds = lab.hosts.set_timers(*RTO_BOUNDS)
    if bounds is None:
        _case(lab, "the retransmission timer", "Linux's own: 200 ms to 120 s",
              "each loss in a row doubles TCP's wait before it sends again (exponential "
              "back-off): a segment lost several times running can take a minute to arrive")
        return
    low, high = bounds
    _case(lab, "the retransmission timer", f"{low:g} ms to {high / 1000:g} s",
          f"each loss in a row doubles TCP's wait before it sends again (exponential "
          f"back-off). Linux lets it grow to 120 s; this demo's hosts stop it at "
          f"{high / 1000:g} s (sysctl net.ipv4.tcp_rto_max_ms) so that it ends in seconds, "
          f"where a real path's segment lost several times running can take a minute")


def _reliable_stream(lab: Lab, conditions: Conditions) -> bool:
    _case(lab, f"TCP: {STREAM_BYTES // 1024} KiB across '{conditions.spec()}'",
          "every byte, in order",
          "the cable loses packets, TCP does not lose bytes: each lost segment is sent "
          "again (packet rows marked retransmission) and recv() returns the bytes in the "
          "order they were sent")
    opened = _connected(lab)
    if opened is None:
        return False
    server, client, conn = opened
    data = _pattern(STREAM_BYTES)
    sender = _in_thread(lambda: client.send(data))
    got = _read(conn, len(data))
    sender.join(PATIENCE)
    info = read_tcp_info(client.sock) if client.sock is not None else None
    retransmitted = info.total_retrans if info is not None else 0
    whole = got == data
    _case(lab, "what arrived", "every byte" if whole else "not every byte",
          f"{len(got)} of {len(data)} bytes arrived, "
          f"{'in order' if whole else 'NOT as sent'}; the sender's kernel sent "
          f"{retransmitted} segment(s) again (TCP_INFO total_retrans on host B)")
    _close(client, conn, server)
    return whole


def _lossy_datagrams(lab: Lab, conditions: Conditions) -> int:
    """The same cable over UDP: datagrams lost are gone.  How many were lost."""
    _case(lab, f"UDP: {DATAGRAMS} datagrams across '{conditions.spec()}'", "some lost",
          "UDP sends each datagram once: the ones the cable loses never arrive, and "
          "nothing tells the sender")
    receiver = lab.server(kind=socket.SOCK_DGRAM)
    sender = lab.client(kind=socket.SOCK_DGRAM)
    if not (open_server(receiver, ServerPlan(kind=socket.SOCK_DGRAM, host=HOST_A.address,
                                             port=0)) and run_steps(sender, [sender.socket])):
        return 0
    port = receiver.local[1]
    for n in range(DATAGRAMS):
        sender.sendto(b"datagram %03d" % n, HOST_A.address, port)
        time.sleep(0.002)  # the receiver's buffer keeps up: only the cable loses
    arrived = 0
    wait = 1.0 + 2 * (conditions.delay_ms + conditions.jitter_ms) / 1000
    while arrived < 2 * DATAGRAMS:
        got = receiver.recvfrom(1024, timeout=wait)
        if got.event is not None and not got.event.ok:
            break
        arrived += 1
    lost = max(0, DATAGRAMS - arrived)
    _case(lab, "what arrived", f"{lost} lost",
          f"{arrived} of {DATAGRAMS} datagrams arrived: {lost} lost on the cable, for good")
    _close(sender, receiver)
    return lost


# -- flow control ---------------------------------------------------------------------


def flow_control(lab: Lab, cable: Conditions | None = None) -> bool:
    _start(lab, "flow-control", cable)
    _case(lab, "a receiver that stops calling recv()", "window 0, send() blocks",
          "the receiver's kernel keeps what arrives until recv() takes it; as its buffer "
          "fills, the window it advertises shrinks to 0 and the sender must stop: its "
          "send() blocks (non-blocking, it would return less than asked), and it probes "
          "the closed window now and then")
    opened = _connected(lab)
    if opened is None:
        return False
    server, client, conn = opened
    blocked = threading.Event()
    done: list[Event] = []

    def watch(event: Event) -> None:
        if event.op == "send" and event.side == client.side and event.conn == client.conn:
            (blocked.set() if event.waiting else done.append(event))

    unwatch = lab.bus.subscribe(watch)
    data = _pattern(FLOW_BYTES)
    try:
        sender = _in_thread(lambda: client.send(data))
        waited = blocked.wait(PATIENCE)
        time.sleep(STALL)  # the window stays closed: the sender's probes go unanswered
        first = _case(lab, "the receiver reads again", "the window opens",
                      "recv() takes bytes from the receiver's buffer: its window opens (a "
                      "window update), and the blocked send() goes on")
        got = _read(conn, len(data))
        sender.join(PATIENCE)
    finally:
        unwatch()
    _close(client, conn, server)
    report(lab)
    finished = bool(done) and done[-1].ok and done[-1].seq > first.seq
    return waited and finished and got == data


# -- latency --------------------------------------------------------------------------


def latency(lab: Lab, cable: Conditions | None = None) -> bool:
    conditions = _start(lab, "latency", cable)
    trip = (conditions.delay_ms - conditions.jitter_ms) / 1000
    _case(lab, f"connect() across '{conditions.spec()}'", "one round trip",
          "connect() returns when the SYN/ACK is back: one round trip (the SYN there, the "
          "SYN/ACK back), whatever the bytes to send")
    server = lab.server()
    client = lab.client()
    if not (open_server(server, ServerPlan(host=HOST_A.address, port=0))
            and run_steps(client, [client.socket])):
        return False
    started = time.monotonic()
    if not client.connect(HOST_A.address, server.local[1]).ok:
        return False
    handshake = time.monotonic() - started
    conn, _ = server.accept(timeout=PATIENCE)
    if conn is None:
        return False
    sent = time.monotonic()
    conn.send(GREETING)
    greeted = client.recv(1024, timeout=PATIENCE).data == GREETING
    greeting = time.monotonic() - sent
    _case(lab, "what took how long", f"{handshake * 1000:.0f} ms, {greeting * 1000:.0f} ms",
          f"connect() took {handshake * 1000:.0f} ms (one round trip: "
          f"{2 * trip * 1000:.0f} ms); the greeting took {greeting * 1000:.0f} ms from "
          f"send() to recv() (one trip: {trip * 1000:.0f} ms)")
    exchanges = _exchanges(lab, client, conn, trip)
    _close(client, conn, server)
    return (greeted and handshake >= 2 * trip and greeting >= trip
            and exchanges >= EXCHANGES * 2 * trip)


def _exchanges(lab: Lab, client: Endpoint, conn: Endpoint, trip: float) -> float:
    """EXCHANGES request/replies on one connection: how long they took in all."""
    _case(lab, f"{EXCHANGES} requests and replies", f"{EXCHANGES} round trips",
          "each request waits for its reply: N exchanges take N round trips. Opening a "
          "new connection for each would add a round trip more each time: why HTTP keeps "
          "connections alive")
    started = time.monotonic()
    for n in range(EXCHANGES):
        client.send(b"request %d\n" % n)
        conn.recv(1024, timeout=PATIENCE)
        conn.send(b"reply %d\n" % n)
        client.recv(1024, timeout=PATIENCE)
    took = time.monotonic() - started
    _case(lab, "what took how long", f"{took * 1000:.0f} ms",
          f"{EXCHANGES} request/replies took {took * 1000:.0f} ms: {EXCHANGES} round trips "
          f"of {2 * trip * 1000:.0f} ms")
    return took


#: The demos, by name, each given the learner's cable (None: its own).
CABLE_DEMOS: dict[str, Callable[[Lab, Conditions | None], bool]] = {
    "reliability": reliability,
    "flow-control": flow_control,
    "latency": latency,
}
