"""``socklab demo two-hosts``: loopback, one address and every address, across two hosts.

Real sockets on two real network namespaces (`TwoHosts`): the server on host A
(192.168.0.1), the client on host B (192.168.0.105).  Each case begins with a
``case`` event whose lesson says what it shows, then makes the calls:

1. bound to 127.0.0.1 on A: B connects to A's address → ECONNREFUSED, and to
   127.0.0.1 → its own loopback, ECONNREFUSED too;
2. bound to A's address: B connects; accept() shows B's address as the peer;
3. bound to '': B reaches A's address, and a client on A itself reaches
   127.0.0.1 — every address of the host;
4. gethostname() on each host, and what it resolves to.
The demo succeeds (exit 0) when each case went as its lesson says.
"""

from __future__ import annotations

import socket
from typing import Any

from ..engine import GREETING, Endpoint, Lab, Server
from ..events import CLIENT, SERVER
from ..hosts import teach
from ..hosts.mode import enable
from ..hosts.pair import HOST_A, HOST_B, TwoHosts
from ..scenarios import ServerPlan, open_server, run_steps


class ClientOnA(Endpoint):
    """A client that lives on host A (the server's host), for the '' case."""

    on_host = HOST_A.letter  # made there (`TwoHosts.socket_for`); its events say so


def _case(lab: Lab, title: str, expect: str, lesson: str) -> None:
    """Say which case comes next, what it should show and why (an event of its own)."""
    lab.bus.emit(side=SERVER, conn=None, op="case", args=(title,), result=expect,
                 lesson=lesson)


def _server(lab: Lab, host: str) -> Server | None:
    server = lab.server()
    return server if open_server(server, ServerPlan(host=host, port=0)) else None


def _connect(client: Endpoint, host: str, port: int) -> str | None:
    """socket, connect: the error it met (None: connected)."""
    failed = None
    if run_steps(client, [client.socket]):
        event = client.connect(host, port)
        failed = None if event.ok else event.error
    return failed if client.sock is not None else "no socket"


def _exchange(server: Server, client: Endpoint) -> tuple[Any, bool]:
    """accept, send the greeting, recv it, close both: (accept's peer, greeting came)."""
    conn, _ = server.accept(timeout=10.0)
    if conn is None:
        return None, False
    conn.send(GREETING)
    got = client.recv(1024, timeout=10.0)
    conn.close()
    client.close()
    return conn.peer, got.data == GREETING


def loopback_only(lab: Lab) -> bool:
    _case(lab, "server bound to 127.0.0.1 on host A", "refused", teach.HOSTS_LOOPBACK)
    server = _server(lab, "127.0.0.1")
    if server is None:
        return False
    port = server.local[1]
    results = []
    for host, lesson in ((HOST_A.address, None), ("127.0.0.1", teach.HOSTS_B_LOOPBACK)):
        if lesson is not None:
            _case(lab, f"client on host B connects to {host}", "refused", lesson)
        client = lab.client()
        results.append(_connect(client, host, port))
        client.close()
    server.close()
    return results == ["ECONNREFUSED", "ECONNREFUSED"]


def one_address(lab: Lab) -> bool:
    _case(lab, f"server bound to {HOST_A.address}, host A's address", "reachable",
          teach.HOSTS_ONE_ADDRESS.format(address=HOST_A.address, peer=HOST_B.address))
    server = _server(lab, HOST_A.address)
    if server is None:
        return False
    client = lab.client()
    if _connect(client, HOST_A.address, server.local[1]) is not None:
        return False
    peer, greeted = _exchange(server, client)
    server.close()
    return greeted and peer is not None and peer[0] == HOST_B.address


def every_address(lab: Lab) -> bool:
    _case(lab, "server bound to '' on host A", "reachable",
          teach.HOSTS_EVERY_ADDRESS.format(address=HOST_A.address))
    server = _server(lab, "")
    if server is None:
        return False
    port = server.local[1]
    from_b = lab.client()
    if _connect(from_b, HOST_A.address, port) is not None:
        return False
    peer_b, greeted_b = _exchange(server, from_b)
    from_a = ClientOnA(lab, CLIENT, lab.client().conn)
    if _connect(from_a, "127.0.0.1", port) is not None:
        return False
    peer_a, greeted_a = _exchange(server, from_a)
    server.close()
    return (greeted_a and greeted_b and peer_b is not None and peer_b[0] == HOST_B.address
            and peer_a is not None and peer_a[0] == "127.0.0.1")


def gethostname(lab: Lab, hosts: TwoHosts) -> bool:
    """gethostname() and gethostbyname() on each host: real calls, each an event."""
    _case(lab, "gethostname() on each host", "one name", teach.HOSTS_GETHOSTNAME)
    names = []
    for side in (SERVER, CLIENT):
        name = hosts.run(side, socket.gethostname)
        names.append(name)
        lab.bus.emit(side=side, conn=None, op="gethostname", result=name)
        try:
            address = hosts.run(side, lambda n=name: socket.gethostbyname(n))
        except OSError as exc:
            lab.bus.emit(side=side, conn=None, op="gethostbyname", args=(name,), ok=False,
                         error=type(exc).__name__, lesson=str(exc))
            continue
        own = address in ("127.0.0.1", HOST_A.address) if side == SERVER else \
            address.startswith("127.") or address == HOST_B.address
        lab.bus.emit(side=side, conn=None, op="gethostbyname", args=(name,), result=address,
                     lesson=teach.hosts_resolved(name, address, own) if side == SERVER
                     else None)
    return len(set(names)) == 1


def two_hosts(lab: Lab) -> bool:
    """Every case in turn, on one pair of hosts; True when each went as taught."""
    hosts = enable(lab)
    results = [loopback_only(lab), one_address(lab), every_address(lab),
               gethostname(lab, hosts)]
    return all(results)
