"""Port ranges as a learner types them (``80``, ``1-1024``, ``http``) and IANA's
classes (RFC 6335): well-known 0–1023, registered 1024–49151, dynamic 49152–65535."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..inputs import InputError, parse_port
from .services import service_port

WELL_KNOWN, REGISTERED, DYNAMIC = "well-known", "registered", "dynamic"
#: IANA's classes (RFC 6335): well-known 0–1023, registered 1024–49151, dynamic 49152–65535.
CLASS_BOUNDS = {WELL_KNOWN: (0, 1023), REGISTERED: (1024, 49151), DYNAMIC: (49152, 65535)}


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of ports, as typed: ``80``, ``1-1024`` or ``http``."""

    first: int
    last: int
    service: str | None = None  # set when the learner typed a service name

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        if self.service:
            return f"{self.service} ({self.first})"
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


_NUMBER = r"\s*(\d{1,6})\s*"
_RANGE = re.compile(rf"^{_NUMBER}(?:[-–:]{_NUMBER})?$", re.ASCII)
_SERVICE = re.compile(r"^[A-Za-z][A-Za-z0-9._+/-]{0,63}$", re.ASCII)


def parse_range(text: str) -> PortRange:
    """``80``, ``1-1024`` or a service name such as ``http`` (TCP, then UDP).

    Returns a `PortRange` or raises `InputError` with one sentence; nothing
    else escapes (property-tested).
    """
    raw = str(text).strip()
    if not raw:
        raise InputError("the range is empty: give a port (80), a range (1-1024) or a name (http)")
    match = _RANGE.match(raw)
    if match:
        first = parse_port(match.group(1))
        last = parse_port(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise InputError(f"range {raw!r} runs backwards: write the smaller port first")
        return PortRange(first, last)
    if _SERVICE.match(raw):
        name = raw.lower()
        port = service_port(name)
        if port is None:
            raise InputError(
                f"{raw!r} is not a port, a range or a service name this system knows "
                "(see /etc/services): try 80, 1-1024 or http"
            )
        return PortRange(port, port, service=name)
    shown = raw if len(raw) <= 24 else raw[:24] + "…"
    raise InputError(
        f"{shown!r} is not a port, a range or a service name: try 80, 1-1024 or http"
    )


def range_class(port: int) -> str:
    """IANA's class for a port: well-known, registered or dynamic."""
    port = parse_port(port)
    if port <= 1023:
        return WELL_KNOWN
    if port <= 49151:
        return REGISTERED
    return DYNAMIC
