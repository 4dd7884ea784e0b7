"""Faults the lab survives, the connection cap it keeps, and descriptors it never leaks.

Peers misbehave on purpose here — reset mid-stream, vanish without a word,
stop reading while the server writes — and the lab is closed, reset and quit
while its calls are still waiting.  After each, the service keeps serving (or
the lab works again), and the count of open socket descriptors in
``/proc/self/fd`` is exactly what it was before.
"""

from __future__ import annotations

import asyncio
import gc
import json
import select
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest
from helpers import LIMIT, REPO, Recorder, cli_env, closed_port, socket_fds

from socklab.engine import GREETING, Endpoint, Lab, Server, default_max_connections
from socklab.events import DONE, WAIT
from socklab.explain import lesson_for
from socklab.modes import Service

# -- helpers ----------------------------------------------------------------------------------


def echo_service(lab: Lab, count: int | None = None) -> tuple[Server, Service]:
    server = lab.server()
    assert server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen(128).ok
    return server, Service(lab, server, "echo", count=count).start()


def echo_once(address: tuple[str, int], payload: bytes = b"ping\r\n") -> bytes:
    """One plain client: connect, send, half-close, read to EOF."""
    with socket.create_connection(address, timeout=LIMIT) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def conn_of(rec: Recorder, peer: object) -> int:
    """The lab's number for the connection from ``peer``.

    By peer address, never by position: a port scan running elsewhere on this
    shared machine may connect to a listener too, and take a number first.
    """
    accepted = rec.wait_for(lambda e: e.op == "accept" and e.ok
                            and tuple(e.result or ())[:2] == tuple(peer)[:2],
                            what=f"the accept of {peer}")
    assert accepted.conn is not None
    return accepted.conn


def accept_peer(server: Server, peer: object) -> Endpoint:
    """accept() until the connection from ``peer`` comes (strangers are closed)."""
    for _ in range(8):
        conn, event = server.accept(timeout=LIMIT)
        assert conn is not None and event.ok, event
        if tuple(event.result or ())[:2] == tuple(peer)[:2]:  # IPv6: Python's 4 values
            return conn
        conn.close()
    raise AssertionError(f"no connection from {peer} was accepted")


def rst_close(sock: socket.socket) -> None:
    """Close with SO_LINGER (on, 0): the peer gets RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def open_socket_count() -> int:
    gc.collect()
    return len(socket_fds())


# -- the connection cap ---------------------------------------------------------------------------


def test_connections_past_the_cap_are_refused_clearly(rec: Recorder) -> None:
    cap, extra = 8, 5
    lab = Lab(max_connections=cap, connect_timeout=LIMIT)
    lab.subscribe(rec)
    kept: list[socket.socket] = []
    try:
        server, service = echo_service(lab)
        for i in range(cap):  # each of these is answered and stays open
            sock = socket.create_connection(server.local, timeout=LIMIT)
            kept.append(sock)
            sock.sendall(b"hello %d" % i)
            assert sock.recv(64) == b"hello %d" % i
        assert server.open_connections == cap
        late_conns = []
        for _ in range(extra):  # accepted by the kernel, then closed by the lab
            with socket.create_connection(server.local, timeout=LIMIT) as late:
                assert late.recv(64) == b"", "a refused connection sees EOF"
                late_conns.append(conn_of(rec, late.getsockname()))
        # the lab closes first, then reports why: wait for each report
        refused = [rec.wait_for(lambda e, n=n: e.op == "refuse" and e.conn == n,
                                what=f"the refusal of #{n}") for n in late_conns]
        for event in refused:
            assert not event.ok and event.error == "CONNLIMIT"
            assert event.lesson.startswith(f"{lesson_for('CONNLIMIT')} (limit {cap} ")
            assert "RLIMIT_NOFILE" in event.lesson  # which limit was hit
            assert "file descriptors" in event.lesson
        assert server.open_connections == cap
        # close one kept connection: once the server has closed its side, a
        # newcomer is served again
        rst_free = kept.pop()
        freed = conn_of(rec, rst_free.getsockname())
        rst_free.shutdown(socket.SHUT_WR)
        assert rst_free.recv(64) == b""
        rst_free.close()
        rec.wait_for(lambda e: e.op == "close" and e.side == "server" and e.conn == freed,
                     what="the server closing the freed connection")
        assert echo_once(server.local, b"back in") == b"back in"
        assert not service.failed
    finally:
        for sock in kept:
            sock.close()
        lab.close_all()
    assert lab.open_sockets == 0


def test_default_cap_is_well_below_the_descriptor_limit() -> None:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = default_max_connections()
    assert 8 <= cap <= 4096
    assert cap * 3 + 64 <= max(soft, 8 * 3 + 64)  # room for both ends and the rest
    assert Lab().max_connections == cap


CAP_SCRIPT = textwrap.dedent("""
    import json, resource, socket
    from socklab.engine import Lab, default_max_connections
    from socklab.modes import Service
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    lab = Lab(connect_timeout=10)
    events = []
    lab.subscribe(events.append)
    server = lab.server()
    server.socket(); server.bind("127.0.0.1", 0); server.listen(256)
    service = Service(lab, server, "echo").start()
    clients, answered = [], 0
    for i in range(100):  # more clients than the cap, in this same process
        sock = socket.create_connection(server.local, timeout=10)
        clients.append(sock)
        try:
            sock.sendall(b"x")
            answered += sock.recv(1) == b"x"
        except ConnectionResetError:
            pass  # refused: closed by the lab with our byte unread, so RST
    for sock in clients:
        sock.close()
    lab.close_all()
    print(json.dumps({
        "cap": lab.max_connections, "default": default_max_connections(),
        "answered": answered,
        "refused": sum(1 for e in events if e.op == "refuse"),
        "emfile": sum(1 for e in events if e.error in ("EMFILE", "ENFILE")),
        "open": lab.open_sockets,
    }))
