"""The wire: packets under each call, checked against tcpdump on the same exchange."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import (
    as_nobody,
    capture_or_skip,
    ours,
    quiet_lo,
    readable_dir,
    relative,
    run_in,
    tcpdump,
    welcome_capture,
)
from helpers import REPO, cli_env, json_events, no_traceback, run_cli, stream_pair
from hypothesis import given, settings
from hypothesis import strategies as st

from socklab.capture import Capture, Inferred, how_to_capture
from socklab.capture.segments import MAX_PORTS, parse, parse_any
from socklab.demos import DEMOS
from socklab.engine import Lab
from socklab.events import Event
from socklab.kernel.poller import kernel_view
from socklab.logformat import format_line


def _under(events: list[dict[str, Any]], side: str, conn: int | None, op: str) -> list[str]:
    """The packet rows straight after a call, as ``FLAGS`` names."""
    index = next(i for i, e in enumerate(events)
                 if e["op"] == op and e["side"] == side and e["conn"] == conn)
    rows = []
    for event in events[index + 1:]:
        if event["op"] == "state":
            continue  # a state sits right after the segment that caused it
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


@contextmanager
def _capturing_beside_an_outsider() -> Iterator[tuple[Lab, list[Event], socket.socket]]:
    """A lab whose events are kept, capturing, and a listener outside the lab."""
    capture_or_skip()
    outside = socket.create_server(("127.0.0.1", 0))
    with Lab() as lab:
        events: list[Event] = []
        lab.subscribe(events.append)
        capture = Capture(lab)
        try:
            yield lab, events, outside
        finally:
            capture.stop()
            outside.close()


def test_a_lab_client_connecting_outside_the_lab_is_seen_from_its_syn() -> None:
    """A program outside the lab listens; the capture was told no port in advance.
    The lab's connect names its port to the capture before the SYN leaves."""
    with _capturing_beside_an_outsider() as (lab, events, outside):
        client = lab.client()
        assert client.socket().ok and client.connect(*outside.getsockname()).ok
        conn, _ = outside.accept()
        conn.close()
        assert client.recv(64).ok
        client.close()
    handshake = [e.result["flags"] for e in events if e.op == "packet"][:3]
    assert handshake == [["SYN"], ["SYN", "ACK"], ["ACK"]]
    assert {e.conn for e in events if e.op == "packet" and e.side == "client"} == {1}


def test_a_state_the_timer_reads_comes_after_the_segment_behind_it() -> None:
    """A program outside the lab closes: its FIN reaches a lab client with no call
    of the lab's around it, so the capture's thread and the kernel view's timer
    both race to report it.  The timer lets the capture report first: the FIN
    is always logged before the client's CLOSE_WAIT."""
    with _capturing_beside_an_outsider() as (lab, events, outside), kernel_view(lab) as view:
        for _ in range(10):
            client = lab.client()
            assert client.socket().ok and client.connect(*outside.getsockname()).ok
            conn, _ = outside.accept()
            conn.close()  # outside the lab: the timer sees CLOSE_WAIT
            assert view.wait_for("client", client.conn, "CLOSE_WAIT")
            client.close()
    connects = [e for e in events if e.op == "connect" and e.phase == "done"]
    assert len(connects) == 10
    for connect in connects:
        local = list(connect.result)
        fin = next(i for i, e in enumerate(events) if e.op == "packet"
                   and "FIN" in e.result["flags"] and e.result["dst"] == local)
        close_wait = next(i for i, e in enumerate(events) if e.op == "state"
                          and e.conn == connect.conn and e.result["state"] == "CLOSE_WAIT")
        assert fin < close_wait, [format_line(e) for e in events[fin - 3:close_wait + 3]]


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


def test_as_nobody_one_clear_line_and_the_inferred_view() -> None:
    with readable_dir() as tmp_path:
        _as_nobody_demo(tmp_path)


def _as_nobody_demo(tmp_path: Path) -> None:
    prefix, env = as_nobody(tmp_path)
    done = subprocess.run([*prefix, "-m", "socklab", "demo", "welcome", "--packets"],
                          capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CAP_NET_RAW" in lines[0] and "setcap" in lines[0]
    assert "run socklab with sudo" in lines[0]
    assert "never the shared python3" in lines[0]  # a capability there: raw sockets for all
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
    # a retransmission (a full backlog drops a segment, even on lo) shows twice,
    # and inside a run (first seq, summed len) it pushes the run's end past total.
    assert max(r["seq"] + r["len"] for r in data) >= total + 1
    assert sum(r["len"] for r in data) >= total
    assert any(e.count > 1 for e in packets) or len(packets) == capture.segments


def test_the_kernel_takes_the_filter_at_its_largest() -> None:
    """With `MAX_PORTS` ports the filter's jumps still reach (classic BPF jumps at
    most 255 ahead): the kernel accepts it and the lab's segments still pass."""
    capture_or_skip()
    with Lab() as lab:
        events: list[Event] = []
        lab.subscribe(events.append)
        capture = Capture(lab, ports=range(20000, 20000 + MAX_PORTS - 1))
        try:
            assert DEMOS["welcome"](lab)
        finally:
            capture.stop()
    assert len(capture.flows.ports) == MAX_PORTS  # and the demo's listening port
    assert [e.result["flags"] for e in events if e.op == "packet"][:3] == [
        ["SYN"], ["SYN", "ACK"], ["ACK"]]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=34, max_size=128), st.booleans())
