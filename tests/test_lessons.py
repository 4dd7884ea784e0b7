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
