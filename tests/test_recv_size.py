"""The recv size control: the lab's recv(n) / recvfrom(n) use the pane's n (issue 10)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from helpers import LIMIT, Recorder

from socklab.inputs import InputError, parse_recv_size
from socklab.labcalls import Request, Settings
from socklab.session import LabSession

DGRAM = Settings(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", 0, b"")


@pytest.fixture
def session() -> Iterator[LabSession]:
    the_session = LabSession()
    try:
        yield the_session
    finally:
        the_session.close()


def _ask(session: LabSession, side: str, call: str, settings: Settings) -> None:
    session.request(Request(side, call, settings, None))
    assert session.wait_idle(LIMIT), f"{side} {call} did not end"


def test_a_small_recvfrom_loses_the_rest_of_the_datagram_and_says_how_much(
        session: LabSession) -> None:
    rec = Recorder()
    session.subscribe(rec)
    for call in ("socket", "bind"):
        _ask(session, "server", call, DGRAM)
    port = next(e for e in rec.done() if e.op == "bind").result[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"x" * 32, ("127.0.0.1", port))
    _ask(session, "server", "recv", replace(DGRAM, recv_size=8))
    got = next(e for e in rec.done() if e.op == "recvfrom")
    assert got.args == (8,) and got.nbytes == 8
    assert got.lesson and "24 bytes are lost" in got.lesson


def test_the_default_is_the_lectures_1024() -> None:
    assert Settings(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", 0, b"").recv_size == 1024


@pytest.mark.parametrize("text", ["0", "-1", "x", "", "99999999"])
def test_a_bad_recv_size_is_one_clear_line(text: str) -> None:
    with pytest.raises(InputError, match="recv size"):
        parse_recv_size(text)
