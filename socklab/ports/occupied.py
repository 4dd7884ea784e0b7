"""Which TCP ports some socket holds here, from the kernel's own table.

One inet_diag dump over netlink (what ``ss -taB`` reads) lists every TCP
socket of the calling thread's network namespace, both families: listeners,
connections in any state (TIME_WAIT included) and, since Linux 6.9, sockets
that are only bound.  A ``bind()`` can fail with "address in use" only on a
port that one of those holds, so a port absent from the dump is free, and a
full scan needs a real probe only for the few ports that are present.

The dump is trusted only when it shows a socket of our own that is bound and
nothing else (a "canary"): a kernel too old to list bound-only sockets, or a
netlink refused, gives ``None`` and the scan probes every port instead.

A dump is not a snapshot: a connection closed a moment ago moves from the
kernel's connection table to its time-wait entry, and a dump running while it
moves can miss it (1 dump in 70 right after such a close, with 3,000 time-wait
entries to read).  So the table is read twice and the ports of both readings
kept: a socket moves so once in its life, and is settled in one of them.
"""

from __future__ import annotations

import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
ALL_STATES = 0xFFFFFFFF  # bit 13 (TCP_BOUND_INACTIVE) asks for bound-only sockets too

_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr
_REQUEST = struct.Struct("=BBBBI48x")  # struct inet_diag_req_v2, an empty sockid
_SOURCE_PORT = struct.Struct("!H")  # inet_diag_msg: family, state, timer, retrans, then sport
_SOURCE_PORT_AT = _HEADER.size + 4
#: Bounds on one dump: receives, and seconds a receive may wait.
MAX_RECEIVES = 100_000
RECEIVE_TIMEOUT = 2.0
#: Readings of the table whose ports are kept together (see above).
READINGS = 2


def _dump_request(family: int) -> bytes:
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, ALL_STATES)
    return _HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                        NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body


def _parse(data: bytes, into: set[int]) -> bool:
    """Add each message's source port to ``into``; True once the dump is done."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
        if kind == NLMSG_DONE:
            return True
        if kind == NLMSG_ERROR:
            raise OSError("inet_diag dump refused")
        if length < _SOURCE_PORT_AT + 2:
            raise OSError("inet_diag reply too short")
        into.add(_SOURCE_PORT.unpack_from(data, offset + _SOURCE_PORT_AT)[0])
        offset += (length + 3) & ~3
    return False


def _dump_ports(family: int, into: set[int]) -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(RECEIVE_TIMEOUT)
        nl.sendall(_dump_request(family))
        for _ in range(MAX_RECEIVES):
            if _parse(nl.recv(1 << 20), into):
                return
    raise OSError("inet_diag dump did not end")


def occupied_ports(family: int, address: str) -> frozenset[int] | None:
    """Every TCP port (either family) some socket of this namespace holds, or
    None when the kernel's table cannot be read or does not list bound-only
    sockets (then only a probe per port can tell)."""
    found: set[int] = set()
    try:
        with socket.socket(family, socket.SOCK_STREAM) as canary:
            canary.bind((address, 0))
            own = canary.getsockname()[1]
            for _ in range(READINGS):
                for fam in (socket.AF_INET, socket.AF_INET6):
                    _dump_ports(fam, found)
    except (OSError, AttributeError):  # no AF_NETLINK (not Linux), refused, timed out
        return None
    return frozenset(found) if own in found else None
