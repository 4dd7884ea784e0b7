"""Exposure: the lab stays on this machine unless the learner says otherwise.

Defaults are loopback (127.0.0.1 / ::1) in the engine's callers, the command
and the lab screen.  Binding to every interface works — it is a lesson too —
but is flagged where the learner looks: the bind event's lesson, the
command's stderr.  Whether an address is loopback is decided on the resolved
numeric address, so the spellings the resolver accepts (``127.1``,
``2130706433``, ``0x7f.1``, ``::ffff:127.0.0.1``) cannot slip past, and the
port scan refuses anything that is not loopback before sending a single packet.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Iterator

import pytest
from helpers import LIMIT, Recorder, json_events, no_traceback, run_cli, start_cli

from socklab.engine import ALL_INTERFACES_WARNING, Lab
from socklab.events import DONE
from socklab.inputs import InputError, host_scope, is_loopback

SCOPES = [
    # loopback, however it is spelled
    ("127.0.0.1", "loopback"), ("127.1", "loopback"), ("2130706433", "loopback"),
    ("0x7f.1", "loopback"), ("0x7f000001", "loopback"), ("0177.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("0:0:0:0:0:0:0:1", "loopback"), ("localhost", "loopback"), ("LOCALHOST", "loopback"),
    # every interface
    ("", "all"), ("0", "all"), ("0.0.0.0", "all"), ("::", "all"), ("0.0", "all"),
    ("::ffff:0.0.0.0", "all"), ("0:0:0:0:0:0:0:0", "all"),
    # somewhere else
    ("192.0.2.1", "other"), ("10.0.0.1", "other"), ("2001:db8::1", "other"),
    ("128.0.0.1", "other"), ("::2", "other"), ("fe80::1", "other"),
    ("example.invalid", "other"), ("127.0.0.1 ", "other"), ("127.0.0.1\x00", "other"),
    ("127.0.0.1\x00.evil.example", "other"),
]


@pytest.mark.parametrize(("host", "scope"), SCOPES)
def test_host_scope_is_decided_on_the_resolved_address(host: str, scope: str) -> None:
    assert host_scope(host) == scope
    assert is_loopback(host) == (scope == "loopback")


@pytest.mark.parametrize(("host", "family", "scope"), [
    ("127.1", socket.AF_INET, "loopback"), ("::1", socket.AF_INET, "other"),
    ("::", socket.AF_INET6, "all"), ("0.0.0.0", socket.AF_INET6, "other"),
    ("", socket.AF_INET6, "all"),
])
def test_host_scope_for_a_given_family(host: str, family: int, scope: str) -> None:
    assert host_scope(host, family) == scope


# -- the engine flags binding to every interface -------------------------------------------


ALL_HOSTS = [
    pytest.param("0.0.0.0", socket.AF_INET, id="0.0.0.0"),
    pytest.param("", socket.AF_INET, id="empty"),
    pytest.param("0", socket.AF_INET, id="0"),
    pytest.param("::", socket.AF_INET6, marks=pytest.mark.requires_ipv6, id="::"),
]


@pytest.mark.parametrize(("host", "family"), ALL_HOSTS)
def test_binding_every_interface_works_and_is_flagged(lab: Lab, rec: Recorder, host: str,
                                                      family: int) -> None:
    server = lab.server(family)
    server.socket()
    bound = server.bind(host, 0)
    assert bound.ok
    assert bound.result[0] in ("0.0.0.0", "::")
    assert bound.lesson == ALL_INTERFACES_WARNING
    assert "anyone" in bound.lesson and "127.0.0.1 / ::1" in bound.lesson
    server.close()  # never left open to the network


LOOPBACK_HOSTS = [
    pytest.param("127.0.0.1", socket.AF_INET, "127.0.0.1", id="127.0.0.1"),
    pytest.param("127.1", socket.AF_INET, "127.0.0.1", id="127.1"),
    pytest.param("2130706433", socket.AF_INET, "127.0.0.1", id="2130706433"),
    pytest.param("0x7f.1", socket.AF_INET, "127.0.0.1", id="0x7f.1"),
    pytest.param("localhost", socket.AF_INET, "127.0.0.1", id="localhost"),
    pytest.param("::1", socket.AF_INET6, "::1", marks=pytest.mark.requires_ipv6, id="::1"),
    pytest.param("::ffff:127.0.0.1", socket.AF_INET6, "::ffff:127.0.0.1",
                 marks=pytest.mark.requires_ipv6, id="v4-mapped"),
]


@pytest.mark.parametrize(("host", "family", "address"), LOOPBACK_HOSTS)
def test_loopback_spellings_bind_to_loopback_unflagged(lab: Lab, rec: Recorder, host: str,
                                                       family: int, address: str) -> None:
    server = lab.server(family)
    server.socket()
    bound = server.bind(host, 0)
    assert bound.ok and bound.lesson is None
    assert bound.result[0] == address  # the event shows what the kernel really bound
    assert host_scope(bound.result[0]) == "loopback"
    assert server.listen(5).ok
    with socket.create_connection((address, bound.result[1]), timeout=LIMIT) as peer:
        for _ in range(8):  # skip strangers (a port scan elsewhere on this machine)
            conn, accepted = server.accept(timeout=LIMIT)
            assert conn is not None and accepted.ok
            conn.close()
            if accepted.result[:2] == peer.getsockname()[:2]:
                break
        else:
            raise AssertionError("our connection was never accepted")
    server.close()


def test_listen_without_bind_is_flagged_as_every_interface(lab: Lab, rec: Recorder) -> None:
    server = lab.server()
    server.socket()
    event = server.listen(1)
    assert event.ok and host_scope(event.result[0]) == "all"
    assert event.lesson is not None and "every interface" in event.lesson
    server.close()


# -- the command: loopback by default, a warning for every interface -----------------------------


def _serve_once(*options: str) -> tuple[int, list[dict[str, object]], str]:
    """``socklab serve`` for one connection (made over loopback), its events and stderr.

    Stopped with Ctrl-C (SIGINT), not --count: a port scan running elsewhere on
    this machine could use up the count."""
    live = start_cli("serve", "--port", "0", "--json", *options)
    try:
        listening = live.wait_event(lambda e: e["op"] == "listen")
        host = "::1" if "inet6" in options else "127.0.0.1"
        with socket.create_connection((host, listening["result"][1]), timeout=LIMIT) as peer:
            while peer.recv(1024):
                pass
        live.proc.send_signal(signal.SIGINT)
        status, out, err = live.finish()
    finally:
        live.stop()
    no_traceback(err)
    return status, json_events(out), err


def test_cli_serve_binds_loopback_by_default() -> None:
    status, events, err = _serve_once()
    assert status == 0, err
    bind = next(e for e in events if e["op"] == "bind")
    assert bind["args"] == [["127.0.0.1", 0]] and bind["result"][0] == "127.0.0.1"
    assert bind["lesson"] is None and "warning" not in err


@pytest.mark.requires_ipv6
def test_cli_serve_inet6_binds_ipv6_loopback_by_default() -> None:
    status, events, err = _serve_once("--family", "inet6")
    assert status == 0, err
    bind = next(e for e in events if e["op"] == "bind")
    assert bind["args"] == [["::1", 0]] and bind["result"][0] == "::1"
    assert "warning" not in err


@pytest.mark.parametrize("host", ["0.0.0.0", "", "0"])
def test_cli_serve_on_every_interface_warns_on_stderr(host: str) -> None:
    status, events, err = _serve_once("--host", host)
    assert status == 0, err
    assert "warning" in err and "every interface" in err and "127.0.0.1" in err
    bind = next(e for e in events if e["op"] == "bind")
    assert bind["result"][0] == "0.0.0.0" and bind["lesson"] == ALL_INTERFACES_WARNING


def test_cli_serve_on_a_loopback_spelling_does_not_warn() -> None:
    status, events, err = _serve_once("--host", "127.1")
    assert status == 0 and "warning" not in err
    assert next(e for e in events if e["op"] == "bind")["result"][0] == "127.0.0.1"


# -- the port scan touches this machine only ------------------------------------------------------

NOT_LOOPBACK = ["0.0.0.0", "", "0", "::", "192.0.2.1", "10.1.2.3", "2001:db8::1",
                "::ffff:192.0.2.1", " 127.0.0.1", "127.0.0.1\x00"]


@pytest.fixture
def ports_module() -> Iterator[object]:
    ports = pytest.importorskip("socklab.ports")
    yield ports


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_scan_refuses_targets_that_are_not_loopback(ports_module: object, host: str) -> None:
    # no port at all: even if the refusal were missing, nothing would be sent
    with pytest.raises(InputError, match="refusing to scan"):
        ports_module.scan(host, [])  # type: ignore[attr-defined]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "10.1.2.3"])
def test_cli_ports_scan_refuses_other_hosts_with_exit_2(ports_module: object,
                                                        host: str) -> None:
    done = run_cli("ports", "1-3", "--scan", "--host", host)
    assert done.returncode == 2, done
    no_traceback(done.stderr)
    assert "refusing to scan" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "localhost"])
def test_scan_accepts_loopback_spellings_and_finds_a_real_listener(
    ports_module: object, host: str
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        result = ports_module.scan(host, [port])  # type: ignore[attr-defined]
    assert result.listening == [port]


# -- the lab screen: loopback by default, and the warning in the log ------------------------------


async def test_lab_screen_defaults_to_loopback_and_flags_every_interface() -> None:
    from socklab.ui.app import SocklabApp

    app = SocklabApp()
    rec = Recorder()
    app.lab.subscribe(rec)
    async with app.run_test(size=(160, 40)) as pilot:
        for pane in (app.server_pane, app.client_pane):
            assert pane.input("host").value == "127.0.0.1"
        server = app.server_pane
        server.input("host").value = "0.0.0.0"
        server.input("port").value = "0"
        await pilot.pause()
        assert await pilot.click("#server-socket"), "the click missed"
        assert await pilot.click("#server-bind"), "the click missed"
        bound = await asyncio.to_thread(
            rec.wait_for, lambda e: e.op == "bind" and e.phase == DONE, LIMIT, "bind")
        assert bound.ok and bound.lesson == ALL_INTERFACES_WARNING
        await app.workers.wait_for_complete()
        app.drain_now()
        await pilot.pause()
        rows = ["".join(text for text, _ in row.parts) for row in app.event_log.buffer.rows]
        assert any("anyone who can reach this machine" in row for row in rows), rows
        assert await pilot.click("#server-close"), "the click missed"
        await asyncio.to_thread(
            rec.wait_for, lambda e: e.op == "close" and e.side == "server", LIMIT, "close")
    assert app.lab.open_sockets == 0
