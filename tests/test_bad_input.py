"""Every bad input and provoked error of issue 5, for real, and the lab survives each.

Modelled on CPython's ``Lib/test/test_socket.py``: loopback only, port 0 (the
kernel picks), never a hard-coded port except where the point *is* the number
(a privileged port, an out-of-range port), IPv6 probed once and skipped with a
reason, and the two halves of an exchange on real sockets.

Each case asserts three things: the error's name (as the kernel or Python
reported it), the lesson the learner reads (the exact table entry, and the
words that make it true), and that the lab keeps running afterwards — a full
welcome exchange on the same `Lab` still works.  `tests/test_explain.py`
provokes each errno once at engine level; here each is provoked the way a
learner (the engine, the ``socklab`` command, the parsers behind every field)
meets it, followed by the proof that nothing was left broken.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import (
    LIMIT,
    REPO,
    VIEW_OPS,
    Recorder,
    cli_env,
    closed_port,
    json_events,
    no_traceback,
    run_cli,
    start_cli,
)
from unprivileged import as_nobody

from socklab.engine import GREETING, Endpoint, Lab, Received, Server
from socklab.events import DONE, WAIT, Event
from socklab.explain import lesson_for
from socklab.inputs import LOOPBACK, InputError, parse_backlog, parse_host, parse_port
from socklab.logformat import format_line

INET, INET6 = socket.AF_INET, socket.AF_INET6
STREAM, DGRAM = socket.SOCK_STREAM, socket.SOCK_DGRAM
needs_ipv6 = pytest.mark.requires_ipv6


# -- helpers ------------------------------------------------------------------------------


def accept_peer(server: Server, peer: object) -> Endpoint:
    """accept() until the connection from ``peer`` comes.

    The machine is shared: a port scan running elsewhere on it may connect to
    our listener first.  Such strangers are accepted and closed, as a real
    server would; the test goes on with its own connection.
    """
    for _ in range(8):
        conn, event = server.accept(timeout=LIMIT)
        assert conn is not None and event.ok, event
        if tuple(event.result or ())[:2] == tuple(peer)[:2]:  # IPv6: Python's 4 values
            return conn
        conn.close()
    raise AssertionError(f"no connection from {peer} was accepted")


def assert_lab_alive(lab: Lab, family: int = INET) -> None:
    """The lab still works: the lecture's whole welcome exchange succeeds on it."""
    host = LOOPBACK[family]
    server, client = lab.server(family), lab.client(family)
    for event in (server.socket(), server.bind(host, 0), server.listen(5), client.socket()):
        assert event.ok, event
    assert client.connect(host, server.local[1], timeout=LIMIT).ok
    conn = accept_peer(server, client.local)
    sent = conn.send(GREETING)
    assert sent is not None and sent.ok, sent
    received = client.recv(1024, timeout=LIMIT)
    assert received.ok and received.data == GREETING, received
    for endpoint in (conn, client, server):
        assert endpoint.close().ok


def assert_failed(event: Event | Received | None, error: str, op: str, *words: str,
                  exact: bool = True) -> Event:
    """A finished, failed call with that error and the lesson the table gives
    (``exact``), or at least one that says ``words``."""
    if isinstance(event, Received):
        event = event.event
    assert event is not None
    assert event.phase == DONE and not event.ok, event
    assert event.op == op, event
    assert event.error == error, event
    assert event.lesson, event
    expected = lesson_for(error, op)
    if exact and expected is not None and error != "gaierror":
        assert event.lesson == expected, event.lesson
    for word in words:
        assert word.lower() in event.lesson.lower(), (word, event.lesson)
    return event


def sock_of(endpoint: Endpoint) -> socket.socket:
    assert endpoint.sock is not None
    return endpoint.sock


