"""tcp_info read from the kernel on real loopback sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from helpers import LIMIT

from socklab.kernel.tcpinfo import TcpInfo, parse_tcp_info, read_tcp_info


def _read_until(sock: socket.socket, ready: Callable[[TcpInfo], bool]) -> TcpInfo | None:
    """tcp_info once ``ready`` holds (bounded: a failing test, never a hang)."""
    deadline = time.monotonic() + LIMIT
    info = read_tcp_info(sock)
    while info is not None and not ready(info) and time.monotonic() < deadline:
        time.sleep(0.005)
        info = read_tcp_info(sock)
    return info


def test_listener_reports_listen_with_queue_and_backlog() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        before = read_tcp_info(server)
        assert before is not None
        assert (before.state, before.queue, before.backlog) == ("LISTEN", 0, 2)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            # connect() returns once the SYN/ACK came; the server's kernel queues the
            # connection when the last ACK reaches it, a moment later at most.
            after = _read_until(server, lambda info: info.queue == 1)
            mine = read_tcp_info(client)
        assert after is not None and after.queue == 1 and after.backlog == 2
        assert mine is not None and mine.state == "ESTABLISHED"


def test_counters_grow_with_data() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"x" * 40)
                assert conn.recv(100) == b"x" * 40
                sent = _read_until(client, lambda info: info.bytes_acked >= 40)
                got = read_tcp_info(conn)
    assert sent is not None and got is not None
    assert sent.data_segs_out >= 1 and sent.segs_out >= 2
    assert got.data_segs_in >= 1 and got.bytes_received == 40


def test_not_tcp_or_closed_gives_none() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert read_tcp_info(udp) is None
    closed = socket.socket()
    closed.close()
    assert read_tcp_info(closed) is None
    assert parse_tcp_info(b"\x01") is None
