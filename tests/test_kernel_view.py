"""The kernel view: state events read from the kernel, on real loopback sockets."""

from __future__ import annotations

import json
import socket

import pytest
from helpers import LIMIT, Recorder, assert_seq_increasing

from socklab.engine import Lab
from socklab.events import DONE, Event
from socklab.kernel.describe import describe_state, queue_gauge
from socklab.kernel.poller import KernelView, kernel_view, running_view
from socklab.kernel.tables import parse_table, read_table
from socklab.logformat import format_line
from socklab.viewstate import LISTENER, ViewState


def _states(rec: Recorder, side: str, conn: int | None) -> list[str]:
    return [e.result["state"] for e in rec.views() if (e.side, e.conn) == (side, conn)]


def _connected(lab: Lab, backlog: int = 5, kernel: KernelView | None = None):  # noqa: ANN202
    """server, client and the accepted connection (waiting for the queue, given a view)."""
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(backlog)
    client = lab.client()
    client.socket()
    client.connect("127.0.0.1", server.local[1])
    if kernel is not None:  # the server's kernel may finish the handshake a moment later
        assert kernel.wait_for("server", None, "LISTEN", queue=1)
    conn, _ = server.accept()
    assert conn is not None
    return server, client, conn


def test_a_listener_reports_its_queue_and_backlog_at_each_call(lab: Lab, rec: Recorder) -> None:
    with KernelView(lab) as kernel:
        server, client, conn = _connected(lab, backlog=3, kernel=kernel)
    listener = [e.result for e in rec.views() if e.conn is None]
    # listen(): empty; connect(): one waits for accept(); accept(): empty again.
    assert listener[:3] == [{"state": "LISTEN", "queue": q, "backlog": 3} for q in (0, 1, 0)]
    # (the timer may have caught the client's SYN_SENT first, on a loaded machine)
    assert _states(rec, "client", 1)[-1] == "ESTABLISHED"
    assert _states(rec, "server", 1) == ["ESTABLISHED"]
    events = rec.snapshot()
    assert_seq_increasing(events)
    # listen() changes the state in the call itself: the event comes right after it.
    ops = [(e.side, e.conn, e.op) for e in events if e.phase == DONE]
    listen = ops.index(("server", None, "listen"))
    assert ops[listen + 1] == ("server", None, "state")


def test_closing_first_is_fin_wait2_then_time_wait_and_the_peer_close_wait(
        lab: Lab, rec: Recorder) -> None:
    with KernelView(lab) as kernel:
        server, client, conn = _connected(lab)
        client.close()
        assert kernel.wait_for("client", 1, "FIN_WAIT2")
        assert kernel.wait_for("server", 1, "CLOSE_WAIT")
        assert conn.recv(1024).eof
        conn.close()
        # No descriptor is left: only the kernel's table still has the connection.
        assert kernel.wait_for("client", 1, "TIME_WAIT")
        assert kernel.wait_for("server", 1, "CLOSE")
        assert kernel.following() >= 1  # TIME_WAIT lasts 60 s: still followed
    client_states = _states(rec, "client", 1)
    assert client_states.index("FIN_WAIT2") < client_states.index("TIME_WAIT")
    server_states = _states(rec, "server", 1)
    assert server_states.index("CLOSE_WAIT") < server_states.index("CLOSE")
    time_wait = next(e for e in rec.views() if e.result == {"state": "TIME_WAIT"})
    assert time_wait.lesson and "60 s" in time_wait.lesson


def test_a_state_event_is_json_like_every_event(lab: Lab, rec: Recorder) -> None:
    with KernelView(lab):
        _connected(lab)
    event = rec.views()[0]
    record = json.loads(event.to_json())
    assert record["op"] == "state" and record["phase"] == "done" and record["ok"] is True
    assert record["side"] == "server" and record["conn"] is None
    assert record["result"] == {"state": "LISTEN", "queue": 0, "backlog": 5}
    assert "state → LISTEN · accept queue 0, backlog 5" in format_line(event)


def test_nothing_changes_nothing_is_said(lab: Lab, rec: Recorder) -> None:
    with KernelView(lab) as kernel:
        _connected(lab)
        before = len(rec.views())
        for _ in range(5):
            kernel.poll()
        assert len(rec.views()) == before


