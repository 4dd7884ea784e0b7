"""The oracle's own checks are trustworthy: a clean session passes, and each lie
planted in it (a fake packet, an illegal transition, a call after close, a wrong
host, ...) is reported, by the check that should see it.  Pure: no sockets."""

from __future__ import annotations

import struct

import pytest
from oracle import tcp_states as tcp
from oracle.evidence import parse_ss
from oracle.fixture import C, S, by_seq, clean
from oracle.judgement import judge
from oracle.lies import KNOWN_LIES, known
from oracle.pcap import read_pcap, relative

pytestmark = pytest.mark.unit


def found(events, evidence) -> dict[str, list[str]]:
    verdict = judge(events, evidence)
    out: dict[str, list[str]] = {}
    for v in verdict.violations:
        out.setdefault(v.check, []).append(v.message)
    return out


def test_the_clean_session_has_no_violation_and_every_check_decided_something() -> None:
    events, evidence = clean()
    verdict = judge(events, evidence)
    assert verdict.violations == []
    for check in ("packet", "credit", "state", "ss", "lesson", "host", "causality", "time"):
        assert verdict.checked[check] > 0, check


def test_a_fake_extra_packet_row_is_reported() -> None:
    events, evidence = clean()
    fake = dict(by_seq(events, 24), seq=24.5)
    fake["result"] = dict(fake["result"], flags=["RST"], seq=7, ack=0)
    events.append(fake)
    assert any("matches no captured segment" in m for m in found(events, evidence)["packet"])


def test_a_segment_without_its_row_is_reported() -> None:
    events, evidence = clean()
    events.remove(by_seq(events, 16))
    assert any("has no packet row" in m for m in found(events, evidence)["packet"])


def test_rows_out_of_the_wires_order_are_reported() -> None:
    events, evidence = clean()
    a, b = by_seq(events, 15), by_seq(events, 16)
    a["result"], b["result"] = b["result"], a["result"]
    a["side"], b["side"] = b["side"], a["side"]
    a["conn"], b["conn"] = b["conn"], a["conn"]
    assert any("out of the wire's order" in m for m in found(events, evidence)["packet"])


def test_a_reset_that_never_happened_is_an_illegal_transition_a_false_lesson_and_not_ss() -> None:
    """The issue's http lie: server[1] CLOSE ("a RST arrived") where the wire has FIN,
    ACK and ss has TIME-WAIT."""
    events, evidence = clean()
    line = by_seq(events, 25)
    line["result"] = {"state": "CLOSE"}
    line["lesson"] = "a RST arrived: the kernel dropped the connection at once"
    got = found(events, evidence)
    assert any("FIN_WAIT1 → CLOSE is no transition" in m for m in got["state"])
    assert any("'RST arrived'" in m for m in got["lesson"])
    assert any("ss showed TIME_WAIT" in m for m in got["ss"])


def test_a_state_placed_before_the_segment_that_caused_it_is_reported() -> None:
    events, evidence = clean()
    by_seq(events, 21)["seq"] = 18.5  # CLOSE_WAIT before the FIN's row (#19)
    assert any("ESTABLISHED → CLOSE_WAIT is shown before what caused it" in m
               for m in found(events, evidence)["state"])


def test_a_state_placed_before_the_call_that_caused_it_is_reported() -> None:
    events, evidence = clean()
    by_seq(events, 4)["seq"] = 2.5  # LISTEN before listen()
    assert any("CLOSE → LISTEN is shown before what caused it" in m
               for m in found(events, evidence)["state"])


def test_a_call_after_close_is_reported() -> None:
    events, evidence = clean()
    events.append({**by_seq(events, 17), "seq": 26.5, "t": 0.0114, "op": "send",
                   "args": [], "nbytes": 3, "result": 3})
    assert any("send() done after its close (#22)" in m
               for m in found(events, evidence)["causality"])


def test_the_issues_connect_after_its_own_close_is_reported() -> None:
    events, evidence = clean()
    connect = by_seq(events, 7)
    events.append({**connect, "seq": 26.5, "t": 0.0114, "ok": False, "result": None,
                   "error": "EBADF", "lesson": "the lab closed this socket while the call "
                   "waited"})
    events.insert(5, {**connect, "seq": 6.5, "phase": "wait", "t": 0.0060})
    by_seq(events, 7)["phase"] = "done"
    got = found(events, evidence)["causality"]
    assert any("connect() fails with EBADF after the connection was ESTABLISHED" in m
               for m in got)


def test_a_wrong_host_is_reported() -> None:
    events, evidence = clean()
    for seq in (11, 21, 26):
        by_seq(events, seq)["host"] = "B"
    got = found(events, evidence)["host"]
    assert any("client[1]" in m and "3 of its lines" in m for m in got)


def test_a_packet_credited_to_the_wrong_socket_is_reported() -> None:
    events, evidence = clean()
    row = by_seq(events, 24)
    row["side"], row["conn"] = "client", 1
    assert any("client[1]" in m and "received it" in m
               for m in found(events, evidence)["credit"])


