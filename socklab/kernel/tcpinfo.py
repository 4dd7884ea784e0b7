"""The kernel's own view of one TCP socket: getsockopt(TCP_INFO), parsed.

Linux answers ``getsockopt(IPPROTO_TCP, TCP_INFO)`` with its ``struct
tcp_info`` (include/uapi/linux/tcp.h): the socket's state as the kernel names
it and its counters. It costs one system call and no privilege, so the lab can
ask it of every socket it owns many times a second. For a listening socket
the kernel reuses two fields: ``tcpi_unacked`` is the accept queue's length
(connections waiting for accept()) and ``tcpi_sacked`` the backlog limit
listen() set.
"""

from __future__ import annotations

import select
import socket
import struct
from dataclasses import dataclass

# The kernel's state numbers (include/net/tcp_states.h) and its names for them.
# TCP_NEW_SYN_RECV (12) is the kernel's lightweight half-open request: the
# same SYN_RECV to a learner, and what ss prints.
STATE_NAMES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "SYN_RECV",
}

TCP_INFO = getattr(socket, "TCP_INFO", 11)

# struct tcp_info up to tcpi_data_segs_out (kernel 4.6+), no padding:
# 8 one-byte fields, 24 u32 (rto .. total_retrans), 4 u64 (pacing_rate ..
# bytes_received), then segs_out, segs_in, notsent_bytes, min_rtt,
# data_segs_in, data_segs_out.
_LAYOUT = struct.Struct("=8B24I4Q6I")
# Ask for more than we parse: newer kernels append fields, older ones return less.
_ASK = 256


@dataclass(frozen=True)
class TcpInfo:
    """One reading of a socket's tcp_info: its state and the counters a lesson uses."""

    state: str
    retransmits: int
    rto_us: int
    unacked: int  # a listener: connections waiting in the accept queue
    sacked: int  # a listener: the backlog limit
    lost: int
    retrans: int
    rtt_us: int
    total_retrans: int
    bytes_acked: int
    bytes_received: int
    segs_out: int
    segs_in: int
    notsent_bytes: int
    data_segs_in: int
    data_segs_out: int

    @property
    def queue(self) -> int:
        """A listener's accept queue: connections done with the handshake, not yet accepted."""
        return self.unacked

    @property
    def backlog(self) -> int:
        """A listener's backlog limit (Linux admits one more than it)."""
        return self.sacked


def parse_tcp_info(raw: bytes) -> TcpInfo | None:
    """Parse the bytes of a struct tcp_info; None if the kernel gave too few."""
    if len(raw) < 8:
        return None
    raw = raw[: _LAYOUT.size].ljust(_LAYOUT.size, b"\0")
    f = _LAYOUT.unpack(raw)
    u32 = f[8:32]
    u64 = f[32:36]
    tail = f[36:42]
    return TcpInfo(
        state=STATE_NAMES.get(f[0], f"STATE_{f[0]}"),
        retransmits=f[2],
        rto_us=u32[0],
        unacked=u32[4],
        sacked=u32[5],
        lost=u32[6],
        retrans=u32[7],
        rtt_us=u32[15],
        total_retrans=u32[23],
        bytes_acked=u64[2],
        bytes_received=u64[3],
        segs_out=tail[0],
        segs_in=tail[1],
        notsent_bytes=tail[2],
        data_segs_in=tail[4],
        data_segs_out=tail[5],
    )


_HEAD = struct.Struct("=B1xB5x16xII")  # state, retransmits, unacked, sacked


def read_state(sock: socket.socket) -> tuple[str, int, int, int] | None:
    """Only what a state event says — (state, retransmits, unacked, sacked) — from
    the first 32 bytes of tcp_info: the poller's cheap reading, many times a second."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _HEAD.size)
    except OSError:
        return None
    if len(raw) < _HEAD.size:
        return None
    number, retransmits, unacked, sacked = _HEAD.unpack(raw)
    return STATE_NAMES.get(number, f"STATE_{number}"), retransmits, unacked, sacked


def read_tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's view of one TCP socket, or None (closed, not TCP, not Linux)."""
    try:
        if sock.fileno() < 0 or sock.type != socket.SOCK_STREAM:
            return None
        raw = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _ASK)
    except OSError:
        return None
    return parse_tcp_info(raw)


def has_error(sock: socket.socket | None) -> bool:
    """Does the kernel hold an error for ``sock`` (a RST arrived: ECONNRESET, EPIPE)?

    poll() says so (POLLERR) without taking the error, where SO_ERROR would
    take it from the learner's next call.  A socket that went to CLOSE by the
    FIN exchange holds none.
    """
    if sock is None or sock.fileno() < 0:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLERR)
    return any(mask & select.POLLERR for _fd, mask in poller.poll(0))