""")


def test_default_cap_keeps_the_lab_off_the_descriptor_limit() -> None:
    """With a 256-descriptor limit, 100 clients in the same process: the lab
    serves up to its default cap, refuses the rest, and never meets EMFILE."""
    done = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-c", CAP_SCRIPT],
                          capture_output=True, text=True, env=cli_env(), cwd=REPO,
                          timeout=LIMIT * 2, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cap"] == report["default"] == (256 - 64) // 3
    assert report["answered"] == report["cap"]
    assert report["refused"] == 100 - report["cap"]
    assert report["emfile"] == 0 and report["open"] == 0


# -- misbehaving peers: the echo service keeps serving ---------------------------------------------


def test_peer_resets_mid_stream(lab: Lab, rec: Recorder) -> None:
    server, service = echo_service(lab)
    sock = socket.create_connection(server.local, timeout=LIMIT)
    sock.sendall(b"first")
    assert sock.recv(64) == b"first"
    conn = conn_of(rec, sock.getsockname())
    rst_close(sock)
    reset = rec.wait_for(lambda e: e.conn == conn and e.op == "recv" and not e.ok,
                         what="the server's recv meeting the reset")
    assert reset.error == "ECONNRESET" and reset.lesson == lesson_for("ECONNRESET")
    assert echo_once(server.local) == b"ping\r\n"
    assert not service.failed


def test_peer_vanishes_without_a_word(lab: Lab, rec: Recorder) -> None:
    server, service = echo_service(lab)
    peers = []
    for _ in range(10):
        with socket.create_connection(server.local, timeout=LIMIT) as silent:
            peers.append(silent.getsockname())
    for conn in [conn_of(rec, peer) for peer in peers]:
        rec.wait_for(lambda e, n=conn: e.op == "recv" and e.conn == n and e.nbytes == 0,
                     what="EOF on a silent connection")
    assert echo_once(server.local, b"still there?") == b"still there?"
    assert not service.failed


def test_peer_stops_reading_while_the_server_writes(lab: Lab, rec: Recorder) -> None:
    """The echo's send blocks on a full buffer; the peer then resets.  The
    blocked send fails with the reset, and the next client is served."""
    server, service = echo_service(lab)
    sock = socket.create_connection(server.local, timeout=LIMIT)
    sock.setblocking(False)
    chunk = b"z" * 65536

    def send_waiting() -> bool:  # (only our connection sends: strangers send nothing)
        return rec.count(lambda e: e.side == "server" and e.op == "send"
                         and e.phase == WAIT) > 0

    pushed = 0
    for _ in range(8192):  # bounded (512 MiB): push until the echo's send must wait
        if send_waiting():
            break
        try:
            pushed += sock.send(chunk)
        except BlockingIOError:
            select.select([], [sock], [], 0.05)  # until the echo has read some more
    assert pushed > 0 and send_waiting(), "the server's send never had to wait"
    conn = conn_of(rec, sock.getsockname())
    rst_close(sock)
    failed = rec.wait_for(lambda e: e.side == "server" and e.conn == conn and not e.ok
                          and e.phase == DONE, what="the blocked call failing")
    assert failed.error in ("ECONNRESET", "EPIPE"), failed
    assert failed.lesson == lesson_for(failed.error)
    assert echo_once(server.local) == b"ping\r\n"
    assert not service.failed


def test_half_close_gets_every_byte_then_eof(lab: Lab, rec: Recorder) -> None:
    server, service = echo_service(lab)
    payload = bytes(range(256)) * 1024
    with socket.create_connection(server.local, timeout=LIMIT) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        echoed = b""
        while chunk := sock.recv(65536):
            echoed += chunk
        conn = conn_of(rec, sock.getsockname())
    assert echoed == payload
    rec.wait_for(lambda e: e.side == "server" and e.op == "close" and e.conn == conn,
                 what="the server closing after EOF")
    assert not service.failed


def test_udp_garbage_and_a_closed_peer_do_not_stop_the_datagram_echo(lab: Lab,
                                                                     rec: Recorder) -> None:
    server = lab.server(kind=socket.SOCK_DGRAM)
    server.socket()
    server.bind("127.0.0.1", 0)
    service = Service(lab, server, "echo").start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.sendto(b"\x00\xff" * 100, server.local)  # the reply goes to a socket we close
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(LIMIT)
        peer.sendto(b"", server.local)  # an empty datagram is a datagram too
        assert peer.recvfrom(64) == (b"", server.local)
        peer.sendto(b"ok?", server.local)
        assert peer.recvfrom(64) == (b"ok?", server.local)
    assert not service.failed and not service.finished.is_set()


# -- closing, resetting and quitting while calls wait ----------------------------------------------


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_close_ends_a_waiting_accept_and_recv(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    accepting, _ = _in_thread(lambda: server.accept())
    rec.wait_for(lambda e: e.op == "accept" and e.phase == WAIT, what="accept waiting")
    client = lab.client(kind=socket.SOCK_DGRAM)
    client.socket()
    client.bind("127.0.0.1", 0)
    receiving, _ = _in_thread(lambda: client.recv(1024))
    rec.wait_for(lambda e: e.op == "recv" and e.phase == WAIT, what="recv waiting")
    assert server.close().ok and client.close().ok
    accepting.join(LIMIT)
    receiving.join(LIMIT)
    assert not accepting.is_alive() and not receiving.is_alive()
    for op in ("accept", "recv"):
        wait = next(e for e in rec.snapshot() if e.op == op and e.phase == WAIT)
        done = rec.wait_for(lambda e, c=wait.call: e.call == c and e.phase == DONE,
                            what=f"{op} finishing")
        assert not done.ok and done.error == "EBADF" and done.lesson, done
        # The learner's own close() ended it, and the log says so (after that close).
        assert "close() closed this socket" in done.lesson, done
        close = next(e for e in rec.snapshot() if e.op == "close" and e.side == wait.side)
        assert close.by is None and close.seq < done.seq


def test_close_all_with_everything_waiting_joins_every_thread(rec: Recorder) -> None:
    lab = Lab(connect_timeout=LIMIT)
    lab.subscribe(rec)
    server, service = echo_service(lab)
    clients = [socket.create_connection(server.local, timeout=LIMIT) for _ in range(20)]
    try:
        for conn in [conn_of(rec, sock.getsockname()) for sock in clients]:
            rec.wait_for(lambda e, n=conn: e.conn == n and e.op == "recv" and e.phase == WAIT,
                         what="each connection's recv waiting")
        assert lab.open_sockets >= 21  # (more if a stranger is connected right now)
        lab.close_all()
        assert service.wait(LIMIT) and lab.open_sockets == 0
        assert all(not t.is_alive() for t in lab.threads())
        for sock in clients:  # the lab's side is gone: each client sees the end
            sock.settimeout(LIMIT)
            try:
                assert sock.recv(16) == b""
            except ConnectionResetError:
                pass
    finally:
        for sock in clients:
            sock.close()


def test_reset_then_the_lab_works_again(lab: Lab, rec: Recorder) -> None:
    server, service = echo_service(lab)
    assert echo_once(server.local) == b"ping\r\n"
    lab.reset()
    assert service.wait(LIMIT) and lab.open_sockets == 0 and not lab.stopping
    assert not service.failed  # the lab closed its listener: that is no failure
    server2, service2 = echo_service(lab)
    assert echo_once(server2.local, b"after reset") == b"after reset"
    assert not service2.failed


# -- every lab action leaves the descriptor count where it was -------------------------------------


def _listening(lab: Lab) -> Server:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    return server


def _pair(lab: Lab) -> tuple[Endpoint, Endpoint]:
    server = _listening(lab)
    client = lab.client()
    client.socket()
    client.connect("127.0.0.1", server.local[1])
    return accept_peer(server, client.local), client


def _welcome(lab: Lab) -> None:
    conn, client = _pair(lab)
    conn.send(GREETING)
    client.recv(1024, timeout=LIMIT)


def _fresh(lab: Lab, kind: int = socket.SOCK_STREAM, side: str = "server") -> Endpoint:
    endpoint = lab.server(kind=kind) if side == "server" else lab.client(kind=kind)
    assert endpoint.socket().ok
    return endpoint


def _socket_close_close(lab: Lab) -> None:
    client = _fresh(lab, side="client")
    client.close()
    client.close()  # EBADF


def _socket_twice(lab: Lab) -> None:
    client = _fresh(lab, side="client")
    client.socket()  # the first socket is closed, a new one made


def _bind_in_use(lab: Lab) -> None:
    _fresh(lab).bind("127.0.0.1", _listening(lab).local[1])


def _reset_by_peer(lab: Lab) -> None:
    conn, client = _pair(lab)
    conn.set_linger_zero()
    conn.close()
    client.recv(16, timeout=LIMIT)


def _udp_exchange(lab: Lab) -> None:
    server = _fresh(lab, socket.SOCK_DGRAM)
    server.bind("127.0.0.1", 0)
    client = _fresh(lab, socket.SOCK_DGRAM, "client")
    client.sendto(b"x", "127.0.0.1", server.local[1])
    server.recvfrom(16, timeout=LIMIT)
    client.sendto(b"y" * 65508, "127.0.0.1", server.local[1])  # EMSGSIZE


def _reset_with_a_service(lab: Lab) -> None:
    server, _service = echo_service(lab)
    with socket.create_connection(server.local, timeout=LIMIT):
        lab.reset()


ACTIONS: dict[str, Callable[[Lab], object]] = {
    "socket": lambda lab: _fresh(lab, side="client"),
    "socket twice": _socket_twice,
    "socket close close": _socket_close_close,
    "bind": lambda lab: _fresh(lab).bind("127.0.0.1", 0),
    "bind in use": _bind_in_use,
    "listen": _listening,
    "listen on dgram": lambda lab: _fresh(lab, socket.SOCK_DGRAM).listen(1),
    "accept timeout": lambda lab: _listening(lab).accept(timeout=0.05),
    "accept before listen": lambda lab: _fresh(lab).accept(timeout=LIMIT),
    "connect refused": lambda lab: _fresh(lab, side="client").connect("127.0.0.1",
                                                                      closed_port()),
    "connect resolve fails": lambda lab: _fresh(lab, side="client").connect(
        "-nowhere.invalid", 1),  # leading "-": glibc refuses it before any DNS query
    "welcome": _welcome,
    "reset by peer": _reset_by_peer,
    "udp exchange": _udp_exchange,
    "echo service": lambda lab: echo_once(echo_service(lab)[0].local),
    "reset with a service": _reset_with_a_service,
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_lab_action_leaves_the_descriptor_count_as_it_was(action: str) -> None:
    before = open_socket_count()
    lab = Lab(connect_timeout=LIMIT)
    ACTIONS[action](lab)
    lab.close_all()
    assert lab.open_sockets == 0
    assert open_socket_count() == before, f"{action} leaked a descriptor"


# -- the lab screen: every button, reset and quit --------------------------------------------------

SERVER_BUTTONS = ["socket", "bind", "listen", "accept", "send", "recv", "close"]
CLIENT_BUTTONS = ["socket", "connect", "send", "recv", "close"]


async def test_lab_screen_buttons_reset_and_quit_leave_no_descriptor() -> None:
    from socklab.ui.app import SocklabApp

    before = open_socket_count()
    app = SocklabApp()
    rec = Recorder()
    app.lab.subscribe(rec)
    async with app.run_test(size=(160, 48)) as pilot:
        server, client = app.server_pane, app.client_pane
        server.input("port").value = "0"
        await pilot.pause()
        # every button, once, in the lecture's order (out-of-order ones fail: fine)
        for name in SERVER_BUTTONS[:3]:
            assert await pilot.click(f"#server-{name}"), "the click missed"
            await app.workers.wait_for_complete()
        listen = rec.wait_for(lambda e: e.op == "listen" and e.phase == DONE, what="listen")
        assert listen.ok
        client.input("port").value = str(listen.result[1])
        await pilot.pause()
        for name in CLIENT_BUTTONS[:2]:
            assert await pilot.click(f"#client-{name}"), "the click missed"
            await asyncio.to_thread(rec.wait_for, lambda e, n=name: e.side == "client"
                                    and e.op == n and e.phase == DONE, LIMIT, name)
        connected = rec.wait_for(lambda e: e.op == "connect" and e.phase == DONE)
        assert connected.ok
        for _ in range(4):  # Accept again if a stranger (a port scan elsewhere) came first
            last = rec.snapshot()[-1].seq
            assert await pilot.click("#server-accept"), "the click missed"
            accepted = await asyncio.to_thread(
                rec.wait_for, lambda e, s=last: e.op == "accept" and e.phase == DONE
                and e.seq > s, LIMIT, "accept")
            if accepted.result == connected.result:
                break
        assert await pilot.click("#client-send"), "the click missed"
        await asyncio.to_thread(rec.wait_for, lambda e: e.side == "client" and e.op == "send"
                                and e.phase == DONE, LIMIT, "client send")
        for name in SERVER_BUTTONS[4:6]:
            assert await pilot.click(f"#server-{name}"), "the click missed"
        assert await pilot.click("#client-recv"), "the click missed"
        await asyncio.to_thread(rec.wait_for, lambda e: e.side == "client" and e.op == "recv"
                                and e.phase == DONE, LIMIT, "client recv")
        for pane in ("client", "server"):
            assert await pilot.click(f"#{pane}-close"), "the click missed"
        await app.workers.wait_for_complete()
        # then the Run buttons, and a reset while things still run
        server.query_one("#server-mode").value = "echo"  # type: ignore[attr-defined]
        await pilot.pause()
        assert await pilot.click("#server-run"), "the click missed"
        await asyncio.to_thread(rec.wait_for, lambda e: e.op == "accept" and e.phase == WAIT
                                and e.seq > listen.seq + 5, LIMIT, "the echo server waiting")
        assert await pilot.click("#client-run"), "the click missed"
        assert await pilot.click("#client-connect-n"), "the click missed"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        app.drain_now()
        assert app.lab.open_sockets == 0
        assert open_socket_count() == before, "reset left a socket open"
        assert app.is_running
        # and after the reset the lab still works
        assert await pilot.click("#server-socket"), "the click missed"
        await app.workers.wait_for_complete()
        assert app.lab.open_sockets == 1
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    assert app.lab.open_sockets == 0
    assert open_socket_count() == before, "quit left a socket open"
    failures = [e for e in rec.done() if not e.ok]
    assert all(e.lesson for e in failures), "every failure explains itself"
