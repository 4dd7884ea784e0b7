"""The engine on real loopback sockets: every call real, every event right.

Listeners always bind port 0 (the kernel chooses); nothing leaves loopback.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable

import pytest
from helpers import (
    LIMIT,
    WELCOME_DONE,
    Recorder,
    assert_causal,
    assert_seq_increasing,
    assert_waits_precede_dones,
    listening,
    loopback_host,
    socket_fds,
    stream_pair,
    where,
)

from socklab.engine import ALL_INTERFACES_WARNING, GREETING, Endpoint, Lab
from socklab.events import DONE, WAIT, Event
from socklab.modes import ROMEO, Service

AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
STREAM, DGRAM = socket.SOCK_STREAM, socket.SOCK_DGRAM

FAMILIES = [
    pytest.param(AF_INET, id="inet"),
    pytest.param(AF_INET6, id="inet6", marks=pytest.mark.requires_ipv6),
]
FAMILY_NAME = {AF_INET: "AF_INET", AF_INET6: "AF_INET6"}


def _in_thread(lab: Lab, target: Callable[[], object], name: str) -> list[object]:
    """Run ``target`` in a lab thread; its return value lands in the list."""
    out: list[object] = []
    lab.spawn(lambda: out.append(target()), name)
    return out


def _join_all(lab: Lab) -> None:
    for thread in lab.threads():
        thread.join(LIMIT)
        assert not thread.is_alive(), f"{thread.name} still running"


# -- both families, both types ------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_stream_round_trip(lab: Lab, rec: Recorder, family: int) -> None:
    host = loopback_host(family)
    server = lab.server(family)
    made = server.socket()
    assert made.ok and isinstance(made.result, int) and made.result >= 0
    assert made.args == (FAMILY_NAME[family], "SOCK_STREAM")
    bound = server.bind(host, 0)
    assert bound.ok and bound.args == ((host, 0),)
    assert bound.result[0] == host
    assert bound.result[1] != 0, "port 0 must show the port the kernel chose"
    assert bound.result[1] == server.sock.getsockname()[1]
    assert bound.lesson is None  # loopback: no all-interfaces warning
    assert server.listen(5).ok

    client = lab.client(family)
    assert client.socket().ok
    connected = client.connect(host, bound.result[1])
    assert connected.ok and connected.args == ((host, bound.result[1]),)
    # As Python returns it: (host, port, flowinfo, scope_id) for IPv6.
    assert tuple(connected.result) == client.sock.getsockname()
    assert tuple(bound.result) == server.sock.getsockname()

    conn, accepted = server.accept(timeout=LIMIT)
    assert conn is not None and accepted.ok
    assert accepted.conn == conn.conn == 1
    assert accepted.result == connected.result  # the peer is the client's real address

    sent = conn.send(b"ping\r\n")
    assert sent is not None and sent.ok
    assert (sent.result, sent.nbytes, sent.data) == (6, 6, "ping\\r\\n")
    got = client.recv(1024, timeout=LIMIT)
    assert got.ok and got.data == b"ping\r\n" and got.addr is None and not got.eof
    assert got.event is not None and got.event.nbytes == 6 and got.event.data == "ping\\r\\n"
    assert client.send(b"pong").ok  # type: ignore[union-attr]
    back = conn.recv(1024, timeout=LIMIT)
    assert back.data == b"pong" and back.event.data == "pong"  # type: ignore[union-attr]
    assert (conn.bytes_out, conn.bytes_in, client.bytes_out, client.bytes_in) == (6, 4, 4, 6)

    for endpoint in (conn, client, server):
        assert endpoint.close().ok
    assert lab.open_sockets == 0
    events = rec.snapshot()
    assert all(e.ok for e in events)
    assert_seq_increasing(events)
    assert_waits_precede_dones(events)


@pytest.mark.parametrize("family", FAMILIES)
def test_datagram_round_trip_has_no_listen_or_accept(lab: Lab, rec: Recorder,
                                                     family: int) -> None:
    host = loopback_host(family)
    server = lab.server(family, DGRAM)
    made = server.socket()
    assert made.args == (FAMILY_NAME[family], "SOCK_DGRAM")
    bound = server.bind(host, 0)
    assert bound.ok and bound.result[1] != 0
    port = bound.result[1]

    client = lab.client(family, DGRAM)
    assert client.socket().ok
    sent = client.sendto(b"Hello, UDP!", host, port)
    assert sent is not None and sent.ok and sent.result == 11 and sent.args == ((host, port),)
    got = server.recvfrom(65535, timeout=LIMIT)
    assert got.ok and got.event is not None and got.event.nbytes == 11
    assert got.event.data == "Hello, UDP!"
    # recvfrom says who sent it: the client's implicitly bound port, on loopback
    client_address = (host, client.sock.getsockname()[1])
    # The event shows the sender as recvfrom returns it (4 values for IPv6).
    assert tuple(got.event.result)[:2] == client_address
    assert len(got.event.result) == (4 if family == socket.AF_INET6 else 2)
    assert (got.data, got.addr) == (b"Hello, UDP!", client_address)

    assert server.sendto(GREETING, *got.addr).ok  # type: ignore[union-attr, misc]
    reply = client.recvfrom(65535, timeout=LIMIT)
    assert reply.data == GREETING and reply.addr == (host, port)
    assert tuple(reply.event.result)[:2] == (host, port)  # type: ignore[union-attr]
    assert len(reply.event.result) == len(server.sock.getsockname())  # type: ignore[union-attr]
    client.close()
    server.close()
    ops = {e.op for e in rec.snapshot()}
    assert {"sendto", "recvfrom"} <= ops
    assert not ops & {"listen", "accept", "connect"}


def test_bind_to_all_interfaces_works_with_a_warning(lab: Lab) -> None:
    # A datagram socket, closed at once: nothing can connect to it meanwhile.
    server = lab.server(AF_INET, DGRAM)
    server.socket()
    bound = server.bind("0.0.0.0", 0)
    assert bound.ok and bound.lesson == ALL_INTERFACES_WARNING
    server.close()


# -- the lecture's exchange --------------------------------------------------------------


def test_welcome_exchange_exact_sequence(lab: Lab, rec: Recorder) -> None:
    server = listening(lab)
    client = lab.client()
    client.socket()
    connected = client.connect("127.0.0.1", server.local[1])
    conn, accepted = server.accept(timeout=LIMIT)
    assert conn is not None
    conn.send(GREETING)
    received = client.recv(1024, timeout=LIMIT)
    conn.close()
    client.close()
    server.close()

    assert rec.ops(DONE) == WELCOME_DONE
    assert accepted.result[1] == connected.result[1]  # peer port = client's local port
    assert received.data == GREETING and received.event is not None
    assert received.event.nbytes == 40 and received.event.data == GREETING.decode()
    assert all(e.ok for e in rec.done())
    assert_waits_precede_dones(rec.snapshot())


# -- waiting, then done ----------------------------------------------------------------


def test_blocking_accept_shows_wait_then_done(lab: Lab, rec: Recorder) -> None:
    server = listening(lab)
    result = _in_thread(lab, lambda: server.accept(timeout=LIMIT), "accept")
    wait = rec.wait_for(where(op="accept", phase=WAIT), what="accept waiting")
    client = lab.client()
    client.socket()
    connected = client.connect("127.0.0.1", server.local[1])
    done = rec.wait_for(where(op="accept", phase=DONE), what="accept done")
    _join_all(lab)
    assert done.ok and done.call == wait.call != 0 and done.seq > wait.seq
    assert done.result == connected.result
    conn, event = result[0]  # type: ignore[misc]
    assert event is done and conn is not None


def _read_until(conn: Endpoint, total: int, tries: int) -> None:
    """recv until ``total`` bytes have come (or EOF, an error, ``tries`` calls)."""
    got = 0
    for _ in range(tries):
        received = conn.recv(65536, timeout=LIMIT)  # .event None: counted into a flood
        if not received.ok or not received.data:
            return
        got += len(received.data)
        if got >= total:
            return


def test_blocking_recv_shows_wait_then_done(lab: Lab, rec: Recorder) -> None:
    _, conn, client = stream_pair(lab)
    _in_thread(lab, lambda: conn.recv(1024, timeout=LIMIT), "recv")
    wait = rec.wait_for(where(op="recv", phase=WAIT), what="recv waiting")
    sent = client.send(b"now")
    done = rec.wait_for(where(op="recv", phase=DONE), what="recv done")
    _join_all(lab)
    assert done.call == wait.call and wait.seq < sent.seq < done.seq  # type: ignore[union-attr]
    assert done.data == "now" and done.side == "server" and done.conn == 1


# -- order -----------------------------------------------------------------------------


@pytest.mark.parametrize("coalesce", [False, True], ids=["single", "coalescing"])
def test_order_is_causal_with_the_receiver_in_a_thread(coalesce: bool) -> None:
    iterations = 300
    rec = Recorder()
    with Lab(coalesce=coalesce, connect_timeout=LIMIT) as lab:
        lab.subscribe(rec)
        _, conn, client = stream_pair(lab)
        expected = sum(len(f"m{i};") for i in range(iterations))

        receiver = lab.spawn(lambda: _read_until(conn, expected, iterations * 4), "receiver")
        for i in range(iterations):
            client.send(f"m{i};".encode())
        receiver.join(LIMIT)
        assert not receiver.is_alive()
        client.close()
        conn.close()
    events = rec.snapshot()
    assert_seq_increasing(events)
    assert_causal(events, sender=("client", 1), receiver=("server", 1))
    assert_waits_precede_dones(events)
    recv_total = sum(e.nbytes or 0 for e in events if e.op == "recv" and e.phase == DONE)
    assert recv_total == expected
    if not coalesce:
        # one event per call: every send is there, in the order it was made
        sends = [e.data for e in events if e.op == "send"]
        assert sends == [f"m{i};" for i in range(iterations)]


def test_flood_is_coalesced_and_every_byte_accounted(lab: Lab, rec: Recorder) -> None:
    messages, size = 2000, 10
    _, conn, client = stream_pair(lab)
    total = messages * size

    receiver = lab.spawn(lambda: _read_until(conn, total, messages * 2), "drain")
    for i in range(messages):
        client.send(f"{i:09d}\n".encode())
    receiver.join(LIMIT)
    assert not receiver.is_alive()
    client.close()  # ends the floods: their counts are reported
    conn.close()

    events = rec.snapshot()
    sends = [e for e in events if e.op == "send" and e.phase == DONE]
    recvs = [e for e in events if e.op == "recv" and e.phase == DONE]
    assert any(e.count > 1 for e in sends), "2,000 sends should be coalesced"
    assert len(sends) < messages
    assert sum(e.count for e in sends) == messages
    assert sum(e.nbytes or 0 for e in sends) == total
    assert sum(e.nbytes or 0 for e in recvs) == total
    assert conn.bytes_in == client.bytes_out == total
    assert_seq_increasing(events)
    assert_causal(events, sender=("client", 1), receiver=("server", 1))


# -- several clients, server modes ----------------------------------------------------------


def _fetch(family: int, port: int, payload: bytes = b"", half_close: bool = True) -> bytes:
    """A plain Python TCP client: send, (half-close), read to EOF."""
    with socket.socket(family, STREAM) as sock:
        sock.settimeout(LIMIT)
        sock.connect((loopback_host(family), port))
        if payload:
            sock.sendall(payload)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        for _ in range(100_000):
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    raise AssertionError("peer never closed")


def _ask(family: int, port: int, payload: bytes) -> bytes:
    """A plain Python UDP client: one datagram out, one back."""
    with socket.socket(family, DGRAM) as sock:
        sock.settimeout(LIMIT)
        sock.sendto(payload, (loopback_host(family), port))
        data, _ = sock.recvfrom(65535)
        return data


def test_several_clients_at_once(lab: Lab, rec: Recorder) -> None:
    n = 6
    server = listening(lab, backlog=n)
    service = Service(lab, server, "welcome", count=n).start()
    clients = [lab.client() for _ in range(n)]
    locals_ = []
    for client in clients:  # all connected before any reads
        client.socket()
        event = client.connect("127.0.0.1", server.local[1])
        assert event.ok
        locals_.append(tuple(event.result))
    for client in clients:
        assert client.recv(1024, timeout=LIMIT).data == GREETING
        client.close()
    assert service.wait(LIMIT)
    accepted = {tuple(e.result) for e in rec.done() if e.op == "accept"}
    assert accepted == set(locals_)
    assert sorted(e.conn for e in rec.done() if e.op == "accept") == list(range(1, n + 1))
    assert {c.conn for c in clients} == set(range(1, n + 1))


@pytest.mark.parametrize("family", FAMILIES)
def test_mode_welcome_stream_and_datagram(lab: Lab, family: int) -> None:
    tcp = listening(lab, family)
    udp = listening(lab, family, DGRAM)
    tcp_service = Service(lab, tcp, "welcome", count=1).start()
    udp_service = Service(lab, udp, "welcome", count=1).start()
    assert _fetch(family, tcp.local[1]) == GREETING
    assert _ask(family, udp.local[1], b"hi") == GREETING
    assert tcp_service.wait(LIMIT) and udp_service.wait(LIMIT)
    assert not tcp_service.failed and tcp_service.handled == 1 == udp_service.handled


@pytest.mark.parametrize("family", FAMILIES)
def test_mode_echo_stream_and_datagram(lab: Lab, family: int) -> None:
    tcp = listening(lab, family)
    udp = listening(lab, family, DGRAM)
    tcp_service = Service(lab, tcp, "echo", count=1).start()
    udp_service = Service(lab, udp, "echo", count=2).start()
    payload = b"".join(f"line {i}\r\n".encode() for i in range(500)) + bytes(range(256))
    assert _fetch(family, tcp.local[1], payload) == payload
    assert _ask(family, udp.local[1], b"one") == b"one"
    assert _ask(family, udp.local[1], b"\x00two\xff") == b"\x00two\xff"
    assert tcp_service.wait(LIMIT) and udp_service.wait(LIMIT)


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/", b"HTTP/1.0 200 OK", b"Hello from socklab"),
        ("/romeo.txt", b"HTTP/1.0 200 OK", b"But soft what light through yonder window breaks"),
        ("/nothing-here", b"HTTP/1.0 404 Not Found", b"404"),
    ],
)
def test_mode_http_raw_get(lab: Lab, path: str, status: bytes, needle: bytes) -> None:
    server = listening(lab)
    service = Service(lab, server, "http", count=1).start()
    request = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
    page = _fetch(AF_INET, server.local[1], request, half_close=False)
    head, _, body = page.partition(b"\r\n\r\n")
    assert head.startswith(status)
    assert needle in body
    assert f"Content-Length: {len(body)}".encode() in head
    assert service.wait(LIMIT)


def test_mode_http_serves_a_real_http_client(lab: Lab) -> None:
    server = listening(lab)
    service = Service(lab, server, "http", count=1).start()
    url = f"http://127.0.0.1:{server.local[1]}/romeo.txt"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxy
    with direct.open(url, timeout=LIMIT) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.read().decode() == ROMEO
    assert service.wait(LIMIT)


@pytest.mark.parametrize("family", FAMILIES)
def test_mode_discard_reads_and_drops(lab: Lab, rec: Recorder, family: int) -> None:
    tcp = listening(lab, family)
    udp = listening(lab, family, DGRAM)
    tcp_service = Service(lab, tcp, "discard", count=1).start()
    udp_service = Service(lab, udp, "discard", count=3).start()
    payload = b"x" * 100_000
    assert _fetch(family, tcp.local[1], payload) == b""  # nothing back, then closed
    with socket.socket(family, DGRAM) as sock:
        for i in range(3):
            sock.sendto(b"drop %d" % i, (loopback_host(family), udp.local[1]))
    assert tcp_service.wait(LIMIT) and udp_service.wait(LIMIT)
    events = rec.snapshot()
    received = sum(e.nbytes or 0 for e in events
                   if e.op == "recv" and e.phase == DONE and e.side == "server")
    assert received == len(payload)
    assert not [e for e in events if e.op in ("send", "sendto")]
    assert udp_service.handled == 3


def test_mode_manual_keeps_the_connection_for_the_learner(lab: Lab) -> None:
    server = listening(lab)
    service = Service(lab, server, "manual", count=1).start()
    client = lab.client()
    client.socket()
    client.connect("127.0.0.1", server.local[1])
    assert service.wait(LIMIT)
    (conn,) = server.connections.values()
    assert conn.state == "connected" and conn.is_open
    assert conn.send(b"typed by hand").ok  # type: ignore[union-attr]
    assert client.recv(1024, timeout=LIMIT).data == b"typed by hand"


def test_count_stops_after_n_connections(lab: Lab, rec: Recorder) -> None:
    server = listening(lab)
    service = Service(lab, server, "welcome", count=2).start()
    assert _fetch(AF_INET, server.local[1]) == GREETING
    # The service is back in accept() for the second connection: not finished.
    first = rec.wait_for(where(op="accept", phase=DONE))
    rec.wait_for(lambda e: e.op == "accept" and e.phase == WAIT and e.seq > first.seq,
                 what="accept waiting for the second connection")
    assert not service.finished.is_set()
    assert _fetch(AF_INET, server.local[1]) == GREETING
    assert service.wait(LIMIT)
    assert service.handled == 2
    assert rec.count(where(op="accept", phase=DONE)) == 2


def test_count_stops_after_n_datagrams(lab: Lab, rec: Recorder) -> None:
    server = listening(lab, kind=DGRAM)
    service = Service(lab, server, "echo", count=2).start()
    assert _ask(AF_INET, server.local[1], b"1") == b"1"
    first = rec.wait_for(where(op="recvfrom", phase=DONE))
    rec.wait_for(lambda e: e.op == "recvfrom" and e.phase == WAIT and e.seq > first.seq,
                 what="recvfrom waiting for the second datagram")
    assert not service.finished.is_set()
    assert _ask(AF_INET, server.local[1], b"2") == b"2"
    assert service.wait(LIMIT) and service.handled == 2


# -- cleanup ---------------------------------------------------------------------------------


def test_close_all_closes_every_socket_and_joins_every_thread() -> None:
    before = socket_fds()
    rec = Recorder()
    lab = Lab(connect_timeout=LIMIT)
    lab.subscribe(rec)
    try:
        _fill_and_close_all(lab, rec, before)
    finally:
        lab.close_all()


def _fill_and_close_all(lab: Lab, rec: Recorder, before: set[int]) -> None:
    server, conn, client = stream_pair(lab)
    waiting_accept = lab.spawn(lambda: server.accept(), "accept")
    waiting_recv = lab.spawn(lambda: client.recv(1024), "recv")
    udp = listening(lab, kind=DGRAM)
    waiting_recvfrom = lab.spawn(lambda: udp.recvfrom(), "recvfrom")
    service_server = listening(lab)
    service = Service(lab, service_server, "echo").start()
    rec.wait_for(lambda e: rec.count(where(phase=WAIT)) >= 4, what="four waits")
    assert len(socket_fds() - before) == 5 == lab.open_sockets

    lab.close_all()

    for thread in (waiting_accept, waiting_recv, waiting_recvfrom):
        assert not thread.is_alive()
    assert service.finished.is_set()
    assert lab.open_sockets == 0
    assert not conn.is_open and not client.is_open and not server.is_open
    assert socket_fds() - before == set()


def test_reset_logs_every_close_it_makes_as_the_labs(lab: Lab, rec: Recorder) -> None:
    """Reset closes each open socket with a real close(), by the lab, saying why;
    the accept it ends says the lab closed the socket, not "make a new one"."""
    server, conn, client = stream_pair(lab)
    service = Service(lab, server, "manual").start()
    wait = rec.wait_for(where(op="accept", phase=WAIT), what="accept waiting")
    assert lab.open_sockets == 3
    lab.reset()
    assert service.wait(LIMIT) and not service.failed  # the lab's close is no failure
    closes = [e for e in rec.snapshot() if e.op == "close"]
    assert [(e.side, e.conn) for e in closes] == [("server", 1), ("client", 1),
                                                  ("server", None)]
    assert all(e.ok and e.by == "lab" and e.lesson == "closed by the lab: Reset"
               for e in closes), closes
    assert all(e.to_dict()["by"] == "lab" for e in closes)
    done = next(e for e in rec.snapshot() if e.call == wait.call and e.phase == DONE)
    assert done.error == "EBADF" and done.seq > closes[-1].seq
    assert "the lab closed" in done.lesson and "Reset" in done.lesson  # type: ignore[operator]
    assert "socket()" not in done.lesson  # type: ignore[operator]
    # stream_pair's accept, and the one the close ended: no accept after the close
    assert rec.count(where(op="accept", phase=DONE)) == 2
    assert not conn.is_open and not client.is_open


def test_socket_again_closes_the_old_one_in_the_log(lab: Lab, rec: Recorder) -> None:
    before = socket_fds()
    endpoint: Endpoint = lab.server()
    assert endpoint.socket().ok
    assert endpoint.socket().ok
    assert len(socket_fds() - before) == 1 and lab.open_sockets == 1
    assert [e.op for e in rec.done()] == ["socket", "close", "socket"]
    close = rec.done()[1]
    assert close.by == "lab" and close.lesson == "closed by the lab: socket() again"


def test_a_call_on_a_socket_the_lab_closed_says_so(lab: Lab, rec: Recorder) -> None:
    client = lab.client(kind=DGRAM)
    assert client.socket().ok
    assert client.close(reason="the socket's family or type changed").by == "lab"
    late = client.sendto(b"x", "127.0.0.1", 9)
    assert late is not None and late.error == "EBADF"
    assert "the lab had closed" in late.lesson  # type: ignore[operator]
    assert client.close().error == "EBADF"  # close() twice is still EBADF
    with Lab() as other:
        stopped = Recorder()
        other.subscribe(stopped)
        other.client().socket()
    close = stopped.done()[-1]
    assert close.op == "close" and close.lesson == "closed by the lab: the lab stopped"


def test_run_server_stops_at_a_failed_bind_and_says_so(lab: Lab, rec: Recorder) -> None:
    from socklab.scenarios import ServerPlan, run_server

    first = listening(lab)
    mark = rec.snapshot()[-1].seq
    plan = ServerPlan(port=first.local[1], mode="welcome")
    second = lab.server()
    assert run_server(lab, second, plan) is None
    mine = [e for e in rec.snapshot() if e.seq > mark]
    assert [(e.op, e.ok) for e in mine] == [("socket", True), ("bind", False), ("close", True)]
    assert mine[1].error == "EADDRINUSE"
    assert mine[2].by == "lab" and mine[2].lesson == "closed by the lab: Run stopped: bind() failed"
    assert not second.is_open and lab.open_sockets == 1


def test_reset_makes_the_lab_reusable(lab: Lab, rec: Recorder) -> None:
    server, conn, client = stream_pair(lab)
    lab.reset()
    assert lab.open_sockets == 0 and not lab.stopping
    last_seq = rec.snapshot()[-1].seq
    # The same endpoints can make new sockets; new ones work as well.
    assert server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen(1).ok
    again = lab.client()
    again.socket()
    assert again.connect("127.0.0.1", server.local[1]).ok
    conn2, _ = server.accept(timeout=LIMIT)
    assert conn2 is not None and conn2.conn == 2  # connection numbers go on
    assert conn2.send(b"still works").ok  # type: ignore[union-attr]
    assert again.recv(1024, timeout=LIMIT).data == b"still works"
    assert all(e.seq > last_seq for e in rec.snapshot()[-8:])
    assert_seq_increasing(rec.snapshot())


def test_calls_without_a_socket_are_ebadf_events(lab: Lab) -> None:
    client = lab.client()
    event = client.connect("127.0.0.1", 9)  # no socket() yet: nothing is sent
    assert not event.ok and event.error == "EBADF" and event.lesson
    assert client.close().error == "EBADF"


def test_close_twice_says_ebadf(lab: Lab) -> None:
    server = lab.server()
    server.socket()
    assert server.close().ok
    again = server.close()
    assert not again.ok and again.error == "EBADF"


def _order_violations(events: list[Event]) -> list[str]:
    """Where the log's order is not the order things really happened.

    An accept numbered before the first event of the connect it pairs with (the
    accept's peer port is the client's local port); a "done" before its "wait"
    (same call id); a recv of bytes before their send (per connection).
    """
    found: list[str] = []
    first_connect: dict[int, Event] = {}
    local_port: dict[int, int] = {}
    waits: dict[int, Event] = {}
    for e in sorted(events, key=lambda e: e.seq):
        if e.phase == WAIT:
            waits[e.call] = e
        elif e.call and (e.call not in waits or waits[e.call].seq > e.seq):
            found.append(f"#{e.seq} {e.op} done without an earlier wait (call {e.call})")
        if e.side == "client" and e.op == "connect":
            first_connect.setdefault(e.conn, e)  # type: ignore[arg-type]
            if e.phase == DONE and e.ok:
                local_port[e.result[1]] = e.conn  # type: ignore[index]
    for accept in (e for e in events if e.op == "accept" and e.phase == DONE and e.ok):
        client = local_port.get(accept.result[1])
        if client is None:
            found.append(f"#{accept.seq} accept of port {accept.result[1]}: no such connect")
        elif accept.seq < first_connect[client].seq:
            found.append(f"#{accept.seq} accept numbered before #{first_connect[client].seq}, "
                         f"the first event of client[{client}]'s connect")
    for n in local_port.values():
        try:
            assert_causal(events, sender=("server", n), receiver=("client", n))
        except AssertionError as exc:
            found.append(str(exc))
    return found


def test_run_client_200_times_under_load_never_logs_out_of_order(busy_cores: int) -> None:
    """Issue 9's order case: Run server once, Run client 200 times, both cores busy."""
    from socklab.scenarios import ClientPlan, ServerPlan, run_client, run_server

    rec = Recorder()
    with Lab(connect_timeout=LIMIT) as lab:
        lab.subscribe(rec)
        server = lab.server()
        service = run_server(lab, server, ServerPlan(port=0, mode="welcome"))
        assert service is not None, rec.dump()
        plan = ClientPlan(port=server.local[1], idle=LIMIT)
        for _ in range(200):
            assert run_client(lab, lab.client(), plan), rec.dump()
    events = rec.snapshot()
    accepts = [e for e in events if e.op == "accept" and e.phase == DONE and e.ok]
    assert len(accepts) == 200
    assert _order_violations(events) == []