def loopback_listener(backlog: int = 5) -> socket.socket:
    """A plain Python listener on ``127.0.0.1:0`` (the peer is not the lab)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    return listener


# -- ports: the parser, the command, the engine ----------------------------------------------

BAD_PORTS = ["-1", "65536", "abc", "1.5", "", "   ", "70000", "0x50", "1e3", "٣"]


@pytest.mark.parametrize("text", BAD_PORTS)
def test_parse_port_rejects_with_one_clear_sentence(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_port(text)
    message = str(caught.value)
    assert "\n" not in message and "0" in message and "65535" in message, message


@pytest.mark.parametrize("text", ["-1", "65536", "-70000"])
def test_parse_port_out_of_range_numbers_say_out_of_range(text: str) -> None:
    with pytest.raises(InputError, match="out of range"):
        parse_port(text)


@pytest.mark.parametrize("text", BAD_PORTS)
def test_cli_bad_port_is_usage_error_one_line(text: str) -> None:
    for argv in (("serve", "--port", text), ("connect", "127.0.0.1", text)):
        # "--port=-1" so that argparse never mistakes "-1" for an option
        args = (argv[0], f"--port={text}") if argv[0] == "serve" else argv
        done = run_cli(*args)
        assert done.returncode == 2, (args, done)
        no_traceback(done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("socklab: error:"), done.stderr
        assert "port" in lines[0]
        assert done.stdout == ""


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_engine_given_an_impossible_port_reports_and_survives(
    lab: Lab, rec: Recorder, port: int
) -> None:
    server = lab.server()
    assert server.socket().ok
    assert_failed(server.bind("127.0.0.1", port), "OverflowError", "bind", "0–65535")
    client = lab.client()
    assert client.socket().ok
    assert_failed(client.connect("127.0.0.1", port), "OverflowError", "connect", "0–65535")
    assert server.bind("127.0.0.1", 0).ok  # the same socket is still usable
    assert_lab_alive(lab)


def test_port_zero_shows_the_port_the_kernel_chose(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    bound = server.bind("127.0.0.1", 0)
    assert bound.ok and bound.args == (("127.0.0.1", 0),)
    host, port = bound.result
    assert host == "127.0.0.1" and 1 <= port <= 65535
    assert sock_of(server).getsockname() == (host, port)
    assert json.loads(bound.to_json())["result"] == ["127.0.0.1", port]
    assert server.listen(5).result == (host, port)


def test_cli_serve_port_zero_prints_the_chosen_port() -> None:
    # no --count: a port scan elsewhere on this machine could use up the count;
    # Ctrl-C (SIGINT) stops the server cleanly instead
    live = start_cli("serve", "--port", "0", "--json")
    try:
        bound = live.wait_event(lambda e: e["op"] == "bind")
        assert bound["ok"] and bound["args"] == [["127.0.0.1", 0]]
        port = bound["result"][1]
        assert bound["result"][0] == "127.0.0.1" and port != 0
        listening = live.wait_event(lambda e: e["op"] == "listen")  # then it can connect
        assert listening["ok"] and listening["result"] == ["127.0.0.1", port]
        with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as peer:
            got = b""
            while len(got) < len(GREETING):
                chunk = peer.recv(1024)
                assert chunk, got
                got += chunk
        assert got == GREETING
        live.proc.send_signal(signal.SIGINT)
        status, _out, err = live.finish()
    finally:
        live.stop()
    assert status == 0, err
    no_traceback(err)


# -- the address is taken: EADDRINUSE, TIME_WAIT and SO_REUSEADDR ------------------------


def test_eaddrinuse_a_listening_port(lab: Lab, rec: Recorder) -> None:
    first = lab.server()
    first.socket()
    first.bind("127.0.0.1", 0)
    first.listen(5)
    second = lab.server()
    second.socket()
    assert_failed(second.bind("127.0.0.1", first.local[1]), "EADDRINUSE", "bind",
                  "another socket", "TIME_WAIT", "SO_REUSEADDR")
    # SO_REUSEADDR never allows two listeners on one port (Linux)
    again = lab.server()
    again.socket()
    assert again.setsockopt_reuseaddr(True).ok
    assert_failed(again.bind("127.0.0.1", first.local[1]), "EADDRINUSE", "bind")
    assert second.bind("127.0.0.1", 0).ok
    assert_lab_alive(lab)


def test_cli_serve_on_a_port_in_use_exits_1_with_the_lesson() -> None:
    with loopback_listener() as holder:
        port = holder.getsockname()[1]
        done = run_cli("serve", "--port", str(port), "--json")
    assert done.returncode == 1, done
    no_traceback(done.stderr)
    events = json_events(done.stdout)
    bind = [e for e in events if e["op"] == "bind"][-1]
    assert bind["error"] == "EADDRINUSE" and bind["errno"] == 98
    assert bind["lesson"] == lesson_for("EADDRINUSE", "bind")
    assert events[-1]["op"] == "close" or all(e["op"] != "listen" for e in events)


def _time_wait_ports() -> set[int]:
    """Local ports of this machine's IPv4 TCP sockets in TIME_WAIT (state 06)."""
    found = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[3] == "06":
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return found


@pytest.mark.parametrize(
    ("old_reuse", "new_reuse"),
    [(False, False), (False, True), (True, False), (True, True)],
    ids=["neither", "new-only", "old-only", "both"],
)
def test_rebind_during_time_wait(lab: Lab, rec: Recorder, old_reuse: bool,
                                 new_reuse: bool) -> None:
    """Linux lets a new socket bind a port in TIME_WAIT only when SO_REUSEADDR
    was set on the old socket (its connections inherit it) *and* on the new one."""
    first = lab.server()
    first.socket()
    if old_reuse:
        assert first.setsockopt_reuseaddr(True).ok
    first.bind("127.0.0.1", 0)
    first.listen(5)
    port = first.local[1]
    client = lab.client()
    client.socket()
    assert client.connect("127.0.0.1", port).ok
    conn = accept_peer(first, client.local)
    conn.close()  # the server closes first: its side of the connection waits
    assert client.recv(16, timeout=LIMIT).eof
    client.close()
    first.close()
    assert port in _time_wait_ports(), "the server's side should be in TIME_WAIT"
    again = lab.server()
    again.socket()
    if new_reuse:
        assert again.setsockopt_reuseaddr(True).ok
    rebound = again.bind("127.0.0.1", port)
    if old_reuse and new_reuse:
        assert rebound.ok and rebound.result == ("127.0.0.1", port)
        assert again.listen(5).ok  # a restarted server really serves again
    else:
        assert_failed(rebound, "EADDRINUSE", "bind", "TIME_WAIT",
                      "on the old and the new socket")
    assert_lab_alive(lab)


