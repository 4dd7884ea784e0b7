"""The independent evidence a run leaves: the pcap's segments and ``ss`` samples.

Times: the pcap and the samples carry the machine's real time (seconds since the
epoch); the log carries the lab's clock.  ``offset`` maps one to the other
(lab t = real time + offset), measured by the in-process runner or fitted from
the packet rows that match a captured segment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .model import Addr
from .pcap import Relative, Segment, read_pcap, relative

#: The port the runners' marker datagrams go to (never a lab port).
MARK_PORT = 9


@dataclass(frozen=True)
class Sample:
    """One ``ss`` listing: taken between ``t0`` and ``t1`` in namespace ``ns``."""

    t0: float
    t1: float
    ns: str | None
    rows: tuple[tuple[str, str, Addr, Addr | None], ...]   # proto, state, local, peer

    def state_of(self, proto: str, local: Addr, peer: Addr | None) -> str | None:
        for p, state, loc, pr in self.rows:
            if p == proto and loc == local and pr == peer:
                return state
        return None


@dataclass
class Evidence:
    segments: list[Relative]
    samples: list[Sample] = field(default_factory=list)
    #: lab t = real time + offset (None: unknown, fitted from the packets).
    offset: float | None = None
    #: Each namespace's host letter ("A", "B"); None: the scenario's own namespace.
    hosts: dict[str | None, str | None] = field(default_factory=lambda: {None: None})

    def ns_of_host(self, host: str | None) -> str | None:
        return next((ns for ns, letter in self.hosts.items() if letter == host), None)


def ss_addr(text: str) -> Addr | None:
    """``127.0.0.1:80``, ``[::1]:80``, ``127.0.0.53%lo:53``; None for ``*`` ports."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    host = host.strip("[]").split("%")[0]
    if host == "*":
        host = "0.0.0.0"
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, int(port)


def parse_ss(text: str) -> tuple[tuple[str, str, Addr, Addr | None], ...]:
    """``ss -tuanH`` lines: (proto, state, local, peer)."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or parts[0] not in ("tcp", "udp"):
            continue
        local = ss_addr(parts[4])
        if local is None:
            continue
        state = parts[1]
        rows.append((parts[0], state, local, ss_addr(parts[5])))
    return tuple(rows)


def segments_of(pcap: bytes) -> list[Relative]:
    """The capture's segments, the runners' marker datagrams left out."""
    kept: list[Segment] = [s for s in read_pcap(pcap)
                           if MARK_PORT not in (s.src[1], s.dst[1])]
    return relative(kept)


def load_samples(path: Path) -> list[Sample]:
    samples = []
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        samples.append(Sample(raw["t0"], raw["t1"], raw["ns"], parse_ss(raw["text"])))
    return samples