def test_an_empty_send_is_a_real_call_with_the_kernels_answer(lab: Lab, rec: Recorder) -> None:
    """send(b'') calls send(): 0 when connected, EPIPE after SHUT_WR, EBADF after close."""
    _, conn, client = stream_pair(lab)
    connected = client.send(b"")
    assert connected is not None and connected.ok and connected.result == 0
    assert client.shutdown(socket.SHUT_WR).ok
    shut = client.send(b"")
    assert shut is not None and not shut.ok and shut.error == "EPIPE" and shut.lesson
    assert client.close().ok
    closed = client.send(b"")
    assert closed is not None and not closed.ok and closed.error == "EBADF"
    assert conn.recv(16, timeout=LIMIT).eof  # the peer saw only the FIN


def test_a_wait_ended_by_a_close_is_numbered_right_after_it(lab: Lab, rec: Recorder) -> None:
    """The lab's close ends a waiting accept(): its end is the next event, before
    anything the closing thread does next (Run server again: the new socket())."""
    for _ in range(3):
        server = lab.server()
        server.socket()
        server.bind("127.0.0.1", 0)
        listened = server.listen(1)
        lab.spawn(server.accept, "accept")
        rec.wait_for(lambda e, s=listened.seq: e.op == "accept" and e.phase == WAIT
                     and e.seq > s)
        close = server.close_by_lab("Run server again")
        assert close is not None
        lab.server().socket()
        after = [e for e in rec.snapshot() if e.seq > close.seq]
        assert (after[0].op, after[0].ok, after[0].error) == ("accept", False, "EBADF"), \
            rec.dump()


def test_a_stranger_from_a_port_a_client_used_is_not_that_client(lab: Lab, rec: Recorder) -> None:
    """One accept answers one connect: a later connection from the same address and
    port (a port scan reusing it) is nobody's client."""
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(2)
    client = lab.client()
    client.socket()
    client.setsockopt_reuseaddr(True)
    client.bind("127.0.0.1", 0)
    assert client.connect("127.0.0.1", server.local[1]).ok
    conn, accepted = server.accept(timeout=LIMIT)
    assert conn is not None and accepted.peer_conn == client.conn
    local = client.local
    conn.close()
    client.close()
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(local)
        stranger.connect(("127.0.0.1", server.local[1]))
        other, again = server.accept(timeout=LIMIT)
        assert other is not None and tuple(again.result)[:2] == tuple(local)
        assert again.peer_conn is None