# -- privileged ports: EACCES as an unprivileged user ---------------------------------------

PRIVILEGED_PORT = 80  # the lecture's HTTP port; nothing is ever sent to it


def _privileged_ports_apply() -> None:
    """Skip, saying why, where any user may bind the lecture's privileged port."""
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    if start <= PRIVILEGED_PORT:
        pytest.skip(f"ip_unprivileged_port_start is {start}: any user may bind "
                    f"port {PRIVILEGED_PORT} here")


EACCES_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from socklab.engine import Lab
    port = int(sys.argv[1])
    lab = Lab()
    server = lab.server()
    server.socket()
    denied = server.bind("127.0.0.1", port)
    allowed = server.bind("127.0.0.1", 0)  # the same socket, a port >= 1024
    listened = server.listen(5)
    lab.close_all()
    print(json.dumps({"uid": os.geteuid(), "denied": denied.to_dict(),
                      "allowed": allowed.ok, "listened": listened.ok,
                      "open": lab.open_sockets}))
""")


def test_eacces_binding_a_privileged_port_as_nobody() -> None:
    _privileged_ports_apply()
    with as_nobody() as nobody:
        done = subprocess.run(nobody.command("-c", EACCES_SCRIPT, str(PRIVILEGED_PORT)),
                              capture_output=True, text=True, env=nobody.env, cwd=nobody.cwd,
                              timeout=LIMIT, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["uid"] != 0
    denied = report["denied"]
    assert denied["error"] == "EACCES" and denied["errno"] == 13 and not denied["ok"]
    assert denied["lesson"] == lesson_for("EACCES", "bind")
    assert "below 1024" in denied["lesson"] and "CAP_NET_BIND_SERVICE" in denied["lesson"]
    assert report["allowed"] and report["listened"] and report["open"] == 0


def test_cli_serve_privileged_port_as_nobody_exits_1() -> None:
    _privileged_ports_apply()
    with as_nobody() as nobody:
        done = subprocess.run(nobody.command("-m", "socklab", "serve", "--port",
                                             str(PRIVILEGED_PORT), "--json"),
                              capture_output=True, text=True, env=nobody.env, cwd=nobody.cwd,
                              timeout=LIMIT, check=False)
    assert done.returncode == 1, done
    no_traceback(done.stderr)
    bind = [e for e in json_events(done.stdout) if e["op"] == "bind"][0]
    assert bind["error"] == "EACCES" and bind["lesson"] == lesson_for("EACCES", "bind")


# -- connecting: refused, timed out, wrong family, no such host -----------------------------


@pytest.mark.parametrize("family", [INET, pytest.param(INET6, marks=needs_ipv6)])
def test_econnrefused_on_a_closed_port(lab: Lab, rec: Recorder, family: int) -> None:
    port = closed_port(family)
    client = lab.client(family)
    client.socket()
    event = assert_failed(client.connect(LOOPBACK[family], port), "ECONNREFUSED", "connect",
                          "nothing is listening", "RST")
    assert event.errno == 111
    # the failed socket is not usable for another connect; a fresh one is
    assert client.close().ok
    assert_lab_alive(lab, family)


def test_cli_connect_to_a_closed_port_exits_1() -> None:
    done = run_cli("connect", "127.0.0.1", str(closed_port()), "--json")
    assert done.returncode == 1, done
    no_traceback(done.stderr)
    connect = [e for e in json_events(done.stdout) if e["op"] == "connect"][-1]
    assert connect["error"] == "ECONNREFUSED"
    assert connect["lesson"] == lesson_for("ECONNREFUSED", "connect")


@pytest.fixture
def full_queue() -> Iterator[int]:
    """A loopback listener with ``listen(0)`` whose accept queue is full.

    Linux queues one connection for backlog 0; a second SYN is dropped, so a
    third connect waits for an answer that never comes (until accept()).
    """
    listener = loopback_listener(backlog=0)
    port = listener.getsockname()[1]
    queued: list[socket.socket] = []
    try:
        for _ in range(2):
            peer = socket.socket()
            peer.setblocking(False)
            peer.connect_ex(("127.0.0.1", port))
            queued.append(peer)
        yield port
    finally:
        for peer in queued:
            peer.close()
        listener.close()


def test_connect_timeout_on_a_full_listen_queue(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    assert server.listen(0).ok
    port = server.local[1]
    clients = []
    timed_out = None
    for _ in range(8):  # bounded: Linux queues one for backlog 0
        client = lab.client()
        client.socket()
        clients.append(client)
        event = client.connect("127.0.0.1", port, timeout=0.5)
        if not event.ok:
            timed_out = event
            break
    assert timed_out is not None, "the queue never filled"
    assert len(clients) >= 2, "at least one connection is queued before the queue is full"
    assert_failed(timed_out, "TimeoutError", "connect", "backlog", "SYN")
    waits = rec.count(lambda e: e.phase == WAIT and e.call == timed_out.call)
    assert waits == 1, "the connect was visibly waiting before it timed out"
    # the lab keeps running: accept() takes the queued connection
    conn, accepted = server.accept(timeout=LIMIT)
    assert conn is not None and accepted.ok
    assert_lab_alive(lab)


def test_cli_connect_timeout_on_a_full_queue(full_queue: int) -> None:
    done = run_cli("connect", "127.0.0.1", str(full_queue), "--timeout", "0.5", "--json")
    assert done.returncode == 1, done
    no_traceback(done.stderr)
    connect = [e for e in json_events(done.stdout) if e["op"] == "connect"]
    assert [e["phase"] for e in connect] == ["wait", "done"]
    assert connect[-1]["error"] == "TimeoutError"
    assert connect[-1]["lesson"].startswith(lesson_for("TimeoutError", "connect"))
    assert "socklab's, not Python's" in connect[-1]["lesson"]  # no hidden timeout


MISMATCHES = [
    pytest.param(INET6, "127.0.0.1", marks=needs_ipv6, id="inet6-with-127.0.0.1"),
    pytest.param(INET, "::1", id="inet-with-::1"),
]


@pytest.mark.parametrize(("family", "host"), MISMATCHES)
def test_family_and_address_mismatch(lab: Lab, rec: Recorder, family: int, host: str) -> None:
    for make, op in ((lab.client, "connect"), (lab.server, "bind")):
        endpoint = make(family)
        assert endpoint.socket().ok
        call = endpoint.connect(host, 9) if op == "connect" else endpoint.bind(host, 0)
        # Python resolves the literal for the socket's family: EAI_ADDRFAMILY
        event = assert_failed(call, "gaierror", op, "AF_INET6 takes IPv6", "AF_INET takes IPv4")
        assert event.errno == getattr(socket, "EAI_ADDRFAMILY", event.errno)
        assert event.lesson == lesson_for("EAFNOSUPPORT")
        endpoint.close()
    assert_lab_alive(lab, family)


@pytest.mark.parametrize(("family", "host"), [("inet6", "127.0.0.1"), ("inet", "::1")])
def test_cli_family_mismatch_is_usage_error(family: str, host: str) -> None:
    done = run_cli("connect", host, "9", "--family", family)
    assert done.returncode == 2, done
    no_traceback(done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "AF_INET" in done.stderr and "does not resolve" in done.stderr


# RFC 6761: .invalid never resolves; the leading "-" makes the C library refuse
# the name before asking any DNS server, so no lookup leaves this machine.
UNRESOLVABLE = "-no-such-host.invalid"


def test_host_that_does_not_resolve(lab: Lab, rec: Recorder) -> None:
    client = lab.client()
    client.socket()
    event = assert_failed(client.connect(UNRESOLVABLE, 80), "gaierror", "connect",
                          "does not resolve", "getaddrinfo")
    assert event.lesson == lesson_for("gaierror")
    server = lab.server()
    server.socket()
    assert_failed(server.bind(UNRESOLVABLE, 0), "gaierror", "bind", "does not resolve")
    server.close()
    client.close()
    assert_lab_alive(lab)


def test_cli_host_that_does_not_resolve_is_usage_error() -> None:
    done = run_cli("connect", "--", UNRESOLVABLE, "80")
    assert done.returncode == 2, done
    no_traceback(done.stderr)
    assert done.stderr.count("\n") == 1 and "does not resolve" in done.stderr


@pytest.mark.parametrize("host", [" 127.0.0.1", "127.0.0.1 ", "\t127.0.0.1", "127.0.0.1\x00",
                                  "\x00", "local\x00host"])
def test_parse_host_refuses_spaces_and_nul(host: str) -> None:
    with pytest.raises(InputError, match="spaces|NUL"):
        parse_host(host)


@pytest.mark.parametrize("host", [" 127.0.0.1", "127.0.0.1\x00", "local\x00host"])
def test_engine_given_a_spaced_or_nul_host_reports_an_error_event(
    lab: Lab, rec: Recorder, host: str
) -> None:
    """The fields refuse these; the engine, given one anyway, must not crash."""
    client = lab.client()
    client.socket()
    event = client.connect(host, 80)
    assert event.phase == DONE and not event.ok and event.error and event.lesson, event
    if "\x00" in host:
        assert event.error in ("TypeError", "ValueError") and "null" in event.lesson
    else:
        assert event.error == "gaierror" and event.lesson == lesson_for("gaierror")
    server = lab.server()
    server.socket()
    bound = server.bind(host, 0)
    assert not bound.ok and bound.lesson
    # what the log shows is escaped: no raw NUL in the JSON line or the text line
    assert "\x00" not in bound.to_json() and "\x00" not in format_line(bound)
    client.close()
    server.close()
    assert_lab_alive(lab)


def test_cli_host_with_a_leading_space_is_usage_error() -> None:
    done = run_cli("connect", " 127.0.0.1", "80")
    assert done.returncode == 2
    no_traceback(done.stderr)
    assert "spaces" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# -- calls out of order ----------------------------------------------------------------------


def test_listen_and_accept_on_a_datagram_socket(lab: Lab, rec: Recorder) -> None:
    server = lab.server(kind=DGRAM)
    server.socket()
    server.bind("127.0.0.1", 0)
    assert_failed(server.listen(5), "EOPNOTSUPP", "listen", "datagram", "recvfrom")
    conn, event = server.accept(timeout=LIMIT)
    assert conn is None
    assert_failed(event, "EOPNOTSUPP", "accept", "datagram", "recvfrom", "sendto")
    # the datagram socket itself still works: what the lesson says to do
    with socket.socket(INET, DGRAM) as peer:
        peer.sendto(b"hello", server.local)
        got = server.recvfrom(2048, timeout=LIMIT)
        assert got.ok and got.data == b"hello" and got.addr == ("127.0.0.1",
                                                                peer.getsockname()[1])
    assert_lab_alive(lab)


def test_accept_before_listen_then_the_right_order_works(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    conn, event = server.accept(timeout=LIMIT)
    assert conn is None
    assert_failed(event, "EINVAL", "accept", "listen")
    server.bind("127.0.0.1", 0)
    _, event = server.accept(timeout=LIMIT)
    assert_failed(event, "EINVAL", "accept")
    assert server.listen(5).ok  # the same socket, in the right order
    with socket.create_connection(server.local, timeout=LIMIT) as peer:
        accept_peer(server, peer.getsockname()).close()
    assert_lab_alive(lab)


def test_bind_twice(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    first = server.bind("127.0.0.1", 0)
    assert first.ok
    assert_failed(server.bind("127.0.0.1", 0), "EINVAL", "bind", "already bound", "binds once")
    assert sock_of(server).getsockname() == first.result  # still bound where it was
    assert server.listen(5).ok
    assert_lab_alive(lab)


def test_connect_twice_is_eisconn(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    client = lab.client()
    client.socket()
    assert client.connect("127.0.0.1", server.local[1]).ok
    assert_failed(client.connect("127.0.0.1", closed_port()), "EISCONN", "connect",
                  "already connected")
    assert_failed(client.connect("127.0.0.1", server.local[1]), "EISCONN", "connect")
    conn = accept_peer(server, client.local)
    assert conn.send(b"still here").ok  # type: ignore[union-attr]
    assert client.recv(64, timeout=LIMIT).data == b"still here"
    assert_lab_alive(lab)


UNCONNECTED = [
    # (type, call, error Linux really returns, words of the lesson)
    # Linux says EPIPE; the lesson says why: it never connected
    pytest.param(STREAM, "send", "EPIPE", ("not connected", "connect() it first"),
                 id="tcp-send-EPIPE"),
    pytest.param(STREAM, "recv", "ENOTCONN", ("not connected", "connect() it first"),
                 id="tcp-recv-ENOTCONN"),
    pytest.param(DGRAM, "send", "EDESTADDRREQ", ("sendto(data, (host, port))",),
                 id="udp-send-EDESTADDRREQ"),
]


@pytest.mark.parametrize(("kind", "call", "error", "words"), UNCONNECTED)
def test_send_and_recv_on_an_unconnected_socket(
    lab: Lab, rec: Recorder, kind: int, call: str, error: str, words: tuple[str, ...]
) -> None:
    client = lab.client(kind=kind)
    client.socket()
    event = client.send(b"hello") if call == "send" else client.recv(1024, timeout=LIMIT)
    assert_failed(event, error, call, *words, exact=error != "EPIPE")
    assert client.close().ok
    assert_lab_alive(lab)


def test_recv_on_an_unconnected_datagram_socket_just_waits(lab: Lab, rec: Recorder) -> None:
    """Unlike TCP, UDP recv() on a fresh socket is no error: nothing can arrive."""
    client = lab.client(kind=DGRAM)
    client.socket()
    assert_failed(client.recv(1024, timeout=0.2), "TimeoutError", "recv", "nothing arrived")
    assert_lab_alive(lab)


def test_calls_before_socket_and_after_close_are_ebadf(lab: Lab, rec: Recorder) -> None:
    client = lab.client()
    assert_failed(client.connect("127.0.0.1", 9), "EBADF", "connect", "socket()")
    client.socket()
    assert client.close().ok
    assert_failed(client.send(b"x"), "EBADF", "send", "closed")
    assert_failed(client.close(), "EBADF", "close")
    assert client.socket().ok  # a new socket() brings the endpoint back
    assert client.close().ok
    assert_lab_alive(lab)


# -- the peer goes away: EPIPE, ECONNRESET, and no SIGPIPE -----------------------------------


def _connected(lab: Lab) -> tuple[Endpoint, Endpoint]:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    client = lab.client()
    client.socket()
    assert client.connect("127.0.0.1", server.local[1]).ok
    conn = accept_peer(server, client.local)
    server.close()
    return conn, client


def test_send_after_the_peer_closed(lab: Lab, rec: Recorder) -> None:
    assert signal.getsignal(signal.SIGPIPE) is signal.SIG_IGN  # Python's default
    conn, client = _connected(lab)
    conn.close()
    failure = None
    for _ in range(64):  # the first send is accepted; the peer answers it with RST
        event = client.send(b"x" * 1024)
        if event is not None and not event.ok:
            failure = event
            break
    assert failure is not None, "sending to a closed peer never failed"
    assert failure.error in ("EPIPE", "ECONNRESET"), failure
    assert_failed(failure, failure.error, "send")
    assert_failed(client.send(b"again"), "EPIPE", "send", "closed for writing")
    assert client.close().ok
    assert_lab_alive(lab)


SIGPIPE_SCRIPT = textwrap.dedent("""
    import json
    from socklab.engine import Lab
    lab = Lab()
    server, client = lab.server(), lab.client()
    server.socket(); server.bind("127.0.0.1", 0); server.listen(1)
    client.socket(); client.connect("127.0.0.1", server.local[1])
    while True:  # a port scan elsewhere on this machine may connect first
        conn, event = server.accept()
        conn.close()
        if tuple(event.result or ())[:2] == tuple(client.local):
            break
    errors = []
    for _ in range(64):
        event = client.send(b"x" * 4096)
        if event is not None and not event.ok:
            errors.append(event.error)
            if len(errors) == 3:
                break
    lab.close_all()
    print(json.dumps({"alive": True, "errors": errors}))
