"""The lecture's demos, as sequences of real calls on loopback.

Each demo drives a server and a client in one process, step by step, in the
order the lecture tells it, so its log is the same every run (only ports and
times change).  Ports are chosen by the kernel (port 0), so a demo never
collides with anything else on the machine.  Demos that show an error succeed
(exit 0) when the error they teach really happens.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

from .engine import GREETING, Lab
from .events import Sink

Demo = Callable[[Lab], bool]


def welcome(lab: Lab, family: int = socket.AF_INET) -> bool:
    """sockets_server.py + sockets_client.py: the greeting, over TCP."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    server = lab.server(family)
    client = lab.client(family)
    ok = server.socket().ok and server.bind(host, 0).ok and server.listen(5).ok
    if not ok:
        return False
    port = server.local[1]
    ok = client.socket().ok and client.connect(host, port).ok
    conn, _ = server.accept()
    if not ok or conn is None:
        return False
    sent = conn.send(GREETING)
    received = client.recv(1024)
    conn.close()
    client.close()
    server.close()
    return bool(sent and sent.ok and received.data == GREETING)


def ipv6(lab: Lab) -> bool:
    return welcome(lab, socket.AF_INET6)


def echo(lab: Lab) -> bool:
    """An echo server: what the client sends comes back; close → EOF."""
    server, client = lab.server(), lab.client()
    if not (server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen(5).ok):
        return False
    if not (client.socket().ok and client.connect("127.0.0.1", server.local[1]).ok):
        return False
    conn, _ = server.accept()
    if conn is None:
        return False
    client.send(b"Hello, echo!\r\n")
    conn.send(conn.recv(1024).data)
    reply = client.recv(1024)
    client.close()
    eof = conn.recv(1024)  # b'': the client closed
    conn.close()
    server.close()
    return reply.data == b"Hello, echo!\r\n" and eof.eof


def udp(lab: Lab) -> bool:
    """Datagrams: bind and recvfrom, sendto an address; no listen, no accept."""
    server = lab.server(kind=socket.SOCK_DGRAM)
    client = lab.client(kind=socket.SOCK_DGRAM)
    if not (server.socket().ok and server.bind("127.0.0.1", 0).ok and client.socket().ok):
        return False
    port = server.local[1]
    client.sendto(b"Hello, UDP!", "127.0.0.1", port)
    got = server.recvfrom(65535)
    if got.addr is None:
        return False
    server.sendto(GREETING, *got.addr)
    reply = client.recvfrom(65535)
    client.close()
    server.close()
    return reply.data == GREETING


def http(lab: Lab) -> bool:
    """py4e's socket1.py: a raw GET for /romeo.txt, read until the server closes."""
    from .modes import Service

    server, client = lab.server(), lab.client()
    if not (server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen(5).ok):
        return False
    port = server.local[1]
    service = Service(lab, server, "http", count=1).start()
    if not (client.socket().ok and client.connect("127.0.0.1", port).ok):
        return False
    client.send(f"GET /romeo.txt HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    page = b""
    for _ in range(10_000):
        got = client.recv(512, timeout=10.0)
        if not got.ok or got.eof:
            break
        page += got.data
    client.close()
    service.wait(10.0)
    server.close()
    return page.startswith(b"HTTP/1.0 200 OK") and b"But soft what light" in page


def refused(lab: Lab) -> bool:
    """Connect to a port nobody listens on: ECONNREFUSED."""
    probe = lab.server()
    if not (probe.socket().ok and probe.bind("127.0.0.1", 0).ok):
        return False
    port = probe.local[1]
    probe.close()  # now nothing owns the port: the kernel will answer RST
    client = lab.client()
    client.socket()
    event = client.connect("127.0.0.1", port)
    client.close()
    return event.error == "ECONNREFUSED"


def inuse(lab: Lab) -> bool:
    """EADDRINUSE twice: a port someone listens on, and a port in TIME_WAIT."""
    first = lab.server()
    # The first server sets SO_REUSEADDR, as real servers do: its connections'
    # TIME_WAIT leftovers inherit it, which is what lets a restart rebind.
    if not (first.socket().ok and first.setsockopt_reuseaddr(True).ok
            and first.bind("127.0.0.1", 0).ok and first.listen(5).ok):
        return False
    port = first.local[1]
    second = lab.server()
    second.socket()
    busy = second.bind("127.0.0.1", port)
    second.close()
    # TIME_WAIT: the side that closes first keeps the port for a while.
    client = lab.client()
    client.socket()
    client.connect("127.0.0.1", port)
    conn, _ = first.accept()
    if conn is None:
        return False
    conn.close()  # the server closes first: its side goes to TIME_WAIT
    client.recv(1024)  # b''
    client.close()
    first.close()
    again = lab.server()
    again.socket()
    waiting = again.bind("127.0.0.1", port)
    again.close()
    reuse = lab.server()
    reuse.socket()
    reuse.setsockopt_reuseaddr(True)
    rebound = reuse.bind("127.0.0.1", port)
    reuse.close()
    return busy.error == "EADDRINUSE" and waiting.error == "EADDRINUSE" and rebound.ok


DEMOS: dict[str, Demo] = {
    "welcome": welcome,
    "echo": echo,
    "udp": udp,
    "ipv6": ipv6,
    "http": http,
    "refused": refused,
    "inuse": inuse,
}


def ipv6_available() -> bool:
    """Can this machine bind ::1?  (Containers often have no IPv6 at all.)"""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def run_demo(name: str, sink: Sink) -> int:
    """Run one demo, printing its events; 0 when it showed what it teaches."""
    if name == "ipv6" and not ipv6_available():
        print("socklab: demo ipv6 skipped: this machine cannot bind ::1 (no IPv6 loopback)",
              file=sys.stderr)
        return 0
    lab = Lab()
    lab.subscribe(sink)
    try:
        ok = DEMOS[name](lab)
    except KeyboardInterrupt:
        ok = True
    finally:
        lab.close_all()
    if not ok:
        print(f"socklab: demo {name} did not go as the lecture says (see the log above)",
              file=sys.stderr)
    return 0 if ok else 1
