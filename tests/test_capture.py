"""The wire: packets under each call, checked against tcpdump on the same exchange."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import (
    capture_or_skip,
    ours,
    quiet_lo,
    relative,
    run_in,
    tcpdump,
    welcome_capture,
)
from helpers import LIMIT, REPO, cli_env, json_events, no_traceback, run_cli, stream_pair

from socklab.capture import Capture, Inferred, how_to_capture
from socklab.demos import DEMOS
from socklab.engine import Lab
from socklab.events import Event
from socklab.logformat import format_line


def _under(events: list[dict[str, Any]], side: str, conn: int | None, op: str) -> list[str]:
    """The packet rows straight after a call, as ``FLAGS`` names."""
    index = next(i for i, e in enumerate(events)
                 if e["op"] == op and e["side"] == side and e["conn"] == conn)
    rows = []
    for event in events[index + 1:]:
        if event["op"] != "packet":
            break
        rows.append("/".join(event["result"]["flags"]))
    return rows


def test_welcome_packets_sit_under_the_calls_that_caused_them() -> None:
    capture_or_skip()
    done = run_cli("demo", "welcome", "--packets", "--json")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    events = json_events(done.stdout)
    assert _under(events, "client", 1, "connect") == ["SYN", "SYN/ACK", "ACK"]
    assert _under(events, "server", 1, "send")[0] == "PSH/ACK"
    sent = next(e for e in events if e["op"] == "packet" and e["result"]["len"])
    assert sent["result"]["len"] == 40 and sent["side"] == "server"
    assert sent["result"]["seq"] == 1 and sent["result"]["ack"] == 1
    assert _under(events, "server", 1, "close") == ["FIN/ACK"]
    assert _under(events, "client", 1, "close") == ["FIN/ACK", "ACK"]
    syn = next(e for e in events if e["op"] == "packet")
    assert syn["result"]["seq"] == 0 and syn["side"] == "client" and syn["conn"] == 1
    # The human form: arrows in the Wire view's directions.
    text = run_cli("demo", "welcome", "--packets").stdout
    assert "→ SYN seq=0" in text and "← SYN/ACK seq=0 ack=1" in text
    assert "→ ACK ack=1" in text and "← PSH/ACK seq=1 ack=1 len=40" in text


@pytest.mark.parametrize("demo", ["welcome", "echo", "refused", "inuse"])
def test_socklab_sees_what_tcpdump_sees(demo: str, tmp_path: Path) -> None:
    """Segment for segment: the same addresses, flags, numbers and lengths."""
    capture_or_skip()
    with quiet_lo() as inside, tcpdump(tmp_path, inside) as seen:
        done = run_in(inside, "demo", demo, "--packets", "--json")
    assert done.returncode == 0, done.stderr
    packets = [e["result"] for e in json_events(done.stdout) if e["op"] == "packet"]
    ports = {p["src"][1] for p in packets} | {p["dst"][1] for p in packets}
    theirs = relative([s for s in seen if s["src"][1] in ports and s["dst"][1] in ports])
    # refused: SYN, RST; inuse: handshake, two FINs, the last ACK; with data, 8 or more
    assert len(packets) >= {"refused": 2, "inuse": 6}.get(demo, 8)
    assert ours(packets, theirs) == theirs


def _welcome_packets(lab: Lab) -> list[Event]:
    events, dropped = welcome_capture(lab)
    assert dropped == 0
    return [e for e in events if e.op == "packet"]


def test_segments_of_sockets_the_lab_did_not_make_are_ignored() -> None:
    capture_or_skip()
    outside = socket.create_server(("127.0.0.1", 0))
    port = outside.getsockname()[1]
    with Lab() as lab:
        events: list[Event] = []
        lab.subscribe(events.append)
        capture = Capture(lab)
        try:
            with socket.create_connection(outside.getsockname()) as peer:
                conn, _ = outside.accept()
                peer.sendall(b"not the lab's")
                conn.recv(64)
                conn.close()
            assert DEMOS["welcome"](lab)
        finally:
            capture.stop()
            outside.close()
    packets = [e for e in events if e.op == "packet"]
    assert packets and all(port not in (e.result["src"][1], e.result["dst"][1])
                           for e in packets)


def test_packet_times_are_the_kernels_on_the_labs_clock() -> None:
    capture_or_skip()
    with Lab() as lab:
        packets = _welcome_packets(lab)
    times = [e.t for e in packets]
    assert times == sorted(times)  # the kernel's order
    assert 0 < times[0] < 5  # seconds since the lab started, not Unix time


_TWENTY_WELCOMES = """
import json, sys
sys.path.insert(0, "tests")
from capture_helpers import welcome_capture
from socklab.engine import Lab
for _ in range(20):
    with Lab() as lab:
        events, dropped = welcome_capture(lab)
        packets = [e.result for e in events if e.op == "packet"]
        print(json.dumps({"dropped": dropped, "packets": packets}))