""")


def test_sigpipe_does_not_kill_the_process() -> None:
    done = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-c", SIGPIPE_SCRIPT],
                          capture_output=True, text=True, env=cli_env(), cwd=REPO,
                          timeout=LIMIT, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr)  # -13 would be SIGPIPE
    report = json.loads(done.stdout)
    assert report["alive"] and len(report["errors"]) == 3
    assert set(report["errors"]) <= {"EPIPE", "ECONNRESET"} and report["errors"][-1] == "EPIPE"


def test_cli_connect_sending_to_a_peer_that_closes_survives(tmp_path: Path) -> None:
    """The peer closes at once without reading: the command's sends meet RST."""
    payload = tmp_path / "big.bin"
    payload.write_bytes(b"x" * (8 << 20))
    with loopback_listener() as listener:
        live = start_cli("connect", "127.0.0.1", str(listener.getsockname()[1]),
                         "--send-file", str(payload), "--json")
        try:
            connected = live.wait_event(lambda e: e["op"] == "connect" and e["phase"] == "done")
            listener.settimeout(LIMIT)
            for _ in range(8):  # skip strangers (a port scan elsewhere on this machine)
                peer, address = listener.accept()
                peer.close()  # ours: closed at once with its data unread → RST
                if list(address) == connected["result"]:
                    break
            status, out, err = live.finish()
        finally:
            live.stop()
    assert status == 1, (status, err)  # not -SIGPIPE: the process lived to report it
    no_traceback(err)
    failed = [e for e in json_events(out) if not e["ok"]]
    assert failed and failed[0]["error"] in ("EPIPE", "ECONNRESET")
    assert failed[0]["lesson"] == lesson_for(failed[0]["error"])
    assert [e for e in json_events(out) if e["op"] not in VIEW_OPS][-1]["op"] == "close"


