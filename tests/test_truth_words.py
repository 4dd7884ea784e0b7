"""Explanations true to the socket they are about (issue 20, "Wrong words")."""

from __future__ import annotations

import select
import socket

from socklab.engine import Lab
from socklab.events import Event


def test_a_tcp_sockets_refusal_on_a_later_call_is_not_explained_with_datagrams() -> None:
    """A non-blocking connect() to a closed port, then send(): ECONNREFUSED is
    the RST that answered the SYN, not a datagram's ICMP 'port unreachable'."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Lab() as lab:
        events: list[Event] = []
        lab.subscribe(events.append)
        client = lab.client()
        assert client.socket().ok and client.setblocking(False).ok
        assert client.connect("127.0.0.1", port).error == "EINPROGRESS"
        assert client.sock is not None
        select.select([], [client.sock], [], 5.0)  # the RST has come back
        sent = client.send(b"hello")
        assert sent is not None and sent.error == "ECONNREFUSED", sent
        assert "datagram" not in (sent.lesson or "")
        assert "RST" in (sent.lesson or "") and "SYN" in (sent.lesson or "")
