"""The cable between two hosts (issue 26): its conditions in words, and the relay
that applies them to real packets between two real namespaces.

The relay's random choices are seeded, so the same packets meet the same fate
on every run; the assertions that involve time are lower bounds only (a delay
is at least what was asked), never upper limits on a shared machine.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from helpers import LIMIT
from hosts_helpers import ip_out, machine_network, needs_hosts

from socklab.hosts import TwoHosts
from socklab.hosts.cable import PERFECT, PRESETS, CableError, Conditions, from_dict, parse

# -- the words -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("delay 100ms loss 10%", Conditions(delay_ms=100, loss=10)),
    ("  DELAY 1s   jitter 5ms ", Conditions(delay_ms=1000, jitter_ms=5)),
    ("duplicate 2.5% reorder 25%", Conditions(duplicate=2.5, reorder=25)),
    ("rate 256kbit", Conditions(rate_bps=256_000)),
    ("rate 10mbit delay 0ms", Conditions(rate_bps=10_000_000)),
    ("perfect", PERFECT),
    ("", PERFECT),
    ("Satellite", PRESETS["satellite"]),
])
def test_a_cable_is_read_from_words(text: str, expected: Conditions) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("conditions", [*PRESETS.values(), Conditions(
    delay_ms=12.5, jitter_ms=1, loss=3, duplicate=1, reorder=7, rate_bps=1_500_000)])
def test_the_words_make_the_same_cable_again(conditions: Conditions) -> None:
    assert parse(conditions.spec()) == conditions
    assert from_dict(conditions.to_dict()) == conditions


@pytest.mark.parametrize(("text", "says"), [
    ("delay", "has no value"),
    ("delay 100", "milliseconds"),
    ("loss 10", "percentage"),
    ("loss 101%", "at most 100%"),
    ("wobble 3%", "unknown cable condition 'wobble'"),
    ("rate fast", "give a speed"),
    ("rate 1bit", "between 8kbit"),
    ("delay 10ms delay 20ms", "given twice"),
    ("delay 9999s", "at most"),
    ("loss 1%\x1b[31m", "control characters"),
])
def test_a_wrong_word_is_one_clear_line(text: str, says: str) -> None:
    with pytest.raises(CableError) as caught:
        parse(text)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_replayed_result_that_is_not_a_cable_is_none() -> None:
    assert from_dict("loss 10%") is None
    assert from_dict({"spec": "wobble 3%"}) is None
    assert from_dict({"loss": "lots"}) is None


# -- the relay, on real hosts --------------------------------------------------------------



def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _pair(hosts: TwoHosts) -> tuple[socket.socket, socket.socket, socket.socket]:
    """A listener on A, a client on B connected to it, and the accepted socket."""
    server = hosts.socket("server", socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("192.168.0.1", 0))
    server.listen(1)
    client = hosts.socket("client", socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(30)
    client.connect(("192.168.0.1", server.getsockname()[1]))
    conn, _ = server.accept()
    conn.settimeout(30)
    return server, client, conn


def _send_all_and_read(sender: socket.socket, receiver: socket.socket, data: bytes) -> bytes:
    thread = threading.Thread(target=sender.sendall, args=(data,), daemon=True)
    thread.start()
    got = bytearray()
    while len(got) < len(data):
        chunk = receiver.recv(65536)
        if not chunk:
            break
        got += chunk
    thread.join(30)
    return bytes(got)


@pytest.mark.system
@needs_hosts
def test_a_lossy_cable_loses_packets_and_tcp_delivers_every_byte() -> None:
    before, fds = machine_network(), _open_fds()
    hosts = TwoHosts()
    try:
        hosts.up()
        assert "socklab-a" in ip_out("-n", hosts.names["A"], "link")
        hosts.set_cable(parse("loss 10%"))
        server, client, conn = _pair(hosts)
        data = os.urandom(128 * 1024)
        assert _send_all_and_read(client, conn, data) == data
        counts = hosts.cable_counts()
        assert counts["B→A"]["lost"] > 0 and counts["B→A"]["carried"] > 0
        for sock in (server, client, conn):
            sock.close()
    finally:
        hosts.down()
    assert hosts.relay is None and hosts.cable_counts() == {}
    assert machine_network() == before
    assert _open_fds() <= fds  # the TUNs and the relay's pipe are closed


@pytest.mark.system
@needs_hosts
def test_delay_makes_the_handshake_take_a_round_trip() -> None:
    hosts = TwoHosts()
    try:
        hosts.up()
        hosts.set_cable(parse("delay 60ms"))
        started = time.monotonic()
        server, client, conn = _pair(hosts)
        took = time.monotonic() - started
        assert took >= 0.120  # SYN there, SYN/ACK back: two trips of 60 ms at least
        for sock in (server, client, conn):
            sock.close()
    finally:
        hosts.down()


def _datagrams(hosts: TwoHosts, count: int) -> tuple[int, dict[str, dict[str, int]]]:
    """``count`` datagrams B → A; how many A read (until the cable went quiet)."""
    receiver = hosts.socket("server", socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("192.168.0.1", 0))
    receiver.settimeout(0.5)
    sender = hosts.socket("client", socket.AF_INET, socket.SOCK_DGRAM)
    got = 0
    try:
        for n in range(count):
            sender.sendto(b"%d" % n, receiver.getsockname())
            time.sleep(0.001)  # keep the receiver's buffer from being the one that drops
        while True:
            try:
                receiver.recv(64)
            except TimeoutError:
                break
            got += 1
    finally:
        receiver.close()
        sender.close()
    return got, hosts.cable_counts()


@pytest.mark.system
@needs_hosts
def test_duplication_and_loss_change_what_udp_receives_as_counted() -> None:
    hosts = TwoHosts()
    try:
        hosts.up()
        hosts.set_cable(parse("duplicate 30%"))
        got, counts = _datagrams(hosts, 100)
        assert counts["B→A"]["duplicated"] > 0
        assert got == 100 + counts["B→A"]["duplicated"]
        hosts.set_cable(parse("loss 30%"))
        lost_before = counts["B→A"]["lost"]
        got, counts = _datagrams(hosts, 100)
        lost = counts["B→A"]["lost"] - lost_before
        assert lost > 0 and got == 100 - lost
    finally:
        hosts.down()


@pytest.mark.system
@needs_hosts
def test_the_same_seed_gives_the_same_losses() -> None:
    outcomes = []
    for _ in range(2):
        hosts = TwoHosts()
        try:
            hosts.up()
            hosts.set_cable(parse("loss 25%"))
            outcomes.append(_datagrams(hosts, 60)[1]["B→A"]["lost"])
        finally:
            hosts.down()
    assert outcomes[0] == outcomes[1] > 0


@pytest.mark.system
@needs_hosts
def test_reordering_and_a_slow_rate_are_applied() -> None:
    hosts = TwoHosts()
    try:
        hosts.up()
        hosts.set_cable(parse("reorder 50%"))
        _datagrams(hosts, 40)
        assert hosts.cable_counts()["B→A"]["reordered"] > 0
        hosts.set_cable(parse("rate 80kbit"))
        server, client, conn = _pair(hosts)
        data = bytes(20_000)  # 160 kbit: two seconds at 80 kbit, at least one
        started = time.monotonic()
        assert _send_all_and_read(client, conn, data) == data
        assert time.monotonic() - started >= 1.0
        for sock in (server, client, conn):
            sock.close()
    finally:
        hosts.down()


@pytest.mark.system
@needs_hosts
def test_the_cable_comes_back_with_its_conditions_after_a_reset() -> None:
    hosts = TwoHosts()
    try:
        hosts.up()
        hosts.set_cable(parse("delay 40ms"))
        hosts.down()
        hosts.up()
        assert hosts.relay is not None and hosts.relay.conditions == parse("delay 40ms")
    finally:
        hosts.down()


# -- TCP_INFO's numbers on a cable with conditions -------------------------------------


def test_a_tcp_info_event_is_shown_in_its_connection_row() -> None:
    from socklab.events import Event
    from socklab.logformat import format_line
    from socklab.ui.connection_list import socket_row
    from socklab.viewstate import ViewState

    state = ViewState()
    numbers = {"rtt_ms": 41.2, "cwnd": 10, "retransmitted": 3, "unacked": 2}
    state.apply([Event(seq=1, t=0.0, side="client", conn=1, op="socket", result=3),
                 Event(seq=2, t=0.0, side="client", conn=1, op="tcp_info", result=numbers)])
    view = state.sides["client"].sockets["1"]
    assert view.tcp == numbers
    row = socket_row("client[1]", view)
    assert "rtt 41.2ms cwnd 10 resent 3 unacked 2" in row.prompt().plain
    line = format_line(Event(seq=2, t=0.0, side="client", conn=1, op="tcp_info",
                             result=numbers))
    assert "tcp_info → rtt 41.2 ms · cwnd 10 segments · 3 sent again" in line


@pytest.mark.system
@needs_hosts
def test_tcp_info_reports_the_cables_round_trip() -> None:
    from socklab.engine import Lab
    from socklab.hosts.cable_lab import set_cable
    from socklab.hosts.mode import enable

    lab = Lab()
    seen: list = []
    got = threading.Event()

    def sink(event) -> None:
        if event.op == "tcp_info" and event.side == "client":
            seen.append(event)
            got.set()

    lab.subscribe(sink)
    try:
        enable(lab)
        set_cable(lab, parse("delay 30ms"))
        server = lab.server()
        assert server.socket().ok and server.bind("192.168.0.1", 0).ok and server.listen().ok
        client = lab.client()
        assert client.socket().ok and client.connect("192.168.0.1", server.local[1]).ok
        conn, _ = server.accept(timeout=10)
        assert conn is not None
        client.send(b"ping")
        assert got.wait(10), "no tcp_info event for the client's connection"
        assert seen[0].result["rtt_ms"] >= 60 and seen[0].host == "B"
    finally:
        lab.close_all()


def test_tcp_info_is_never_said_after_its_sockets_close(lab, rec,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow-control lesson, seen by the oracle: a poll read a socket's numbers,
    a close was numbered, then the numbers were said ("tcp_info() done after its
    close").  Here the close is tried just after the numbers are read: it comes
    after their line."""
    from socklab.hosts import cable_info
    from socklab.hosts.cable_info import TcpInfoWatch

    server = lab.server()
    assert server.socket().ok and server.bind("127.0.0.1", 0).ok and server.listen().ok
    client = lab.client()
    assert client.socket().ok and client.connect("127.0.0.1", server.local[1]).ok
    read = cable_info.read_numbers
    closer: list[threading.Thread] = []

    def read_then_close(sock: socket.socket):
        numbers = read(sock)
        if sock is client.sock and not closer:  # its close, from another thread, just after
            closer.append(threading.Thread(target=client.close))
            closer[0].start()
            closer[0].join(0.3)
        return numbers

    monkeypatch.setattr(cable_info, "read_numbers", read_then_close)
    watch = TcpInfoWatch(lab)
    try:
        watch.poll()
    finally:
        watch.close()
        for thread in closer:
            thread.join(LIMIT)
    events = rec.snapshot()
    closed = next(e.seq for e in events if e.side == "client" and e.op == "close")
    said = [e.seq for e in events if e.side == "client" and e.op == "tcp_info"]
    assert said and all(seq < closed for seq in said), (said, closed)