def test_reset_by_the_peer_with_so_linger_zero(lab: Lab, rec: Recorder) -> None:
    conn, client = _connected(lab)
    assert conn.set_linger_zero().ok
    assert conn.close().ok  # RST instead of FIN
    assert_failed(client.recv(1024, timeout=LIMIT), "ECONNRESET", "recv", "reset", "SO_LINGER 0")
    after = client.recv(1024, timeout=LIMIT)  # the error is reported once; then EOF
    assert after.ok and after.eof
    assert_failed(client.send(b"x"), "EPIPE", "send")
    assert client.close().ok
    assert_lab_alive(lab)


def test_connected_udp_socket_to_a_closed_port(lab: Lab, rec: Recorder) -> None:
    client = lab.client(kind=DGRAM)
    client.socket()
    port = closed_port(INET, DGRAM)
    assert client.connect("127.0.0.1", port).ok
    sent = client.send(b"anyone?")
    assert sent is not None and sent.ok  # the datagram leaves; the ICMP comes back
    assert_failed(client.recv(1024, timeout=LIMIT), "ECONNREFUSED", "recv",
                  "port unreachable", "next call")
    # reported once; the socket still sends (to the same closed port)
    again = client.send(b"anyone?")
    assert again is not None and again.ok
    assert client.close().ok
    assert_lab_alive(lab)


