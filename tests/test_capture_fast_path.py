"""The capture's bulk fast path says what the full path says (issue 24, figure 11).

Under a bulk transfer a frame that continues a run is read from its bytes
(`plain_fields`) and checked by `TcpAnalysis.joins_run`, never parsed into a
`Segment` nor given a marks dict.  These tests hold both shortcuts to the
full path: same fields, same marks decision, same record of each direction.
"""

from __future__ import annotations

import struct

from hypothesis import example, given, settings
from hypothesis import strategies as st

from socklab.capture.segments import PLAIN_BITS, parse, plain_fields
from socklab.capture.tcpanalysis import TcpAnalysis, ordinary


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=34, max_size=128), st.booleans())
@example(bytes(34), True)  # a TCP header cut before its window: parse made up window 0
@example(bytes(35), True)
def test_plain_fields_read_what_parse_reads(raw: bytes, tcp: bool) -> None:
    """Any IPv4 frame (untrusted bytes): the fast read gives parse's fields, and
    gives them exactly when parse's segment is TCP with no flag but PSH/ACK."""
    frame = b"\x45" + raw[1:9] + (b"\x06" if tcp else raw[9:10]) + raw[10:]
    fields = plain_fields(frame)
    segment = parse(frame)
    plain = segment is not None and segment.proto == "TCP" \
        and set(segment.flags) <= {"PSH", "ACK"}
    assert (fields is not None) == plain
    if fields is not None and segment is not None:
        src, dst, seq, ack, length, window, ip_id, bits = fields
        assert (src, dst, seq, ack, length, window, ip_id) == (
            segment.src, segment.dst, segment.seq, segment.ack, segment.length,
            segment.window, segment.ip_id)
        assert not bits & ~PLAIN_BITS
        assert ("ACK" in segment.flags) == bool(bits & 0x10)


A, B = ("127.0.0.1", 40000), ("127.0.0.1", 5000)


def _frame(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
           window: int, ip_id: int, length: int, wscale: int | None = None) -> bytes:
    """An IPv4 + TCP header as the kernel writes it (options only on a SYN)."""
    options = b"" if wscale is None else bytes([3, 3, wscale, 0])
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, ack, (5 + len(options) // 4) << 4,
                      flags, window, 0, 0) + options
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + length, ip_id, 0x4000, 64, 6,
                     0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return ip + tcp


def _state(analysis: TcpAnalysis) -> dict:
    return {key: (w.end, w.ip_id, w.scale, w.ack, w.window)
            for key, w in analysis._ways.items()}


_step = st.tuples(st.booleans(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                  st.sampled_from([0x10, 0x18, 0x10, 0x18, 0x08, 0x00]),
                  st.integers(0, 3), st.integers(0, 2**16 - 1), st.integers(0, 3000))


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, min_size=1, max_size=40), st.booleans(), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_joins_run_decides_as_marks_and_keeps_the_same_record(
        steps: list, scaled_a: bool, scaled_b: bool, base: int) -> None:
    """A handshake, then data and ACKs that may go back, repeat, close the window
    or overtake: where `joins_run` says a frame joins a run, `marks` (fed the same
    frames) marks nothing and sees an open window; where it says no, nothing was
    changed (`marks` marks something or sees a closed window); the two analyses
    keep the same record of each direction throughout."""
    full, fast = TcpAnalysis(), TcpAnalysis()
    syns = [_frame(A, B, base, 0, 0x02, 65535, 1, 0, 7 if scaled_a else None),
            _frame(B, A, 9, (base + 1) & 0xFFFFFFFF, 0x12, 65535, 1, 0, 7 if scaled_b else None)]
    for frame in syns:
        segment = parse(frame)
        assert segment is not None
        assert full.marks(segment) == fast.marks(segment)
    seqs = {A: (base + 1) & 0xFFFFFFFF, B: 10}
    for from_a, jump, ack, flags, window, ip_id, length in steps:
        src, dst = (A, B) if from_a else (B, A)
        # Mostly in order; sometimes a jump back or ahead (a retransmission, a gap).
        seq = seqs[src] if jump % 4 else jump
        length = length if flags & 0x08 else 0
        frame = _frame(src, dst, seq, ack, flags, window, ip_id, length)
        seqs[src] = (seq + length) & 0xFFFFFFFF
        fields = plain_fields(frame)
        segment = parse(frame)
        assert fields is not None and segment is not None
        before = _state(fast)
        joined = fast.joins_run(*fields[:7], bool(fields[7] & 0x10))
        if not joined:
            assert _state(fast) == before  # nothing changed: marks does the work
            fast.marks(segment)
        # Both directions are known (the handshake): the same decision either way.
        assert joined == ordinary(full.marks(segment))
        assert _state(fast) == _state(full)


def test_a_retransmission_inside_a_bulk_run_is_not_joined() -> None:
    """Data below what its direction delivered never joins a run (its row is marked)."""
    analysis = TcpAnalysis()
    for frame in (_frame(A, B, 0, 0, 0x02, 65535, 1, 0, 7),
                  _frame(B, A, 0, 1, 0x12, 65535, 1, 0, 7)):
        analysis.marks(parse(frame))  # type: ignore[arg-type]
    first = plain_fields(_frame(A, B, 1, 1, 0x18, 512, 2, 1000))
    again = plain_fields(_frame(A, B, 1, 1, 0x18, 512, 3, 1000))
    assert first is not None and again is not None
    assert analysis.joins_run(*first[:7], True)
    assert not analysis.joins_run(*again[:7], True)
    assert analysis.marks(parse(_frame(A, B, 1, 1, 0x18, 512, 3, 1000))).get(  # type: ignore[arg-type]
        "retransmission")
