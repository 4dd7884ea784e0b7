"""The kernel's socket tables: TCP sockets that have no descriptor any more.

After close() a connection can live on in the kernel — FIN_WAIT2, TIME_WAIT,
LAST_ACK — with no file descriptor, so getsockopt cannot reach it; only the
kernel's tables (/proc/net/tcp and tcp6, what netstat reads) still show it.
Each row is matched to a lab connection by its 4-tuple (local address and
port, remote address and port), the only thing that names a TCP connection.
"""

from __future__ import annotations

import os
import socket
import struct

from .tcpinfo import STATE_NAMES

#: (local (host, port), remote (host, port)) -> the kernel's state name.
Table = dict[tuple[tuple[str, int], tuple[str, int]], str]

#: The calling *thread's* tables (a thread inside a two-hosts namespace reads its host's).
_NET = "/proc/thread-self/net" if os.path.exists("/proc/thread-self/net") else "/proc/net"
_FILES = {socket.AF_INET: f"{_NET}/tcp", socket.AF_INET6: f"{_NET}/tcp6"}


def _address(text: str, family: int) -> tuple[str, int]:
    """``0100007F:1F90`` → ("127.0.0.1", 8080): the kernel prints each 32-bit
    word of the address in host order, the port as a number."""
    host_hex, port_hex = text.split(":")
    words = [int(host_hex[i:i + 8], 16) for i in range(0, len(host_hex), 8)]
    raw = struct.pack(f"={len(words)}I", *words)
    return socket.inet_ntop(family, raw), int(port_hex, 16)


def parse_table(text: str, family: int) -> Table:
    """Rows of /proc/net/tcp{,6} as {(local, remote): state}."""
    table: Table = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            local = _address(fields[1], family)
            remote = _address(fields[2], family)
            state = STATE_NAMES.get(int(fields[3], 16), f"STATE_{fields[3]}")
        except (ValueError, OSError, struct.error):
            continue
        table[(local, remote)] = state
    return table


def read_table(family: int) -> Table:
    """This network namespace's TCP sockets of one family (empty if unreadable)."""
    path = _FILES.get(family)
    if path is None:
        return {}
    try:
        with open(path) as f:
            return parse_table(f.read(), family)
    except OSError:
        return {}
