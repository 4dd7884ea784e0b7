"""Every error a learner can provoke, provoked for real, with the right lesson.

Each test makes the real calls through the engine on loopback (port 0 for
listeners) and checks the event's ``error`` name and that its ``lesson`` says
what is true.  Where a lesson needs an unprivileged user or a lower descriptor
limit, the check runs in a subprocess.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
from helpers import LIMIT, REPO, Recorder, cli_env, closed_port, listening, stream_pair, where

from socklab.engine import Lab, Received
from socklab.events import Event
from socklab.lessons import error_name, explain, lesson_for

AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
DGRAM = socket.SOCK_DGRAM


def assert_lesson(event: Event | Received | None, error: str, *phrases: str) -> Event:
    """The event failed with ``error`` and its lesson mentions every phrase."""
    if isinstance(event, Received):
        event = event.event
    assert event is not None
    assert not event.ok, event
    assert event.error == error, event
    assert event.lesson and event.lesson.strip(), event
    assert "\n" not in event.lesson  # one line
    for phrase in phrases:
        assert phrase.lower() in event.lesson.lower(), (phrase, event.lesson)
    return event


# -- addresses and ports ----------------------------------------------------------------


def test_eaddrinuse_when_another_socket_listens(lab: Lab) -> None:
    first = listening(lab)
    second = lab.server()
    second.socket()
    event = second.bind("127.0.0.1", first.local[1])
    assert_lesson(event, "EADDRINUSE", "another socket", "TIME_WAIT", "SO_REUSEADDR")
    assert event.errno == errno.EADDRINUSE


def _time_wait_port(lab: Lab) -> int:
    """A port left in TIME_WAIT: the server side (with SO_REUSEADDR) closed first."""
    first = lab.server()
    assert first.socket().ok and first.setsockopt_reuseaddr(True).ok
    assert first.bind("127.0.0.1", 0).ok and first.listen(5).ok
    port = first.local[1]
    client = lab.client()
    client.socket()
    assert client.connect("127.0.0.1", port).ok
    conn, _ = first.accept(timeout=LIMIT)
    assert conn is not None
    assert conn.close().ok  # the server closes first: its end goes to TIME_WAIT
    assert client.recv(1024, timeout=LIMIT).eof
    client.close()
    first.close()  # no listener any more; only the TIME_WAIT leftover owns the port
    return port


def test_eaddrinuse_in_time_wait_and_what_so_reuseaddr_does(lab: Lab) -> None:
    port = _time_wait_port(lab)
    again = lab.server()
    again.socket()
    refused = again.bind("127.0.0.1", port)
    assert_lesson(refused, "EADDRINUSE", "TIME_WAIT", "SO_REUSEADDR")
    again.close()

    reuse = lab.server()
    reuse.socket()
    assert reuse.setsockopt_reuseaddr(True).ok
    rebound = reuse.bind("127.0.0.1", port)
    assert rebound.ok and rebound.result[1] == port
    assert reuse.listen(5).ok  # a restarted server can listen again at once


def _unprivileged_runner() -> list[str] | None:
    """A command prefix that runs as ``nobody``, or None if none works here."""
    candidates = []
    if shutil.which("setpriv"):
        candidates.append(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    if shutil.which("runuser"):
        candidates.append(["runuser", "-u", "nobody", "--"])
    for prefix in candidates:
        try:
            probe = subprocess.run([*prefix, sys.executable, "-c", "import os; print(os.getuid())"],
                                   capture_output=True, text=True, timeout=LIMIT, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() not in ("", "0"):
            return prefix
    return None


def _unprivileged_port_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


def test_eacces_on_a_port_below_1024_as_an_unprivileged_user() -> None:
    port = 80
    if _unprivileged_port_start() <= port:
        pytest.skip("net.ipv4.ip_unprivileged_port_start lets everyone bind port 80 here")
    if os.geteuid() != 0:
        prefix: list[str] | None = []  # already unprivileged
    else:
        prefix = _unprivileged_runner()
        if prefix is None:
            pytest.skip("running as root and cannot drop to 'nobody' (no setpriv/runuser)")
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from socklab.engine import Lab
        with Lab() as lab:
            server = lab.server()
            server.socket()
            event = server.bind("127.0.0.1", {port})
            print(json.dumps(event.to_dict()))
    """)
    done = subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=LIMIT * 2, check=False, env=cli_env(), cwd="/")
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    assert event["ok"] is False and event["error"] == "EACCES"
    assert "privileged" in event["lesson"] and "1024" in event["lesson"]


def test_eaddrnotavail_binding_an_address_this_machine_does_not_have(lab: Lab) -> None:
    server = lab.server()
    server.socket()
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never a real interface.  Bind only.
    event = server.bind("192.0.2.1", 0)
    assert_lesson(event, "EADDRNOTAVAIL", "does not belong", "127.0.0.1")


