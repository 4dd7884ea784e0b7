"""Each lecture demo makes the exact sequence of real calls the lecture tells."""

from __future__ import annotations

import pytest
from helpers import WELCOME_DONE, Recorder, assert_seq_increasing, assert_waits_precede_dones

from socklab import demos
from socklab.engine import GREETING, Lab
from socklab.events import DONE
from socklab.hosts import why_unavailable


def _run(lab: Lab, rec: Recorder, name: str) -> list[tuple[str, int | None, str]]:
    assert demos.DEMOS[name](lab), f"demo {name} did not show what it teaches:\n{rec.dump()}"
    events = rec.snapshot()
    assert_seq_increasing(events)
    assert_waits_precede_dones(events)
    return rec.ops(DONE)


def test_welcome(lab: Lab, rec: Recorder) -> None:
    assert _run(lab, rec, "welcome") == WELCOME_DONE
    done = rec.done()
    connect = next(e for e in done if e.op == "connect")
    accept = next(e for e in done if e.op == "accept")
    recv = next(e for e in done if e.op == "recv")
    assert accept.result == connect.result  # peer = the client's real local address
    assert recv.nbytes == 40 and recv.data == GREETING.decode()
    assert all(e.ok for e in done)
    assert next(e for e in done if e.op == "bind").result[1] != 0


@pytest.mark.requires_ipv6
def test_ipv6(lab: Lab, rec: Recorder) -> None:
    assert _run(lab, rec, "ipv6") == WELCOME_DONE
    done = rec.done()
    assert done[0].args == ("AF_INET6", "SOCK_STREAM")
    assert next(e for e in done if e.op == "bind").args == (("::1", 0),)


def test_ipv6_skips_with_a_message_where_there_is_no_ipv6(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demos, "ipv6_available", lambda: False)
    got: list[object] = []
    assert demos.run_demo("ipv6", got.append) == 0
    assert got == []  # no socket was made
    assert "skipped" in capsys.readouterr().err


def test_echo(lab: Lab, rec: Recorder) -> None:
    assert _run(lab, rec, "echo") == [
        ("server", None, "socket"), ("server", None, "bind"), ("server", None, "listen"),
        ("client", 1, "socket"), ("client", 1, "connect"),
        ("server", 1, "accept"),
        ("client", 1, "send"), ("server", 1, "recv"), ("server", 1, "send"),
        ("client", 1, "recv"),
        ("client", 1, "close"), ("server", 1, "recv"),  # b'': the client closed
        ("server", 1, "close"), ("server", None, "close"),
    ]
    eof = [e for e in rec.done() if e.op == "recv"][-1]
    assert eof.nbytes == 0 and eof.ok and eof.lesson


def test_udp_has_no_listen_no_accept(lab: Lab, rec: Recorder) -> None:
    assert _run(lab, rec, "udp") == [
        ("server", None, "socket"), ("server", None, "bind"),
        ("client", 1, "socket"),
        ("client", 1, "sendto"), ("server", None, "recvfrom"),
        ("server", None, "sendto"), ("client", 1, "recvfrom"),
        ("client", 1, "close"), ("server", None, "close"),
    ]
    assert rec.done()[0].args == ("AF_INET", "SOCK_DGRAM")


def test_http_is_py4e_socket1(lab: Lab, rec: Recorder) -> None:
    ops = _run(lab, rec, "http")
    client = [op for side, _, op in ops if side == "client"]
    assert client[:3] == ["socket", "connect", "send"]
    assert client[-1] == "close" and set(client[3:-1]) == {"recv"}
    server = [op for side, _, op in ops if side == "server"]
    assert server[:4] == ["socket", "bind", "listen", "accept"]
    assert "recv" in server and "send" in server
    sent = next(e for e in rec.done() if e.side == "client" and e.op == "send")
    assert sent.data is not None and sent.data.startswith("GET /romeo.txt HTTP/1.0\\r\\n")
    text = "".join(e.data or "" for e in rec.done() if e.side == "client" and e.op == "recv")
    assert text.startswith("HTTP/1.0 200 OK") and "But soft what light" in text


def test_refused(lab: Lab, rec: Recorder) -> None:
    assert _run(lab, rec, "refused") == [
        ("server", None, "socket"), ("server", None, "bind"), ("server", None, "close"),
        ("client", 1, "socket"), ("client", 1, "connect"), ("client", 1, "close"),
    ]
    connect = next(e for e in rec.done() if e.op == "connect")
    assert connect.error == "ECONNREFUSED" and connect.lesson
    close = rec.done()[-1]  # the sequence stopped there, and the log says why
    assert close.by == "lab" and close.lesson == "closed by the lab: Run stopped: connect() failed"


def test_inuse_shows_both_cases(lab: Lab, rec: Recorder) -> None:
    _run(lab, rec, "inuse")
    binds = [e for e in rec.done() if e.op == "bind"]
    assert [e.ok for e in binds] == [True, False, False, True]
    assert [e.error for e in binds] == [None, "EADDRINUSE", "EADDRINUSE", None]
    port = binds[0].result[1]
    assert all(e.args == (("127.0.0.1", port if i else 0),) for i, e in enumerate(binds))
    # the server side closed first (TIME_WAIT), then the rebinds
    ops = [(e.side, e.op) for e in rec.done()]
    assert ops.index(("server", "accept")) < ops.index(("client", "recv"))
    assert sum(1 for e in rec.done() if e.op == "setsockopt") == 2


@pytest.mark.parametrize("name", sorted(demos.DEMOS))
def test_run_demo_prints_every_event_and_succeeds(name: str) -> None:
    if name in demos.HOSTS_DEMOS and why_unavailable() is not None:
        pytest.skip(f"two hosts unavailable here: {why_unavailable()}")
    got = Recorder()
    assert demos.run_demo(name, got) == 0
    events = got.snapshot()
    if name == "ipv6" and not demos.ipv6_available():
        assert events == []
    else:
        first = {"two-hosts": "case"}.get(name, "cable" if name in demos.HOSTS_DEMOS
                                          else "socket")
        assert events and events[0].op == first
        assert_seq_increasing(events)
