"""The demos that look inside: the accept queue, the close, the reset, message boundaries.

Each drives real sockets on loopback through the lab, and reads the kernel's
view at the moments it teaches (`KernelView.wait_for`), so its story — the
queue rising to backlog + 1, FIN_WAIT2 then TIME_WAIT, the RST — is in the
log every run, whatever the machine's speed.  Each returns True when the
kernel really did what it teaches.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from ..kernel.poller import kernel_view
from ..scenarios import ClientPlan, ServerPlan, open_client, open_server

if TYPE_CHECKING:
    from ..engine import Endpoint, Lab, Server

HOST = "127.0.0.1"
#: The backlog demo's listen(2): Linux holds backlog + 1 = 3 connections.
BACKLOG = 2
CLIENTS = 5
#: Long enough for a dropped SYN to be sent again (the first retry is after 1 s).
RETRY_WAIT = 4.0


def _pair(lab: Lab, backlog: int = 5) -> tuple[Server, Endpoint, Endpoint] | None:
    """A listening server, a connected client and the accepted connection."""
    server = lab.server()
    if not open_server(server, ServerPlan(port=0, backlog=backlog)):
        return None
    client = lab.client()
    if not open_client(client, ClientPlan(port=server.local[1])):
        return None
    conn, _ = server.accept()
    return None if conn is None else (server, client, conn)


def backlog(lab: Lab) -> bool:
    """listen(2), five clients, no accept: the queue holds 3, the rest retransmit SYNs;
    then accept() drains the queue and lets the waiting clients in."""
    with kernel_view(lab) as kernel:
        server = lab.server()
        if not open_server(server, ServerPlan(port=0, backlog=BACKLOG)):
            return False
        port = server.local[1]
        clients = [lab.client() for _ in range(CLIENTS)]
        for client in clients[:BACKLOG + 1]:  # these fit: connect() returns at once
            if not open_client(client, ClientPlan(port=port)):
                return False
        full = kernel.wait_for("server", None, "LISTEN", queue=BACKLOG + 1)
        waiting = clients[BACKLOG + 1:]
        connects = []
        for client in waiting:  # these wait: their SYNs are dropped, and sent again
            client.socket()
            connects.append(lab.spawn(lambda c=client: c.connect(HOST, port),
                                      f"connect-{client.conn}"))
            kernel.wait_for("client", client.conn, "SYN_SENT")
        retried = all(kernel.wait_for("client", c.conn, "SYN_SENT", RETRY_WAIT, retransmits=1)
                      for c in waiting)
        accepted = [server.accept(timeout=RETRY_WAIT * 2)[0] for _ in clients]
        drained = kernel.wait_for("server", None, "LISTEN", queue=0)
        connected = all(kernel.wait_for("client", c.conn, "ESTABLISHED") for c in clients)
        for thread in connects:  # each connect() returns before its socket is closed
            thread.join(RETRY_WAIT)
        for endpoint in [*clients, *accepted]:
            if endpoint is not None:
                endpoint.close()
        server.close()
    return full and retried and drained and connected and None not in accepted


def close(lab: Lab) -> bool:
    """The client closes first: client FIN_WAIT2 then TIME_WAIT; server CLOSE_WAIT, then
    its own close() sends the last FIN (LAST_ACK until the client's ACK comes back).

    On loopback LAST_ACK lasts one round trip, microseconds: no reading can catch
    it, so the server's last state event (CLOSE, the connection freed) says so.
    """
    with kernel_view(lab) as kernel:
        pair = _pair(lab)
        if pair is None:
            return False
        server, client, conn = pair
        client.close()
        half = kernel.wait_for("client", client.conn, "FIN_WAIT2")
        peer_closed = kernel.wait_for("server", conn.conn, "CLOSE_WAIT")
        eof = conn.recv(1024).eof
        conn.close()
        waits = kernel.wait_for("client", client.conn, "TIME_WAIT")
        gone = kernel.wait_for("server", conn.conn, "CLOSE")
        server.close()
    return half and peer_closed and eof and waits and gone


def reset(lab: Lab) -> bool:
    """close() with unread data sends RST, not FIN: the peer's next call gets ECONNRESET."""
    with kernel_view(lab) as kernel:
        pair = _pair(lab)
        if pair is None:
            return False
        server, client, conn = pair
        client.send(b"Are you reading this?\r\n")
        arrived = kernel.wait_received(conn, 23)
        conn.close()  # never read: the kernel answers with RST
        dropped = kernel.wait_for("client", client.conn, "CLOSE")
        failed = client.recv(1024).event
        client.close()
        server.close()
    return arrived and dropped and failed is not None and failed.error == "ECONNRESET"


MESSAGES = (b"one|", b"two|", b"three|")
#: The UDP part's small buffer, and the datagram that does not fit in it.
SMALL = 8
BIG = b"a datagram of 32 bytes, too big."


def boundaries(lab: Lab) -> bool:
    """TCP is a byte stream: three sends, one recv.  UDP keeps each datagram whole:
    one per recvfrom, and a smaller buffer loses the rest (MSG_TRUNC)."""
    with kernel_view(lab) as kernel:
        pair = _pair(lab)
        if pair is None:
            return False
        server, client, conn = pair
        for message in MESSAGES:
            client.send(message)
        total = sum(map(len, MESSAGES))
        kernel.wait_received(conn, total)
        stream = conn.recv(1024).data == b"".join(MESSAGES)
        for endpoint in (client, conn, server):
            endpoint.close()
    return stream and _datagrams(lab)


def _datagrams(lab: Lab) -> bool:
    server = lab.server(kind=socket.SOCK_DGRAM)
    if not open_server(server, ServerPlan(kind=socket.SOCK_DGRAM, port=0)):
        return False
    client = lab.client(kind=socket.SOCK_DGRAM)
    if not open_client(client, ClientPlan(kind=socket.SOCK_DGRAM)):
        return False
    port = server.local[1]
    for message in MESSAGES:
        client.sendto(message, HOST, port)
    whole = [server.recvfrom(1024).data for _ in MESSAGES] == list(MESSAGES)
    client.sendto(BIG, HOST, port)
    cut = server.recvfrom(SMALL)
    client.close()
    server.close()
    truncated = cut.event is not None and cut.data == BIG[:SMALL] and \
        str(len(BIG) - SMALL) in (cut.event.lesson or "")
    return whole and truncated