def test_econnrefused_when_nothing_listens(lab: Lab) -> None:
    client = lab.client()
    client.socket()
    event = client.connect("127.0.0.1", closed_port())
    assert_lesson(event, "ECONNREFUSED", "nothing is listening", "RST")


@pytest.mark.parametrize(
    "family", [AF_INET, pytest.param(AF_INET6, marks=pytest.mark.requires_ipv6)],
    ids=["inet", "inet6"],
)
def test_family_address_mismatch(lab: Lab, family: int) -> None:
    other = "127.0.0.1" if family == AF_INET6 else "::1"
    server = lab.server(family)
    server.socket()
    event = server.bind(other, 0)
    assert_lesson(event, "gaierror", "AF_INET takes IPv4", "AF_INET6 takes IPv6")
    assert event.errno == socket.EAI_ADDRFAMILY
    client = lab.client(family)
    client.socket()
    assert_lesson(client.connect(other, 9), "gaierror", "family")


# -- connections ---------------------------------------------------------------------------


def test_econnreset_when_the_peer_closes_with_linger_zero(lab: Lab) -> None:
    _, conn, client = stream_pair(lab)
    assert conn.set_linger_zero().ok
    assert conn.close().ok  # RST, not FIN
    event = client.recv(1024, timeout=LIMIT)
    assert_lesson(event, "ECONNRESET", "reset", "SO_LINGER 0")


def test_epipe_sending_after_the_peer_closed(lab: Lab) -> None:
    _, conn, client = stream_pair(lab)
    conn.close()
    assert client.recv(1024, timeout=LIMIT).eof  # the FIN has arrived
    # The first send is accepted by this kernel; the peer answers it with RST,
    # after which sending fails with EPIPE.
    failure = None
    for _ in range(50):
        event = client.send(b"anyone there?")
        if event is not None and not event.ok:
            failure = event
            break
    assert_lesson(failure, "EPIPE", "peer closed")


def test_epipe_sending_after_shutdown(lab: Lab) -> None:
    _, conn, client = stream_pair(lab)
    assert client.shutdown(socket.SHUT_WR).ok
    assert_lesson(client.send(b"too late"), "EPIPE", "shut it down")
    assert conn.recv(1024, timeout=LIMIT).eof  # the peer saw our FIN as EOF


def test_enotconn_on_an_unconnected_stream_socket(lab: Lab) -> None:
    client = lab.client()
    client.socket()
    assert_lesson(client.recv(1024), "ENOTCONN", "not connected", "connect()")
    server = listening(lab)
    # recv on the listening socket instead of the one accept() returns
    assert_lesson(server.recv(1024), "ENOTCONN", "accept() returned")


def test_send_on_an_unconnected_stream_socket(lab: Lab) -> None:
    client = lab.client()
    client.socket()
    event = client.send(b"hello?")
    # Linux answers send() on a never-connected TCP socket with EPIPE (recv
    # says ENOTCONN); either way the lesson must say it is not connected.
    assert event is not None and event.error in ("EPIPE", "ENOTCONN")
    assert_lesson(event, event.error, "not connected")  # type: ignore[arg-type]


def test_eisconn_connecting_twice(lab: Lab) -> None:
    server = listening(lab)
    client = lab.client()
    client.socket()
    assert client.connect("127.0.0.1", server.local[1]).ok
    again = client.connect("127.0.0.1", server.local[1])
    assert_lesson(again, "EISCONN", "already connected")


def test_einval_accept_before_listen(lab: Lab) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    conn, event = server.accept(timeout=LIMIT)
    assert conn is None
    assert_lesson(event, "EINVAL", "listening socket", "listen()")


def test_einval_bind_twice(lab: Lab) -> None:
    server = lab.server()
    server.socket()
    assert server.bind("127.0.0.1", 0).ok
    assert_lesson(server.bind("127.0.0.1", 0), "EINVAL", "already bound")


def test_eopnotsupp_listen_and_accept_on_a_datagram_socket(lab: Lab) -> None:
    server = listening(lab, kind=DGRAM)
    assert_lesson(server.listen(5), "EOPNOTSUPP", "datagram", "recvfrom()")
    _, event = server.accept(timeout=LIMIT)
    assert_lesson(event, "EOPNOTSUPP", "datagram", "recvfrom()")


@pytest.mark.parametrize(
    ("family", "limit"),
    [(AF_INET, 65_507), pytest.param(AF_INET6, 65_527, marks=pytest.mark.requires_ipv6)],
    ids=["inet", "inet6"],
)
def test_emsgsize_a_datagram_too_big(lab: Lab, family: int, limit: int) -> None:
    host = "::1" if family == AF_INET6 else "127.0.0.1"
    server = listening(lab, family, DGRAM)
    client = lab.client(family, DGRAM)
    client.socket()
    fits = client.sendto(b"x" * limit, host, server.local[1])
    assert fits is not None and fits.ok and fits.result == limit
    assert len(server.recvfrom(65535, timeout=LIMIT).data) == limit
    too_big = client.sendto(b"x" * (limit + 1), host, server.local[1])
    assert_lesson(too_big, "EMSGSIZE", "65,507", "65,527", "TCP")


