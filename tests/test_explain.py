"""Every error a learner can provoke, provoked for real, with the right lesson.

Each test makes the real calls through the engine on loopback (port 0 for
listeners) and checks the event's ``error`` name and that its ``lesson`` says
what is true.  Most errors are provoked once, in test_bad_input.py (with the
lab still working after, and the command line's answer); here are the lessons
that only this file shows, and the lesson table itself.
"""

from __future__ import annotations

import socket

import pytest
from helpers import LIMIT, listening, stream_pair

from socklab.engine import Lab, Received
from socklab.events import Event
from socklab.explain import error_name, explain, lesson_for

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
# EADDRINUSE (listening, TIME_WAIT, SO_REUSEADDR), EACCES and EMFILE are each
# provoked once, in test_bad_input.py.


def test_eaddrnotavail_binding_an_address_this_machine_does_not_have(lab: Lab) -> None:
    server = lab.server()
    server.socket()
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never a real interface.  Bind only.
    event = server.bind("192.0.2.1", 0)
    assert_lesson(event, "EADDRNOTAVAIL", "does not belong", "127.0.0.1")


# -- connections ---------------------------------------------------------------------------


def test_epipe_sending_after_shutdown(lab: Lab) -> None:
    _, conn, client = stream_pair(lab)
    assert client.shutdown(socket.SHUT_WR).ok
    assert_lesson(client.send(b"too late"), "EPIPE", "shut it down")
    assert conn.recv(1024, timeout=LIMIT).eof  # the peer saw our FIN as EOF


def test_enotconn_recv_on_the_listening_socket(lab: Lab) -> None:
    server = listening(lab)
    # recv on the listening socket instead of the one accept() returns
    assert_lesson(server.recv(1024), "ENOTCONN", "accept() returned")


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


# -- wrong words (issue 20): each lesson says what is true ----------------------------


def test_a_recv_timeout_is_not_explained_as_the_connects_limit(lab: Lab) -> None:
    server, client, conn = stream_pair(lab)
    assert client.limit_note is None  # the connect's own note ends with it
    failed = client.recv(1024, timeout=0.05)
    event = assert_lesson(failed, "TimeoutError")
    assert "connect()" not in (event.lesson or "")


def test_refused_does_not_say_start_the_server_first() -> None:
    lesson = lesson_for("ECONNREFUSED", "connect") or ""
    assert "first" not in lesson and "host, the port and the family" in lesson


def test_no_free_local_port_is_eaddrnotavail_on_linux() -> None:
    assert "no free local port" in (lesson_for("EADDRNOTAVAIL", "connect") or "")
    assert "no free local port" not in (lesson_for("EADDRINUSE", "connect") or "")


def test_ipv6_udp_limit_subtracts_the_udp_header_only() -> None:
    lesson = lesson_for("EMSGSIZE", "sendto") or ""
    assert "minus the IP and UDP headers" not in lesson
    assert "does not count the IPv6 header" in lesson and "65,527" in lesson


def test_listen_eaddrinuse_does_not_blame_listen_without_bind(lab: Lab) -> None:
    server = lab.server()
    other = lab.server()
    for endpoint in (server, other):
        endpoint.socket()
        endpoint.setsockopt_reuseaddr(True)
    server.bind("127.0.0.1", 0)
    other.bind("127.0.0.1", server.local[1])
    assert server.listen(1).ok
    event = assert_lesson(other.listen(1), "EADDRINUSE", "only one may listen")
    assert "picked" not in (event.lesson or "")


def test_a_connect_timeout_names_an_unanswered_syn_before_a_full_backlog() -> None:
    lesson = lesson_for("TimeoutError", "connect") or ""
    assert lesson.index("SYN/ACK") < lesson.index("accept queue")


def test_a_backlog_too_big_for_a_c_int_is_not_a_port_error(lab: Lab) -> None:
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    event = assert_lesson(server.listen(2147483648), "OverflowError", "C int")
    assert "port" not in (event.lesson or "")


def test_bind_listen_connect_show_none_and_the_address_as_a_note(lab: Lab) -> None:
    from helpers import Recorder

    from socklab.logformat import format_line
    rec = Recorder()
    lab.subscribe(rec)
    stream_pair(lab)
    for op, note in (("bind", "bound to"), ("listen", "listening on"),
                     ("connect", "local address")):
        event = next(e for e in rec.done() if e.op == op)
        assert isinstance(event.result, tuple)  # JSON keeps the address as result
        assert f"→ None · {note} {event.result!r}" in format_line(event)


def test_broadcast_is_a_host_as_python_takes_it(lab: Lab) -> None:
    from socklab.inputs import parse_host
    assert parse_host("<broadcast>") == "<broadcast>"
    client = lab.client(AF_INET, DGRAM)
    client.socket()
    # A real call, the kernel's answer: no SO_BROADCAST is EACCES where a route to
    # 255.255.255.255 exists; with no route at all (a bare sandbox), ENETUNREACH.
    # Nothing is sent either way.
    event = client.sendto(b"hi", "<broadcast>", 9)
    assert event is not None and not event.ok and event.error in ("EACCES", "ENETUNREACH")
    if event.error == "EACCES":
        assert_lesson(event, "EACCES", "SO_BROADCAST")


# -- lesson text (issue 20) ------------------------------------------------------------


def _lesson_text(name: str) -> str:
    from pathlib import Path
    return (Path(__file__).parent.parent / "socklab/guided/lessons" / f"{name}.md").read_text()


def test_lesson_texts_say_what_is_true() -> None:
    from pathlib import Path
    assert "receiver closed" in _lesson_text("udp") or "closed unread" in _lesson_text("udp")
    assert "obliges every server" in _lesson_text("http")
    assert "picks one socket" not in _lesson_text("ports")
    assert "three segments here" in _lesson_text("close")
    assert "connect() returned the client's own" not in _lesson_text("ipv6")
    assert "re.MULTILINE" in _lesson_text("regex")
    docs = (Path(__file__).parent.parent / "docs/lessons.md").read_text()
    assert "coming" not in docs
    folder = Path(__file__).parent.parent / "socklab/guided/lessons"
    orders = [line for path in sorted(folder.glob("*.md"))
              for line in path.read_text().splitlines() if line.startswith("order:")]
    assert len(orders) == len(set(orders)) >= 14


def test_the_second_close_over_a_cable_is_not_microseconds_on_loopback() -> None:
    from socklab.explain import state_lesson
    assert "loopback" in (state_lesson("CLOSE", was="LAST_ACK", open_socket=False) or "")
    away = state_lesson("CLOSE", was="LAST_ACK", open_socket=False, loopback=False) or ""
    assert "LAST_ACK" in away and "loopback" not in away
