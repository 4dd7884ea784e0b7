"""Stable display numbers for the SVG snapshots (a test helper, not the product's).

The kernel picks a different ephemeral port (and sometimes descriptor) on
every run, so a picture of a real exchange would never match twice.
`StableNumbers` renumbers them in order of first appearance (ports 40001,
40002…, descriptors 3, 4…) *only where they are displayed*, and maps a
displayed port typed back into a field to the real one, so every call still
goes to the real port.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from socklab.events import Event
from socklab.ui.shown_numbers import RealNumbers


class StableNumbers(RealNumbers):
    """Renumber kernel-chosen ports and descriptors deterministically (tests)."""

    def __init__(self, first_port: int = 40001, first_fd: int = 3) -> None:
        self._ports: dict[int, int] = {}
        self._back: dict[int, int] = {}
        self._fds: dict[int, int] = {}
        self._next_port = first_port
        self._next_fd = first_fd

    def port(self, real: int) -> int:
        if real == 0:
            return 0
        if real not in self._ports:
            self._ports[real] = self._next_port
            self._back[self._next_port] = real
            self._next_port += 1
        return self._ports[real]

    def real_port(self, shown: int) -> int:
        return self._back.get(shown, shown)

    def _fd(self, real: int) -> int:
        if real not in self._fds:
            self._fds[real] = self._next_fd
            self._next_fd += 1
        return self._fds[real]

    def address(self, addr: Any) -> Any:
        if isinstance(addr, tuple):
            if len(addr) == 2 and isinstance(addr[0], str) and isinstance(addr[1], int):
                return (addr[0], self.port(addr[1]))
            return tuple(self.address(a) for a in addr)
        return addr

    def event(self, event: Event) -> Event:
        result = event.result
        if event.op == "socket" and isinstance(result, int) and event.ok:
            result = self._fd(result)
        else:
            result = self.address(result)
        return replace(event, args=self.address(event.args), result=result)
