"""What this machine says about ports: who may bind the privileged ones, the
ephemeral range the kernel hands out, and what listens here now.

The facts come from the kernel, not from a table in the code: the privileged
boundary from ``ip_unprivileged_port_start``, the ephemeral range from
``ip_local_port_range`` (Linux; IANA's range elsewhere), listeners from the
``/proc/net`` tables (reading them opens no connection, so asking never shows
up in the lab's own log).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from ..inputs import MAX_PORT

IANA_EPHEMERAL = (49152, 65535)
LOCAL_PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
CAP_NET_BIND_SERVICE = 10

#: The calling *thread's* tables: a thread that entered a two-hosts namespace
#: (socklab.hosts) reads that host's; /proc/net is the main thread's.
_PROC_NET = "/proc/thread-self/net" if os.path.exists("/proc/thread-self/net") else "/proc/net"
_PROC_TABLES = {
    "tcp": (f"{_PROC_NET}/tcp", f"{_PROC_NET}/tcp6"),
    "udp": (f"{_PROC_NET}/udp", f"{_PROC_NET}/udp6"),
}
_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


def listening(port: int, proto: str = "tcp") -> bool | None:
    """Whether a socket on this machine listens on (tcp) or is bound to (udp) port.

    Reads /proc/net; None when that is not available (not Linux).
    """
    wanted = f"{port:04X}"
    state = _TCP_LISTEN if proto == "tcp" else _UDP_UNCONNECTED
    seen = False
    for path in _PROC_TABLES[proto]:
        try:
            with open(path) as f:
                next(f, None)
                seen = True
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == state and \
                            fields[1].rsplit(":", 1)[-1] == wanted:
                        return True
        except OSError:
            continue
    return False if seen else None


def _read_ints(path: str) -> list[int] | None:
    try:
        with open(path, encoding="ascii") as f:
            return [int(word) for word in f.read().split()]
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=1)
def unprivileged_port_start() -> int:
    """Ports below this need root or CAP_NET_BIND_SERVICE to bind (default 1024)."""
    values = _read_ints(UNPRIVILEGED_PORT_START)
    return values[0] if values else 1024


def is_privileged(port: int) -> bool:
    """Whether binding this port needs privileges.  Port 0 never does: the
    kernel picks an ephemeral port for it."""
    return 0 < port < unprivileged_port_start()


@lru_cache(maxsize=1)
def bind_privilege() -> str | None:
    """Why this process may bind privileged ports ("root",
    "CAP_NET_BIND_SERVICE"), or None if it may not."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    if caps >> CAP_NET_BIND_SERVICE & 1:
                        return "root" if os.geteuid() == 0 else "CAP_NET_BIND_SERVICE"
                    return None
    except (OSError, ValueError, IndexError):
        pass
    geteuid = getattr(os, "geteuid", None)
    return "root" if geteuid is not None and geteuid() == 0 else None


@dataclass(frozen=True, slots=True)
class EphemeralRange:
    """The ports this OS hands out for connect() and bind(port 0)."""

    first: int
    last: int
    source: str

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}–{self.last}"


@lru_cache(maxsize=1)
def ephemeral_range() -> EphemeralRange:
    """This OS's real ephemeral range (Linux: ``ip_local_port_range``,
    usually 32768–60999); IANA's 49152–65535 where it cannot be read."""
    values = _read_ints(LOCAL_PORT_RANGE)
    if values and len(values) == 2 and 0 < values[0] <= values[1] <= MAX_PORT:
        return EphemeralRange(values[0], values[1], LOCAL_PORT_RANGE)
    return EphemeralRange(*IANA_EPHEMERAL, source="IANA (RFC 6335)")