# -- datagram sizes: the last byte that fits, and the first that does not ---------------------

DATAGRAM_LIMITS = [
    pytest.param(INET, 65507, id="ipv4"),
    pytest.param(INET6, 65527, marks=needs_ipv6, id="ipv6"),
]


@pytest.mark.parametrize(("family", "largest"), DATAGRAM_LIMITS)
def test_largest_datagram_and_one_byte_more(lab: Lab, rec: Recorder, family: int,
                                            largest: int) -> None:
    host = LOOPBACK[family]
    receiver = lab.server(family, DGRAM)
    receiver.socket()
    receiver.bind(host, 0)
    sender = lab.client(family, DGRAM)
    sender.socket()
    fits = sender.sendto(b"y" * largest, host, receiver.local[1])
    assert fits is not None and fits.ok and fits.result == largest
    got = receiver.recvfrom(70000, timeout=LIMIT)
    assert got.ok and got.event is not None and got.event.nbytes == largest
    assert len(got.data) == largest
    too_big = sender.sendto(b"y" * (largest + 1), host, receiver.local[1])
    event = assert_failed(too_big, "EMSGSIZE", "sendto", "65,507", "65,527", "TCP")
    assert event.errno == 90
    # nothing arrived, and the socket still sends
    nothing = receiver.recvfrom(70000, timeout=0.2)
    assert nothing.event is not None and nothing.event.error == "TimeoutError"
    again = sender.sendto(b"small", host, receiver.local[1])
    assert again is not None and again.ok
    assert_lab_alive(lab, family)


