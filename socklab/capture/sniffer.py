"""The capture socket: an ``AF_PACKET`` socket on ``lo``, as libpcap opens one.

* ``SOCK_DGRAM`` (frames from the network header: loopback has no real link
  header worth reading), protocol 0 at creation so nothing is queued before
  the filter is in place, then bound to ``lo`` with ``ETH_P_ALL``;
* ``PACKET_IGNORE_OUTGOING``: on ``lo`` every segment passes twice (out and
  in); only the incoming copy is kept, so each is seen once (as tcpdump);
* a classic BPF filter (``SO_ATTACH_FILTER``): TCP to or from the lab's ports
  only (it follows them as the lab listens and connects), headers only;
* ``SO_TIMESTAMPNS``: the kernel's receive time of each segment.

Opening needs CAP_NET_RAW; without it `open_capture` raises `NoCapture`
with one line saying what is missing and how to get it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys

from .segments import SNAPLEN, tcp_filter

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
#: Room for bursts (a welcome exchange is 10 segments; bulk is many more).
RCVBUF = 8 << 20
_ANCILLARY = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")


class NoCapture(Exception):
    """Packets cannot be captured here; ``str()`` is the one line to show."""


def how_to_capture() -> str:
    """What capturing needs and how to get it (the line shown without it)."""
    return ("packet capture needs CAP_NET_RAW: run socklab as root, or give the "
            f"interpreter the capability: sudo setcap cap_net_raw+ep "
            f"{os.path.realpath(sys.executable)}; showing segments inferred from TCP_INFO "
            "counters instead")


def set_filter(sock: socket.socket, ports: frozenset[int] | set[int]) -> None:
    """Keep only TCP to or from ``ports`` (replaces the socket's filter at once)."""
    count, program = tcp_filter(ports)
    code = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", count, ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_capture(ports: frozenset[int] | set[int] = frozenset()) -> socket.socket:
    """The capture socket for TCP to or from ``ports``, ready to read (non-blocking);
    raises `NoCapture`."""
    if not hasattr(socket, "AF_PACKET"):
        raise NoCapture("packet capture needs Linux (AF_PACKET); not available here")
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    except PermissionError:
        raise NoCapture(how_to_capture()) from None
    except OSError as exc:
        raise NoCapture(f"packet capture unavailable: {exc.strerror or exc}") from None
    try:
        set_filter(sock, ports)
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind(("lo", ETH_P_ALL))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ENOPROTOOPT:
            raise NoCapture("packet capture needs Linux 4.20 or newer "
                            "(PACKET_IGNORE_OUTGOING)") from None
        raise NoCapture(f"packet capture unavailable: {exc.strerror or exc}") from None
    return sock


def read_frame(sock: socket.socket) -> tuple[bytes, float] | None:
    """The next captured frame and its kernel timestamp (Unix time), or None."""
    try:
        data, ancdata, _flags, _addr = sock.recvmsg(SNAPLEN, _ANCILLARY)
    except (BlockingIOError, InterruptedError):
        return None
    stamp = 0.0
    for level, kind, value in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(value)
            stamp = sec + nsec / 1e9
    return data, stamp


def dropped(sock: socket.socket) -> int:
    """Segments the kernel dropped because the capture buffer was full, since the
    last call (PACKET_STATISTICS resets when read)."""
    try:
        _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET,
                                                              PACKET_STATISTICS, 8))
    except OSError:
        return 0
    return drops