"""


def test_capture_loses_no_segment_with_both_cores_busy(busy_cores: int,
                                                       tmp_path: Path) -> None:
    """20 welcome exchanges on a loaded machine: every segment tcpdump saw, socklab saw."""
    capture_or_skip()
    assert busy_cores == 2
    with quiet_lo() as inside, tcpdump(tmp_path, inside) as seen:
        done = subprocess.run([*inside, sys.executable, "-c", _TWENTY_WELCOMES],
                              capture_output=True, text=True, env=cli_env(), cwd=REPO,
                              timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    runs = json_events(done.stdout)
    assert len(runs) == 20 and all(run["dropped"] == 0 for run in runs)
    results = [packet for run in runs for packet in run["packets"]]
    ports = {p["src"][1] for p in results} | {p["dst"][1] for p in results}
    theirs = relative([s for s in seen if s["src"][1] in ports and s["dst"][1] in ports])
    assert len(results) == len(theirs) >= 20 * 8
    assert ours(results, theirs) == theirs


def test_without_the_privilege_counters_say_how_many_segments_each_call_caused() -> None:
    """The fallback reads real TCP_INFO counters (no privilege needed): the client's
    connect sent two segments (SYN, ACK) and received one (SYN/ACK)."""
    with Lab() as lab:
        events: list[Event] = []
        lab.subscribe(events.append)
        inferred = Inferred(lab, how_to_capture())
        try:
            assert DEMOS["welcome"](lab)
        finally:
            inferred.stop()
    assert not any(e.op == "packet" for e in events)  # never shown as captured
    index = next(i for i, e in enumerate(events) if e.op == "connect")
    after = events[index + 1]
    assert (after.op, after.side, after.conn) == ("segments", "client", 1)
    assert after.result["inferred"] is True
    assert (after.result["segs_out"], after.result["segs_in"]) == (2, 1)
    assert "inferred from TCP_INFO, not captured" in format_line(after)
    assert "CAP_NET_RAW" in how_to_capture() and "setcap" in how_to_capture()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder anyone can read (pytest's own tmp_path sits under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="socklab-nobody-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """A command prefix and environment running this interpreter as ``nobody`` on a
    readable copy of the package (the checkout may sit in a 0700 folder)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run a command as nobody")
    copy = tmp_path / "src"
    shutil.copytree(REPO / "socklab", copy / "socklab",
                    ignore=shutil.ignore_patterns("__pycache__", "ui"))
    for path in [tmp_path, *copy.rglob("*"), copy]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
              os.path.realpath(sys._base_executable)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(copy),
           "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
    probe = subprocess.run([*prefix, "-c", "import socklab.capture"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=LIMIT, check=False)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python here: {probe.stderr.strip()[-200:]}")
    return prefix, env


def test_as_nobody_one_clear_line_and_the_inferred_view(open_dir: Path) -> None:
    tmp_path = open_dir
    prefix, env = _as_nobody(tmp_path)
    done = subprocess.run([*prefix, "-m", "socklab", "demo", "welcome", "--packets"],
                          capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CAP_NET_RAW" in lines[0] and "setcap" in lines[0]
    assert "run socklab as root" in lines[0]
    assert "→ SYN" not in done.stdout  # nothing shown as captured
    inferred = [line for line in done.stdout.splitlines() if "inferred from TCP_INFO" in line]
    assert len(inferred) >= 3 and "2 segment(s) out, 1 in" in inferred[0]


def test_a_bulk_transfer_is_shown_in_runs_that_account_for_every_segment() -> None:
    """Under a flood of segments the capture coalesces runs; every byte and every
    segment is still counted (and nothing dropped unsaid)."""
    capture_or_skip()
    total, chunk = 32 * 2**20, 2**16
    with Lab() as lab:
        events: list[Event] = []
        lab.subscribe(events.append)
        capture = Capture(lab)
        try:
            _server, conn, client = stream_pair(lab)
            got = 0
            for _ in range(total // chunk):
                client.send(b"x" * chunk)
                while got < client.bytes_out:
                    got += len(conn.recv(1 << 20).data)
            lab.close_all()
        finally:
            capture.stop()
    packets = [e for e in events if e.op == "packet"]
    assert capture.dropped == 0
    assert sum(e.count for e in packets) == capture.segments
    data = [e.result for e in packets if e.side == "client" and e.result["len"]]
    # Every byte is in a segment shown (the stream's last byte is at seq=total);
    # a retransmission (a full backlog drops a segment, even on lo) shows twice.
    assert max(r["seq"] + r["len"] for r in data) == total + 1
    assert sum(r["len"] for r in data) >= total
    assert any(e.count > 1 for e in packets) or len(packets) == capture.segments