# -- the backlog -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "5", "128", "4096", "65535", "1000000"])
def test_parse_backlog_accepts_zero_and_large(text: str) -> None:
    assert parse_backlog(text) == int(text)


@pytest.mark.parametrize(("text", "why"), [("-1", "negative"), ("-100", "negative"),
                                            ("abc", "not a whole number"), ("", "not"),
                                            ("5.5", "not a whole number"),
                                            ("99999999999", "too large")])
def test_parse_backlog_rejects(text: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        parse_backlog(text)


@pytest.mark.parametrize("text", ["-1", "abc", "99999999999"])
def test_cli_bad_backlog_is_usage_error(text: str) -> None:
    done = run_cli("serve", f"--backlog={text}", "--port", "0")
    assert done.returncode == 2, done
    no_traceback(done.stderr)
    assert "backlog" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def _somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


@pytest.mark.parametrize("backlog", [0, -1, -100])
def test_backlog_zero_and_negative_queue_one_connection(lab: Lab, rec: Recorder,
                                                        backlog: int) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    event = server.listen(backlog)
    assert event.ok and event.lesson, event
    assert "about one connection" in event.lesson
    if backlog < 0:
        assert "raises" in event.lesson and "to 0" in event.lesson
    with socket.create_connection(server.local, timeout=LIMIT) as first:
        accept_peer(server, first.getsockname()).close()
    assert_lab_alive(lab)


def test_huge_backlog_is_clamped_and_explained(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    event = server.listen(1_000_000)
    assert event.ok
    assert event.lesson is not None and "somaxconn" in event.lesson
    assert f"({_somaxconn()})" in event.lesson
    assert_lab_alive(lab)


def test_backlog_beyond_a_c_int_is_an_error_event(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    event = server.listen(2**31)
    assert not event.ok and event.error == "OverflowError" and event.lesson
    assert server.listen(5).ok
    assert_lab_alive(lab)


def test_listen_without_bind_autobinds_to_every_interface(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    event = server.listen(5)
    assert event.ok
    host, port = event.result
    assert host == "0.0.0.0" and port != 0
    assert sock_of(server).getsockname() == (host, port)
    assert event.lesson is not None
    for words in ("without bind()", "random port", "every interface", "bind() first"):
        assert words in event.lesson, event.lesson
    server.close()  # do not leave it listening on every interface
    assert_lab_alive(lab)


# -- running out of descriptors: EMFILE ---------------------------------------------------------

EMFILE_SCRIPT = textwrap.dedent("""
    import json, os, resource
    from socklab.engine import Lab
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 10, hard))
    lab = Lab(connect_timeout=10)
    server = lab.server()
    server.socket(); server.bind("127.0.0.1", 0); server.listen(64)
    clients, failed = [], None
    for _ in range(100):
        client = lab.client()
        event = client.socket()
        if not event.ok:
            failed = event
            break
        clients.append(client)
        assert client.connect("127.0.0.1", server.local[1]).ok
    # every descriptor is taken: accept() cannot make a socket for the queued connection
    _, accept_failed = server.accept(timeout=5)
    clients.pop().close()  # free one descriptor...
    conn, accepted = server.accept(timeout=5)  # ...and the same accept works
    clients.pop().close()
    retry = lab.client().socket()
    lab.close_all()
    print(json.dumps({"made": len(clients) + 2, "socket": failed.to_dict(),
                      "accept": accept_failed.to_dict(), "accepted": accepted.ok,
                      "retry": retry.ok, "open": lab.open_sockets}))
""")


def test_emfile_with_rlimit_nofile_lowered() -> None:
    done = subprocess.run([sys.executable, "-X", "dev", "-W", "error", "-c", EMFILE_SCRIPT],
                          capture_output=True, text=True, env=cli_env(), cwd=REPO,
                          timeout=LIMIT * 2, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["made"] >= 2
    for key, op in (("socket", "socket"), ("accept", "accept")):
        event = report[key]
        assert event["op"] == op and event["error"] == "EMFILE" and event["errno"] == 24
        assert event["lesson"] == lesson_for("EMFILE")
        assert "file descriptors" in event["lesson"] and "ulimit -n" in event["lesson"]
    assert report["accepted"] and report["retry"] and report["open"] == 0


# -- many errors in a row: the lab is still the same lab ------------------------------------------

ERROR_STORM: list[tuple[str, Callable[[Lab], Event | None]]] = [
    ("EINVAL", lambda lab: _fresh(lab).accept(timeout=1)[1]),
    ("ENOTCONN", lambda lab: _fresh(lab).recv(1, timeout=1).event),
    ("EPIPE", lambda lab: _fresh(lab).send(b"x")),
    ("EDESTADDRREQ", lambda lab: _fresh(lab, DGRAM).send(b"x")),
    ("EOPNOTSUPP", lambda lab: _fresh(lab, DGRAM).listen(1)),
    ("ECONNREFUSED", lambda lab: _fresh(lab).connect("127.0.0.1", closed_port())),
    ("EADDRNOTAVAIL", lambda lab: _fresh(lab).bind("192.0.2.1", 0)),  # TEST-NET-1: not ours
    ("OverflowError", lambda lab: _fresh(lab).bind("127.0.0.1", 65536)),
    ("EMSGSIZE", lambda lab: _fresh(lab, DGRAM).sendto(b"z" * 65508, "127.0.0.1", 9)),
]


def _fresh(lab: Lab, kind: int = STREAM) -> Endpoint:
    endpoint = lab.server(kind=kind)
    assert endpoint.socket().ok
    return endpoint


def test_an_error_storm_leaves_the_lab_working(lab: Lab, rec: Recorder) -> None:
    """Every error above, three times over, on one lab: then it still works."""
    for _ in range(3):
        for error, provoke in ERROR_STORM:
            event = provoke(lab)
            assert event is not None and event.error == error and event.lesson, (error, event)
    seqs = [e.seq for e in rec.snapshot()]
    assert seqs == list(range(1, len(seqs) + 1))  # one global order, nothing skipped
    assert lab.open_sockets == 3 * len(ERROR_STORM)
    lab.close_all()
    assert lab.open_sockets == 0
    lab.reset()
    assert_lab_alive(lab)


# -- the lab screen: bad fields are flagged in place and never reach the kernel ------------------

FIELD_CASES = [
    ("port", "-1", "out of range"),
    ("port", "65536", "out of range"),
    ("port", "abc", "not a whole number"),
    ("port", "1.5", "not a whole number"),
    ("port", "", "empty"),
    ("host", " 127.0.0.1", "spaces"),
    ("backlog", "-1", "negative"),
    ("backlog", "five", "not a whole number"),
    ("message", "\\q", "unknown escape"),
]


async def test_lab_screen_flags_bad_fields_and_never_calls_the_kernel() -> None:
    from textual.notifications import Notify

    from socklab.ui.app import SocklabApp

    app = SocklabApp()
    rec = Recorder()
    app.lab.subscribe(rec)
    # Every notification as it is posted: the app's own list drops each after its
    # 5 s timeout, and on a loaded machine the cases below take longer than that.
    told = []

    def hook(message: object) -> None:
        if isinstance(message, Notify):
            told.append(message.notification)

    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        server = app.server_pane
        error = app.query_one("#server-field-error")
        for index, (field, text, words) in enumerate(FIELD_CASES):
            widget = server.input(field)
            good = widget.value
            widget.value = ""
            if field == "port":
                widget.focus()
                await pilot.press(*text)  # typed key by key, as a learner would
            else:
                widget.value = text  # (Pilot types ~10 keys/s: keep the suite fast)
            await pilot.pause()
            assert widget.value == text
            assert widget.has_class("-invalid"), (field, text)
            assert error.has_class("-shown") and words in str(error.render()), (field, text)
            if index % 3 == 0:
                assert await pilot.click("#server-bind"), "the click missed"
            for call in ("socket", "bind", "run"):
                server.press(call)  # what the buttons do
            await app.workers.wait_for_complete()
            assert rec.snapshot() == [], f"{field}={text!r} reached the kernel"
            assert app.is_running
            widget.value = good
            await pilot.pause()
            assert not widget.has_class("-invalid") and not error.has_class("-shown")
        refusals = [n for n in told if n.title == "Not sent to the kernel"]
        assert len(refusals) >= len(FIELD_CASES)
        # with good fields the same buttons make real calls: port 0 shows its port
        server.input("port").value = "0"
        await pilot.pause()
        assert await pilot.click("#server-socket"), "the click missed"
        assert await pilot.click("#server-bind"), "the click missed"
        bound = await asyncio.to_thread(rec.wait_for, lambda e: e.op == "bind", LIMIT, "bind")
        assert bound.ok and bound.result[1] != 0
        await app.workers.wait_for_complete()
    assert app.return_value is None
    assert app.lab.open_sockets == 0
