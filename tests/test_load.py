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
from helpers import LIMIT, Recorder, socket_fds

from socklab.engine import Lab, Server
from socklab.events import DONE
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


def _echo_server(lab: Lab, count: int, backlog: int = 128,
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


def test_a_thousand_concurrent_clients_are_all_answered(descriptors_for: None) -> None:
    baseline = socket_fds()
    lab = Lab(max_connections=CLIENTS + 64, connect_timeout=LIMIT)
    rec = Recorder()
    lab.subscribe(rec)
    clients: list[socket.socket] = []
    lock = threading.Lock()
    try:
        server, service = _echo_server(lab, CLIENTS, backlog=CLIENTS)
        address = server.local

        def connect(_i: int) -> None:
            sock = socket.create_connection(address, timeout=LIMIT)
            with lock:
                clients.append(sock)

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
        assert server.open_connections == CLIENTS
        for sock in clients:
            sock.close()
        clients.clear()
        assert service.wait(LIMIT * 4), "the echo service did not finish"
        assert service.handled == CLIENTS and not service.failed
    finally:
        for sock in clients:
            sock.close()
        lab.close_all()
    done = rec.done()
    accepts = [e for e in done if e.op == "accept" and e.ok]
    assert len(accepts) == CLIENTS
    assert len({e.conn for e in accepts}) == CLIENTS
    failures = [e for e in done if not e.ok]
    assert failures == [], failures[:5]
    echoed = sum(e.nbytes or 0 for e in done if e.op == "send" and e.side == "server")
    assert echoed == sum(len(_payload(i)) for i in range(CLIENTS))
    assert lab.open_sockets == 0
    assert _settled_fds(baseline) == set(), "descriptors are not back to the baseline"


def test_five_thousand_sequential_cycles_no_error_no_growth() -> None:
    baseline = socket_fds()
    lab = Lab(connect_timeout=LIMIT)
    rec = Recorder()
    lab.subscribe(rec)
    growth: list[int] = []
    try:
        server, service = _echo_server(lab, CYCLES)
        for i in range(CYCLES):
            with socket.create_connection(server.local, timeout=LIMIT) as sock:
                payload = _payload(i)
                sock.sendall(payload)
                assert _recv_exactly(sock, len(payload)) == payload, i
            if i % 500 == 499:
                growth.append(len(socket_fds() - baseline))
        assert service.wait(LIMIT * 4), "the echo service did not finish"
        assert service.handled == CYCLES and not service.failed
    finally:
        lab.close_all()
    # while running: only the listener and a few connections still closing
    assert max(growth) <= 64, growth
    done = rec.done()
    assert [e for e in done if not e.ok] == []
    assert sum(1 for e in done if e.op == "accept") == CYCLES
    assert sum(1 for e in done if e.op == "close" and e.side == "server") == CYCLES
    assert _settled_fds(baseline) == set()


def test_a_thousand_cycles_with_the_engine_as_client(lab: Lab, rec: Recorder) -> None:
    baseline = socket_fds()
    server, service = _echo_server(lab, ENGINE_CYCLES)
    for i in range(ENGINE_CYCLES):
        client = lab.client()
        assert client.socket().ok
        assert client.connect("127.0.0.1", server.local[1]).ok
        payload = _payload(i)
        assert client.send(payload).ok  # type: ignore[union-attr]
        got = b""
        while len(got) < len(payload):
            event = client.recv(4096, timeout=LIMIT)
            assert event is not None and event.ok and client.last_data, event
            got += client.last_data
        assert got == payload
        assert client.close().ok
    assert service.wait(LIMIT * 4)
    assert service.handled == ENGINE_CYCLES and not service.failed
    assert [e for e in rec.done() if not e.ok] == []
    server.close()
    assert lab.open_sockets == 0
    assert _settled_fds(baseline) == set()


def test_bulk_echo_every_byte_back_and_accounted_for(lab: Lab, rec: Recorder) -> None:
    """8 MiB through the echo server: identical bytes back, and the log's byte
    counts add up to exactly what moved."""
    total = 8 << 20
    block = bytes(range(256)) * 256  # 64 KiB with a pattern, so order is checked
    server, service = _echo_server(lab, 1)
    received = bytearray()
    with socket.create_connection(server.local, timeout=LIMIT) as sock:
        reader = threading.Thread(target=lambda: received.extend(_recv_exactly(sock, total)))
        reader.start()
        for _ in range(total // len(block)):
            sock.sendall(block)
        sock.shutdown(socket.SHUT_WR)
        reader.join(LIMIT * 4)
        assert not reader.is_alive()
    assert len(received) == total and received == block * (total // len(block))
    assert service.wait(LIMIT)
    lab.flush_floods()
    done = [e for e in rec.done() if e.side == "server" and e.conn is not None]
    recv_total = sum(e.nbytes or 0 for e in done if e.op == "recv" and e.ok)
    send_total = sum(e.nbytes or 0 for e in done if e.op == "send" and e.ok)
    assert recv_total == send_total == total
    assert [e for e in done if not e.ok] == []


def test_flood_into_discard_is_coalesced_and_every_byte_counted(lab: Lab, rec: Recorder) -> None:
    total = 16 << 20
    server = lab.server()
    assert server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen(5).ok
    service = Service(lab, server, "discard", count=1).start()
    with socket.create_connection(server.local, timeout=LIMIT) as sock:
        block = b"d" * 65536
        for _ in range(total // len(block)):
            sock.sendall(block)
    assert service.wait(LIMIT)
    lab.flush_floods()
    recvs = [e for e in rec.done() if e.op == "recv" and e.conn is not None]
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
