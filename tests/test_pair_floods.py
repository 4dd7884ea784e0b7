"""Request/answer floods (an echo: recv, send, recv, send ...) coalesce like any other.

Issue 15 item 10: a UDP echo flood was two lines per datagram because recvfrom
and sendto alternate.  Both sides here are the engine, on real loopback
sockets; the assertions are counts (events, calls, bytes), never times.
"""

from __future__ import annotations

import socket

from helpers import LIMIT, Recorder, assert_causal, listening

from socklab.engine import Lab
from socklab.engine.floods import COALESCE_AFTER
from socklab.events import DONE, Event
from socklab.modes import Service

ROUNDS = 600


def _calls(events: list[Event], side: str, op: str) -> tuple[int, int, int]:
    """(events, calls, bytes) of ``side``'s successful ``op`` calls."""
    mine = [e for e in events if e.side == side and e.op == op and e.phase == DONE and e.ok]
    return len(mine), sum(e.count for e in mine), sum(e.nbytes or 0 for e in mine)


def test_udp_echo_flood_is_counted_not_logged_per_datagram(lab: Lab, rec: Recorder) -> None:
    server = listening(lab, kind=socket.SOCK_DGRAM)
    service = Service(lab, server, "echo", count=ROUNDS).start()
    client = lab.client(kind=socket.SOCK_DGRAM)
    assert client.socket().ok
    port = server.local[1]
    for i in range(ROUNDS):
        payload = b"ping %05d" % i
        sent = client.sendto(payload, "127.0.0.1", port)
        assert sent is None or sent.ok
        got = client.recvfrom(2048, timeout=LIMIT)
        assert got.ok and got.data == payload
    assert service.wait(LIMIT)
    lab.flush_floods()
    events = rec.snapshot()
    size = ROUNDS * len(b"ping 00000")
    for side in ("client", "server"):
        for op in ("sendto", "recvfrom"):
            lines, calls, nbytes = _calls(events, side, op)
            assert calls == ROUNDS and nbytes == size, (side, op, calls, nbytes)
            # Coalesced: after the first streak, a few reports, not one per datagram.
            assert lines < COALESCE_AFTER + ROUNDS // 10, (side, op, lines)
    assert_causal(events, ("client", client.conn), ("server", None))
    assert_causal(events, ("server", None), ("client", client.conn))


def test_tcp_echo_exchange_is_counted_on_both_sides(lab: Lab, rec: Recorder) -> None:
    server = listening(lab)
    service = Service(lab, server, "echo", count=1).start()
    client = lab.client()
    assert client.socket().ok
    assert client.connect("127.0.0.1", server.local[1]).ok
    for i in range(ROUNDS):
        payload = b"line %05d\n" % i
        sent = client.send(payload)
        assert sent is None or sent.ok
        got = client.recv(len(payload), timeout=LIMIT)
        assert got.ok and got.data == payload
    client.close()
    assert service.wait(LIMIT)
    lab.flush_floods()
    events = rec.snapshot()
    conn = next(e.conn for e in events if e.op == "accept" and e.phase == DONE and e.ok)
    for side in ("client", "server"):
        for op in ("send", "recv"):
            lines, calls, _nbytes = _calls(events, side, op)
            # The server's recv also counts the b'' that ends the exchange.
            eof = 1 if (side, op) == ("server", "recv") else 0
            assert calls == ROUNDS + eof, (side, op, calls)
            assert lines < COALESCE_AFTER + ROUNDS // 10, (side, op, lines)
    assert_causal(events, ("client", client.conn), ("server", conn))
    assert_causal(events, ("server", conn), ("client", client.conn))


def test_a_single_reply_after_a_send_flood_keeps_its_own_line(lab: Lab, rec: Recorder) -> None:
    """Only strict alternation is a pair: a bulk send, then one reply, logs the reply."""
    server = listening(lab)
    client = lab.client()
    assert client.socket().ok
    assert client.connect("127.0.0.1", server.local[1]).ok
    conn, _ = server.accept(timeout=LIMIT)
    assert conn is not None
    for _ in range(COALESCE_AFTER * 3):
        sent = client.send(b"x" * 100)
        assert sent is None or sent.ok
    assert conn.send(b"thanks").ok  # type: ignore[union-attr]
    got = client.recv(64, timeout=LIMIT)
    assert got.data == b"thanks"
    assert got.event is not None and got.event.data == "thanks"
