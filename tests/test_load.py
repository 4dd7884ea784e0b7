"""Load on loopback: a thousand clients at once, thousands of cycles, bulk bytes.

Every figure here is a count, never a time: the machines are shared and
noisy, so the tests assert that nothing was lost and nothing leaked, and bound
every wait only to turn a hang into a failure.  The client halves are plain
Python sockets (or the engine, where said) driven by a bounded thread pool;
the server half is always the engine's own `modes.Service`.
"""

from __future__ import annotations

import gc
import resource
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import LIMIT, Recorder, assert_causal, socket_fds

from socklab.engine import Lab, Server
from socklab.events import DONE, Event
from socklab.modes import Service

CLIENTS = 1000
CYCLES = 5000
ENGINE_CYCLES = 1000
POOL = 32


@pytest.fixture
def descriptors_for(request: pytest.FixtureRequest) -> Iterator[None]:
    """Raise the soft descriptor limit to the hard one for this test if needed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 3 * CLIENTS + 256
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"needs {need} descriptors; the hard limit here is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _echo_server(lab: Lab, count: int | None, backlog: int = 128,
                 kind: int = socket.SOCK_STREAM) -> tuple[Server, Service]:
    server = lab.server(kind=kind)
    assert server.socket().ok
    assert server.bind("127.0.0.1", 0).ok
    if kind == socket.SOCK_STREAM:
        assert server.listen(backlog).ok
    return server, Service(lab, server, "echo", count=count).start()


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _payload(i: int) -> bytes:
    return f"client {i:05d}: hello, echo! {'*' * (i % 97)}\r\n".encode()


def _settled_fds(baseline: set[int]) -> set[int]:
    """Socket fds opened since ``baseline`` and still open (after collection)."""
    gc.collect()
    return socket_fds() - baseline


def _our_conn(rec: Recorder, peer: tuple[str, int]) -> int:
    """The lab's number for the connection from ``peer`` (not a stranger's)."""
    accepted = rec.wait_for(lambda e: e.op == "accept" and e.ok
                            and tuple(e.result or ())[:2] == tuple(peer)[:2],
                            what=f"the accept of {peer}")
    assert accepted.conn is not None
    return accepted.conn


class Tally:
    """What the server did with *our* connections, counted as events arrive.

    Connections are told apart by the peer address the accept event reports,
    so a stranger (a port scan running elsewhere on this shared machine) that
    connects to the listener is served but never counted.
    """

    def __init__(self) -> None:
        self.peers: set[tuple[str, int]] = set()
        self.peer_of: dict[int, tuple[str, int]] = {}
        self.closed = 0
        self.echoed = 0
        self.failures: list[Event] = []
        self._cond = threading.Condition()

    def expect(self, peer: tuple[str, int]) -> None:
        with self._cond:
            self.peers.add(peer)

    def __call__(self, event: Event) -> None:
        if event.side != "server" or event.phase != DONE or event.conn is None:
            return
        with self._cond:
            if event.op == "accept" and event.ok:
                self.peer_of[event.conn] = tuple(event.result)  # type: ignore[assignment]
                return
            if self.peer_of.get(event.conn) not in self.peers:
                return  # a stranger's connection, or one we have not connected yet
            if not event.ok:
                self.failures.append(event)
            elif event.op == "send":
                self.echoed += event.nbytes or 0
            elif event.op == "close":
                self.closed += 1
                self._cond.notify_all()

    @property
    def accepted(self) -> int:
        with self._cond:
            return sum(1 for peer in self.peer_of.values() if peer in self.peers)

    def wait_closed(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.closed >= count, timeout)


def test_a_thousand_concurrent_clients_are_all_answered(descriptors_for: None) -> None:
    baseline = socket_fds()
    lab = Lab(max_connections=CLIENTS + 64, connect_timeout=LIMIT)
    tally = Tally()
    lab.subscribe(tally)
    clients: list[socket.socket] = []
    lock = threading.Lock()
    try:
        server, service = _echo_server(lab, None, backlog=CLIENTS)
        address = server.local

        def connect(_i: int) -> None:
            sock = socket.create_connection(address, timeout=LIMIT)
            with lock:
                clients.append(sock)
            tally.expect(sock.getsockname())

        def exchange(i: int) -> bytes:
            sock = clients[i]
            sock.sendall(_payload(i))
            return _recv_exactly(sock, len(_payload(i)))

        with ThreadPoolExecutor(POOL) as pool:
            list(pool.map(connect, range(CLIENTS)))  # all connected before any talks
            assert len(clients) == CLIENTS
            replies = list(pool.map(exchange, range(CLIENTS)))
        # every client got exactly its own bytes back
        lost = [i for i, reply in enumerate(replies) if reply != _payload(i)]
        assert lost == [], f"{len(lost)} clients were not answered: {lost[:10]}"
        # and all of them were open and served at the same time
        ours = [c for c in list(server.connections.values())
                if c.state != "closed" and c.peer in tally.peers]
        assert len(ours) == CLIENTS
        for sock in clients:
            sock.close()
        clients.clear()
        assert tally.wait_closed(CLIENTS, LIMIT * 4), "the echo handlers did not all finish"
        assert not service.failed
    finally:
        for sock in clients:
            sock.close()
        lab.close_all()
    assert tally.accepted == CLIENTS
    assert tally.failures == [], tally.failures[:5]
    assert tally.echoed == sum(len(_payload(i)) for i in range(CLIENTS))
    assert lab.open_sockets == 0
    assert _settled_fds(baseline) == set(), "descriptors are not back to the baseline"


def test_five_thousand_sequential_cycles_no_error_no_growth() -> None:
    baseline = socket_fds()
    lab = Lab(connect_timeout=LIMIT)
    tally = Tally()
    lab.subscribe(tally)
    growth: list[int] = []
    try:
        server, service = _echo_server(lab, None)
        for i in range(CYCLES):
            with socket.create_connection(server.local, timeout=LIMIT) as sock:
                tally.expect(sock.getsockname())
                payload = _payload(i)
                sock.sendall(payload)
                assert _recv_exactly(sock, len(payload)) == payload, i
            if i % 500 == 499:
                growth.append(len(socket_fds() - baseline))
        assert tally.wait_closed(CYCLES, LIMIT * 4), "the echo handlers did not all finish"
        assert not service.failed
    finally:
        lab.close_all()
    # while running: only the listener and a few connections still closing
    assert max(growth) <= 64, growth
    assert tally.failures == []
    assert tally.accepted == CYCLES and tally.closed == CYCLES
    assert _settled_fds(baseline) == set()


def test_a_thousand_cycles_with_the_engine_as_client(lab: Lab) -> None:
    baseline = socket_fds()
    tally = Tally()
    lab.subscribe(tally)
    server, service = _echo_server(lab, None)
    for i in range(ENGINE_CYCLES):
        client = lab.client()
        assert client.socket().ok
        assert client.connect("127.0.0.1", server.local[1]).ok
        tally.expect(client.local)
        payload = _payload(i)
        assert client.send(payload).ok  # type: ignore[union-attr]
        got = b""
        while len(got) < len(payload):
            received = client.recv(4096, timeout=LIMIT)
            assert received.ok and received.data, received
            got += received.data
        assert got == payload
        assert client.close().ok
    assert tally.wait_closed(ENGINE_CYCLES, LIMIT * 4)
    assert not service.failed and tally.failures == []
    server.close()
    lab.close_all()
    assert lab.open_sockets == 0
    assert _settled_fds(baseline) == set()


def test_bulk_echo_every_byte_back_and_accounted_for(lab: Lab, rec: Recorder) -> None:
    """8 MiB through the echo server: identical bytes back, and the log's byte
    counts add up to exactly what moved."""
    total = 8 << 20
    block = bytes(range(256)) * 256  # 64 KiB with a pattern, so order is checked
    server, service = _echo_server(lab, None)
    received = bytearray()
    with socket.create_connection(server.local, timeout=LIMIT) as sock:
        ours = sock.getsockname()
        reader = threading.Thread(target=lambda: received.extend(_recv_exactly(sock, total)))
        reader.start()
        for _ in range(total // len(block)):
            sock.sendall(block)
        sock.shutdown(socket.SHUT_WR)
        reader.join(LIMIT * 4)
        assert not reader.is_alive()
    assert len(received) == total and received == block * (total // len(block))
    conn = _our_conn(rec, ours)
    rec.wait_for(lambda e: e.op == "close" and e.conn == conn, what="our connection closed")
    assert not service.failed
    lab.flush_floods()
    done = [e for e in rec.done() if e.side == "server" and e.conn == conn]
    recv_total = sum(e.nbytes or 0 for e in done if e.op == "recv" and e.ok)
    send_total = sum(e.nbytes or 0 for e in done if e.op == "send" and e.ok)
    assert recv_total == send_total == total
    assert [e for e in done if not e.ok] == []


def test_flood_into_discard_is_coalesced_and_every_byte_counted(lab: Lab, rec: Recorder) -> None:
    total = 16 << 20
    server = lab.server()
    assert server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen(5).ok
    service = Service(lab, server, "discard").start()
    with socket.create_connection(server.local, timeout=LIMIT) as sock:
        ours = sock.getsockname()
        block = b"d" * 65536
        for _ in range(total // len(block)):
            sock.sendall(block)
    conn = _our_conn(rec, ours)
    rec.wait_for(lambda e: e.op == "close" and e.conn == conn, what="our connection closed")
    assert not service.failed
    lab.flush_floods()
    recvs = [e for e in rec.done() if e.op == "recv" and e.conn == conn]
    assert all(e.ok for e in recvs)
    assert sum(e.nbytes or 0 for e in recvs) == total
    assert recvs[-1].nbytes == 0  # and then EOF, reported on its own
    coalesced = [e for e in recvs if e.count > 1]
    assert coalesced, "a flood of recv calls is reported as recv ×N"
    assert len(recvs) < sum(e.count for e in recvs)  # fewer events than calls


def test_a_thousand_datagrams_each_echoed(lab: Lab, rec: Recorder) -> None:
    server, service = _echo_server(lab, ENGINE_CYCLES, kind=socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(LIMIT)
        for i in range(ENGINE_CYCLES):
            payload = _payload(i)
            sock.sendto(payload, server.local)
            reply, peer = sock.recvfrom(65535)
            assert reply == payload and peer == server.local, i
    assert service.wait(LIMIT)
    assert service.handled == ENGINE_CYCLES
    lab.flush_floods()
    done = rec.done()
    assert sum(e.count for e in done if e.op == "recvfrom" and e.ok) == ENGINE_CYCLES
    assert sum(e.count for e in done if e.op == "sendto" and e.ok) == ENGINE_CYCLES
    assert all(e.phase == DONE or e.op == "recvfrom" for e in rec.snapshot())


def test_a_datagram_flood_is_counted_exactly_and_stays_causal(lab: Lab, rec: Recorder) -> None:
    """5,000 datagrams from the engine into a discard server: the batched
    receive path and the lock-free flood sendto count every call and byte, and
    the log never shows a recvfrom before the sendto whose datagram it reads."""
    n, size = 5_000, 1024
    server = lab.server(socket.AF_INET, socket.SOCK_DGRAM)
    assert server.socket().ok
    assert server.sock is not None
    # Room for the whole flood (the kernel doubles it): nothing can be dropped.
    server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    assert server.bind("127.0.0.1", 0).ok
    service = Service(lab, server, "discard", count=n).start()
    client = lab.client(socket.AF_INET, socket.SOCK_DGRAM)
    assert client.socket().ok
    for i in range(n):
        client.sendto(b"%06d" % i + b"u" * (size - 6), "127.0.0.1", server.local[1])
    assert service.wait(LIMIT)
    assert service.handled == n
    lab.flush_floods()
    done = rec.done()
    sent = [e for e in done if e.op == "sendto" and e.side == "client"]
    received = [e for e in done if e.op == "recvfrom" and e.side == "server"]
    assert all(e.ok for e in sent + received)
    assert sum(e.count for e in sent) == n and sum(e.nbytes or 0 for e in sent) == n * size
    assert sum(e.count for e in received) == n
    assert sum(e.nbytes or 0 for e in received) == n * size == server.bytes_in
    assert any(e.count > 1 for e in received) and any(e.count > 1 for e in sent)
    assert_causal(done, sender=("client", client.conn), receiver=("server", None))