def test_emfile_when_descriptors_run_out() -> None:
    script = textwrap.dedent("""
        import json, os, resource
        from socklab.engine import Lab
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        in_use = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 8, hard))
        with Lab() as lab:
            for _ in range(64):
                event = lab.client().socket()
                if not event.ok:
                    print(json.dumps(event.to_dict()))
                    break
            print(json.dumps({"open": lab.open_sockets}))
        print(json.dumps({"after": lab.open_sockets}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=LIMIT * 2, check=False, env=cli_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr
    failed, opened, after = (json.loads(line) for line in done.stdout.splitlines())
    assert failed["error"] == "EMFILE" and failed["op"] == "socket"
    assert "file descriptors" in failed["lesson"] and "close" in failed["lesson"]
    assert opened["open"] >= 1 and after["after"] == 0  # all closed on the way out


def test_gaierror_for_a_name_that_does_not_resolve(lab: Lab) -> None:
    client = lab.client()
    client.socket()
    outcome: list[Event] = []
    # A label may not start with "-", so the C library refuses this name before
    # asking any DNS server: the lookup fails for real with no traffic leaving
    # loopback.  Run it in a thread anyway, so a resolver that hangs on this
    # machine skips the test instead of hanging the suite.
    worker = threading.Thread(
        target=lambda: outcome.append(client.connect("-no-such-host.invalid", 80)), daemon=True
    )
    worker.start()
    worker.join(LIMIT)
    if worker.is_alive():
        pytest.skip("the resolver here does not answer for .invalid names in time")
    assert_lesson(outcome[0], "gaierror", "does not resolve", "spelling")


def test_connect_timeout_with_a_full_backlog(lab: Lab, rec: Recorder) -> None:
    server = listening(lab, backlog=0)  # and nobody ever calls accept()
    timed_out = None
    for _ in range(8):
        client = lab.client()
        client.socket()
        event = client.connect("127.0.0.1", server.local[1], timeout=0.5)
        if not event.ok:
            timed_out = event
            break
    assert_lesson(timed_out, "TimeoutError", "backlog", "SYN")
    assert timed_out is not None and timed_out.errno is None
    # the connect was seen waiting before it gave up
    rec.wait_for(where(op="connect", phase="wait", call=timed_out.call))


def test_recv_timeout_is_a_timeout_lesson(lab: Lab) -> None:
    _, _conn, client = stream_pair(lab)
    event = client.recv(1024, timeout=0.2)
    assert_lesson(event, "TimeoutError", "nothing arrived")


def test_recv_returning_empty_bytes_is_eof_not_an_error(lab: Lab) -> None:
    _, conn, client = stream_pair(lab)
    client.close()
    got = conn.recv(1024, timeout=LIMIT)
    assert got.eof and got.data == b""
    event = got.event
    assert event is not None and event.ok and event.error is None
    assert event.nbytes == 0 and event.result == 0
    assert event.lesson and "b''" in event.lesson and "peer closed" in event.lesson
    assert conn.eof


# -- the lesson table itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "op"),
    [("EADDRINUSE", "bind"), ("EACCES", "bind"), ("EADDRNOTAVAIL", "bind"),
     ("ECONNREFUSED", "connect"), ("ECONNRESET", "recv"), ("EPIPE", "send"),
     ("ENOTCONN", "recv"), ("EISCONN", "connect"), ("EINVAL", "accept"), ("EINVAL", "bind"),
     ("EOPNOTSUPP", "listen"), ("EOPNOTSUPP", "accept"), ("EAFNOSUPPORT", "bind"),
     ("EMSGSIZE", "sendto"), ("EMFILE", "socket"), ("gaierror", "connect"),
     ("TimeoutError", "connect"), ("TimeoutError", "recv"), ("EOF", "recv")],
)
def test_every_listed_error_has_a_one_line_lesson(name: str, op: str) -> None:
    lesson = lesson_for(name, op)
    assert lesson and "\n" not in lesson and len(lesson) < 400


def test_error_names() -> None:
    assert error_name(socket.gaierror(socket.EAI_NONAME, "x")) == ("gaierror", socket.EAI_NONAME)
    assert error_name(TimeoutError("timed out")) == ("TimeoutError", None)
    assert error_name(OSError(98, "in use")) == ("EADDRINUSE", 98)
    assert error_name(OSError(95, "not supported"))[0] == "EOPNOTSUPP"
    assert error_name(ValueError("bad")) == ("ValueError", None)
    name, number, lesson = explain(OSError(12345, "strange"), "bind")
    assert name == "E12345" and number == 12345 and "strange" in lesson
