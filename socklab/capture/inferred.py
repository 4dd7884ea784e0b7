"""Without the privilege to capture: what the kernel's TCP_INFO counters prove.

Each TCP socket's ``tcpi_segs_out`` / ``tcpi_segs_in`` count the segments it
sent and received.  Read after each call (under the bus lock, as the capture
reads its socket), the change on each of the lab's sockets says how many
segments that call made it send and receive: a "segments" event, marked
``"inferred": true`` and never shown as a captured packet (no flags, no
numbers: counters do not know them).  Reading needs no privilege.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..events import DONE
from ..kernel.tcpinfo import read_tcp_info
from .text import WIRE_OPS

if TYPE_CHECKING:
    from ..engine import Lab
    from ..engine.endpoint import Endpoint
    from ..events import Event

#: Sockets read after one call: enough for any lesson, bounded under a flood of connections.
MAX_READ = 64
_COUNTERS = ("segs_out", "segs_in", "data_segs_out", "data_segs_in")


class Inferred:
    """After each call, the segments each lab socket sent and received, from its counters."""

    #: Not captured: what the views and the JSON say.
    captured = False

    def __init__(self, lab: Lab, reason: str) -> None:
        self.lab = lab
        #: The one line saying why packets are not captured, and how to capture them.
        self.reason = reason
        self.segments = 0
        self.dropped = 0
        self._last: dict[Endpoint, tuple[int, ...]] = {}
        self._unfollow = lab.bus.after_emit(self._after_event)

    def _after_event(self, event: Event) -> None:
        if event.phase != DONE or event.op in WIRE_OPS:
            return
        last = self._last
        for endpoint in self.lab.endpoints()[-MAX_READ:]:
            sock = endpoint.sock
            info = read_tcp_info(sock) if sock is not None else None
            if info is None:
                continue
            now = tuple(getattr(info, name) for name in _COUNTERS)
            before = last.get(endpoint, (0, 0, 0, 0))
            if now == before:
                continue
            last[endpoint] = now
            change = {name: a - b for name, a, b in zip(_COUNTERS, now, before, strict=True)}
            if change["segs_out"] < 0 or change["segs_in"] < 0:
                continue  # a new socket() on the same endpoint: counting starts again
            self.segments += change["segs_out"]
            self.lab.bus.emit(side=endpoint.side, conn=endpoint.conn, op="segments",
                              result={"inferred": True, **change})
        if len(last) > 4 * MAX_READ:
            alive = set(self.lab.endpoints())
            self._last = {e: c for e, c in last.items() if e in alive}

    def stop(self) -> None:
        """Stop reading counters (idempotent)."""
        self._unfollow()
