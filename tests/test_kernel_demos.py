"""The demos that look inside (backlog, close, reset, boundaries), on real sockets.

Each asserts the story the demo tells from the kernel's own view: the order of
the states of each socket and where the calls fall among them, never timings.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
from helpers import (
    LIMIT,
    REPO,
    Recorder,
    assert_seq_increasing,
    assert_waits_precede_dones,
    cli_command,
    cli_env,
    json_events,
    no_traceback,
    run_cli,
    start_cli,
)

from socklab import demos
from socklab.engine import Lab
from socklab.engine.endpoint import somaxconn
from socklab.events import Event


def _run(lab: Lab, rec: Recorder, name: str) -> list[Event]:
    assert demos.DEMOS[name](lab), f"demo {name} did not show what it teaches:\n{rec.dump()}"
    events = rec.snapshot()
    assert_seq_increasing(events)
    assert_waits_precede_dones(events)
    return events


def _states(events: list[Event], side: str, conn: int | None) -> list[dict]:
    return [e.result for e in events if e.op == "state" and (e.side, e.conn) == (side, conn)]


def _seq(events: list[Event], side: str, conn: int | None, op: str, **result: object) -> int:
    """The seq of the first done event of side[conn] op (with these result fields)."""
    return next(e.seq for e in events if (e.side, e.conn, e.op) == (side, conn, op)
                and e.phase == "done"
                and all(isinstance(e.result, dict) and e.result.get(k) == v
                        for k, v in result.items()))


def test_backlog_queue_rises_to_backlog_plus_one_then_accept_drains_it(
        lab: Lab, rec: Recorder) -> None:
    events = _run(lab, rec, "backlog")
    queue = [r["queue"] for r in _states(events, "server", None)]
    assert {r["backlog"] for r in _states(events, "server", None)} == {2}
    assert max(queue) == 3  # Linux admits backlog + 1, never more
    assert queue.index(3) < len(queue) - 1 - queue[::-1].index(0)  # then drained to 0
    full = _seq(events, "server", None, "state", queue=3)
    for conn in (4, 5):  # past the queue: SYN_SENT, their SYNs sent again
        retried = next(e.seq for e in events if e.op == "state" and e.side == "client"
                       and e.conn == conn and e.result.get("retransmits", 0) >= 1)
        connected = _seq(events, "client", conn, "connect")
        assert full < retried < connected
    accepts = [e for e in events if e.op == "accept" and e.phase == "done"]
    assert len(accepts) == 5 and all(e.ok for e in accepts)
    for conn in range(1, 6):  # each connect() returns (and succeeds) before its close()
        connect = [e for e in events if (e.side, e.conn, e.op, e.phase)
                   == ("client", conn, "connect", "done")]
        assert len(connect) == 1 and connect[0].ok, rec.dump()
        assert connect[0].seq < _seq(events, "client", conn, "close")
    lesson = next(e.lesson for e in events if e.seq == full)
    assert lesson and "backlog + 1" in lesson


def test_close_client_fin_wait2_then_time_wait_server_close_wait(
        lab: Lab, rec: Recorder) -> None:
    events = _run(lab, rec, "close")
    client = [r["state"] for r in _states(events, "client", 1)]
    server = [r["state"] for r in _states(events, "server", 1)]
    assert client.index("FIN_WAIT2") < client.index("TIME_WAIT")
    assert server.index("CLOSE_WAIT") < server.index("CLOSE")
    client_close = _seq(events, "client", 1, "close")
    eof = _seq(events, "server", 1, "recv")
    server_close = _seq(events, "server", 1, "close")
    assert client_close < _seq(events, "server", 1, "state", state="CLOSE_WAIT") < eof
    assert _seq(events, "client", 1, "state", state="FIN_WAIT2") < server_close
    assert server_close < _seq(events, "client", 1, "state", state="TIME_WAIT")
    freed = next(e for e in events if e.op == "state" and (e.side, e.conn) == ("server", 1)
                 and e.result == {"state": "CLOSE"})
    assert freed.lesson and "LAST_ACK" in freed.lesson and "no TIME_WAIT" in freed.lesson


def test_reset_close_with_unread_data_sends_rst_and_the_peer_gets_econnreset(
        lab: Lab, rec: Recorder) -> None:
    events = _run(lab, rec, "reset")
    server_close = _seq(events, "server", 1, "close")
    dropped = next(e for e in events if e.op == "state" and e.side == "client"
                   and e.result == {"state": "CLOSE"})
    failed = next(e for e in events if e.op == "recv" and e.side == "client"
                  and e.phase == "done")
    assert server_close < dropped.seq < failed.seq
    assert dropped.lesson and "RST" in dropped.lesson
    assert failed.error == "ECONNRESET" and failed.lesson and "RST" in failed.lesson
    # No FIN exchange: neither side went through the closing states.
    closing = {"FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK"}
    assert not closing & {r["state"] for r in _states(events, "client", 1)}


def test_boundaries_stream_merges_datagrams_stay_whole_and_truncate(
        lab: Lab, rec: Recorder) -> None:
    events = _run(lab, rec, "boundaries")
    sends = [e for e in events if e.op == "send" and e.phase == "done"]
    recvs = [e for e in events if e.op == "recv" and e.phase == "done" and e.nbytes]
    assert len(sends) == 3 and len(recvs) == 1 and recvs[0].nbytes == 14
    grams = [e for e in events if e.op == "recvfrom" and e.phase == "done"]
    assert [e.data for e in grams[:3]] == ["one|", "two|", "three|"]
    cut = grams[3]
    assert cut.args == (8,) and cut.nbytes == 8
    assert cut.lesson and "32 bytes" in cut.lesson and "24 bytes are lost" in cut.lesson


@pytest.mark.parametrize("name", ["backlog", "close", "reset", "boundaries"])
def test_demo_json_has_state_events(name: str) -> None:
    done = run_cli("demo", name, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    no_traceback(done.stderr)
    events = json_events(done.stdout)
    assert_seq_increasing(events)
    states = [e for e in events if e["op"] == "state"]
    assert states and all(isinstance(e["result"]["state"], str) for e in states)
    if name == "backlog":
        assert {"state": "LISTEN", "queue": 3, "backlog": 2} in [e["result"] for e in states]


def test_demo_human_output_says_the_states() -> None:
    done = run_cli("demo", "close")
    assert done.returncode == 0, done.stderr
    assert "state → LISTEN · accept queue 0, backlog 5" in done.stdout
    assert "state → TIME_WAIT" in done.stdout and "state → CLOSE_WAIT" in done.stdout


def test_serve_json_reports_the_kernels_states_of_each_connection() -> None:
    live = start_cli("serve", "--port", "0", "--json", "--mode", "welcome", "--count", "1")
    try:
        port = live.wait_event(lambda e: e["op"] == "bind")["result"][1]
        listening = live.wait_event(lambda e: e["op"] == "state" and e["conn"] is None)
        # serve's default backlog is the kernel's cap (issue 15: a thousand clients)
        assert listening["result"] == {"state": "LISTEN", "queue": 0, "backlog": somaxconn()}
        with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as client:
            assert client.recv(1024)  # the greeting; then the server closes first
            live.wait_event(lambda e: e["op"] == "state" and e["conn"] == 1
                            and e["result"]["state"] in ("FIN_WAIT1", "FIN_WAIT2"))
        status, _out, err = live.finish()
    finally:
        live.stop()
    assert status == 0, err


def _as_nobody() -> list[str]:
    """A prefix running a command as ``nobody`` (root drops it), or a skip saying why."""
    if os.geteuid() != 0:
        return []  # already unprivileged
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop to nobody")
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
              "--inh-caps=-all"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import socklab"],
                           capture_output=True, text=True, env=cli_env(), cwd=REPO,
                           timeout=LIMIT, check=False)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this checkout: {probe.stderr.strip()[-200:]}")
    return prefix


def test_the_kernel_view_needs_no_privilege() -> None:
    """TCP_INFO and inet_diag work for any user: the close demo's states, as nobody."""
    done = subprocess.run([*_as_nobody(), *cli_command("demo", "close", "--json")],
                          capture_output=True, text=True, env=cli_env(), cwd=REPO,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    states = [e["result"]["state"] for e in json_events(done.stdout) if e["op"] == "state"]
    assert {"LISTEN", "CLOSE_WAIT", "FIN_WAIT2", "TIME_WAIT"} <= set(states)
