"""A small pcap reader of the oracle's own: no code of socklab's capture is used.

The file format (libpcap): a 24-byte global header (magic, version, snaplen,
link type), then per packet a 16-byte record header (seconds, micro- or
nanoseconds, captured length, original length) and the bytes.  Link types read:
Ethernet (``-i lo``), Linux cooked v1 and v2 (``-i any``).  Above them IPv4 or
IPv6, then TCP or UDP, each parsed with `struct`.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

ETHERNET, LINUX_SLL, LINUX_SLL2 = 1, 113, 276
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
TCP, UDP = 6, 17
#: TCP header flag bits, lowest first, by the names Wireshark (and the log) use.
FLAG_BITS = (("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10),
             ("URG", 0x20), ("ECE", 0x40), ("CWR", 0x80))


@dataclass(frozen=True)
class Segment:
    """One captured TCP segment or UDP datagram, as the wire carried it."""

    index: int          # its place in the capture, from 0
    ts: float           # the capture's time stamp (seconds since the epoch)
    proto: str          # "tcp" or "udp"
    src: tuple[str, int]
    dst: tuple[str, int]
    flags: frozenset[str]
    seq: int            # absolute sequence number (0 for UDP)
    ack: int
    length: int         # payload bytes
    window: int = 0

    @property
    def key(self) -> frozenset[tuple[str, int]]:
        """The connection this segment belongs to, whichever way it goes."""
        return frozenset((self.src, self.dst))


def _addr(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def read_pcap(data: bytes) -> Iterator[Segment]:
    """Every TCP/UDP segment in ``data`` (a whole pcap file), in capture order.  A
    truncated last record (the file still being written) is left out."""
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"not a pcap file (magic {magic.hex()})")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    offset, index = 24, 0
    record = struct.Struct(endian + "IIII")
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = record.unpack_from(data, offset)
        offset += 16
        if offset + caplen > len(data):
            return
        frame = data[offset:offset + caplen]
        offset += caplen
        ts = sec + frac / (1e9 if nano else 1e6)
        segment = _frame(index, ts, linktype, frame)
        index += 1
        if segment is not None:
            yield segment


def _frame(index: int, ts: float, linktype: int, frame: bytes) -> Segment | None:
    if linktype == ETHERNET:
        ethertype, start = struct.unpack_from("!H", frame, 12)[0], 14
        if ethertype == 0x8100:  # one VLAN tag
            ethertype, start = struct.unpack_from("!H", frame, 16)[0], 18
    elif linktype == LINUX_SLL:
        ethertype, start = struct.unpack_from("!H", frame, 14)[0], 16
    elif linktype == LINUX_SLL2:
        ethertype, start = struct.unpack_from("!H", frame, 0)[0], 20
    else:
        raise ValueError(f"link type {linktype} not read")
    if ethertype == ETH_IPV4:
        return _ipv4(index, ts, frame[start:])
    if ethertype == ETH_IPV6:
        return _ipv6(index, ts, frame[start:])
    return None


def _ipv4(index: int, ts: float, packet: bytes) -> Segment | None:
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total, = struct.unpack_from("!H", packet, 2)
    proto = packet[9]
    frag, = struct.unpack_from("!H", packet, 6)
    if frag & 0x1FFF:  # a later fragment: no transport header
        return None
    return _transport(index, ts, proto, _addr(packet[12:16]), _addr(packet[16:20]),
                      packet[ihl:], total - ihl)


def _ipv6(index: int, ts: float, packet: bytes) -> Segment | None:
    if len(packet) < 40:
        return None
    payload_len, proto = struct.unpack_from("!HB", packet, 4)
    return _transport(index, ts, proto, _addr(packet[8:24]), _addr(packet[24:40]),
                      packet[40:], payload_len)


def _transport(index: int, ts: float, proto: int, src: str, dst: str, body: bytes,
               length: int) -> Segment | None:
    if proto == TCP and len(body) >= 20:
        sport, dport, seq, ack, off_flags, window = struct.unpack_from("!HHIIHH", body)
        header = (off_flags >> 12) * 4
        flags = frozenset(name for name, bit in FLAG_BITS if off_flags & bit)
        return Segment(index, ts, "tcp", (src, sport), (dst, dport), flags, seq, ack,
                       length - header, window)
    if proto == UDP and len(body) >= 8:
        sport, dport, ulen = struct.unpack_from("!HHH", body)
        return Segment(index, ts, "udp", (src, sport), (dst, dport), frozenset(), 0, 0,
                       ulen - 8)
    return None


@dataclass(frozen=True)
class Relative:
    """A segment with its seq/ack made relative, as Wireshark (and the log) shows them."""

    segment: Segment
    seq: int
    ack: int


def relative(segments: list[Segment]) -> list[Relative]:
    """Relative seq/ack per direction: the first seq seen that way (its SYN's) is 0;
    ack relative to the other direction's first seq (0 when the ACK flag is off)."""
    isn: dict[tuple, int] = {}
    out = []
    for s in segments:
        if s.proto != "tcp":
            out.append(Relative(s, 0, 0))
            continue
        if "SYN" in s.flags:  # a new connection (a 4-tuple may be used again)
            isn[(s.src, s.dst)] = s.seq
            if "ACK" not in s.flags:
                isn.pop((s.dst, s.src), None)
        isn.setdefault((s.src, s.dst), s.seq)
        seq = (s.seq - isn[(s.src, s.dst)]) % 2**32
        if "ACK" in s.flags:
            base = isn.get((s.dst, s.src))
            if base is None:  # the other way has not spoken: its first seq is ack - 1
                base = (s.ack - 1) % 2**32
                isn[(s.dst, s.src)] = base
            ack = (s.ack - base) % 2**32
        else:
            ack = 0
        out.append(Relative(s, seq, ack))
    return out
