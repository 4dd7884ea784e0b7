"""Data-path figures: TCP bulk throughput and UDP datagram rate, engine vs plain sockets.

Both sides of every measurement run in this process on 127.0.0.1, a sender
thread and a receiver thread, so the engine and the baseline meet the same
kernel, the same GIL and the same noise.  Runs alternate (baseline, engine,
baseline, ...) and the medians are compared.
"""

from __future__ import annotations

import collections
import socket
import threading
import time

from socklab.engine import Lab
from socklab.events import Event
from socklab.modes import Service

from .report import Figure, median

CHUNK = 64 * 1024
TCP_BYTES = 512 * 1024 * 1024  # at least 256 MiB, per the issue
DATAGRAM = 1024
DATAGRAMS = 100_000
#: A receiver that has seen nothing for this long has seen all it will.
QUIET = 0.3
#: Both UDP receivers get the same, larger buffer, so a scheduling hiccup on a
#: busy 2-core machine costs fewer datagrams (the kernel caps it at rmem_max).
RCVBUF = 4 * 1024 * 1024


class LabSink:
    """What the lab's sink does with each event: append it to a deque."""

    def __init__(self) -> None:
        self.events: collections.deque[Event] = collections.deque()

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def total(self, op: str, side: str) -> int:
        return sum(e.nbytes or 0 for e in self.events
                   if e.op == op and e.side == side and e.phase == "done" and e.ok)


# -- TCP --------------------------------------------------------------------------


def tcp_plain(total: int = TCP_BYTES) -> float:
    """Seconds for plain blocking sockets to move ``total`` bytes (sendall / recv_into)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sender = socket.create_connection(listener.getsockname())
        receiver, _ = listener.accept()
    got = [0]

    def receive() -> None:
        view = memoryview(bytearray(CHUNK))
        n = 0
        while chunk := receiver.recv_into(view):
            n += chunk
        got[0] = n

    data = b"x" * CHUNK
    thread = threading.Thread(target=receive)
    started = time.perf_counter()
    thread.start()
    for _ in range(total // CHUNK):
        sender.sendall(data)
    sender.shutdown(socket.SHUT_WR)
    thread.join()
    elapsed = time.perf_counter() - started
    sender.close()
    receiver.close()
    if got[0] != total:
        raise RuntimeError(f"plain TCP moved {got[0]} of {total} bytes")
    return elapsed


def tcp_engine(total: int = TCP_BYTES,
               watch: collections.abc.Callable[[Lab], object] | None = None,
               ) -> tuple[float, int, int]:
    """Seconds for the engine to move ``total`` bytes: client ``send`` → discard Service.

    ``watch`` starts something on the lab first (the wire figure: packet capture).
    Returns (seconds, events logged, bytes the log accounts for on the server side).
    """
    sink = LabSink()
    with Lab() as lab:
        lab.subscribe(sink)
        if watch is not None:
            watch(lab)
        server = lab.server()
        server.socket()
        server.bind("127.0.0.1", 0)
        server.listen(5)
        service = Service(lab, server, "discard", count=1).start()
        client = lab.client()
        client.socket()
        client.connect("127.0.0.1", server.local[1])
        data = b"x" * CHUNK
        started = time.perf_counter()
        for _ in range(total // CHUNK):
            client.send(data)
        client.shutdown()
        service.wait(60)
        elapsed = time.perf_counter() - started
        client.close()
    return elapsed, len(sink.events), sink.total("recv", "server")


def tcp_figure(runs: int = 5) -> Figure:
    plain, engine = [], []
    events, accounted = 0, 0
    for _ in range(runs):
        plain.append(tcp_plain())
        seconds, events, accounted = tcp_engine()
        engine.append(seconds)
    mib = TCP_BYTES / 2**20
    figure = Figure("1 TCP bulk throughput", mib / median(engine), mib / median(plain),
                    "MiB/s", 0.8, True,
                    goal="the engine's events cost little on the data path")
    figure.notes.append(
        f"{mib:.0f} MiB in {CHUNK // 1024} KiB chunks, median of {runs}; the engine logged "
        f"{events} events (coalesced) accounting for {accounted / 2**20:.0f} MiB received")
    if accounted != TCP_BYTES:
        figure.ok = False
        figure.notes.append(f"the log accounts for {accounted} bytes, not {TCP_BYTES}")
    return figure


# -- UDP --------------------------------------------------------------------------


def _wait_quiet(count: collections.abc.Callable[[], int], expected: int) -> float:
    """Poll a receive counter until it reaches ``expected`` or stops moving: the last change."""
    last, last_change = count(), time.perf_counter()
    while last < expected:
        time.sleep(0.002)
        now_count = count()
        now = time.perf_counter()
        if now_count != last:
            last, last_change = now_count, now
        elif now - last_change > QUIET:
            break
    return last_change


def udp_plain(n: int = DATAGRAMS) -> tuple[float, int]:
    """(seconds to the last datagram received, datagrams received): plain sendto/recvfrom."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(QUIET)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = receiver.getsockname()
    got = [0]

    def receive() -> None:
        # recvfrom, as the engine's datagram server calls it (a server needs
        # the sender's address to answer).
        try:
            while got[0] < n:
                receiver.recvfrom(65535)
                got[0] += 1
        except TimeoutError:
            pass

    thread = threading.Thread(target=receive)
    thread.start()
    data = b"u" * DATAGRAM
    started = time.perf_counter()
    for _ in range(n):
        sender.sendto(data, address)
    last = _wait_quiet(lambda: got[0], n)
    thread.join()
    sender.close()
    receiver.close()
    return last - started, got[0]


def udp_engine(n: int = DATAGRAMS) -> tuple[float, int]:
    """The same through the engine: client ``sendto`` → a discard Service's ``recvfrom``."""
    with Lab() as lab:
        lab.subscribe(LabSink())
        server = lab.server(socket.AF_INET, socket.SOCK_DGRAM)
        server.socket()
        assert server.sock is not None
        server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # as the baseline
        server.bind("127.0.0.1", 0)
        service = Service(lab, server, "discard", count=n).start()
        client = lab.client(socket.AF_INET, socket.SOCK_DGRAM)
        client.socket()
        port = server.local[1]
        data = b"u" * DATAGRAM
        started = time.perf_counter()
        for _ in range(n):
            client.sendto(data, "127.0.0.1", port)
        last = _wait_quiet(lambda: service.handled, n)
        received = service.handled
    return last - started, received


def udp_figure(runs: int = 5) -> Figure:
    plain, engine, lost_plain, lost_engine = [], [], [], []
    for _ in range(runs):
        seconds, got = udp_plain()
        plain.append(got / seconds)
        lost_plain.append(DATAGRAMS - got)
        seconds, got = udp_engine()
        engine.append(got / seconds)
        lost_engine.append(DATAGRAMS - got)
    figure = Figure("2 UDP datagrams received", median(engine), median(plain), "dgram/s",
                    0.7, True, goal="the engine keeps up with plain UDP sockets")
    figure.notes.append(
        f"{DATAGRAMS:,} datagrams of {DATAGRAM} B per run, median of {runs}; lost per run: "
        f"engine {lost_engine}, plain {lost_plain}")
    return figure
