"""The capture socket: an ``AF_PACKET`` socket on ``lo``, as libpcap opens one
(in two-hosts mode, one more in each host, on all of its interfaces).

* ``SOCK_DGRAM`` (frames from the network header: loopback has no real link
  header worth reading), protocol 0 at creation so nothing is queued before
  the filter is in place, then bound to ``lo`` with ``ETH_P_ALL``;
* ``PACKET_IGNORE_OUTGOING``: on ``lo`` every segment passes twice (out and
  in); only the incoming copy is kept, so each is seen once (as tcpdump);
* a classic BPF filter (``SO_ATTACH_FILTER``): TCP to or from the lab's ports
  only (it follows them as the lab listens and connects), headers only;
* a ``PACKET_RX_RING`` shared by ``mmap`` (`Ring`), each frame stamped with
  the kernel's receive time.

Opening needs CAP_NET_RAW; without it `open_capture` raises `NoCapture`
with one line saying what is missing and how to get it.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import socket
import struct
import sys

from ..hosts.netns import libc
from .segments import tcp_filter

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V2 = 1
TP_STATUS_USER = 1
SO_ATTACH_FILTER = 26
#: The ring: 64 blocks of 64 KiB, 256-byte frames (the tpacket2 header, the
#: link address and the first `SNAPLEN` bytes): 16,384 segments of room, 4 MiB.
_BLOCK, _BLOCKS, _FRAME = 1 << 16, 64, 256
_FRAMES = _BLOCK * _BLOCKS // _FRAME
#: struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec (then vlan, padding).
_TPACKET2 = struct.Struct("IIIHHII")
_KERNEL = bytes(4)


class NoCapture(Exception):
    """Packets cannot be captured here; ``str()`` is the one line to show."""


def how_to_capture() -> str:
    """What capturing needs and how to get it (the line shown without it).

    Never the shared interpreter: a capability set on /usr/bin/python3 (where a
    venv's python links to) gives raw sockets to every Python program on the
    machine.  Only a private copy (``venv --copies``) may carry it."""
    own_copy = sys.prefix != sys.base_prefix and not os.path.islink(sys.executable)
    target = (sys.executable if own_copy else
              "DIR/bin/python3 of a venv made for it (python3 -m venv --copies DIR, "
              "socklab installed there)")
    return ("packet capture needs CAP_NET_RAW: run socklab with sudo, or give the "
            f"capability to a private copy of Python: sudo setcap cap_net_raw+ep {target} "
            "(never the shared python3: every program it runs would get raw sockets); "
            "showing segments inferred from TCP_INFO counters instead")


def set_filter(sock: socket.socket, ports: frozenset[int] | set[int]) -> None:
    """Keep only TCP to or from ``ports`` (replaces the socket's filter at once)."""
    count, program = tcp_filter(ports)
    code = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", count, ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class Ring:
    """The capture socket and its receive ring (``PACKET_RX_RING``, ``TPACKET_V2``),
    shared with the kernel by ``mmap``: the kernel writes each kept segment into
    the next free frame with its timestamp and marks it the user's; reading it
    is no system call (and so no release of the GIL per segment: under a bulk
    transfer that contention, not the parsing, was the cost).  Read by one
    thread at a time (the caller holds the bus lock)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                        struct.pack("IIII", _BLOCK, _BLOCKS, _FRAME, _FRAMES))
        self.ring = mmap.mmap(sock.fileno(), _BLOCK * _BLOCKS, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        self._next = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> tuple[bytes, float] | None:
        """The next captured frame (from its network header) and its kernel
        timestamp (Unix time), or None when the kernel has written no more."""
        frames = self.read_many(1)
        return frames[0] if frames else None

    def read_many(self, limit: int) -> list[tuple[bytes, float]]:
        """Up to ``limit`` frames, oldest first, each as `read` gives it: a bulk
        transfer's batch in one call."""
        frames: list[tuple[bytes, float]] = []
        ring, at, unpack = self.ring, self._next, _TPACKET2.unpack_from
        for _ in range(limit):
            offset = at * _FRAME
            status, _len, snaplen, _mac, net, sec, nsec = unpack(ring, offset)
            if not status & TP_STATUS_USER:
                break
            frames.append((ring[offset + net : offset + net + snaplen], sec + nsec / 1e9))
            ring[offset : offset + 4] = _KERNEL  # the frame is the kernel's again
            at = (at + 1) % _FRAMES
        self._next = at
        return frames

    def close(self) -> None:
        self.ring.close()
        self.sock.close()


def bind_every_interface(sock: socket.socket) -> None:
    """Bind a packet socket to every interface of its namespace (``sll_ifindex`` 0,
    as tcpdump's ``-i any``).  Python's ``bind`` wants an interface's name, so
    libc's is called with the ``sockaddr_ll`` itself."""
    address = struct.pack("HHiHBB8s", socket.AF_PACKET, socket.htons(ETH_P_ALL), 0, 0, 0, 0,
                          b"")
    buffer = ctypes.create_string_buffer(address, len(address))
    if libc().bind(sock.fileno(), buffer, len(address)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def open_capture(ports: frozenset[int] | set[int] = frozenset(), *,
                 everywhere: bool = False) -> Ring:
    """The capture ring for TCP to or from ``ports`` on ``lo`` (``everywhere``: on
    every interface of the calling thread's namespace: a two-hosts host's
    loopback and its end of the cable); raises `NoCapture`."""
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
        ring = Ring(sock)
        if everywhere:
            bind_every_interface(sock)
        else:
            sock.bind(("lo", ETH_P_ALL))
        sock.setblocking(False)
    except (OSError, ValueError) as exc:
        sock.close()
        if getattr(exc, "errno", None) == errno.ENOPROTOOPT:
            raise NoCapture("packet capture needs Linux 4.20 or newer "
                            "(PACKET_IGNORE_OUTGOING)") from None
        raise NoCapture(f"packet capture unavailable: {getattr(exc, 'strerror', None) or exc}"
                        ) from None
    return ring


def dropped(sock: socket.socket | Ring) -> int:
    """Segments the kernel dropped because the capture buffer was full, since the
    last call (PACKET_STATISTICS resets when read)."""
    sock = sock.sock if isinstance(sock, Ring) else sock
    try:
        _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET,
                                                              PACKET_STATISTICS, 8))
    except OSError:
        return 0
    return drops