def test_the_fast_ipv4_parse_reads_what_the_general_one_reads(raw: bytes, tcp: bool) -> None:
    """Every IPv4 header without options takes the one-read path: it must say what
    the field-by-field path says, whatever the bytes (a frame is untrusted)."""
    frame = b"\x45" + raw[1:9] + (b"\x06" if tcp else raw[9:10]) + raw[10:]
    assert parse(frame) == parse_any(frame)
    if tcp:  # a TCP header cut before its window is no segment (no window made up)
        assert (parse(frame) is not None) == (len(frame) >= 36)


def test_a_state_sits_right_after_the_segment_that_caused_it_and_packets_after_their_call(
        ) -> None:
    """The peer's CLOSE_WAIT right under the FIN that caused it (after the closer's
    own FIN_WAIT1), TIME_WAIT after the FIN it answers; no packet row carries a
    time earlier than the call it sits under."""
    capture_or_skip()
    done = run_cli("demo", "welcome", "--packets", "--json")
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)

    def index(op: str, side: str, conn: int | None, **result: Any) -> int:
        return next(i for i, e in enumerate(events) if (e["op"], e["side"], e["conn"])
                    == (op, side, conn) and all(e["result"].get(k) == v
                                                for k, v in result.items()))

    fin = index("packet", "server", 1, flags=["FIN", "ACK"])
    assert index("state", "client", 1, state="CLOSE_WAIT") == fin + 1
    assert index("state", "server", 1, state="FIN_WAIT1") < fin
    client_fin = index("packet", "client", 1, flags=["FIN", "ACK"])
    assert client_fin < index("state", "server", 1, state="TIME_WAIT")
    syn_ack = index("packet", "server", None, flags=["SYN", "ACK"])
    assert index("state", "client", 1, state="ESTABLISHED") == syn_ack + 1
    call = None
    for event in events:
        if event["op"] == "packet" and call is not None:
            assert round(event["t"], 3) >= round(call["t"], 3), (event, call)
        elif event["op"] not in ("packet", "state"):
            call = event


def test_a_reset_for_a_closed_port_is_the_kernels_not_a_sockets() -> None:
    """demo refused: the server socket was closed before the connect, so the RST
    that refuses it comes from the kernel (``by: "kernel"``); the welcome
    exchange's segments all come from sockets."""
    capture_or_skip()
    done = run_cli("demo", "refused", "--packets", "--json")
    assert done.returncode == 0, done.stderr
    packets = [e for e in json_events(done.stdout) if e["op"] == "packet"]
    resets = [e for e in packets if "RST" in e["result"]["flags"]]
    assert len(resets) == 1 and resets[0]["by"] == "kernel"
    assert "sent by the kernel" in format_line(Event(**{
        k: v for k, v in resets[0].items() if k in Event.__dataclass_fields__ and k != "args"}))
    assert all(e["by"] is None for e in packets if e is not resets[0])
    done = run_cli("demo", "welcome", "--packets", "--json")
    assert done.returncode == 0, done.stderr
    assert all(e["by"] is None for e in json_events(done.stdout) if e["op"] == "packet")


def test_udp_datagrams_are_packet_rows_under_their_sendto() -> None:
    """UDP on the wire: each datagram captured like a TCP segment (src, dst, len),
    right under the sendto that sent it, credited to its sender."""
    capture_or_skip()
    done = run_cli("demo", "udp", "--packets", "--json")
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)
    datagrams = [e for e in events if e["op"] == "packet"]
    assert [(e["side"], e["result"]["proto"], e["result"]["len"]) for e in datagrams] == [
        ("client", "UDP", 11), ("server", "UDP", 40)]
    for packet in datagrams:
        before = events[events.index(packet) - 1]
        assert (before["op"], before["side"]) == ("sendto", packet["side"])
        assert tuple(packet["result"]["dst"]) == tuple(before["args"][0])
    assert datagrams[0]["conn"] == 1
    assert "UDP len=11" in format_line(Event(**{
        k: v for k, v in datagrams[0].items() if k in Event.__dataclass_fields__}))