def test_a_reading_that_waited_for_the_lock_does_not_slow_the_timer(lab: Lab) -> None:
    """The timer keeps to 1/20 of a core by the reading's own CPU time: a reading that
    waited 0.5 s for the bus lock (or for a core, on a loaded machine) worked a few
    milliseconds, and the next one comes after the interval, not 10 s later (its
    wall time / 0.05: states were said seconds late under load)."""
    import threading
    import time

    waits: list[float] = []

    class Recorded(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout if timeout is not None else -1.0)
            return super().wait(timeout)

    view = KernelView(lab, interval=0.05)
    view._stop = Recorded()
    view.start()
    try:
        _connected(lab)  # a TCP socket followed: the timer runs
        for _ in range(int(LIMIT / 0.01)):
            if len(waits) >= 2:
                break
            time.sleep(0.01)
        with lab.bus.lock:  # the next reading waits for the lock
            seen = len(waits)
            time.sleep(0.5)
        for _ in range(int(LIMIT / 0.01)):
            if len(waits) >= seen + 2:
                break
            time.sleep(0.01)
    finally:
        view.stop()
    assert len(waits) >= seen + 2, waits
    assert max(waits[seen:seen + 2]) < 1.0, waits


def test_the_timer_runs_only_while_a_tcp_socket_is_followed(lab: Lab, rec: Recorder) -> None:
    view = KernelView(lab, interval=0.01).start()
    assert running_view(lab) is view
    assert view.thread is None  # an idle lab with no socket: no thread at all
    udp = lab.client(socket.AF_INET, socket.SOCK_DGRAM)
    udp.socket()
    thread = view.thread
    assert thread is not None  # a socket() wakes it ...
    thread.join(LIMIT)  # ... and with no TCP socket to follow it ends by itself
    assert not thread.is_alive() and view.thread is None
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    thread = view.thread
    assert thread is not None and thread.is_alive()
    view.stop()
    assert not thread.is_alive() and running_view(lab) is None
    server.listen(1)
    assert rec.views() == []  # stopped: nothing more is said


def test_kernel_view_reuses_a_running_view(lab: Lab) -> None:
    with KernelView(lab) as outer, kernel_view(lab) as inner:
        assert inner is outer
    with kernel_view(lab) as own:
        assert running_view(lab) is own
    assert running_view(lab) is None


def test_a_fresh_socket_is_not_reported_closed(lab: Lab, rec: Recorder) -> None:
    with KernelView(lab) as kernel:
        client = lab.client()
        client.socket()
        kernel.poll()
    assert rec.views() == []


def test_tables_match_a_real_connection_by_its_four_tuple() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=LIMIT) as client:
            table = read_table(socket.AF_INET)
            local, peer = client.getsockname(), client.getpeername()
            assert table[(local, peer)] == "ESTABLISHED"
            assert table[(server.getsockname(), ("0.0.0.0", 0))] == "LISTEN"
            conn, _ = server.accept()
            conn.close()


def test_tables_parse_ipv6_rows() -> None:
    text = ("  sl  local_address                         remote_address    st\n"
            "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 "
            "0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n")
    assert parse_table(text, socket.AF_INET6) == {(("::1", 8080), ("::", 0)): "LISTEN"}


def test_describe_and_gauge() -> None:
    assert describe_state({"state": "CLOSE_WAIT"}) == "CLOSE_WAIT"
    assert describe_state({"state": "LISTEN", "queue": 3, "backlog": 2}) == \
        "LISTEN · accept queue 3, backlog 2 (full)"
    assert describe_state({"state": "SYN_SENT", "retransmits": 2}) == \
        "SYN_SENT · SYN sent again ×2"
    filled, empty, full = queue_gauge(3, 2)
    assert full and filled and not empty
    filled, empty, full = queue_gauge(1, 2)
    assert not full and len(filled) * 2 == len(empty)
    filled, empty, _ = queue_gauge(0, 128)
    assert not filled and len(empty) <= 15


def test_view_state_folds_the_kernels_states(lab: Lab, rec: Recorder) -> None:
    view = ViewState()
    with KernelView(lab) as kernel:
        server, client, conn = _connected(lab, backlog=2)
        client.close()
        assert kernel.wait_for("server", 1, "CLOSE_WAIT")
    events: list[Event] = rec.snapshot()
    view.apply(events)
    listener = view.sides["server"].sockets[LISTENER]
    assert (listener.kernel, listener.queue, listener.backlog) == ("LISTEN", 0, 2)
    assert view.sides["server"].sockets["1"].kernel == "CLOSE_WAIT"
    assert view.sides["client"].sockets["1"].kernel in ("FIN_WAIT1", "FIN_WAIT2")