def test_a_reset_credited_to_a_socket_that_was_gone_is_reported() -> None:
    """The issue's refused lie: the closed port's RST credited to the closed server."""
    events, evidence = clean()
    events = [e for e in events if e["seq"] <= 2 or e["seq"] in (6,)]
    events.append({**by_seq(clean()[0], 27), "seq": 3, "t": 0.003})
    refused = {**by_seq(clean()[0], 7), "ok": False, "result": None,
               "error": "ECONNREFUSED", "t": 0.0064}
    events += [refused,
               {**by_seq(clean()[0], 8), "seq": 8}, {**by_seq(clean()[0], 9), "seq": 9}]
    by_seq(events, 9)["result"] = dict(by_seq(events, 9)["result"], flags=["RST", "ACK"])
    wire = [r for r in evidence.segments if r.segment.index in (8, 9)]
    rst = wire[1].segment
    wire[1] = type(wire[1])(type(rst)(rst.index, rst.ts, "tcp", rst.src, rst.dst,
                                      frozenset({"RST", "ACK"}), 0, rst.ack, 0), 0, 1)
    evidence.segments = wire
    evidence.samples = []
    got = found(events, evidence)
    assert any("never had this connection" in m for m in got["credit"]), got
    by_seq(events, 9)["by"] = "kernel"
    assert "credit" not in found(events, evidence)


def test_time_going_backwards_is_reported() -> None:
    events, evidence = clean()
    by_seq(events, 17)["t"] = 0.0001
    assert any("t=0.0001 after #14" in m for m in found(events, evidence)["time"])


def test_a_packet_row_placed_after_a_later_wait_is_reported() -> None:
    events, evidence = clean()
    by_seq(events, 5).update(t=0.0090, seq=7.5)  # accept began after the handshake's rows
    got = found(events, evidence)
    assert any("placed after #7.5" in m for m in got["time"]), got


def test_a_wait_never_done_and_a_done_before_its_wait_are_reported() -> None:
    events, evidence = clean()
    events.append({**by_seq(events, 17), "seq": 27.5, "t": 0.0121, "phase": "wait",
                   "side": "server", "conn": None, "op": "recv"})
    assert any("waits and is never done" in m for m in found(events, evidence)["causality"])
    events, evidence = clean()
    by_seq(events, 12)["t"] = 0.0049
    assert any("before its wait" in m for m in found(events, evidence)["causality"])


def test_an_accept_before_the_connect_it_answers_is_reported() -> None:
    events, evidence = clean()
    by_seq(events, 7)["seq"] = 12.5
    assert any("before its connect() began" in m
               for m in found(events, evidence)["causality"])


def test_a_datagram_explanation_of_a_tcp_error_is_reported() -> None:
    events, evidence = clean()
    by_seq(events, 17).update(ok=False, error="ECONNREFUSED", result=None,
                              lesson="a datagram sent earlier came back as an ICMP error")
    assert any("explained with datagrams" in m for m in found(events, evidence)["lesson"])


# -- the state machine as data ----------------------------------------------------------

def test_the_table_walks_every_state_from_closed_and_back() -> None:
    anything = lambda event: True  # noqa: E731
    for state in tcp.STATES:
        assert tcp.path(tcp.CLOSE, state, anything) is not None, state
        assert tcp.path(state, tcp.CLOSE, anything) is not None, state
    assert {frm for frm, _ in tcp.TRANSITIONS} == set(tcp.STATES) - {tcp.CLOSE} | {tcp.CLOSE}


def test_the_table_needs_the_segment_for_each_step() -> None:
    seen = {("out", "FIN"), ("in", "ACK")}
    assert tcp.path("ESTABLISHED", "FIN_WAIT2", seen.__contains__) == [
        ("out", "FIN"), ("in", "ACK")]
    assert tcp.path("FIN_WAIT2", "TIME_WAIT", seen.__contains__) is None
    assert tcp.path("ESTABLISHED", "CLOSE", {("in", "RST")}.__contains__) == [("in", "RST")]
    assert tcp.path("TIME_WAIT", "CLOSE", seen.__contains__) is None  # 2MSL, not seen


# -- the pcap reader and ss ---------------------------------------------------------------

def _pcap(linktype: int, frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 100 + i, 500, len(frame), len(frame)) + frame
    return out


def _tcp(sport, dport, seq, ack, flags, payload=b"") -> bytes:
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, 65535, 0, 0) \
        + payload


def _ipv4(src: bytes, dst: bytes, proto: int, body: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0,
                       src, dst) + body


