"""The system's services database: port ⇄ name for TCP and UDP.

Read from ``/etc/services`` once (the same file ``getservbyport`` reads),
with the C library's resolver as the fallback where there is no file.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from functools import lru_cache

from ..inputs import MAX_PORT

SERVICES_FILE = "/etc/services"


@dataclass(frozen=True)
class Services:
    """The system's port ⇄ name table for TCP and UDP."""

    tcp: dict[int, str] = field(default_factory=dict)
    udp: dict[int, str] = field(default_factory=dict)
    #: (name or alias, protocol) → port
    by_name: dict[tuple[str, str], int] = field(default_factory=dict)
    source: str = "getservbyport"


def read_services(path: str = SERVICES_FILE) -> Services | None:
    """Parse a services(5) file; None if it cannot be read.

    The first line for a port wins, as with ``getservbyport``.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    tables: dict[str, dict[int, str]] = {"tcp": {}, "udp": {}}
    by_name: dict[tuple[str, str], int] = {}
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or "/" not in words[1]:
            continue
        number, _, proto = words[1].partition("/")
        if proto not in tables or not number.isdigit() or int(number) > MAX_PORT:
            continue
        port = int(number)
        tables[proto].setdefault(port, words[0])
        for name in words[:1] + words[2:]:
            by_name.setdefault((name.lower(), proto), port)
    return Services(tables["tcp"], tables["udp"], by_name, source=path)


@lru_cache(maxsize=1)
def services() -> Services:
    """The services table, read once (an empty table means: ask the resolver)."""
    return read_services() or Services()


def _getservbyport(port: int, proto: str) -> str | None:
    try:
        return socket.getservbyport(port, proto)
    except (OSError, OverflowError):
        return None


def service_names(port: int) -> tuple[str | None, str | None]:
    """(TCP name, UDP name) for a port, None where the system has none."""
    table = services()
    if table.source == "getservbyport":
        return _getservbyport(port, "tcp"), _getservbyport(port, "udp")
    return table.tcp.get(port), table.udp.get(port)


def service_port(name: str) -> int | None:
    """The port of a service name (TCP first, then UDP), or None."""
    table = services()
    key = name.lower()
    for proto in ("tcp", "udp"):
        port = table.by_name.get((key, proto))
        if port is not None:
            return port
    for proto in ("tcp", "udp"):
        try:
            return socket.getservbyname(key, proto)
        except (OSError, ValueError, UnicodeError):
            continue
    return None
