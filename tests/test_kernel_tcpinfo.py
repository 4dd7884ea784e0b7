"""tcp_info read from the kernel on real loopback sockets."""

from __future__ import annotations

import socket

from socklab.kernel.tcpinfo import parse_tcp_info, read_tcp_info


def test_listener_reports_listen_with_queue_and_backlog() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        before = read_tcp_info(server)
        assert before is not None
        assert (before.state, before.queue, before.backlog) == ("LISTEN", 0, 2)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            # The handshake is done when connect returns; the kernel queued it.
            after = read_tcp_info(server)
            mine = read_tcp_info(client)
        assert after is not None and after.queue == 1
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
                sent = read_tcp_info(client)
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