def test_the_pcap_reader_reads_ethernet_ipv4_tcp_and_makes_seq_relative() -> None:
    lo = bytes([127, 0, 0, 1])
    eth = b"\0" * 12 + b"\x08\x00"
    frames = [eth + _ipv4(lo, lo, 6, _tcp(40000, 5000, 7000, 0, 0x02)),
              eth + _ipv4(lo, lo, 6, _tcp(5000, 40000, 1000, 7001, 0x12)),
              eth + _ipv4(lo, lo, 6, _tcp(40000, 5000, 7001, 1001, 0x18, b"hello"))]
    segs = list(read_pcap(_pcap(1, frames)))
    assert [s.flags for s in segs] == [{"SYN"}, {"SYN", "ACK"}, {"PSH", "ACK"}]
    assert segs[0].src == C and segs[0].dst == S and segs[2].length == 5
    assert segs[1].ts == pytest.approx(101.0005)
    assert [(r.seq, r.ack) for r in relative(segs)] == [(0, 0), (0, 1), (1, 1)]


def test_the_pcap_reader_reads_linux_cooked_v2_ipv6_udp() -> None:
    ipv6 = struct.pack("!IHBB16s16s", 6 << 28, 8 + 3, 17, 64, bytes(15) + b"\1",
                       bytes(15) + b"\1") + struct.pack("!HHHH", 1111, 2222, 11, 0) + b"abc"
    frame = struct.pack("!HHIHBB8s", 0x86DD, 0, 1, 772, 0, 0, bytes(8)) + ipv6
    (seg,) = read_pcap(_pcap(276, [frame]))
    assert (seg.proto, seg.src, seg.dst, seg.length) == ("udp", ("::1", 1111), ("::1", 2222), 3)


def test_ss_lines_are_read_with_every_address_form() -> None:
    rows = parse_ss("tcp LISTEN 0 5 127.0.0.1:5000 0.0.0.0:*\n"
                    "tcp TIME-WAIT 0 0 [::1]:80 [::1]:40000\n"
                    "udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*\n")
    assert rows == (("tcp", "LISTEN", S, None), ("tcp", "TIME-WAIT", ("::1", 80), ("::1", 40000)),
                    ("udp", "UNCONN", ("127.0.0.53", 53), None))


def test_each_known_lie_is_recognised_by_its_own_words_only() -> None:
    events, evidence = clean()
    by_seq(events, 21).update(seq=18.5, t=0.0100)  # a state before the FIN that caused it
    verdict = judge(events, evidence)
    assert verdict.violations and all(known(v) for v in verdict.violations)
    events, evidence = clean()
    by_seq(events, 25)["result"] = {"state": "CLOSE"}  # fixed on truth: no longer known
    assert not any(known(v) for v in judge(events, evidence).violations)
    assert all(lie.reason for lie in KNOWN_LIES)


def test_a_packet_credited_to_a_client_that_never_had_a_socket_is_reported() -> None:
    events, evidence = clean()
    events.insert(5, {**by_seq(events, 7), "seq": 5.5, "conn": 9, "ok": False,
                      "result": None, "error": "EBADF", "t": 0.0055})
    by_seq(events, 8)["conn"] = 9
    assert any("client[9]" in m and "never had a socket" in m
               for m in found(events, evidence)["credit"])


def test_a_socket_that_connects_again_after_a_refusal_owns_its_new_syn() -> None:
    """Linux lets a TCP socket connect again after a refused connect(), from a new
    port: that SYN is the same socket's (truth2's random sessions met it), and a
    SYN credited to a socket that did not connect then is still told."""
    from oracle.evidence import Evidence
    from oracle.fixture import STREAM, _e, _p
    from oracle.pcap import Relative, Segment

    closed, first, second = ("127.0.0.1", 1), ("127.0.0.1", 40001), ("127.0.0.1", 40002)
    refused = {"ok": False, "args": [list(closed)], "result": None}
    events = [
        _e(1, 0.1, "client", 1, "socket", args=STREAM, result=5),
        _e(2, 0.2, "client", 1, "connect", error="EINPROGRESS", **refused),
        _p(3, 0.201, "client", 1, first, closed, ["SYN"], 0, 0),
        {**_p(4, 0.2015, "server", None, closed, first, ["RST", "ACK"], 0, 1), "by": "kernel"},
        _e(5, 0.3, "client", 1, "connect", error="ECONNREFUSED", **refused),
        _e(6, 0.4, "client", 1, "connect", error="EINPROGRESS", **refused),
        _p(7, 0.401, "client", 1, second, closed, ["SYN"], 0, 0),
        {**_p(8, 0.4015, "server", None, closed, second, ["RST", "ACK"], 0, 1),
         "by": "kernel"},
        _e(9, 0.5, "client", 1, "close"),
    ]

    def evidence() -> Evidence:
        segs = []
        for e in events:
            if e["op"] == "packet":
                r = e["result"]
                seg = Segment(e["seq"], e["t"], "tcp", tuple(r["src"]), tuple(r["dst"]),
                              frozenset(r["flags"]), 100 + r["seq"], 200 + r["ack"], 0)
                segs.append(Relative(seg, r["seq"], r["ack"]))
        return Evidence(segs, [], offset=0.0, hosts={None: "A"})

    assert "credit" not in found(events, evidence())
    # The same SYN while the socket made no connect(): not its own.
    events[5:6] = [_e(6, 0.35, "client", 1, "setblocking", args=[False])]
    assert any("not this connection" in m for m in found(events, evidence())["credit"])
