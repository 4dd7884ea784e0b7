"""Socket options in the lab and no hidden timeouts (issue 12 items 1 and 2).

Each option is a real call in the log (setsockopt / settimeout / setblocking),
made right after socket(); every timeout the lab applies says so.
"""

from __future__ import annotations

import pytest
from helpers import LIMIT, Recorder
from pilot import SIZE, click, is_, run_server, settle, watch
from textual.widgets import Checkbox, Select

from socklab.engine import Lab
from socklab.scenarios import ClientPlan, ServerPlan, open_client, open_server
from socklab.ui.app import SocklabApp


def _listener(lab: Lab, **plan: object):  # noqa: ANN202 - a Server
    server = lab.server()
    assert open_server(server, ServerPlan(port=0, **plan))  # type: ignore[arg-type]
    return server


def test_reuseaddr_lets_a_server_bind_its_port_again_at_once() -> None:
    """The welcome demo run twice: the server closed first, so the port sits in
    TIME_WAIT; without SO_REUSEADDR bind fails, with it bind succeeds.  (Linux
    asks both sockets for it: the connection in TIME_WAIT inherited the flag
    from the first listener, as a teacher's program sets it every run.)"""
    recorder = Recorder()
    with Lab() as lab:
        lab.subscribe(recorder)
        server = _listener(lab, reuseaddr=True)
        port = server.local[1]
        client = lab.client()
        assert open_client(client, ClientPlan(port=port))
        conn, _ = server.accept(timeout=LIMIT)
        assert conn is not None
        conn.close()  # the server closes first: its side goes to TIME_WAIT
        assert client.recv(1024, timeout=LIMIT).eof
        client.close()
        server.close()
        again = lab.server()
        assert not open_server(again, ServerPlan(port=port))
        reused = lab.server()
        assert open_server(reused, ServerPlan(port=port, reuseaddr=True))
    ops = [(e.op, e.args, e.ok, e.error) for e in recorder.done()]
    assert ("setsockopt", ("SOL_SOCKET", "SO_REUSEADDR", 1), True, None) in ops
    assert ("bind", (("127.0.0.1", port),), False, "EADDRINUSE") in ops
    assert ("bind", (("127.0.0.1", port),), True, None) in ops


def test_settimeout_ends_a_wait_with_timeouterror_and_says_whose() -> None:
    recorder = Recorder()
    with Lab() as lab:
        lab.subscribe(recorder)
        server = _listener(lab, timeout=0.2)
        _conn, event = server.accept()
    assert event.error == "TimeoutError"
    assert "settimeout(0.2)" in (event.lesson or "")
    calls = [(e.op, e.args) for e in recorder.done()]
    assert calls[:2] == [("socket", ("AF_INET", "SOCK_STREAM")), ("settimeout", (0.2,))]


def test_setblocking_false_raises_instead_of_waiting() -> None:
    recorder = Recorder()
    with Lab() as lab:
        lab.subscribe(recorder)
        server = _listener(lab, timeout=0.0)
        _conn, event = server.accept()
        client = lab.client()
        assert not open_client(client, ClientPlan(port=server.local[1], timeout=0.0))
    assert ("setblocking", (False,)) in [(e.op, e.args) for e in recorder.done()]
    assert event.error == "EAGAIN" and "non-blocking" in (event.lesson or "")
    connect = next(e for e in recorder.done() if e.op == "connect")
    assert connect.error == "EINPROGRESS"
    # A non-blocking call never shows a wait: it does not wait.
    assert not [e for e in recorder.snapshot() if e.phase == "wait"]


def test_the_labs_own_connect_limit_says_it_is_the_labs() -> None:
    """A connect past a full backlog ends at the lab's own limit, and its
    lesson says so and names the control that changes it."""
    recorder = Recorder()
    with Lab(connect_timeout=0.3) as lab:
        lab.subscribe(recorder)
        server = _listener(lab, backlog=0)
        port = server.local[1]
        clients = []
        for _ in range(8):  # past the backlog: the kernel drops the SYN
            client = lab.client()
            clients.append(client)
            client.socket()
            event = client.connect("127.0.0.1", port)
            if not event.ok:
                break
        else:
            pytest.skip("the kernel accepted 8 handshakes with backlog 0: no timeout to see")
    assert event.error == "TimeoutError"
    assert "backlog" in (event.lesson or "")  # what a timeout here means, first
    assert "socklab's, not Python's" in (event.lesson or "") and "settimeout" in event.lesson


async def test_the_panes_options_are_real_calls_in_the_log() -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#server-reuseaddr", Checkbox).value = True
        app.query_one("#server-timeout", Select).value = "30.0"
        app.query_one("#client-timeout", Select).value = "5.0"
        seen = await run_server(app, pilot)
        await click(pilot, "#client-run")
        await seen.until(is_("client", "close"))
        await settle(app, pilot)
        calls = [(e.side, e.op, e.args) for e in app.event_log.buffer.events()
                 if e.phase == "done"]
        assert ("server", "setsockopt", ("SOL_SOCKET", "SO_REUSEADDR", 1)) in calls
        assert ("server", "settimeout", (30.0,)) in calls
        assert ("client", "settimeout", (5.0,)) in calls
        # socket(), then the options, before bind/connect: as a program makes them.
        server_ops = [op for side, op, _ in calls if side == "server"]
        assert server_ops[:4] == ["socket", "setsockopt", "settimeout", "bind"]
        # Pressing socket() alone makes the option calls too.
        app.query_one("#client-timeout", Select).value = "0"
        await click(pilot, "#client-socket")
        await watch(app).until(is_("client", "setblocking"))
        await settle(app, pilot)