def test_a_number_used_again_names_the_new_connection(lab: Lab, rec: Recorder) -> None:
    """Run server again: the new server[1] is not the old one still in TIME_WAIT."""
    with KernelView(lab) as kernel:
        server, client, conn = _connected(lab)
        conn.close()  # the server closes first: its side waits in TIME_WAIT
        assert client.recv(1024).eof
        client.close()
        assert kernel.wait_for("server", 1, "TIME_WAIT")
        assert kernel.following() == 1
        server.close()
        _connected(lab, kernel=kernel)  # a new server: its first connection is server[1]
        assert kernel.following() == 0
        kernel.poll()
        assert kernel.state_of("server", 1) == "ESTABLISHED"


@pytest.mark.requires_ipv6
def test_ipv6_connections_are_followed_after_close_too(lab: Lab, rec: Recorder) -> None:
    with KernelView(lab) as kernel:
        server = lab.server(socket.AF_INET6)
        server.socket()
        server.bind("::1", 0)
        server.listen(1)
        client = lab.client(socket.AF_INET6)
        client.socket()
        client.connect("::1", server.local[1])
        conn, _ = server.accept()
        assert conn is not None
        client.close()
        assert kernel.wait_for("client", 1, "FIN_WAIT2")
        conn.close()
        assert kernel.wait_for("client", 1, "TIME_WAIT")


def _ss_state(local: tuple, peer: tuple) -> str | None:
    """What ``ss -tan`` says of one connection (None: not listed)."""
    import subprocess
    out = subprocess.run(["ss", "-tanH", "src", f"{local[0]}:{local[1]}",
                          "dst", f"{peer[0]}:{peer[1]}"],
                         capture_output=True, text=True, timeout=LIMIT).stdout.split()
    return out[0] if out else None


def test_shut_down_first_then_the_peers_fin_is_time_wait_not_a_reset(
        lab: Lab, rec: Recorder) -> None:
    """The descriptor of a side that shut down first reads CLOSE once the peer's
    FIN arrives (the kernel moved the connection to a time-wait entry): the view
    reports the connection's state, TIME_WAIT as ss shows it, and no RST."""
    with KernelView(lab) as kernel:
        server, client, conn = _connected(lab)
        assert conn.shutdown(socket.SHUT_WR).ok
        assert kernel.wait_for("client", 1, "CLOSE_WAIT")
        assert client.recv(1024).eof
        client.close()
        assert kernel.wait_for("server", 1, "TIME_WAIT")
        local, peer = conn.local, conn.peer
        assert conn.is_open  # the descriptor is still there, reading CLOSE
        assert _ss_state(local, peer) == "TIME-WAIT"
        kernel.poll()
    states = [e for e in rec.views() if (e.side, e.conn) == ("server", 1)]
    assert states[-1].result == {"state": "TIME_WAIT"}
    assert not any(e.lesson and "RST" in e.lesson for e in rec.views())


def test_a_reset_says_so_only_when_one_arrived(lab: Lab, rec: Recorder) -> None:
    with KernelView(lab) as kernel:
        server, client, conn = _connected(lab)
        assert client.send(b"unread").ok
        assert kernel.wait_received(conn, 6)
        conn.close()  # unread data: close() sends RST
        assert kernel.wait_for("client", 1, "CLOSE")
    close = [e for e in rec.views() if (e.side, e.conn) == ("client", 1)][-1]
    assert close.result == {"state": "CLOSE"} and close.lesson and "RST" in close.lesson


def test_an_accepted_connections_state_never_comes_before_its_accept(
        lab: Lab, rec: Recorder) -> None:
    """The timer reads every lab socket; one just accepted is left alone until the
    accept() that returned it is in the log."""
    with KernelView(lab, interval=0.001):
        server = lab.server()
        server.socket()
        server.bind("127.0.0.1", 0)
        server.listen(64)
        for _ in range(30):
            # accept() waits first, as a server does: the connect's own reading
            # of the kernel races the accepting thread.
            seen = rec.snapshot()
            last = seen[-1].seq if seen else 0
            accepting = lab.spawn(lambda: server.accept(timeout=LIMIT), "accept")
            rec.wait_for(lambda e, n=last: e.op == "accept" and e.phase == "wait"
                         and e.seq > n)
            client = lab.client()
            client.socket()
            client.connect("127.0.0.1", server.local[1])
            accepting.join(LIMIT)
    events = rec.snapshot()
    accepted = {e.conn: e.seq for e in events if e.op == "accept" and e.phase == DONE}
    early = [e.seq for e in events if e.op == "state" and e.side == "server"
             and e.conn is not None and e.seq < accepted[e.conn]]
    assert early == [], rec.dump()
