"""Ask the kernel about one TCP connection by its 4-tuple: inet_diag over netlink.

This is how ``ss`` reads the socket tables (NETLINK_SOCK_DIAG).  Asking for
one exact connection — local address and port, remote address and port — costs
tens of microseconds however many sockets the machine has, where reading all
of /proc/net/tcp costs milliseconds; it finds connections that have no
descriptor any more (TIME_WAIT, FIN_WAIT2 after close), and needs no privilege.
"""

from __future__ import annotations

import socket
import struct

from .tcpinfo import STATE_NAMES

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLMSG_ERROR = 2
#: No cookie: find the connection by its 4-tuple alone.
NO_COOKIE = 0xFFFFFFFF
ALL_STATES = 0xFFFFFFFF

_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
_REQUEST = struct.Struct("=BBBBI")  # struct inet_diag_req_v2, before its sockid
_PORTS = struct.Struct("!HH")  # the sockid's ports are big-endian
_TAIL = struct.Struct("=III")  # the sockid's interface and cookie


def _address(family: int, host: str) -> bytes:
    return socket.inet_pton(family, host).ljust(16, b"\0")


def request(family: int, local: tuple[str, int], peer: tuple[str, int], seq: int = 1) -> bytes:
    """The netlink message that asks for one TCP connection's inet_diag_msg."""
    body = (_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, ALL_STATES)
            + _PORTS.pack(local[1], peer[1]) + _address(family, local[0])
            + _address(family, peer[0]) + _TAIL.pack(0, NO_COOKIE, NO_COOKIE))
    return _HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST,
                        seq, 0) + body


def parse_reply(data: bytes, peer_port: int) -> str | None:
    """The state in a reply; None when the kernel has no such connection.

    A connection that is gone can still match its listener (the kernel looks
    up listeners too): a reply whose remote port is not the peer's is not it.
    """
    if len(data) < _HEADER.size + 8:
        return None
    _length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data)
    if kind == NLMSG_ERROR:
        return None
    _sport, dport = _PORTS.unpack_from(data, _HEADER.size + 4)
    if dport != peer_port:
        return None
    number = data[_HEADER.size + 1]
    return STATE_NAMES.get(number, f"STATE_{number}")


def lookup(family: int, connections: list[tuple[tuple[str, int], tuple[str, int]]]
           ) -> dict[tuple[tuple[str, int], tuple[str, int]], str | None] | None:
    """The kernel's state of each (local, peer) connection (None: gone).

    Returns None as a whole when netlink cannot be used here (then the
    caller reads /proc/net/tcp instead).
    """
    try:
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except OSError:
        return None
    found: dict[tuple[tuple[str, int], tuple[str, int]], str | None] = {}
    with nl:
        nl.settimeout(1.0)
        for local, peer in connections:
            try:
                nl.send(request(family, local, peer))
                found[(local, peer)] = parse_reply(nl.recv(8192), peer[1])
            except OSError:
                return None  # refused here (a sandbox, an old kernel): read the tables
    return found
